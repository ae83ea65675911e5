"""The cost model: how many cycles each kind of work charges to the simulated CPU.

Every constant is named and sourced. The paper's machine is the default: a 1.7 GHz Pentium 4
(SOSP'03 section 5). Native costs are estimates of Linux 2.4 paths of that era (the paper gives
none); the Nooks costs are split into the parts the paper names (section 4.3 and figure 8).
The performance issue calibrates and extends this module; here it holds what the kernel charges.
"""
from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class CostModel:
    """Cycle costs charged by the simulated machine. Frozen: use :meth:`but` for what-ifs."""

    # The paper's test machine: Dell, 1.7 GHz Pentium 4 (SOSP'03 section 5).
    cpu_hz: int = 1_700_000_000
    # Entering and leaving the kernel from user mode (int 0x80 path): estimate for a P4.
    syscall: int = 700
    # Taking and returning from a hardware interrupt, including the handler dispatch: estimate.
    irq_entry: int = 1_500
    # One kernel function call made by a driver (kmalloc, skb_put, ...): estimate.
    kernel_call: int = 60
    # A loop back-edge in driver code: a handful of instructions.
    step: int = 12
    # Copying memory: about 1 cycle per byte for cached memcpy on a P4 (estimate).
    copy_per_byte_milli: int = 1_000
    # Running one timer callback from the timer softirq: estimate.
    timer: int = 400

    def but(self, **changes) -> "CostModel":
        """A copy of this model with some constants changed (for what-if questions)."""
        return replace(self, **changes)

    def copy_cost(self, nbytes: int) -> int:
        return nbytes * self.copy_per_byte_milli // 1000
