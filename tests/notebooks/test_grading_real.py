"""The real graded notebooks under the grader: each solution full marks, each exercise zero."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from nookslab.grading import grade
from nookslab.grading.make_exercises import EXERCISES, SOLUTIONS


@pytest.fixture(scope="module")
def reports():
    paths = sorted(SOLUTIONS.glob("*.ipynb")) + sorted(EXERCISES.glob("*.ipynb"))
    with ThreadPoolExecutor(2) as pool:
        return dict(zip(paths, pool.map(grade, paths)))


def test_every_solution_notebook_scores_full_marks(reports):
    for path, r in reports.items():
        if path.parent == SOLUTIONS:
            assert (r.score, r.tampered) == (r.max_score, False), r.table()
            assert r.max_score > 0


def test_every_generated_exercise_scores_zero_and_runs_to_the_end(reports):
    for path, r in reports.items():
        if path.parent == EXERCISES:
            assert r.score == 0 and not r.tampered and r.max_score > 0, r.table()
            assert all("NotImplementedError" in e.feedback for e in r.exercises), r.table()
