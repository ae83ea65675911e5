"""Run nbval on one merged notebook: pytest in its own process, the kernel in a sandbox, time limits.

The grader's private folder (root only, under ``/tmp``, which the sandbox replaces by its own)
holds the merged notebook, nbval's settings and the progress file
:mod:`nookslab.grading.nbval_plugin` writes cell by cell. Reading it while pytest runs, the runner
charges each cell's time to its exercise (answer and check cells) or to the notebook (the
solution's own cells); an exercise past ``exercise_limit`` seconds in all stops the run at once
(``RunResult.too_slow``), so the grader can run the notebook again without it. A single cell past
``cell_timeout`` is interrupted by nbval itself. At the end, whatever happened, the sandbox's pid
namespace is killed (every process the notebook started dies with it) and the folder removed.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .nbval_plugin import ENV, PYTEST_MAIN
from .sandbox import Limits, Sandbox

SANITIZE = Path(__file__).resolve().parent.parent / "sanitize.cfg"
CELL_TIMEOUT = 30.0       # seconds a single cell may run
EXERCISE_LIMIT = 90.0     # seconds an exercise's answer and check cells may take in all
NOTEBOOK_LIMIT = 300.0    # seconds the solution's own cells may take in all
STARTUP_LIMIT = 90.0      # seconds for pytest to start and the kernel to be ready
KERNEL_STARTUP = 60.0


@dataclass(frozen=True)
class CellResult:
    """What nbval said about code cell ``index``: ``status`` is passed, failed, timeout, died
    (the kernel stopped) or missing (not reported: the run was cut short, or the kernel never
    started). ``expected``/``actual`` map output fields to sanitized texts."""
    index: int
    status: str
    message: str = ""
    expected: dict = field(default_factory=dict)
    actual: dict = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class RunResult:
    cells: list[CellResult]
    seconds: float
    too_slow: str | None = None      # the exercise whose time ran out (the run was stopped)
    startup_error: str | None = None  # the kernel did not start: an infrastructure failure
    stopped: str | None = None        # the run was stopped for another reason (whole-run limit)
    tail: str = ""                    # the sandbox's stderr before the kernel started


def _env(run_file: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONHASHSEED"] = "0"
    env.pop("MPLBACKEND", None)
    env[ENV] = str(run_file)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return env


def _status(event: dict) -> str:
    message = event.get("message", "")
    if event["outcome"] == "passed":
        return "passed"
    if "Failed to interrupt kernel" in message:  # gone (os._exit) or deaf to interrupts
        return "died"
    if "Timeout" in message or "timed out" in message:
        return "timeout"
    if "Kernel dead" in message or "Kernel died" in message or "waiting for output" in message:
        return "died"
    if event.get("xfail"):  # after a timeout nbval marks the rest xfail: they were not checked
        return "timeout"
    return "failed"


class Progress:
    """The progress file, read as it grows: cells reported, cells running, a start-up error."""

    def __init__(self, path: Path, n_cells: int):
        self.path, self.offset = path, 0
        self.cells = {i: CellResult(i, "missing", "not checked: the grading run was stopped before it")
                      for i in range(n_cells)}
        self.running: dict[int, float] = {}
        self.startup: str | None = None
        self.kernel_pid: int | None = None
        self.started = False

    def poll(self) -> "Progress":
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                chunk = fh.read()
        except OSError:
            return self
        complete = chunk.rfind(b"\n") + 1
        self.offset += complete
        for line in chunk[:complete].decode("utf-8", "replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            n = event.get("cell")
            if event["event"] == "kernel":
                self.kernel_pid = event["pid"]
            elif event["event"] == "start":
                self.running[n] = event["t"]
                self.started = True
            elif event["event"] == "end" and n in self.cells:
                start = self.running.pop(n, event["t"])
                self.cells[n] = CellResult(n, _status(event), event.get("message", ""),
                                           event.get("expected", {}), event.get("actual", {}),
                                           event["t"] - start)
            elif event["event"] == "setup-error" and self.startup is None:
                self.startup = event.get("message", "") or "the kernel did not start"
        return self

    def results(self) -> list[CellResult]:
        return [self.cells[i] for i in range(len(self.cells))]

    def spent(self, roles, now: float) -> dict[str, float]:
        """Seconds spent so far per exercise ("" for the notebook's own cells)."""
        spent: dict[str, float] = {}
        for c in self.cells.values():
            spent[roles[c.index][1]] = spent.get(roles[c.index][1], 0.0) + c.seconds
        for n, t in self.running.items():
            spent[roles[n][1]] = spent.get(roles[n][1], 0.0) + (now - t)
        return spent


def _kill(proc: subprocess.Popen, box: Sandbox | None, progress: Progress) -> None:
    if box is not None:
        box.kill()
    elif progress.poll().kernel_pid is not None:
        # unsandboxed: the kernel leads its own session; its detached children may survive
        try:
            os.killpg(progress.kernel_pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def run_nbval(notebook, *, roles=None, cell_timeout: float = CELL_TIMEOUT,
              exercise_limit: float = EXERCISE_LIMIT, notebook_limit: float = NOTEBOOK_LIMIT,
              sanitize: Path = SANITIZE, sandbox: bool = True, hide=(), limits: Limits = Limits(),
              kernel_argv: list[str] | None = None) -> RunResult:
    """Run nbval on ``notebook`` (a NotebookNode) and return the per-cell results.

    ``roles`` (one ``(role, exercise)`` per code cell, from :func:`~nookslab.grading.merge.merge`)
    says which exercise each cell's time counts for. ``hide`` lists host folders the sandbox must
    not show (``sandbox=False`` runs the kernel as the grader's own user: instructors only).
    ``kernel_argv`` replaces the kernel command (the grader's tests use it to break the start).
    """
    n_cells = sum(1 for c in notebook.cells if c.get("cell_type") == "code")
    roles = roles or [("lesson", "")] * n_cells
    private = Path(tempfile.mkdtemp(prefix="nookslab-grade-"))
    cleanup = [private]
    box = Sandbox(hide=tuple(hide), limits=limits) if sandbox else None
    proc = None
    try:
        nb_path = private / "submission.ipynb"
        nbformat.write(notebook, nb_path)
        shutil.copy(sanitize, private / "sanitize.cfg")
        (private / "pytest.ini").write_text("[pytest]\n")
        progress = private / "progress.jsonl"
        settings = {"progress": str(progress), "connection": box.connection() if box else {},
                    "kernel_argv": kernel_argv or (box.kernel_argv() if box else [
                        sys.executable, "-m", "nookslab.grading.inkernel", "-f",
                        "{connection_file}", "--HistoryManager.enabled=False"]),
                    "cwd": None if box else str(_workdir(cleanup))}
        (private / "run.json").write_text(json.dumps(settings))
        cmd = [sys.executable, "-c", PYTEST_MAIN, str(Path(__file__).resolve().parent),
               "-p", "nbval.plugin", "--nbval", "--nbval-current-env", "--nbval-sanitize-with", str(private / "sanitize.cfg"),
               "-p", "no:cacheprovider", "-c", str(private / "pytest.ini"), "--rootdir",
               str(private), f"--nbval-cell-timeout={cell_timeout}",
               f"--nbval-kernel-startup-timeout={KERNEL_STARTUP}", "-q", "--no-header", "-rN",
               str(nb_path)]
        start = time.monotonic()
        watch = Progress(progress, n_cells)
        with open(private / "log.txt", "wb") as log:
            proc = subprocess.Popen(cmd, cwd=private, env=_env(private / "run.json"), stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
            too_slow, stopped = _watch(proc, watch, roles, start, exercise_limit, notebook_limit)
            _kill(proc, box, watch)
        cells = watch.poll().results()
        ran = any(c.status != "missing" for c in cells)
        if too_slow or stopped:
            why = (f"not checked: grading stopped when {too_slow} took over {exercise_limit:g} s"
                   if too_slow else f"not checked: {stopped}")
            cells = [c if c.status != "missing" else CellResult(c.index, "missing", why)
                     for c in cells]
        startup = None
        if not ran and not too_slow:
            startup = watch.startup or stopped or "the kernel never ran a cell"
        return RunResult(cells, time.monotonic() - start, too_slow, startup, stopped, _tail(box))
    finally:
        if proc is not None and proc.poll() is None:
            _kill(proc, box, Progress(private / "progress.jsonl", n_cells))
        if box is not None:
            box.close()
        for folder in cleanup:
            shutil.rmtree(folder, ignore_errors=True)


def _workdir(cleanup: list) -> Path:
    """The unsandboxed kernel's working folder: apart from the grader's private folder."""
    work = Path(tempfile.mkdtemp(prefix="nookslab-work-"))
    cleanup.append(work)
    return work


def _watch(proc, watch: Progress, roles, start, exercise_limit, notebook_limit):
    """Wait for pytest; stop it when an exercise (or the notebook's own cells) runs out of time."""
    whole = STARTUP_LIMIT + notebook_limit + exercise_limit * len({e for _, e in roles if e})
    while proc.poll() is None:
        time.sleep(0.1)
        now = time.monotonic()
        if now - start > whole:
            return None, f"the whole run took over {whole:g} s"
        watch.poll()
        for group, seconds in watch.spent(roles, now).items():
            if group and seconds > exercise_limit:
                return group, None
            if not group and seconds > notebook_limit:
                return None, f"the notebook's own cells took over {notebook_limit:g} s"
        if not watch.started and now - start > STARTUP_LIMIT:
            return None, f"the kernel was not ready after {STARTUP_LIMIT:g} s"
    return None, None


def _tail(box: Sandbox | None) -> str:
    """The end of what the sandbox wrote on stderr before the kernel took it (why a start failed)."""
    if box is None:
        return ""
    try:
        with open(box.log_file, "rb") as fh:
            fh.seek(max(0, box.log_file.stat().st_size - 2000))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
