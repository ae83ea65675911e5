"""The kernel: boots on a :class:`~nookslab.machine.Machine` in one configuration.

A small Linux-2.4-like kernel: heap, exported symbols, module loader, IRQs, timers, locks, wait
queues, character devices, processes and the oops/panic path. Subsystems for networking, sound
and files plug in beside these. In the ``nooks`` configuration the isolation manager installs
itself through the few hooks marked "Nooks hook" (the paper's Table 2 "Linux kernel changes").
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import choose, positive_int
from ..machine import CostModel, CpuFault, Machine, Watchdog
from ..machine.machine import DEFAULT_MEMORY, DEFAULT_STEP_BUDGET
from ..machine.memory import PAGE_SIZE, OutOfMemory
from .heap import Heap
from .irq import TIMER_IRQ, IrqSubsystem
from .mm import MemorySubsystem
from .module import Linker, Module, ModuleLoader
from .panic import KernelBug, KernelPanic, ProcessKilled, SystemDead, Verdict
from .process import USER_PAGES, Process
from .symbols import SymbolTable
from .sync import SyncSubsystem
from .text import FunctionTable
from .timer import TimerSubsystem
from .trace import Trace

#: The kernel stack: 8 KiB, as Linux 2.4 gives each task. One CPU runs one context at a time, so
#: one stack serves every system call; interrupts nest on it. Driver frames and on-stack buffers
#: live here natively (under Nooks, on the domain's stacks).
KERNEL_STACK_PAGES = 2

#: native and nooks (SOSP'03), then the other configurations of the "beyond Nooks" notebook:
#: shadow drivers (OSDI'04) and Table 1's other approaches (see nookslab/nooks/approaches.py).
MODES = ("native", "nooks", "nooks+shadow", "user-level", "sfi", "safe-language")


def available_modes() -> tuple[str, ...]:
    """The configurations this installation can boot (``nooks`` once the layer is built)."""
    import importlib.util
    return tuple(m for m in MODES
                 if m == "native" or importlib.util.find_spec("nookslab.nooks") is not None)


class Kernel:
    """A booted kernel. Make one with :func:`nookslab.boot`.

    Attributes
    ----------
    mode, seed: the configuration and seed it booted with.
    machine, mmu, cpu, clock, cost: the hardware it runs on.
    events: the structured trace. verdict: None while alive, else a :class:`Verdict`.
    modules: loaded modules by name. recoveries: recovery records (nooks).
    """

    def __init__(self, mode: str = "native", seed: int = 0, memory: int = DEFAULT_MEMORY,
                 cost: CostModel | None = None, step_budget: int = DEFAULT_STEP_BUDGET,
                 hooks=None):
        self.mode = choose(mode, available_modes(), "mode")
        if hooks is not None and self.mode == "native":
            raise ValueError("hooks replace parts of Nooks: boot mode 'nooks', not 'native'")
        if isinstance(seed, np.random.SeedSequence):
            self.seed_sequence = seed
            self.seed = seed.entropy
        else:
            self.seed = positive_int(seed, "seed", low=0)
            self.seed_sequence = np.random.SeedSequence(self.seed)
        if isinstance(memory, bool) or not isinstance(memory, int) or memory <= 0:
            raise ValueError(f"memory must be a positive multiple of {PAGE_SIZE} bytes "
                             f"(default {DEFAULT_MEMORY}), got {memory!r}")
        self.machine = Machine(memory, cost, step_budget)
        self.mmu = self.machine.mmu
        self.cpu = self.machine.cpu
        self.clock = self.machine.clock
        self.cost = self.machine.cost
        self.rng = np.random.default_rng(self.seed_sequence)
        self.events = Trace(self.clock)
        self.verdict: Verdict | None = None
        self.recoveries: list = []
        self.text = FunctionTable()
        self.processes: list[Process] = []
        self.current: Process | None = None
        self.kernel_owner = self.machine.pages.new_owner("kernel heap")
        self.user_owner = self.machine.pages.new_owner("user")
        self.heap = Heap("kernel", self.mmu, self.machine.pages, self.kernel_owner)
        self.symbols = SymbolTable()
        self.subsystems: dict[str, object] = {}
        # struct name -> Layout of every kernel object type that crosses the driver interface
        # (what the Nooks object tracker copies and checks); subsystems register theirs.
        self.object_types: dict[str, object] = {}
        from .chrdev import FILE, INODE
        from .pci import PCI_DEV
        from .sync import SPINLOCK, WAIT_QUEUE_HEAD
        from .timer import TIMER_LIST
        for layout in (TIMER_LIST, SPINLOCK, WAIT_QUEUE_HEAD, FILE, INODE, PCI_DEV):
            self.object_types[layout.name] = layout
        self.add_subsystem("mm", MemorySubsystem(self))
        self.add_subsystem("sync", SyncSubsystem(self))
        self.add_subsystem("irq", IrqSubsystem(self))
        self.add_subsystem("timer", TimerSubsystem(self))
        self.irqs: IrqSubsystem = self.subsystems["irq"]
        self.timers: TimerSubsystem = self.subsystems["timer"]
        self.machine.irq_sink = self.irqs.raise_line
        self.irqs.request_irq(TIMER_IRQ, self.timers.tick, 0, "timer", 0)
        from . import subsystems
        subsystems.install_all(self)
        # Nooks hook: how a module's imports are bound, and who watches driver crossings.
        self.linker: Linker = Linker(self)
        self.isolation = None
        self.loader = ModuleLoader(self)
        if self.mode != "native":
            from .. import nooks
            self.isolation = nooks.install(self, hooks)
        # set aside last, at the top of RAM, so that no other boot-time address moves
        self.stack_owner = self.machine.pages.new_owner("kernel stack")
        self.kernel_stack = self.machine.pages.alloc_high(KERNEL_STACK_PAGES, self.stack_owner)
        self.cpu.use_stack(self.kernel_stack, KERNEL_STACK_PAGES * PAGE_SIZE)
        self.events.add("boot", "kernel", f"mode={self.mode} seed={self.seed} "
                                          f"memory={memory // 1024} KiB")

    # -- subsystems ----------------------------------------------------------------------------
    def add_subsystem(self, name: str, subsystem: object) -> None:
        """Install a subsystem and export its ``@export`` methods."""
        self.subsystems[name] = subsystem
        self.symbols.add_from(name, subsystem)

    def charge(self, cycles: int) -> None:
        clock = self.clock                     # Clock.charge, inlined (the hottest call)
        clock.now += cycles
        clock.busy += cycles

    # -- modules -------------------------------------------------------------------------------
    @property
    def modules(self) -> dict[str, Module]:
        return self.loader.modules

    def load(self, name: str, faults=None, **options) -> Module:
        """Load the extension ``name`` (a registry name such as ``"e1000"``) and run its init.

        A failing init is recorded in the returned module (``module.ok``), never raised.
        """
        return self.loader.load(name, faults=faults, **options)

    def unload(self, name: str) -> Module:
        """Run the module's exit routine and remove it; leaks are listed in ``module.leaks``."""
        return self.loader.unload(name)

    def recover(self, name: str):
        """Explicitly trigger recovery of extension ``name`` (nooks only)."""
        if self.isolation is None:
            raise ValueError(f"recovery needs the nooks configuration; this kernel is {self.mode!r}")
        return self.isolation.recover(name, trigger="explicit")

    def held_by(self, owner: str) -> list[str]:
        """Every kernel resource still held by ``owner`` (allocations, IRQs, timers, ...)."""
        held: list[str] = []
        for sub in self.subsystems.values():
            if hasattr(sub, "held_by"):
                held.extend(sub.held_by(owner))
        return held

    # -- processes and system calls ----------------------------------------------------------
    def spawn(self, name: str) -> Process:
        """Create a user process with its own user buffer."""
        try:
            base = self.machine.pages.alloc(USER_PAGES, self.user_owner)
        except OutOfMemory as exc:
            raise self.panic(f"out of memory spawning {name}: {exc}")
        if self.isolation is not None:         # Nooks hook: no domain maps user memory
            self.isolation.user_pages_added(base, USER_PAGES)
        proc = Process(len(self.processes) + 1, name, base, USER_PAGES * PAGE_SIZE)
        self.processes.append(proc)
        return proc

    def user_range_ok(self, addr: int, n: int) -> bool:
        proc = self.current
        return proc is not None and proc.ubuf <= addr and addr + n <= proc.ubuf + proc.usize

    def syscall(self, proc: Process, fn: Callable, *args):
        """Enter the kernel from ``proc`` and run ``fn``; an oops kills ``proc`` (ProcessKilled)."""
        if self.verdict is not None:
            raise KernelPanic(self.verdict)
        if proc.killed:
            raise ProcessKilled(proc.killed)
        cpu = self.cpu
        previous, self.current = self.current, proc
        saved = cpu.arm()
        self.charge(self.cost.syscall)
        try:
            self.irqs.deliver_pending()
            return fn(*args)
        except (KernelPanic, ProcessKilled):
            raise
        except Exception as exc:                     # noqa: BLE001 - the oops path
            self.oops(exc, f"process {proc.name}")
        finally:
            cpu.disarm(saved)
            self.current = previous
            if previous is None:
                # iret to user mode pops the user's EFLAGS, whose IF is always set: a system
                # call that left interrupts off gets them back on its way out (x86, Linux 2.4).
                # Only code that then waits inside the kernel with IF clear hangs the machine.
                cpu.irq_enabled = True
            if previous is None and self.isolation is not None and self.verdict is None:
                self.isolation.returned_to_user()      # Nooks hook: the recovery agent may run

    def oops(self, exc: BaseException, where: str) -> None:
        """Handle an exception in kernel code. Never returns: panics, hangs, or kills a process.

        Linux 2.4 rules: a hang (the watchdog) ends the system; an integrity failure (BUG) or any
        exception in interrupt context panics; otherwise only the current process dies.
        """
        if isinstance(exc, MemoryError):
            # the host refused memory (a worker's address-space cap): a bound of the simulator,
            # not something the simulated kernel met
            raise self.limit(f"the host refused memory in {where} ({self.mmu.domain})")
        message = describe(exc)
        self.events.add("oops", self.mmu.domain, f"{where}: {message}")
        if isinstance(exc, Watchdog):
            raise self.hang(f"{message} ({where})")
        if self.cpu.in_interrupt:
            raise self.panic(f"Aiee, killing interrupt handler! {message} ({where})")
        if isinstance(exc, KernelBug):
            raise self.panic(f"kernel BUG: {message} ({where})")
        proc = self.current
        reason = f"killed by oops: {message}"
        if proc is not None:
            proc.killed = reason
        # do_exit: the next process runs with interrupts on; locks the victim held stay held.
        self.cpu.irq_enabled = True
        if self.mmu.page_table is not self.mmu.kernel_pt:
            self.mmu.switch(self.mmu.kernel_pt)
        raise ProcessKilled(reason)

    def panic(self, cause: str) -> KernelPanic:
        return self._die("panic", cause)

    def hang(self, cause: str) -> KernelPanic:
        return self._die("hang", cause)

    def limit(self, cause: str) -> KernelPanic:
        """End the run at a bound of the simulator (host memory, say): a verdict of its own
        (``kind="limit"``), never passed off as something the simulated kernel met."""
        return self._die("limit", cause if cause.startswith("simulator limit")
                         else f"simulator limit: {cause}")

    def _die(self, kind: str, cause: str) -> KernelPanic:
        if self.verdict is None:
            self.verdict = Verdict(kind, cause, self.clock.now)
            self.events.add(kind, "kernel", cause)
        return KernelPanic(self.verdict)

    @property
    def alive(self) -> bool:
        return self.verdict is None

    # -- time -------------------------------------------------------------------------------
    def run_until(self, deadline: int, until: Callable[[], object] | None = None) -> bool:
        """Let simulated time pass, running device events and interrupts, until ``deadline``
        (cycles) or until ``until()`` is true. Returns whether ``until`` became true."""
        clock = self.clock
        irqs = self.irqs
        pending = irqs.pending
        deliver_pending = irqs.deliver_pending
        pop_next = clock.pop_next
        while True:
            if until is not None and until():
                return True
            if pending:
                deliver_pending()
            if self.verdict is not None:
                raise KernelPanic(self.verdict)
            event = pop_next(deadline)
            if event is None:
                clock.idle_to(deadline)
                return bool(until()) if until is not None else False
            event.callback()

    def idle(self, seconds: float) -> None:
        """Let ``seconds`` of simulated time pass (the system handles its events)."""
        self.guard(lambda: self.run_until(self.clock.now + self.clock.cycles(seconds)))

    def guard(self, fn: Callable, *args):
        """Run kernel work outside any process; a verdict ends it quietly (returns None)."""
        if self.verdict is not None:
            return None
        try:
            return fn(*args)
        except KernelPanic:
            return None

    # -- integrity and workloads -----------------------------------------------------------
    def check_integrity(self) -> None:
        """The kernel's consistency sweep (slab debug, list walks); a failure panics."""
        if self.verdict is not None:
            return
        try:
            self.heap.check()
            for sub in self.subsystems.values():
                if hasattr(sub, "check"):
                    sub.check()
        except (KernelBug, CpuFault) as exc:
            self.events.add("oops", "kernel", f"integrity check: {describe(exc)}")
            self._die("panic", f"kernel BUG: {describe(exc)} (integrity check)")

    def run(self, workload: str, seconds: float = 0.1, **params):
        """Run ``workload`` for ``seconds`` of simulated time; returns a WorkloadResult."""
        from ..workloads import run_workload
        return run_workload(self, workload, seconds, **params)

    @property
    def now(self) -> float:
        """Simulated seconds since boot."""
        return self.clock.now / self.clock.hz

    def __repr__(self) -> str:
        state = "alive" if self.verdict is None else str(self.verdict)
        loaded = ", ".join(sorted(self.modules)) or "no modules"
        return f"<Kernel {self.mode} seed={self.seed} {state}; {loaded}>"


def describe(exc: BaseException) -> str:
    """One stable line for an exception raised inside the simulated kernel or a driver."""
    if isinstance(exc, (CpuFault, KernelBug, Watchdog)):
        return str(exc)
    text = str(exc).splitlines()[0] if str(exc) else ""
    kind = {
        "ZeroDivisionError": "divide error",
        "RecursionError": "kernel stack overflow",
        "TypeError": "invalid opcode",
        "AttributeError": "invalid opcode",
        "NameError": "invalid opcode",
        "IndexError": "general protection fault",
        "KeyError": "general protection fault",
        "OverflowError": "general protection fault",
        "ValueError": "general protection fault",
        "MemoryError": "out of memory",
    }.get(type(exc).__name__, "general protection fault")
    return f"{kind} ({type(exc).__name__}: {text})" if text else f"{kind} ({type(exc).__name__})"


def boot(mode: str = "native", seed: int = 0, memory: int = DEFAULT_MEMORY,
         cost: CostModel | None = None, step_budget: int = DEFAULT_STEP_BUDGET,
         hooks=None) -> Kernel:
    """Boot a fresh simulated kernel.

    Parameters
    ----------
    mode: ``"native"`` (drivers run in the kernel's protection domain, as in stock Linux),
        ``"nooks"`` (each driver isolated in its own lightweight protection domain), or one of
        the other configurations: ``"nooks+shadow"``, ``"user-level"``, ``"sfi"``,
        ``"safe-language"`` (see :mod:`nookslab.nooks.approaches`).
    seed: seeds every random choice of this kernel (workload data, device timing).
    memory: bytes of simulated RAM (default 16 MiB).
    cost: the cycle cost model (default: the paper's 1.7 GHz Pentium 4).
    hooks: a :class:`~nookslab.nooks.hooks.NooksHooks` of student parts of Nooks (nooks mode
        only; default: the package's own).
    """
    return Kernel(mode=mode, seed=seed, memory=memory, cost=cost, step_budget=step_budget,
                  hooks=hooks)
