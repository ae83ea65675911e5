"""Merge a student's answers into the solution notebook (the "merge into the reference" recipe).

Every cell of the merged notebook -- source, stored outputs, tags -- comes from the solution, except
the *source* of each cell tagged ``answer``, which comes from the student (matched by cell id, else
by the order of the student's answer cells). Edited expected outputs, edited check cells or NBVAL
markers elsewhere in the student's file therefore have no effect. Two hidden cells the student
never sees are added: a first one that snapshots builtins and every ``nookslab`` function, and a
last one that checks nothing was replaced (:mod:`nookslab.grading.guard`).

Cell metadata used (``cell.metadata["nookslab"]``):
answer cell: ``{"exercise": "ex1", "points": 2}``; checking cell: ``{"check": "ex1"}``.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field

import nbformat

from .guard import GUARD_SOURCE, INTEGRITY_OUTPUT, INTEGRITY_SOURCE

ANSWER_TAG = "answer"
CHECK_TAG = "check"
STUB = "raise NotImplementedError(\"write your answer here\")"
_MARKER = re.compile(r"NBVAL_[A-Z_]+|nbval-[a-z-]+", re.IGNORECASE)


@dataclass(frozen=True)
class Exercise:
    """One graded exercise: its id, points and the answer cell that holds it."""
    id: str
    points: float
    cell_id: str


@dataclass
class Merged:
    """The notebook to run, and what each of its code cells is for.

    ``roles[n]`` describes code cell ``n`` (nbval's ``Cell n``): ``("guard", "")``,
    ``("answer", ex)``, ``("check", ex)``, ``("lesson", "")`` or ``("integrity", "")``.
    ``refused`` maps an exercise id to the reason its answer was not taken (scored 0).
    """
    notebook: nbformat.NotebookNode
    exercises: list[Exercise]
    roles: list[tuple[str, str]]
    refused: dict[str, str] = field(default_factory=dict)


def meta(cell) -> dict:
    value = cell.get("metadata", {}).get("nookslab", {})
    return value if isinstance(value, dict) else {}


def tags(cell) -> list[str]:
    value = cell.get("metadata", {}).get("tags", [])
    return [t for t in value if isinstance(t, str)] if isinstance(value, list) else []


def is_answer(cell) -> bool:
    return cell.get("cell_type") == "code" and ANSWER_TAG in tags(cell)


def exercises_of(solution) -> list[Exercise]:
    """The exercises of a solution notebook, in order."""
    found = []
    for cell in solution.cells:
        if is_answer(cell):
            m = meta(cell)
            found.append(Exercise(str(m.get("exercise", f"ex{len(found) + 1}")),
                                  float(m.get("points", 1)), cell.get("id", "")))
    return found


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _code(source: str, *, outputs=None, tag_list=(), nookslab=None, count=1):
    cell = nbformat.v4.new_code_cell(source)
    cell.outputs = outputs or []
    cell.execution_count = count
    cell.metadata["tags"] = list(tag_list)
    if nookslab:
        cell.metadata["nookslab"] = nookslab
    return cell


def merge(solution, submission, *, stub_exercises=()) -> Merged:
    """Build the notebook to grade from ``solution`` and the student's ``submission``.

    Parameters
    ----------
    solution, submission : nbformat.NotebookNode
        The executed solution and the student's notebook (read with nbformat, version 4).
    stub_exercises : iterable of str
        Exercises whose answer is replaced by the stub anyway (used after a student's code hung
        or killed the kernel, so the rest of the notebook can still be checked).
    """
    stub_exercises = set(stub_exercises)
    exercises = exercises_of(solution)
    student_cells = [c for c in submission.get("cells", []) if c.get("cell_type") == "code"]
    by_id = {c.get("id"): c for c in student_cells if c.get("id")}
    student_answers = [c for c in student_cells if is_answer(c)]

    out = nbformat.v4.new_notebook()
    out.metadata = copy.deepcopy(solution.metadata)
    roles: list[tuple[str, str]] = [("guard", "")]
    refused: dict[str, str] = {}
    out.cells.append(_code(GUARD_SOURCE, tag_list=["nbval-ignore-output"]))
    answer_index = 0
    for cell in solution.cells:
        if cell.get("cell_type") != "code":
            out.cells.append(copy.deepcopy(cell))
            continue
        new = copy.deepcopy(cell)
        if new.get("execution_count") is None:
            new["execution_count"] = 1  # a never-run reference cell is compared all the same
        if is_answer(cell):
            ex = exercises[answer_index]
            theirs = by_id.get(cell.get("id"))
            if theirs is None and answer_index < len(student_answers):
                theirs = student_answers[answer_index]
            answer_index += 1
            text = _source(theirs) if theirs is not None else None
            if theirs is None:
                refused[ex.id] = f"the answer cell for {ex.id} is missing from the submission"
                text = STUB
            elif _MARKER.search(text) or any(_MARKER.fullmatch(t) for t in tags(theirs)):
                marks = sorted(set(_MARKER.findall(text)) | {t for t in tags(theirs) if _MARKER.fullmatch(t)})
                refused[ex.id] = (f"the answer cell for {ex.id} carries NBVAL marker(s) "
                                  f"{', '.join(marks)}: refused")
                text = STUB
            elif ex.id in stub_exercises:
                text = STUB
            new.source = text
            new.outputs = []
            new.metadata["tags"] = [t for t in tags(cell) if not _MARKER.fullmatch(t)] + ["nbval-ignore-output"]
            roles.append(("answer", ex.id))
        elif "check" in meta(cell):
            roles.append(("check", str(meta(cell)["check"])))
        else:
            roles.append(("lesson", ""))
        out.cells.append(new)
    out.cells.append(_code(INTEGRITY_SOURCE, outputs=[nbformat.v4.new_output(
        "stream", name="stdout", text=INTEGRITY_OUTPUT)]))
    roles.append(("integrity", ""))
    for i, cell in enumerate(out.cells):  # fresh, unique ids: nothing of the student's survives
        cell["id"] = f"graded-{i}"
    return Merged(out, exercises, roles, refused)
