"""The student's workspace that ``nookslab lab`` opens JupyterLab on.

A workspace is a folder holding the lessons (``notebooks/``) and the student's own copies of the
exercises (``exercises/``), copied from a *source*: the nookslab checkout the command runs in (the
current folder or one above it, or the checkout an editable install lives in), else the copies
installed with the package (``<prefix>/share/nookslab``).

The student's work is never overwritten: an exercise is copied only when the workspace has none
by that name. A lesson is copied when missing, and refreshed from a newer source only while the
student's copy is still exactly the one copied last (the workspace remembers what it copied, in
``.nookslab-workspace.json``); a lesson the student has run or edited is left alone. Deleting a
file from the workspace gets a fresh copy at the next start.

:func:`prepare_workspace` does all of this without starting anything (the tests call it);
:func:`main` prepares, then runs JupyterLab on the workspace.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

#: The folders a workspace holds, copied from the source folders of the same names.
FOLDERS = ("notebooks", "exercises")
MANIFEST = ".nookslab-workspace.json"
#: The workspace folder in a checkout (git ignores it) and outside one (in the home folder).
CHECKOUT_WORKSPACE = "workspace"
HOME_WORKSPACE = "nookslab-lab"


def _is_source(folder: Path) -> bool:
    return all((folder / name).is_dir() and any((folder / name).glob("*.ipynb"))
               for name in FOLDERS)


def find_checkout(start: Path | None = None) -> Path | None:
    """The nookslab checkout that ``start`` (default: the current folder) is in: the nearest
    folder at or above it with ``nookslab/``, ``notebooks/`` and ``exercises/``; else None."""
    start = Path.cwd() if start is None else Path(start)
    for folder in (start.resolve(), *start.resolve().parents):
        if (folder / "nookslab").is_dir() and _is_source(folder):
            return folder
    return None


def installed_sources() -> list[Path]:
    """Where an installed nookslab keeps its notebooks: beside the package (an editable
    install's checkout), then ``share/nookslab`` under the install prefixes."""
    candidates = [Path(__file__).resolve().parent.parent]
    schemes = [None] + ([f"{os.name}_user"] if f"{os.name}_user" in
                        sysconfig.get_scheme_names() else [])
    for scheme in schemes:
        try:
            data = sysconfig.get_path("data", scheme) if scheme else sysconfig.get_path("data")
        except KeyError:                                   # pragma: no cover - odd platforms
            continue
        candidates.append(Path(data) / "share" / "nookslab")
    candidates.append(Path(sys.prefix) / "share" / "nookslab")
    return candidates


def find_source(start: Path | None = None) -> Path | None:
    """The folder the workspace is copied from: the checkout ``start`` is in, else the
    notebooks installed with the package; None if neither exists."""
    checkout = find_checkout(start)
    if checkout is not None:
        return checkout
    for candidate in installed_sources():
        if _is_source(candidate):
            return candidate
    return None


def default_workspace(start: Path | None = None) -> Path:
    """``workspace/`` in the checkout ``start`` is in, else ``~/nookslab-lab``."""
    checkout = find_checkout(start)
    if checkout is not None:
        return checkout / CHECKOUT_WORKSPACE
    return Path.home() / HOME_WORKSPACE


@dataclass
class Prepared:
    """What :func:`prepare_workspace` did: paths relative to the workspace."""

    workspace: Path
    source: Path
    copied: list = field(default_factory=list)       # new in the workspace
    refreshed: list = field(default_factory=list)    # lessons updated from a newer source
    kept: list = field(default_factory=list)         # the student's files, left as they are

    def __str__(self) -> str:
        lines = [f"workspace: {self.workspace}", f"copied from: {self.source}"]
        for label, names in (("new", self.copied), ("updated lessons", self.refreshed),
                             ("kept as you left them", self.kept)):
            if names:
                lines.append(f"{label}: {len(names)} ({', '.join(names)})")
        return "\n".join(lines)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def prepare_workspace(workspace: Path | str, source: Path | str) -> Prepared:
    """Create or update ``workspace`` from ``source`` (a folder with ``notebooks/`` and
    ``exercises/``), never overwriting the student's work (see the module docstring)."""
    workspace, source = Path(workspace), Path(source)
    if not _is_source(source):
        raise ValueError(f"{source} holds no nookslab notebooks: it needs "
                         f"{' and '.join(f'{n}/*.ipynb' for n in FOLDERS)}")
    if workspace.resolve() in (source.resolve() / n for n in FOLDERS) or \
            workspace.resolve() == source.resolve():
        raise ValueError(f"the workspace {workspace} would be the source itself: choose "
                         f"another folder")
    workspace.mkdir(parents=True, exist_ok=True)
    manifest_path = workspace / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        manifest = {}
    done = Prepared(workspace, source)
    for folder in FOLDERS:
        (workspace / folder).mkdir(exist_ok=True)
        for src in sorted((source / folder).iterdir()):
            if not src.is_file() or src.suffix not in (".ipynb", ".md"):
                continue
            name = f"{folder}/{src.name}"
            dst = workspace / name
            fresh = _digest(src)
            if not dst.exists():
                shutil.copyfile(src, dst)
                done.copied.append(name)
            elif folder == "notebooks" and manifest.get(name) == _digest(dst) and \
                    manifest.get(name) != fresh:
                shutil.copyfile(src, dst)           # an untouched lesson: bring it up to date
                done.refreshed.append(name)
            else:
                if _digest(dst) != fresh:
                    done.kept.append(name)
                continue
            manifest[name] = fresh
    readme = workspace / "README.md"
    if not readme.exists():
        readme.write_text(WORKSPACE_README)
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return done


WORKSPACE_README = """\
# Your nookslab workspace

- `notebooks/`: the lessons, 00 to 09. Start with `00-welcome.ipynb`.
- `exercises/`: your own copies of the graded exercises (02 to 08). Fill in the cells marked
  as answers, run the check cells below them, and compare with the "You should see" text.
  Grade one with `nookslab grade exercises/02-isolation.ipynb`.

`nookslab lab` never overwrites your exercises. It brings a lesson up to date only if you have
not run or changed it; delete a file to get a fresh copy at the next start.
"""


def lab_command(workspace: Path, port: int | None = None, no_browser: bool = False) -> list:
    """The JupyterLab command line for ``workspace``."""
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={workspace}"]
    if port is not None:
        command.append(f"--ServerApp.port={port}")
    if no_browser:
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Containers and CI machines often run as root, which Jupyter otherwise refuses.
        command.append("--allow-root")
    return command


def main(workspace=None, port=None, no_browser=False) -> int:
    """``nookslab lab``: prepare the workspace, say where it is, start JupyterLab on it."""
    source = find_source()
    if source is None:
        print("lab: no nookslab notebooks found: run this in a nookslab checkout, or reinstall "
              "the package (its notebooks go to <prefix>/share/nookslab)", file=sys.stderr)
        return 2
    target = Path(workspace) if workspace is not None else default_workspace()
    try:
        prepared = prepare_workspace(target, source)
    except (OSError, ValueError) as exc:
        print(f"lab: cannot prepare the workspace {target}: {exc}", file=sys.stderr)
        return 2
    print(prepared, flush=True)
    try:
        return subprocess.call(lab_command(target.resolve(), port, no_browser))
    except KeyboardInterrupt:  # Ctrl-C: JupyterLab has already shut down its kernels
        return 130
