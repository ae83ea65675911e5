"""The dashboard in a real browser: JupyterLab + ipywidgets in headless Chromium.

Starts JupyterLab on a temporary copy of tests/browser/dashboard.ipynb, opens it the way
../shared/reference/jupyter-notes.md found free of the start-up race (``/lab?reset``, await
``jupyterapp.restored``, ``docmanager:open`` with an explicit kernel, wait for the kernel to be
connected, idle and answering, then fire ``notebook:run-all-cells`` without awaiting it), checks
the outcome says "no failure", switches the PTR fault on, and checks the outcome turns into a
crash (native) beside a recovery (nooks), and that the memory map marks the faulting write.
Screenshots go to tests/browser/artifacts/ (gitignored).

Uses Debian's /usr/bin/chromium through Playwright's ``executable_path`` (never a downloaded
browser); skipped with the reason when either is missing.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

HERE = Path(__file__).parent
NOTEBOOK = HERE / "dashboard.ipynb"
ARTIFACTS = HERE / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
TOKEN = "nookslab-browser-test"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage"]

# Opens the notebook, waits for a live kernel, fires run-all (not awaited: that promise can hang).
OPEN_AND_RUN = """
async (path) => {
  const app = window.jupyterapp;
  await app.restored;
  const widget = await app.commands.execute('docmanager:open',
      {path, factory: 'Notebook', kernel: {name: 'python3'}});
  await widget.context.ready;
  await widget.sessionContext.ready;
  const deadline = Date.now() + 60000;
  for (;;) {
    const kernel = widget.sessionContext.session && widget.sessionContext.session.kernel;
    if (kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle') {
      await kernel.requestKernelInfo();
      break;
    }
    if (Date.now() > deadline) throw new Error('kernel never became idle');
    await new Promise(r => setTimeout(r, 200));
  }
  app.shell.activateById(widget.id);
  app.commands.execute('notebook:run-all-cells');
  return widget.id;
}
"""

TEXTS = "Array.from(document.querySelectorAll('.nookslab-outcome')).map(e => e.innerText)"
OUTCOMES = f"() => {TEXTS}"


def _need_browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (CI installs Debian's chromium: apt-get install -y "
                    f"chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the playwright Python package is missing (pip install -e '.[dev]')")
    if shutil.which("jupyter") is None and not _has_module("jupyterlab"):
        pytest.skip("jupyterlab is not installed")


def _has_module(name: str) -> bool:
    import importlib.util
    return importlib.util.find_spec(name) is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 2.0):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read().decode() or "null")


class Lab:
    """A JupyterLab server on a temporary folder; always stopped by ``stop()``."""

    def __init__(self, root: Path):
        self.root = root
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        state = root.parent / "lab-state"
        settings = state / "settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True)
        # Keep the news toast off the page (jupyter-notes: it covers the notebook).
        (settings / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(state / "settings"),
                   JUPYTERLAB_WORKSPACES_DIR=str(state / "workspaces"),
                   JUPYTER_RUNTIME_DIR=str(state / "runtime"), PYTHONHASHSEED="0")
        env.pop("MPLBACKEND", None)
        self.log = (state / "lab.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={self.port}",
             f"--IdentityProvider.token={TOKEN}", "--ip=127.0.0.1", "--allow-root",
             f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
             "--ServerApp.open_browser=False"],
            cwd=root, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}; see "
                                   f"{self.log.name}")
            try:
                _get(f"{self.base}/api/status?token={TOKEN}")
                return
            except OSError:
                time.sleep(0.25)
        raise RuntimeError(f"jupyter lab did not answer within {timeout} s")

    def delete_sessions(self) -> None:
        try:
            for s in _get(f"{self.base}/api/sessions?token={TOKEN}") or []:
                req = urllib.request.Request(f"{self.base}/api/sessions/{s['id']}?token={TOKEN}",
                                             method="DELETE")
                urllib.request.urlopen(req, timeout=5).close()
        except OSError:
            pass

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.delete_sessions()
            os.killpg(self.proc.pid, signal.SIGTERM)     # the server and its kernels
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.log.close()


def _open_and_run(page, lab: Lab, attempts: int = 3) -> None:
    """Load the lab, open the notebook and fire run-all; retried on a start-up failure."""
    last = None
    for attempt in range(attempts):
        try:
            page.goto(f"{lab.base}/lab?reset&token={TOKEN}", wait_until="domcontentloaded",
                      timeout=60_000)
            page.wait_for_function("() => window.jupyterapp !== undefined", timeout=60_000)
            page.evaluate(OPEN_AND_RUN, "dashboard.ipynb")
            page.wait_for_function(f"() => {TEXTS}.length >= 2", timeout=60_000)
            return
        except Exception as exc:                 # noqa: BLE001 - retried, then re-raised
            last = exc
            lab.delete_sessions()
    raise AssertionError(f"could not open and run the notebook in {attempts} attempts: {last}")


def test_switching_a_fault_on_turns_no_failure_into_a_native_crash_and_a_nooks_recovery(
        tmp_path):
    _need_browser()
    from playwright.sync_api import sync_playwright
    root = tmp_path / "lab"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / "dashboard.ipynb")
    ARTIFACTS.mkdir(exist_ok=True)
    lab = Lab(root)
    try:
        lab.wait_ready()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                        args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                try:
                    _open_and_run(page, lab)
                    before = page.evaluate(OUTCOMES)
                    assert len(before) == 2
                    assert all("no failure" in text for text in before), before
                    page.get_by_role("button", name="PTR", exact=True).first.click()
                    page.wait_for_function(
                        f"() => {{ const t = {TEXTS}; return t.length == 2 && "
                        f"t[0].includes('crash') && t[1].includes('recovered'); }}",
                        timeout=60_000)
                    after = page.evaluate(OUTCOMES)
                    assert after[0].startswith("native") and "crash" in after[0], after
                    assert after[1].startswith("nooks") and "recovered" in after[1], after
                    assert not any("no failure" in text for text in after), after
                    toggle = page.get_by_role("button", name="PTR", exact=True).first
                    assert "mod-active" in (toggle.get_attribute("class") or "")
                    # The memory map (the nooks kernel): the faulting store framed in red.
                    memmap = page.locator(".nookslab-memmap").first
                    memmap.scroll_into_view_if_needed(timeout=10_000)
                    assert "faulting write" in memmap.inner_text(timeout=10_000)
                    memmap.screenshot(path=str(ARTIFACTS / "memory-map.png"), timeout=10_000)
                finally:
                    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
            finally:
                browser.close()
    finally:
        lab.stop()
