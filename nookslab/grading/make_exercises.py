"""Generate exercises/X.ipynb from solutions/X.ipynb; optionally (re)execute notebooks first.

``python -m nookslab.grading.make_exercises``            write every exercise notebook
``python -m nookslab.grading.make_exercises --execute``   first run notebooks/ and solutions/ in place
``python -m nookslab.grading.make_exercises --check``     exit 1 if a committed exercise is stale

An exercise is its solution with each cell tagged ``answer`` emptied to a stub raising
NotImplementedError and every output cleared; the notebook's metadata names its solution so the
grader finds it whatever the student calls the file.

Above each check cell of a solution is a markdown cell marked ``{"nookslab": {"expect": true}}``:
"You should see:" and what a right answer prints. It is generated from the check cell's metadata
(exercise, name, points) and stored output when the solution is executed, so the exercise shows
the student the same lines the grader expects; ``--check`` also fails when one is stale.
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
from pathlib import Path

import nbformat

from .merge import STUB, exercises_of, is_answer, meta

ROOT = Path(__file__).resolve().parent.parent.parent
SOLUTIONS, EXERCISES, NOTEBOOKS = ROOT / "solutions", ROOT / "exercises", ROOT / "notebooks"


def make_exercise(solution) -> nbformat.NotebookNode:
    """The exercise notebook for a solution notebook (a new object; the input is not changed)."""
    nb = copy.deepcopy(solution)
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        if is_answer(cell):
            cell.source = STUB
        cell.outputs = []
        cell.execution_count = None
        cell.metadata.pop("execution", None)
    return nb


def expectation(nb, check_cell) -> str:
    """The "You should see" markdown for ``check_cell`` of solution ``nb``: which exercise and
    check it is, its name and points, and the lines it printed when the solution ran."""
    m = meta(check_cell)
    order = [e.id for e in exercises_of(nb)]
    ex = str(m.get("check"))
    checks = [c for c in nb.cells if c.get("cell_type") == "code" and str(meta(c).get("check")) == ex]
    number = checks.index(check_cell) + 1
    points = m.get("points", 1)
    head = (f"Exercise {order.index(ex) + 1 if ex in order else ex}, check {number} "
            f"({points:g} point{'s' if points != 1 else ''})")
    printed = "".join(o.get("text", "") for o in check_cell.get("outputs", [])
                      if o.get("output_type") == "stream" and o.get("name") == "stdout")
    return f"**{head}: {m.get('name', '')}.**\n\nYou should see:\n\n```text\n{printed}```"


def refresh_expectations(nb) -> int:
    """Rewrite every "You should see" cell of ``nb`` from the check cell after it; return how
    many changed."""
    changed = 0
    for before, cell in zip(nb.cells, nb.cells[1:]):
        if before.get("cell_type") != "markdown" or not meta(before).get("expect"):
            continue
        if "check" not in meta(cell):
            raise ValueError(f"cell {before.get('id')}: a 'You should see' cell must come right "
                             "before a check cell")
        text = expectation(nb, cell)
        if before.source != text:
            before.source = text
            changed += 1
    return changed


def stale_expectations() -> list[Path]:
    """The solutions whose "You should see" cells do not show what their checks printed."""
    return [p for p in sorted(SOLUTIONS.glob("*.ipynb"))
            if refresh_expectations(nbformat.read(p, as_version=4))]


def render(nb) -> str:
    return nbformat.writes(nb) + "\n"


def expected_exercises() -> dict[Path, str]:
    """Each exercise file and the text it should hold."""
    out = {}
    for sol in sorted(SOLUTIONS.glob("*.ipynb")):
        nb = nbformat.read(sol, as_version=4)
        nb.metadata.setdefault("nookslab", {})["notebook"] = sol.stem
        out[EXERCISES / sol.name] = render(make_exercise(nb))
    return out


def execute(path: Path, timeout: int = 300) -> None:
    """Run a notebook top to bottom (PYTHONHASHSEED=0, MPLBACKEND unset) and store its outputs."""
    from nbclient import NotebookClient
    os.environ["PYTHONHASHSEED"] = "0"
    os.environ.pop("MPLBACKEND", None)
    nb = nbformat.read(path, as_version=4)
    nb.metadata.setdefault("nookslab", {})["notebook"] = path.stem
    NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell.outputs = coalesce_streams(cell.outputs)
    refresh_expectations(nb)
    path.write_text(render(nb))


def coalesce_streams(outputs: list) -> list:
    """Join consecutive stream outputs of the same name: how the kernel chunked a cell's prints
    depends on timing, and a stored notebook should not (nbval joins them too)."""
    joined: list = []
    for out in outputs:
        prev = joined[-1] if joined else None
        if (out.get("output_type") == "stream" and prev is not None
                and prev.get("output_type") == "stream" and prev.get("name") == out.get("name")):
            prev["text"] = prev["text"] + out["text"]
        else:
            joined.append(out)
    return joined


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nookslab.grading.make_exercises")
    parser.add_argument("--execute", action="store_true", help="run notebooks/ and solutions/ first")
    parser.add_argument("--check", action="store_true", help="only check exercises are up to date")
    parser.add_argument("only", nargs="*", help="notebook names to execute (default: all)")
    args = parser.parse_args(argv)
    if args.execute:
        for folder in (NOTEBOOKS, SOLUTIONS):
            for path in sorted(folder.glob("*.ipynb")):
                if not args.only or path.stem in args.only:
                    print("executing", path.relative_to(ROOT), flush=True)
                    execute(path)
    stale = 0
    for path, text in expected_exercises().items():
        if path.exists() and path.read_text() == text:
            continue
        stale += 1
        if args.check:
            print(f"stale: {path.relative_to(ROOT)}")
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    for path in stale_expectations():
        stale += 1
        print(f"stale 'You should see' cells: {path.relative_to(ROOT)} (run --execute "
              f"{path.stem})")
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
