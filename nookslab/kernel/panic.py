"""Oops, panic and the kernel's verdicts (Linux 2.4 semantics, SOSP'03 section 5.2).

An exception in interrupt context, a fault while ``do_exit`` cleans up after an oops (the kernel's
own allocator broken), or a hang ends the simulated system with a :class:`Verdict`; any exception
in process context, a failed ``BUG()`` check (:class:`KernelBug`) included, kills only the
calling process (:class:`ProcessKilled`), as ``die()`` does. The kernel decides these in
``Kernel.oops``. They unwind Python's stack as ``BaseException`` subclasses so no driver code can
swallow them.
"""
from __future__ import annotations

import os
import types
from dataclasses import asdict, dataclass

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


@dataclass(frozen=True)
class Verdict:
    """Why the simulated system died: ``kind`` is ``"panic"`` or ``"hang"``; or, never something
    the simulated kernel met, ``"limit"`` when the run hit a bound of the simulator itself (host
    memory) and ``"error"`` when the simulator's own code failed (:func:`simulator_bug`)."""

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


def simulator_bug(exc: BaseException) -> bool:
    """Whether ``exc`` can only be a bug of the simulator's own code, not anything a driver did.

    A ``NameError``, or an ``AttributeError`` on a module the code imported itself (not one handed
    to it), raised in the package's own code (a loaded driver's frames are ``<driver NAME>``): no
    value a driver corrupts or passes can cause either, and C kernel code has no such failure. It
    ends the run with ``Verdict(kind="error")``, counted apart from every figure, never as an oops.
    """
    if not isinstance(exc, (NameError, AttributeError)):
        return False
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    frame = tb.tb_frame
    if not frame.f_code.co_filename.startswith(_PACKAGE):
        return False
    if isinstance(exc, NameError):
        return True
    obj = getattr(exc, "obj", None)
    if not isinstance(obj, types.ModuleType):
        return False
    code, local = frame.f_code, frame.f_locals
    names = code.co_varnames + code.co_cellvars + code.co_freevars   # arguments and locals
    return not any(local.get(name) is obj for name in names)
