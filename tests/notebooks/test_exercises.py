"""The graded notebooks: exercises generated from the solutions, named checks with "You should see"
cells, and, through the real grader (merge + nbval), every solution at full marks, every blank
exercise at zero, and wrong, partial, hard-coded, delegating and None answers of our own losing
their exercise's points (and only those)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import nbformat
import pytest

from nookslab.grading import grade
from nookslab.grading.make_exercises import (EXERCISES, NOTEBOOKS, SOLUTIONS, expected_exercises,
                                             refresh_expectations, stale_expectations)
from nookslab.grading.merge import STUB, exercises_of, is_answer, meta


def _checks(nb, ex: str) -> list:
    return [c for c in nb.cells if c.get("cell_type") == "code" and str(meta(c).get("check")) == ex]


# -- the notebooks as files -----------------------------------------------------------------------
def test_committed_exercises_equal_the_generated_ones():
    expected = expected_exercises()
    assert expected, "no solution notebooks"
    assert sorted(p.name for p in EXERCISES.glob("*.ipynb")) == sorted(p.name for p in expected)
    stale = [p.name for p, text in expected.items() if p.read_text() != text]
    assert stale == [], "run: python -m nookslab.grading.make_exercises"


def test_every_graded_notebook_has_a_lesson_a_solution_and_an_exercise():
    for sol in SOLUTIONS.glob("*.ipynb"):
        assert (NOTEBOOKS / sol.name).exists() and (EXERCISES / sol.name).exists(), sol.name


def test_each_exercise_has_points_a_stub_and_named_check_cells_whose_points_add_up():
    for sol in sorted(SOLUTIONS.glob("*.ipynb")):
        nb = nbformat.read(sol, as_version=4)
        exercises = exercises_of(nb)
        assert exercises, sol.name
        for ex in exercises:
            checks = _checks(nb, ex.id)
            assert len(checks) >= 2, (sol.name, ex.id, "an end-to-end run and direct checks")
            assert all("check" in c.metadata.get("tags", []) for c in checks), (sol.name, ex.id)
            names = [meta(c).get("name", "") for c in checks]
            assert all(len(n) > 15 for n in names) and len(set(names)) == len(names), names
            assert sum(meta(c)["points"] for c in checks) == ex.points, (sol.name, ex.id)
            assert all(meta(c)["points"] > 0 for c in checks)
        ex_nb = nbformat.read(EXERCISES / sol.name, as_version=4)
        stubs = [c.source for c in ex_nb.cells if is_answer(c)]
        assert stubs == [STUB] * len(exercises)
        assert all(c.get("outputs") in (None, []) for c in ex_nb.cells if c.cell_type == "code")


def test_every_check_cell_shows_above_it_what_a_right_answer_prints():
    assert stale_expectations() == [], "run the solution again (make_exercises --execute NAME)"
    for sol in sorted(SOLUTIONS.glob("*.ipynb")):
        nb = nbformat.read(sol, as_version=4)
        for before, cell in zip(nb.cells, nb.cells[1:]):
            if "check" in meta(cell):
                assert before.cell_type == "markdown" and meta(before).get("expect"), \
                    (sol.name, cell.get("id"))
                printed = "".join(o.get("text", "") for o in cell.outputs)
                assert printed and "You should see:" in before.source
                assert f"```text\n{printed}```" in before.source, (sol.name, cell.get("id"))
                assert meta(cell)["name"] in before.source


def test_a_you_should_see_cell_follows_its_check_when_the_output_changes():
    nb = nbformat.read(SOLUTIONS / "03-xpc.ipynb", as_version=4)
    check = _checks(nb, "ex1")[0]
    check.outputs[0]["text"] = "something else\n"
    assert refresh_expectations(nb) == 1
    shown = nb.cells[nb.cells.index(check) - 1].source
    assert "```text\nsomething else\n```" in shown and "Exercise 1, check 1 (1 point)" in shown


def test_each_exercise_states_its_signature_and_the_checks_use_grading_mode():
    for sol in sorted(SOLUTIONS.glob("*.ipynb")):
        nb = nbformat.read(sol, as_version=4)
        text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        assert "The seed's point" not in text and "Key idea" in text, sol.name
        for ex in exercises_of(nb):
            answer = next(c for c in nb.cells if meta(c).get("exercise") == ex.id)
            fn = answer.source.split("def ", 1)[1].split("(", 1)[0]
            assert f"def {fn}(" in text, (sol.name, fn, "the exact signature in the exercise")
            joined = "\n".join(c.source for c in _checks(nb, ex.id))
            assert fn in joined, (sol.name, ex.id)
            assert any(word in joined for word in ("NooksHooks.graded", "FaultType.graded",
                                                   "CostModel.graded")), (sol.name, ex.id)


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


# -- answers of our own, through the real grader --------------------------------------------------
#: notebook -> variant -> {exercise: answer source}. Each is a mistake a student could make:
#: "wrong" misses the idea, "partial" one rule of the specification, "hardcoded" fits the cases the
#: notebook shows, "delegating" calls the package's own version, "none" leaves the hook None.
ANSWERS: dict[str, dict[str, dict[str, str]]] = {
    "02-isolation": {
        "wrong": {"ex1": "def build_domain_table(kernel_flags):\n    return kernel_flags",
                  "ex2": "def can_write(writable, addr, length):\n"
                         "    return bool(writable[addr >> PAGE_SHIFT])"},
        "partial": {"ex1": "def build_domain_table(kernel_flags):\n"
                           "    return np.where(kernel_flags > 0, PRESENT, 0).astype(np.uint8)",
                    "ex2": "def can_write(writable, addr, length):\n"
                           "    if length <= 0:\n        return True\n"
                           "    first, last = addr >> PAGE_SHIFT, (addr + length - 1) >> PAGE_SHIFT\n"
                           "    return bool(writable[first:last + 1].all())"},
        "hardcoded": {"ex1": "def build_domain_table(kernel_flags):\n"
                             "    table = np.zeros_like(kernel_flags)\n"
                             "    table[1:4097] = PRESENT\n    return table",
                      "ex2": "def can_write(writable, addr, length):\n"
                             "    if length <= 0:\n        return True\n"
                             "    if addr <= 0 or addr + length - 1 > 0xFFFFFFFF:\n"
                             "        return False\n"
                             "    return bool(writable[addr >> PAGE_SHIFT] and "
                             "writable[(addr + length - 1) >> PAGE_SHIFT])"},
        "delegating": {"ex1": "def build_domain_table(kernel_flags):\n"
                              "    return nl.nooks.domain.domain_page_table(kernel_flags)",
                       "ex2": "def can_write(writable, addr, length):\n"
                              "    return domain.can_write(addr, length)"},
        "none": {"ex1": "build_domain_table = None", "ex2": "can_write = None"},
    },
    "03-xpc": {
        "wrong": {"ex1": "def batch_calls(queue):\n    return [queue]"},
        "partial": {"ex1": "def batch_calls(queue):\n"
                           "    return [queue[i:i + BATCH_LIMIT] for i in range(0, max(len(queue), 1),"
                           " BATCH_LIMIT)]"},
        "hardcoded": {"ex1": "def batch_calls(queue):\n"
                             "    return [queue[i:i + 8] for i in range(0, len(queue), 8)]"},
        "delegating": {"ex1": "def batch_calls(queue):\n"
                              "    return nl.exercises.xpc._reference_batches(queue, BATCH_LIMIT)"},
        "none": {"ex1": "batch_calls = None"},
    },
    "04-wrappers": {
        "wrong": {"ex1": "def make_buffer_check(spec):\n"
                         "    def check(args, domain):\n        return None\n    return check"},
        "partial": {"ex1": "def make_buffer_check(spec):\n"
                           "    names = [a.name for a in spec.args]\n"
                           "    def check(args, domain):\n"
                           "        for i, a in enumerate(spec.args):\n"
                           "            if a.kind != 'buffer' or a.mode == 'in' or i >= len(args):\n"
                           "                continue\n"
                           "            n = a.length if isinstance(a.length, int) else "
                           "(args[names.index(a.length)] if names.index(a.length) < len(args) else 0)\n"
                           "            if isinstance(n, int) and n > 0 and not domain.can_write(args[i], n):\n"
                           "                return 'refused'\n"
                           "        return None\n    return check"},
        "hardcoded": {"ex1": "def make_buffer_check(spec):\n"
                             "    def check(args, domain):\n"
                             "        if spec.name == 'copy_from_user' and not domain.can_write(args[0], args[2]):\n"
                             "            return 'refused'\n"
                             "        if spec.name == 'copy_to_user' and not domain.can_read(args[1], args[2]):\n"
                             "            return 'refused'\n"
                             "        return None\n    return check"},
        "delegating": {"ex1": "def make_buffer_check(spec):\n"
                              "    def check(args, domain):\n"
                              "        if nl.exercises.wrappers._reference_check(spec, args, domain):\n"
                              "            return 'refused'\n"
                              "    return check"},
        "none": {"ex1": "make_buffer_check = None"},
    },
    "05-object-tracking": {
        "wrong": {"ex1": "def collect(objects):\n    return objects, []"},
        "partial": {"ex1": "def collect(objects):\n"
                           "    return ([o for o in objects if not o.type.physical],\n"
                           "            [o for o in objects[::-1] if o.type.physical])"},
        "hardcoded": {"ex1": "def collect(objects):\n"
                             "    new = objects[::-1]\n"
                             "    return ([o for o in new if o.type.name not in ('dma', 'iomem')],\n"
                             "            [o for o in new if o.type.name in ('dma', 'iomem')])"},
        "delegating": {"ex1": "def collect(objects):\n"
                              "    return nl.nooks.recovery.collect_objects(objects)"},
        "none": {"ex1": "collect = None"},
    },
    "06-recovery": {
        "wrong": {"ex1": "def policy(extension, restarts, cause):\n    return 'restart'"},
        "partial": {"ex1": "def policy(extension, restarts, cause):\n"
                           "    return 'restart' if restarts < MAX_RESTARTS else 'disable'"},
        "hardcoded": {"ex1": "def policy(extension, restarts, cause):\n"
                             "    if cause == 'explicit trigger':\n        return 'restart'\n"
                             "    return 'restart' if restarts < (4 if extension == 'e1000' else 2) "
                             "else 'disable'"},
        "delegating": {"ex1": "def policy(extension, restarts, cause):\n"
                              "    allowed = k.isolation.recovery._restart_allowed(extension)\n"
                              "    return 'restart' if allowed else 'disable'"},
        "none": {"ex1": "policy = None"},
    },
    "07-fault-injection": {
        "wrong": {"ex1": "def arm_wild_copy(kernel, module, hit):\n"
                         "    real = module.namespace['copy_from_user']\n"
                         "    def copy_from_user(to, from_user, n):\n"
                         "        hit()\n"
                         "        return real(to ^ (1 << 20), from_user, n)\n"
                         "    module.namespace['copy_from_user'] = copy_from_user"},
        "partial": {"ex1": "def arm_wild_copy(kernel, module, hit):\n"
                           "    real = module.namespace['copy_from_user']\n    calls = [0]\n"
                           "    def copy_from_user(to, from_user, n):\n"
                           "        calls[0] += 1\n"
                           "        if calls[0] >= WILD_FROM:\n            to ^= 1 << 20\n"
                           "        return real(to, from_user, n)\n"
                           "    module.namespace['copy_from_user'] = copy_from_user"},
        "hardcoded": {"ex1": "def arm_wild_copy(kernel, module, hit):\n"
                             "    real = module.namespace['copy_from_user']\n    calls = [0]\n"
                             "    def copy_from_user(to, from_user, n):\n"
                             "        calls[0] += 1\n"
                             "        if calls[0] >= 3:\n            hit()\n            to ^= 1 << 20\n"
                             "        return real(to, from_user, n)\n"
                             "    module.namespace['copy_from_user'] = copy_from_user"},
        "delegating": {"ex1": "def arm_wild_copy(kernel, module, hit):\n"
                              "    nl.exercises.live._arm_bad_copy(kernel, module, hit)"},
        "none": {"ex1": "arm_wild_copy = None"},
    },
    "08-performance": {
        "wrong": {"ex1": "def tlb_refill(cost, work):\n    return cost.xpc_tlb"},
        "partial": {"ex1": "def tlb_refill(cost, work):\n"
                           "    if cost.tagged_tlb or cost.domain_switch == 'pkey':\n        return 0\n"
                           "    return max(work, 0) // cost.tlb_page_every * cost.tlb_miss"},
        "hardcoded": {"ex1": "def tlb_refill(cost, work):\n"
                             "    if cost.tagged_tlb or cost.domain_switch == 'pkey':\n        return 0\n"
                             "    return min(12000, max(work, 0) // 60 * 60)"},
        "delegating": {"ex1": "def tlb_refill(cost, work):\n    return cost.tlb_refill(work)"},
        "none": {"ex1": "tlb_refill = None"},
    },
}

#: Answers no check may pass: every check of their exercise fails (what the checks print for
#: them -- "raised SwitchedOff", NotYourOwn -- and more mistakes of each kind, without the grader,
#: are in tests/exercises/).
NOTHING = ("delegating", "none")


def _submission(name: str, variant: str, tmp) -> object:
    nb = nbformat.read(SOLUTIONS / f"{name}.ipynb", as_version=4)
    for ex, source in ANSWERS[name][variant].items():
        cells = [c for c in nb.cells if meta(c).get("exercise") == ex]
        assert len(cells) == 1, (name, ex)
        cells[0].source = source
    path = tmp / f"{name}--{variant}.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("answers")
    paths = sorted(SOLUTIONS.glob("*.ipynb")) + sorted(EXERCISES.glob("*.ipynb"))
    paths += [_submission(name, variant, tmp) for name in sorted(ANSWERS)
              for variant in ANSWERS[name]]
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
            assert all(e.feedback for e in r.exercises), r.table()


def test_every_graded_notebook_has_answers_of_every_kind_to_try():
    assert sorted(ANSWERS) == sorted(p.stem for p in SOLUTIONS.glob("*.ipynb"))
    for name, variants in ANSWERS.items():
        assert {"wrong", "partial", "hardcoded", "delegating", "none"} <= set(variants), name
        ids = {e.id for e in exercises_of(nbformat.read(SOLUTIONS / f"{name}.ipynb", as_version=4))}
        assert all(set(v) == ids for v in variants.values()), name


@pytest.mark.parametrize("variant", ["wrong", "partial", "hardcoded", "delegating", "none"])
def test_an_answer_of_that_kind_loses_points_of_its_exercise_and_only_those(reports, variant):
    tried = 0
    for path, r in reports.items():
        if "--" not in path.stem or path.stem.split("--")[1] != variant:
            continue
        tried += 1
        name = path.stem.split("--")[0]
        worth = {e.id: e.points for e in exercises_of(nbformat.read(SOLUTIONS / f"{name}.ipynb",
                                                                    as_version=4))}
        got = {e.id: e.points for e in r.exercises}
        changed = ANSWERS[name][variant]
        assert not r.tampered, r.table()
        for ex, points in got.items():
            if ex not in changed:
                assert points == worth[ex], (path.name, r.table())
                continue
            assert points < worth[ex], (path.name, ex, r.table())
            feedback = next(e.feedback for e in r.exercises if e.id == ex)
            assert feedback, r.table()
            if variant in NOTHING:
                assert points == 0, (path.name, r.table())
    assert tried == len(ANSWERS)


def test_the_readmes_table_of_exercises_gives_the_points_the_notebooks_give():
    """A student once found 2 points in the README where the notebook gave 3."""
    import re

    from nookslab.grading.make_exercises import ROOT, SOLUTIONS
    readme = (ROOT / "README.md").read_text()
    table = [(f"{int(n):02d}", int(pts)) for n, pts in
             re.findall(r"^\| (0\d) \|[^\n]*\| (\d+) \|$", readme, flags=re.M)]
    given = []
    for path in sorted(SOLUTIONS.glob("0*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        given += [(path.name[:2], c.metadata["nookslab"]["points"]) for c in nb.cells
                  if "answer" in c.metadata.get("tags", [])]
    assert table == given
