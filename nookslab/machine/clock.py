"""Simulated time: a cycle counter and an event queue.

Time is counted in CPU cycles (integers, so runs are exact and repeatable). It moves two ways: the
CPU *charges* cycles for work it does (busy time), and the machine *idles* forward to the next
device event when there is nothing to do. Events sit in a heap keyed by (time, priority, sequence):
ties run in the order they were scheduled, as in SimPy.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from heapq import heappush
from typing import Callable


@dataclass(order=True)
class Timer:
    """One scheduled event; ``cancel()`` it to drop it without disturbing the heap."""

    time: int
    priority: int
    seq: int
    callback: Callable[[], None] = field(compare=False)
    label: str = field(default="", compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class Clock:
    """The machine's clock: ``now`` in cycles, busy cycles, and the event queue.

    Parameters
    ----------
    hz: cycles per simulated second (the paper's machine ran at 1.7 GHz).
    """

    def __init__(self, hz: int):
        self.hz = int(hz)
        self.now = 0
        self.busy = 0
        # heap entries are (time, priority, seq, timer) tuples: compared in C, not by Timer.__lt__
        self._queue: list[tuple] = []
        self._seq = 0

    def charge(self, cycles: int) -> None:
        """The CPU did ``cycles`` of work: time moves on and the CPU was busy for it."""
        self.now += cycles
        self.busy += cycles

    def seconds(self, cycles: int | None = None) -> float:
        return (self.now if cycles is None else cycles) / self.hz

    def cycles(self, seconds: float) -> int:
        return int(round(seconds * self.hz))

    def schedule_at(self, when: int, callback: Callable[[], None], priority: int = 0,
                    label: str = "") -> Timer:
        self._seq = seq = self._seq + 1
        when = int(when)
        if when < self.now:
            when = self.now
        timer = Timer(when, priority, seq, callback, label)
        heappush(self._queue, (when, priority, seq, timer))
        return timer

    def schedule(self, delay: int, callback: Callable[[], None], priority: int = 0,
                 label: str = "") -> Timer:
        """Run ``callback`` ``delay`` cycles from now."""
        return self.schedule_at(self.now + max(int(delay), 0), callback, priority, label)

    def next_time(self) -> int | None:
        """Time of the next live event, or None when the queue is empty."""
        queue = self._queue
        while queue and queue[0][3].cancelled:
            heapq.heappop(queue)
        return queue[0][0] if queue else None

    def pop_due(self) -> Timer | None:
        """Remove and return the next live event whose time has come, or None."""
        queue = self._queue
        while queue and (queue[0][3].cancelled or queue[0][0] <= self.now):
            timer = heapq.heappop(queue)[3]
            if not timer.cancelled:
                return timer
        return None

    def pop_next(self, deadline: int) -> Timer | None:
        """Remove the earliest live event due by ``deadline`` and move the clock to its time.

        Returns None, leaving the clock where it is, when no live event is due by then. This is
        the event loop's one call per event (``Kernel.run_until``).
        """
        queue = self._queue
        while queue and queue[0][3].cancelled:
            heapq.heappop(queue)
        if not queue or queue[0][0] > deadline:
            return None
        when, _, _, timer = heapq.heappop(queue)
        if when > self.now:
            self.now = when
        return timer

    def idle_to(self, when: int) -> None:
        """Nothing to do: jump forward to ``when`` without charging busy time."""
        if when > self.now:
            self.now = when

    def __len__(self) -> int:
        return sum(1 for entry in self._queue if not entry[3].cancelled)
