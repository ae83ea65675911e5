"""The kernel: boots on a :class:`~nookslab.machine.Machine` in one configuration.

A small Linux-2.4-like kernel: heap, exported symbols, module loader, IRQs, timers, locks, wait
queues, character devices, processes and the oops/panic path. Subsystems for networking, sound
and files plug in beside these. In the ``nooks`` configuration the isolation manager installs
itself through the few hooks marked "Nooks hook" (the paper's Table 2 "Linux kernel changes").

The kernel imports neither Nooks, nor the drivers, nor the user programs: :func:`nookslab.boot`
composes the system from above and hands each one in (``isolation=``, ``drivers=``,
``userland=``), as a bootloader hands Linux its modules directory and init.
"""
from __future__ import annotations

import errno as errno_codes
from typing import Callable, Mapping

import numpy as np

from ..errors import positive_int
from ..machine import CostModel, CpuFault, Machine, Watchdog
from ..machine.machine import DEFAULT_MEMORY, DEFAULT_STEP_BUDGET
from ..machine.memory import PAGE_SIZE, OutOfMemory
from .heap import Heap
from .irq import TIMER_IRQ, IrqSubsystem
from .mm import MemorySubsystem
from .module import Linker, Module, ModuleLoader
from .panic import KernelBug, KernelPanic, ProcessKilled, SystemDead, Verdict, simulator_bug
from .process import MM_MAGIC, MM_STRUCT, USER_PAGES, Process, do_exit
from .symbols import SymbolTable
from .sync import SyncSubsystem
from .text import FunctionTable
from .timer import TimerSubsystem
from .trace import Trace

#: The kernel stack: 8 KiB, as Linux 2.4 gives each task. One CPU runs one context at a time, so
#: one stack serves every system call; interrupts nest on it. Driver frames and on-stack buffers
#: live here natively (under Nooks, on the domain's stacks).
KERNEL_STACK_PAGES = 2


class Kernel:
    """A booted kernel. Make one with :func:`nookslab.boot`, which composes the system.

    Parameters
    ----------
    mode: the configuration's name; anything but ``"native"`` needs ``isolation``.
    seed, memory, cost, step_budget: as :func:`nookslab.boot` takes them.
    drivers: the extensions this kernel can load, name -> driver spec (its ``/lib/modules``;
        each spec has ``name``, ``device_name``, ``device(kernel, **options)`` and its source).
    userland: the user programs, an object with ``run(kernel, name, seconds, **params)``
        (what :meth:`run` runs). isolation: ``install(kernel) -> manager``, the isolation layer
        installed at its hook during boot (Nooks), or None for stock Linux.

    Attributes
    ----------
    mode, seed: the configuration and seed it booted with.
    machine, mmu, cpu, clock, cost: the hardware it runs on.
    events: the structured trace. verdict: None while alive, else a :class:`Verdict`.
    modules: loaded modules by name. recoveries: recovery records (nooks).
    drivers, userland, isolation: what :func:`nookslab.boot` installed.
    """

    def __init__(self, mode: str = "native", seed: int = 0, memory: int = DEFAULT_MEMORY,
                 cost: CostModel | None = None, step_budget: int = DEFAULT_STEP_BUDGET, *,
                 drivers: Mapping | None = None, userland=None,
                 isolation: Callable | None = None):
        if not isinstance(mode, str):
            raise ValueError(f"mode must be a configuration's name, got {mode!r}")
        if (mode == "native") != (isolation is None):
            raise ValueError(f"a kernel in mode {mode!r} needs " + (
                "no isolation layer" if mode == "native" else
                "its isolation layer installed at boot: use nookslab.boot(mode=...)"))
        self.mode = mode
        self.drivers: Mapping = dict(drivers or {})
        self.userland = userland
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
        self._next_pid = 0
        # what a process's open file is (the first item of its file-table entry) -> the
        # subsystem's close(fd), for do_exit; subsystems that hand out descriptors register
        self.file_closers: dict[object, Callable[[int], int]] = {}
        self.current: Process | None = None
        self.kernel_owner = self.machine.pages.new_owner("kernel heap")
        self.user_owner = self.machine.pages.new_owner("user")
        self.heap = Heap("kernel", self.mmu, self.machine.pages, self.kernel_owner)
        # the kernel stack, set aside at boot beside the kernel's first pages (low memory, as
        # the init task's stack sits in the kernel image)
        self.stack_owner = self.machine.pages.new_owner("kernel stack")
        self.kernel_stack = self.machine.pages.alloc(KERNEL_STACK_PAGES, self.stack_owner)
        self.cpu.use_stack(self.kernel_stack, KERNEL_STACK_PAGES * PAGE_SIZE)
        #: every kmalloc heap (the kernel's, then each Nooks domain's while it lives): what the
        #: integrity sweep reads
        self.heaps: list[Heap] = [self.heap]
        self.symbols = SymbolTable()
        self.subsystems: dict[str, object] = {}
        # struct name -> Layout of every kernel object type that crosses the driver interface
        # (what the Nooks object tracker copies and checks); subsystems register theirs.
        self.object_types: dict[str, object] = {}
        from .chrdev import FILE, INODE
        from .pci import PCI_DEV
        from .sync import SEMAPHORE, SPINLOCK, WAIT_QUEUE_HEAD
        from .timer import TIMER_LIST
        for layout in (TIMER_LIST, SPINLOCK, WAIT_QUEUE_HEAD, SEMAPHORE, FILE, INODE, PCI_DEV):
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
        if isolation is not None:
            self.isolation = isolation(self)
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

    def reaching(self, addr: int, size: int) -> list[str]:
        """What the kernel still reaches inside ``[addr, addr + size)``: a pending timer on its
        list, ... (each subsystem's ``reaching``), as Linux's ``debug_check_no_obj_freed`` asks
        before memory is freed. Empty if nothing; Nooks' wrappers refuse such a free."""
        found: list[str] = []
        for sub in self.subsystems.values():
            if hasattr(sub, "reaching"):
                found.extend(sub.reaching(addr, size))
        return found

    def held_by(self, owner: str) -> list[str]:
        """Every kernel resource still held by ``owner`` (allocations, IRQs, timers, ...)."""
        held: list[str] = []
        for sub in self.subsystems.values():
            if hasattr(sub, "held_by"):
                held.extend(sub.held_by(owner))
        return held

    # -- processes and system calls ----------------------------------------------------------
    def spawn(self, name: str) -> Process:
        """Create a user process with its own user buffer (zero-filled, as Linux hands a new
        process its anonymous pages) and its ``mm_struct``. End it with :meth:`exit_process`.

        ``fork`` runs in the kernel on behalf of whoever asks: inside a system call (a kernel
        thread started by a driver) an oops in it is that caller's; from the top level (the
        shell starting a program) it kills the shell's fork, raised as :class:`ProcessKilled`.
        """
        try:
            base = self.machine.pages.alloc(USER_PAGES, self.user_owner)
        except OutOfMemory as exc:
            raise self.panic(f"out of memory spawning {name}: {exc}")
        self.machine.memory.array[base:base + USER_PAGES * PAGE_SIZE] = 0
        try:
            mm = self.heap.kmalloc(MM_STRUCT.size, "kernel")
        except (KernelBug, CpuFault) as exc:
            self.machine.pages.free(base, USER_PAGES)
            if self.current is not None or self.cpu.in_interrupt:
                raise                                # the caller's oops (syscall rules)
            reason = f"killed by oops: {describe(exc)}"
            self.events.add("oops", "kernel", f"fork of {name}: {describe(exc)}")
            raise ProcessKilled(f"fork of {name} {reason}") from None
        if not mm:
            self.machine.pages.free(base, USER_PAGES)
            raise self.panic(f"out of memory spawning {name}: no memory for its mm_struct")
        if self.isolation is not None:         # Nooks hook: no domain maps user memory
            self.isolation.user_pages_added(base, USER_PAGES)
        self._next_pid += 1
        proc = Process(self._next_pid, name, base, USER_PAGES * PAGE_SIZE, mm=mm)
        for offset, value in ((MM_STRUCT.start_data, base), (MM_STRUCT.total_vm, USER_PAGES),
                              (MM_STRUCT.mm_users, 1), (MM_STRUCT.magic, MM_MAGIC)):
            self.heap.kv.st32(mm + offset, value)
        self.processes.append(proc)
        return proc

    def exit_process(self, proc: Process) -> None:
        """``do_exit``: free the process's pages, close its files, forget it (see
        :func:`~nookslab.kernel.process.do_exit`). Never raises; a second call does nothing.

        The ``mm_struct`` goes first (``__exit_mm``), as after an oops; if freeing it faults,
        the kernel's own allocator is broken and the system panics."""
        if proc in self.processes and self.verdict is None:
            try:
                self.exit_mm(proc, after=f"exit of {proc.name}")
            except KernelPanic:
                pass                           # the verdict says it all
        do_exit(self, proc)

    def user_range_ok(self, addr: int, n: int) -> bool:
        proc = self.current
        return proc is not None and proc.ubuf <= addr and addr + n <= proc.ubuf + proc.usize

    def syscall(self, proc: Process, fn: Callable, *args):
        """Enter the kernel from ``proc`` and run ``fn``; an oops kills ``proc`` (ProcessKilled)."""
        if self.verdict is not None:
            raise KernelPanic(self.verdict)
        if proc.killed or proc.exited:
            raise ProcessKilled(proc.killed or f"process {proc.name} has exited")
        return self._enter(proc, fn, args, self.cost.syscall)

    def _enter(self, proc: Process, fn: Callable, args: tuple, cycles: int):
        """Run ``fn(*args)`` in the kernel on behalf of ``proc`` (process context)."""
        cpu = self.cpu
        previous, self.current = self.current, proc
        saved = cpu.arm()
        self.charge(cycles)
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

        Linux 2.4's rules (arch/i386/kernel/traps.c ``die``, kernel/exit.c ``do_exit``): a hang
        (the watchdog) ends the system; any oops in interrupt context panics ("Aiee, killing
        interrupt handler!"), and so does one with no process to kill (the idle task). In
        process context an oops, a failed ``BUG()`` check included, kills the current process:
        ``die`` turns interrupts back on, ``do_exit`` frees what the process owns, and the kernel
        runs on with whatever else it held (a semaphore stays down, a masked line masked). If
        ``do_exit`` itself faults (the allocator's own metadata is broken), the kernel cannot
        continue: it panics.
        """
        if isinstance(exc, MemoryError) or (isinstance(exc, OSError)
                                            and exc.errno == errno_codes.ENOMEM):
            # the host refused memory (a worker's address-space cap): a bound of the simulator,
            # not something the simulated kernel met
            raise self.limit(f"the host refused memory in {where} ({self.mmu.domain})")
        if simulator_bug(exc):
            raise self.simulator_error(exc, where)
        message = describe(exc)
        bug = "kernel BUG: " if isinstance(exc, KernelBug) else ""   # as Linux prints a BUG()
        self.events.add("oops", self.mmu.domain, f"{where}: {bug}{message}")
        if isinstance(exc, Watchdog):
            raise self.hang(f"{message} ({where})")
        if self.cpu.in_interrupt:
            raise self.panic(f"Aiee, killing interrupt handler! {message} ({where})")
        proc = self.current
        if proc is None:
            raise self.panic(f"Attempted to kill the idle task! {message} ({where})")
        reason = f"killed by oops: {bug}{message}"
        proc.killed = reason
        # die(): spin_unlock_irq(&die_lock), so do_exit and the next process run with
        # interrupts on; locks the victim held stay held.
        self.cpu.irq_enabled = True
        if self.mmu.page_table is not self.mmu.kernel_pt:
            self.mmu.switch(self.mmu.kernel_pt)
        self.exit_mm(proc, after=f"{bug}{message} ({where})")
        raise ProcessKilled(reason)

    def exit_mm(self, proc: Process, after: str | None = None) -> None:
        """``do_exit``'s ``__exit_mm``: free the process's ``mm_struct`` (once).

        A fault here, on the way out of an oops (``after`` names it), is a recursive fault: the
        kernel's own allocator cannot free memory, and the system panics.
        """
        mm, proc.mm = proc.mm, 0
        if not mm:
            return
        try:
            if self.heap.kv.ld32(mm + MM_STRUCT.magic) != MM_MAGIC:
                raise KernelBug(f"mm_struct at {mm:#010x}: bad magic")
            self.heap.kfree(mm)
        except (KernelBug, CpuFault) as exc:
            self.events.add("oops", "kernel", f"do_exit of {proc.name}: {describe(exc)}")
            if after is None:
                raise
            bug = "kernel BUG: " if isinstance(exc, KernelBug) else ""
            raise self.panic(f"kernel cannot continue: recursive fault in do_exit of "
                             f"{proc.name}: {bug}{describe(exc)} (after: {after})") from None

    def panic(self, cause: str) -> KernelPanic:
        return self._die("panic", cause)

    def hang(self, cause: str) -> KernelPanic:
        return self._die("hang", cause)

    def limit(self, cause: str) -> KernelPanic:
        """End the run at a bound of the simulator (host memory, say): a verdict of its own
        (``kind="limit"``), never passed off as something the simulated kernel met."""
        return self._die("limit", cause if cause.startswith("simulator limit")
                         else f"simulator limit: {cause}")

    def simulator_error(self, exc: BaseException, where: str) -> KernelPanic:
        """End the run on a bug of the simulator's own code (``kind="error"``): counted apart,
        never passed off as an oops the simulated kernel met."""
        text = str(exc).splitlines()[0] if str(exc) else ""
        return self._die("error", f"simulator error in {where}: {type(exc).__name__}: {text}")

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
        cpu = self.cpu
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
            if clock.now >= irqs.window_end or irqs.window_taken >= irqs.storm_limit \
                    or cpu.steps > irqs.step_cap:
                irqs.account()                           # the livelock watchdog
            else:
                irqs.window_taken += 1                   # account(), its common case inlined
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
    def check_integrity(self) -> list[str]:
        """The consistency sweep (slab debug of every heap, Nooks domains' included; the
        subsystems' list walks): what it finds, one line each. A diagnostic shown beside a
        verdict, never a verdict: Linux 2.4 runs no such sweep, it meets corruption when its
        own code walks into it."""
        found: list[str] = []
        for heap in self.heaps:
            found.extend(heap.sweep())
        for name, sub in self.subsystems.items():
            if hasattr(sub, "check"):
                try:
                    sub.check()
                except (KernelBug, CpuFault) as exc:
                    found.append(f"{name}: {describe(exc)}")
        if found:
            self.events.add("sweep", "kernel", f"{len(found)} problem(s): {found[0]}")
        return found

    def run(self, workload: str, seconds: float = 0.1, **params):
        """Run ``workload`` for ``seconds`` of simulated time; returns a WorkloadResult."""
        if self.userland is None:
            raise ValueError(f"no user programs are installed on this kernel, so there is no "
                             f"workload {workload!r}: boot it with nookslab.boot(...)")
        return self.userland.run(self, workload, seconds, **params)

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

