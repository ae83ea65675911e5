"""Lightweight kernel protection domains (SOSP'03 section 4.2).

A :class:`ProtectionDomain` is a synchronized copy of the kernel's page table in which every kernel
page is read-only, plus the memory the extension may write: its own heap, a pool of stacks, its
device's register window (granted at ``ioremap``), its DMA regions (``pci_alloc_consistent``), and
the kernel buffers it currently holds, granted and revoked by the page tracker. Several extensions
may share one domain (the paper's figure 2).

Non-goal, as in the paper: the domain stops *mistakes*, not malice. Python driver code could reach
the MMU object and reload the page table (as a malicious C extension could reload CR3); the
loader simply never binds such a name into a driver, and wrappers are the only way out.
"""
from __future__ import annotations

import numpy as np

from ..graded import own
from ..kernel.heap import MAX_KMALLOC, Heap
from ..machine.memory import ADDRESS_MASK, ADDRESS_PAGES, PAGE_SHIFT, PAGE_SIZE, OutOfMemory
from ..machine.mmu import PRESENT, WRITE, PageTable
from .tracker import ObjectTracker

STACK_PAGES = 2          # each stack of the pool (8 KiB, Linux 2.4's kernel stack size)
STACKS = 2               # stacks allocated up front; nesting deeper allocates more


class ProtectionDomain:
    """One lightweight kernel protection domain.

    Attributes
    ----------
    name: the domain's name (its first extension's name). modules: names of extensions in it.
    pt: its page table. writable: per-page bool, what the domain may write (heap, stacks, grants).
    heap: its kmalloc heap. stacks: addresses of its stack pool. tracker: its object tracker.
    deferred_kernel / deferred_driver: the two deferred-call queues (delayed kernel calls made
    by the extension; delayed extension calls made by the kernel).
    """

    def __init__(self, manager, name: str):
        k = manager.kernel
        self.manager = manager
        self.kernel = k
        self.name = name
        self.modules: list[str] = []
        self.mmu = k.mmu
        self.pages = k.machine.pages
        self.owner = self.pages.new_owner(f"domain {name}")
        self.pt = PageTable(name, k.mmu.kernel_pt)
        hooks = getattr(manager, "hooks", None)
        if hooks is not None and hooks.page_table is not None:      # a student's build
            self.pt.array[:] = _built_table(hooks.page_table, k.mmu.kernel_pt.array)
        else:
            self.pt.array[:] = domain_page_table(self.pt.array)   # the kernel, read-only
        self._write_check = hooks.write_check if hooks is not None else None
        self.writable = np.zeros(ADDRESS_PAGES, dtype=bool)
        self.grants: dict[int, int] = {}          # page -> grant count (page tracker)
        self.heap = Heap(f"domain {name}", k.mmu, self.pages, self.owner,
                         on_new_pages=self._heap_pages)
        k.heaps.append(self.heap)                 # the integrity sweep reads it too
        self.stacks: list[int] = []
        for _ in range(STACKS):
            self._new_stack()
        self.tracker = ObjectTracker(name)
        self.deferred_kernel: list[tuple] = []
        self.deferred_driver: list[tuple] = []
        self.caches: list[list[int]] = []         # preallocated objects (wrappers.PREALLOCATED)
        self.frames = 0                           # XPC frames of this domain on the stack
        self.failed: str | None = None            # why, once a failure was detected
        self.destroyed = False
        self.copies_made = 0
        self.raw_entries: dict[str, object] = {}  # init_module / cleanup_module before wrapping
        k.mmu.coherency_hooks.append(self._kernel_mapped)

    # -- memory the domain may write -----------------------------------------------------
    def grant(self, addr: int, length: int) -> None:
        """Let the domain write ``[addr, addr + length)`` (whole pages)."""
        first, last = _pages(addr, length)
        if first == last:                         # one page (an skb): no numpy slices
            self.writable[first] = True
            present = self.mmu.kernel_pt.array[first] & PRESENT
            self.pt.array[first] = present | WRITE if present else 0
            return
        self.writable[first:last + 1] = True
        present = self.mmu.kernel_pt.array[first:last + 1] & PRESENT
        self.pt.array[first:last + 1] = present | np.where(present, WRITE, 0).astype(np.uint8)

    def revoke(self, addr: int, length: int) -> None:
        """Write-protect ``[addr, addr + length)`` again (kernel pages stay readable)."""
        first, last = _pages(addr, length)
        if first == last:
            self.writable[first] = False
            self.pt.array[first] = self.mmu.kernel_pt.array[first] & PRESENT
            return
        self.writable[first:last + 1] = False
        self.pt.array[first:last + 1] = self.mmu.kernel_pt.array[first:last + 1] & PRESENT

    def can_write(self, addr: int, length: int) -> bool:
        if self._write_check is not None:          # a student's check (nooks/hooks.py)
            view = self.writable.view()
            view.flags.writeable = False
            return bool(self._write_check(view, addr, length))
        return may_write(self.writable, addr, length)

    def can_read(self, addr: int, length: int) -> bool:
        if length <= 0:
            return True
        if addr <= 0 or addr + length - 1 > ADDRESS_MASK:
            return False
        first, last = _pages(addr, length)
        return bool((self.pt.array[first:last + 1] & PRESENT).all())

    def page_grant(self, addr: int, length: int) -> None:
        """The page tracker lends a kernel buffer's pages to the domain (counted)."""
        first, last = _pages(addr, length)
        for page in range(first, last + 1):
            self.grants[page] = self.grants.get(page, 0) + 1
        self.grant(addr, length)

    def page_revoke(self, addr: int, length: int) -> None:
        """The page tracker takes a lent buffer back; a page stays writable while lent twice."""
        first, last = _pages(addr, length)
        for page in range(first, last + 1):
            n = self.grants.get(page, 0) - 1
            if n > 0:
                self.grants[page] = n
                continue
            self.grants.pop(page, None)
            self.revoke(page << PAGE_SHIFT, PAGE_SIZE)

    def _kernel_mapped(self, addr: int, length: int, flags: int) -> None:
        """Page-table coherency: a kernel mapping change reaches this copy, read-only."""
        first, last = _pages(addr, length)
        keep = self.writable[first:last + 1]
        present = np.uint8(flags & PRESENT)
        self.pt.array[first:last + 1] = np.where(keep & bool(present), present | WRITE, present)

    # -- the domain's heap and stacks -----------------------------------------------------
    def _heap_pages(self, base: int, count: int) -> None:
        self.grant(base, count * PAGE_SIZE)

    def _new_stack(self) -> int:
        base = self.pages.alloc(STACK_PAGES, self.owner)
        self.grant(base, STACK_PAGES * PAGE_SIZE)
        self.stacks.append(base)
        return base

    def stack(self, depth: int) -> int:
        """The stack for the ``depth``-th nested entry (reused, or newly allocated)."""
        while depth >= len(self.stacks):
            self._new_stack()
        return self.stacks[depth]

    def kmalloc(self, size: int, flags: int = 0, owner: str = "") -> int:
        """``kmalloc`` from the extension: served from the domain's own heap (NULL when no
        page is left for it to grow)."""
        try:
            return self.heap.kmalloc(size, owner or self.name)
        except OutOfMemory:
            return 0

    def kfree(self, ptr: int) -> None:
        """``kfree`` into the domain heap; a freed large block is write-protected until reused
        (how Nooks caught the 3c90x driver writing a buffer it had freed, SOSP'03 section 5)."""
        ptr &= 0xFFFFFFFF
        large = self.heap.large_block(ptr) if ptr else None
        self.heap.kfree(ptr)
        if large is not None:
            base, npages = large
            self.revoke(base, npages * PAGE_SIZE)

    def owns_heap(self, addr: int, length: int) -> bool:
        block = self.heap.block_of(addr)
        return block is not None and addr + length <= block[0] + block[1]

    # -- lifetime ---------------------------------------------------------------------------
    def memory_pages(self) -> np.ndarray:
        """Page numbers the domain owns (heap and stacks)."""
        return self.pages.pages_of(self.owner)

    def destroy(self) -> None:
        """Free the heap, the stacks and the page table (the domain is gone)."""
        if self.destroyed:
            return
        self.heap.release_pages()
        if self.heap in self.kernel.heaps:
            self.kernel.heaps.remove(self.heap)
        for base in self.stacks:
            self.pages.free(base, STACK_PAGES)
        self.stacks.clear()
        left = self.pages.pages_of(self.owner)
        for page in left:                         # large blocks the heap kept poisoned
            self.pages.free(int(page) << PAGE_SHIFT, 1)
        self.writable[:] = False
        self.grants.clear()
        self.tracker.clear()
        if self._kernel_mapped in self.mmu.coherency_hooks:
            self.mmu.coherency_hooks.remove(self._kernel_mapped)
        self.destroyed = True

    def __repr__(self) -> str:
        state = "destroyed" if self.destroyed else ("failed" if self.failed else "live")
        return f"<ProtectionDomain {self.name} {state}: {', '.join(self.modules)}>"


def domain_page_table(kernel_flags: np.ndarray) -> np.ndarray:
    """The package's own page table for a new domain: every page the kernel maps, read-only
    (SOSP'03 section 4.2). Switched off while a student's ``page_table`` hook runs."""
    own("page_table")
    return kernel_flags & PRESENT


def may_write(writable: np.ndarray, addr: int, length: int) -> bool:
    """The package's own write check over ``writable`` (one bool per page): nothing to write is
    allowed; an address at or below 0 or a range past the top of the 32-bit space never is;
    otherwise every page touched must be writable. Switched off while a student's
    ``write_check`` hook runs."""
    own("write_check")
    if length <= 0:
        return True
    if addr <= 0 or addr + length - 1 > ADDRESS_MASK:
        return False
    first, last = _pages(addr, length)
    return bool(writable[first:last + 1].all())


def _built_table(build, kernel_flags: np.ndarray) -> np.ndarray:
    """A page table from ``build(copy of the kernel's flags)``, checked for shape."""
    table = np.asarray(build(kernel_flags.copy()))
    if table.shape != kernel_flags.shape:
        raise ValueError(f"page_table hook must return {kernel_flags.shape[0]} page flags, "
                         f"got shape {table.shape}")
    return table.astype(np.uint8)


def _pages(addr: int, length: int) -> tuple[int, int]:
    a = addr & ADDRESS_MASK
    return a >> PAGE_SHIFT, ((a + max(length, 1) - 1) & ADDRESS_MASK) >> PAGE_SHIFT


__all__ = ["MAX_KMALLOC", "ProtectionDomain", "domain_page_table", "may_write"]
