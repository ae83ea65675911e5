"""Run nbval on one merged notebook, in its own process, in a temp dir, with time limits.

Returns one :class:`CellResult` per code cell, read from pytest's ``--junitxml`` (nbval makes one
test case ``Cell N`` per code cell). The whole run has a wall-clock limit: past it, the pytest
process group (kernel included) is killed and every cell not reported counts as failed.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import nbformat

SANITIZE = Path(__file__).resolve().parent.parent / "sanitize.cfg"
CELL_TIMEOUT = 20.0   # seconds a single cell may run when grading
WALL_LIMIT = 55.0     # seconds for the whole nbval run of one submission
FEEDBACK_CHARS = 600  # feedback is cut to this length (a student may print megabytes)


@dataclass(frozen=True)
class CellResult:
    """What nbval said about code cell ``index``: ``status`` is passed, failed, timeout,
    died (the kernel stopped) or missing (not reported: the run was cut short)."""
    index: int
    status: str
    message: str = ""


@dataclass
class RunResult:
    cells: list[CellResult]
    seconds: float
    killed: bool
    tail: str


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONHASHSEED"] = "0"
    env.pop("MPLBACKEND", None)
    return env


_ANSI = re.compile(r"(?:\x1b|#x1B)\[[0-9;]*[A-Za-z]")


def _diff_lines(lines: list[str]) -> tuple[str, str] | None:
    """The first changed line of nbval's diff: ``+`` lines are the stored (expected) output,
    ``-`` lines the new one; None when there is no such diff."""
    plus = minus = None
    for line in lines:
        body = line[2:] if line.startswith("  ") else line
        if body.startswith("+ ") and plus is None:
            plus = body[2:]
        elif body.startswith("- ") and minus is None:
            minus = body[2:]
        elif body.startswith(("=", "FAILED")):
            break
        if plus is not None and minus is not None:
            break
    if plus is None and minus is None:
        return None
    return (plus if plus is not None else "(no line)"), (minus if minus is not None else "(no line)")


def _summarise(text: str) -> str:
    """The informative part of nbval's failure text: from the first mismatch or error on."""
    text = _ANSI.sub("", text or "")
    errors = [line for line in text.splitlines() if re.match(r"^\w*(Error|Exception|Interrupt|Exit)\b", line)]
    if errors and "mismatch" not in text:
        return errors[-1][:FEEDBACK_CHARS]
    lines = text.splitlines()
    for i, line in enumerate(lines):  # nbval: "assert reference_output == test_output failed:"
        if "reference_output == test_output" in line:
            pair = next((ln.strip() for ln in lines[i + 1:] if ln.strip()), "")
            kind = re.search(r"mismatch '([^']+)'", text)
            where = kind.group(1) if kind else "output"
            cut = pair.split("' == '", 1) if pair.startswith("'") else []
            first = _diff_lines(lines[i + 1:]) if "..." in pair else None
            if first is not None:      # pytest elided the middle: show the first changed line
                msg = f"{where} differs: expected {first[0]!r}, got {first[1]!r}"
            elif len(cut) == 2:
                msg = f"{where} differs: expected {cut[0]}', got '{cut[1]}"
            else:
                msg = f"{where} differs: {pair}"
            return msg if len(msg) <= FEEDBACK_CHARS else msg[:FEEDBACK_CHARS] + " [...]"
    for key in ("mismatch", "Traceback:", "Error", "Exception"):
        at = text.find(key)
        if at >= 0:
            text = text[at:]
            break
    text = "\n".join(line.rstrip() for line in text.strip().splitlines()[:20])
    return text if len(text) <= FEEDBACK_CHARS else text[:FEEDBACK_CHARS] + " [...]"


def parse_junit(path: Path, n_cells: int) -> list[CellResult]:
    results = {i: CellResult(i, "missing", "not run: the grading run was stopped before this cell")
               for i in range(n_cells)}
    if not path.exists():
        return [results[i] for i in range(n_cells)]
    timed_out = False
    for case in ET.parse(path).getroot().iter("testcase"):
        name = case.get("name", "")
        if not name.startswith("Cell "):
            continue
        index = int(name.split()[1].split("[")[0])
        bad = case.find("failure")
        bad = bad if bad is not None else case.find("error")
        skipped = case.find("skipped")
        if bad is not None:
            text = (bad.get("message") or "") + "\n" + (bad.text or "")
            if "Failed to interrupt kernel" in text:  # gone (os._exit) or deaf to interrupts
                timed_out = True
                results[index] = CellResult(index, "died", _summarise(text))
            elif "Timeout" in text or "timed out" in text:
                timed_out = True
                results[index] = CellResult(index, "timeout", _summarise(text))
            elif "Kernel dead" in text or "waiting for output" in text or "Kernel died" in text:
                results[index] = CellResult(index, "died", _summarise(text))
            else:
                results[index] = CellResult(index, "failed", _summarise(text))
        elif skipped is not None:
            results[index] = CellResult(index, "timeout" if timed_out else "failed",
                                        "not checked: " + (skipped.get("message") or "skipped"))
        else:
            results[index] = CellResult(index, "passed")
    return [results[i] for i in range(n_cells)]


def run_nbval(notebook, *, cell_timeout: float = CELL_TIMEOUT, wall_limit: float = WALL_LIMIT,
              sanitize: Path = SANITIZE) -> RunResult:
    """Run nbval on ``notebook`` (a NotebookNode) and return the per-cell results."""
    n_cells = sum(1 for c in notebook.cells if c.get("cell_type") == "code")
    work = Path(tempfile.mkdtemp(prefix="nookslab-grade-"))
    report = Path(tempfile.mkdtemp(prefix="nookslab-report-"))
    try:
        nb_path = work / "submission.ipynb"
        nbformat.write(notebook, nb_path)
        shutil.copy(sanitize, report / "sanitize.cfg")
        (report / "pytest.ini").write_text("[pytest]\n")
        cmd = [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env",
               "--nbval-sanitize-with", str(report / "sanitize.cfg"), "-p", "no:cacheprovider",
               "-c", str(report / "pytest.ini"), "--rootdir", str(work),
               f"--nbval-cell-timeout={cell_timeout}", "--junitxml", str(report / "junit.xml"),
               "-q", "--no-header", "-rN", str(nb_path)]
        start = time.monotonic()
        log = open(report / "log.txt", "wb")
        proc = subprocess.Popen(cmd, cwd=work, env=_env(), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        killed = False
        try:
            proc.wait(timeout=wall_limit)
        except subprocess.TimeoutExpired:
            killed = True
        finally:
            try:  # the kernel and anything the student started die with the group
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
            log.close()
        seconds = time.monotonic() - start
        with open(report / "log.txt", "rb") as fh:
            fh.seek(max(0, (report / "log.txt").stat().st_size - 3000))
            tail = fh.read().decode("utf-8", "replace")
        cells = parse_junit(report / "junit.xml", n_cells) if not killed else \
            [CellResult(i, "missing", f"not checked: grading stopped after {wall_limit:g} s")
             for i in range(n_cells)]
        return RunResult(cells, seconds, killed, tail)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(report, ignore_errors=True)
