"""``nookslab grade``: one submission (table or ``--json``), a folder into one CSV, or a Gradescope
bundle (``--gradescope-bundle DIR``)."""
from __future__ import annotations

import csv as _csv
import json as _json
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .report import Report
from .sandbox import SandboxUnavailable, probe
from .score import UNSAFE_HINT, grade


def _grade_one(path: Path, options: dict) -> Report:
    """Grade one submission of a batch; whatever goes wrong stays in its own row."""
    try:
        return grade(path, **options)
    except SandboxUnavailable:
        raise
    except Exception as exc:  # a bug of the grader on this file: reported, the batch goes on
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return Report(path.name, "?", infrastructure=True,
                      message=f"infrastructure failure: the grader failed on this file ({last}); "
                              "grade it again")


def grade_folder(folder: Path, out_csv: Path, workers: int = 2, **options) -> list[Report]:
    """Grade every ``*.ipynb`` in ``folder``, each in its own sandbox, then write ``out_csv``.

    The CSV is written by this process alone, once every row is known; no sandbox can write it.
    """
    folder = Path(folder)
    paths = sorted(p for p in folder.glob("*.ipynb") if p.is_file())
    if options.get("sandbox", True) and (problem := probe()) is not None:
        raise SandboxUnavailable(f"refusing to grade: {problem}; {UNSAFE_HINT}")
    options = dict(options, hide=(folder.resolve(), *options.get("hide", ())))
    # Threads suffice: each grade runs nbval in a subprocess with its own sandboxed kernel.
    with ThreadPoolExecutor(max_workers=workers) as pool:
        reports = list(pool.map(lambda p: _grade_one(p, options), paths))
    ids: list[str] = []
    for r in reports:
        ids += [e.id for e in r.exercises if e.id not in ids]
    rows = [["submission", "notebook", *ids, "score", "max_score", "tampered", "message"]]
    for r in reports:
        got = {e.id: e.points for e in r.exercises}
        rows.append([r.submission, r.notebook, *(f"{got[i]:g}" if i in got else "" for i in ids),
                     f"{r.score:g}", f"{r.max_score:g}", "yes" if r.tampered else "no", r.message])
    with open(out_csv, "w", newline="") as fh:
        _csv.writer(fh).writerows(rows)
    return reports


def main(submission=None, json: bool = False, batch=None, csv=None, workers=None,
         unsafe_no_sandbox: bool = False, gradescope_bundle=None, notebook=None) -> int:
    """Entry point of ``nookslab grade``; returns 0 when grading ran (whatever the score)."""
    options = {"sandbox": not unsafe_no_sandbox}
    try:
        if gradescope_bundle is not None:
            from .bundle import write_bundle
            try:
                zip_path = write_bundle(Path(gradescope_bundle), notebook, unsafe=unsafe_no_sandbox)
            except ValueError as exc:
                print(f"nookslab grade: {exc}", file=sys.stderr)
                return 2
            print(f"wrote {gradescope_bundle} and {zip_path}: upload {zip_path.name} to Gradescope")
            return 0
        if unsafe_no_sandbox:
            print("nookslab grade: --unsafe-no-sandbox: students' code runs unconfined, as you",
                  file=sys.stderr)
        if batch is not None:
            reports = grade_folder(Path(batch), Path(csv), workers or 2, **options)
            for r in reports:
                flag = "  TAMPERED" if r.tampered else ("  INFRASTRUCTURE FAILURE" if r.infrastructure else "")
                print(f"{r.submission}: {r.score:g}/{r.max_score:g}{flag}")
            print(f"wrote {csv} ({len(reports)} submissions)")
            return 0
        path = Path(submission)
        if not path.is_file():
            print(f"nookslab grade: no such file: {path}", file=sys.stderr)
            return 2
        report = grade(path, **options)
    except SandboxUnavailable as exc:
        print(f"nookslab grade: {exc}", file=sys.stderr)
        return 2
    print(_json.dumps(report.gradescope(), indent=2) if json else report.table())
    return 0
