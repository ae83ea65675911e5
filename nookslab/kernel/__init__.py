"""A small Linux-2.4-like kernel over the simulated machine.

The kernel imports no layer above it (Nooks, drivers, workloads): boot a system with
:func:`nookslab.boot`, which composes them.
"""
from .kernel import Kernel, describe
from .module import Module
from .panic import KernelBug, KernelPanic, ProcessKilled, Verdict
from .structs import Layout
from .trace import Event

__all__ = ["Event", "Kernel", "KernelBug", "KernelPanic", "Layout", "Module", "ProcessKilled",
           "Verdict", "describe"]

#: Names that moved up when the kernel stopped composing the system (issue 15).
_MOVED = {"boot": "nookslab.boot", "MODES": "nookslab.MODES",
          "available_modes": "nookslab.system.available_modes"}


def __getattr__(name: str):
    if name in _MOVED:
        raise ImportError(f"nookslab.kernel.{name} moved to {_MOVED[name]}: the kernel no longer "
                     f"composes the system (Nooks, drivers and workloads are installed from "
                     f"above)")
    raise AttributeError(f"module 'nookslab.kernel' has no attribute {name!r}")
