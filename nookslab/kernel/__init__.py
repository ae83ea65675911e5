"""A small Linux-2.4-like kernel over the simulated machine."""
from .kernel import MODES, Kernel, available_modes, boot, describe
from .module import Module
from .panic import KernelBug, KernelPanic, ProcessKilled, Verdict
from .structs import Layout
from .trace import Event

__all__ = ["Event", "Kernel", "KernelBug", "KernelPanic", "Layout", "MODES", "Module",
           "ProcessKilled", "Verdict", "available_modes", "boot", "describe"]
