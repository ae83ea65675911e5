"""Spinlocks and wait queues, in simulated memory.

The simulated machine has one CPU and its kernel is built the way Nooks' was: for a uniprocessor
(SOSP'03 ran Linux 2.4.18 on one Pentium 4; Nooks' current-task hack works only on a
uniprocessor). In such a build Linux 2.4 compiles ``spin_lock``/``spin_unlock`` to nothing
(include/linux/spinlock.h without CONFIG_SMP): the lock word is kept here only for the debug magic
check and for the trace. What a lock does on one CPU is the interrupt flag: ``spin_lock_irqsave``
turns interrupts off and ``spin_unlock_irqrestore`` turns them back on. So a dropped unlock does
not spin on the lock; it leaves interrupts off, and the machine dies only if code then waits for
an interrupt with the flag clear (a polling loop, a handler that never returns): the deadlocks
with interrupts off of the paper's four residual Nooks crashes, found by the CPU's watchdog.
Returning to user mode turns interrupts on again, as ``iret`` does.
"""
from __future__ import annotations

from .panic import KernelBug
from .structs import Layout
from .symbols import export, obj, scalar

SPINLOCK_MAGIC = 0xDEAD4EAD        # Linux's SPINLOCK_MAGIC (CONFIG_DEBUG_SPINLOCK)
WAITQUEUE_MAGIC = 0x57515545

SPINLOCK = Layout("spinlock_t", [("lock", "u32"), ("magic", "u32")])
WAIT_QUEUE_HEAD = Layout("wait_queue_head_t", [("woken", "u32"), ("magic", "u32")])


class SyncSubsystem:
    def __init__(self, kernel):
        self.k = kernel
        self.cpu = kernel.cpu
        self.mmu = kernel.mmu

    @export(obj("lock", "spinlock_t", "out"), xpc=False)
    def spin_lock_init(self, lock: int) -> None:
        """Initialise a spinlock (unlocked)."""
        self.mmu.st32(lock + SPINLOCK.lock, 0)
        self.mmu.st32(lock + SPINLOCK.magic, SPINLOCK_MAGIC)

    @export(obj("lock", "spinlock_t", "inout"), returns=scalar("flags"), xpc=False)
    def spin_lock_irqsave(self, lock: int) -> int:
        """Disable interrupts, take the lock, and return the saved interrupt flag."""
        flags = 1 if self.cpu.irq_enabled else 0
        self.cpu.irq_enabled = False
        self._take(lock)
        return flags

    @export(obj("lock", "spinlock_t", "inout"), scalar("flags"), xpc=False)
    def spin_unlock_irqrestore(self, lock: int, flags: int) -> None:
        """Release the lock and restore the interrupt flag saved by spin_lock_irqsave."""
        self._release(lock)
        if flags:
            self.local_irq_enable()

    @export(obj("lock", "spinlock_t", "inout"), xpc=False)
    def spin_lock(self, lock: int) -> None:
        """Take the lock (interrupts unchanged)."""
        self._take(lock)

    @export(obj("lock", "spinlock_t", "inout"), xpc=False)
    def spin_unlock(self, lock: int) -> None:
        """Release the lock."""
        self._release(lock)

    @export(xpc=False)
    def local_irq_disable(self) -> None:
        """``cli``."""
        self.cpu.irq_enabled = False

    @export(xpc=False)
    def local_irq_enable(self) -> None:
        """``sti``: pending interrupts are taken now."""
        self.cpu.irq_enabled = True
        self.k.irqs.deliver_pending()

    def _take(self, lock: int) -> None:
        if self.mmu.ld32(lock + SPINLOCK.magic) != SPINLOCK_MAGIC:
            raise KernelBug(f"spinlock at {lock:#010x}: bad magic")
        held = self.mmu.ld32(lock + SPINLOCK.lock)
        if held:            # would deadlock on SMP; a uniprocessor build takes it again
            self.k.events.add("lock", "kernel", f"spinlock {lock:#010x} taken while held "
                              "(a no-op on a uniprocessor)")
        self.mmu.st32(lock + SPINLOCK.lock, held + 1 if held < 0xFFFF else held)

    def _release(self, lock: int) -> None:
        if self.mmu.ld32(lock + SPINLOCK.magic) != SPINLOCK_MAGIC:
            raise KernelBug(f"spinlock at {lock:#010x}: bad magic")
        held = self.mmu.ld32(lock + SPINLOCK.lock)
        self.mmu.st32(lock + SPINLOCK.lock, held - 1 if held else 0)

    # -- wait queues ------------------------------------------------------------------------
    @export(obj("wq", "wait_queue_head_t", "out"))
    def init_waitqueue_head(self, wq: int) -> None:
        """Initialise a wait queue head."""
        self.mmu.st32(wq + WAIT_QUEUE_HEAD.woken, 0)
        self.mmu.st32(wq + WAIT_QUEUE_HEAD.magic, WAITQUEUE_MAGIC)

    @export(obj("wq", "wait_queue_head_t", "inout"))
    def wake_up(self, wq: int) -> None:
        """Wake whoever sleeps on ``wq``."""
        if self.mmu.ld32(wq + WAIT_QUEUE_HEAD.magic) != WAITQUEUE_MAGIC:
            raise KernelBug(f"wait queue at {wq:#010x}: bad magic")
        self.mmu.st32(wq + WAIT_QUEUE_HEAD.woken, 1)

    @export(obj("wq", "wait_queue_head_t", "inout"), scalar("timeout"), returns=scalar("left"))
    def sleep_on_timeout(self, wq: int, timeout: int) -> int:
        """Sleep until ``wake_up(wq)`` or ``timeout`` jiffies pass; return the jiffies left."""
        if self.cpu.in_interrupt:
            raise KernelBug("scheduling while atomic (sleep in interrupt context)")
        if self.mmu.ld32(wq + WAIT_QUEUE_HEAD.magic) != WAITQUEUE_MAGIC:
            raise KernelBug(f"wait queue at {wq:#010x}: bad magic")
        self.mmu.st32(wq + WAIT_QUEUE_HEAD.woken, 0)
        per_jiffy = self.k.timers.cycles_per_jiffy
        deadline = self.k.clock.now + max(int(timeout), 0) * per_jiffy
        saved = self.cpu.irq_enabled
        self.cpu.irq_enabled = True          # schedule() runs others with interrupts on
        woken = self.k.run_until(deadline, lambda: self.mmu.ld32(wq + WAIT_QUEUE_HEAD.woken))
        self.cpu.irq_enabled = saved
        if not woken:
            return 0
        return max(1, (deadline - self.k.clock.now) // per_jiffy)
