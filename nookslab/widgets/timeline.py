"""The recovery timeline: detection, then each step of SOSP'03 section 4.5 in order (disable the
driver's interrupts, the agent's policy, unwind, release objects, unload, reset the device,
reload, init, release physical resources), in simulated time, one block per recovery.

Each block is a strip whose segments are as long as the steps took (the reload and init are
most of it) and a table of the steps; ``text`` gives the same as stable plain text for a
notebook to print (nbval compares it), so a lesson can show a kernel's recoveries with::

    from nookslab.widgets import RecoveryTimeline
    timeline = RecoveryTimeline(k)
    print(timeline.text)
    timeline
"""
from __future__ import annotations

import html
from itertools import groupby

import ipywidgets as W

from .data import TimelineRow, recovery_timeline
from .style import stylesheet

STEP_COLOURS = ("#1565c0", "#ef6c00", "#2e7d32", "#6a1b9a", "#00838f", "#c62828", "#5d4037",
                "#ad1457", "#455a64", "#827717")
STRIP_PX = 520
ENDINGS = {"recovered": "#2e7d32", "disabled": "#ef6c00", "recovery failed": "#c62828"}


def strip_svg(rows: list[TimelineRow], width: int = STRIP_PX) -> str:
    """One recovery as a strip: a segment per step, as long as the step took. A step is
    recorded when it is done, so it took from the row before it to its own row; steps that took
    no simulated time are ticks."""
    if len(rows) < 2:
        return ""
    t0, t1 = rows[0].time, max(rows[-1].time, rows[0].time + 1)
    scale = (width - 2) / (t1 - t0)
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='34' "
             f"viewBox='0 0 {width} 34' style='font:10px sans-serif;max-width:100%;"
             f"height:auto'>"]
    for i, (before, row) in enumerate(zip(rows, rows[1:])):
        x = 1 + (before.time - t0) * scale
        w = (row.time - before.time) * scale
        colour = STEP_COLOURS[i % len(STEP_COLOURS)]
        tip = html.escape(f"{row.what}: {row.detail} ({row.time - before.time} cycles)")
        if w >= 1:
            parts.append(f"<rect x='{x:.1f}' y='4' width='{w:.1f}' height='16' fill='{colour}'>"
                         f"<title>{tip}</title></rect>")
            if w > 7 * len(row.what):
                parts.append(f"<text x='{x + 3:.1f}' y='15' fill='white'>"
                             f"{html.escape(row.what)}</text>")
        else:
            parts.append(f"<line x1='{x:.1f}' x2='{x:.1f}' y1='2' y2='22' stroke='{colour}' "
                         f"stroke-width='2'><title>{tip}</title></line>")
    end = ENDINGS.get(rows[-1].what, "#555")
    parts.append(f"<text x='1' y='32' fill='#555'>0</text><text x='{width - 2}' y='32' "
                 f"text-anchor='end' fill='{end}'>{html.escape(rows[-1].what)} after "
                 f"{rows[-1].time - t0} cycles</text></svg>")
    return "".join(parts)


class RecoveryTimeline(W.VBox):
    """Detection and each recovery step, in order, with simulated time (from the records).

    Parameters
    ----------
    kernel: the kernel whose ``recoveries`` to show (None: an empty view).

    Attributes
    ----------
    rows: every :class:`~nookslab.widgets.data.TimelineRow`; steps: their step names; text:
    the timeline as plain, stable text.
    """

    def __init__(self, kernel=None):
        self.html = W.HTML(layout=W.Layout(max_width="100%"))
        self.html.add_class("nookslab-text")
        self.rows: list[TimelineRow] = []
        self.kernel = None
        super().__init__([stylesheet(), self.html], layout=W.Layout(max_width="100%"))
        self.add_class("nookslab-recovery")
        self.show(kernel)

    def __repr__(self) -> str:
        if self.kernel is None:
            return "RecoveryTimeline(no kernel)"
        ends = [rows[-1].what for _, rows in self._blocks()]
        return f"RecoveryTimeline({len(ends)} recovery(ies): {', '.join(ends) or 'none'})"

    def _blocks(self):
        return [(n, list(rows)) for n, rows in groupby(self.rows, key=lambda r: r.number)]

    def _empty_reason(self, kernel) -> str:
        if getattr(kernel, "isolation", None) is None:
            return (f"{kernel.mode} configuration: nothing recovers a failed driver; "
                    + (f"the kernel's verdict: {kernel.verdict}" if kernel.verdict
                       else "no failure needed it"))
        return "no recovery happened: Nooks detected no failure"

    def show(self, kernel) -> None:
        self.kernel = kernel
        if kernel is None:
            self.rows = []
            self.html.value = "<i>no kernel to show yet: run a trial</i>"
            return
        self.rows = recovery_timeline(kernel)
        if not self.rows:
            self.html.value = f"<i>{html.escape(self._empty_reason(kernel))}</i>"
            return
        hz = kernel.clock.hz
        parts = []
        for number, rows in self._blocks():
            t0, last = rows[0].time, rows[-1]
            colour = ENDINGS.get(last.what, "#555")
            parts.append(
                f"<div style='margin:6px 0 2px 0'><b>recovery {number}</b> of "
                f"{html.escape(rows[0].extension)} ({html.escape(rows[0].detail)}): "
                f"<b style='color:{colour}'>{html.escape(last.what)}</b> "
                f"({html.escape(last.detail)}) after {(last.time - t0) / hz * 1e6:.1f} &micro;s "
                f"= {last.time - t0} cycles</div>" + strip_svg(rows))
            body = "".join(
                f"<tr><td class='num'>{r.time / hz * 1e3:.4f}</td>"
                f"<td class='num'>+{r.time - t0}</td>"
                f"<td class='num'>+{(r.time - t0) / hz * 1e6:.1f}</td>"
                f"<td><b>{html.escape(r.what)}</b></td><td>{html.escape(r.detail)}</td></tr>"
                for r in rows)
            parts.append("<table class='nookslab-timeline'><tr><th>t (ms)</th><th>+cycles</th>"
                         "<th>+&micro;s</th><th>step</th><th>detail</th></tr>"
                         f"{body}</table>")
        self.html.value = "".join(parts)

    @property
    def steps(self) -> list[str]:
        return [r.what for r in self.rows]

    @property
    def text(self) -> str:
        """The timeline as plain text: one header per recovery, one line per step, cycles
        since that recovery's first row (stable: simulated time only)."""
        if self.kernel is None:
            return "no kernel"
        if not self.rows:
            return self._empty_reason(self.kernel)
        lines = []
        for number, rows in self._blocks():
            t0 = rows[0].time
            lines.append(f"recovery {number} of {rows[0].extension}: {rows[-1].what} "
                         f"({rows[-1].detail}) after {rows[-1].time - t0} cycles")
            lines.extend(f"  {r.time - t0:>9} cycles  {r.what}: {r.detail}" for r in rows)
        return "\n".join(lines)
