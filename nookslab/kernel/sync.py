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

Semaphores are the uniprocessor kernel's sleeping locks (``down``/``up``; Linux 2.4's i_sem,
driver mutexes): one held by a process an oops killed stays down, and whoever wants it next
sleeps for ever. Linux 2.4 leaves such a task in uninterruptible sleep; we report it as later
kernels' hung-task detector does, after :data:`HUNG_TASK_TIMEOUT` simulated seconds, and the
sleeper never runs again (the system runs on).
"""
from __future__ import annotations

from .panic import KernelBug, ProcessKilled
from .structs import Layout, signed32
from .symbols import export, obj, scalar

SPINLOCK_MAGIC = 0xDEAD4EAD        # Linux's SPINLOCK_MAGIC (CONFIG_DEBUG_SPINLOCK)
WAITQUEUE_MAGIC = 0x57515545

SEMAPHORE_MAGIC = 0x53454D41     # "SEMA" (Linux's __SEM_DEBUG keeps a magic too)
#: khungtaskd's default (Linux 2.6.30 on): a task asleep uninterruptibly this long is hung.
HUNG_TASK_TIMEOUT = 120.0

SPINLOCK = Layout("spinlock_t", [("lock", "u32"), ("magic", "u32")])
#: ``struct semaphore`` (i386, 2.4): the count, sleepers, and our wake-ups given (``waking``,
#: as 2.2 kept it) standing in for the wait queue's list of tasks.
SEMAPHORE = Layout("semaphore", [("count", "s32"), ("sleepers", "u32"), ("waking", "u32"),
                                 ("magic", "u32")])


class TaskHung(ProcessKilled):
    """The current process sleeps for ever (a semaphore nobody will ``up``): it never returns
    to user mode; the system runs on."""
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

    # -- semaphores ---------------------------------------------------------------------------
    @export(obj("sem", "semaphore", "out"), scalar("val"))
    def sema_init(self, sem: int, val: int) -> None:
        """Initialise a semaphore with count ``val`` (1: a mutex, ``init_MUTEX``)."""
        for offset, value in ((SEMAPHORE.count, val), (SEMAPHORE.sleepers, 0),
                              (SEMAPHORE.waking, 0), (SEMAPHORE.magic, SEMAPHORE_MAGIC)):
            self.mmu.st32(sem + offset, value)

    def _sem_check(self, sem: int) -> None:
        if self.mmu.ld32(sem + SEMAPHORE.magic) != SEMAPHORE_MAGIC:
            raise KernelBug(f"semaphore at {sem:#010x}: bad magic")

    @export(obj("sem", "semaphore", "inout"))
    def down(self, sem: int) -> None:
        """Take the semaphore, sleeping (uninterruptibly) until an ``up`` if it is taken."""
        self._sem_check(sem)
        k = self.k
        if self.cpu.in_interrupt:
            raise KernelBug("scheduling while atomic (down in interrupt context)")
        count = signed32(self.mmu.ld32(sem + SEMAPHORE.count)) - 1
        self.mmu.st32(sem + SEMAPHORE.count, count)
        if count >= 0:
            return
        self.mmu.st32(sem + SEMAPHORE.sleepers, self.mmu.ld32(sem + SEMAPHORE.sleepers) + 1)
        saved = self.cpu.irq_enabled
        self.cpu.irq_enabled = True          # schedule() runs others with interrupts on
        deadline = k.clock.now + k.clock.cycles(HUNG_TASK_TIMEOUT)
        woken = k.run_until(deadline, lambda: self.mmu.ld32(sem + SEMAPHORE.waking))
        self.cpu.irq_enabled = saved
        if woken:
            self.mmu.st32(sem + SEMAPHORE.waking, self.mmu.ld32(sem + SEMAPHORE.waking) - 1)
            self.mmu.st32(sem + SEMAPHORE.sleepers,
                          self.mmu.ld32(sem + SEMAPHORE.sleepers) - 1)
            return
        proc = k.current
        reason = (f"task hung: blocked in down({sem:#010x}) for more than "
                  f"{HUNG_TASK_TIMEOUT:g} s")
        k.events.add("hung_task", "kernel", f"{proc.name if proc else 'kernel'}: {reason}")
        if proc is None:
            raise k.hang(f"{reason} outside any process")
        proc.killed = reason                 # it never runs again
        raise TaskHung(reason)

    @export(obj("sem", "semaphore", "inout"))
    def up(self, sem: int) -> None:
        """Release the semaphore, waking one sleeper if there is one."""
        self._sem_check(sem)
        count = signed32(self.mmu.ld32(sem + SEMAPHORE.count)) + 1
        self.mmu.st32(sem + SEMAPHORE.count, count)
        if count <= 0:
            self.mmu.st32(sem + SEMAPHORE.waking, self.mmu.ld32(sem + SEMAPHORE.waking) + 1)
