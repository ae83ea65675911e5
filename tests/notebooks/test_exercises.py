"""The committed exercise notebooks are exactly what make_exercises generates from the solutions,
every graded notebook has its three copies, and each exercise carries its points and checks."""
from __future__ import annotations

import nbformat

from nookslab.grading.make_exercises import EXERCISES, NOTEBOOKS, SOLUTIONS, expected_exercises
from nookslab.grading.merge import STUB, exercises_of, is_answer, meta


def test_committed_exercises_equal_the_generated_ones():
    expected = expected_exercises()
    assert expected, "no solution notebooks"
    assert sorted(p.name for p in EXERCISES.glob("*.ipynb")) == sorted(p.name for p in expected)
    stale = [p.name for p, text in expected.items() if p.read_text() != text]
    assert stale == [], "run: python -m nookslab.grading.make_exercises"


def test_every_graded_notebook_has_a_lesson_a_solution_and_an_exercise():
    for sol in SOLUTIONS.glob("*.ipynb"):
        assert (NOTEBOOKS / sol.name).exists() and (EXERCISES / sol.name).exists(), sol.name


def test_each_exercise_has_points_a_stub_and_at_least_one_check_cell():
    for sol in sorted(SOLUTIONS.glob("*.ipynb")):
        nb = nbformat.read(sol, as_version=4)
        exercises = exercises_of(nb)
        assert exercises, sol.name
        checked = {str(meta(c).get("check")) for c in nb.cells if "check" in meta(c)}
        assert {e.id for e in exercises} <= checked, sol.name
        assert all(e.points > 0 for e in exercises)
        ex = nbformat.read(EXERCISES / sol.name, as_version=4)
        stubs = [c.source for c in ex.cells if is_answer(c)]
        assert stubs == [STUB] * len(exercises)
        assert all(c.get("outputs") in (None, []) for c in ex.cells if c.cell_type == "code")


def test_lessons_and_solutions_are_committed_executed():
    for folder in (NOTEBOOKS, SOLUTIONS):
        for path in folder.glob("*.ipynb"):
            nb = nbformat.read(path, as_version=4)
            code = [c for c in nb.cells if c.cell_type == "code"]
            assert code and all(c.execution_count is not None for c in code), path.name


def test_stored_notebooks_keep_each_cells_prints_in_one_stream_output():
    from nookslab.grading.make_exercises import coalesce_streams
    outs = [nbformat.v4.new_output("stream", name="stdout", text="a"),
            nbformat.v4.new_output("stream", name="stdout", text="b\n"),
            nbformat.v4.new_output("stream", name="stderr", text="c\n")]
    assert [o["text"] for o in coalesce_streams(outs)] == ["ab\n", "c\n"]
    for folder in (NOTEBOOKS, SOLUTIONS):
        for path in folder.glob("*.ipynb"):
            for cell in nbformat.read(path, as_version=4).cells:
                kinds = [(o.output_type, o.get("name")) for o in cell.get("outputs", [])]
                assert all(a != b or a[0] != "stream" for a, b in zip(kinds, kinds[1:])), path.name
