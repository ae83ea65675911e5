"""`nookslab lab`: the student's workspace, prepared without starting JupyterLab."""
import json
from pathlib import Path

import pytest

from nookslab import cli, lab

ROOT = Path(__file__).resolve().parent.parent


def fake_source(folder: Path) -> Path:
    for name, files in (("notebooks", ("00-welcome.ipynb", "02-isolation.ipynb", "README.md")),
                        ("exercises", ("02-isolation.ipynb", "README.md"))):
        (folder / name).mkdir(parents=True)
        for f in files:
            (folder / name / f).write_text(f"{name}/{f} v1")
    return folder


def test_the_first_start_copies_the_lessons_and_the_exercises_into_the_workspace(tmp_path):
    source = fake_source(tmp_path / "src")
    done = lab.prepare_workspace(tmp_path / "ws", source)
    assert sorted(done.copied) == ["exercises/02-isolation.ipynb", "exercises/README.md",
                                   "notebooks/00-welcome.ipynb", "notebooks/02-isolation.ipynb",
                                   "notebooks/README.md"]
    assert (tmp_path / "ws" / "exercises" / "02-isolation.ipynb").read_text() == \
        "exercises/02-isolation.ipynb v1"
    assert "nookslab grade exercises/" in (tmp_path / "ws" / "README.md").read_text()
    assert str(tmp_path / "ws") in str(done)


def test_the_students_exercise_is_never_overwritten_even_by_a_newer_one(tmp_path):
    source = fake_source(tmp_path / "src")
    ws = tmp_path / "ws"
    lab.prepare_workspace(ws, source)
    (ws / "exercises" / "02-isolation.ipynb").write_text("my answers")
    (source / "exercises" / "02-isolation.ipynb").write_text("exercises v2")
    done = lab.prepare_workspace(ws, source)
    assert (ws / "exercises" / "02-isolation.ipynb").read_text() == "my answers"
    assert done.kept == ["exercises/02-isolation.ipynb"] and not done.copied


def test_an_untouched_exercise_is_not_replaced_either(tmp_path):
    source = fake_source(tmp_path / "src")
    ws = tmp_path / "ws"
    lab.prepare_workspace(ws, source)
    (source / "exercises" / "02-isolation.ipynb").write_text("exercises v2")
    lab.prepare_workspace(ws, source)
    assert (ws / "exercises" / "02-isolation.ipynb").read_text() == \
        "exercises/02-isolation.ipynb v1"


def test_an_untouched_lesson_is_brought_up_to_date_and_a_run_one_is_kept(tmp_path):
    source = fake_source(tmp_path / "src")
    ws = tmp_path / "ws"
    lab.prepare_workspace(ws, source)
    (ws / "notebooks" / "00-welcome.ipynb").write_text("run by the student")
    for name in ("00-welcome.ipynb", "02-isolation.ipynb"):
        (source / "notebooks" / name).write_text(f"{name} v2")
    done = lab.prepare_workspace(ws, source)
    assert done.refreshed == ["notebooks/02-isolation.ipynb"]
    assert done.kept == ["notebooks/00-welcome.ipynb"]
    assert (ws / "notebooks" / "02-isolation.ipynb").read_text() == "02-isolation.ipynb v2"
    assert (ws / "notebooks" / "00-welcome.ipynb").read_text() == "run by the student"
    manifest = json.loads((ws / lab.MANIFEST).read_text())
    assert set(manifest) >= {"notebooks/02-isolation.ipynb", "exercises/02-isolation.ipynb"}


def test_a_deleted_file_comes_back_fresh_at_the_next_start(tmp_path):
    source = fake_source(tmp_path / "src")
    ws = tmp_path / "ws"
    lab.prepare_workspace(ws, source)
    (ws / "exercises" / "02-isolation.ipynb").unlink()
    done = lab.prepare_workspace(ws, source)
    assert done.copied == ["exercises/02-isolation.ipynb"]


def test_a_folder_without_notebooks_is_refused_as_a_source_naming_what_it_lacks(tmp_path):
    with pytest.raises(ValueError, match="notebooks/\\*.ipynb and exercises/\\*.ipynb"):
        lab.prepare_workspace(tmp_path / "ws", tmp_path)


def test_the_source_itself_is_refused_as_a_workspace(tmp_path):
    source = fake_source(tmp_path / "src")
    with pytest.raises(ValueError, match="the source itself"):
        lab.prepare_workspace(source / "notebooks", source)


def test_run_in_a_checkout_the_lab_copies_from_it_into_its_workspace_folder():
    inside = ROOT / "nookslab" / "eval"
    assert lab.find_checkout(inside) == ROOT
    assert lab.find_source(inside) == ROOT
    assert lab.default_workspace(inside) == ROOT / "workspace"
    assert "workspace/" in (ROOT / ".gitignore").read_text().split()


def test_outside_a_checkout_it_copies_the_installed_notebooks_into_the_home_folder(
        tmp_path, monkeypatch):
    installed = fake_source(tmp_path / "prefix" / "share" / "nookslab")
    monkeypatch.setattr(lab, "installed_sources", lambda: [tmp_path / "nowhere", installed])
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    elsewhere = tmp_path / "somewhere"
    elsewhere.mkdir()
    assert lab.find_checkout(elsewhere) is None
    assert lab.find_source(elsewhere) == installed
    assert lab.default_workspace(elsewhere) == tmp_path / "home" / "nookslab-lab"


def test_the_installed_locations_include_the_install_prefix_share_folder():
    import sysconfig
    assert Path(sysconfig.get_path("data")) / "share" / "nookslab" in lab.installed_sources()


def test_the_package_ships_every_lesson_and_exercise_as_data_files():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    with open(ROOT / "pyproject.toml", "rb") as f:
        config = tomllib.load(f)["tool"]["setuptools"]["data-files"]
    for folder in lab.FOLDERS:
        patterns = config[f"share/nookslab/{folder}"]
        shipped = {p.name for pattern in patterns for p in ROOT.glob(pattern)}
        assert shipped == {p.name for p in (ROOT / folder).glob("*.ipynb")} | {"README.md"}


def test_nookslab_lab_prepares_the_workspace_says_where_and_opens_jupyterlab_on_it(
        tmp_path, monkeypatch, capsys):
    source = fake_source(tmp_path / "src")
    monkeypatch.setattr(lab, "find_source", lambda start=None: source)
    calls = []
    monkeypatch.setattr(lab.subprocess, "call", lambda command: calls.append(command) or 0)
    ws = tmp_path / "ws"
    assert cli.main(["lab", "--workspace", str(ws), "--no-browser", "--port", "8899"]) == 0
    out = capsys.readouterr().out
    assert f"workspace: {ws}" in out and "new: 5" in out
    (command,) = calls
    assert f"--ServerApp.root_dir={ws.resolve()}" in command
    assert "--no-browser" in command and "--ServerApp.port=8899" in command
    assert (ws / "exercises" / "02-isolation.ipynb").exists()


def test_without_any_notebooks_the_lab_says_what_to_do(monkeypatch, capsys):
    monkeypatch.setattr(lab, "find_source", lambda start=None: None)
    assert cli.main(["lab"]) == 2
    assert "run this in a nookslab checkout" in capsys.readouterr().err


def test_the_help_says_where_the_workspace_is(capsys):
    assert cli.main(["lab", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "workspace/ in the nookslab checkout" in text and "~/nookslab-lab" in text
    assert "never overwritten" in text
