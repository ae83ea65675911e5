"""The grader against a tiny two-exercise solution: honest work, wrong work and tampering.

Every submission is graded once (two at a time, as in batch mode) in a module fixture; each test
then reads its report. ex1 is worth 2 points, ex2 3 points.
"""
from __future__ import annotations

import copy
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor

import nbformat
import pytest

from nookslab.grading import grade, merge
from nookslab.grading.make_exercises import render

from .conftest import answer, make_exercise


def _variants(solution):
    def sub(change=None):
        nb = copy.deepcopy(solution)
        if change:
            change(nb)
        return nb

    def wrong_ex1(nb):
        answer(nb, "ex1").source = "def double(x):\n    return 3 * x"

    def edited_outputs(nb):  # wrong answer, and the stored expected output edited to match it
        wrong_ex1(nb)
        nb.cells[3].outputs[0]["text"] = "double(21) = 63\n"

    def cleared(nb):
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None

    def copied(nb):  # the exercise's stubs with the solution's outputs pasted in
        for cell in nb.cells:
            if "answer" in cell.metadata.get("tags", []):
                cell.source = "raise NotImplementedError"

    def marker(nb):
        answer(nb, "ex2").source = "# NBVAL_SKIP\n" + answer(nb, "ex2").source

    def skip_tag_on_check(nb):
        wrong_ex1(nb)
        nb.cells[3].metadata["tags"] = ["nbval-skip"]
        nb.cells[3].source = "# NBVAL_SKIP\n" + nb.cells[3].source

    def deleted(nb):
        nb.cells = [c for c in nb.cells if c.metadata.get("nookslab", {}).get("exercise") != "ex2"]

    def reordered(nb):
        nb.cells = nb.cells[4:] + nb.cells[:4]

    def no_ids(nb):  # ids lost (e.g. pasted into a new notebook): answers matched by order
        for i, cell in enumerate(nb.cells):
            cell["id"] = f"other-{i}"

    def loops(nb):
        answer(nb, "ex1").source = "def double(x):\n    while True:\n        pass"

    def sys_exit(nb):
        answer(nb, "ex1").source = "import sys\nsys.exit(3)"

    def os_exit(nb):
        answer(nb, "ex1").source = "import os\nos._exit(0)"

    def megabytes(nb):
        answer(nb, "ex1").source = ("print('x' * 4_000_000)\n"
                                    "def double(x):\n    print('y' * 2_000_000)\n    return 2 * x")

    def fake_print(nb):
        answer(nb, "ex1").source = (
            "import builtins\n_real = builtins.print\n"
            "def _fake(*args, **kw):\n"
            "    if args and args[0] == 'double(21) =':\n        args = (args[0], 42)\n"
            "    _real(*args, **kw)\n"
            "builtins.print = _fake\n"
            "def double(x):\n    return 0")

    def patch_nookslab(nb):
        answer(nb, "ex2").source = ("import nookslab.system as kk\n"
                                    "kk.boot = lambda *a, **k: None\n"
                                    "def total(xs):\n    return sum(xs)")

    def combine(*changes):
        return lambda nb: [change(nb) for change in changes]

    def sys_exit_after_ex2(nb):  # sys.exit after a correct answer: the answer still counts
        answer(nb, "ex2").source += "\nimport sys\nsys.exit(3)"

    def os_exit(nb):
        answer(nb, "ex1").source = "import os\nos._exit(0)"

    def megabytes_ex2(nb):
        answer(nb, "ex2").source = ("print('x' * 4_000_000)\n"
                                    "def total(xs):\n    print('y' * 2_000_000)\n    return sum(xs)")

    return {  # each submission tries several things at once, to keep the test short
        "solution": sub(),
        "exercise": make_exercise(solution),
        # wrong ex1 with its expected output edited to match and a skip marker on its check cell;
        # the solution's outputs copied in; an NBVAL marker in ex2's answer
        "wrong": sub(combine(edited_outputs, skip_tag_on_check, marker)),
        "wrong_ex1": sub(wrong_ex1),
        "cleared_reordered": sub(combine(cleared, reordered)),
        "no_ids_deleted": sub(combine(deleted, no_ids)),
        "loops_megabytes": sub(combine(loops, megabytes_ex2)),
        "os_exit_sys_exit": sub(combine(os_exit, sys_exit_after_ex2)),
        "tampered": sub(combine(fake_print, patch_nookslab)),
    }


@pytest.fixture(scope="module")
def graded(solution, solution_path, tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    paths = {}
    for name, nb in _variants(solution).items():
        paths[name] = folder / f"{name}.ipynb"
        paths[name].write_text(render(nb))
    before = {n: hashlib.sha256(p.read_bytes()).hexdigest() for n, p in paths.items()}
    with ThreadPoolExecutor(2) as pool:
        reports = dict(zip(paths, pool.map(
            lambda p: grade(p, solution_path, cell_timeout=4, wall_limit=50), paths.values())))
    after = {n: hashlib.sha256(p.read_bytes()).hexdigest() for n, p in paths.items()}
    return reports, before, after


def points(report):
    return {e.id: e.points for e in report.exercises}


def feedback(report, ex):
    return next(e.feedback for e in report.exercises if e.id == ex)


def test_the_solution_scores_full_marks(graded):
    r = graded[0]["solution"]
    assert (r.score, r.max_score, r.tampered) == (5, 5, False)


def test_the_generated_exercise_scores_zero_and_runs_to_the_end_untampered(graded):
    r = graded[0]["exercise"]
    assert points(r) == {"ex1": 0, "ex2": 0} and not r.tampered
    assert feedback(r, "ex1").startswith("your answer cell failed (NotImplementedError: write your answer here)")


def test_a_wrong_answer_loses_exactly_that_exercise_with_the_mismatch_as_feedback(graded):
    r = graded[0]["wrong_ex1"]
    assert points(r) == {"ex1": 0, "ex2": 3}
    assert feedback(r, "ex1") == "code cell 3 (check for ex1) failed: stdout differs: " \
                                 "expected 'double(21) = 42\\n', got 'double(21) = 63\\n'"


def test_edited_expected_outputs_nbval_markers_and_copied_outputs_change_nothing(graded):
    r = graded[0]["wrong"]
    assert points(r) == {"ex1": 0, "ex2": 0}
    assert "expected 'double(21) = 42\\n', got 'double(21) = 63\\n'" in feedback(r, "ex1")
    assert feedback(r, "ex2") == "the answer cell for ex2 carries NBVAL marker(s) NBVAL_SKIP: " \
                                 "refused: scored 0"


def test_cleared_outputs_and_reordered_cells_still_score_full_marks(graded):
    assert points(graded[0]["cleared_reordered"]) == {"ex1": 2, "ex2": 3}


def test_a_deleted_answer_cell_scores_zero_and_others_are_matched_by_order(graded):
    r = graded[0]["no_ids_deleted"]
    assert points(r) == {"ex1": 2, "ex2": 0}
    assert feedback(r, "ex2") == "the answer cell for ex2 is missing from the submission: scored 0"


def test_an_infinite_loop_and_megabytes_of_print_cost_only_their_exercises(graded):
    r = graded[0]["loops_megabytes"]
    assert points(r) == {"ex1": 0, "ex2": 0} and not r.tampered
    assert feedback(r, "ex1") == "your code for ex1 did not finish in time: scored 0 " \
                                 "(the rest was graded without it)"
    assert "stdout differs" in feedback(r, "ex2") and len(feedback(r, "ex2")) < 800


def test_os_exit_loses_only_that_exercise_and_sys_exit_does_not_stop_grading(graded):
    r = graded[0]["os_exit_sys_exit"]
    assert points(r) == {"ex1": 0, "ex2": 3} and not r.tampered
    assert feedback(r, "ex1") == "your code for ex1 stopped the kernel (or would not be interrupted): scored 0 " \
                                 "(the rest was graded without it)"


def test_monkeypatching_builtins_or_nookslab_is_flagged_as_tampered(graded):
    r = graded[0]["tampered"]
    assert r.tampered and r.score == 0
    assert r.message.startswith("TAMPERED: the hidden integrity check failed (replaced ")
    assert "builtins.print" in r.message and "nookslab.system.boot" in r.message


def test_the_grader_never_writes_to_a_submission(graded):
    _, before, after = graded
    assert before == after


def test_merge_takes_only_answer_sources_from_the_student(solution):
    student = copy.deepcopy(solution)
    student.cells[3].source = "print('double(21) = 42')"
    answer(student, "ex1").source = "def double(x):\n    return x + x"
    merged = merge(solution, student)
    code = [c for c in merged.notebook.cells if c.cell_type == "code"]
    assert [r[0] for r in merged.roles] == ["guard", "lesson", "answer", "check", "answer", "check",
                                            "check", "lesson", "integrity"]
    assert code[2].source == "def double(x):\n    return x + x"
    assert code[3].source == "print('double(21) =', double(21))"
    assert code[2].metadata["tags"] == ["answer", "nbval-ignore-output"]


def test_the_gradescope_json_has_score_max_score_and_one_test_per_exercise(graded):
    data = json.loads(json.dumps(graded[0]["wrong_ex1"].gradescope()))
    assert (data["score"], data["max_score"]) == (3, 5)
    assert [(t["name"], t["score"], t["max_score"]) for t in data["tests"]] == [("ex1", 0, 2), ("ex2", 3, 3)]


def test_a_file_that_is_not_a_notebook_is_reported_not_crashed(tmp_path):
    bad = tmp_path / "02-isolation.ipynb"
    bad.write_text("{ not json")
    r = grade(bad)
    assert r.score == 0 and r.message.startswith("cannot read the submission")


def test_batch_mode_grades_a_folder_into_one_csv(solution, solution_path, tmp_path):
    from nookslab.grading.cli import grade_folder
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "bob.ipynb").write_text(render(solution))
    (folder / "carol.ipynb").write_text(render(make_exercise(solution)))
    out = tmp_path / "grades.csv"
    grade_folder(folder, out, workers=2, solution=solution_path)
    assert out.read_text().splitlines() == [
        "submission,notebook,ex1,ex2,score,max_score,tampered,message",
        "bob.ipynb,99-tiny,2,3,5,5,no,",
        "carol.ipynb,99-tiny,0,0,0,5,no,",
    ]


def test_the_command_reports_a_missing_submission_file(tmp_path, capsys):
    from nookslab.grading.cli import main
    assert main(submission=str(tmp_path / "nothing.ipynb")) == 2
    assert "no such file" in capsys.readouterr().err
