"""Extension procedure call (XPC, SOSP'03 section 4.3): crossing between protection domains.

``nooks_driver_call`` (kernel -> extension) and ``nooks_kernel_call`` (extension -> kernel) save
the caller's context, find a stack for the target domain (reused for nested calls), load the
target's page table (the CR3 write that flushes the TLB), count the crossing, charge the cost
model, and call. Every exception raised by extension code is caught at the boundary of the domain
and handed to the recovery manager: processor exceptions (page faults), Python errors (our
"invalid opcode", "divide error"...), failed wrapper checks, and the watchdog's livelock timeout.
A watchdog timeout with interrupts *off* is still a dead system (the paper's residual deadlocks).

Each domain has two deferred-call queues: delayed kernel calls made by the extension (run when
the crossing back into the kernel returns, in one batch: the receive path's packet delivery),
and delayed extension calls made by the kernel (run at the domain's next entry).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..kernel.panic import KernelPanic, ProcessKilled
from ..kernel.trace import Event, new_event
from ..machine.cpu import StackOverflow, Watchdog
from ..machine.memory import PAGE_SIZE
from .domain import STACK_PAGES

#: Crossings into one domain that may nest (kernel -> extension -> kernel -> extension ...): each
#: takes a stack of the domain's pool and leaves an XPC frame on the kernel's stack; deeper is a
#: kernel stack overflow, caught as the extension's failure.
MAX_NESTED_CROSSINGS = 8


class Unwind(BaseException):
    """Raised into a failed domain's code when control would return to it: the thread unwinds
    to where it entered the domain, running no more extension code (section 4.5). A
    ``BaseException`` so that no ``except Exception`` in driver code can swallow it."""

    def __init__(self, domain):
        self.domain = domain
        super().__init__(f"unwinding domain {domain.name}")


class DomainFault(BaseException):
    """A failure detected in the kernel on the extension's behalf (a wrapper check the policy
    turns into recovery); carried to the domain's boundary like an exception."""

    def __init__(self, trigger: str, cause: str):
        self.trigger = trigger
        self.cause = cause
        super().__init__(cause)


class KernelFault(BaseException):
    """An exception raised by *kernel* code called from an extension: it is the kernel's own
    fault (oops rules apply), so it passes through the domain boundary untouched."""

    def __init__(self, exc: BaseException):
        self.exc = exc
        super().__init__(str(exc))


ABORTED = object()        # a driver call that did not complete (failed or unwound domain)


@dataclass
class Frame:
    """One XPC on the (single) CPU's stack: where it went, from where, on which stack."""

    domain: object
    fn: str
    to_driver: bool
    stack: int
    irq_enabled: bool
    per_call: list


class XpcEngine:
    """The XPC mechanism of one kernel.

    Attributes
    ----------
    count: every crossing (``xpc_count`` of the isolation manager); to_driver, to_kernel: per
    direction. frames: the stack of active crossings. trace: record an ``"xpc"`` event each time.
    """

    def __init__(self, manager):
        self.manager = manager
        k = manager.kernel
        self.kernel = k
        self.mmu = k.mmu
        self.cpu = k.cpu
        self.clock = k.clock
        cost = k.cost
        self.cost = cost
        self.switch_cost = cost.switch_cost     # the switch proper (cost-model knobs)
        self.tlb_cycles = 0                     # TLB refill cycles charged (cost model)
        self._busy_mark = self.clock.busy       # CPU work done when the TLB was last flushed
        self.frames: list[Frame] = []
        self.count = 0
        self.to_driver = 0
        self.to_kernel = 0
        self.batches = 0
        self.trace = True

    # -- kernel -> extension -----------------------------------------------------------------
    def nooks_driver_call(self, domain, name: str, fn, args: tuple, per_call: list | None = None):
        """Call extension function ``fn`` inside ``domain``; return its result, or ``ABORTED``
        when the domain has failed (now or earlier) and the call could not complete."""
        if domain.failed:
            return ABORTED
        mmu = self.mmu
        cpu = self.cpu
        nested = domain.frames
        stack = domain.stack(min(nested, MAX_NESTED_CROSSINGS))
        frame = Frame(domain, name, True, stack, cpu.irq_enabled,
                      per_call if per_call is not None else [])
        self._cross(domain.name, name, True)
        previous = mmu.switch(domain.pt)
        self.frames.append(frame)
        domain.frames += 1
        saved_stack = cpu.use_stack(stack, STACK_PAGES * PAGE_SIZE)
        if domain.deferred_driver:
            self._run_deferred_driver(domain)
        try:
            if nested >= MAX_NESTED_CROSSINGS:
                raise StackOverflow(PAGE_SIZE, cpu.sp, stack, stack + STACK_PAGES * PAGE_SIZE,
                                    f"XPC frame ({nested} crossings into {domain.name} nested)")
            return fn(*args)
        except Unwind as unwind:
            if unwind.domain is not domain:
                raise
            return ABORTED
        except KernelFault as kf:
            raise kf.exc from None           # the kernel's own fault: not the extension's
        except (KernelPanic, ProcessKilled):
            raise
        except DomainFault as fault:
            self._failed(domain, frame, fault.trigger, fault.cause)
            return ABORTED
        except Watchdog as dog:
            if not dog.irq_enabled:
                # Nothing can interrupt a spin with interrupts off: the system is dead.
                raise self.kernel.hang(f"{dog} (in domain {domain.name})") from None
            self._failed(domain, frame, "timeout", str(dog))
            return ABORTED
        except MemoryError:
            # the host refused memory: a bound of the simulator, not the extension's failure
            raise self.kernel.limit(f"the host refused memory in domain {domain.name}") from None
        except Exception as exc:                                   # noqa: BLE001 - the boundary
            from ..kernel.kernel import describe
            from ..kernel.panic import simulator_bug
            if simulator_bug(exc):     # the simulator's own code failed, not the extension
                raise self.kernel.simulator_error(exc, f"domain {domain.name}") from None
            self._failed(domain, frame, "fault", describe(exc))
            return ABORTED
        finally:
            cpu.restore_stack(saved_stack)
            self.frames.pop()
            domain.frames -= 1
            mmu.switch(previous)
            if domain.deferred_kernel and not domain.failed:
                self._run_deferred_kernel(domain)
            if domain.failed and domain.frames == 0:
                self.manager.recovery.domain_quiet(domain)

    def _failed(self, domain, frame: Frame, trigger: str, cause: str) -> None:
        self.cpu.irq_enabled = frame.irq_enabled     # the extension may have left them off
        self.manager.recovery.detected(domain, trigger, cause)

    # -- extension -> kernel -----------------------------------------------------------------
    def enter_kernel(self, domain, name: str):
        """The first half of ``nooks_kernel_call``: switch to the kernel's page table."""
        self._cross(domain.name, name, False)
        self.frames.append(Frame(domain, name, False, 0, self.cpu.irq_enabled, []))
        return self.mmu.switch(self.mmu.kernel_pt)

    def leave_kernel(self, domain, previous) -> None:
        """The second half: back into the domain, unless it failed meanwhile (then unwind)."""
        self.frames.pop()
        self.mmu.switch(previous)
        if domain.failed:
            raise Unwind(domain)

    def nooks_kernel_call(self, domain, name: str, fn, args: tuple):
        """Call kernel function ``fn`` from ``domain`` (used for the generic kernel wrapper)."""
        previous = self.enter_kernel(domain, name)
        try:
            return fn(*args)
        except (KernelPanic, ProcessKilled, Unwind, DomainFault, KernelFault, Watchdog):
            raise
        except Exception as exc:                                   # noqa: BLE001
            raise KernelFault(exc) from None
        finally:
            self.leave_kernel(domain, previous)

    # -- deferred calls ---------------------------------------------------------------------
    def defer_kernel_call(self, domain, fn, args: tuple) -> None:
        """Queue a kernel call with no visible result for the extension (e.g. ``netif_rx``)."""
        domain.deferred_kernel.append((fn, args))

    def defer_driver_call(self, domain, fn, args: tuple) -> None:
        domain.deferred_driver.append((fn, args))

    def _run_deferred_kernel(self, domain) -> None:
        queue, domain.deferred_kernel = domain.deferred_kernel, []
        batch = self.manager.hooks.batch          # a student's batching (nooks/hooks.py)
        for part in (queue,) if batch is None else map(list, batch(list(queue))):
            self.batches += 1
            self._cross(domain.name, f"deferred x{len(part)}", False)
            for fn, args in part:
                fn(*args)

    def _run_deferred_driver(self, domain) -> None:
        queue, domain.deferred_driver = domain.deferred_driver, []
        for fn, args in queue:
            fn(*args)

    # -- accounting ----------------------------------------------------------------------------
    def _cross(self, domain_name: str, name: str, to_driver: bool) -> None:
        self.count += 1
        if to_driver:
            self.to_driver += 1
        else:
            self.to_kernel += 1
        clock = self.clock
        refill = self.cost.tlb_refill(clock.busy - self._busy_mark)   # misses since last flush
        self.tlb_cycles += refill
        clock.charge(self.switch_cost + refill)
        self._busy_mark = clock.busy
        if self.trace:
            events = self.kernel.events                  # Trace.add, inlined (one per XPC)
            if events.enabled_kinds is None or "xpc" in events.enabled_kinds:
                events.append(new_event(Event, (clock.now, "xpc", domain_name,
                                                 f"{name} ->" if to_driver else f"<- {name}")))

    def in_domain(self, domain) -> bool:
        return domain.frames > 0
