"""The slab allocator's data structures in simulated memory (Linux 2.4's mm/slab.c layout).

What :class:`~nookslab.kernel.heap.Heap` lays out and walks: the ``kmem_cache_t`` of each kmalloc
size class, the ``slab_t`` and ``kmem_bufctl_t`` free list at the start of each slab page, the
allocation header, red zones and poison around each object; and :class:`KernelView`, the loads
and stores the allocator makes as kernel code.
"""
from __future__ import annotations

import struct
from functools import lru_cache
from typing import Callable

from ..machine.memory import PAGE_SHIFT, PAGE_SIZE
from ..machine.mmu import MMU, PRESENT, WRITE
from .structs import Layout

MAGIC_LIVE = 0x170FC2A5          # Linux's RED_ACTIVE
MAGIC_FREE = 0x09F911029 & 0xFFFFFFFF   # Linux's RED_INACTIVE, truncated to 32 bits
POISON_FREE = 0x6B               # Linux's POISON_FREE
POISON_END = 0xA5                # Linux's POISON_END
RED_BYTE = 0xBB
CACHE_MAGIC = 0x4B4D4341         # "KMCA": a kmem_cache_t this heap made
BUFCTL_END = 0xFFFFFFFF          # Linux 2.4's BUFCTL_END
MASK = 0xFFFFFFFF

#: ``struct kmem_cache_s`` (the fields kmalloc's caches use), one per size class.
KMEM_CACHE = Layout("kmem_cache_t", [
    ("partial_next", "ptr"), ("partial_prev", "ptr"),     # struct list_head slabs_partial
    ("full_next", "ptr"), ("full_prev", "ptr"),           # struct list_head slabs_full
    ("objsize", "u32"), ("chunk", "u32"), ("num", "u32"), ("magic", "u32")])
#: ``slab_t`` at the start of every slab page, followed by ``kmem_bufctl_t bufctl[num]``.
SLAB = Layout("slab_t", [
    ("next", "ptr"), ("prev", "ptr"),                     # struct list_head list
    ("s_mem", "ptr"), ("inuse", "u32"), ("free", "u32"),
    ("cache", "ptr")])                                    # Linux keeps it in struct page
#: The allocation header before every object (``SLAB_STORE_USER``-like: who asked).
KMALLOC_HEADER = Layout("kmalloc_header", [
    ("magic", "u32"), ("size", "u32"), ("caller", "u32"), ("cls", "u32")])

HEADER = KMALLOC_HEADER.size     # 16
RED = 8
OVERHEAD = HEADER + 2 * RED
CLASSES = (16, 32, 64, 128, 256, 512, 1024, 2048)
MAX_KMALLOC = 128 * 1024         # Linux 2.4's kmalloc limit

_REDZONE = bytes([RED_BYTE]) * RED
_HDR = struct.Struct("<IIII")


@lru_cache(maxsize=64)
def _poison(size: int) -> bytes:
    return bytes([POISON_FREE]) * (size - 1) + bytes([POISON_END])


def _geometry(cls: int) -> tuple[int, int, int]:
    """(chunk, objects per slab, offset of the first object) of size class ``cls``."""
    chunk = cls + OVERHEAD
    num = 0
    while True:
        n = num + 1
        first = (SLAB.size + 4 * n + 7) & ~7
        if first + n * chunk > PAGE_SIZE:
            break
        num = n
    return chunk, num, (SLAB.size + 4 * num + 7) & ~7


GEOMETRY = {cls: _geometry(cls) for cls in CLASSES}


def size_class(size: int) -> int:
    """The kmalloc cache a request of ``size`` bytes (1..2048) is served from."""
    return 16 if size <= 16 else 1 << (size - 1).bit_length()


class KernelView:
    """Loads and stores as kernel code makes them: checked against the kernel's page table,
    whatever table the CPU has loaded (a Nooks domain's kmalloc runs in the kernel)."""

    def __init__(self, mmu: MMU):
        self.mmu = mmu
        self.flags = mmu.kernel_pt.flags
        self.words = mmu.words
        self.data = mmu.data
        self.size = mmu.size

    def ld32(self, a: int) -> int:
        if 0 <= a < self.size and not a & 3 and self.flags[a >> PAGE_SHIFT] & PRESENT:
            return self.words[a >> 2]
        return self._as_kernel(self.mmu.ld32, a)

    def st32(self, a: int, value: int) -> None:
        if 0 <= a < self.size and not a & 3 and self.flags[a >> PAGE_SHIFT] & WRITE:
            self.words[a >> 2] = value & MASK
            return
        self._as_kernel(self.mmu.st32, a, value)

    def read(self, a: int, n: int) -> bytes:
        if 0 <= a and a + n <= self.size and a >> PAGE_SHIFT == (a + n - 1) >> PAGE_SHIFT \
                and self.flags[a >> PAGE_SHIFT] & PRESENT:
            return bytes(self.data[a:a + n])
        return self._as_kernel(self.mmu.read, a, n)

    def write(self, a: int, data: bytes) -> None:
        n = len(data)
        if 0 <= a and a + n <= self.size and a >> PAGE_SHIFT == (a + n - 1) >> PAGE_SHIFT \
                and self.flags[a >> PAGE_SHIFT] & WRITE:
            self.data[a:a + n] = data
            return
        self._as_kernel(self.mmu.write, a, data)

    def _as_kernel(self, fn: Callable, *args):
        mmu = self.mmu
        pt, domain = mmu.pt, mmu.domain
        mmu.pt, mmu.domain = self.flags, "kernel"
        try:
            return fn(*args)
        finally:
            mmu.pt, mmu.domain = pt, domain


@lru_cache(maxsize=None)
def _slab_template(cls: int) -> bytes:
    """A fresh slab page of class ``cls`` with its addresses left zero (patched per slab)."""
    chunk, num, first = GEOMETRY[cls]
    page = bytearray(PAGE_SIZE)
    struct.pack_into("<IIIII", page, 0, 0, 0, 0, 0, 0)    # list, s_mem, inuse 0, free 0
    for i in range(num):
        struct.pack_into("<I", page, SLAB.size + 4 * i, i + 1 if i + 1 < num else BUFCTL_END)
        obj = first + i * chunk
        page[obj:obj + HEADER] = _HDR.pack(MAGIC_FREE, cls, 0, cls)
        page[obj + HEADER + RED:obj + HEADER + RED + cls] = _poison(cls)
    return bytes(page)


def _slab_image(cls: int, slab: int, cache: int) -> bytes:
    page = bytearray(_slab_template(cls))
    struct.pack_into("<III", page, SLAB.s_mem, slab + GEOMETRY[cls][2], 0, 0)
    struct.pack_into("<I", page, SLAB.cache, cache)
    return bytes(page)
