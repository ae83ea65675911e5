"""Simulated physical memory and the page allocator.

The machine's RAM is one ``bytearray`` (with a numpy view for bulk work), split into 4 KiB pages.
Kernel virtual addresses equal physical ones (Linux 2.4 maps low memory one-to-one), so a pointer
is a plain integer into this array. Every page has an *owner* (the kernel, a heap, a protection
domain, a DMA region, ...), recorded for the page allocator and drawn by the memory-map widget.
"""
from __future__ import annotations

import zlib

import numpy as np

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PAGE_MASK = PAGE_SIZE - 1
ADDRESS_MASK = 0xFFFFFFFF          # a 32-bit machine, like the paper's Pentium 4
ADDRESS_PAGES = 1 << (32 - PAGE_SHIFT)

OWNER_FREE = 0
OWNER_RESERVED = 1                  # page 0 (the NULL guard) and the kernel image


class OutOfMemory(Exception):
    """The page allocator has no run of free pages long enough (``-ENOMEM`` in the kernel)."""


class PhysicalMemory:
    """The RAM of the simulated machine: ``size`` bytes in 4 KiB pages.

    Parameters
    ----------
    size:
        Bytes of RAM, a positive multiple of the page size.
    """

    def __init__(self, size: int):
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0 or size % PAGE_SIZE:
            raise ValueError(
                f"memory size must be a positive multiple of {PAGE_SIZE} bytes, got {size!r}")
        if size > 1 << 30:
            raise ValueError(f"memory size must be at most 1 GiB for the simulator, got {size}")
        self.size = size
        self.pages = size >> PAGE_SHIFT
        self.data = bytearray(size)
        self.array = np.frombuffer(self.data, dtype=np.uint8)

    def checksum(self, mask: np.ndarray | None = None) -> int:
        """A CRC-32 of memory, or of the pages where ``mask`` (bool per page) is true."""
        pages = self.array.reshape(self.pages, PAGE_SIZE)
        if mask is not None:
            pages = pages[np.asarray(mask, dtype=bool)[: self.pages]]
        return zlib.crc32(pages.tobytes())


class PageAllocator:
    """Hands out runs of physical pages and remembers who owns each page (``alloc_pages``)."""

    def __init__(self, memory: PhysicalMemory):
        self.memory = memory
        self.owner = np.zeros(memory.pages, dtype=np.int32)
        self.owner[0] = OWNER_RESERVED            # NULL must never be a valid object
        self.owner_names: dict[int, str] = {OWNER_FREE: "free", OWNER_RESERVED: "reserved"}
        self._next_owner = 2
        # No page below _first_free is free (alloc and free keep it so): when that page itself
        # is free it is the first free page, found without scanning the whole owner array.
        self._first_free = 0

    def new_owner(self, name: str) -> int:
        """Register a new owner (a heap, a domain, a DMA region) and return its id."""
        oid = self._next_owner
        self._next_owner += 1
        self.owner_names[oid] = name
        return oid

    def alloc(self, count: int, owner: int) -> int:
        """Allocate ``count`` contiguous pages for ``owner``; return the first page's address."""
        if count <= 0:
            raise ValueError(f"page count must be positive, got {count}")
        if count == 1:
            hint = self._first_free
            if hint < len(self.owner) and self.owner[hint] == OWNER_FREE:
                first = hint                               # the first free page, no scan
            else:
                free = self.owner == OWNER_FREE
                first = int(free.argmax())                 # the first free page
                if not free[first]:
                    raise OutOfMemory(f"no free page for {self.owner_names.get(owner, owner)}")
            self._first_free = first + 1
        else:
            free = self.owner == OWNER_FREE
            # first fit: the first run of `count` free pages (free pages in each window of
            # `count`, from a running count: O(pages) whatever `count` is)
            running = np.concatenate(([0], np.cumsum(free, dtype=np.int32)))
            idx = np.flatnonzero(running[count:] - running[:-count] == count)
            if len(idx) == 0:
                raise OutOfMemory(f"no run of {count} free pages")
            first = int(idx[0])
        self.owner[first:first + count] = owner
        return first << PAGE_SHIFT

    def alloc_high(self, count: int, owner: int) -> int:
        """Allocate the last run of ``count`` free pages (from the top of RAM, where first-fit
        allocations reach last): for memory set aside at boot, such as the kernel stack."""
        if count <= 0:
            raise ValueError(f"page count must be positive, got {count}")
        free = self.owner == OWNER_FREE
        running = np.concatenate(([0], np.cumsum(free, dtype=np.int32)))
        idx = np.flatnonzero(running[count:] - running[:-count] == count)
        if len(idx) == 0:
            raise OutOfMemory(f"no run of {count} free pages")
        first = int(idx[-1])
        self.owner[first:first + count] = owner
        return first << PAGE_SHIFT

    def free(self, addr: int, count: int) -> None:
        """Return ``count`` pages starting at ``addr`` to the free pool."""
        first = addr >> PAGE_SHIFT
        self.owner[first:first + count] = OWNER_FREE
        if count > 0 and first < self._first_free:
            self._first_free = first

    def pages_of(self, owner: int) -> np.ndarray:
        """Page numbers owned by ``owner``, in address order."""
        return np.flatnonzero(self.owner == owner)

    @property
    def free_pages(self) -> int:
        return int(np.count_nonzero(self.owner == OWNER_FREE))
