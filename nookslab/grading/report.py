"""A submission's grade and the feedback a student can act on.

Each check cell is scored on its own: its points when it passes, else 0, with feedback that names
the check (its ``name``, its exercise and the first line of its source) and shows the expected and
the actual lines where they first differ -- whole lines, not pytest's trimmed diff -- or the error
it raised. An answer that was refused (the policy, NBVAL markers, missing) or stopped (too slow, a
hang, a dead kernel) scores 0 with the reason on each of its checks.
"""
from __future__ import annotations

from dataclasses import dataclass, field

LINE_CHARS = 1000     # a line longer than this is cut in feedback (a student may print megabytes)
SHOWN_LINES = 3       # differing lines shown per check


@dataclass
class CheckScore:
    """One check cell's score; ``feedback`` is empty when it passed."""
    exercise: str
    number: int
    name: str
    first_line: str
    points: float
    max_points: float
    feedback: str = ""

    @property
    def title(self) -> str:
        return f"{self.exercise} check {self.number}" + (f": {self.name}" if self.name else "")


@dataclass
class ExerciseScore:
    id: str
    points: float
    max_points: float
    feedback: str
    checks: list[CheckScore] = field(default_factory=list)


@dataclass
class Report:
    """The grade of one submission.

    ``tampered`` only on positive evidence from the hidden integrity check; ``infrastructure``
    when the grader itself failed (the kernel did not start, twice): nothing was graded, the
    submission should be graded again, and it is never counted as tampering.
    """
    submission: str
    notebook: str
    exercises: list[ExerciseScore] = field(default_factory=list)
    tampered: bool = False
    infrastructure: bool = False
    message: str = ""
    seconds: float = 0.0

    @property
    def score(self) -> float:
        return 0.0 if self.tampered else sum(e.points for e in self.exercises)

    @property
    def max_score(self) -> float:
        return sum(e.max_points for e in self.exercises)

    def table(self) -> str:
        """A per-exercise table; below each exercise, what each failing check found."""
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
        """Gradescope's ``results.json``: one test per check cell (per exercise without checks)."""
        tests = []
        for e in self.exercises:
            for c in e.checks or [None]:
                if c is None:
                    tests.append({"name": e.id, "score": 0.0 if self.tampered else e.points,
                                  "max_score": e.max_points, "output": e.feedback or "ok",
                                  "visibility": "visible"})
                else:
                    tests.append({"name": c.title, "score": 0.0 if self.tampered else c.points,
                                  "max_score": c.max_points, "visibility": "visible",
                                  "output": (f"check cell: {c.first_line}\n" + (c.feedback or "passed"))})
        return {"score": self.score, "max_score": self.max_score,
                "output": self.message or f"graded against {self.notebook}", "tests": tests,
                "visibility": "visible", "stdout_visibility": "hidden"}


def _num(x: float) -> str:
    return f"{x:g}"


def _cut(line: str) -> str:
    return line if len(line) <= LINE_CHARS else line[:LINE_CHARS] + f" [... {len(line) - LINE_CHARS} more characters]"


def difference(expected: dict, actual: dict) -> list[str]:
    """Where a check's output differs from the solution's, as lines a student can read."""
    if "error" in actual:
        return [f"it raised {_cut(actual['error'][0])}"]
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    if missing:
        return [f"it printed no {missing[0]} output; expected:"] + \
               [f"    {_cut(line)}" for line in _lines(expected[missing[0]])[:SHOWN_LINES]]
    if extra:
        return [f"it printed {extra[0]} output the solution does not:"] + \
               [f"    {_cut(line)}" for line in _lines(actual[extra[0]])[:SHOWN_LINES]]
    for key in sorted(expected, key=lambda k: (k != "stdout", k)):
        want, got = _lines(expected[key]), _lines(actual[key])
        if want == got:
            continue
        out = []
        for i in range(max(len(want), len(got))):
            w = want[i] if i < len(want) else None
            g = got[i] if i < len(got) else None
            if w != g:
                where = f"line {i + 1} of its {key}" if key != "stdout" else f"line {i + 1}"
                out += [f"{where}:",
                        f"    expected: {_cut(w) if w is not None else '(no line)'}",
                        f"    got:      {_cut(g) if g is not None else '(no line)'}"]
                if len(out) >= 3 * SHOWN_LINES:
                    break
        more = sum(1 for i in range(max(len(want), len(got)))
                   if (want[i] if i < len(want) else None) != (got[i] if i < len(got) else None))
        if more > SHOWN_LINES:
            out.append(f"({more - SHOWN_LINES} more lines differ)")
        return out
    return []


def _lines(texts: list[str]) -> list[str]:
    return "".join(texts).splitlines()
