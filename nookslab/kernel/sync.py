"""Spinlocks and wait queues, in simulated memory.

On a uniprocessor a spinlock that is already held can never be released while we spin: the CPU
spins forever. With interrupts off (``spin_lock_irqsave``) nothing can interrupt it either, and the
system is dead: the hang verdict of the paper's four residual Nooks crashes.
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
        if self.mmu.ld32(lock + SPINLOCK.lock):
            self.cpu.spin(f"deadlock on spinlock {lock:#010x}")
        self.mmu.st32(lock + SPINLOCK.lock, 1)

    def _release(self, lock: int) -> None:
        if self.mmu.ld32(lock + SPINLOCK.magic) != SPINLOCK_MAGIC:
            raise KernelBug(f"spinlock at {lock:#010x}: bad magic")
        self.mmu.st32(lock + SPINLOCK.lock, 0)

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
