"""What the views show, read from a kernel's state, its ``events`` and result objects.

Plain functions and records, no ipywidgets: the widgets draw these, and the tests check them
without a browser. Nothing here simulates anything; it only reads what the simulation recorded.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from .memdata import (  # noqa: F401 - the memory map's data, kept importable from here
    DOMAIN_COLOURS, KERNEL_COLOURS, MARK_COLOUR, MARK_RING, OWNER_COLOURS, OWNER_NOTES,
    PERMISSION_COLOURS, FaultSite, MemoryPicture, crop, fault_sites, grid_shape, in_use,
    owner_class, owner_picture, page_info, page_tables, permission_picture, picture_pixels,
    png_bytes)


# -- XPC --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Crossing:
    """One XPC from ``kernel.events``: ``kind`` is ``"call"`` (kernel into the extension),
    ``"kernel"`` (the extension calls the kernel), ``"return"`` or ``"deferred"`` (a batch)."""

    index: int                   # position in kernel.events
    time: int
    domain: str
    function: str
    kind: str
    batch: int = 0               # calls in a deferred batch


_DEFERRED = re.compile(r"deferred x(\d+)")


def crossings(events) -> list[Crossing]:
    """The ``"xpc"`` events as :class:`Crossing` records, in order."""
    out = []
    for i, e in enumerate(events):
        if e.kind != "xpc":
            continue
        detail = e.detail.strip()
        batch = 0
        if detail.endswith("->"):
            kind, fn = "call", detail[:-2].strip()
        elif detail.startswith("<-"):
            fn = detail[2:].strip()
            m = _DEFERRED.fullmatch(fn)
            kind = "deferred" if m else "kernel"
            batch = int(m.group(1)) if m else 0
        elif detail.startswith("return") or detail.startswith("ret "):
            kind, fn = "return", detail.split(None, 1)[-1]
        else:
            kind, fn = "kernel", detail
        out.append(Crossing(i, e.time, e.subject, fn, kind, batch))
    return out


def crossing_counts(xs: list[Crossing]) -> list[tuple[str, str, int]]:
    """(function, kind, count) per interface function, most crossed first."""
    counts = Counter((c.function if c.kind != "deferred" else "deferred batch", c.kind)
                     for c in xs)
    return sorted(((f, k, n) for (f, k), n in counts.items()), key=lambda r: (-r[2], r[0], r[1]))


def call_path(xs: list[Crossing], start: int) -> list[Crossing]:
    """One call's path: crossing ``xs[start]`` (a call into an extension) and every crossing
    after it up to the next call into an extension of the same function (one packet's trip
    through start_xmit, say, with the kernel calls it made and the deferred batch)."""
    if not 0 <= start < len(xs):
        return []
    first = xs[start]
    path = [first]
    for c in xs[start + 1:]:
        if c.kind == "call" and c.function == first.function:
            break
        path.append(c)
        if len(path) >= 200:
            break
    return path


# -- object tracker --------------------------------------------------------------------------
@dataclass(frozen=True)
class TrackerRow:
    """One tracked object as the view lists it."""

    domain: str
    type: str
    addr: int
    copy: int
    owner: str
    kind: str                    # "object" | "registration" | "per-call"
    describe: str

    def cells(self) -> tuple[str, ...]:
        return (self.domain, self.type, f"{self.addr:#010x}",
                f"{self.copy:#010x}" if self.copy else "-", self.owner, self.kind)


def tracker_rows(domain) -> list[TrackerRow]:
    """The live table of ``domain``'s object tracker, oldest first."""
    rows = []
    for obj in reversed(domain.tracker.enumerate()):
        owner = obj.args.get("owner") if isinstance(obj.args, dict) else None
        kind = "registration" if obj.key else ("per-call" if obj.per_call else "object")
        rows.append(TrackerRow(domain.name, obj.type.name, obj.addr, obj.copy,
                               str(owner or domain.name), kind, obj.describe()))
    return rows


def all_tracker_rows(kernel) -> dict[str, list[TrackerRow]]:
    """Tracker tables of every live domain of ``kernel`` ({} without Nooks)."""
    isolation = getattr(kernel, "isolation", None)
    if isolation is None:
        return {}
    return {name: tracker_rows(d) for name, d in sorted(isolation.domains.items())}


@dataclass
class TrackerSnapshot:
    """The tracker table of a domain at one moment (taken when Nooks detects a failure)."""

    domain: str
    time: int
    trigger: str
    cause: str
    rows: list[TrackerRow] = field(default_factory=list)


# -- recovery -------------------------------------------------------------------------------
@dataclass(frozen=True)
class TimelineRow:
    """One line of the recovery timeline: simulated time, what happened, detail; ``number``
    counts the kernel's recoveries from 1."""

    time: int
    extension: str
    what: str
    detail: str
    number: int = 1


def _ending(record) -> str:
    """How a recovery ended: a disabled driver is disabled, not recovered and not failed."""
    if not getattr(record, "ok", False):
        return "recovery failed"
    return "disabled" if getattr(record, "policy", "") == "disable" else "recovered"


def recovery_timeline(kernel) -> list[TimelineRow]:
    """Detection and each recovery step, in order, from ``kernel.recoveries`` and the events."""
    rows: list[TimelineRow] = []
    for number, record in enumerate(getattr(kernel, "recoveries", []), 1):
        ext = getattr(record, "extension", "?")
        started = getattr(record, "started", 0)
        domain = getattr(record, "old_domain", "") or ext
        trigger = getattr(record, "trigger", "?")
        why = f"{trigger}: {getattr(record, 'cause', '')}"
        if trigger == "explicit":
            rows.append(TimelineRow(started, ext, "recovery requested",
                                    "recover() called: no failure was detected", number))
        else:
            # Detection is the layer's "fault" event for the domain (the recovery itself may
            # start later, when the user-mode agent runs).
            detected = [e.time for e in kernel.events if e.kind == "fault" and
                        e.subject == domain and "activated" not in e.detail and e.time <= started]
            rows.append(TimelineRow(detected[-1] if detected else started, ext, "detected", why,
                                    number))
            if detected and detected[-1] < started:
                rows.append(TimelineRow(started, ext, "recovery starts",
                                        "the user-mode agent runs", number))
        for step in getattr(record, "steps", []):
            rows.append(TimelineRow(getattr(step, "time", 0), ext, getattr(step, "name", str(step)),
                                    getattr(step, "detail", ""), number))
        rows.append(TimelineRow(getattr(record, "finished", 0), ext, _ending(record),
                                f"policy {getattr(record, 'policy', '?')}", number))
    return rows


def detection_time(kernel) -> int | None:
    """When Nooks first noticed a failure (the first ``fault`` event from the layer)."""
    for e in kernel.events:
        if e.kind in ("fault", "check") and "activated" not in e.detail:
            return e.time
    return None
