"""The Gradescope bundle: one zip whose run_autograder grades a submission into results.json.

Gradescope's paths are moved by NOOKSLAB_AUTOGRADER (a fake /autograder in a temp folder) and
NOOKSLAB_AUTOGRADER_PYTHON (this venv instead of the one setup.sh would make).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import nbformat
import pytest

from nookslab.grading.bundle import results_for, write_bundle
from nookslab.grading.make_exercises import EXERCISES, SOLUTIONS
from nookslab.grading.merge import meta


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bundle") / "gradescope"
    return folder, write_bundle(folder, "08-performance")


@pytest.fixture
def autograder(bundle, tmp_path):
    """A fake /autograder: source/ unzipped from the bundle, an empty submission/ and results/."""
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    with zipfile.ZipFile(bundle[1]) as zf:
        zf.extractall(root / "source")
    for script in ("setup.sh", "run_autograder"):
        (root / "source" / script).chmod(0o755)
    return root


def run_autograder(root):
    env = dict(os.environ, NOOKSLAB_AUTOGRADER=str(root), NOOKSLAB_AUTOGRADER_PYTHON=sys.executable)
    done = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads((root / "results" / "results.json").read_text())


def test_the_zip_holds_the_scripts_the_wheel_and_the_solutions(bundle):
    folder, zip_path = bundle
    with zipfile.ZipFile(zip_path) as zf:
        names = set(zf.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in zf.infolist()}
    wheel = next(n for n in names if n.endswith(".whl"))
    assert {"setup.sh", "run_autograder"} <= names and wheel.startswith("nookslab-")
    assert {n for n in names if n.startswith("solutions/")} == {"solutions/08-performance.ipynb"}
    assert "--notebook 08-performance" in (folder / "run_autograder").read_text()
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
    setup = (folder / "setup.sh").read_text()
    assert "apt-get install -y -qq bubblewrap" in setup and f"pip install --quiet ./{wheel}" in setup
    assert subprocess.run(["bash", "-n", str(folder / "setup.sh")]).returncode == 0
    with zipfile.ZipFile(folder / wheel) as whl:
        packed = set(whl.namelist())
    assert {"nookslab/sanitize.cfg", "nookslab/grading/jail.py", "nookslab/grading/inkernel.py"} <= packed


def test_run_autograder_grades_a_submission_into_gradescope_results(autograder):
    # a right answer for 08 in the student's exercise notebook, the rest left as given
    exercise = nbformat.read(EXERCISES / "08-performance.ipynb", as_version=4)
    solution = nbformat.read(SOLUTIONS / "08-performance.ipynb", as_version=4)
    answers = {meta(c).get("exercise"): c.source for c in solution.cells if "answer" in c.metadata.get("tags", [])}
    for cell in exercise.cells:
        if "answer" in cell.metadata.get("tags", []):
            cell.source = answers[meta(cell)["exercise"]]
    nbformat.write(exercise, autograder / "submission" / "my work.ipynb")
    results = run_autograder(autograder)
    worth = sum(meta(c).get("points", 0) for c in solution.cells if "answer" in c.metadata.get("tags", []))
    assert results["score"] == worth > 0
    assert results["tests"] and all(t["score"] == t["max_score"] for t in results["tests"])
    assert all(t["output"].startswith("check cell: ") for t in results["tests"])


def test_a_submission_without_a_notebook_gets_a_clear_result(autograder):
    (autograder / "submission" / "answers.pdf").write_bytes(b"%PDF")
    results = run_autograder(autograder)
    assert results == {"score": 0, "tests": [], "output": "no .ipynb notebook in your submission "
                       "(found: answers.pdf): upload your exercise notebook, 08-performance.ipynb"}


def _solved_08():
    exercise = nbformat.read(EXERCISES / "08-performance.ipynb", as_version=4)
    solution = nbformat.read(SOLUTIONS / "08-performance.ipynb", as_version=4)
    answers = {meta(c).get("exercise"): c.source for c in solution.cells
               if "answer" in c.metadata.get("tags", [])}
    for cell in exercise.cells:
        if "answer" in cell.metadata.get("tags", []):
            cell.source = answers[meta(cell)["exercise"]]
    return exercise


def test_two_copies_of_a_notebook_gain_nothing(autograder):
    """Red team: every .ipynb used to be graded and added up (two copies: twice the points)."""
    nbformat.write(_solved_08(), autograder / "submission" / "copy1.ipynb")
    nbformat.write(_solved_08(), autograder / "submission" / "copy2.ipynb")
    results = run_autograder(autograder)
    assert results["score"] == 0 and results["tests"] == []
    assert results["output"].startswith("2 notebooks in your submission (copy1.ipynb, copy2.ipynb)")


def test_the_assignments_solution_grades_whatever_the_metadata_says(monkeypatch, tmp_path):
    """Red team: a notebook finished for another assignment (its metadata or name) is graded
    against this assignment's solution, and scores what it deserves there."""
    from nookslab.grading import bundle as module
    graded = []
    monkeypatch.setattr("nookslab.grading.score.grade",
                        lambda path, solution, **kw: graded.append((path.name, solution.name))
                        or type("R", (), {"gradescope": lambda self: {"score": 0, "tests": [],
                                                                      "output": ""}})())
    (tmp_path / "submission").mkdir()
    nbformat.write(_solved_08(), tmp_path / "submission" / "08-performance.ipynb")
    module.results_for(tmp_path / "submission", SOLUTIONS, "02-isolation", root=tmp_path)
    assert graded == [("08-performance.ipynb", "02-isolation.ipynb")]


def test_without_a_sandbox_the_autograder_scores_nothing_and_says_why(monkeypatch, tmp_path):
    from nookslab.grading import sandbox
    monkeypatch.setitem(sandbox._PROBED, "result", "bubblewrap cannot create a sandbox here: no")
    (tmp_path / "submission").mkdir()
    (tmp_path / "submission" / "08-performance.ipynb").write_text(
        (EXERCISES / "08-performance.ipynb").read_text())
    results = results_for(tmp_path / "submission", SOLUTIONS, "08-performance", root=tmp_path)
    assert results["score"] == 0 and results["tests"] == []
    assert results["output"].startswith("the autograder cannot grade safely here: refusing to "
                                        "grade: bubblewrap cannot create a sandbox here: no")


def test_the_command_writes_the_bundle_and_takes_it_alone(monkeypatch, tmp_path, capsys):
    from nookslab import cli
    from nookslab.grading import bundle as module
    made = []
    monkeypatch.setattr(module, "write_bundle",
                        lambda folder, notebook, unsafe=False: made.append((folder, notebook, unsafe))
                        or folder / "autograder.zip")
    gs = ["grade", "--gradescope-bundle", str(tmp_path / "gs"), "--notebook", "02-isolation"]
    assert cli.main(gs) == 0
    assert made == [(tmp_path / "gs", "02-isolation", False)]
    assert "upload autograder.zip to Gradescope" in capsys.readouterr().out
    assert cli.main([*gs, "--unsafe-no-sandbox"]) == 0
    assert made[-1] == (tmp_path / "gs", "02-isolation", True)
    assert cli.main(gs[:3]) == 2
    assert "needs --notebook NAME" in capsys.readouterr().err
    assert cli.main(["grade", "a.ipynb", "--gradescope-bundle", str(tmp_path / "gs"),
                     "--notebook", "02-isolation"]) == 2
    assert "--gradescope-bundle DIR goes alone" in capsys.readouterr().err
