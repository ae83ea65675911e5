"""Score a submission: merge, run nbval in a sandbox, and score each check cell.

A check cell earns its points when it passes (its metadata's ``points``; check cells without them
share their exercise's points evenly). An exercise whose code hangs, takes longer than its limit in
all, or stops the kernel scores 0 and the notebook is run again with that answer replaced by the
stub, so the others are still graded. A kernel that does not start is an infrastructure failure:
tried once more, then reported as such (never as tampering). A submission is TAMPERED only when the
hidden integrity check itself reports what was replaced.
"""
from __future__ import annotations

from pathlib import Path

import nbformat

from .markers import INTEGRITY_OK, TAMPERED
from .merge import Exercise, Merged, exercises_of, merge
from .report import CheckScore, ExerciseScore, Report, difference
from .runner import CELL_TIMEOUT, EXERCISE_LIMIT, NOTEBOOK_LIMIT, RunResult, run_nbval
from .sandbox import Limits, SandboxUnavailable, probe

SOLUTIONS = Path(__file__).resolve().parent.parent.parent / "solutions"
MAX_SUBMISSION_BYTES = 20 << 20
UNSAFE_HINT = ("install bubblewrap (apt-get install bubblewrap) and grade as root, or pass "
               "--unsafe-no-sandbox to run students' code unconfined as your own user")


def solution_for(submission, path: Path, solutions: Path = SOLUTIONS) -> Path:
    """The solution notebook a submission answers: named in its metadata, else by its file name."""
    available = {p.stem: p for p in sorted(Path(solutions).glob("*.ipynb"))}
    named = submission.get("metadata", {}).get("nookslab", {})
    named = named.get("notebook") if isinstance(named, dict) else None
    if isinstance(named, str) and named in available:
        return available[named]
    for stem, p in available.items():
        if path.stem.startswith(stem) or path.stem.startswith(stem.split("-")[0] + "-"):
            return p
    said = f"its metadata names {named!r}, " if isinstance(named, str) else ""
    raise LookupError(f"{path.name}: cannot tell which notebook this answers ({said}expected one of "
                      f"{', '.join(available) or '(none found in ' + str(solutions) + ')'} in its "
                      "metadata or at the start of its file name)")


def _folder_or_file(path: Path) -> Path:
    path = path.resolve()
    return path if path.parent == Path("/") else path.parent


def grade(submission: Path | str, solution: Path | str | None = None, *,
          cell_timeout: float = CELL_TIMEOUT, exercise_limit: float = EXERCISE_LIMIT,
          notebook_limit: float = NOTEBOOK_LIMIT, sandbox: bool = True, policy: bool = True,
          hide=(), limits: Limits = Limits(), solutions: Path = SOLUTIONS,
          kernel_argv: list[str] | None = None) -> Report:
    """Grade ``submission`` (never written to) against its solution notebook.

    ``sandbox=False`` runs students' code unconfined (the instructor's explicit choice); without
    it, grading refuses with :class:`SandboxUnavailable` where bubblewrap cannot run. ``hide``
    adds host folders the sandbox must not show (the submission's folder and the solutions are
    always hidden). ``policy=False`` and ``kernel_argv`` are for the grader's own tests.
    """
    path = Path(submission)
    if sandbox and (problem := probe()) is not None:
        raise SandboxUnavailable(f"refusing to grade: {problem}; {UNSAFE_HINT}")
    try:
        size = path.stat().st_size
    except OSError as exc:
        return Report(path.name, "?", message=f"cannot read the submission: {exc}")
    if size > MAX_SUBMISSION_BYTES:
        return Report(path.name, "?", message=f"the submission is {size / 2**20:.1f} MB; the grader "
                      f"takes notebooks up to {MAX_SUBMISSION_BYTES >> 20} MB: clear the outputs "
                      "(Edit > Clear Outputs of All Cells), save and submit again")
    try:
        student = nbformat.read(path, as_version=4)
        if not isinstance(student.get("cells"), list):
            raise ValueError("it has no list of cells")
    except Exception as exc:  # not JSON, not a notebook...
        return Report(path.name, "?", message=f"cannot read the submission as a notebook: {exc}")
    try:
        sol_path = Path(solution) if solution else solution_for(student, path, solutions)
    except LookupError as exc:
        return Report(path.name, "?", message=str(exc))
    reference = nbformat.read(sol_path, as_version=4)
    report = Report(path.name, sol_path.stem)
    hidden = (_folder_or_file(path), _folder_or_file(sol_path), *hide)
    options = dict(cell_timeout=cell_timeout, exercise_limit=exercise_limit,
                   notebook_limit=notebook_limit, sandbox=sandbox, hide=hidden, limits=limits,
                   kernel_argv=kernel_argv)
    stubbed: dict[str, str] = {}
    retried = False
    notes: list[str] = []
    for _ in range(len(exercises_of(reference)) + 3):
        merged = merge(reference, student, stub_exercises=stubbed, policy=policy)
        run = run_nbval(merged.notebook, roles=merged.roles, **options)
        report.seconds += run.seconds
        if run.startup_error is not None:
            if not retried:
                retried = True
                notes.append("the grading kernel did not start at first (tried again)")
                continue
            return _infrastructure(report, merged, run)
        culprit, why = _culprit(merged, run, exercise_limit)
        if culprit is not None and culprit not in stubbed and culprit not in merged.refused:
            stubbed[culprit] = why
            continue
        if culprit is None and why is not None and not retried:
            retried = True  # the notebook's own cell stopped: tried once more
            notes.append(why + " (tried again)")
            continue
        if why is not None and culprit is None:
            notes.append(why)
        break
    for ex in merged.exercises:
        report.exercises.append(_score(ex, merged, run, stubbed))
    _integrity(report, run, notes)
    report.message = "; ".join(([report.message] if report.message else []) + notes)
    return report


def _culprit(merged: Merged, run: RunResult, exercise_limit: float) -> tuple[str | None, str | None]:
    """The exercise that stopped the run, and what to tell about it (None, None: nothing did)."""
    if run.too_slow is not None:
        return run.too_slow, (f"your code for {run.too_slow} took over {exercise_limit:g} s in all "
                              "(answer and checks): scored 0 (the rest was graded without it)")
    fatal = next((c for c in run.cells if c.status in ("timeout", "died")), None)
    if fatal is None:
        return None, (f"grading stopped: {run.stopped}" if run.stopped else None)
    role, ex = merged.roles[fatal.index]
    if role in ("answer", "reset", "check"):
        what = ("did not finish in time" if fatal.status == "timeout"
                else "stopped the kernel (or would not be interrupted)")
        return ex, f"your code for {ex} {what}: scored 0 (the rest was graded without it)"
    return None, (f"the notebook's own code cell {fatal.index + 1} "
                  + ("timed out" if fatal.status == "timeout" else "stopped the kernel"))


def check_points(ex: Exercise, merged: Merged) -> list[float]:
    """Each check cell's points: its own, else an even share of what the exercise has left."""
    checks = [c for c in merged.checks if c.exercise == ex.id]
    given = sum(c.points for c in checks if c.points is not None)
    unpriced = [c for c in checks if c.points is None]
    share = max(ex.points - given, 0.0) / len(unpriced) if unpriced else 0.0
    return [c.points if c.points is not None else share for c in checks]


def _score(ex: Exercise, merged: Merged, run: RunResult, stubbed: dict) -> ExerciseScore:
    answer = next(i for i, (role, e) in enumerate(merged.roles) if role == "answer" and e == ex.id)
    checks = [c for c in merged.checks if c.exercise == ex.id]
    reason = merged.refused.get(ex.id) or stubbed.get(ex.id)
    said = ""
    cell = run.cells[answer]
    if reason is None and cell.status != "passed":
        error = (cell.actual.get("error") or [cell.message.splitlines()[0] if cell.message else cell.status])[0]
        said = f"your answer cell failed ({error})"
    if not checks:  # an exercise checked by its answer cell alone
        ok = reason is None and cell.status == "passed"
        return ExerciseScore(ex.id, ex.points if ok else 0.0, ex.points,
                             "" if ok else (reason or said or cell.message))
    scores = []
    for check, worth in zip(checks, check_points(ex, merged)):
        result = run.cells[check.index]
        if reason is not None:
            feedback = reason
        elif result.status == "passed":
            feedback = ""
        elif result.status == "failed":
            feedback = "\n".join(difference(result.expected, result.actual)) or result.message
        else:
            feedback = result.message or result.status
        scores.append(CheckScore(ex.id, check.number, check.name, check.first_line,
                                 worth if feedback == "" else 0.0, worth, feedback))
    lines = [reason] if reason else ([said] if said else [])
    if reason is None:
        for c in scores:
            if c.feedback:
                lines.append(f"check {c.number} ({_num(c.points)}/{_num(c.max_points)})"
                             + (f": {c.name}" if c.name else ""))
                lines.append(f"  check cell: {c.first_line}")
                lines += ["  " + line for line in c.feedback.splitlines()]
    return ExerciseScore(ex.id, sum(c.points for c in scores), sum(c.max_points for c in scores),
                         "\n".join(lines) if any(c.feedback for c in scores) or reason else "",
                         scores)


def _num(x: float) -> str:
    return f"{x:g}"


def _integrity(report: Report, run: RunResult, notes: list[str]) -> None:
    last = run.cells[-1]
    said = "".join(last.actual.get("stdout", []))
    if TAMPERED in said:
        report.tampered = True
        found = (said[said.index(TAMPERED) + len(TAMPERED):].strip().splitlines() or [""])[0]
        report.message = f"TAMPERED: the hidden integrity check found replaced {found}; scored 0"
    elif last.status == "failed" and said and INTEGRITY_OK.strip() not in said:
        # only the grading kernel writes there, and its report is missing: something replaced it
        report.tampered = True
        report.message = ("TAMPERED: the hidden integrity check's report was altered (it said "
                          f"{said.strip()[:200]!r}); scored 0")
    elif last.status != "passed":
        why = last.message.splitlines()[0] if last.message else last.status
        notes.append(f"the hidden integrity check did not run ({why})")


def _infrastructure(report: Report, merged: Merged, run: RunResult) -> Report:
    report.infrastructure = True
    error = (run.startup_error or "").strip().splitlines()
    said = [line for line in run.tail.splitlines() if line.strip()]
    report.message = ("infrastructure failure: the grading kernel did not start, twice ("
                      + (error[-1][:300] if error else "no reason given")
                      + (f"; its last words: {said[-1][:300]}" if said else "")
                      + "); nothing was graded: grade this submission again")
    for ex in merged.exercises:
        report.exercises.append(ExerciseScore(ex.id, 0.0, ex.points, "not graded: infrastructure failure"))
    return report
