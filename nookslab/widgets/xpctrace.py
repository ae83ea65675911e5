"""The XPC trace: a timeline of crossings between the kernel and each protection domain (calls
into the extension, its calls into the kernel, deferred batches; SOSP'03 section 4.3), read from
``kernel.events``; zoomable to one call's path, with counts per interface function.
"""
from __future__ import annotations

import html

import ipywidgets as W

from .data import Crossing, call_path, crossing_counts, crossings

KIND_COLOURS = {"call": "#1565c0", "kernel": "#ef6c00", "return": "#6a1b9a",
                "deferred": "#2e7d32"}
MAX_MARKS = 1500             # crossings drawn in the whole-run timeline (evenly thinned)
MAX_CHOICES = 300            # calls offered in the zoom menu


def timeline_svg(xs: list[Crossing], hz: int, width: int = 760) -> str:
    """An SVG timeline: one lane per domain, a tick per crossing, coloured by kind; calls into
    the extension point down, calls into the kernel point up."""
    if not xs:
        return ""
    shown = xs if len(xs) <= MAX_MARKS else xs[:: -(-len(xs) // MAX_MARKS)]
    domains = sorted({c.domain for c in xs})
    t0, t1 = xs[0].time, max(xs[-1].time, xs[0].time + 1)
    lane, left = 34, 90
    height = 24 + lane * len(domains)
    span = width - left - 10

    def x(t: int) -> float:
        return left + span * (t - t0) / (t1 - t0)
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
             f"viewBox='0 0 {width} {height}' "
             f"style='font:11px sans-serif;max-width:100%;height:auto'>"]
    for i, d in enumerate(domains):
        y = 12 + lane * i + lane // 2
        parts.append(f"<text x='2' y='{y + 4}'>{html.escape(d)}</text>"
                     f"<line x1='{left}' x2='{width - 10}' y1='{y}' y2='{y}' stroke='#bbb'/>")
    ys = {d: 12 + lane * i + lane // 2 for i, d in enumerate(domains)}
    for c in shown:
        y = ys[c.domain]
        up, down = (y - 12, y) if c.kind in ("kernel", "return", "deferred") else (y, y + 12)
        w = 3 if c.kind == "deferred" else 1
        parts.append(f"<line x1='{x(c.time):.1f}' x2='{x(c.time):.1f}' y1='{up}' y2='{down}' "
                     f"stroke='{KIND_COLOURS[c.kind]}' stroke-width='{w}'>"
                     f"<title>{html.escape(c.function)} ({c.kind})</title></line>")
    ms0, ms1 = t0 / hz * 1e3, t1 / hz * 1e3
    parts.append(f"<text x='{left}' y='{height - 2}'>{ms0:.3f} ms</text>"
                 f"<text x='{width - 80}' y='{height - 2}'>{ms1:.3f} ms</text></svg>")
    return "".join(parts)


def legend_html() -> str:
    names = {"call": "kernel calls the extension (driver wrapper)",
             "kernel": "extension calls the kernel (kernel wrapper)",
             "return": "return", "deferred": "deferred batch (one crossing for many calls)"}
    return " ".join(f"<span style='color:{KIND_COLOURS[k]}'>&#9646; {html.escape(v)}</span>"
                    for k, v in names.items())


class XpcTrace(W.VBox):
    """The XPC trace of one kernel.

    Attributes
    ----------
    crossings: every crossing recorded. counts: (function, kind, count) rows on show.
    path: the crossings of the zoomed-in call (empty when showing the whole run).
    zoom: pick one call into an extension to follow its path; window: a range of crossings.
    """

    def __init__(self, kernel=None):
        self.zoom = W.Dropdown(options=[("whole run", -1)], value=-1, description="zoom",
                               layout=W.Layout(width="520px", max_width="100%"))
        self.window = W.IntRangeSlider(value=(0, 0), min=0, max=0, description="crossings",
                                       continuous_update=False,
                                       layout=W.Layout(width="520px", max_width="100%"))
        self.timeline = W.HTML()
        self.detail = W.HTML()
        self.table = W.HTML()
        self.summary = W.HTML()
        self.crossings: list[Crossing] = []
        self.path: list[Crossing] = []
        self.counts: list[tuple[str, str, int]] = []
        self.kernel = None
        self.zoom.observe(self._rerender, names="value")
        self.window.observe(self._rerender, names="value")
        super().__init__([self.summary, self.zoom, self.window, W.HTML(legend_html()),
                          self.timeline,
                          self.detail, self.table])
        self.add_class("nookslab-xpc")
        self.show(kernel)

    def show(self, kernel) -> None:
        self.kernel = kernel
        self.crossings = crossings(kernel.events) if kernel is not None else []
        calls = [(f"#{i}: {c.function} -> {c.domain} at {c.time / kernel.clock.hz * 1e3:.3f} ms", i)
                 for i, c in enumerate(self.crossings) if c.kind == "call"][:MAX_CHOICES]
        self.zoom.unobserve(self._rerender, names="value")
        self.zoom.options = [("whole run", -1)] + calls
        self.zoom.value = -1
        self.zoom.observe(self._rerender, names="value")
        self.window.unobserve(self._rerender, names="value")
        last = max(0, len(self.crossings) - 1)
        self.window.min = 0
        self.window.max = last
        self.window.value = (0, last)
        self.window.observe(self._rerender, names="value")
        self.render()

    def zoom_to(self, function: str, nth: int = 0) -> list[Crossing]:
        """Zoom to the ``nth`` call of ``function`` into an extension; return its path."""
        hits = [i for i, c in enumerate(self.crossings)
                if c.kind == "call" and c.function == function]
        if nth >= len(hits):
            raise ValueError(f"no call #{nth} of {function!r}; it was called {len(hits)} times")
        self.zoom.value = hits[nth]
        return self.path

    def _rerender(self, _change=None) -> None:
        self.render()

    def render(self) -> None:
        k = self.kernel
        if k is None:
            self.summary.value = "<i>no kernel to show yet: run a trial</i>"
            self.timeline.value = self.detail.value = self.table.value = ""
            return
        if getattr(k, "isolation", None) is None:
            self.summary.value = (f"<i>{k.mode} configuration: extensions run in the kernel's own "
                                  f"protection domain, so no call crosses a domain boundary "
                                  f"(no XPC). Run the nooks configuration to see crossings.</i>")
        else:
            total = getattr(k.isolation, "xpc_count", len(self.crossings))
            self.summary.value = (f"<b>{total}</b> crossings counted by the XPC engine; "
                                  f"{len(self.crossings)} recorded in kernel.events")
        start = self.zoom.value
        xs = self.crossings
        self.path = call_path(xs, start) if start >= 0 else []
        lo, hi = self.window.value
        shown = self.path or xs[lo:hi + 1]
        self.timeline.value = timeline_svg(shown, k.clock.hz)
        if self.path:
            rows = "".join(
                f"<tr><td>{c.time / k.clock.hz * 1e3:.4f}</td><td>{html.escape(c.domain)}</td>"
                f"<td style='color:{KIND_COLOURS[c.kind]}'>{c.kind}</td>"
                f"<td>{html.escape(c.function)}</td></tr>" for c in self.path)
            self.detail.value = ("<b>one call's path</b><table><tr><th>ms</th><th>domain</th>"
                                 f"<th>kind</th><th>function</th></tr>{rows}</table>")
        else:
            self.detail.value = ""
        self.counts = crossing_counts(shown)
        rows = "".join(f"<tr><td>{html.escape(f)}</td><td style='color:{KIND_COLOURS[kind]}'>"
                       f"{kind}</td><td style='text-align:right'>{n}</td></tr>"
                       for f, kind, n in self.counts)
        self.table.value = (("<b>crossings per interface function</b><table><tr><th>function"
                             f"</th><th>kind</th><th>count</th></tr>{rows}</table>")
                            if rows else "")
