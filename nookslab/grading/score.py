"""Score a submission: merge, run nbval, and turn per-cell results into per-exercise points.

An exercise earns its points when every cell that checks it passes. If a student's code hangs or
stops the kernel, that exercise is scored 0 and the notebook is run again with its answer replaced
by the stub, so the other exercises are still graded. If the hidden integrity check fails, the
submission is flagged as tampered and scores 0.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .merge import exercises_of, merge
from .runner import CELL_TIMEOUT, WALL_LIMIT, run_nbval

SOLUTIONS = Path(__file__).resolve().parent.parent.parent / "solutions"


@dataclass
class ExerciseScore:
    id: str
    points: float
    max_points: float
    feedback: str


@dataclass
class Report:
    """The grade of one submission."""
    submission: str
    notebook: str
    exercises: list[ExerciseScore] = field(default_factory=list)
    tampered: bool = False
    message: str = ""
    seconds: float = 0.0

    @property
    def score(self) -> float:
        return 0.0 if self.tampered else sum(e.points for e in self.exercises)

    @property
    def max_score(self) -> float:
        return sum(e.max_points for e in self.exercises)

    def table(self) -> str:
        """A per-exercise table with the first mismatch as feedback."""
        lines = [f"submission: {self.submission}", f"graded against: solutions/{self.notebook}.ipynb"]
        if self.message:
            lines.append(self.message)
        lines.append(f"{'exercise':<10} {'points':>9}  feedback")
        for e in self.exercises:
            first, *rest = (e.feedback or "ok").splitlines() or [""]
            lines.append(f"{e.id:<10} {_num(e.points) + '/' + _num(e.max_points):>9}  {first}")
            lines.extend(" " * 22 + line for line in rest)
        lines.append(f"{'total':<10} {_num(self.score) + '/' + _num(self.max_score):>9}"
                     + ("  (TAMPERED: scored 0)" if self.tampered else ""))
        return "\n".join(lines)

    def gradescope(self) -> dict:
        """The Gradescope ``results.json`` shape."""
        return {
            "score": self.score,
            "max_score": self.max_score,
            "output": self.message or f"graded against {self.notebook}",
            "tests": [{"name": e.id, "score": 0.0 if self.tampered else e.points,
                       "max_score": e.max_points, "output": e.feedback or "ok"}
                      for e in self.exercises],
        }


def _num(x: float) -> str:
    return f"{x:g}"


def solution_for(submission, path: Path, solutions: Path = SOLUTIONS) -> Path:
    """The solution notebook a submission answers: named in its metadata, else by its file name."""
    available = {p.stem: p for p in sorted(solutions.glob("*.ipynb"))}
    named = submission.get("metadata", {}).get("nookslab", {})
    named = named.get("notebook") if isinstance(named, dict) else None
    if isinstance(named, str) and named in available:
        return available[named]
    for stem, p in available.items():
        if path.stem.startswith(stem) or path.stem.startswith(stem.split("-")[0] + "-"):
            return p
    raise LookupError(f"{path.name}: cannot tell which notebook this answers (expected one of "
                      f"{', '.join(available)} in its metadata or file name)")


def grade(submission: Path | str, solution: Path | str | None = None, *,
          cell_timeout: float = CELL_TIMEOUT, wall_limit: float = WALL_LIMIT) -> Report:
    """Grade ``submission`` (never written to) against its solution notebook."""
    path = Path(submission)
    try:
        student = nbformat.read(path, as_version=4)
    except Exception as exc:  # not JSON, not a notebook...
        return Report(path.name, "?", message=f"cannot read the submission: {exc}", tampered=False)
    try:
        sol_path = Path(solution) if solution else solution_for(student, path)
    except LookupError as exc:
        return Report(path.name, "?", message=str(exc))
    reference = nbformat.read(sol_path, as_version=4)
    report = Report(path.name, sol_path.stem)
    stubbed: dict[str, str] = {}
    seconds = 0.0
    for _ in range(len(exercises_of(reference)) + 1):
        merged = merge(reference, student, stub_exercises=stubbed)
        run = run_nbval(merged.notebook, cell_timeout=cell_timeout, wall_limit=wall_limit)
        seconds += run.seconds
        fatal = next((c for c in run.cells if c.status in ("timeout", "died")), None)
        if fatal is None:
            break
        role, ex = merged.roles[fatal.index]
        if role not in ("answer", "check") or ex in stubbed or ex in merged.refused:
            break
        what = ("did not finish in time" if fatal.status == "timeout"
                else "stopped the kernel (or would not be interrupted)")
        stubbed[ex] = f"your code for {ex} {what}: scored 0 (the rest was graded without it)"
    report.seconds = seconds
    if run.killed:
        report.message = f"grading stopped after {wall_limit:g} s: scored 0"
    for ex in merged.exercises:
        cells = [(i, role) for i, (role, e) in enumerate(merged.roles) if e == ex.id]
        answer = next(i for i, role in cells if role == "answer")
        checks = [i for i, role in cells if role == "check"]
        if ex.id in merged.refused:
            feedback = merged.refused[ex.id] + ": scored 0"
        elif ex.id in stubbed:
            feedback = stubbed[ex.id]
        elif run.killed:
            feedback = "not graded"
        else:
            failing = [run.cells[i] for i in checks if run.cells[i].status != "passed"]
            if not checks:
                failing = [run.cells[answer]] if run.cells[answer].status != "passed" else []
            if not failing:
                feedback = ""
            else:
                first = failing[0]
                # first.index counts the hidden first cell: it is the 1-based code cell number
                feedback = f"code cell {first.index} (check for {ex.id}) {first.status}: {first.message}"
                if run.cells[answer].status != "passed":
                    said = run.cells[answer].message.splitlines()[:1] or [run.cells[answer].status]
                    feedback = f"your answer cell failed ({said[0]}); " + feedback
        earned = ex.points if feedback == "" else 0.0
        report.exercises.append(ExerciseScore(ex.id, earned, ex.points, feedback))
    integrity = run.cells[-1]
    if not run.killed and integrity.status != "passed":
        report.tampered = True
        found = re.search(r"TAMPERED: ([^\n']*)", integrity.message)
        report.message = ("TAMPERED: the hidden integrity check failed ("
                          + (found.group(1) if found else integrity.message.splitlines()[0]
                             if integrity.message else integrity.status) + "); scored 0")
    return report
