"""The simulated CPU: interrupt flag, execution context, and the step-counting watchdog.

Hangs are found by counting *steps* (loop back-edges in driver code, spins on a lock), never by a
wall-clock timer: when code entered from the kernel runs more steps than its budget without
returning, the CPU raises :class:`Watchdog`. Whether interrupts were on decides what that means: a
spin with interrupts off is a dead system (nothing can ever interrupt it); with interrupts on, a
timer interrupt could notice it (Nooks' livelock detection).
"""
from __future__ import annotations

from .clock import Clock
from .mmu import MMU


class Watchdog(Exception):
    """Code ran more steps than its budget without returning to the kernel."""

    def __init__(self, steps: int, irq_enabled: bool, where: str, reason: str = "no progress"):
        self.steps = steps
        self.irq_enabled = irq_enabled
        self.where = where
        self.reason = reason
        flag = "on" if irq_enabled else "off"
        super().__init__(f"{reason} in {where} after {steps} steps with interrupts {flag}")


class CPU:
    """One uniprocessor CPU, as on the paper's test machine.

    Attributes
    ----------
    irq_enabled: the interrupt-enable flag (``cli``/``sti``).
    in_interrupt: nesting depth of hard-interrupt and softirq context (0 = process context).
    steps: steps executed so far; ``step_limit`` is where the watchdog fires.
    """

    def __init__(self, clock: Clock, mmu: MMU, step_budget: int):
        self.clock = clock
        self.mmu = mmu
        self.irq_enabled = True
        self.in_interrupt = 0
        self.steps = 0
        self.step_budget = step_budget
        self.step_limit = 1 << 62

    def step(self) -> None:
        """One loop back-edge; raise :class:`Watchdog` when the budget is spent."""
        self.steps += 1
        if self.steps > self.step_limit:
            self._fire("no progress")

    def spin(self, reason: str) -> None:
        """Spin forever (a lock that will never be released on a uniprocessor)."""
        self.steps = max(self.steps, self.step_limit)
        self._fire(reason)

    def _fire(self, reason: str) -> None:
        where = self.mmu.domain
        self.step_limit = 1 << 62
        raise Watchdog(self.step_budget, self.irq_enabled, where, reason)

    def arm(self) -> int:
        """A top-level kernel entry (a system call, an interrupt): give it a fresh step budget.

        Returns the previous limit, for :meth:`disarm` when that entry returns. Interrupts nest:
        the interrupted code keeps its own budget, and the handler's steps count against it too.
        """
        saved = self.step_limit
        self.step_limit = self.steps + self.step_budget
        return saved

    def disarm(self, saved: int) -> None:
        self.step_limit = saved

    @property
    def in_process_context(self) -> bool:
        return self.in_interrupt == 0
