"""The simulated CPU: interrupt flag, execution context, and the step-counting watchdog.

Hangs are found by counting *steps* (loop back-edges in driver code, spins on a lock), never by a
wall-clock timer: when code entered from the kernel runs more steps than its budget without
returning, the CPU raises :class:`Watchdog`. Whether interrupts were on decides what that means: a
spin with interrupts off is a dead system (nothing can ever interrupt it); with interrupts on, a
timer interrupt could notice it (Nooks' livelock detection).

The CPU also keeps the stack pointer of the stack in use (the kernel stack, or a Nooks domain's
stack while a crossing runs there): every driver function's frame and every on-stack buffer
(:meth:`CPU.alloca`, a C local array) takes room below it, and what does not fit between the
stack pointer and the bottom of the stack is a :class:`StackOverflow`, as a recursion bomb or a
corrupted array length is on a real kernel stack.
"""
from __future__ import annotations

from .clock import Clock
from .mmu import MMU, CpuFault

#: Bytes a driver function's frame takes on the stack (return address, saved registers, locals):
#: a typical Linux 2.4 driver frame. An 8 KiB stack holds 32 nested driver frames.
FRAME_BYTES = 256


class Watchdog(Exception):
    """Code ran more steps than its budget without returning to the kernel."""

    def __init__(self, steps: int, irq_enabled: bool, where: str, reason: str = "no progress"):
        self.steps = steps
        self.irq_enabled = irq_enabled
        self.where = where
        self.reason = reason
        flag = "on" if irq_enabled else "off"
        super().__init__(f"{reason} in {where} after {steps} steps with interrupts {flag}")


class StackOverflow(CpuFault):
    """A frame or an on-stack buffer that does not fit the stack in use (kernel stack overflow)."""

    def __init__(self, need: int, sp: int, base: int, top: int, what: str = "frame"):
        self.need = need
        super().__init__(f"kernel stack overflow: a {need:,}-byte {what} does not fit below "
                         f"sp {sp:#010x} (stack {base:#010x}-{top:#010x}, "
                         f"{top - base:,} bytes)")


class CPU:
    """One uniprocessor CPU, as on the paper's test machine.

    Attributes
    ----------
    irq_enabled: the interrupt-enable flag (``cli``/``sti``).
    in_interrupt: nesting depth of hard-interrupt and softirq context (0 = process context).
    steps: steps executed so far; ``step_limit`` is where the watchdog fires.
    sp, stack_base, stack_top: the stack pointer and the bounds of the stack in use
    (:meth:`use_stack`); 0 until the kernel gives the CPU its stack at boot.
    """

    def __init__(self, clock: Clock, mmu: MMU, step_budget: int):
        self.clock = clock
        self.mmu = mmu
        self.irq_enabled = True
        self.in_interrupt = 0
        self.steps = 0
        self.step_budget = step_budget
        self.step_limit = 1 << 62
        self.sp = self.stack_base = self.stack_top = 0

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

    # -- the stack ------------------------------------------------------------------------------
    def use_stack(self, base: int, size: int) -> tuple[int, int, int]:
        """Switch to the empty stack ``[base, base + size)``; return what :meth:`restore_stack`
        needs to switch back (the XPC's stack switch, SOSP'03 section 4.3)."""
        saved = (self.sp, self.stack_base, self.stack_top)
        self.sp = self.stack_top = base + size
        self.stack_base = base
        return saved

    def restore_stack(self, saved: tuple[int, int, int]) -> None:
        self.sp, self.stack_base, self.stack_top = saved

    def frame(self) -> int:
        """A driver function's entry: push its frame; return the stack pointer to restore at its
        return (the loader puts this at the top of every driver function)."""
        sp = self.sp
        if sp - FRAME_BYTES < self.stack_base:
            raise StackOverflow(FRAME_BYTES, sp, self.stack_base, self.stack_top)
        self.sp = sp - FRAME_BYTES
        return sp

    def alloca(self, size) -> int:
        """Room for a ``size``-byte local array in the current frame: its address (freed when
        the function returns). The size is a machine word, as in C: a negative or corrupted
        one is a huge request, which overflows the stack."""
        n = (int(size) & 0xFFFFFFFF) + 3 & ~3
        sp = self.sp - n
        if sp < self.stack_base:
            raise StackOverflow(n, self.sp, self.stack_base, self.stack_top, "local array")
        self.sp = sp
        return sp
