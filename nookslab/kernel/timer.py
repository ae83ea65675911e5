"""Kernel timers: ``struct timer_list`` objects on a list kept in simulated memory.

As in Linux 2.4, the timer list is a doubly linked list threaded through the drivers' own
``timer_list`` structs, and the timer softirq walks it every jiffy. A driver that frees a pending
timer, or scribbles on one, corrupts the kernel's list: the walk then trips over a bad magic
number or a wild pointer, in interrupt context, and the system panics.
"""
from __future__ import annotations

from typing import Callable

from ..machine.mmu import CpuFault
from .panic import KernelBug
from .structs import Layout
from .symbols import callback, export, obj, scalar

HZ = 100                           # Linux 2.4 on x86
TIMER_MAGIC = 0x4B87AD6E           # Linux's TIMER_MAGIC

TIMER_LIST = Layout("timer_list", [("next", "ptr"), ("prev", "ptr"), ("expires", "u32"),
                                   ("data", "u32"), ("function", "ptr"), ("magic", "u32")])


class TimerSubsystem:
    def __init__(self, kernel):
        self.k = kernel
        self.mmu = kernel.mmu
        self.cycles_per_jiffy = kernel.clock.hz // HZ
        head = kernel.heap.kmalloc(TIMER_LIST.size, "kernel")
        self.head = head
        self._link(head, head, head)
        self.mmu.st32(head + TIMER_LIST.magic, TIMER_MAGIC)
        self.owners: dict[int, str] = {}
        self._tick = None
        self.fired = 0

    # -- exported -----------------------------------------------------------------------------
    @export(obj("timer", "timer_list", "out"))
    def init_timer(self, timer: int) -> None:
        """Initialise a timer_list (not pending)."""
        self.mmu.st32(timer + TIMER_LIST.next, 0)
        self.mmu.st32(timer + TIMER_LIST.prev, 0)
        self.mmu.st32(timer + TIMER_LIST.magic, TIMER_MAGIC)

    @export(obj("timer", "timer_list", "out"), callback("function"), scalar("data"))
    def setup_timer(self, timer: int, function: Callable, data: int) -> None:
        """``init_timer`` and set the function and its argument."""
        self.init_timer(timer)
        self.mmu.st32(timer + TIMER_LIST.function, self.k.text.address_of(function))
        self.mmu.st32(timer + TIMER_LIST.data, data)

    @export(obj("timer", "timer_list", "inout"), owned=True)
    def add_timer(self, timer: int, owner: str = "kernel") -> None:
        """Start a timer; it must not be pending already (BUG in Linux)."""
        self._check(timer)
        if self.mmu.ld32(timer + TIMER_LIST.next):
            raise KernelBug(f"kernel timer added twice at {timer:#010x}")
        tail = self.mmu.ld32(self.head + TIMER_LIST.prev)
        self._link(timer, self.head, tail)
        self.mmu.st32(tail + TIMER_LIST.next, timer)
        self.mmu.st32(self.head + TIMER_LIST.prev, timer)
        self.owners[timer] = owner
        self._ensure_tick()

    @export(obj("timer", "timer_list", "inout"), scalar("expires"), returns=scalar("was_pending"),
            owned=True)
    def mod_timer(self, timer: int, expires: int, owner: str = "kernel") -> int:
        """Change a timer's expiry and (re)start it; 1 if it was pending."""
        was = self.del_timer(timer)
        self.mmu.st32(timer + TIMER_LIST.expires, expires)
        self.add_timer(timer, owner)
        return was

    @export(obj("timer", "timer_list", "inout"), returns=scalar("was_pending"))
    def del_timer(self, timer: int) -> int:
        """Stop a timer; 1 if it was pending."""
        self._check(timer)
        nxt = self.mmu.ld32(timer + TIMER_LIST.next)
        if not nxt:
            return 0
        prev = self.mmu.ld32(timer + TIMER_LIST.prev)
        self.mmu.st32(prev + TIMER_LIST.next, nxt)
        self.mmu.st32(nxt + TIMER_LIST.prev, prev)
        self._link(timer, 0, 0)
        self.owners.pop(timer, None)
        return 1

    @export(returns=scalar("jiffies"), xpc=False)
    def jiffies(self) -> int:
        """Ticks since boot (read-only kernel data: linked straight into a domain)."""
        return self.k.clock.now // self.cycles_per_jiffy

    # -- the timer softirq ----------------------------------------------------------------------
    def run_timers(self) -> None:
        now = self.jiffies()
        due = []
        node = self.mmu.ld32(self.head + TIMER_LIST.next)
        while node != self.head:
            self.k.cpu.step()
            self._check(node)
            if self.mmu.ld32(node + TIMER_LIST.expires) <= now:
                due.append(node)
            node = self.mmu.ld32(node + TIMER_LIST.next)
        for timer in due:
            if not self.mmu.ld32(timer + TIMER_LIST.next):
                continue                       # deleted by an earlier handler
            self.del_timer(timer)
            fn = self.k.text.lookup(self.mmu.ld32(timer + TIMER_LIST.function))
            self.fired += 1
            fn(self.mmu.ld32(timer + TIMER_LIST.data))

    def tick(self, irq: int, dev_id: int) -> None:
        """The timer interrupt handler (IRQ 0)."""
        self._tick = None
        self.run_timers()
        self._ensure_tick()

    def _ensure_tick(self) -> None:
        if self._tick is None and self.mmu.ld32(self.head + TIMER_LIST.next) != self.head:
            nxt = (self.k.clock.now // self.cycles_per_jiffy + 1) * self.cycles_per_jiffy
            self._tick = self.k.clock.schedule_at(
                nxt, lambda: self.k.machine.raise_irq(0), label="timer tick")

    def _link(self, node: int, nxt: int, prev: int) -> None:
        self.mmu.st32(node + TIMER_LIST.next, nxt)
        self.mmu.st32(node + TIMER_LIST.prev, prev)

    def _check(self, timer: int) -> None:
        if self.mmu.ld32(timer + TIMER_LIST.magic) != TIMER_MAGIC:
            raise KernelBug(f"timer_list at {timer:#010x}: bad magic (uninitialised or corrupted)")

    def check(self) -> None:
        """Walk the whole list (integrity sweep)."""
        node = self.mmu.ld32(self.head + TIMER_LIST.next)
        seen = 0
        while node != self.head:
            self._check(node)
            seen += 1
            if seen > 100_000:
                raise KernelBug("timer list is circular without its head")
            node = self.mmu.ld32(node + TIMER_LIST.next)

    def reaching(self, addr: int, size: int) -> list[str]:
        """Pending timers whose ``timer_list`` lies in ``[addr, addr + size)``: found by walking
        the list in memory (a corrupted list ends the walk; the timer interrupt will judge it)."""
        found = []
        ld32, head, end, ram = self.mmu.ld32, self.head, addr + size, self.mmu.size
        try:
            node = ld32(head + TIMER_LIST.next)
            for _ in range(100_000):
                if node == head or not 0 < node < ram or ld32(node + TIMER_LIST.magic) \
                        != TIMER_MAGIC:
                    break                      # end, or a node no timer could be (no MMIO)
                if addr <= node < end:
                    found.append(f"pending timer at {node:#010x}")
                node = ld32(node + TIMER_LIST.next)
        except CpuFault:
            pass
        return found

    def held_by(self, owner: str) -> list[str]:
        return [f"timer at {t:#010x}" for t, o in sorted(self.owners.items()) if o == owner]
