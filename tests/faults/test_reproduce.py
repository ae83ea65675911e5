"""The CLI entry points: `nookslab trial` and `nookslab reproduce fig6|fig7|manual|vfat`."""
import json

import pytest

from nookslab import cli
from nookslab.eval import paper, reproduce
from nookslab.eval.manual import manual_bugs
from nookslab.faults import FAULT_TYPES


def test_the_trial_story_names_the_fault_its_source_lines_and_the_outcome(capsys):
    assert cli.main(["trial", "--extension", "null", "--fault", "PTR", "--mode", "native",
                     "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "PTR at null_" in out and "before:" in out and "after:" in out
    assert "Outcome:" in out and "stands for: PTR (8)" in out


def test_the_trial_story_refuses_an_unknown_fault_type(capsys):
    assert cli.main(["trial", "--extension", "null", "--fault", "PTRX", "--mode", "native"]) == 2
    assert "TEXT" in capsys.readouterr().err


def test_the_trial_story_can_show_every_fault_type(capsys):
    args = ["trial", "--extension", "null", "--mode", "native", "--seed", "1"]
    for kind in FAULT_TYPES:
        args += ["--fault", kind]
    assert cli.main(args) == 0
    assert capsys.readouterr().out.count("stands for:") == len(FAULT_TYPES)


def test_fig6_and_fig7_print_ours_beside_the_papers_and_write_json(tmp_path, capsys):
    assert reproduce.fig6(trials=3, seed=1, workers=1, json=tmp_path / "f6.json") == 0
    assert reproduce.fig7(trials=3, seed=1, workers=1) == 0
    out = capsys.readouterr().out
    assert f"{paper.FIG6_TOTALS['native']:>8}" in out and "Figure 7" in out
    data = json.loads((tmp_path / "f6.json").read_text())
    assert data["paper"]["native"] == 317 and data["simulator_errors"] == 0


def test_the_papers_numbers_live_only_in_eval_paper():
    import pathlib

    import nookslab
    root = pathlib.Path(nookslab.__file__).parent
    for path in list((root / "faults").glob("*.py")) + list((root / "eval").glob("*.py")):
        if path.name != "paper.py":
            text = path.read_text()
            assert "317" not in text and "512" not in text, path


def test_manual_bugs_are_placed_on_sites_of_the_driver():
    bugs = manual_bugs("null")
    assert set(bugs) == set(paper.MANUAL_BUGS)
    assert [f.type for f in bugs["removed NULL check"]] == ["ALLOC", "BRANCH"]
    assert bugs["double free"][0].type == "FREE"
    assert bugs["user-level pointer dereference"][0].type == "USERPTR"


def test_manual_and_vfat_say_when_their_parts_are_missing(capsys):
    assert reproduce.manual() == 0
    assert reproduce.vfat(trials=2) == 0
    out = capsys.readouterr().out
    assert out.strip()
