"""The Nooks Isolation Manager (NIM, SOSP'03 section 4): isolation, interposition, object tracking
and recovery for one kernel, installed through the kernel's few Nooks hooks.

It is the kernel's ``isolation`` object and its ``linker``: the loader asks it to ``prepare`` a
module (a fresh protection domain) and to resolve each imported name: CPU intrinsics stay direct,
``xpc=False`` exports are linked straight into the domain, every other import binds to a
generated kernel wrapper. The module's ``init_module`` and ``cleanup_module`` are interposed too,
so even init runs inside the domain.
"""
from __future__ import annotations

from functools import partial

from ..kernel.api import INTRINSICS
from ..machine.memory import PAGE_SHIFT
from ..kernel.module import Linker, LinkError
from .domain import ProtectionDomain
from .hooks import NO_HOOKS, NooksHooks
from .interfaces import Catalog
from .recovery import RecoveryManager
from .wrappers import WrapperFactory
from .xpc import XpcEngine

ENTRY_POINTS = ("init_module", "cleanup_module")


class NooksLinker(Linker):
    """Binds a module's imports in the nooks configuration (interposition by linking)."""

    def __init__(self, kernel, manager):
        super().__init__(kernel)
        self.manager = manager

    def resolve(self, module, name: str):
        if name in INTRINSICS:
            return self.intrinsic(name)
        symbols = self.kernel.symbols
        if name not in symbols:
            raise LinkError(f"{module.name}: unresolved symbol {name}")
        spec = symbols.specs[name]
        if not spec.xpc:                               # runs in the caller's domain, no crossing
            fn = symbols.functions[name]
            return partial(fn, owner=module.name) if spec.owned else fn
        return self.manager.wrappers.kernel_wrapper(module.domain, module, name)


class IsolationManager:
    """Nooks for one kernel.

    Attributes
    ----------
    domains: live protection domains by name. xpc: the XPC engine (``xpc_count``).
    catalog: the interfaces read from the kernel's specs. wrappers: the wrapper generator.
    recovery: the recovery manager and its user-mode agent. shared: extension -> domain name,
    for extensions that share one domain (the paper's figure 2).
    """

    def __init__(self, kernel, hooks: NooksHooks | None = None):
        self.kernel = kernel
        self.hooks = NO_HOOKS if hooks is None else hooks     # student parts (nooks/hooks.py)
        if not isinstance(self.hooks, NooksHooks):
            raise ValueError(f"hooks must be a NooksHooks, got {hooks!r}")
        self.catalog = Catalog(kernel)
        self.xpc = XpcEngine(self)
        self.wrappers = WrapperFactory(self)
        self.recovery = RecoveryManager(self)
        from .shadow import ShadowManager
        self.shadows = ShadowManager(self)             # shadow drivers (policy "shadow")
        self.domain_class = ProtectionDomain           # the user-level configuration's differs
        self.domains: dict[str, ProtectionDomain] = {}
        self.domain_of: dict[str, ProtectionDomain] = {}      # extension -> its domain
        self.shared: dict[str, str] = {}
        self._callbacks: dict[tuple, object] = {}
        self._tables: dict[tuple, object] = {}
        self._unloaded_leaks: dict[str, list[str]] = {}
        self.lendable_pages = 0

    # -- counters ------------------------------------------------------------------------
    @property
    def xpc_count(self) -> int:
        return self.xpc.count

    @property
    def trace_xpcs(self) -> bool:
        return self.xpc.trace

    @trace_xpcs.setter
    def trace_xpcs(self, on: bool) -> None:
        self.xpc.trace = bool(on)

    # -- the loader's hooks ----------------------------------------------------------------
    def share(self, extension: str, domain_name: str) -> None:
        """Load ``extension`` into the domain named ``domain_name`` (created on first use)."""
        self.shared[extension] = domain_name

    def prepare(self, module) -> None:
        """Create (or join) the module's protection domain and interpose its entry points."""
        dname = self.shared.get(module.name, module.name)
        domain = self.domains.get(dname)
        if domain is None or domain.failed or domain.destroyed:
            domain = self.domain_class(self, dname)
            self._unmap_user(domain)
            self.domains[dname] = domain
        domain.modules.append(module.name)
        module.domain = domain
        self.domain_of[module.name] = domain
        self.kernel.events.add("domain", dname, f"{module.name} joins domain {dname}")
        for entry in ENTRY_POINTS:
            fn = module.namespace.get(entry)
            if callable(fn):
                wrapped = self.wrappers.driver_wrapper(
                    domain, f"{module.name}.{entry}", fn,
                    {"args": (), "returns": _RET, "context": "process"})
                if entry == "cleanup_module":
                    wrapped = _unloading(module, wrapped)
                module.namespace[entry] = wrapped

    def unloaded(self, module) -> None:
        """After rmmod: record the domain heap's leaks, then destroy the domain if now empty."""
        domain = module.domain
        if domain is None:
            return
        if module.name in domain.modules:
            domain.modules.remove(module.name)
        if self.domain_of.get(module.name) is domain:
            del self.domain_of[module.name]
        leaks = [f"kmalloc {size} bytes at {addr:#010x} (domain heap)"
                 for addr, size in domain.heap.leaks(module.name)]
        self._unloaded_leaks[module.name] = leaks
        if not domain.modules and domain.frames == 0:
            self.destroy(domain)

    def destroy(self, domain) -> None:
        for obj in domain.tracker.enumerate():
            self.wrappers.forget(domain, obj)
        domain.destroy()
        if self.domains.get(domain.name) is domain:
            del self.domains[domain.name]
        self.kernel.events.add("domain", domain.name, "domain destroyed")

    def held_by(self, owner: str) -> list[str]:
        """Leaks in an unloaded module's domain heap (read by ``kernel.held_by``)."""
        return self._unloaded_leaks.pop(owner, [])

    def dma_allocated(self, owner: str, addr: int, nbytes: int) -> None:
        domain = self.domain_of.get(owner)
        if domain is not None:
            domain.grant(addr, nbytes)

    def dma_freed(self, owner: str, addr: int, nbytes: int) -> None:
        domain = self.domain_of.get(owner)
        if domain is not None and not domain.destroyed:
            domain.revoke(addr, nbytes)

    @property
    def sync_before_release(self) -> bool:
        """Recovery syncs a failed file system (dirty inodes, then dirty buffers) before
        releasing it."""
        return self.recovery.agent.sync_all

    @sync_before_release.setter
    def sync_before_release(self, on: bool) -> None:
        self.recovery.agent.sync_all = bool(on)

    def buffer_pages_added(self, addr: int, count: int) -> None:
        """The block layer's dedicated buffer pool grew: pages the page tracker may lend."""
        self.lendable_pages += count

    def object_freed(self, type_name: str, addr: int) -> None:
        """The kernel freed an object on its own (``skb_ring_purge``...): forget it wherever
        a domain tracks it (the paper: "the kernel must be changed to notify Nooks")."""
        for domain in list(self.domains.values()):
            obj = domain.tracker.objects.get(addr, {}).get(type_name)
            if obj is not None:
                self.wrappers.forget(domain, obj)

    def user_pages_added(self, base: int, count: int) -> None:
        """A process got user pages: no protection domain maps them (see :meth:`_unmap_user`)."""
        for domain in self.domains.values():
            if not domain.destroyed:
                domain.pt.array[base >> PAGE_SHIFT:(base >> PAGE_SHIFT) + count] = 0

    def user_pages_removed(self, base: int, count: int) -> None:
        """A process exited and its user pages went back to the allocator: each domain sees
        them again as it sees any kernel page (the kernel may reuse them for its own data)."""
        kernel_pt = self.kernel.mmu.kernel_pt.array
        first = base >> PAGE_SHIFT
        for domain in self.domains.values():
            if not domain.destroyed:
                domain._kernel_mapped(base, count << PAGE_SHIFT, int(kernel_pt[first]))

    def _unmap_user(self, domain) -> None:
        """A domain's page table is one copy of the kernel's for every task that calls in, so
        it cannot hold any one process's user mappings: a driver that dereferences a user
        pointer itself (not through ``copy_from_user``/``copy_to_user``, which run in the
        kernel) faults in its domain, as the paper's manual user-pointer bugs did."""
        pages = self.kernel.machine.pages
        user = pages.owner == self.kernel.user_owner
        domain.pt.array[:len(user)][user] = 0

    def check_release(self, type_name: str, addr: int) -> None:
        """A kernel helper is about to free an object whose address it read from an extension's
        memory (``skb_ring_purge``): the check the wrapper of each single free would make.

        Called inside a kernel wrapper (the top XPC frame is the extension's call into the
        kernel): unless that domain's tracker holds ``addr`` as a ``type_name``, the wrapper
        refuses it as a bad parameter (``CheckFailed``), as ``dev_kfree_skb`` of the same
        pointer would be refused. Outside any domain (the native path, the kernel's own
        calls) nothing is checked.
        """
        frames = self.xpc.frames
        if not frames or frames[-1].to_driver:
            return
        domain = frames[-1].domain
        if domain.tracker.find(addr & 0xFFFFFFFF, type_name) is None:
            from .wrappers import CheckFailed
            raise CheckFailed(f"{type_name} {addr & 0xFFFFFFFF:#010x} is not one the extension "
                              f"owns (freed already, or never allocated)")

    def check_unregistered(self, type_name: str, addr: int) -> None:
        """The extension frees a ``type_name`` (``free_netdev``): the tracker recorded every
        registration it made, so the wrapper refuses to free one the kernel still reaches
        through a live registration (a bad parameter, caught before the kernel uses freed
        memory). Outside any domain nothing is checked."""
        frames = self.xpc.frames
        if not frames or frames[-1].to_driver:
            return
        held = frames[-1].domain.tracker.registered_with(addr & 0xFFFFFFFF)
        if held:
            from .wrappers import CheckFailed
            raise CheckFailed(f"{type_name} {addr & 0xFFFFFFFF:#010x} is still registered "
                              f"({held[0]}): it cannot be freed")

    def returned_to_user(self) -> None:
        """A system call returned to user mode: a pending recovery's agent may run now."""
        if self.recovery.pending:
            self.recovery.run_pending()

    def recover(self, name: str, trigger: str = "explicit"):
        """Recover extension ``name`` now (the explicit trigger)."""
        return self.recovery.recover_extension(name, trigger)

    # -- interposition on what the extension hands over ----------------------------------
    def callback_wrapper(self, domain, fn):
        """A driver wrapper for a callback (IRQ handler, timer function), one per function."""
        if getattr(fn, "__wrapped__", None) is not None and fn.__name__.startswith("nooks_dw_"):
            return fn
        key = (domain.name, id(domain), fn)
        wrapped = self._callbacks.get(key)
        if wrapped is None:
            wrapped = self.wrappers.driver_wrapper(domain, getattr(fn, "__name__", "callback"),
                                                   fn, None)
            self._callbacks[key] = wrapped
        return wrapped

    def ops_wrapper(self, domain, table):
        """The ops table of driver wrappers standing for ``table`` (one per table per domain)."""
        key = (domain.name, id(domain), id(table))
        entry = self._tables.get(key)
        if entry is None or entry[0] is not table:
            entry = (table, self.shadows.tap_table(domain, self.wrappers.ops_table(domain, table)))
            self._tables[key] = entry
        return entry[1]

    def forget_domain_caches(self, domain) -> None:
        for cache in (self._callbacks, self._tables):
            for key in [k for k in cache if k[1] == id(domain)]:
                del cache[key]

    def summary(self) -> dict:
        """Counts beside the paper's (SOSP'03 4.3, 4.4: 248 wrappers, 463 functions, 43 types)."""
        return self.catalog.summary()


def _unloading(module, wrapped):
    """rmmod's call of cleanup_module: a failure in it is recovered without a restart."""
    def cleanup_module():
        module.unloading = True          # stays set: the module is on its way out
        return wrapped()
    cleanup_module.__wrapped__ = wrapped
    return cleanup_module


class _Ret:
    kind = "scalar"
    name = "ret"
    type = None


_RET = _Ret()


def install(kernel, hooks: NooksHooks | None = None) -> IsolationManager:
    """Install Nooks on ``kernel`` (called by ``Kernel.__init__`` when mode is not native);
    ``hooks`` plugs in student parts of the mechanism (see :mod:`.hooks`)."""
    # A Layout with a field called "name" (net_device) shadows its struct name: file every
    # type under its C name so interfaces and layouts meet.
    for key, layout in list(kernel.object_types.items()):
        cname = getattr(layout, "struct_name", key)
        if key != cname:
            del kernel.object_types[key]
            kernel.object_types.setdefault(cname, layout)
    manager = IsolationManager(kernel, hooks)
    kernel.linker = NooksLinker(kernel, manager)
    kernel.subsystems["nooks"] = manager        # its held_by joins kernel.held_by (leak reports)
    from .approaches import configure
    configure(manager)                          # nooks+shadow, user-level, sfi, safe-language
    return manager
