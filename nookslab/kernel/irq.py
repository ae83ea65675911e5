"""Interrupt lines: ``request_irq``/``free_irq`` and the dispatch of hardware interrupts.

As in Linux 2.4 (arch/i386/kernel/irq.c), each line has an ``irq_desc_t`` in kernel memory whose
``action`` field heads a chain of ``struct irqaction`` (one per handler on the line, linked
through ``next``), each kmalloc'd by ``request_irq``; ``depth`` counts ``disable_irq`` nesting.
The dispatcher walks the chain through the MMU and calls each handler through its function
pointer, so a wild store into an irqaction or a descriptor really breaks the next interrupt on
that line: a bad handler pointer or link faults (in interrupt context: a panic), a link looped
back on itself spins with interrupts off (a hang).

A device asserts a line; if the CPU's interrupt flag is set and the line is enabled, the handler
runs at once in interrupt context, else the interrupt stays pending until ``sti``. An exception in
an interrupt handler is fatal in Linux 2.4 ("Aiee, killing interrupt handler"): the oops path
panics whenever ``cpu.in_interrupt`` is non-zero.

The kernel's livelock watchdog lives here too (:meth:`IrqSubsystem.account`): it counts the
interrupts and device events taken per jiffy of simulated time.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import errno
from .panic import KernelBug
from .structs import Layout
from .symbols import callback, data, export, scalar

SA_SHIRQ = 0x04000000
TIMER_IRQ = 0
NR_IRQS = 32
#: The interrupt-storm detector's limit: interrupts plus device events the kernel takes within
#: one jiffy (10 ms) of simulated time. A healthy workload takes at most ~600 (~60,000/s); a
#: faulty driver that leaves its device interrupting (or re-arming itself) without end takes
#: them with no time left for anything else: on a real machine an unresponsive system, which
#: Linux's soft-lockup detector reports (BUG: soft lockup). Counted, never timed.
STORM_LIMIT = 4_000
STORM_WINDOW_HZ = 100
#: The lockup detector's whole-run step cap (``IrqSubsystem.step_cap``): off by default; a
#: fault-injection trial sets one (nookslab.faults.trial.TRIAL_STEP_CAP), as an administrator
#: sets the soft-lockup threshold, so a livelock spread over many short kernel entries ends too.
NO_STEP_CAP = 1 << 62

#: ``irq_desc_t`` (the fields we keep), one per line, in an array in kernel memory.
IRQ_DESC = Layout("irq_desc_t", [("status", "u32"), ("action", "ptr"), ("depth", "u32"),
                                 ("spare", "u32")])
#: ``struct irqaction``; Linux's ``name`` is a pointer to the driver's string, ours the bytes.
IRQACTION = Layout("irqaction", [("handler", "ptr"), ("flags", "u32"), ("mask", "u32"),
                                 ("name", 16), ("dev_id", "u32"), ("next", "ptr")])
_CHAIN_LIMIT = 64          # more handlers than any line has: the sweep calls the chain looped


@dataclass
class IrqAction:
    """One ``struct irqaction`` as memory holds it (what :attr:`IrqSubsystem.actions` shows)."""

    addr: int
    handler: Callable | None
    flags: int
    name: str
    dev_id: int
    owner: str


class IrqSubsystem:
    def __init__(self, kernel):
        self.k = kernel
        self.cpu = kernel.cpu
        self.kv = kernel.heap.kv                   # kernel code: the kernel's page table
        self.desc = kernel.heap.kmalloc(NR_IRQS * IRQ_DESC.size, "kernel")
        kernel.mmu.fill(self.desc, 0, NR_IRQS * IRQ_DESC.size)
        self.pending: list[int] = []
        self.counts: dict[int, int] = {}
        self.spurious = 0
        self.window = max(kernel.clock.hz // STORM_WINDOW_HZ, 1)
        self.window_end = 0
        self.window_taken = 0
        self.window_lines: dict[int, int] = {}
        self.storm_limit = STORM_LIMIT
        self.step_cap = NO_STEP_CAP
        self.owners: dict[int, str] = {}      # irqaction -> who requested it (for held_by)

    def _desc(self, irq: int) -> int:
        # irq_desc + irq, unchecked as in C: a wild line number makes a wild address
        return (self.desc + irq * IRQ_DESC.size) & 0xFFFFFFFF

    @export(scalar("irq"), callback("handler"), scalar("flags"), data("name"), scalar("dev_id"),
            returns=scalar("ret"), owned=True)
    def request_irq(self, irq: int, handler: Callable, flags: int, name: str, dev_id: int,
                    owner: str = "kernel") -> int:
        """Install ``handler`` on line ``irq``; 0 or ``-EBUSY``/``-EINVAL``/``-ENOMEM``."""
        if not 0 <= irq < NR_IRQS or handler is None:
            return -errno.EINVAL
        ld, st = self.kv.ld32, self.kv.st32
        link = self._desc(irq) + IRQ_DESC.action          # setup_irq
        first = ld(link)
        if first and not ld(first + IRQACTION.flags) & flags & SA_SHIRQ:
            return -errno.EBUSY                           # only shared handlers share a line
        while (p := ld(link)):                            # the new one goes at the chain's end
            self.cpu.step()
            link = p + IRQACTION.next
        action = self.k.heap.kmalloc(IRQACTION.size, "kernel")
        if not action:
            return -errno.ENOMEM
        self.owners[action] = owner
        self.kv.write(action + IRQACTION.name, str(name).encode()[:15].ljust(16, b"\0"))
        st(action + IRQACTION.handler, self.k.text.address_of(handler))
        st(action + IRQACTION.flags, flags)
        st(action + IRQACTION.mask, 0)
        st(action + IRQACTION.dev_id, dev_id)
        st(action + IRQACTION.next, 0)
        st(link, action)
        self.k.events.add("irq", owner, f"request_irq {irq} ({name})")
        return 0

    @export(scalar("irq"), scalar("dev_id"), owned=True)
    def free_irq(self, irq: int, dev_id: int, owner: str = "kernel") -> None:
        """Remove the handler registered on ``irq`` with ``dev_id``."""
        if 0 <= irq < NR_IRQS:
            ld, st = self.kv.ld32, self.kv.st32
            link = self._desc(irq) + IRQ_DESC.action
            while (p := ld(link)):
                self.cpu.step()
                if ld(p + IRQACTION.dev_id) == int(dev_id) & 0xFFFFFFFF:
                    st(link, ld(p + IRQACTION.next))      # unlink, then kfree(action)
                    self.owners.pop(p, None)
                    self.k.heap.kfree(p)
                    self.k.events.add("irq", owner, f"free_irq {irq}")
                    return
                link = p + IRQACTION.next
        # Linux prints this warning and carries on.
        self.k.events.add("warning", owner, f"Trying to free free IRQ{irq}")

    @export(scalar("irq"))
    def disable_irq(self, irq: int) -> None:
        """Mask line ``irq`` (nesting)."""
        depth = self._desc(irq) + IRQ_DESC.depth
        self.kv.st32(depth, self.kv.ld32(depth) + 1)

    @export(scalar("irq"))
    def enable_irq(self, irq: int) -> None:
        """Unmask line ``irq``."""
        depth = self._desc(irq) + IRQ_DESC.depth
        n = self.kv.ld32(depth)
        self.kv.st32(depth, n - 1 if n else 0)
        if n <= 1:
            self.deliver_pending()

    # -- what memory says -------------------------------------------------------------------
    def chain(self, irq: int) -> list[int]:
        """The irqaction addresses on line ``irq``, walking memory (at most a bounded few)."""
        out = []
        p = self.kv.ld32(self._desc(irq) + IRQ_DESC.action)
        while p and len(out) < _CHAIN_LIMIT:
            out.append(p)
            p = self.kv.ld32(p + IRQACTION.next)
        return out

    @property
    def actions(self) -> dict[int, list[IrqAction]]:
        """Every line's handlers, as memory holds them now (lines without one left out)."""
        out = {}
        for irq in range(NR_IRQS):
            chain = self.chain(irq)
            if chain:
                out[irq] = [self._action(p) for p in chain]
        return out

    @property
    def disabled(self) -> dict[int, int]:
        """Masked lines and their ``disable_irq`` depth, as memory holds them."""
        out = {}
        for irq in range(NR_IRQS):
            depth = self.kv.ld32(self._desc(irq) + IRQ_DESC.depth)
            if depth:
                out[irq] = depth
        return out

    def _action(self, p: int) -> IrqAction:
        kv = self.kv
        try:
            handler = self.k.text.lookup(kv.ld32(p + IRQACTION.handler))
        except Exception:                                  # noqa: BLE001 - a wild pointer
            handler = None
        return IrqAction(p, handler, kv.ld32(p + IRQACTION.flags),
                         kv.read(p + IRQACTION.name, 16).split(b"\0")[0].decode("latin-1"),
                         kv.ld32(p + IRQACTION.dev_id), self.owners.get(p, "?"))

    # -- the livelock watchdog --------------------------------------------------------------
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
        if self.cpu.steps > self.step_cap:
            raise self.k.hang(f"livelock: no end after {self.cpu.steps} steps in all "
                              f"({self.k.now * 1e3:.3f} simulated ms; the lockup detector's "
                              f"cap is {self.step_cap})")
        if self.window_taken > self.storm_limit:
            lines = ", ".join(f"irq {i}: {n}" for i, n in sorted(self.window_lines.items()))
            raise self.k.hang(f"livelock: {self.window_taken} interrupts and device events "
                              f"within one jiffy, nothing else can run (interrupt storm; "
                              f"{lines or 'no interrupts: device events'})")

    # -- hardware side ----------------------------------------------------------------------
    def raise_line(self, irq: int) -> None:
        """A device asserts ``irq`` (called from device events)."""
        if irq not in self.pending:
            self.pending.append(irq)
        self.deliver_pending()

    def deliver_pending(self) -> None:
        """Run pending interrupts now if the CPU may take them (flag on, not in a handler)."""
        cpu = self.cpu
        ld = self.kv.ld32
        while self.pending and cpu.irq_enabled and cpu.in_interrupt == 0 \
                and self.k.verdict is None:
            ready = [i for i in self.pending if not ld(self._desc(i) + IRQ_DESC.depth)]
            if not ready:
                return
            irq = min(ready)          # lower line, higher priority (the 8259's fixed order)
            self.pending.remove(irq)
            self.dispatch(irq)

    def dispatch(self, irq: int) -> None:
        """``do_IRQ``: walk the line's irqaction chain, calling each handler (handle_IRQ_event)."""
        self.account(irq)
        self.counts[irq] = self.counts.get(irq, 0) + 1
        k = self.k
        ld = self.kv.ld32
        action = ld(self._desc(irq) + IRQ_DESC.action)
        if not action:
            self.spurious += 1
            return
        cpu = self.cpu
        cpu.in_interrupt += 1
        saved_flag = cpu.irq_enabled
        cpu.irq_enabled = False
        saved_limit = cpu.arm()
        k.charge(k.cost.irq_entry)
        mmu = k.mmu
        # Nooks hook: an interrupt taken inside a protection domain runs on the kernel's table.
        saved_pt = mmu.switch(mmu.kernel_pt) if mmu.page_table is not mmu.kernel_pt else None
        lookup = k.text.lookup
        try:
            while action:                       # do { ... action = action->next; } while
                cpu.step()
                lookup(ld(action + IRQACTION.handler))(irq, ld(action + IRQACTION.dev_id))
                action = ld(action + IRQACTION.next)
        except Exception as exc:                       # noqa: BLE001 - the oops path
            k.oops(exc, f"irq {irq}")
        finally:
            if saved_pt is not None:
                mmu.switch(saved_pt)
            cpu.disarm(saved_limit)
            cpu.in_interrupt -= 1
            cpu.irq_enabled = saved_flag

    # -- integrity ----------------------------------------------------------------------------
    def check(self) -> None:
        """Walk every line's chain (integrity sweep): each irqaction a live kernel object with a
        handler in kernel text, the chain ending."""
        heap, text = self.k.heap, self.k.text
        for irq in range(NR_IRQS):
            chain = self.chain(irq)
            if len(chain) >= _CHAIN_LIMIT:
                raise KernelBug(f"irq {irq}: irqaction chain does not end (looped)")
            for p in chain:
                if heap.object_at(p) is None or heap.object_at(p)[0] != p:
                    raise KernelBug(f"irq {irq}: irqaction at {p:#010x} is not a live object")
                text.lookup(self.kv.ld32(p + IRQACTION.handler))

    def held_by(self, owner: str) -> list[str]:
        return [f"irq {irq} ({a.name})" for irq, acts in sorted(self.actions.items())
                for a in acts if a.owner == owner]
