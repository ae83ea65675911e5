"""The object tracker's table per domain (SOSP'03 section 4.4), shown as it was when Nooks
detected a failure and as it is now, so its emptying by recovery is visible. (The recovery
timeline, once here, is :mod:`nookslab.widgets.timeline`.)
"""
from __future__ import annotations

import html

import ipywidgets as W

from .data import TrackerSnapshot, all_tracker_rows
from .timeline import RecoveryTimeline  # noqa: F401 - it lived here; still importable

_HEAD = ("domain", "type", "kernel address", "domain copy", "owner", "kind")


def _table(rows, extra: dict | None = None) -> str:
    head = "".join(f"<th>{h}</th>" for h in _HEAD + (("during recovery",) if extra else ()))
    body = []
    for r in rows:
        cells = "".join(f"<td>{html.escape(c)}</td>" for c in r.cells())
        if extra is not None:
            fate = extra.get(r.describe, "")
            colour = "#c62828" if "released" in fate else "#555"
            cells += f"<td style='color:{colour}'>{html.escape(fate)}</td>"
        body.append(f"<tr>{cells}</tr>")
    return f"<table class='nookslab-tracker-table'><tr>{head}</tr>{''.join(body)}</table>"


class TrackerView(W.VBox):
    """The object tracker of one kernel: live tables, and the snapshot recovery emptied.

    Attributes
    ----------
    rows: {domain: [TrackerRow]} on show now. snapshots: tables taken at detection.
    """

    def __init__(self, kernel=None, snapshots=()):
        self.before = W.HTML()
        self.now = W.HTML()
        self.rows: dict = {}
        self.snapshots: list[TrackerSnapshot] = []
        super().__init__([self.before, self.now])
        self.add_class("nookslab-tracker")
        self.show(kernel, snapshots)

    def show(self, kernel, snapshots=()) -> None:
        self.snapshots = list(snapshots)
        if kernel is None:
            self.rows = {}
            self.before.value = ""
            self.now.value = "<i>no kernel to show yet: run a trial</i>"
            return
        if getattr(kernel, "isolation", None) is None:
            self.rows = {}
            self.before.value = ""
            self.now.value = (f"<i>{kernel.mode} configuration: there is no object tracker (Nooks "
                              f"is not in this kernel), so nothing records what a driver holds "
                              f"and nothing can be freed for it after a failure.</i>")
            return
        fates: dict[str, str] = {}
        for record in getattr(kernel, "recoveries", []):
            kept = set(getattr(record, "kept", []))
            for desc in kept:
                fates[desc] = "kept for the device until reload"
            for line in getattr(record, "released", []):
                desc, _, how = line.partition(" via ")
                if how:
                    fates[desc] = (f"kept for the device, released after reload via {how}"
                                   if desc in kept else f"released via {how}")
                else:
                    fates[desc.replace(" (forgotten)", "")] = "forgotten (freed with the domain)"
        parts = []
        for snap in self.snapshots:
            t = snap.time / kernel.clock.hz * 1e3
            released = sum(1 for r in snap.rows if r.describe in fates)
            parts.append(f"<b>domain {html.escape(snap.domain)} at detection</b> (t={t:.3f} ms, "
                         f"{html.escape(snap.trigger)}: {html.escape(snap.cause)}): "
                         f"{len(snap.rows)} tracked object(s), {released} released or kept by "
                         f"recovery" + _table(snap.rows, fates))
        self.before.value = "".join(parts)
        self.rows = all_tracker_rows(kernel)
        now = []
        for name, rows in self.rows.items():
            now.append(f"<b>domain {html.escape(name)} now</b>: {len(rows)} tracked object(s)"
                       + (_table(rows) if rows else ""))
        if not now:
            now.append("<i>no live protection domain</i>")
        self.now.value = "".join(now)

    def count(self, domain: str) -> int:
        """Objects tracked now in ``domain``."""
        return len(self.rows.get(domain, []))
