"""The simulated machine: RAM, page allocator, MMU, CPU, clock and the attached devices.

All simulated state lives in one :class:`Machine` (and the kernel built on it), passed explicitly:
two machines in one notebook never interfere (SimPy's rule for environments).
"""
from __future__ import annotations

from typing import Callable

from .clock import Clock
from .costs import CostModel
from .cpu import CPU
from .memory import PageAllocator, PhysicalMemory
from .mmu import MMU

DEFAULT_MEMORY = 16 << 20
DEFAULT_STEP_BUDGET = 20_000
MMIO_BASE = 0xF000_0000


class Machine:
    """A uniprocessor PC: ``memory`` bytes of RAM and a cost model.

    Parameters
    ----------
    memory: bytes of RAM (positive multiple of 4096; default 16 MiB).
    cost: the cycle costs (default: the paper's 1.7 GHz Pentium 4).
    step_budget: steps a driver entry may run before the watchdog fires.
    """

    def __init__(self, memory: int = DEFAULT_MEMORY, cost: CostModel | None = None,
                 step_budget: int = DEFAULT_STEP_BUDGET):
        self.cost = cost or CostModel()
        self.memory = PhysicalMemory(memory)
        self.pages = PageAllocator(self.memory)
        self.mmu = MMU(self.memory)
        self.clock = Clock(self.cost.cpu_hz)
        self.cpu = CPU(self.clock, self.mmu, step_budget)
        self.devices: dict[str, object] = {}
        self.irq_sink: Callable[[int], None] | None = None
        self._next_mmio = MMIO_BASE

    def attach(self, name: str, device) -> object:
        """Plug ``device`` in under ``name`` (once); it may map registers and raise IRQs."""
        if name not in self.devices:
            self.devices[name] = device
            if hasattr(device, "attach"):
                device.attach(self)
        return self.devices[name]

    def allocate_mmio(self, length: int) -> int:
        """Reserve a window of I/O address space for a device's registers."""
        base = self._next_mmio
        self._next_mmio += (length + 0xFFF) & ~0xFFF
        return base

    def raise_irq(self, line: int) -> None:
        """A device asserts interrupt line ``line``; the kernel's handler decides what runs."""
        if self.irq_sink is not None:
            self.irq_sink(line)
