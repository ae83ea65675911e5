"""The grader against a tiny two-exercise solution: honest work, wrong work, bad input.

Every submission is graded once (two at a time, as in batch mode, each in its own sandbox) in a
module fixture; each test then reads its report. ex1 is worth 2 points (one unnamed check), ex2
3 points (named checks worth 2 and 1). Attacks on the grader are in test_attacks.py.
"""
from __future__ import annotations

import copy
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor

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

    def fake_print(nb):
        answer(nb, "ex1").source = (
            "import builtins\n_real = builtins.print\n"
            "def _fake(*args, **kw):\n"
            "    if args and args[0] == 'double(21) =':\n        args = (args[0], 42)\n"
            "    _real(*args, **kw)\n"
            "builtins.print = _fake\n"
            "def double(x):\n    return 0")

    def patch_nookslab(nb):
        answer(nb, "ex2").source = ("import nookslab.kernel.kernel as kk\n"
                                    "kk.boot = lambda *a, **k: None\n"
                                    "def total(xs):\n    return sum(xs)")

    def combine(*changes):
        return lambda nb: [change(nb) for change in changes]

    def crash(nb):  # allowed by the policy, and deaf to the interrupt (minutes of C arithmetic):
        answer(nb, "ex1").source = (   # the grader has to kill the kernel
            "def double(x):\n"
            "    return x * 2 + (7 ** (10 ** 9)) % 2 - 1")

    def megabytes_ex2(nb):
        answer(nb, "ex2").source = "def total(xs):\n    print('y' * 2_000_000)\n    return sum(xs)"

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
        "crash": sub(crash),
        "refused": sub(combine(fake_print, patch_nookslab)),
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
            lambda p: grade(p, solution_path, cell_timeout=4, exercise_limit=40), paths.values())))
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


def test_a_wrong_answer_loses_exactly_that_exercise_with_the_whole_lines_as_feedback(graded):
    r = graded[0]["wrong_ex1"]
    assert points(r) == {"ex1": 0, "ex2": 3}
    assert feedback(r, "ex1") == ("check 1 (0/2)\n"
                                  "  check cell: print('double(21) =', double(21))\n"
                                  "  line 1:\n"
                                  "      expected: double(21) = 42\n"
                                  "      got:      double(21) = 63")


def test_edited_expected_outputs_nbval_markers_and_copied_outputs_change_nothing(graded):
    r = graded[0]["wrong"]
    assert points(r) == {"ex1": 0, "ex2": 0}
    assert "expected: double(21) = 42\n      got:      double(21) = 63" in feedback(r, "ex1")
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
    text = feedback(r, "ex2")
    assert "expected: total([1, 2, 3]) = 6" in text and "more characters]" in text
    assert len(text) < 5000


def test_a_crashed_kernel_loses_only_that_exercise(graded):
    r = graded[0]["crash"]
    assert points(r) == {"ex1": 0, "ex2": 3} and not r.tampered
    assert feedback(r, "ex1") == "your code for ex1 stopped the kernel (or would not be interrupted): scored 0 " \
                                 "(the rest was graded without it)"


def test_answers_that_patch_builtins_or_nookslab_are_refused_before_they_run(graded):
    r = graded[0]["refused"]
    assert points(r) == {"ex1": 0, "ex2": 0} and not r.tampered
    assert feedback(r, "ex1").startswith("the answer cell for ex1 was refused by the answer-cell "
                                         "policy (exercises/README.md) and scored 0:\n"
                                         "  line 1: `import builtins`: `builtins` is not allowed "
                                         "in an answer [rule: import]\n")
    assert "`import nookslab.kernel.kernel`: an answer may import only from math, numpy" \
        in feedback(r, "ex2")


def test_the_grader_never_writes_to_a_submission(graded):
    _, before, after = graded
    assert before == after


def test_merge_takes_only_answer_sources_from_the_student(solution):
    student = copy.deepcopy(solution)
    student.cells[3].source = "print('double(21) = 42')"
    answer(student, "ex1").source = "def double(x):\n    return x + x"
    merged = merge(solution, student)
    code = [c for c in merged.notebook.cells if c.cell_type == "code"]
    assert [r[0] for r in merged.roles] == ["lesson", "answer", "reset", "check", "answer", "reset",
                                            "check", "reset", "check", "lesson", "integrity"]
    assert code[1].source == "def double(x):\n    return x + x"
    assert code[2].source == "# nookslab grader: reset" and code[2].outputs == []
    assert code[3].source == "print('double(21) =', double(21))"  # the solution's, untouched
    assert code[1].metadata["tags"] == ["answer", "nbval-ignore-output"]
    assert [(c.exercise, c.number, c.name, c.points, c.first_line) for c in merged.checks] == [
        ("ex1", 1, "", None, "print('double(21) =', double(21))"),
        ("ex2", 1, "sums a short list", 2.0, "print('total([1, 2, 3]) =', total([1, 2, 3]))"),
        ("ex2", 2, "an empty list sums to 0", 1.0, "assert total([]) == 0")]


def test_the_gradescope_json_has_one_test_per_check_cell(graded):
    data = json.loads(json.dumps(graded[0]["wrong_ex1"].gradescope()))
    assert (data["score"], data["max_score"]) == (3, 5)
    assert [(t["name"], t["score"], t["max_score"]) for t in data["tests"]] == [
        ("ex1 check 1", 0, 2), ("ex2 check 1: sums a short list", 2, 2),
        ("ex2 check 2: an empty list sums to 0", 1, 1)]
    assert data["tests"][0]["output"].startswith("check cell: print('double(21) =', double(21))\n")


def test_a_file_that_is_not_a_notebook_is_reported_not_crashed(tmp_path):
    bad = tmp_path / "02-isolation.ipynb"
    bad.write_text("{ not json")
    r = grade(bad)
    assert r.score == 0 and r.message.startswith("cannot read the submission as a notebook")


def test_json_that_is_not_a_notebook_is_reported(tmp_path):
    bad = tmp_path / "02-isolation.ipynb"
    bad.write_text('{"cells": 3}')
    assert grade(bad).message.startswith("cannot read the submission as a notebook")


def test_a_notebook_for_no_known_exercise_names_the_valid_choices(solution, tmp_path):
    odd = copy.deepcopy(solution)
    odd.metadata["nookslab"] = {"notebook": "42-nothing"}
    path = tmp_path / "42-nothing.ipynb"
    path.write_text(render(odd))
    r = grade(path)
    assert r.message.startswith("42-nothing.ipynb: cannot tell which notebook this answers "
                                "(its metadata names '42-nothing', expected one of 02-isolation, ")


def test_a_huge_file_is_refused_before_it_is_read(tmp_path):
    huge = tmp_path / "02-isolation.ipynb"
    with open(huge, "wb") as fh:
        fh.truncate(21 << 20)
    r = grade(huge)
    assert r.score == 0 and r.message.startswith("the submission is 21.0 MB; the grader takes "
                                                 "notebooks up to 20 MB")


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


def test_grading_refuses_without_a_sandbox_unless_told(monkeypatch, solution_path, capsys):
    from nookslab.grading import cli, sandbox
    monkeypatch.setitem(sandbox._PROBED, "result", "bubblewrap is not installed (/usr/bin/bwrap missing)")
    assert cli.main(submission=str(solution_path)) == 2
    err = capsys.readouterr().err
    assert err.startswith("nookslab grade: refusing to grade: bubblewrap is not installed")
    assert "--unsafe-no-sandbox" in err
    assert cli.main(submission=str(solution_path), unsafe_no_sandbox=True) == 0
    out = capsys.readouterr()
    assert "students' code runs unconfined" in out.err and "total" in out.out
