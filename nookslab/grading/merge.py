"""Merge a student's answers into the solution notebook (the "merge into the reference" recipe).

Every cell of the merged notebook -- source, stored outputs, tags -- comes from the solution, except
the *source* of each cell tagged ``answer``, which comes from the student (matched by cell id, else
by the order of the student's answer cells) once it passes the answer-cell policy
(:mod:`nookslab.grading.policy`). Edited expected outputs, edited check cells or NBVAL markers
elsewhere in the student's file therefore have no effect. Hidden cells the grading kernel
(:mod:`nookslab.grading.inkernel`) answers itself go before each check cell (put back what checks
rely on) and at the end (was anything tampered with?); their outputs other than the last are not
compared.

Cell metadata used (``cell.metadata["nookslab"]``):
answer cell ``{"exercise": "ex1", "points": 3, "allow": ["module", "module:name"]}``;
check cell ``{"check": "ex1", "name": "a sentence naming the behaviour", "points": 1}``.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .markers import INTEGRITY_MARK, INTEGRITY_OK, RESET_MARK
from .policy import bound_names, check_answer, module_names

if TYPE_CHECKING:
    import nbformat

ANSWER_TAG = "answer"
CHECK_TAG = "check"
STUB = "raise NotImplementedError(\"write your answer here\")"
_MARKER = re.compile(r"NBVAL_[A-Z_]+|nbval-[a-z-]+", re.IGNORECASE)
SHOWN_REFUSALS = 3  # broken rules listed in the feedback
MAX_ANSWER_CHARS = 100_000


@dataclass(frozen=True)
class Exercise:
    """One graded exercise: its id, points, the answer cell that holds it and what it may import."""
    id: str
    points: float
    cell_id: str
    allow: tuple[str, ...] = ()


@dataclass(frozen=True)
class Check:
    """One check cell: code cell ``index`` of the merged notebook, the ``number``-th of its
    exercise; ``points`` None when its metadata gives none (the exercise's points are then split)."""
    exercise: str
    index: int
    number: int
    name: str
    points: float | None
    first_line: str


@dataclass
class Merged:
    """The notebook to run, and what each of its code cells is for.

    ``roles[n]`` describes code cell ``n`` (nbval's ``Cell n``): ``("answer", ex)``,
    ``("reset", ex)`` (hidden, before each check), ``("check", ex)``, ``("lesson", "")`` or
    ``("integrity", "")``. ``refused`` maps an exercise
    id to why its answer was not taken (scored 0).
    """
    notebook: "nbformat.NotebookNode"
    exercises: list[Exercise]
    roles: list[tuple[str, str]]
    checks: list[Check] = field(default_factory=list)
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
            allow = m.get("allow", [])
            found.append(Exercise(str(m.get("exercise", f"ex{len(found) + 1}")),
                                  float(m.get("points", 1)), cell.get("id", ""),
                                  tuple(str(a) for a in allow) if isinstance(allow, list) else ()))
    return found


def source_of(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def first_line(source: str) -> str:
    return next((line.strip() for line in source.splitlines() if line.strip()), "")


def reserved_names(solution) -> dict[str, set[str]]:
    """For each exercise, the names its answer may not bind: those the notebook's other cells
    (lessons, checks, other answers) bind, less those its own solution binds."""
    answers, others = {}, set()
    exercises = iter(exercises_of(solution))
    for cell in solution.cells:
        if cell.get("cell_type") != "code":
            continue
        names = bound_names(source_of(cell))
        if is_answer(cell):
            answers[next(exercises).id] = names
        else:
            others |= names
    return {ex: (others | set().union(*(n for e, n in answers.items() if e != ex))) - names
            for ex, names in answers.items()}


def _code(source: str, *, outputs=None, tag_list=(), count=1):
    import nbformat
    cell = nbformat.v4.new_code_cell(source)
    cell.outputs = outputs or []
    cell.execution_count = count
    cell.metadata["tags"] = list(tag_list)
    return cell


def lesson_modules(solution) -> set[str]:
    """The names the notebook's own (non-answer) cells bind to modules (``nl``, ``np``...)."""
    found: set[str] = set()
    for cell in solution.cells:
        if cell.get("cell_type") == "code" and not is_answer(cell):
            found |= module_names(source_of(cell))
    return found


def _take_answer(ex: Exercise, theirs, reserved: set[str], policy: bool,
                 modules: frozenset = frozenset()) -> tuple[str, str | None]:
    """The source to run for ``ex`` and, if the student's is not taken, why."""
    if theirs is None:
        return STUB, f"the answer cell for {ex.id} is missing from the submission: scored 0"
    text = source_of(theirs)
    if _MARKER.search(text) or any(_MARKER.fullmatch(t) for t in tags(theirs)):
        marks = sorted(set(_MARKER.findall(text)) | {t for t in tags(theirs) if _MARKER.fullmatch(t)})
        return STUB, (f"the answer cell for {ex.id} carries NBVAL marker(s) {', '.join(marks)}: "
                      "refused: scored 0")
    if len(text) > MAX_ANSWER_CHARS:
        return STUB, (f"the answer cell for {ex.id} is {len(text)} characters long; an answer may "
                      f"have {MAX_ANSWER_CHARS}: refused: scored 0")
    if policy and text.strip() != STUB:
        broken = check_answer(text, allow=ex.allow, reserved=reserved, modules=modules)
        if broken:
            more = len(broken) - SHOWN_REFUSALS
            return STUB, "\n".join(
                [f"the answer cell for {ex.id} was refused by the answer-cell policy "
                 "(exercises/README.md) and scored 0:"]
                + [f"  {r}" for r in broken[:SHOWN_REFUSALS]]
                + ([f"  ... and {more} more"] if more > 0 else []))
    return text, None


def merge(solution, submission, *, stub_exercises=(), policy: bool = True) -> Merged:
    """Build the notebook to grade from ``solution`` and the student's ``submission``.

    Parameters
    ----------
    solution, submission : nbformat.NotebookNode
        The executed solution and the student's notebook (read with nbformat, version 4).
    stub_exercises : iterable of str
        Exercises whose answer is replaced by the stub anyway (used after a student's code hung,
        took too long or killed the kernel, so the rest of the notebook can still be checked).
    policy : bool
        Check answer cells against the policy (off only in the grader's own tests, to show the
        sandbox and the kernel's reset hold on their own).
    """
    import nbformat  # here: the grading kernel imports this package and must not pay for it

    stub_exercises = set(stub_exercises)
    exercises = exercises_of(solution)
    reserved = reserved_names(solution)
    modules = frozenset(lesson_modules(solution))
    student_cells = [c for c in submission.get("cells", []) if c.get("cell_type") == "code"]
    by_id = {c.get("id"): c for c in student_cells if c.get("id")}
    student_answers = [c for c in student_cells if is_answer(c)]

    out = nbformat.v4.new_notebook()
    out.metadata = copy.deepcopy(solution.metadata)
    merged = Merged(out, exercises, [])
    answer_index = 0
    for cell in solution.cells:
        if cell.get("cell_type") != "code":
            out.cells.append(copy.deepcopy(cell))
            continue
        new = copy.deepcopy(cell)
        if new.get("execution_count") is None:
            new["execution_count"] = 1  # a never-run reference cell is compared all the same
        if "check" in meta(cell) and not is_answer(cell):
            out.cells.append(_code(RESET_MARK, tag_list=["nbval-ignore-output"]))
            merged.roles.append(("reset", str(meta(cell)["check"])))
        index = len(merged.roles)
        if is_answer(cell):
            ex = exercises[answer_index]
            theirs = by_id.get(cell.get("id"))
            if theirs is None and answer_index < len(student_answers):
                theirs = student_answers[answer_index]
            answer_index += 1
            text, why = _take_answer(ex, theirs, reserved[ex.id], policy, modules)
            if why is not None:
                merged.refused[ex.id] = why
            new.source = STUB if ex.id in stub_exercises else text
            new.outputs = []
            new.metadata["tags"] = [t for t in tags(cell) if not _MARKER.fullmatch(t)] + ["nbval-ignore-output"]
            merged.roles.append(("answer", ex.id))
        elif "check" in meta(cell):
            m = meta(cell)
            ex_id = str(m["check"])
            number = 1 + sum(1 for c in merged.checks if c.exercise == ex_id)
            points = m.get("points")
            merged.checks.append(Check(ex_id, index, number, str(m.get("name") or ""),
                                       float(points) if isinstance(points, (int, float)) else None,
                                       first_line(source_of(cell))))
            merged.roles.append(("check", ex_id))
        else:
            merged.roles.append(("lesson", ""))
        out.cells.append(new)
    out.cells.append(_code(INTEGRITY_MARK, outputs=[nbformat.v4.new_output(
        "stream", name="stdout", text=INTEGRITY_OK)]))
    merged.roles.append(("integrity", ""))
    for i, cell in enumerate(out.cells):  # fresh, unique ids: nothing of the student's survives
        cell["id"] = f"graded-{i}"
    return merged


def policy_report(path) -> list[str]:
    """Check the answer cells of the notebook at ``path`` against the answer-cell policy, running
    nothing (a student's check before submitting: no root, no sandbox). Its own lesson cells stand
    in for the solution's; one line per answer: ``ex1: ok`` or the rules it breaks."""
    import nbformat
    notebook = nbformat.read(path, as_version=4)
    modules = frozenset(lesson_modules(notebook))
    lesson = set().union(*(bound_names(source_of(c)) for c in notebook.cells
                           if c.get("cell_type") == "code" and not is_answer(c)))
    lines = []
    for ex, cell in zip(exercises_of(notebook), (c for c in notebook.cells if is_answer(c))):
        text = source_of(cell)
        if text.strip() == STUB:
            lines.append(f"{ex.id}: not answered yet (the stub is still there)")
            continue
        broken = check_answer(text, allow=ex.allow, reserved=lesson, modules=modules)
        lines.append(f"{ex.id}: ok" if not broken else
                     "\n".join([f"{ex.id}: refused (it would score 0):"] + [f"  {r}" for r in broken]))
    return lines or ["no answer cells (tagged 'answer') in this notebook"]
