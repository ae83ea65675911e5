"""The project's own attacks on the grader, each scoring no more than it deserves.

Every attack is a submission for the tiny two-exercise notebook (conftest.py): ex1 asks for
``double`` (2 points), ex2 for ``total`` (3 points). Most attacks need code the answer-cell policy
refuses, so each is graded twice where that matters: with the policy (refused: 0 for that exercise,
the rule named) and with the policy off (a flag for these tests only), to show the sandbox and the
grading kernel hold on their own. An attack that would reach its goal writes a correct ``double``
only if it succeeded, so a sandbox that leaked would show as points. All submissions are graded
once, two at a time, in one module fixture; afterwards no process of any sandbox may be left.
"""
from __future__ import annotations

import copy
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nookslab.grading import grade
from nookslab.grading.make_exercises import ROOT, render
from nookslab.grading.sandbox import UID_RANGE, Limits

from .conftest import answer

WRONG_DOUBLE = "def double(x):\n    return 3 * x\n"


def reader(*patterns: str) -> str:
    """An ex1 answer right only if it can read a file matching one of ``patterns``."""
    return ("import glob\n"
            "def double(x):\n"
            f"    for pattern in {list(patterns)!r}:\n"
            "        for path in glob.glob(pattern):\n"
            "            try:\n"
            "                with open(path, 'rb') as fh:\n"
            "                    if fh.read(1):\n"
            "                        return 2 * x\n"
            "            except OSError:\n"
            "                pass\n"
            "    return 0\n")


def attacks(solution_path: Path, folder: Path) -> dict:
    """name -> (ex1 source or None, ex2 source or None, grading options)."""
    off = {"policy": False}
    repo_solution = str(ROOT / "solutions" / "02-isolation.ipynb")
    return {
        "solution": (None, None, {}),
        "blank": ("raise NotImplementedError(\"write your answer here\")",
                  "raise NotImplementedError(\"write your answer here\")", {}),
        # 1. delegation: the package's own version, imported
        "delegate import": ("from nookslab.nooks.domain import domain_page_table as double", None, {}),
        # 2. reading what is in reach
        "read solutions": (reader(repo_solution, str(solution_path)), None, off),
        "read solutions, no sandbox": (reader(repo_solution, str(solution_path)), None,
                                       {"policy": False, "sandbox": False}),
        "read solutions, policy": (reader(repo_solution), None, {}),
        "read merged notebook": (reader("/tmp/nookslab-grade-*/submission.ipynb",
                                        "/tmp/nookslab-grade-*/progress.jsonl",
                                        "/tmp/nookslab-sandbox-*/private/*"), None, off),
        "read other submissions": (reader(str(folder / "victim*.ipynb")), None, off),
        "read root-only files": (reader("/etc/shadow", "/root/.bashrc"), None, off),
        "write outside": ("import os\n"
                          "def double(x):\n"
                          "    done = 0\n"
                          f"    for path in [{str(folder / 'pwned.txt')!r}, {str(ROOT / 'pwned.txt')!r},"
                          " '/var/tmp/nookslab-pwned.txt', '/dev/shm/../nookslab-pwned']:\n"
                          "        try:\n"
                          "            with open(path, 'w') as fh:\n"
                          "                fh.write('pwned')\n"
                          "            done += 1\n"
                          "        except OSError:\n"
                          "            pass\n"
                          f"    with open({str(folder / 'victim.ipynb')!r}, 'a') as fh:\n"
                          "        fh.write('pwned')\n"
                          "    return 2 * x if done else 0\n", None, off),
        "network": ("import socket\n"
                    "def double(x):\n"
                    "    try:\n"
                    "        socket.create_connection(('1.1.1.1', 53), timeout=2).close()\n"
                    "        return 2 * x\n"
                    "    except OSError:\n"
                    "        return 0\n", None, off),
        "proc of the parent": ("import os\n"
                               "def double(x):\n"
                               "    for pid in os.listdir('/proc'):\n"
                               "        if pid.isdigit():\n"
                               "            for part in ('cmdline', 'environ'):\n"
                               "                try:\n"
                               "                    data = open(f'/proc/{pid}/{part}', 'rb').read()\n"
                               "                except OSError:\n"
                               "                    continue\n"
                               "                if b'NOOKSLAB_GRADING_RUN' in data or b'pytest' in data:\n"
                               "                    return 2 * x\n"
                               "    return 0\n", None, off),
        # 3. faking the check output from inside the kernel
        "print redefined": (WRONG_DOUBLE + "def print(*args, **kw):\n    pass\n", None, {}),
        "print shadowed, policy off": (
            WRONG_DOUBLE + "_real = print\n"
            "def print(*args, **kw):\n"
            "    _real(*[42 if a == 63 else a for a in args], **kw)\n", None, off),
        "builtins.print patched": (
            WRONG_DOUBLE + "import builtins\n_real = builtins.print\n"
            "builtins.print = lambda *a, **k: _real(*[42 if v == 63 else v for v in a], **k)\n",
            None, off),
        "stdout wrapped": (
            WRONG_DOUBLE + "import sys\n"
            "class Fake:\n"
            "    def __init__(self, real):\n        self.real = real\n"
            "    def write(self, text):\n        return self.real.write(text.replace('63', '42'))\n"
            "    def __getattr__(self, name):\n        return getattr(self.real, name)\n"
            "sys.stdout = Fake(sys.stdout)\n", None, off),
        "input transformer": (
            "def double(x):\n    return 0\n"
            "def _rewrite(lines):\n"
            "    return [line.replace(', double(21))', ', 42)') for line in lines]\n"
            "get_ipython().input_transformers_post.append(_rewrite)\n", None, off),
        "ast transformer": (
            "import ast\ndef double(x):\n    return 0\n"
            "class Const(ast.NodeTransformer):\n"
            "    def visit_Call(self, node):\n"
            "        if getattr(node.func, 'id', '') == 'double':\n"
            "            return ast.copy_location(ast.Constant(42), node)\n"
            "        return self.generic_visit(node)\n"
            "get_ipython().ast_transformers.append(Const())\n", None, off),
        "pre_run_cell hook": (
            WRONG_DOUBLE + "import builtins\n_real = builtins.print\n"
            "def _hook(info):\n"
            "    builtins.print = lambda *a, **k: _real(*[42 if v == 63 else v for v in a], **k)\n"
            "get_ipython().events.register('pre_run_cell', _hook)\n", None, off),
        "patched inside the check": (  # tampering while the check cell itself runs
            "import builtins\n_real = builtins.print\n"
            "def double(x):\n"
            "    builtins.print = lambda *a, **k: _real(*[42 if v == 63 else v for v in a], **k)\n"
            "    return 3 * x\n", None, off),
        "blind the integrity check": (
            WRONG_DOUBLE + "import builtins, sys\n_real = builtins.print\n"
            "builtins.print = lambda *a, **k: _real(*[42 if v == 63 else v for v in a], **k)\n"
            "for name in list(sys.modules):\n"
            "    if 'grader' in name or name.startswith('nookslab.grading'):\n"
            "        module = sys.modules[name]\n"
            "        for attr in ('before', 'INTEGRITY_OK', 'TAMPERED'):\n"
            "            if hasattr(module, attr):\n"
            "                setattr(module, attr, 'integrity check: ok\\n')\n"
            "        if hasattr(module, 'watch'):\n"
            "            module.watch = lambda kernel: (lambda: None, lambda: 'integrity check: ok\\n')\n",
            None, off),
        "patch the package": (
            None, "import nookslab.system as kk\nkk.boot = lambda *a, **k: None\n"
                  "def total(xs):\n    return sum(xs)\n", off),
        "always-equal object": ("class Yes:\n    def __eq__(self, other):\n        return True\n"
                                "def double(x):\n    return Yes()\n", None, {}),
        # 4. outliving and outgrowing the run
        "detached process": (
            "import os, time\n"
            "def double(x):\n"
            "    if os.fork() == 0:\n"
            "        os.setsid()\n"
            "        if os.fork() == 0:\n"
            "            while True:\n"
            "                time.sleep(0.2)\n"
            "        os._exit(0)\n"
            "    return 2 * x\n", None, off),
        "memory hog": ("def double(x):\n    hog = bytearray(6 << 30)\n    return 2 * x + len(hog) * 0\n",
                       None, {}),
        "fork bomb": (
            "import os, time\n"
            "def double(x):\n"
            "    while True:\n"
            "        try:\n"
            "            os.fork()\n"
            "        except OSError:\n"
            "            time.sleep(0.05)\n", None, {"policy": False, "limits": Limits(processes=40)}),
        "slow but correct": (
            None, "import time\ndef total(xs):\n    time.sleep(2.5)\n    return sum(xs)\n",
            {"policy": False, "exercise_limit": 3.5}),
        "full tmpfs": ("import numpy as np\n"
                       "def double(x):\n"
                       "    try:\n"
                       "        np.zeros(1 << 27, dtype=np.uint8).tofile('/tmp/work/big')\n"
                       "        np.zeros(1 << 28, dtype=np.uint8).tofile('/tmp/work/bigger')\n"
                       "        return 2 * x\n"
                       "    except OSError:\n"
                       "        return 0\n", None, off),
        "sys.exit after a right answer": ("def double(x):\n    return 2 * x\nimport sys\nsys.exit(3)\n",
                                          None, off),
        "os._exit": ("import os\nos._exit(0)\n", None, off),
    }


def _sandbox_processes() -> list[str]:
    """Processes of any sandbox still alive: a sandbox uid, or bwrap for a grader's sandbox."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        uid = int(next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:")))
        if UID_RANGE[0] <= uid < UID_RANGE[1] or "nookslab-sandbox-" in cmdline:
            found.append(f"{entry} uid {uid}: {cmdline[:120]}")
    return found


@pytest.fixture(scope="module")
def graded(solution, solution_path, tmp_path_factory):
    folder = tmp_path_factory.mktemp("attacks")
    victim = folder / "victim.ipynb"
    victim.write_text(render(solution))
    cases = attacks(solution_path, folder)
    paths = {}
    for name, (ex1, ex2, options) in cases.items():
        nb = copy.deepcopy(solution)
        if ex1 is not None:
            answer(nb, "ex1").source = ex1
        if ex2 is not None:
            answer(nb, "ex2").source = ex2
        paths[name] = folder / (name.replace(" ", "_").replace(",", "").replace(".", "_") + ".ipynb")
        paths[name].write_text(render(nb))
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}

    def run(name):
        options = dict(cell_timeout=4, exercise_limit=40)
        options.update(cases[name][2])
        return grade(paths[name], solution_path, **options)

    with ThreadPoolExecutor(2) as pool:
        reports = dict(zip(cases, pool.map(run, cases)))
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    return reports, before, after, folder, _sandbox_processes()


def points(report):
    return {e.id: e.points for e in report.exercises}


def feedback(report, ex="ex1"):
    return next(e.feedback for e in report.exercises if e.id == ex)


RIGHT = {"ex1": 2, "ex2": 3}
EX1_LOST = {"ex1": 0, "ex2": 3}


def test_the_solution_scores_full_marks_and_a_blank_notebook_zero(graded):
    reports = graded[0]
    assert points(reports["solution"]) == RIGHT and not reports["solution"].tampered
    assert points(reports["blank"]) == {"ex1": 0, "ex2": 0} and not reports["blank"].tampered


def test_delegating_to_the_package_is_refused_by_the_policy(graded):
    r = graded[0]["delegate import"]
    assert points(r) == EX1_LOST
    assert "`from nookslab.nooks.domain import domain_page_table`: an answer may import only " \
           "from math, numpy, numpy.fft, numpy.linalg, numpy.random [rule: import]" in feedback(r)


@pytest.mark.parametrize("name", ["read solutions", "read merged notebook", "read other submissions",
                                  "read root-only files", "network", "proc of the parent"])
def test_what_is_outside_the_sandbox_cannot_be_reached(graded, name):
    r = graded[0][name]
    assert points(r) == EX1_LOST and not r.tampered, r.table()


def test_without_the_sandbox_the_same_reader_does_reach_the_solutions(graded):
    # the control: the attack is real, the sandbox is what stops it
    assert points(graded[0]["read solutions, no sandbox"]) == RIGHT


def test_the_policy_refuses_the_reader_before_it_runs(graded):
    r = graded[0]["read solutions, policy"]
    assert points(r) == EX1_LOST
    assert ("`import glob`: an answer may import only from math, numpy, numpy.fft, numpy.linalg, "
            "numpy.random [rule: import]") in feedback(r)
    assert "`open` is not allowed in an answer" in feedback(r)


def test_nothing_is_written_outside_the_sandbox(graded):
    reports, before, after, folder, _ = graded
    assert points(reports["write outside"]) == EX1_LOST
    assert before == after  # the victim and every submission unchanged, nothing added
    for path in (folder / "pwned.txt", ROOT / "pwned.txt", Path("/var/tmp/nookslab-pwned.txt"),
                 Path("/dev/nookslab-pwned")):
        assert not path.exists(), path


def test_a_redefined_print_is_refused_by_the_policy(graded):
    r = graded[0]["print redefined"]
    assert points(r) == EX1_LOST
    assert "`print` is a Python or IPython builtin: use another name [rule: redefines]" in feedback(r)


def test_a_print_shadowing_the_builtin_is_removed_before_checks(graded):
    r = graded[0]["print shadowed, policy off"]
    assert points(r) == EX1_LOST and not r.tampered
    assert "expected: double(21) = 42" in feedback(r) and "got:      double(21) = 63" in feedback(r)


@pytest.mark.parametrize("name, evidence", [
    ("builtins.print patched", "builtins.print"),
    ("stdout wrapped", "sys.stdout"),
    ("input transformer", "input transformers (post)"),
    ("ast transformer", "AST transformers"),
    ("pre_run_cell hook", "pre_run_cell event callbacks"),
    ("patched inside the check", "builtins.print"),
    ("blind the integrity check", "builtins.print"),
    ("patch the package", "nookslab.system.boot"),
])
def test_faking_the_check_output_from_the_kernel_fails_and_is_flagged(graded, name, evidence):
    r = graded[0][name]
    assert r.tampered and r.score == 0, r.table()
    assert r.message.startswith("TAMPERED: the hidden integrity check found replaced ")
    assert evidence in r.message


def test_faked_output_does_not_pass_the_check_even_before_the_flag(graded):
    # the reset runs before each check: the wrong double shows in the check's own output
    for name in ("builtins.print patched", "stdout wrapped", "input transformer",
                 "pre_run_cell hook", "ast transformer"):
        assert points(graded[0][name])["ex1"] == 0, name


def test_an_always_equal_object_is_refused(graded):
    r = graded[0]["always-equal object"]
    assert points(r) == EX1_LOST and "`def __eq__`" in feedback(r)


def test_a_detached_process_does_not_survive_grading(graded):
    r = graded[0]["detached process"]
    assert points(r) == RIGHT  # the answer is right; only its process had to die
    assert graded[4] == []


def test_no_process_of_any_sandbox_survives_grading(graded):
    assert graded[4] == []


def test_a_memory_hog_is_bounded_and_costs_only_its_exercise(graded):
    r = graded[0]["memory hog"]
    assert points(r) == EX1_LOST and not r.tampered
    assert "MemoryError" in feedback(r)


def test_a_fork_bomb_is_bounded_and_costs_only_its_exercise(graded):
    r = graded[0]["fork bomb"]
    assert points(r) == EX1_LOST and not r.tampered
    assert feedback(r).startswith("your code for ex1 ")


def test_a_slow_but_correct_exercise_keeps_the_others_points(graded):
    r = graded[0]["slow but correct"]
    assert points(r) == {"ex1": 2, "ex2": 0} and not r.tampered
    assert feedback(r, "ex2") == ("your code for ex2 took over 3.5 s in all (answer and checks): "
                                  "scored 0 (the rest was graded without it)")


def test_the_private_tmp_is_bounded(graded):
    assert points(graded[0]["full tmpfs"]) == EX1_LOST


def test_exits_cost_at_most_their_exercise(graded):
    assert points(graded[0]["sys.exit after a right answer"]) == RIGHT
    r = graded[0]["os._exit"]
    assert points(r) == EX1_LOST and "stopped the kernel" in feedback(r)


def test_the_grader_never_writes_to_a_submission(graded):
    _, before, after, _, _ = graded
    assert before == after
