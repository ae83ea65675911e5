"""Packaging and the command line: pyproject.toml and environment.yml agree, the CLI answers."""
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

from nookslab import cli

ROOT = Path(__file__).resolve().parent.parent
CONDA_TO_PIP = {"matplotlib-base": "matplotlib"}
CONDA_ONLY = {"python", "pip"}


def _name(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _pyproject():
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def pyproject_dependencies():
    project = _pyproject()["project"]
    lines = project["dependencies"] + [
        line for extra in project["optional-dependencies"].values() for line in extra
    ]
    reqs = [Requirement(line) for line in lines]
    return {_name(r.name): r.specifier for r in reqs}


def environment_entries():
    """(name, SpecifierSet) for every entry of environment.yml, the pip sub-list included."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    entries = []
    for item in env["dependencies"]:
        if isinstance(item, dict):
            # The pip sub-list: requirement lines; `-e .` installs nookslab itself.
            entries += [(_name(r.name), r.specifier)
                        for r in (Requirement(line) for line in item["pip"] if not line.startswith("-"))]
            continue
        # A conda match spec "name", "name>=1", "name==1.2": split at the first operator.
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(.*)", item.strip())
        assert match, f"environment.yml: cannot read {item!r}"
        name, spec = match.groups()
        entries.append((_name(CONDA_TO_PIP.get(name, name)), SpecifierSet(spec)))
    return entries


def test_environment_yml_lists_each_dependency_once():
    names = [name for name, _ in environment_entries()]
    assert sorted(names) == sorted(set(names))


def test_environment_yml_and_pyproject_list_the_same_dependencies_and_bounds():
    env = {name: str(spec) for name, spec in environment_entries() if name not in CONDA_ONLY}
    assert env == {name: str(spec) for name, spec in pyproject_dependencies().items()}


def test_environment_yml_asks_for_the_python_that_pyproject_requires():
    env = dict(environment_entries())
    assert env["python"] == SpecifierSet(_pyproject()["project"]["requires-python"])


def test_nbval_is_pinned_to_its_last_release():
    assert str(pyproject_dependencies()["nbval"]) == "==0.11.0"


def run(*args):
    return subprocess.run([sys.executable, "-m", "nookslab", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_help_exits_0_and_names_every_command():
    out = run("--help")
    assert out.returncode == 0, out.stderr
    for command in ("reproduce", "trial", "grade", "lab"):
        assert command in out.stdout


def test_an_unknown_reproduce_target_is_an_error_naming_the_valid_ones():
    out = run("reproduce", "bogus")
    assert out.returncode != 0
    assert "bogus" in out.stderr
    for target in cli.TARGETS:
        assert target in out.stderr


@pytest.mark.parametrize("option", ["--trials", "--workers"])
@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_counts_below_one_are_rejected(option, value, capsys):
    assert cli.main(["reproduce", "fig6", option, value]) == 2
    assert f"argument {option}" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["grade"],
    ["grade", "a.ipynb", "--batch", "subs", "--csv", "out.csv"],
    ["grade", "--batch", "subs"],
    ["grade", "a.ipynb", "--csv", "out.csv"],
])
def test_grade_needs_exactly_one_submission_or_a_batch_with_a_csv(argv, capsys):
    assert cli.main(argv) == 2
    assert "grade" in capsys.readouterr().err


def test_a_target_whose_code_is_missing_says_not_built_yet(monkeypatch, capsys):
    monkeypatch.setitem(cli.REPRODUCE, "fig6", "nookslab.no_such_module:fig6")
    assert cli.main(["reproduce", "fig6"]) == cli.NOT_BUILT
    assert capsys.readouterr().err.strip() == "reproduce fig6: not built yet"


def test_a_missing_function_in_an_existing_module_is_not_built_yet(monkeypatch, capsys):
    monkeypatch.setitem(cli.REPRODUCE, "fig6", "nookslab.cli:no_such_function")
    assert cli.main(["reproduce", "fig6"]) == cli.NOT_BUILT


def _record(calls):
    def target(seed=None, trials=None):
        calls.append({"seed": seed, "trials": trials})
    return target


def test_reproduce_passes_only_the_options_a_target_accepts(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(cli, "_resolve", lambda spec: _record(calls))
    assert cli.main(["reproduce", "table2", "--seed", "0", "--trials", "4", "--workers", "2"]) == 0
    assert calls == [{"seed": 0, "trials": 4}]
    assert "reproduce table2: ignores --workers" in capsys.readouterr().err


def test_reproduce_all_runs_what_exists_and_skips_the_rest(monkeypatch, capsys):
    calls = []
    built = {"nookslab.demo:main", "nookslab.eval.reproduce:fig6"}
    monkeypatch.setattr(cli, "_resolve", lambda spec: _record(calls) if spec in built else None)
    assert cli.main(["reproduce", "all", "--seed", "5"]) == 0
    assert calls == [{"seed": 5, "trials": None}] * 2
    err = capsys.readouterr().err
    assert "reproduce fig7: not built yet, skipped" in err
    assert "2 ran, 0 failed" in err


def test_reproduce_all_fails_if_one_target_fails(monkeypatch, capsys):
    def broken():
        raise RuntimeError("boom")
    monkeypatch.setattr(cli, "_resolve", lambda spec: broken if spec.endswith(":fig7") else (lambda: 0))
    assert cli.main(["reproduce", "all"]) == 1
    err = capsys.readouterr().err
    assert "RuntimeError: boom" in err and "1 failed (fig7)" in err


def test_reproduce_all_fails_if_nothing_is_built(monkeypatch, capsys):
    monkeypatch.setattr(cli, "_resolve", lambda spec: None)
    assert cli.main(["reproduce", "all"]) == 1


def test_sanitize_file_rules_are_all_read_by_nbval_and_apply():
    from nbval.plugin import get_sanitize_patterns

    text = (ROOT / "nookslab" / "sanitize.cfg").read_text()
    patterns = get_sanitize_patterns(text)
    assert len(patterns) == text.count("\nregex: ") == 3

    def clean(s):
        for regex, replace in patterns:
            s = re.sub(regex, replace, s)
        return s

    assert clean("<Kernel object at 0x7f3a2c1b9d10>") == "<Kernel object at 0xADDRESS>"
    assert clean("/tmp/ipykernel_4242/1234567.py:3: UserWarning") == "<cell>:3: UserWarning"
    assert clean("<Figure size 640x480 with 2 Axes>") == "<Figure>"
    assert clean("throughput 0x10 at 99.5") == "throughput 0x10 at 99.5"  # numbers stay compared
