"""Recovery (SOSP'03 section 4.5): detect a failed extension and return the system to a clean state.

Detection: a processor exception or any exception raised by extension code (always recovered),
a failed wrapper check (a *software* fault: the agent's policy says recover, or return an error to
the extension), a livelock timeout (the watchdog fired with interrupts on), or an explicit
trigger (``kernel.recover(name)``).

The :class:`RecoveryManager` runs the paper's steps in order:

1. disable interrupt processing for the extension's device;
2. consult the user-mode :class:`Agent`'s policy (``"restart"``, ``"disable"``, ``"shadow"`` (a
   restart whose shadow driver then restores the state at the time of failure, OSDI'04; see
   :mod:`.shadow`), or a hook; too many restarts per interval turn ``restart`` and ``shadow``
   into ``disable``);
3. unwind every thread in or through the domain (they return errors to the kernel);
4. release the tracked kernel objects, except what a device may still touch (DMA memory, I/O
   mappings); IRQ handlers are unhooked but their lines stay masked;
5. unload the extension (its domain's heap, stacks and page table are freed);
6. reload it into a fresh domain and 7. run its init (configuration from the agent);
8. only then release the physical resources: DMA regions, I/O mappings, IRQ lines.

Each recovery is recorded as a :class:`Recovery` in ``kernel.recoveries`` with events in
``kernel.events``. Like the paper, recovery protects against mistakes, not malice.
"""
from __future__ import annotations

import html
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Callable

from ..graded import own
from ..kernel.panic import KernelPanic, ProcessKilled
from .interfaces import DETACH_ROUTINES, SYNC_ROUTINES
from .xpc import DomainFault

TRIGGERS = ("fault", "check", "timeout", "explicit")
POLICIES = ("restart", "disable", "shadow")


@dataclass
class RecoveryStep:
    """One step of a recovery: its name, when it ended (simulated cycles), what it did."""

    name: str
    time: int
    detail: str = ""


@dataclass
class Recovery:
    """One recovery of one extension. Plain data: prints, ``to_dict``, HTML."""

    extension: str
    trigger: str
    cause: str
    policy: str
    steps: list[RecoveryStep] = field(default_factory=list)
    ok: bool = False
    started: int = 0
    finished: int = 0
    released: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    old_domain: str = ""
    generation: int = 0
    hz: int = 1_700_000_000              # the clock the times are in (cycles per second)

    @property
    def seconds(self) -> float:
        """Simulated seconds from detection to the end of recovery."""
        return (self.finished - self.started) / self.hz

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        head = (f"recovery of {self.extension} ({self.trigger}: {self.cause}) policy "
                f"{self.policy}: {'ok' if self.ok else 'FAILED'}")
        return "\n".join([head] + [f"  {s.time:>12} {s.name}: {s.detail}" for s in self.steps])

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{s.time}</td><td>{html.escape(s.name)}</td>"
                       f"<td>{html.escape(s.detail)}</td></tr>" for s in self.steps)
        return (f"<p>{html.escape(str(self).splitlines()[0])}</p>"
                f"<table class='nookslab-recovery'>{rows}</table>")


@dataclass
class Agent:
    """The user-mode recovery agent's configuration (read from its configuration files).

    ``policy``: ``"restart"`` (default) or ``"disable"``, per extension in ``per_extension``, or a
    callable ``hook(manager, domain, record) -> bool`` (the shadow-driver issue plugs in here;
    it returns True when it has recovered the extension itself). ``software_faults``:
    ``"recover"`` or ``"error"`` (return an error code to the extension on a failed wrapper
    check). ``max_restarts`` per ``interval`` simulated seconds, then the extension is disabled.
    ``sync``: per-extension functions ``fn(extension)`` run before resources are released;
    ``sync_all``: also run every subsystem's sync routine (VFAT's fix: sync the file system, its
    dirty inodes then its dirty buffers, first, which cut on-disk corruption from 90% to 10%,
    SOSP'03 section 5.3). Both run with the failed domain readmitted (see ``_readmitted``).
    ``reset_device``: reset the device before the reload.
    """

    policy: str | Callable = "restart"
    per_extension: dict = field(default_factory=dict)
    software_faults: str = "recover"
    max_restarts: int = 5
    interval: float = 10.0
    sync: dict = field(default_factory=dict)
    sync_all: bool = False
    reset_device: bool = True
    reload_options: dict = field(default_factory=dict)

    def __setattr__(self, name, value):
        if name == "policy":
            check_policy(value)
        super().__setattr__(name, value)

    def policy_for(self, extension: str):
        own("policy")
        return self.per_extension.get(extension, self.policy)


def collect_objects(objects) -> tuple[list, list]:
    """The package's own garbage collection at recovery: given the tracked objects oldest first,
    ``(release, keep)``, both newest first (a driver's own cleanup order); ``keep`` holds what a
    device may still use (DMA memory, I/O mappings), released after the reload. Switched off
    while a student's ``collect`` hook runs."""
    own("collect")
    newest = list(objects)[::-1]
    return ([o for o in newest if not o.type.physical], [o for o in newest if o.type.physical])


def check_policy(policy):
    """``policy`` if it is a recovery policy name or a hook, else ValueError naming them."""
    if callable(policy) or policy in POLICIES:
        return policy
    raise ValueError(f"unknown recovery policy {policy!r}; choose from {', '.join(POLICIES)} "
                     "or a hook(manager, domain, record)")


class RecoveryManager:
    """The kernel-side recovery manager of one isolation manager."""

    def __init__(self, manager):
        self.manager = manager
        self.kernel = manager.kernel
        self.agent = Agent()
        self.pending: dict[int, tuple] = {}           # id(domain) -> (domain, trigger, cause)
        self.restarts: dict[str, list[int]] = {}
        self.observers: list[Callable] = []           # called at detection (tests, widgets)
        self.check_failures = 0
        self._masked: dict[int, list[int]] = {}      # id(domain) -> irq lines we masked
        self._syncing = None                          # the failed domain a sync may call
        self._sync_fault: str | None = None           # how it failed again, if it did

    # -- detection ------------------------------------------------------------------------
    def check_failed(self, domain, cause: str, error):
        """A wrapper refused an argument: a software fault, the policy decides."""
        self.check_failures += 1
        self.kernel.events.add("check", domain.name, cause)
        if self.agent.software_faults == "error":
            return error
        raise DomainFault("check", cause)

    def detected(self, domain, trigger: str, cause: str) -> None:
        """A failure in ``domain``: suspend it; recovery follows once nothing runs in it."""
        if domain.failed:
            return
        if domain is self._syncing:
            # Recovery's sync called into the failed domain and it failed again: refuse every
            # further call (the kernel's sync goes on without it); recovery is already running.
            domain.failed = cause
            self._sync_fault = f"{trigger}: {cause}"
            self.kernel.events.add("fault", domain.name, f"during recovery's sync: {trigger}: "
                                                         f"{cause}")
            return
        domain.failed = cause
        self.kernel.events.add("fault", domain.name, f"{trigger}: {cause}")
        for observer in self.observers:
            observer(domain, trigger, cause)
        self._disable_irqs(domain)
        self.pending[id(domain)] = (domain, trigger, cause)
        # The agent is a user process: it runs when the kernel next schedules (an event now).
        self.kernel.clock.schedule(0, lambda d=domain: self._agent_wakes(d), priority=-1,
                                   label=f"nooks agent {domain.name}")

    def domain_quiet(self, domain) -> None:
        """The last thread left a failed domain. Recovery waits for the user-mode agent: it
        runs when no system call is in progress (the kernel code that called the extension
        may still hold references that recovery would free under it)."""

    def _may_run(self) -> bool:
        k = self.kernel
        return k.current is None and k.cpu.in_interrupt == 0 and k.verdict is None

    def run_pending(self) -> None:
        """Run every pending recovery whose domain is quiet, if the agent may run now."""
        if not self._may_run():
            return
        for domain, _, _ in list(self.pending.values()):      # in order of detection
            if id(domain) in self.pending and domain.frames == 0:
                self._run_pending(domain)

    def _agent_wakes(self, domain) -> None:
        if id(domain) not in self.pending:
            return
        if self.manager.shadows.may_recover(domain):
            self.kernel.guard(self._run_pending, domain)     # the shadow manager: in-kernel
            return
        if domain.frames or not self._may_run():
            # Busy: the agent sleeps one jiffy and looks again.
            k = self.kernel
            k.clock.schedule(k.timers.cycles_per_jiffy, lambda d=domain: self._agent_wakes(d),
                             priority=-1, label=f"nooks agent {domain.name}")
            return
        self.kernel.guard(self._run_pending, domain)

    def _run_pending(self, domain) -> None:
        _, trigger, cause = self.pending.pop(id(domain))
        for name in list(domain.modules):
            self.recover_module(name, domain, trigger, cause)
        if not domain.destroyed:
            self.manager.destroy(domain)

    # -- the explicit trigger ------------------------------------------------------------
    def recover_extension(self, name: str, trigger: str = "explicit") -> Recovery:
        k = self.kernel
        module = k.modules.get(name)
        if module is None or module.domain is None:
            loaded = sorted(k.modules)
            raise ValueError(f"extension {name!r} is not loaded; loaded: {loaded}")
        domain = module.domain
        if domain.frames:
            raise ValueError(f"extension {name!r} is running; recovery waits for it to leave")
        cause = "explicit trigger"
        if not domain.failed:
            domain.failed = cause
            k.events.add("fault", domain.name, f"{trigger}: {cause}")
            self._disable_irqs(domain)
        self.pending.pop(id(domain), None)
        record = None
        for mname in list(domain.modules):
            rec = self.recover_module(mname, domain, trigger, cause)
            if mname == name:
                record = rec
        if not domain.destroyed:
            self.manager.destroy(domain)
        return record

    # -- the steps ---------------------------------------------------------------------------
    def recover_module(self, name: str, domain, trigger: str, cause: str) -> Recovery:
        k = self.kernel
        module = k.modules.get(name)
        record = Recovery(name, trigger, cause, "", started=k.clock.now, old_domain=domain.name,
                          hz=k.clock.hz)
        k.recoveries.append(record)
        k.events.add("recovery", name, f"start ({trigger}: {cause})")

        def step(what: str, detail: str = "") -> None:
            record.steps.append(RecoveryStep(what, k.clock.now, detail))
            k.events.add("recovery", name, f"{what}: {detail}" if detail else what)

        step("disable interrupts", ", ".join(f"irq {i}" for i in self._irq_lines(domain))
             or "no irq")
        policy = self.agent.policy_for(name)
        unloading = module is not None and getattr(module, "unloading", False)
        if unloading:
            policy = "disable"                  # rmmod was asked for: finish it, no restart
            step("agent policy", "failed during rmmod: release, no restart")
        elif self.manager.hooks.policy is not None:     # a student's policy (nooks/hooks.py)
            policy = self._hook_policy(name, cause, step)
        elif policy in ("restart", "shadow") and not self._restart_allowed(name):
            policy = "disable"
            step("agent policy", "restart limit reached: disable")
            self.manager.shadows.give_up(name)
        record.policy = policy if isinstance(policy, str) else getattr(policy, "__name__", "hook")
        step("agent policy", record.policy)
        step("unwind", f"{domain.frames} thread(s) in the domain")
        if policy == "shadow":
            self.manager.shadows.failed(domain, trigger, cause)   # explicit triggers too
        syncs = [self.agent.sync[name]] if name in self.agent.sync else []
        if self.agent.sync_all:
            syncs += [getattr(sub, r) for sub in k.subsystems.values() for r in SYNC_ROUTINES
                      if hasattr(sub, r)]
        for sync in syncs:
            with self._readmitted(domain):
                try:
                    written = sync(name)
                    step("sync", f"dirty buffers written back ({written})")
                except (KernelPanic, ProcessKilled):
                    raise
                except Exception as exc:                          # noqa: BLE001
                    record.errors.append(f"sync: {exc}")
            if self._sync_fault is not None:
                record.errors.append(f"sync: the extension failed again ({self._sync_fault})")
                step("sync", f"the extension failed again: {self._sync_fault}; calls refused")
        physical = self._release(domain, record, physical=False)
        for sub in list(k.subsystems.values()):
            for routine in DETACH_ROUTINES:
                if hasattr(sub, routine):
                    try:
                        getattr(sub, routine)(name)
                    except (KernelPanic, ProcessKilled):
                        raise
                    except Exception as exc:                      # noqa: BLE001
                        record.errors.append(f"{routine}: {exc}")
        step("release objects", f"{len(record.released)} released, {len(physical)} kept "
                                f"for the device")
        options = dict(self.agent.reload_options.get(name, {}))
        generation = module.generation if module is not None else 0
        if module is not None and not unloading:
            module.state = "unloaded"
            module.error = f"recovered after {trigger}: {cause}"
            if k.modules.get(name) is module:
                del k.loader.modules[name]
        elif module is not None:
            module.error = f"rmmod failed in the driver ({trigger}: {cause}); recovered"
        if name in domain.modules:
            domain.modules.remove(name)
        if self.manager.domain_of.get(name) is domain:
            del self.manager.domain_of[name]
        step("unload", f"domain {domain.name} ({len(domain.memory_pages())} pages)")
        if not domain.modules:
            self.manager.destroy(domain)
            self.manager.forget_domain_caches(domain)
        if self.agent.reset_device and module is not None and module.spec.device_name:
            device = k.machine.devices.get(module.spec.device_name)
            if device is not None and hasattr(device, "reset"):
                device.reset()
                step("reset device", module.spec.device_name)
        if callable(policy):
            done = bool(policy(self.manager, domain, record))
            step("shadow recovery" if done else "hook declined")
            record.ok = done
        elif policy in ("restart", "shadow") and k.verdict is None:
            self.restarts.setdefault(name, []).append(k.clock.now)
            shadows = self.manager.shadows if policy == "shadow" else None
            if shadows is not None:
                shadows.before_reload(name)
            new = k.loader.load(name, **options)
            new.generation = generation + 1
            step("reload", f"into domain {new.domain.name if new.domain else '-'}")
            step("init", "ok" if new.ok else f"failed: {new.error}")
            record.ok = new.ok
            record.generation = new.generation
            if shadows is not None and new.ok and k.verdict is None:
                record.ok = shadows.restore(name, record, step)
        elif unloading:
            step("unloaded", "rmmod completes")
            record.ok = True
        else:
            # Leave it registered as disabled: its registrations are gone, so a program that
            # opens its device meets what the kernel answers for a device nobody drives (ENODEV)
            if module is not None:
                module.state = "disabled"
                module.error = f"disabled after {trigger}: {cause}"
                k.loader.modules[name] = module
            step("disabled", "left unloaded")
            record.ok = policy == "disable"
        for obj in physical:
            self._release_one(domain, obj, record)
        for irq in self._masked.pop(id(domain), []):
            k.irqs.enable_irq(irq)
        step("release physical", f"{len(physical)} region(s); irq lines unmasked")
        record.finished = k.clock.now
        k.events.add("recovery", name, "done" if record.ok else "failed")
        return record

    # -- helpers ---------------------------------------------------------------------------
    @contextmanager
    def _readmitted(self, domain):
        """Let the kernel call into the failed ``domain`` for the duration of a sync.

        A sync-before-release is kernel code (the VFS's ``fsync_dev``), but part of it is the
        file system's: dirty inodes reach a buffer only through its ``write_inode``, so the sync
        must cross into the failed-but-not-yet-released domain through the usual wrappers (an
        XPC; its heap, page table and tracked objects are still there, its threads unwound and
        its interrupt lines masked, so only this sync can enter it). If the extension fails
        again there, :meth:`detected` marks the domain failed once more, with no new recovery:
        the wrappers refuse its remaining calls and the kernel's sync goes on without them.
        """
        cause = domain.failed
        domain.failed = None
        self._syncing, self._sync_fault = domain, None
        try:
            yield
        finally:
            self._syncing = None
            domain.failed = cause

    def _irq_lines(self, domain) -> list[int]:
        lines = {obj.args.get("irq") for obj in domain.tracker.registrations.values()
                 if obj.type.name == "request_irq"}
        return sorted(i for i in lines if isinstance(i, int))

    def _disable_irqs(self, domain) -> None:
        lines = self._irq_lines(domain)
        masked = self._masked.setdefault(id(domain), [])
        for irq in lines:
            if irq not in masked:
                self.kernel.irqs.disable_irq(irq)
                masked.append(irq)

    def _hook_policy(self, name: str, cause: str, step) -> str:
        """Ask the policy hook; anything but a recovery policy name disables (and says so)."""
        self._restart_allowed(name)                 # drops restarts older than the interval
        choice = self.manager.hooks.policy(name, len(self.restarts.get(name, [])), cause)
        if choice not in POLICIES:
            step("agent policy", f"policy returned {choice!r}, not one of {POLICIES}: disable")
            return "disable"
        return choice

    def _restart_allowed(self, name: str) -> bool:
        own("policy")
        k = self.kernel
        window = k.clock.cycles(self.agent.interval)
        recent = [t for t in self.restarts.get(name, []) if k.clock.now - t < window]
        self.restarts[name] = recent
        return len(recent) < self.agent.max_restarts

    def _modules(self, domain):
        return [self.kernel.modules[n] for n in domain.modules if n in self.kernel.modules]

    def _release(self, domain, record: Recovery, physical: bool) -> list:
        """Step 4: release every tracked object the device cannot touch; return the others."""
        collect = self.manager.hooks.collect or collect_objects   # or a student's (hooks.py)
        release, kept = collect(domain.tracker.enumerate()[::-1])   # oldest first
        for obj in kept:
            record.kept.append(obj.describe())
        for obj in release:
            self._release_one(domain, obj, record)
        return list(kept)

    def _release_one(self, domain, obj, record: Recovery) -> None:
        k = self.kernel
        factory = self.manager.wrappers
        ttype = obj.type
        undo = ttype.release
        try:
            if undo is not None and undo in k.symbols.functions and obj.refs > 0:
                spec = k.symbols.specs[undo]
                released_param = spec.releases or next(
                    (a.name for a in spec.args if a.kind == "object" and a.type == ttype.name),
                    None)
                args = factory.release_args(undo, obj, released_param)
                fn = k.symbols.functions[undo]
                saved = k.mmu.switch(k.mmu.kernel_pt)
                try:
                    for _ in range(min(obj.refs, 1 << 16)):     # each reference, once
                        if spec.owned:
                            fn(*args, owner=record.extension)
                        else:
                            fn(*args)
                finally:
                    k.mmu.switch(saved)
                record.released.append(f"{obj.describe()} via {undo}")
            else:
                record.released.append(f"{obj.describe()} (forgotten)")
        except (KernelPanic, ProcessKilled):
            raise
        except Exception as exc:                                  # noqa: BLE001
            from ..kernel.kernel import describe
            record.errors.append(f"{obj.describe()}: {describe(exc)}")
        factory.forget(domain, obj)
