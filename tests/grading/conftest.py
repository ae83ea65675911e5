"""A tiny executed solution notebook with two exercises, shared by the grading tests.

ex1 (2 points) has one check cell without a name or points (it gets the exercise's points);
ex2 (3 points) has two named check cells worth 2 and 1.
"""
from __future__ import annotations

import nbformat
import pytest

from nookslab.grading.make_exercises import execute, make_exercise, render


def code(source, *, tags=(), **nookslab):
    cell = nbformat.v4.new_code_cell(source)
    if tags:
        cell.metadata["tags"] = list(tags)
    if nookslab:
        cell.metadata["nookslab"] = nookslab
    return cell


def tiny_solution():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Tiny\nGoal: test the grader."),
        code("import nookslab as nl\nprint('modes:', ', '.join(nl.MODES))"),
        code("def double(x):\n    return 2 * x", tags=["answer"], exercise="ex1", points=2),
        code("print('double(21) =', double(21))", tags=["check"], check="ex1"),
        code("def total(xs):\n    return sum(xs)", tags=["answer"], exercise="ex2", points=3),
        code("print('total([1, 2, 3]) =', total([1, 2, 3]))", tags=["check"], check="ex2",
             name="sums a short list", points=2),
        code("assert total([]) == 0\nprint('empty: ok')", tags=["check"], check="ex2",
             name="an empty list sums to 0", points=1),
        code("print('the end')"),
    ]
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"
    return nb


@pytest.fixture(scope="session")
def solution_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("solutions") / "99-tiny.ipynb"
    path.write_text(render(tiny_solution()))
    execute(path)
    return path


@pytest.fixture(scope="session")
def solution(solution_path):
    return nbformat.read(solution_path, as_version=4)


@pytest.fixture
def write(tmp_path):
    """Write a notebook into a fresh file and return its path."""
    def _write(nb, name="99-tiny.ipynb"):
        path = tmp_path / name
        path.write_text(render(nb))
        return path
    return _write


def answer(nb, exercise):
    """The answer cell of ``exercise`` in ``nb``."""
    return next(c for c in nb.cells if c.get("metadata", {}).get("nookslab", {}).get("exercise") == exercise)


__all__ = ["answer", "code", "make_exercise", "tiny_solution"]
