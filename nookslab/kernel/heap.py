"""``kmalloc``/``kfree``: Linux 2.4's slab allocator, its metadata in simulated memory.

Laid out as Linux 2.4 lays it out (mm/slab.c, on-slab management): one ``kmem_cache_t`` per
kmalloc size class, each with two lists of slabs, ``slabs_partial`` (a free object left) and
``slabs_full``; each slab is one page that starts with its ``slab_t`` (list links, ``s_mem``,
``inuse``, ``free``) and its ``kmem_bufctl_t`` array, the free list: ``bufctl[i]`` is the index of
the free object after object ``i``, ``BUFCTL_END`` ends it. The objects follow, each with an
allocation header (magic, size, caller, class) and a red zone on either side, as
``SLAB_RED_ZONE``/``SLAB_POISON`` debugging adds them; a freed object is filled with the poison
byte 0x6b (ending in 0xa5). Objects above 2 KiB get pages of their own with the same header.

kmalloc and kfree walk all of it through the MMU, with the kernel's page table (the allocator is
kernel code, also when it serves a Nooks domain's heap): a wild store into a free-list link, a
``slab_t`` or a header really corrupts the heap, and the allocator's next walk faults (a link
pointing out of RAM), hands out the wrong memory, or trips one of its debug checks, each a
:class:`KernelBug` as ``BUG()`` is in Linux. Python keeps only what the page allocator knows
(which pages this heap holds, and the extent of each multi-page object) and where each cache
descriptor sits; every object-level fact is read from memory.

One :class:`Heap` serves the kernel; Nooks gives each protection domain a heap of its own, with
the same layout in the domain's own (writable) pages.
"""
from __future__ import annotations

import struct
from typing import Callable, Iterator

from ..machine.memory import PAGE_MASK, PAGE_SHIFT, PAGE_SIZE, PageAllocator
from ..machine.mmu import MMU, CpuFault
from .panic import KernelBug
from .slab import (_HDR, _REDZONE, BUFCTL_END, CACHE_MAGIC, CLASSES, GEOMETRY, HEADER,
                   KMALLOC_HEADER, KMEM_CACHE, MAGIC_FREE, MAGIC_LIVE, MASK, MAX_KMALLOC, OVERHEAD,
                   POISON_END, POISON_FREE, RED, RED_BYTE, SLAB, KernelView, _poison, _slab_image,
                   size_class)

__all__ = ["BUFCTL_END", "CACHE_MAGIC", "CLASSES", "GEOMETRY", "HEADER", "KMALLOC_HEADER",
           "KMEM_CACHE", "MAGIC_FREE", "MAGIC_LIVE", "MAX_KMALLOC", "OVERHEAD", "POISON_END",
           "POISON_FREE", "RED", "RED_BYTE", "SLAB", "Heap", "KernelView", "size_class"]


class Heap:
    """A kmalloc heap whose pages come from the page allocator under one owner.

    Parameters
    ----------
    mmu: memory access (the heap's own walks go through the kernel's view of it).
    pages: the page allocator; owner: the owner id its pages are recorded under.
    on_new_pages: called with (address, page count) when the heap grows (Nooks maps the pages).
    """

    def __init__(self, name: str, mmu: MMU, pages: PageAllocator, owner: int,
                 on_new_pages: Callable[[int, int], None] | None = None):
        self.name = name
        self.mmu = mmu
        self.data = mmu.data
        self.words = mmu.words
        self.kv = KernelView(mmu)
        self.pages = pages
        self.owner = owner
        self.on_new_pages = on_new_pages
        self.heap_pages: list[tuple[int, int]] = []       # (base, count) the heap holds
        self.slab_class: dict[int, int] = {}              # slab page -> its size class
        self.large: dict[int, int] = {}                   # large object's base -> pages
        self.large_page: dict[int, int] = {}              # each page of one -> its base
        self.large_free: list[tuple[int, int]] = []       # freed large (payload, pages)
        self.callers: list[str] = ["kernel"]              # the header's caller field names one
        self._caller_id: dict[str, int] = {"kernel": 0}
        self.allocations = 0
        self.frees = 0
        base = self._new_pages(1)                         # the cache descriptors (cache_cache)
        self.cache_of: dict[int, int] = {}
        self.class_of_cache: dict[int, int] = {}
        for i, cls in enumerate(CLASSES):
            cache = base + i * KMEM_CACHE.size
            chunk, num, _ = GEOMETRY[cls]
            self.kv.write(cache, struct.pack("<8I", cache, cache, cache + KMEM_CACHE.full_next,
                                             cache + KMEM_CACHE.full_next, cls, chunk, num,
                                             CACHE_MAGIC))
            self.cache_of[cls] = cache
            self.class_of_cache[cache] = cls

    # -- allocation ------------------------------------------------------------------------
    def kmalloc(self, size: int, owner: str = "kernel") -> int:
        """Allocate ``size`` bytes; return the address, or 0 (NULL) if it cannot."""
        if size <= 0 or size > MAX_KMALLOC:
            return 0
        if size > CLASSES[-1]:
            return self._alloc_large(size, owner)
        cls = 16 if size <= 16 else 1 << (size - 1).bit_length()
        chunk, num, first = GEOMETRY[cls]
        cache = self.cache_of[cls]
        words = self.words
        # Memory is read where the kernel's page table maps it; inside one of this heap's own
        # pages (always mapped RAM) the words are read directly, the same load the MMU would
        # make, and anything leading elsewhere takes the checked path (_take_checked).
        slab = words[cache >> 2]                          # cachep->slabs_partial.next
        if slab == cache:
            slab = self._grow(cls, cache)
        if slab in self.slab_class:
            w = slab >> 2
            free, s_mem = words[w + 4], words[w + 2]      # slabp->free, slabp->s_mem
        else:
            free, s_mem = num, -1
        if free < num and s_mem == slab + first:
            # kmem_cache_alloc_one_tail: the slab's first free object; advance its free list
            objp = s_mem + free * chunk
            nxt = words[w + 6 + free]                     # slab_bufctl(slabp)[free]
            words[w + 4] = nxt
            words[w + 3] = (words[w + 3] + 1) & MASK      # inuse++
        else:
            objp, nxt = self._take_checked(slab, chunk)
        if nxt == BUFCTL_END:                             # now full: to slabs_full
            self._list_del(slab)
            self._list_add(slab, cache + KMEM_CACHE.full_next)
        # SLAB_POISON / SLAB_RED_ZONE checks, after the object left the list (2.4's order: a
        # corrupted object is lost to the cache, and the next kmalloc gets the one after it)
        addr = objp + HEADER + RED
        if objp & ~PAGE_MASK == slab and s_mem == slab + first:
            data = self.data
            magic = words[objp >> 2]
            poisoned = data[addr:addr + cls] == _poison(cls)
        else:
            magic = self.kv.ld32(objp)
            poisoned = self.kv.read(addr, cls) == _poison(cls)
        if magic != MAGIC_FREE:
            raise KernelBug(f"{self.name}: slab corruption: the free list of size-{cls} leads "
                            f"to {addr:#010x}, which is not a free object")
        if not poisoned:
            raise KernelBug(f"{self.name}: slab corruption: object {addr:#010x} "
                            "written after it was freed")
        self.kv.write(objp, _HDR.pack(MAGIC_LIVE, size, self._caller(owner), cls) + _REDZONE)
        self.kv.write(addr + size, _REDZONE)
        self.allocations += 1
        return addr

    def _take_checked(self, slab: int, chunk: int) -> tuple[int, int]:
        """kmalloc's walk of a slab whose metadata does not hold together, load by load
        through the kernel's page table, as the C code would run it: (object, next free)."""
        ld, st = self.kv.ld32, self.kv.st32
        free = ld(slab + SLAB.free)
        objp = (ld(slab + SLAB.s_mem) + free * chunk) & MASK
        nxt = ld((slab + SLAB.size + 4 * free) & MASK)
        st(slab + SLAB.free, nxt)
        st(slab + SLAB.inuse, ld(slab + SLAB.inuse) + 1)
        return objp, nxt

    def kfree(self, addr: int) -> None:
        """Free the object at ``addr``; NULL is ignored, as in Linux."""
        addr &= MASK
        if addr == 0:
            return
        base = addr - HEADER - RED
        slab = addr & ~PAGE_MASK
        # CHECK_PAGE: the page must be one of this heap's slabs (PageSlab in mem_map)
        cls = self.slab_class.get(slab)
        if cls is None:
            if base in self.large:
                self._free_large(addr, base)
                return
            raise KernelBug(f"{self.name}: kfree of bad pointer {addr:#010x}")
        chunk, num, first = GEOMETRY[cls]
        words = self.words
        w = slab >> 2
        if words[w + 5] != self.cache_of[cls] or words[w + 2] != slab + first:
            raise KernelBug(f"{self.name}: slab corruption: slab_t at {slab:#010x} "
                            "overwritten")
        offset = base - slab - first
        objnr = offset // chunk
        if offset < 0 or offset % chunk or objnr >= num:
            raise KernelBug(f"{self.name}: kfree of bad pointer {addr:#010x}")
        # the whole object lies in this (mapped) slab page: read and written directly
        data = self.data
        magic, size, _, hcls = _HDR.unpack_from(data, base)
        if magic == MAGIC_FREE:
            raise KernelBug(f"{self.name}: double free of {addr:#010x}")
        if magic != MAGIC_LIVE or hcls != cls or not 0 < size <= cls:
            raise KernelBug(f"{self.name}: slab header of {addr:#010x} overwritten")
        if data[base + HEADER:addr] != _REDZONE:
            raise KernelBug(f"{self.name}: red zone before {addr:#010x} overwritten")
        if data[addr + size:addr + size + RED] != _REDZONE:
            raise KernelBug(f"{self.name}: red zone after {addr:#010x}+{size} overwritten "
                            "(write past the end of an object)")
        data[addr:addr + cls] = _poison(cls)
        _HDR.pack_into(data, base, MAGIC_FREE, size, 0, cls)
        # kmem_cache_free_one: the object goes to the head of its slab's free list
        free = words[w + 4]
        words[w + 6 + objnr] = free
        words[w + 4] = objnr
        words[w + 3] = (words[w + 3] - 1) & MASK
        if free == BUFCTL_END:                            # it was full: back to slabs_partial
            self._list_del(slab)
            self._list_add(slab, self.cache_of[cls])
        self.frees += 1

    # -- what memory says about an address --------------------------------------------------
    def object_at(self, addr: int) -> tuple[int, int, str] | None:
        """The live object (start, size, caller) containing ``addr``, read from memory; None if
        there is none (or its metadata does not hold together)."""
        addr &= MASK
        page = addr >> PAGE_SHIFT
        try:
            if page >= len(self.pages.owner) or self.pages.owner[page] != self.owner:
                return None
            start = self._start_of(addr)
            if start is None:
                return None
            magic, size, caller, _ = _HDR.unpack(self.kv.read(start - HEADER - RED, HEADER))
        except (CpuFault, KernelBug):
            return None
        if magic != MAGIC_LIVE or not start <= addr < start + max(size, 1):
            return None
        return start, size, self.callers[caller] if caller < len(self.callers) else "?"

    def ksize(self, addr: int) -> int:
        found = self.object_at(addr)
        return found[1] if found is not None and found[0] == addr & MASK else 0

    def owns(self, addr: int) -> bool:
        found = self.object_at(addr)
        return found is not None and found[0] == addr & MASK

    def block_of(self, addr: int) -> tuple[int, int] | None:
        """The live allocation (start, size) containing ``addr``, or None."""
        found = self.object_at(addr)
        return None if found is None else found[:2]

    def large_block(self, addr: int) -> tuple[int, int] | None:
        """(base, pages) if ``addr`` is a large object's start, else None."""
        base = (addr & MASK) - HEADER - RED
        return (base, self.large[base]) if base in self.large else None

    def objects(self) -> Iterator[tuple[int, int, int, int]]:
        """Every object slot: (start, magic, size, caller id), read from memory, by address."""
        kv = self.kv
        for page, count in sorted(self.heap_pages):
            if page in self.slab_class:
                chunk, num, first = GEOMETRY[self.slab_class[page]]
                for i in range(num):
                    start = page + first + i * chunk + HEADER + RED
                    magic, size, caller, _ = _HDR.unpack(kv.read(start - HEADER - RED, HEADER))
                    yield start, magic, size, caller
            elif page in self.large:
                magic, size, caller, _ = _HDR.unpack(kv.read(page, HEADER))
                yield page + HEADER + RED, magic, size, caller

    @property
    def live(self) -> dict[int, tuple[int, str]]:
        """Live objects, payload address -> (size, owner), as memory says now."""
        return {a: (s, self.callers[c] if c < len(self.callers) else "?")
                for a, m, s, c in self.objects() if m == MAGIC_LIVE}

    def leaks(self, owner: str) -> list[tuple[int, int]]:
        """Live allocations made by ``owner``: (address, size), in address order."""
        return sorted((a, s) for a, (s, o) in self.live.items() if o == owner)

    # -- integrity ----------------------------------------------------------------------------
    def sweep(self) -> list[str]:
        """Every inconsistency in the heap, as lines (a diagnostic: nothing is raised)."""
        from .heapcheck import sweep
        return sweep(self)

    def check(self) -> None:
        """The ``slab debug`` sweep: a :class:`KernelBug` naming the first inconsistency."""
        found = self.sweep()
        if found:
            raise KernelBug(found[0])

    def release_pages(self) -> None:
        """Give every page of this heap back (a domain is destroyed)."""
        for base, count in self.heap_pages:
            self.pages.free(base, count)
        self.heap_pages.clear()
        self.slab_class.clear()
        self.large.clear()
        self.large_page.clear()
        self.large_free.clear()

    # -- internals ----------------------------------------------------------------------------
    def _caller(self, owner: str) -> int:
        cid = self._caller_id.get(owner)
        if cid is None:
            cid = self._caller_id[owner] = len(self.callers)
            self.callers.append(owner)
        return cid

    def _new_pages(self, count: int) -> int:
        base = self.pages.alloc(count, self.owner)
        self.heap_pages.append((base, count))
        if self.on_new_pages:
            self.on_new_pages(base, count)
        return base

    def _grow(self, cls: int, cache: int) -> int:
        """kmem_cache_grow: a new slab page, every object free and poisoned, on slabs_partial."""
        slab = self._new_pages(1)
        self.slab_class[slab] = cls
        self.kv.write(slab, _slab_image(cls, slab, cache))
        self._list_add(slab, cache)
        return slab

    def _slab_geometry(self, slab: int) -> int:
        """The size class of ``slab``, from its ``slab_t`` (its cache pointer and ``s_mem``)."""
        cache = self.kv.ld32(slab + SLAB.cache)
        cls = self.class_of_cache.get(cache)
        if cls is None or self.kv.ld32(slab + SLAB.s_mem) != slab + GEOMETRY[cls][2]:
            raise KernelBug(f"{self.name}: slab corruption: slab_t at {slab:#010x} "
                            "overwritten")
        return cls

    def _start_of(self, addr: int) -> int | None:
        page = addr & ~PAGE_MASK
        if page not in self.slab_class:
            base = self.large_page.get(page)
            return None if base is None else base + HEADER + RED
        cls = self._slab_geometry(page)
        chunk, num, first = GEOMETRY[cls]
        i = (addr - page - first) // chunk
        if not 0 <= i < num:
            return None
        return page + first + i * chunk + HEADER + RED

    def _list_del(self, node: int) -> None:
        ld, st = self.kv.ld32, self.kv.st32
        nxt, prev = ld(node), ld(node + 4)
        st(prev, nxt)                                     # prev->next = next
        st(nxt + 4, prev)                                 # next->prev = prev

    def _list_add(self, node: int, head: int) -> None:
        ld, st = self.kv.ld32, self.kv.st32
        first = ld(head)
        st(node, first)
        st(node + 4, head)
        st(first + 4, node)
        st(head, node)

    def _check_red(self, addr: int, size: int) -> None:
        if self.kv.read(addr - RED, RED) != _REDZONE:
            raise KernelBug(f"{self.name}: red zone before {addr:#010x} overwritten")
        if self.kv.read(addr + size, RED) != _REDZONE:
            raise KernelBug(f"{self.name}: red zone after {addr:#010x}+{size} overwritten "
                            "(write past the end of an object)")

    def _alloc_large(self, size: int, owner: str) -> int:
        npages = (size + OVERHEAD + PAGE_SIZE - 1) >> PAGE_SHIFT
        base = self._new_pages(npages)
        self.large[base] = npages
        for i in range(npages):
            self.large_page[base + i * PAGE_SIZE] = base
        addr = base + HEADER + RED
        self.kv.write(base, _HDR.pack(MAGIC_LIVE, size, self._caller(owner), 0) + _REDZONE)
        self.mmu.memory.array[addr:addr + size] = POISON_FREE
        self.data[addr + size - 1] = POISON_END
        self.kv.write(addr + size, _REDZONE)
        self.allocations += 1
        return addr

    def _free_large(self, addr: int, base: int) -> None:
        npages = self.large[base]
        magic, size, _, cls = _HDR.unpack(self.kv.read(base, HEADER))
        if magic == MAGIC_FREE:
            raise KernelBug(f"{self.name}: double free of {addr:#010x}")
        if magic != MAGIC_LIVE or cls or not 0 < size <= (npages << PAGE_SHIFT) - OVERHEAD:
            raise KernelBug(f"{self.name}: slab header of {addr:#010x} overwritten")
        self._check_red(addr, size)
        self.mmu.memory.array[addr:addr + size] = POISON_FREE
        self.data[addr + size - 1] = POISON_END
        self.kv.write(base, _HDR.pack(MAGIC_FREE, size, 0, 0))
        self.frees += 1
        # Large objects go back to the page allocator after a delay of four frees: kept
        # poisoned meanwhile, a later write after free is caught.
        self.large_free.append((addr, npages))
        if len(self.large_free) > 4:
            old, n = self.large_free.pop(0)
            from .heapcheck import large_free_problem
            problem = large_free_problem(self, old, n)
            if problem:
                raise KernelBug(problem)
            old_base = old - HEADER - RED
            del self.large[old_base]
            for i in range(n):
                del self.large_page[old_base + i * PAGE_SIZE]
            self.heap_pages.remove((old_base, n))
            self.pages.free(old_base, n)
