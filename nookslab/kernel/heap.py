"""``kmalloc``/``kfree``: a slab-style heap in simulated memory, with red zones and poisoning.

Modelled on Linux's slab allocator with ``SLAB_RED_ZONE`` and ``SLAB_POISON`` debugging: each
object carries a header and a red zone on either side; a freed object is filled with the poison
byte 0x6b (ending in 0xa5). The kernel then *detects* what faulty code does to its heap: a write
past the end of an object tramples a red zone, a write after free spoils the poison, a second free
finds the header already marked free. Each detection is a :class:`KernelBug` (an integrity failure).

One :class:`Heap` serves the kernel; Nooks gives each protection domain a heap of its own.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable

from ..machine.memory import PAGE_SHIFT, PAGE_SIZE, PageAllocator
from ..machine.mmu import MMU
from .panic import KernelBug

MAGIC_LIVE = 0x170FC2A5          # Linux's RED_ACTIVE
MAGIC_FREE = 0x09F911029         # Linux's RED_INACTIVE (truncated to 32 bits below)
MAGIC_FREE &= 0xFFFFFFFF
POISON_FREE = 0x6B               # Linux's POISON_FREE
POISON_END = 0xA5                # Linux's POISON_END
RED_BYTE = 0xBB

HEADER = 16                      # magic, size, owner id, class
RED = 8
OVERHEAD = HEADER + 2 * RED
CLASSES = (16, 32, 64, 128, 256, 512, 1024, 2048)
MAX_KMALLOC = 128 * 1024         # Linux 2.4's kmalloc limit

_REDZONE = bytes([RED_BYTE]) * RED


@lru_cache(maxsize=64)
def _poison(size: int) -> bytes:
    return bytes([POISON_FREE]) * (size - 1) + bytes([POISON_END])


class Heap:
    """A kmalloc heap whose pages come from the page allocator under one owner.

    Parameters
    ----------
    mmu: memory access (the heap's own bookkeeping writes go through the kernel's view).
    pages: the page allocator; owner: the owner id its pages are recorded under.
    on_new_pages: called with (address, page count) when the heap grows (Nooks maps the pages).
    """

    def __init__(self, name: str, mmu: MMU, pages: PageAllocator, owner: int,
                 on_new_pages: Callable[[int, int], None] | None = None):
        self.name = name
        self.mmu = mmu
        self.data = mmu.data
        self.pages = pages
        self.owner = owner
        self.on_new_pages = on_new_pages
        self.live: dict[int, tuple[int, str]] = {}      # payload addr -> (size, owner module)
        self.free_lists: dict[int, list[int]] = {c: [] for c in CLASSES}
        self.large_free: list[tuple[int, int]] = []       # (payload addr, pages) of freed large
        self.class_of: dict[int, int] = {}                # payload addr -> class (0 = large)
        self.heap_pages: list[tuple[int, int]] = []
        self.allocations = 0
        self.frees = 0

    # -- allocation ------------------------------------------------------------------------
    def kmalloc(self, size: int, owner: str = "kernel") -> int:
        """Allocate ``size`` bytes; return the address, or 0 (NULL) if it cannot."""
        if size <= 0 or size > MAX_KMALLOC:
            return 0
        cls = next((c for c in CLASSES if c >= size), 0)
        if cls:
            free = self.free_lists[cls]
            if not free:
                self._grow(cls)
            addr = free.pop()
            self._check_poison(addr, cls)
        else:
            addr = self._alloc_large(size)
        self._write_header(addr, MAGIC_LIVE, size, cls)
        self.data[addr - RED:addr] = _REDZONE
        end = addr + size
        self.data[end:end + RED] = _REDZONE
        self.live[addr] = (size, owner)
        self.class_of[addr] = cls
        self.allocations += 1
        return addr

    def kfree(self, addr: int) -> None:
        """Free the object at ``addr``; NULL is ignored, as in Linux."""
        addr &= 0xFFFFFFFF
        if addr == 0:
            return
        entry = self.live.get(addr)
        if entry is None:
            if addr in self.class_of and self._magic(addr) == MAGIC_FREE:
                raise KernelBug(f"{self.name}: double free of {addr:#010x}")
            raise KernelBug(f"{self.name}: kfree of bad pointer {addr:#010x}")
        size, _ = entry
        self._check_live(addr, size)
        del self.live[addr]
        cls = self.class_of[addr]
        span = cls if cls else size
        self.data[addr:addr + span] = _poison(span)
        self._write_header(addr, MAGIC_FREE, size, cls)
        self.frees += 1
        if cls:
            self.free_lists[cls].append(addr)
        else:
            # Large objects go back to the page allocator... after a delay of one reuse: keeping
            # them poisoned lets a later write after free be caught.
            npages = (size + OVERHEAD + PAGE_SIZE - 1) >> PAGE_SHIFT
            self.large_free.append((addr, npages))
            if len(self.large_free) > 4:
                old, n = self.large_free.pop(0)
                self._check_large_free(old, n)
                del self.class_of[old]
                base = old - HEADER - RED
                self.heap_pages.remove((base, n))
                self.pages.free(base, n)

    def ksize(self, addr: int) -> int:
        entry = self.live.get(addr & 0xFFFFFFFF)
        return entry[0] if entry else 0

    def owns(self, addr: int) -> bool:
        return (addr & 0xFFFFFFFF) in self.live

    def block_of(self, addr: int) -> tuple[int, int] | None:
        """The live allocation (start, size) containing ``addr``, or None."""
        addr &= 0xFFFFFFFF
        if addr in self.live:
            return addr, self.live[addr][0]
        for start, (size, _) in self.live.items():
            if start <= addr < start + size:
                return start, size
        return None

    # -- integrity ----------------------------------------------------------------------------
    def check(self) -> None:
        """Check every object's header, red zones and poison (``slab debug`` sweep)."""
        for addr, (size, _) in sorted(self.live.items()):
            self._check_live(addr, size)
        for cls, free in self.free_lists.items():
            for addr in free:
                self._check_poison(addr, cls)
        for addr, npages in self.large_free:       # freed large objects still in quarantine
            self._check_large_free(addr, npages)

    def leaks(self, owner: str) -> list[tuple[int, int]]:
        """Live allocations made by ``owner``: (address, size), in address order."""
        return sorted((a, s) for a, (s, o) in self.live.items() if o == owner)

    def release_pages(self) -> None:
        """Give every page of this heap back (a domain is destroyed)."""
        for base, count in self.heap_pages:
            self.pages.free(base, count)
        self.heap_pages.clear()
        self.live.clear()
        self.class_of.clear()
        self.large_free.clear()
        self.free_lists = {c: [] for c in CLASSES}

    # -- internals ----------------------------------------------------------------------------
    def _grow(self, cls: int) -> None:
        base = self.pages.alloc(1, self.owner)
        self.heap_pages.append((base, 1))
        if self.on_new_pages:
            self.on_new_pages(base, 1)
        chunk = cls + OVERHEAD
        count = PAGE_SIZE // chunk
        free = self.free_lists[cls]
        # Push in reverse so the lowest address is handed out first (deterministic, readable).
        for i in reversed(range(count)):
            addr = base + i * chunk + HEADER + RED
            self.data[addr:addr + cls] = _poison(cls)
            self._write_header(addr, MAGIC_FREE, cls, cls)
            self.class_of[addr] = cls
            free.append(addr)

    def _alloc_large(self, size: int) -> int:
        npages = (size + OVERHEAD + PAGE_SIZE - 1) >> PAGE_SHIFT
        base = self.pages.alloc(npages, self.owner)
        self.heap_pages.append((base, npages))
        if self.on_new_pages:
            self.on_new_pages(base, npages)
        addr = base + HEADER + RED
        self.data[addr:addr + size] = _poison(size)
        return addr

    def _write_header(self, addr: int, magic: int, size: int, cls: int) -> None:
        h = addr - RED - HEADER
        self.data[h:h + HEADER] = (magic.to_bytes(4, "little") + size.to_bytes(4, "little")
                                   + self.owner.to_bytes(4, "little") + cls.to_bytes(4, "little"))

    def _magic(self, addr: int) -> int:
        h = addr - RED - HEADER
        return int.from_bytes(self.data[h:h + 4], "little")

    def _size_field(self, addr: int) -> int:
        h = addr - RED - HEADER + 4
        return int.from_bytes(self.data[h:h + 4], "little")

    def _check_live(self, addr: int, size: int) -> None:
        if self._magic(addr) != MAGIC_LIVE or self._size_field(addr) != size:
            raise KernelBug(f"{self.name}: slab header of {addr:#010x} overwritten")
        if self.data[addr - RED:addr] != _REDZONE:
            raise KernelBug(f"{self.name}: red zone before {addr:#010x} overwritten")
        if self.data[addr + size:addr + size + RED] != _REDZONE:
            raise KernelBug(f"{self.name}: red zone after {addr:#010x}+{size} overwritten "
                            "(write past the end of an object)")

    def _check_large_free(self, addr: int, npages: int) -> None:
        # The size comes from the (corruptible) header: bound it by the pages really held.
        size = self._size_field(addr)
        if not 0 < size <= (npages << PAGE_SHIFT) - OVERHEAD:
            raise KernelBug(f"{self.name}: slab corruption: header of freed {addr:#010x} "
                            "overwritten")
        self._check_poison(addr, size)

    def _check_poison(self, addr: int, span: int) -> None:
        if self._magic(addr) != MAGIC_FREE or self.data[addr:addr + span] != _poison(span):
            raise KernelBug(f"{self.name}: slab corruption: object {addr:#010x} "
                            "written after it was freed")
