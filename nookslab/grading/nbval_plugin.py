"""A pytest plugin for the grader's nbval run: it starts the kernel the grader asked for and reports
each cell as it goes.

The runner starts pytest with :data:`PYTEST_MAIN`, which loads this file as a top-level module
(not through the ``nookslab`` package, whose import the nbval process does not need), with no
other plugin than nbval's (``PYTEST_DISABLE_PLUGIN_AUTOLOAD``: hypothesis' summary alone took
seconds), and without ``rfc3987_syntax``, an optional format checker of jsonschema that nbformat
never uses and that builds parsers for seconds on import.

It does nothing unless ``NOOKSLAB_GRADING_RUN`` names a JSON file (the grader's, in its private
folder) with:

``kernel_argv``  the kernel command (the sandbox's jail, or the grading kernel itself);
``connection``   KernelManager settings (``transport``, ``ip``, ``connection_file``) or ``{}``;
``cwd``          the kernel's working folder when it is not sandboxed;
``progress``     a file this plugin appends one JSON line to per event:
                 ``{"event": "kernel", "pid": P}`` once the kernel started,
                 ``{"event": "start", "cell": N, "t": T}`` when nbval sends cell N,
                 ``{"event": "end", "cell": N, "t": T, "outcome": ..., "message": ...,
                 "expected": {...}, "actual": {...}}`` when nbval has compared it (``expected`` and
                 ``actual`` map each output field -- ``stdout``, ``text/plain``, ``error``... -- to
                 its sanitized texts, as nbval compares them), and
                 ``{"event": "setup-error", "cell": N, "message": ...}`` when the kernel did not start.

This process is the trusted side: it holds the expected outputs and compares them; the kernel only
ever receives each cell's code.
"""
from __future__ import annotations

import json
import os
import re
import sys
import time

import pytest

ENV = "NOOKSLAB_GRADING_RUN"
if os.environ.get(ENV):
    sys.modules.setdefault("rfc3987_syntax", None)  # see above: an ImportError jsonschema expects

#: ``python -c PYTEST_MAIN GRADING_DIR PYTEST_ARGS...``
PYTEST_MAIN = ("import sys; sys.path.insert(0, sys.argv.pop(1)); import nbval_plugin, pytest; "
               "sys.exit(pytest.main(sys.argv[1:], plugins=[nbval_plugin]))")
MESSAGE_CHARS = 4000
TEXT_CHARS = 20_000  # of each output text kept for feedback (nbval compares them whole)
_CELL = re.compile(r"::Cell (\d+)$")
_settings: dict = {}


def _write(event: dict) -> None:
    with open(_settings["progress"], "a") as fh:
        fh.write(json.dumps(event) + "\n")


def pytest_configure(config):
    path = os.environ.get(ENV)
    if not path:
        return
    with open(path) as fh:
        _settings.update(json.load(fh))
    import nbval.kernel
    nbval.kernel.start_new_kernel = _start_new_kernel
    nbval.kernel.RunningKernel.await_reply = _await_reply_while_alive(nbval.kernel.RunningKernel.await_reply)


def _await_reply_while_alive(await_reply):
    """nbval waits the whole cell timeout for the reply of a kernel that is already dead (an
    ``os._exit``, a crash in C); this wait looks every second whether the kernel still lives."""
    from queue import Empty

    def wait(self, msg_id, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = 1.0 if deadline is None else max(0.0, min(1.0, deadline - time.monotonic()))
            try:
                return await_reply(self, msg_id, timeout=left)
            except Empty:
                if not self.km.is_alive():
                    raise RuntimeError("Kernel died while running the cell") from None
                if deadline is not None and time.monotonic() >= deadline:
                    raise
    return wait


def _start_new_kernel(startup_timeout=60, kernel_name="python", **kwargs):
    """nbval's ``start_new_kernel``, for the grader's kernel command and transport."""
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager

    argv = list(_settings["kernel_argv"])

    class Specs(KernelSpecManager):
        def get_kernel_spec(self, name):
            # interrupts as messages: a signal to the jail's pid would reach bwrap, not the kernel
            return KernelSpec(argv=argv, display_name="nookslab grading", language="python",
                              interrupt_mode="message")

    km = KernelManager(kernel_name="nookslab-grading", kernel_spec_manager=Specs(),
                       **_settings.get("connection", {}))
    env = {k: v for k, v in os.environ.items() if k != ENV}  # (the sandbox clears it anyway)
    km.start_kernel(cwd=_settings.get("cwd") or None, stderr=kwargs.get("stderr"), env=env)
    process = getattr(km.provisioner, "process", None)
    if process is not None:
        _write({"event": "kernel", "pid": process.pid})
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=startup_timeout)
    except RuntimeError:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        raise
    return km, kc


def _cell(nodeid: str) -> int | None:
    found = _CELL.search(nodeid)
    return int(found.group(1)) if found else None


def pytest_runtest_logstart(nodeid, location):
    if _settings and (n := _cell(nodeid)) is not None:
        _write({"event": "start", "cell": n, "t": time.monotonic()})


def _fields(item, outputs) -> dict[str, list[str]]:
    """Each output field and its sanitized texts, as nbval compares them."""
    from nbval.plugin import coalesce_streams, transform_streams_for_comparison
    skip = set(item.parent.skip_compare)
    fields: dict[str, list[str]] = {}
    for out in transform_streams_for_comparison(coalesce_streams(list(outputs or []))):
        if out.get("output_type") == "error":
            fields.setdefault("error", []).append(_text(item, f"{out.get('ename')}: {out.get('evalue')}"))
            continue
        for key, value in out.items():
            if key in skip:
                continue
            if key == "data":
                for mime, text in value.items():
                    if mime not in skip:
                        fields.setdefault(mime, []).append(_text(item, text))
            else:
                fields.setdefault(key, []).append(_text(item, value))
    return fields


def _text(item, value) -> str:
    value = "".join(value) if isinstance(value, list) else value
    text = item.sanitize(value) if isinstance(value, str) else json.dumps(value)
    if len(text) > TEXT_CHARS:
        text = text[:TEXT_CHARS] + f"[... {len(text) - TEXT_CHARS} more characters]"
    return text


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if not _settings or (n := _cell(item.nodeid)) is None:
        return
    report = outcome.get_result()
    if call.when == "setup" and report.failed:
        _write({"event": "setup-error", "cell": n, "message": _message(call)})
    elif call.when == "call":
        _write({"event": "end", "cell": n, "t": time.monotonic(), "outcome": report.outcome,
                "xfail": hasattr(report, "wasxfail"), "message": _message(call),
                "expected": _fields(item, getattr(item.cell, "outputs", [])),
                "actual": _fields(item, getattr(item, "test_outputs", None))})


def _message(call) -> str:
    if call.excinfo is None:
        return ""
    exc = call.excinfo.value
    text = f"{type(exc).__name__}: {exc}"
    inner = getattr(exc, "inner_traceback", None)
    if inner and "Timeout" in str(exc):
        text += "\n" + inner
    return text[:MESSAGE_CHARS]

