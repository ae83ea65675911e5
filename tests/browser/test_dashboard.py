"""The dashboard in a real browser: JupyterLab + ipywidgets in headless Chromium.

Starts JupyterLab on a temporary copy of tests/browser/dashboard.ipynb, opens it the way
../shared/reference/jupyter-notes.md found free of the start-up race (``/lab?reset``, await
``jupyterapp.restored``, ``docmanager:open`` with an explicit kernel, wait for the kernel to be
connected, idle and answering, then fire ``notebook:run-all-cells`` without awaiting it), checks
the outcome says "no failure", switches the DST fault on, and checks the outcome turns into a
crash (native) beside a recovery (nooks), and that the memory map marks the faulting write.
Screenshots go to tests/browser/artifacts/ (gitignored).

Uses Debian's /usr/bin/chromium through Playwright's ``executable_path`` (never a downloaded
browser); skipped with the reason when either is missing.
"""
from __future__ import annotations

import json
import os
import re
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
#: The case the notebook sets up (tests/browser/dashboard.ipynb: null driver, seed 101): the DST
#: fault it places makes the interrupt handler corrupt its timer natively (a panic in interrupt
#: context) and, under Nooks, a store into a kernel page (page 337) that the map marks.
FAULT = "DST"
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


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    _need_browser()
    root = tmp_path_factory.mktemp("browser") / "lab"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / "dashboard.ipynb")
    ARTIFACTS.mkdir(exist_ok=True)
    server = Lab(root)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page_at(lab, browser):
    """``page_at(width, height)``: a page of that size with the notebook run; its kernel is
    shut down afterwards (kernels outlive pages)."""
    pages = []

    def open_page(width: int, height: int):
        page = browser.new_page(viewport={"width": width, "height": height})
        pages.append(page)
        _open_and_run(page, lab)
        return page
    yield open_page
    for page in pages:
        page.close()
    lab.delete_sessions()


# -- what the page shows, read in the page -----------------------------------------------------
PANEL = ("Array.from(document.querySelectorAll('.nookslab-panel'))"
         ".find(e => e.offsetParent !== null)")

# Every control of a view (the visible element of class ``root``): has a size, lies inside the
# view and inside every ancestor that clips its overflow (the notebook, the output area...), and
# shows its whole text.
CLIPPED = """
(root) => {
  const view = Array.from(document.querySelectorAll(root)).find(e => e.offsetParent !== null);
  const pr = view.getBoundingClientRect();
  const problems = [];
  const controls = Array.from(view.querySelectorAll('button, input, select'))
      .filter(c => c.offsetParent !== null);
  for (const c of controls) {
    const r = c.getBoundingClientRect();
    const name = (c.innerText || c.value || c.tagName).trim().slice(0, 30);
    if (r.width < 4 || r.height < 4) { problems.push(`${name}: no size`); continue; }
    if (r.left < pr.left - 1 || r.right > pr.right + 1)
      problems.push(`${name}: outside the view (${r.left}..${r.right} vs ${pr.left}..${pr.right})`);
    for (let a = c.parentElement; a && a !== document.body; a = a.parentElement) {
      const st = getComputedStyle(a);
      if (st.overflowX !== 'visible') {
        const ar = a.getBoundingClientRect();
        if (r.left < ar.left - 1 || r.right > ar.right + 1) {
          problems.push(`${name}: clipped by ${a.className}`);
          break;
        }
      }
    }
    if (c.tagName === 'BUTTON' && c.scrollWidth > c.clientWidth + 1)
      problems.push(`${name}: text cut (${c.scrollWidth} > ${c.clientWidth})`);
  }
  return {count: controls.length, problems};
}
"""

# The result boxes: pairwise disjoint, and every element inside a box lies inside it.
OVERLAPS = f"""
() => {{
  const panel = {PANEL};
  const boxes = Array.from(panel.querySelectorAll('.nookslab-outcome-box'));
  const rects = boxes.map(b => b.getBoundingClientRect());
  const problems = [];
  for (let i = 0; i < rects.length; i++) {{
    for (let j = i + 1; j < rects.length; j++) {{
      const a = rects[i], b = rects[j];
      const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
      const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
      if (w > 0.5 && h > 0.5) problems.push(`boxes ${{i}} and ${{j}} overlap by ${{w}}x${{h}}`);
    }}
    for (const e of boxes[i].querySelectorAll('*')) {{
      const r = e.getBoundingClientRect();
      if (r.width === 0) continue;
      if (r.left < rects[i].left - 0.5 || r.right > rects[i].right + 0.5)
        problems.push(`box ${{i}}: ${{e.tagName}} '${{e.innerText.slice(0, 40)}}' spills out`);
    }}
  }}
  const list = panel.querySelector('.nookslab-faults');
  if (list) {{
    const l = list.getBoundingClientRect();
    for (const r of rects)
      if (Math.min(l.bottom, r.bottom) - Math.max(l.top, r.top) > 0.5 &&
          Math.min(l.right, r.right) - Math.max(l.left, r.left) > 0.5)
        problems.push('the fault list overlaps a result box');
  }}
  return {{boxes: rects.map(r => [r.left, r.top, r.width, r.height]), problems}};
}}
"""

# The dashboard's tab titles whose text is cut (an ellipsis, or no room at all).
TABS_CUT = """
() => Array.from(document.querySelectorAll('.nookslab-dashboard .lm-TabBar-tabLabel'))
  .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1)
  .map(e => e.innerText)
"""

TOGGLE_LOOK = f"""
(name) => {{
  const panel = {PANEL};
  const b = Array.from(panel.querySelectorAll('.nookslab-fault-toggle'))
      .find(e => e.innerText.trim() === name);
  const st = getComputedStyle(b);
  return [st.backgroundColor, st.color, st.fontWeight, b.className];
}}
"""

# Each drawn bar: its width, its count's text and where the count starts, and the track's end.
BARS = """
() => Array.from(document.querySelectorAll('.nookslab-bar-row'))
  .filter(r => r.offsetParent !== null).map(row => {
    const bar = row.querySelector('.nookslab-bar');
    const track = row.querySelector('.nookslab-bar-track');
    const count = row.querySelector('button');
    return {bar: bar.getBoundingClientRect().width,
            trackRight: track.getBoundingClientRect().right,
            barRight: bar.getBoundingClientRect().right,
            countLeft: count.getBoundingClientRect().left,
            text: count.innerText.trim()};
  })
"""


def _visible(page, selector: str):
    return page.locator(f"{selector} >> visible=true").first


def _wait_outcomes(page, native: str, nooks: str) -> list[str]:
    page.wait_for_function(
        f"() => {{ const t = {TEXTS}; return t.length == 2 && t[0].includes({native!r}) && "
        f"t[1].includes({nooks!r}); }}", timeout=60_000)
    return page.evaluate(OUTCOMES)


def _open_file_browser(page) -> None:
    page.evaluate("() => window.jupyterapp.shell.activateById('filebrowser')")
    page.wait_for_function("() => { const f = document.querySelector('#filebrowser'); "
                           "return f && f.getBoundingClientRect().width > 150; }", timeout=10_000)


def test_switching_a_fault_on_turns_no_failure_into_a_native_crash_and_a_nooks_recovery(
        page_at):
    page = page_at(1400, 1000)
    try:
        before = page.evaluate(OUTCOMES)
        assert len(before) == 2
        assert all("no failure" in text for text in before), before
        page.get_by_role("button", name=FAULT, exact=True).first.click()
        after = _wait_outcomes(page, "crash", "recovered")
        assert after[0].startswith("native") and "crash" in after[0], after
        assert after[1].startswith("nooks") and "recovered" in after[1], after
        assert not any("no failure" in text for text in after), after
        toggle = page.get_by_role("button", name=FAULT, exact=True).first
        assert "mod-active" in (toggle.get_attribute("class") or "")
        # The memory map (the nooks kernel): the faulting store marked where it hit.
        memmap = _visible(page, ".nookslab-memmap")
        memmap.scroll_into_view_if_needed(timeout=10_000)
        assert "faulting write" in memmap.inner_text(timeout=10_000)
    finally:
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)


def test_at_1024x768_with_the_file_browser_open_nothing_is_clipped_or_overlaps(page_at):
    page = page_at(1024, 768)
    _open_file_browser(page)
    panel = _visible(page, ".nookslab-panel")
    inactive = page.evaluate(TOGGLE_LOOK, FAULT)
    page.get_by_role("button", name=FAULT, exact=True).first.click()
    _wait_outcomes(page, "crash", "recovered")
    panel.scroll_into_view_if_needed(timeout=10_000)
    page.screenshot(path=str(ARTIFACTS / "panel-1024x768.png"))

    for width, height in ((1024, 768), (1280, 800)):
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(300)                         # the layout settles
        layout = page.evaluate(CLIPPED, ".nookslab-panel")
        assert layout["count"] >= 18 + 3 + 3 + 2, layout  # toggles, configurations, actions
        assert layout["problems"] == [], (width, layout["problems"])
        boxes = page.evaluate(OVERLAPS)
        assert len(boxes["boxes"]) == 2, boxes
        assert boxes["problems"] == [], (width, boxes["problems"])
        assert page.evaluate(TABS_CUT) == [], width
    page.set_viewport_size({"width": 1024, "height": 768})
    active = page.evaluate(TOGGLE_LOOK, FAULT)
    assert "mod-active" in active[3] and "mod-active" not in inactive[3]
    assert active[0] != inactive[0] and active[1] != inactive[1], (active, inactive)
    text = panel.inner_text()
    assert "_nl_fault" not in text and "bit=" not in text, text

    # The memory map of the nooks kernel: cropped to the pages in use, the faulting page marked.
    memmap = _visible(page, ".nookslab-memmap")
    memmap.scroll_into_view_if_needed(timeout=10_000)
    assert "faulting write" in memmap.inner_text()
    image = _visible(page, ".nookslab-memmap-image").bounding_box()
    assert image["height"] < 0.6 * image["width"], image   # not all 4096 pages
    page.set_viewport_size({"width": 1024, "height": 1400})
    memmap.screenshot(path=str(ARTIFACTS / "memory-map.png"))
    page.set_viewport_size({"width": 1024, "height": 768})

    # A changed seed: the result is re-run for it (and says which seed it is for).
    seed = _visible(page, ".nookslab-panel input[type=number]")
    seed.fill("15")
    seed.press("Enter")
    page.wait_for_function(f"() => {PANEL}.innerText.includes('Result for null, seed 15')",
                           timeout=60_000)
    page.set_viewport_size({"width": 1024, "height": 2200})   # the whole panel, same width
    panel.screenshot(path=str(ARTIFACTS / "panel.png"))
    page.set_viewport_size({"width": 1024, "height": 768})


def test_the_campaign_explorer_draws_bars_as_long_as_their_shares_and_replays_a_trial(page_at):
    page = page_at(1024, 768)
    _open_file_browser(page)
    trials = _visible(page, ".nookslab-panel .widget-inline-hbox:has-text('trials per "
                            "configuration') input")
    trials.fill("5")
    trials.press("Enter")
    page.get_by_role("button", name="run campaign").first.click()
    page.wait_for_function(f"() => {PANEL}.innerText.includes('5 trials per configuration')",
                           timeout=120_000)
    page.get_by_role("tab", name="campaign explorer").first.click()
    explorer = _visible(page, ".nookslab-campaign")
    explorer.scroll_into_view_if_needed(timeout=10_000)
    page.wait_for_function(f"() => ({BARS})().length >= 12", timeout=30_000)
    bars = page.evaluate(BARS)
    assert len(bars) == 2 * (2 + 2 + 2), bars               # null, all, paper x 2 modes x 2
    scales = [int(s) for s in re.findall(r"bar length: 0 to (\d+)% of trials",
                                          explorer.inner_text())]
    assert len(scales) == 2
    for i, bar in enumerate(bars):
        scale = scales[i // 6]
        pct = float(re.search(r"\(([\d.]+)%\)", bar["text"]).group(1))
        assert abs(bar["bar"] - 240 * pct / scale) <= 1.5, (bar, scale)
        assert bar["countLeft"] >= bar["trackRight"] - 0.5, bar   # the label outside the bar

    # a count lists its trials; the picked one's cause is shown whole (wrapped, not cut)
    count = explorer.locator("button.nookslab-count:not([disabled])").first
    count.click()
    picked = ("() => Array.from(document.querySelectorAll('.nookslab-campaign .nookslab-text'))"
              ".filter(e => e.offsetParent && e.innerText.includes('trial #')).pop()")
    page.wait_for_function(f"() => ({picked})() !== undefined", timeout=30_000)
    detail = page.evaluate(f"() => {{ const d = ({picked})(); "
                           f"return [d.scrollWidth, d.clientWidth, d.innerText]; }}")
    assert detail[0] <= detail[1] + 1, detail
    layout = page.evaluate(CLIPPED, ".nookslab-campaign")
    assert layout["problems"] == [], layout["problems"]
    page.set_viewport_size({"width": 1024, "height": 1900})
    explorer.screenshot(path=str(ARTIFACTS / "campaign-explorer.png"))
    page.set_viewport_size({"width": 1024, "height": 768})

    # replay the picked trial: the panel says what the replay changed
    page.get_by_role("button", name="replay in panel").first.click()
    page.wait_for_function(f"() => {PANEL}.innerText.includes('Replaying campaign trial')",
                           timeout=60_000)
    status = _visible(page, ".nookslab-panel").inner_text()
    assert "configuration both" in status and "Changed for the replay" in status, status
