"""Interrupt lines: ``request_irq``/``free_irq`` and the dispatch of hardware interrupts.

A device asserts a line; if the CPU's interrupt flag is set and the line is enabled, the handler
runs at once in interrupt context, else the interrupt stays pending until ``sti``. An exception in
an interrupt handler is fatal in Linux 2.4 ("Aiee, killing interrupt handler"): the oops path
panics whenever ``cpu.in_interrupt`` is non-zero.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import errno
from .symbols import callback, data, export, scalar

SA_SHIRQ = 0x04000000
TIMER_IRQ = 0
#: The interrupt-storm detector's limit: interrupts plus device events the kernel takes within
#: one jiffy (10 ms) of simulated time. A healthy workload takes at most ~600 (~60,000/s); a
#: faulty driver that leaves its device interrupting (or re-arming itself) without end takes
#: them with no time left for anything else: on a real machine an unresponsive system, which
#: Linux's soft-lockup detector reports (BUG: soft lockup). Counted, never timed.
STORM_LIMIT = 4_000
STORM_WINDOW_HZ = 100


@dataclass
class IrqAction:
    """``struct irqaction``: one handler on a line."""

    handler: Callable
    flags: int
    name: str
    dev_id: int
    owner: str


class IrqSubsystem:
    def __init__(self, kernel):
        self.k = kernel
        self.cpu = kernel.cpu
        self.actions: dict[int, list[IrqAction]] = {}
        self.pending: list[int] = []
        self.disabled: dict[int, int] = {}
        self.counts: dict[int, int] = {}
        self.spurious = 0
        self.window = max(kernel.clock.hz // STORM_WINDOW_HZ, 1)
        self.window_end = 0
        self.window_taken = 0
        self.window_lines: dict[int, int] = {}
        self.storm_limit = STORM_LIMIT

    @export(scalar("irq"), callback("handler"), scalar("flags"), data("name"), scalar("dev_id"),
            returns=scalar("ret"), owned=True)
    def request_irq(self, irq: int, handler: Callable, flags: int, name: str, dev_id: int,
                    owner: str = "kernel") -> int:
        """Install ``handler`` on line ``irq``; 0 or ``-EBUSY``/``-EINVAL``."""
        if not 0 <= irq < 32 or handler is None:
            return -errno.EINVAL
        actions = self.actions.setdefault(irq, [])
        if actions and not (flags & SA_SHIRQ and all(a.flags & SA_SHIRQ for a in actions)):
            return -errno.EBUSY
        actions.append(IrqAction(handler, flags, str(name), dev_id, owner))
        self.k.events.add("irq", owner, f"request_irq {irq} ({name})")
        return 0

    @export(scalar("irq"), scalar("dev_id"), owned=True)
    def free_irq(self, irq: int, dev_id: int, owner: str = "kernel") -> None:
        """Remove the handler registered on ``irq`` with ``dev_id``."""
        actions = self.actions.get(irq, [])
        for action in actions:
            if action.dev_id == dev_id:
                actions.remove(action)
                self.k.events.add("irq", owner, f"free_irq {irq}")
                return
        # Linux prints this warning and carries on.
        self.k.events.add("warning", owner, f"Trying to free free IRQ{irq}")

    @export(scalar("irq"))
    def disable_irq(self, irq: int) -> None:
        """Mask line ``irq`` (nesting)."""
        self.disabled[irq] = self.disabled.get(irq, 0) + 1

    @export(scalar("irq"))
    def enable_irq(self, irq: int) -> None:
        """Unmask line ``irq``."""
        depth = self.disabled.get(irq, 0) - 1
        if depth <= 0:
            self.disabled.pop(irq, None)
            self.deliver_pending()
        else:
            self.disabled[irq] = depth

    # -- hardware side ----------------------------------------------------------------------
    def raise_line(self, irq: int) -> None:
        """A device asserts ``irq`` (called from device events)."""
        if irq not in self.pending:
            self.pending.append(irq)
        self.deliver_pending()

    def deliver_pending(self) -> None:
        """Run pending interrupts now if the CPU may take them (flag on, not in a handler)."""
        cpu = self.cpu
        while self.pending and cpu.irq_enabled and cpu.in_interrupt == 0 \
                and self.k.verdict is None:
            ready = [i for i in self.pending if i not in self.disabled]
            if not ready:
                return
            irq = min(ready)          # lower line, higher priority (the 8259's fixed order)
            self.pending.remove(irq)
            self.dispatch(irq)

    def account(self, irq: int | None = None) -> None:
        """The livelock (interrupt-storm) detector: count one interrupt (on line ``irq``) or
        device event in the current jiffy of simulated time; past :data:`STORM_LIMIT` the
        system is hung."""
        now = self.k.clock.now
        if now >= self.window_end:
            self.window_end = now - now % self.window + self.window
            self.window_taken = 0
            self.window_lines.clear()
        self.window_taken += 1
        if irq is not None:
            self.window_lines[irq] = self.window_lines.get(irq, 0) + 1
        if self.window_taken > self.storm_limit:
            lines = ", ".join(f"irq {i}: {n}" for i, n in sorted(self.window_lines.items()))
            raise self.k.hang(f"livelock: {self.window_taken} interrupts and device events "
                              f"within one jiffy, nothing else can run (interrupt storm; "
                              f"{lines or 'no interrupts: device events'})")

    def dispatch(self, irq: int) -> None:
        self.account(irq)
        actions = self.actions.get(irq)
        self.counts[irq] = self.counts.get(irq, 0) + 1
        if not actions:
            self.spurious += 1
            return
        k = self.k
        cpu = self.cpu
        cpu.in_interrupt += 1
        saved_flag = cpu.irq_enabled
        cpu.irq_enabled = False
        saved_limit = cpu.arm()
        k.charge(k.cost.irq_entry)
        mmu = k.mmu
        # Nooks hook: an interrupt taken inside a protection domain runs on the kernel's table.
        saved_pt = mmu.switch(mmu.kernel_pt) if mmu.page_table is not mmu.kernel_pt else None
        try:
            for action in list(actions):
                action.handler(irq, action.dev_id)
        except Exception as exc:                       # noqa: BLE001 - the oops path
            k.oops(exc, f"irq {irq}")
        finally:
            if saved_pt is not None:
                mmu.switch(saved_pt)
            cpu.disarm(saved_limit)
            cpu.in_interrupt -= 1
            cpu.irq_enabled = saved_flag

    def held_by(self, owner: str) -> list[str]:
        return [f"irq {irq} ({a.name})" for irq, acts in sorted(self.actions.items())
                for a in acts if a.owner == owner]
