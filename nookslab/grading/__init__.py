"""The autograder: grade a student's notebook against its solution with nbval (DESIGN.md section 7).

The grader never trusts what a submission stores. :func:`merge` builds a fresh notebook from the
solution's cells and stored outputs with only the source of the student's ``answer`` cells put in;
:func:`run_nbval` runs nbval on it in its own process; :func:`grade` scores each exercise from the
cells that check it.
"""
from .merge import Exercise, Merged, merge
from .runner import CellResult, run_nbval
from .score import ExerciseScore, Report, grade, solution_for

__all__ = ["CellResult", "Exercise", "ExerciseScore", "Merged", "Report", "grade", "merge",
           "run_nbval", "solution_for"]
