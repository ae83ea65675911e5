"""The other approaches of SOSP'03 Table 1 as configurations of the same kernel (honestly simplified).

Every configuration runs the same unmodified driver code on the same kernel; what changes is the
protection model (what a fault can reach and what is caught) and the cost model (what a crossing
and a store cost). Each is a *teaching model* of its class of system, built from the Nooks layer's
parts (domains, wrappers, tracker, recovery), not a reimplementation of one system:

``nooks``          SOSP'03: stores confined to the driver's domain by the page table (loads
                   unchecked); every crossing a page-table switch with a TLB flush; restart.
``nooks+shadow``   the same, recovered by a shadow driver (OSDI'04, :mod:`.shadow`).
``user-level``     a microkernel-style driver process (MINIX 3, SUD): stores confined as in
                   Nooks; in addition the driver *cannot disable interrupts* (its irq-saving
                   lock calls only take the lock, and its code runs with interrupts on), so a
                   hang in it is a timeout the kernel recovers from, never a dead system. Every
                   crossing is an IPC (two context switches plus the address-space switch) and
                   every data buffer the driver touches is copied into it, not mapped.
                   Simplified: loads from kernel memory are not blocked (a real driver process
                   could not even read them; modelling that needs marshalling every object).
``sfi``            software fault isolation (Wahbe et al., XFI, BGI): every store of the driver
                   is checked in software against the driver's memory; no page-table switch, no
                   TLB flush. Its protection model is Nooks' (stores only), enforced in our
                   simulator by the same write map; only the costs differ: a check per store
                   and a cheap crossing.
``safe-language``  a driver written in a type- and memory-safe language (SafeDrive, Singularity):
                   every load and store is bounds-checked against the *object* it names (the
                   driver's own allocations at object granularity, not page granularity), memory
                   is garbage-collected (a free never makes a block reusable while the driver
                   runs, so use-after-free and double free cannot happen), copies are checked
                   against both objects' bounds. A failed check raises an exception at the bad
                   access (fail-stop); the driver is then restarted. Logic errors (an inverted
                   loop test, a deleted statement, interrupts left off) are legal programs: not
                   caught. Stores outside any object the driver was given are also refused
                   (our model keeps the domain's write map for that).

The claims each protection model makes are listed in :data:`CLAIMS` (fault types whose effects
it is built to contain); ``nookslab.eval.beyond`` measures, from runs, whether it does.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..machine.memory import ADDRESS_MASK
from .manager import NooksLinker

#: The approaches of Table 1 we run, in the comparison's order (native is the baseline).
APPROACHES = ("native", "nooks", "nooks+shadow", "user-level", "sfi", "safe-language")

#: Calls that disable interrupts (a user-level driver's versions only take the lock).
IRQ_CALLS = ("spin_lock_irqsave", "spin_unlock_irqrestore", "local_irq_disable",
             "local_irq_enable")
#: The store intrinsics (charged a software check under sfi and safe-language).
STORES = ("st8", "st16", "st32", "stbytes", "writeb", "writew", "writel")
LOADS = ("ld8", "ld16", "ld32", "ldbytes", "readb", "readw", "readl")


@dataclass(frozen=True)
class Approach:
    """One configuration: what it is, what protects, what it costs (the text of the table)."""

    name: str
    system: str
    protection: str
    crossing: str
    recovery: str


DESCRIPTIONS = {
    "native": Approach("native", "Linux 2.4", "none: the driver runs in the kernel's domain",
                       "a function call", "none (a reboot)"),
    "nooks": Approach("nooks", "Nooks (SOSP'03)", "stores confined by the page table",
                      "page-table switch + TLB flush", "restart"),
    "nooks+shadow": Approach("nooks+shadow", "Nooks + shadow drivers (OSDI'04)",
                             "stores confined by the page table",
                             "page-table switch + TLB flush, taps", "restart + restore state"),
    "user-level": Approach("user-level", "driver process (microkernel style)",
                           "stores confined; cannot disable interrupts",
                           "IPC: two context switches + copies", "restart"),
    "sfi": Approach("sfi", "software fault isolation", "stores checked in software",
                    "checked call; a check per store", "restart"),
    "safe-language": Approach("safe-language", "type-safe language", "loads/stores "
                              "bounds-checked per object; garbage-collected memory",
                              "typed call; a check per access", "restart"),
}


def configure(manager) -> None:
    """Set up the isolation manager of a kernel booted in one of the non-native modes."""
    k = manager.kernel
    mode = k.mode
    if mode == "nooks+shadow":
        manager.recovery.agent.policy = "shadow"
    if mode in ("user-level", "sfi", "safe-language"):
        k.linker = ApproachLinker(k, manager, mode)
    xpc = manager.xpc
    cost = k.cost
    if mode == "user-level":
        xpc.switch_cost = cost.switch_cost + cost.ipc_kernel
        manager.domain_class = UserLevelDomain
        _interrupts_on_in_driver(xpc)
    elif mode == "sfi":
        xpc.switch_cost = cost.sfi_crossing
        xpc.cost = cost.but(tagged_tlb=True)          # no address-space switch: no flush
    elif mode == "safe-language":
        xpc.switch_cost = cost.safe_crossing
        xpc.cost = cost.but(tagged_tlb=True)


def _interrupts_on_in_driver(xpc) -> None:
    """A driver process runs with interrupts on, also for the kernel's interrupt messages."""
    call = xpc.nooks_driver_call
    cpu = xpc.cpu

    def nooks_driver_call(domain, name, fn, args, per_call=None):
        saved = cpu.irq_enabled
        cpu.irq_enabled = True
        try:
            return call(domain, name, fn, args, per_call)
        finally:
            cpu.irq_enabled = saved

    xpc.nooks_driver_call = nooks_driver_call        # this kernel's engine only


class UserLevelDomain:
    """Factory for a user-level driver's domain: a protection domain in which the kernel's
    memory is not even *readable*: the driver sees only its own memory (heap, stacks, device
    registers, DMA regions), the buffers lent to it, and the kernel objects the wrappers handed
    it (page granularity: what else shares such a page is visible too, a simplification of
    marshalling). Lent data buffers are charged as copies into the driver process (IPC copies
    data; it cannot map it)."""

    def __new__(cls, manager, name):
        import numpy as np

        from ..machine.memory import PAGE_SHIFT
        from .domain import ProtectionDomain, _pages
        domain = ProtectionDomain(manager, name)
        k = manager.kernel
        pt = domain.pt.array
        pt[~domain.writable] = 0                   # nothing of the kernel's is mapped
        reads: dict[int, int] = {}                 # page -> objects handed over on it
        charge = k.charge
        cost = k.cost
        grant, revoke = domain.page_grant, domain.revoke

        def page_grant(addr, length):
            charge(length * cost.ipc_copy_per_byte_milli // 1000)
            grant(addr, length)

        def hide(first, last):
            for page in range(first, last + 1):
                if not domain.writable[page] and page not in reads:
                    pt[page] = 0

        def revoke_(addr, length):
            revoke(addr, length)
            hide(*_pages(addr, length))

        def kernel_mapped(addr, length, flags):
            first, last = _pages(addr, length)
            keep = domain.writable[first:last + 1]
            present = np.uint8(flags & 1)
            pt[first:last + 1] = np.where(keep & bool(present), present | 2, 0)
            for page in range(first, last + 1):
                if page in reads and not domain.writable[page]:
                    pt[page] = present

        tracker = domain.tracker
        add, remove = tracker.add, tracker.remove

        def shown(obj):
            return not obj.key and obj.addr > 0 and obj.size > 0

        def add_(obj):
            if shown(obj):
                first, last = _pages(obj.addr, obj.size)
                for page in range(first, last + 1):
                    reads[page] = reads.get(page, 0) + 1
                    if not domain.writable[page]:
                        pt[page] = k.mmu.kernel_pt.array[page] & 1
            return add(obj)

        def remove_(obj):
            remove(obj)
            if shown(obj):
                first, last = _pages(obj.addr, obj.size)
                for page in range(first, last + 1):
                    n = reads.get(page, 0) - 1
                    if n > 0:
                        reads[page] = n
                    else:
                        reads.pop(page, None)
                hide(first, last)

        k.mmu.coherency_hooks.remove(domain._kernel_mapped)
        domain._kernel_mapped = kernel_mapped
        k.mmu.coherency_hooks.append(kernel_mapped)
        domain.page_grant = page_grant
        domain.revoke = revoke_
        tracker.add = add_
        tracker.remove = remove_
        del PAGE_SHIFT
        return domain


class SafetyViolation(Exception):
    """A safe language's run-time check failed (bounds, liveness): the driver stops here."""


class ApproachLinker(NooksLinker):
    """Binds a driver's imports for the user-level, sfi and safe-language configurations."""

    def __init__(self, kernel, manager, mode: str):
        super().__init__(kernel, manager)
        self.mode = mode

    def resolve(self, module, name: str):
        fn = super().resolve(module, name)
        k = self.kernel
        if self.mode == "user-level" and name in IRQ_CALLS:
            return self._no_cli(name)
        if self.mode == "sfi" and name in STORES:
            return _charged(fn, k, k.cost.sfi_store)
        if self.mode == "safe-language":
            if name in STORES or name in LOADS:
                return _bounds_checked(fn, name, k, module)
            if name == "kfree":
                return _collected(module, fn)
            if name in ("memcpy", "memmove", "memset"):
                return _checked_copy(module, name, fn, k)
        return fn

    def _no_cli(self, name: str):
        """A driver process's lock calls: the lock only, interrupts stay as they are."""
        sync = self.kernel.subsystems["sync"]
        if name == "spin_lock_irqsave":
            def spin_lock_irqsave(lock):
                sync.spin_lock(lock)
                return 1
            return spin_lock_irqsave
        if name == "spin_unlock_irqrestore":
            def spin_unlock_irqrestore(lock, flags):
                sync.spin_unlock(lock)
            return spin_unlock_irqrestore
        return lambda: None                     # cli / sti: a driver process cannot


def _charged(fn, kernel, cycles: int):
    """``fn`` with ``cycles`` charged per call (sfi's software check of a store)."""
    clock = kernel.clock

    def store(*args):
        clock.now += cycles
        clock.busy += cycles
        return fn(*args)
    store.__name__ = getattr(fn, "__name__", "store")
    return store


def _in_heap(heap, a: int) -> bool:
    for base, n in heap.heap_pages:
        if base <= a < base + (n << 12):
            return True
    return False


def check_object(module, addr, n, access: str) -> None:
    """Refuse an access that starts in the driver's own heap outside a live object, or runs
    past the end of the object it starts in: a memory-safe language's bounds and liveness
    checks. (Kernel objects are checked by the domain's write map and the wrappers.)"""
    domain = module.domain
    if domain is None or type(addr) is not int or type(n) is not int or n <= 0:
        return
    heap = domain.heap
    a = addr & ADDRESS_MASK
    if not _in_heap(heap, a):
        return
    block = heap.block_of(a)
    if block is None:
        raise SafetyViolation(f"{access} of {n} byte(s) at {a:#010x}: not a live object")
    start, size = block
    if a + n > start + size:
        raise SafetyViolation(f"{access} of {n} byte(s) at {a:#010x} runs past its object "
                              f"({start:#010x}+{size})")


_WIDTH = {"ld8": 1, "st8": 1, "readb": 1, "writeb": 1, "ld16": 2, "st16": 2, "readw": 2,
          "writew": 2, "ld32": 4, "st32": 4, "readl": 4, "writel": 4}


def _bounds_checked(fn, name: str, kernel, module):
    clock = kernel.clock
    cycles = kernel.cost.safe_check
    access = "store" if name in STORES else "load"
    width = _WIDTH.get(name, 0)
    if name.startswith("write"):
        def checked(value, addr):
            clock.now += cycles
            clock.busy += cycles
            check_object(module, addr, width, access)
            return fn(value, addr)
    elif name == "stbytes":
        def checked(addr, data):
            clock.now += cycles
            clock.busy += cycles
            check_object(module, addr, len(data), access)
            return fn(addr, data)
    elif name == "ldbytes":
        def checked(addr, n):
            clock.now += cycles
            clock.busy += cycles
            check_object(module, addr, n, access)
            return fn(addr, n)
    elif access == "store":
        def checked(addr, value):
            clock.now += cycles
            clock.busy += cycles
            check_object(module, addr, width, access)
            return fn(addr, value)
    else:
        def checked(addr):
            clock.now += cycles
            clock.busy += cycles
            check_object(module, addr, width, access)
            return fn(addr)
    checked.__name__ = name
    return checked


def _collected(module, kfree):
    """kfree under garbage collection: a driver block is reclaimed at unload, never reused
    while the driver runs (no use-after-free, no double free)."""
    def kfree_gc(ptr):
        domain = module.domain
        if domain is not None and type(ptr) is int and domain.heap.owns(ptr & ADDRESS_MASK):
            return None
        return kfree(ptr)
    kfree_gc.__name__ = "kfree"
    return kfree_gc


def _checked_copy(module, name, fn, kernel):
    cycles = kernel.cost.safe_check
    clock = kernel.clock

    def checked(dst, src_or_c, n, *rest):
        clock.now += cycles
        clock.busy += cycles
        check_object(module, dst, n, "store")
        if name != "memset":
            check_object(module, src_or_c, n, "load")
        return fn(dst, src_or_c, n, *rest)
    checked.__name__ = name
    return checked
