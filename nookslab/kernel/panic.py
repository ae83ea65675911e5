"""Oops, panic and the kernel's verdicts (Linux 2.4 semantics, SOSP'03 section 5.2).

An exception in interrupt context, a fault while ``do_exit`` cleans up after an oops (the kernel's
own allocator broken), or a hang ends the simulated system with a :class:`Verdict`; any exception
in process context, a failed ``BUG()`` check (:class:`KernelBug`) included, kills only the
calling process (:class:`ProcessKilled`), as ``die()`` does. The kernel decides these in
``Kernel.oops``. They unwind Python's stack as ``BaseException`` subclasses so no driver code can
swallow them.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Verdict:
    """Why the simulated system died: ``kind`` is ``"panic"`` or ``"hang"``, or ``"limit"`` when
    the run hit a bound of the simulator itself (host memory), not a fault of the simulated one."""

    kind: str
    cause: str
    time: int = 0           # simulated cycles since boot

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.kind}: {self.cause}"


class KernelBug(Exception):
    """A kernel integrity check failed (BUG(): poisoned heap, bad magic, corrupted list): an
    oops like any other, with the oops rules."""


class KernelPanic(BaseException):
    """Unwinds the whole simulated system once it has a verdict."""

    def __init__(self, verdict: Verdict):
        self.verdict = verdict
        super().__init__(str(verdict))


class ProcessKilled(BaseException):
    """Unwinds the current process after an oops in process context (do_exit)."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


class SystemDead(Exception):
    """Raised to a user who asks a dead kernel to do something."""
