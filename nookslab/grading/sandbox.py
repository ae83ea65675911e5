"""A bubblewrap sandbox per submission: what the kernel sees, its limits, and how it all dies.

The grader never runs a student's code itself. nbval's pytest process (outside, trusted) starts the
kernel through :mod:`nookslab.grading.jail`, which opens the few paths the sandbox needs, sets the
resource limits, drops root to a fresh unprivileged uid and execs ``bwrap``:

- ``/`` read-only; a fresh ``/dev``, ``/proc`` (its own pid namespace: no other process is
  visible, the grader's included) and a size-limited, private ``/tmp`` whose ``work`` folder is the
  kernel's working folder -- the only place it can write, besides the folder of its sockets;
- no network, no IPC, no other namespace (``--unshare-all``; ``--disable-userns``), a new session,
  ``--die-with-parent``; an unprivileged uid of its own, so root-only files stay unreadable;
- hidden behind empty tmpfs: the project checkout, ``solutions/``, the folder of every submission
  being graded, the grader's own working folders (merged notebook, results), ``/autograder``,
  and every folder the uid could not enter anyway (``/root``...); of these, only the Python
  installation, its site-packages and the ``nookslab`` package are put back, read-only;
- the kernel is reached through jupyter_client's ``ipc`` transport: unix sockets in a folder
  bound into the sandbox at the same path. Only code goes in; outputs are compared outside.

At the end (or on a timeout) the grader kills the sandbox's pid-namespace init, whose pid bwrap
reports through ``--info-fd``: every process inside dies with it, whatever session or parent it
has. ``--die-with-parent`` covers the grader itself dying.
"""
from __future__ import annotations

import functools
import json
import os
import pwd
import secrets
import shutil
import signal
import site
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent  # the nookslab package
BWRAP = "/usr/bin/bwrap"
JAIL = Path(__file__).resolve().parent / "jail.py"
UID_RANGE = (1_000_000, 2_000_000_000)  # a fresh uid per sandbox: no limits or signals shared
#: Every namespace ``--unshare-all`` makes but the user namespace: made by root, it would map the
#: sandbox's uid back to root on the host; the jail drops to a real unprivileged uid instead.
NAMESPACES = ("--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try")
#: bwrap runs as root; inside, only the jail's change of uid needs a capability (it then has none).
CAPS = ("--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID")


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create a sandbox here."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandbox (setrlimit, inherited by every process inside)."""
    memory: int = 2 << 30       # bytes of address space per process (RLIMIT_AS)
    cpu: int = 600              # CPU seconds per process (RLIMIT_CPU)
    processes: int = 48         # processes and threads of the sandbox's uid (RLIMIT_NPROC)
    file_size: int = 64 << 20   # bytes per file written (RLIMIT_FSIZE)
    open_files: int = 256       # RLIMIT_NOFILE
    tmp_size: int = 256 << 20   # bytes of the private /tmp (a tmpfs)

    def rlimits(self) -> dict[str, int]:
        return {"RLIMIT_AS": self.memory, "RLIMIT_CPU": self.cpu, "RLIMIT_NPROC": self.processes,
                "RLIMIT_FSIZE": self.file_size, "RLIMIT_NOFILE": self.open_files, "RLIMIT_CORE": 0}


def fresh_uid() -> int:
    """A uid no account on this host has (so no file of anyone's is the sandbox's own)."""
    while True:
        uid = UID_RANGE[0] + secrets.randbelow(UID_RANGE[1] - UID_RANGE[0])
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid


def checkout_root() -> Path | None:
    """The project checkout holding the package (an editable install), if there is one."""
    parent = PACKAGE.parent
    if (parent / "pyproject.toml").exists() or (parent / ".git").exists():
        return parent
    return None


def needed_paths() -> list[Path]:
    """What the kernel needs to run: the interpreter, its site-packages, the package."""
    paths = {Path(os.path.realpath(p)) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    paths.add(Path(os.path.realpath(sys.executable)).parent)
    paths.update(Path(os.path.realpath(p)) for p in site.getsitepackages() if os.path.isdir(p))
    paths.add(PACKAGE)
    return sorted(paths)


def _unreachable_ancestor(path: Path) -> Path | None:
    """The first folder above ``path`` that others may not enter (e.g. ``/root``)."""
    for parent in reversed(path.parents):
        if parent != Path("/") and not os.stat(parent).st_mode & 0o001:
            return parent
    return None


def _is_under(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _folders_between(top: Path, path: Path) -> list[str]:
    """bwrap arguments making the folders strictly between ``top`` and ``path`` enterable (bwrap
    itself would make them 0700, root's, when it binds ``path``)."""
    args = []
    for folder in reversed(path.parents):
        if top in folder.parents:
            args += ["--perms", "0755", "--dir", str(folder)]
    return args


@functools.lru_cache(maxsize=1)
def test_code() -> tuple[Path, ...]:
    """numpy's own test folders and conftest.py: they import pytest, pkgutil and other modules
    under plain names, a way around the answer policy's imports. Hidden in the sandbox."""
    import numpy
    root = Path(numpy.__file__).resolve().parent
    return tuple(sorted({*root.rglob("tests"), *root.rglob("conftest.py")}))  # once per process


def matplotlib_cache() -> list[Path]:
    """Matplotlib's font list (outside), so the kernel does not rebuild it (and warn) each time."""
    base = os.environ.get("MPLCONFIGDIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "matplotlib")
    folder = Path(base)
    found = sorted(folder.glob("fontlist-*.json")) if folder.is_dir() else []
    if not found:  # first use on this machine: build it once, outside
        subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"],
                       capture_output=True, timeout=300, check=False)
        found = sorted(folder.glob("fontlist-*.json")) if folder.is_dir() else []
    return found


@dataclass
class Sandbox:
    """The host side of one submission's sandbox: its folder (root only), plan and uid.

    ``hide`` lists host folders the kernel must not see (solutions, submissions...). ``folder``
    holds ``ipc/`` (the kernel's sockets, owned by the sandbox's uid) and, readable by root only,
    the jail's plan and bwrap's info file.
    """
    hide: tuple[Path, ...] = ()
    limits: Limits = Limits()

    def __post_init__(self):
        self.uid = fresh_uid()
        self.folder = Path(tempfile.mkdtemp(prefix="nookslab-sandbox-"))
        os.chmod(self.folder, 0o711)  # the uid may pass through (to bind ipc/), not list
        self.ipc = self.folder / "ipc"
        self.ipc.mkdir(mode=0o700)
        os.chown(self.ipc, self.uid, self.uid)
        self.private = self.folder / "private"
        self.private.mkdir(mode=0o700)
        self.info_file = self.private / "bwrap-info.json"
        self.plan_file = self.private / "plan.json"
        self.log_file = self.private / "kernel-stderr.txt"
        self.plan_file.write_text(json.dumps(self.plan()))

    def bwrap_args(self) -> list:
        args: list = [*NAMESPACES, "--die-with-parent", "--new-session", *CAPS,
                      "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                      # multiprocessing's semaphores live in /dev/shm
                      "--perms", "1777", "--size", str(self.limits.tmp_size), "--tmpfs", "/dev/shm",
                      "--perms", "1777", "--size", str(self.limits.tmp_size), "--tmpfs", "/tmp",
                      # made by bwrap as root: open to all (only the sandbox's uid is in here)
                      "--perms", "1777", "--dir", "/tmp/work", "--perms", "1777", "--dir", "/tmp/.cache",
                      "--perms", "1777", "--dir", "/tmp/.cache/matplotlib"]
        needed = needed_paths()
        hidden = {Path(p).resolve() for p in self.hide if Path(p).exists()}
        hidden.add(self.folder)
        root = checkout_root()
        if root is not None:
            hidden.add(root)
        if Path("/autograder").exists():
            hidden.add(Path("/autograder"))
        hidden.update(a for p in needed if (a := _unreachable_ancestor(p)) is not None)
        tmp = Path("/tmp")  # already a private tmpfs: what is under it is hidden unless bound back
        mounted = {tmp}  # what is covered inside: a needed path under one is bound back into it
        for path in sorted(hidden | set(needed), key=lambda p: (len(p.parts), str(p))):
            shown_again = any(n != path and _is_under(path, n) for n in needed)
            if path in hidden and path != tmp and (not _is_under(path, tmp) or shown_again):
                if path.is_dir():
                    args += ["--perms", "0755", "--tmpfs", str(path)]
                else:
                    args += ["--ro-bind", "/dev/null", str(path)]
                mounted.add(path)
            covers = [h for h in mounted if h != path and _is_under(path, h)]
            if path in needed and covers:
                # every folder from the innermost cover down is made enterable (a 0700 folder in
                # /tmp such as mktemp's, hidden by the private /tmp, would otherwise be root's 0700)
                args += _folders_between(max(covers, key=lambda h: len(h.parts)), path)
                args += ["--ro-bind", str(path), str(path)]
        for path in test_code():  # numpy's tests import pytest, pkgutil...: out of reach
            args += (["--tmpfs", str(path)] if path.is_dir() else ["--ro-bind", "/dev/null", str(path)])
        args += _folders_between(Path("/tmp"), self.ipc) + ["--bind", str(self.ipc), str(self.ipc)]
        for font_list in matplotlib_cache():
            args += ["--ro-bind", str(font_list), f"/tmp/.cache/matplotlib/{font_list.name}"]
        env = {"HOME": "/tmp/work", "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
               "PYTHONHASHSEED": "0", "TMPDIR": "/tmp", "XDG_CACHE_HOME": "/tmp/.cache",
               "MPLCONFIGDIR": "/tmp/.cache/matplotlib", "IPYTHONDIR": "/tmp/.ipython",
               "JUPYTER_RUNTIME_DIR": "/tmp/.jupyter", "PYTHONDONTWRITEBYTECODE": "1",
               "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "MALLOC_ARENA_MAX": "2", "NOOKSLAB_SANDBOX": "1"}
        args.append("--clearenv")
        for key, value in env.items():
            args += ["--setenv", key, value]
        args += ["--chdir", "/tmp/work", "--info-fd", {"info_fd": True}]
        return args

    def plan(self) -> dict:
        return {"bwrap": BWRAP, "args": self.bwrap_args(), "info_file": str(self.info_file),
                "log_file": str(self.log_file),
                "uid": self.uid, "limits": self.limits.rlimits(),
                "command": [sys.executable, "-m", "nookslab.grading.inkernel", "-f",
                            "{connection_file}", "--HistoryManager.enabled=False"]}

    def kernel_argv(self) -> list[str]:
        """The kernel command for jupyter_client (the jail, which execs bwrap)."""
        return [sys.executable, "-I", "-S", str(JAIL), "outside", str(self.plan_file),
                "{connection_file}"]

    def connection(self) -> dict:
        """KernelManager settings: the ipc transport in the folder bound into the sandbox."""
        return {"transport": "ipc", "ip": str(self.ipc / "k"),
                "connection_file": str(self.ipc / "kernel.json")}

    def kill(self) -> None:
        """Kill everything in the sandbox: its pid namespace dies with its init."""
        kill_namespace(self.info_file)

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


def kill_namespace(info_file: Path) -> bool:
    """SIGKILL the pid-namespace init bwrap reported in ``info_file`` (if it is still that)."""
    try:
        pid = int(json.loads(info_file.read_text())["child-pid"])
        status = Path(f"/proc/{pid}/status").read_text()
    except (OSError, ValueError, KeyError, TypeError):
        return False
    nspid = next((line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:")), [])
    if len(nspid) < 2 or nspid[-1] != "1":  # not a namespace init any more: the pid was reused
        return False
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


_PROBED: dict[str, str | None] = {}


def probe() -> str | None:
    """None when a sandbox can be made here, else why not (cached per process)."""
    if "result" in _PROBED:
        return _PROBED["result"]
    problem = None
    if not os.path.exists(BWRAP):
        problem = f"bubblewrap is not installed ({BWRAP} missing; apt-get install bubblewrap)"
    elif os.geteuid() != 0:
        problem = "the grader must run as root to give each sandbox an unprivileged uid of its own"
    else:
        box = Sandbox()
        args = [a for a in box.bwrap_args() if not isinstance(a, dict)][:-1]  # no --info-fd
        cmd = [BWRAP, *args, "--", sys.executable, "-I", "-S", str(JAIL), "inside", str(box.uid),
               "/bin/true"]
        try:
            run = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            if run.returncode != 0:
                problem = ("bubblewrap cannot create a sandbox here: "
                           + (run.stderr.strip() or f"exit status {run.returncode}"))
        except (OSError, subprocess.SubprocessError) as exc:
            problem = f"bubblewrap cannot create a sandbox here: {exc}"
        finally:
            box.close()
    _PROBED["result"] = problem
    return problem


__all__ = ["Limits", "Sandbox", "SandboxUnavailable", "kill_namespace", "probe"]
