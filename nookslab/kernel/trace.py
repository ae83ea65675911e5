"""The kernel's structured trace (``kernel.events``): what the widgets and the tests read.

Components append :class:`Event` records instead of printing. Each event has the simulated time,
a kind (``"load"``, ``"irq"``, ``"oops"``, ``"panic"``, ``"xpc"``, ``"recovery"``, ...), the domain
or subsystem it concerns, and a short stable description.
"""
from __future__ import annotations

from typing import NamedTuple


class Event(NamedTuple):
    """One trace record (immutable; a named tuple because a busy trial makes tens of thousands,
    one per XPC, and a tuple is the cheapest record Python builds)."""

    time: int              # simulated cycles since boot
    kind: str
    subject: str
    detail: str = ""

    def to_dict(self) -> dict:
        return self._asdict()

    def __str__(self) -> str:
        return f"{self.time:>12} {self.kind:<10} {self.subject:<10} {self.detail}"


#: ``new_event(Event, (time, kind, subject, detail))``: an Event without the keyword handling of
#: ``Event(...)``, for the hot paths that record one per crossing.
new_event = tuple.__new__


class Trace(list):
    """A list of events that knows the clock; ``trace.add(kind, subject, detail)``."""

    def __init__(self, clock):
        super().__init__()
        self._clock = clock
        self.enabled_kinds: set[str] | None = None     # None: record everything

    def add(self, kind: str, subject: str, detail: str = "") -> None:
        if self.enabled_kinds is None or kind in self.enabled_kinds:
            self.append(new_event(Event, (self._clock.now, kind, subject, detail)))

    def of(self, kind: str) -> list[Event]:
        return [e for e in self if e.kind == kind]
