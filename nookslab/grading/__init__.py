"""The autograder: grade a student's notebook against its solution with nbval (DESIGN.md section 7).

The grader never trusts what a submission stores. :func:`merge` builds a fresh notebook from the
solution's cells and stored outputs with only the source of the student's ``answer`` cells put in
(each checked first by the static :mod:`~nookslab.grading.policy`); :func:`run_nbval` runs nbval
on it in its own process, with the kernel in a bubblewrap sandbox (:mod:`~nookslab.grading.sandbox`);
:func:`grade` scores each check cell and says which behaviour is missing.

The rest is imported lazily: the kernel imports :mod:`nookslab.grading.inkernel` inside the
sandbox and must not pay for nbformat or pytest.
"""
from importlib import import_module

from .merge import Exercise, Merged, merge

_WHERE = {"CellResult": "runner", "run_nbval": "runner", "ExerciseScore": "report",
          "CheckScore": "report", "Report": "report", "grade": "score", "solution_for": "score"}

__all__ = sorted([*_WHERE, "Exercise", "Merged", "merge"])


def __getattr__(name):
    if name in _WHERE:
        return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
