"""The real graded notebooks under the grader: each solution full marks, each exercise zero, and a
plausible wrong piece of the mechanism loses points of its own exercise only (its checks run the live
simulation with the piece plugged in, so the wrong piece shows in what they print; each check cell
is scored on its own)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import nbformat
import pytest

from nookslab.grading import grade
from nookslab.grading.make_exercises import EXERCISES, SOLUTIONS
from nookslab.grading.merge import exercises_of, meta

#: One wrong answer per graded notebook: (exercise, source). Each is a mistake a student could make.
WRONG = {
    "02-isolation": ("ex1", "def build_domain_table(kernel_flags):\n    return kernel_flags"),
    "03-xpc": ("ex1", "def batch_calls(queue):\n    return [queue]"),
    "04-wrappers": ("ex1", "def make_buffer_check(spec):\n    return lambda args, domain: None"),
    "05-object-tracking": ("ex1", "def collect(objects):\n"
                                  "    return ([o for o in objects if not o.type.physical],\n"
                                  "            [o for o in objects if o.type.physical])"),
    "06-recovery": ("ex1", "def policy(extension, restarts, cause):\n    return 'restart'"),
    "07-fault-injection": ("ex1", "def arm_wild_copy(kernel, module, hit):\n"
                                  "    real = module.namespace['copy_from_user']\n"
                                  "    def copy_from_user(to, from_user, n):\n"
                                  "        hit()\n"
                                  "        return real(to, from_user, n)\n"
                                  "    module.namespace['copy_from_user'] = copy_from_user"),
    "08-performance": ("ex1", "def tlb_refill(cost, work):\n    return cost.xpc_tlb"),
}


def _wrong(name: str, tmp) -> object:
    ex, source = WRONG[name]
    nb = nbformat.read(SOLUTIONS / f"{name}.ipynb", as_version=4)
    cells = [c for c in nb.cells if meta(c).get("exercise") == ex]
    assert len(cells) == 1, name
    cells[0].source = source
    path = tmp / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wrong")
    paths = sorted(SOLUTIONS.glob("*.ipynb")) + sorted(EXERCISES.glob("*.ipynb"))
    paths += [_wrong(name, tmp) for name in sorted(WRONG)]
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


def test_a_wrong_piece_of_the_mechanism_loses_exactly_its_exercise(reports):
    assert sorted(WRONG) == sorted(p.stem for p in SOLUTIONS.glob("*.ipynb"))
    for path, r in reports.items():
        if path.parent in (SOLUTIONS, EXERCISES):
            continue
        wrong_ex = WRONG[path.stem][0]
        solution = nbformat.read(SOLUTIONS / path.name, as_version=4)
        worth = {e.id: e.points for e in exercises_of(solution)}
        got = {e.id: e.points for e in r.exercises}
        # scored per check cell: the wrong piece loses what its failing checks are worth, only there
        assert got[wrong_ex] < worth[wrong_ex], r.table()
        assert {k: v for k, v in got.items() if k != wrong_ex} == \
            {k: v for k, v in worth.items() if k != wrong_ex}, r.table()
        assert not r.tampered, r.table()
        said = next(e.feedback for e in r.exercises if e.id == wrong_ex)
        assert "check cell: " in said and ("expected: " in said or "it raised " in said), r.table()


def test_every_exercise_plugs_a_piece_into_the_live_system_through_a_parameter():
    # the checks must run the simulation with the student's function (no recomputed answer)
    for sol in sorted(SOLUTIONS.glob("*.ipynb")):
        nb = nbformat.read(sol, as_version=4)
        for ex in exercises_of(nb):
            answer = next(c for c in nb.cells if meta(c).get("exercise") == ex.id)
            fn = answer.source.split("def ", 1)[1].split("(", 1)[0]
            checks = [c.source for c in nb.cells if str(meta(c).get("check")) == ex.id]
            assert any(fn in src for src in checks), (sol.name, ex.id)
            joined = "\n".join(checks)
            assert any(word in joined for word in ("NooksHooks", "FaultType", "CostModel(tlb_term")), \
                (sol.name, ex.id)


def test_delegating_to_the_package_through_a_lesson_name_scores_nothing(tmp_path):
    # The policy refuses importing the package's own part; reaching it through a name the lesson
    # defined (``nl``) passes the policy, and the package's grading mode switches it off.
    pytest.importorskip("nookslab.graded", reason="the package's grading mode (issue #13, checks)")
    nb = nbformat.read(SOLUTIONS / "02-isolation.ipynb", as_version=4)
    cell = next(c for c in nb.cells if meta(c).get("exercise") == "ex1")
    cell.source = ("def build_domain_table(kernel_flags):\n"
                   "    return nl.nooks.domain.domain_page_table(kernel_flags)")
    path = tmp_path / "02-isolation.ipynb"
    nbformat.write(nb, path)
    r = grade(path)
    assert next(e.points for e in r.exercises if e.id == "ex1") == 0, r.table()
    assert "switched off while grading" in next(e.feedback for e in r.exercises if e.id == "ex1")
