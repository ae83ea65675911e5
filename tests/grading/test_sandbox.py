"""The sandbox and the runner around it: what the kernel sees, how it dies, fair failures, batches."""
from __future__ import annotations

import copy
import csv
import json
import os
import sys
from pathlib import Path

from nookslab.grading import grade, sandbox
from nookslab.grading.cli import grade_folder
from nookslab.grading.make_exercises import ROOT, render
from nookslab.grading.sandbox import PACKAGE, Sandbox, kill_namespace

from .conftest import answer


def test_the_sandbox_hides_the_checkout_and_puts_back_only_the_package():
    solutions = ROOT / "solutions"
    box = Sandbox(hide=(solutions,))
    try:
        args = [a for a in box.bwrap_args() if not isinstance(a, dict)]
    finally:
        box.close()
    text = " ".join(args)
    assert f"--ro-bind {PACKAGE} {PACKAGE}" in text
    if Path("/tmp") in ROOT.parents:  # a checkout in /tmp is hidden by the private /tmp already
        assert f"--tmpfs {ROOT} " not in text and f" {solutions} " not in text
    else:
        assert f"--tmpfs {ROOT} " in text and f"--tmpfs {solutions} " in text
        assert text.index(f"--tmpfs {ROOT} ") < text.index(f"--ro-bind {PACKAGE} {PACKAGE}")
    assert "--unshare-net" in text and "--unshare-pid" in text and "--die-with-parent" in text
    assert "--new-session" in text and "--clearenv" in text and "--ro-bind / /" in text
    assert f"--bind {box.ipc} {box.ipc}" in text  # the kernel's sockets, and nothing else writable


def test_the_grader_kills_only_a_namespace_init(tmp_path):
    info = tmp_path / "info.json"
    info.write_text(json.dumps({"child-pid": os.getpid()}))
    assert kill_namespace(info) is False  # our own pid: not a pid-namespace init, left alone
    info.write_text("{ broken")
    assert kill_namespace(info) is False


def test_grading_refuses_when_bubblewrap_is_missing(monkeypatch, solution_path):
    monkeypatch.setattr(sandbox, "BWRAP", "/nonexistent/bwrap")
    monkeypatch.setattr(sandbox, "_PROBED", {})
    try:
        grade(solution_path, solution_path)
    except sandbox.SandboxUnavailable as exc:
        assert str(exc).startswith("refusing to grade: bubblewrap is not installed "
                                   "(/nonexistent/bwrap missing; apt-get install bubblewrap)")
        assert "--unsafe-no-sandbox" in str(exc)
    else:
        raise AssertionError("graded without a sandbox")


def test_a_kernel_that_dies_at_start_is_an_infrastructure_failure_not_tampering(solution_path):
    r = grade(solution_path, solution_path, kernel_argv=[sys.executable, "-c", "raise SystemExit(1)"])
    assert r.infrastructure and not r.tampered and r.score == 0
    assert r.message.startswith("infrastructure failure: the grading kernel did not start, twice (")
    assert r.message.endswith("nothing was graded: grade this submission again")
    assert all(e.feedback == "not graded: infrastructure failure" for e in r.exercises)


def test_a_kernel_that_fails_once_is_retried_and_grades_normally(solution_path, tmp_path):
    once = tmp_path / "failed-once"
    argv = ["sh", "-c", f'[ -e {once} ] || {{ touch {once}; exit 1; }}; exec "$0" -m '
            'nookslab.grading.inkernel -f "$1"', sys.executable, "{connection_file}"]
    r = grade(solution_path, solution_path, sandbox=False, kernel_argv=argv)
    assert (r.score, r.max_score, r.infrastructure, r.tampered) == (5, 5, False, False)
    assert r.message == "the grading kernel did not start at first (tried again)"


def test_a_batch_with_broken_submissions_grades_every_other_one(solution, solution_path, tmp_path,
                                                                monkeypatch):
    from nookslab.grading import cli
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "alice.ipynb").write_text(render(solution))
    (folder / "broken.ipynb").write_text("{ not json")
    with open(folder / "huge.ipynb", "wb") as fh:
        fh.truncate(21 << 20)
    wrong = copy.deepcopy(solution)
    answer(wrong, "ex1").source = "def double(x):\n    return 3 * x"
    (folder / "zoe.ipynb").write_text(render(wrong))
    (folder / "crash-the-grader.ipynb").write_text(render(solution))
    real = cli.grade

    def flaky(path, **options):
        if Path(path).name == "crash-the-grader.ipynb":
            raise RuntimeError("a bug in the grader")
        return real(path, **options)

    monkeypatch.setattr(cli, "grade", flaky)
    out = tmp_path / "grades.csv"
    grade_folder(folder, out, workers=2, solution=solution_path)
    with open(out, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["submission", "notebook", "ex1", "ex2", "score", "max_score", "tampered", "message"]
    assert rows[1] == ["alice.ipynb", "99-tiny", "2", "3", "5", "5", "no", ""]
    assert rows[2][:7] == ["broken.ipynb", "?", "", "", "0", "0", "no"]
    assert rows[2][7].startswith("cannot read the submission as a notebook")
    assert rows[3] == ["crash-the-grader.ipynb", "?", "", "", "0", "0", "no",
                       "infrastructure failure: the grader failed on this file (RuntimeError: a bug "
                       "in the grader); grade it again"]
    assert rows[4][:7] == ["huge.ipynb", "?", "", "", "0", "0", "no"]
    assert rows[4][7].startswith("the submission is 21.0 MB")
    assert rows[5] == ["zoe.ipynb", "99-tiny", "0", "3", "3", "5", "no", ""]
    assert len(rows) == 6


def test_a_package_under_tmp_is_bound_back_into_the_private_tmp(monkeypatch, tmp_path):
    package, solutions = tmp_path / "site" / "nookslab", tmp_path / "site" / "nookslab" / "solutions"
    solutions.mkdir(parents=True)
    monkeypatch.setattr(sandbox, "needed_paths", lambda: [package])
    box = Sandbox(hide=(tmp_path, solutions))
    try:
        text = " ".join(a for a in box.bwrap_args() if not isinstance(a, dict))
    finally:
        box.close()
    assert f"--ro-bind {package} {package}" in text
    assert f"--tmpfs {tmp_path} " not in text  # under the private /tmp already
    assert text.index(f"--ro-bind {package} ") < text.index(f"--tmpfs {solutions}")


def test_a_venv_in_a_private_folder_under_tmp_is_reachable_by_the_sandbox_uid(monkeypatch, tmp_path):
    """CI's venv lives in mktemp's 0700 folder: every folder down to it must be enterable inside."""
    private = tmp_path / "tmp.ci"
    venv = private / "venv" / "lib"
    venv.mkdir(parents=True)
    os.chmod(private, 0o700)
    monkeypatch.setattr(sandbox, "needed_paths", lambda: [venv])
    box = Sandbox()
    try:
        text = " ".join(a for a in box.bwrap_args() if not isinstance(a, dict))
    finally:
        box.close()
    for folder in (tmp_path, private, private / "venv"):
        assert f"--perms 0755 --dir {folder} " in text, folder
    assert text.index(f"--dir {private} ") < text.index(f"--ro-bind {venv} {venv}")


def test_numpys_test_code_is_hidden_in_the_sandbox():
    """Red team: numpy.conftest's pytest loaded timeit, which ran a string (defence in depth: the
    policy refuses the import too)."""
    hidden = sandbox.test_code()
    assert any(p.name == "conftest.py" for p in hidden) and any(p.name == "tests" for p in hidden)
    box = Sandbox()
    try:
        text = " ".join(a for a in box.bwrap_args() if not isinstance(a, dict))
    finally:
        box.close()
    for path in hidden:
        assert (f"--tmpfs {path} " in text) or (f"--ro-bind /dev/null {path} " in text), path
