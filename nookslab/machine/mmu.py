"""Page tables and the MMU: every load and store of the simulated machine is checked here.

This is the hardware that Nooks' lightweight protection domains rest on (SOSP'03 section 4.2): each
domain has its own page table, a copy of the kernel's in which kernel pages are read-only and the
domain's own pages writable. The CPU's current page table (the CR3 analogue, ``MMU.pt``) decides
whether a store is allowed; a store to a page without the write bit, or any access to a page
without the present bit, raises :class:`PageFault`, the simulated processor exception.

The single-field accessors (``ld32``/``st32``...) are the simulator's hot path: a scalar check of
one flag byte, then an aligned word through a word view of RAM (``struct`` for unaligned ones).
Bulk copies check the page range once and copy slices.
"""
from __future__ import annotations

import struct
import sys
from typing import Callable, Protocol

import numpy as np

from .memory import ADDRESS_MASK, ADDRESS_PAGES, PAGE_MASK, PAGE_SHIFT, PhysicalMemory

PRESENT = 1
WRITE = 2
RW = PRESENT | WRITE

_U8 = struct.Struct("<B")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")


class _LittleEndianWords:
    """RAM as 32-bit little-endian words, for hosts where a native ``"I"`` view would not be."""

    __slots__ = ("data",)

    def __init__(self, data: bytearray):
        self.data = data

    def __getitem__(self, index: int) -> int:
        return _U32.unpack_from(self.data, index << 2)[0]

    def __setitem__(self, index: int, value: int) -> None:
        _U32.pack_into(self.data, index << 2, value)


def _words(data: bytearray):
    """A word-indexed view of RAM: ``words[a >> 2]`` is the aligned 32-bit word at ``a``."""
    if sys.byteorder == "little" and struct.calcsize("I") == 4:
        return memoryview(data).cast("I")
    return _LittleEndianWords(data)


class CpuFault(Exception):
    """A simulated processor exception (the analogue of an x86 trap taken in the kernel)."""


class PageFault(CpuFault):
    """An access the current page table does not allow.

    Attributes
    ----------
    addr: the faulting address; access: ``"read"`` or ``"write"``; domain: the page table's owner.
    """

    def __init__(self, addr: int, access: str, domain: str):
        self.addr = addr & ADDRESS_MASK
        self.access = access
        self.domain = domain
        what = "NULL pointer dereference" if self.addr < 4096 else "paging request"
        super().__init__(f"unable to handle kernel {what} at {self.addr:#010x} "
                         f"({access}, domain {domain})")


class PageTable:
    """Per-page flags (present, writable) for the whole 32-bit address space of one domain."""

    __slots__ = ("name", "flags", "array")

    def __init__(self, name: str, source: "PageTable | None" = None):
        self.name = name
        self.flags = bytearray(source.flags) if source is not None else bytearray(ADDRESS_PAGES)
        self.array = np.frombuffer(self.flags, dtype=np.uint8)

    def set(self, addr: int, length: int, flags: int) -> None:
        """Set the flags of every page overlapping ``[addr, addr + length)``."""
        first = (addr & ADDRESS_MASK) >> PAGE_SHIFT
        last = ((addr + max(length, 1) - 1) & ADDRESS_MASK) >> PAGE_SHIFT
        self.array[first:last + 1] = flags

    def writable(self, addr: int) -> bool:
        return bool(self.flags[(addr & ADDRESS_MASK) >> PAGE_SHIFT] & WRITE)

    def present(self, addr: int) -> bool:
        return bool(self.flags[(addr & ADDRESS_MASK) >> PAGE_SHIFT] & PRESENT)


class MmioDevice(Protocol):
    """A device whose registers are mapped into the address space."""

    def mmio_read(self, offset: int, size: int) -> int: ...

    def mmio_write(self, offset: int, size: int, value: int) -> None: ...


class MMU:
    """Checks every access of the simulated CPU against the current page table.

    ``pt`` is the current page table's flag array and ``domain`` its name; the kernel's own table is
    ``kernel_pt``. Kernel-table changes are pushed to every listener in ``coherency_hooks`` (Nooks
    keeps its domains' copies in sync through this hook, as the paper's kernel change did).
    """

    def __init__(self, memory: PhysicalMemory):
        self.memory = memory
        self.data = memory.data
        self.size = memory.size
        self.words = _words(memory.data)
        self.kernel_pt = PageTable("kernel")
        # RAM is mapped read-write for the kernel, except page 0: NULL must fault.
        self.kernel_pt.set(0, memory.size, RW)
        self.kernel_pt.set(0, 1, 0)
        self.page_table = self.kernel_pt
        self.pt = self.kernel_pt.flags
        self.domain = "kernel"
        self._mmio: dict[int, tuple[int, MmioDevice]] = {}
        self.coherency_hooks: list[Callable[[int, int, int], None]] = []
        self.switches = 0

    # -- the CR3 analogue ---------------------------------------------------------------------
    def switch(self, table: PageTable) -> PageTable:
        """Load ``table`` as the current page table; return the previous one."""
        previous = self.page_table
        self.page_table = table
        self.pt = table.flags
        self.domain = table.name
        self.switches += 1
        return previous

    def map_kernel(self, addr: int, length: int, flags: int) -> None:
        """Change the kernel page table and tell every listener (page-table coherency)."""
        self.kernel_pt.set(addr, length, flags)
        for hook in self.coherency_hooks:
            hook(addr, length, flags)

    def map_mmio(self, base: int, length: int, device: MmioDevice) -> None:
        """Map a device's registers at ``base`` (uncached, kernel read-write)."""
        for page in range(base >> PAGE_SHIFT, (base + length - 1 >> PAGE_SHIFT) + 1):
            self._mmio[page] = (base, device)
        self.map_kernel(base, length, RW)

    def unmap_mmio(self, base: int, length: int) -> None:
        for page in range(base >> PAGE_SHIFT, (base + length - 1 >> PAGE_SHIFT) + 1):
            self._mmio.pop(page, None)
        self.map_kernel(base, length, 0)

    # -- scalar loads and stores (the hot path) -------------------------------------------------
    def ld8(self, addr: int) -> int:
        a = addr & ADDRESS_MASK
        if self.pt[a >> PAGE_SHIFT] & PRESENT and a < self.size:
            return self.data[a]
        return self._slow_load(a, 1)

    def ld16(self, addr: int) -> int:
        a = addr & ADDRESS_MASK
        if self.pt[a >> PAGE_SHIFT] & PRESENT and a & PAGE_MASK <= 4094 and a < self.size:
            return _U16.unpack_from(self.data, a)[0]
        return self._slow_load(a, 2)

    def ld32(self, addr: int) -> int:
        # An aligned word of RAM (nearly every struct field) takes the word view, tested on the
        # address as given: when 0 <= addr < size, masking would not change it. Anything else
        # (a negative or wrapped pointer, unaligned, MMIO, a fault) takes the masked path below.
        if 0 <= addr < self.size and not addr & 3 and self.pt[addr >> PAGE_SHIFT] & PRESENT:
            return self.words[addr >> 2]
        a = addr & ADDRESS_MASK
        if not a & 3 and a < self.size and self.pt[a >> PAGE_SHIFT] & PRESENT:
            return self.words[a >> 2]
        if self.pt[a >> PAGE_SHIFT] & PRESENT and a & PAGE_MASK <= 4092 and a < self.size:
            return _U32.unpack_from(self.data, a)[0]
        return self._slow_load(a, 4)

    def st8(self, addr: int, value: int) -> None:
        a = addr & ADDRESS_MASK
        if self.pt[a >> PAGE_SHIFT] & WRITE and a < self.size:
            self.data[a] = value & 0xFF
            return
        self._slow_store(a, 1, value)

    def st16(self, addr: int, value: int) -> None:
        a = addr & ADDRESS_MASK
        if self.pt[a >> PAGE_SHIFT] & WRITE and a & PAGE_MASK <= 4094 and a < self.size:
            _U16.pack_into(self.data, a, value & 0xFFFF)
            return
        self._slow_store(a, 2, value)

    def st32(self, addr: int, value: int) -> None:
        if 0 <= addr < self.size and not addr & 3 and self.pt[addr >> PAGE_SHIFT] & WRITE:
            self.words[addr >> 2] = value & 0xFFFFFFFF     # as ld32: the unmasked fast path
            return
        a = addr & ADDRESS_MASK
        if not a & 3 and a < self.size and self.pt[a >> PAGE_SHIFT] & WRITE:
            self.words[a >> 2] = value & 0xFFFFFFFF
            return
        if self.pt[a >> PAGE_SHIFT] & WRITE and a & PAGE_MASK <= 4092 and a < self.size:
            _U32.pack_into(self.data, a, value & 0xFFFFFFFF)
            return
        self._slow_store(a, 4, value)

    def _check_range(self, a: int, n: int, bit: int, access: str) -> None:
        first = a >> PAGE_SHIFT
        last = ((a + n - 1) & ADDRESS_MASK) >> PAGE_SHIFT
        pt = self.pt
        if last == first:                     # one page (nearly every access): no loop
            if not pt[first] & bit:
                raise PageFault(a, access, self.domain)
            return
        if last < first:                      # wrapped past 4 GiB
            raise PageFault(ADDRESS_MASK, access, self.domain)
        for page in range(first, last + 1):
            if not pt[page] & bit:
                raise PageFault(max(a, page << PAGE_SHIFT), access, self.domain)

    # The slow paths are mostly device registers (readl/writel): _check_range's one-page case
    # and the device lookup are inlined, with the same checks, faults and messages, in order.
    def _slow_load(self, a: int, n: int) -> int:
        page = a >> PAGE_SHIFT
        if page == ((a + n - 1) & ADDRESS_MASK) >> PAGE_SHIFT:
            if not self.pt[page] & PRESENT:
                raise PageFault(a, "read", self.domain)
        else:
            self._check_range(a, n, PRESENT, "read")
        if a + n <= self.size:
            return int.from_bytes(self.data[a:a + n], "little")
        entry = self._mmio.get(page)
        if entry is None:
            raise PageFault(a, "read", self.domain)
        base, dev = entry
        return dev.mmio_read(a - base, n) & ((1 << 8 * n) - 1)

    def _slow_store(self, a: int, n: int, value: int) -> None:
        page = a >> PAGE_SHIFT
        if page == ((a + n - 1) & ADDRESS_MASK) >> PAGE_SHIFT:
            if not self.pt[page] & WRITE:
                raise PageFault(a, "write", self.domain)
        else:
            self._check_range(a, n, WRITE, "write")
        if a + n <= self.size:
            self.data[a:a + n] = (value & ((1 << 8 * n) - 1)).to_bytes(n, "little")
            return
        entry = self._mmio.get(page)
        if entry is None:
            raise PageFault(a, "write", self.domain)
        base, dev = entry
        dev.mmio_write(a - base, n, value & ((1 << 8 * n) - 1))

    # -- bulk access --------------------------------------------------------------------------
    def read(self, addr: int, length: int) -> bytes:
        """Read ``length`` bytes of RAM (checked once for the whole range)."""
        a = addr & ADDRESS_MASK
        end = a + length
        # one page of RAM, present (nearly every header and payload): no range walk
        if 0 < length and end <= self.size and a >> PAGE_SHIFT == (end - 1) >> PAGE_SHIFT \
                and self.pt[a >> PAGE_SHIFT] & PRESENT:
            return bytes(self.data[a:end])
        if length <= 0:
            return b""
        self._check_range(a, length, PRESENT, "read")
        if a + length > self.size:
            raise PageFault(max(a, self.size), "read", self.domain)
        return bytes(self.data[a:a + length])

    def write(self, addr: int, data: bytes) -> None:
        """Write ``data`` to RAM at ``addr`` (checked once for the whole range)."""
        a = addr & ADDRESS_MASK
        n = len(data)
        end = a + n
        # as read: one writable page of RAM takes no range walk
        if n and end <= self.size and a >> PAGE_SHIFT == (end - 1) >> PAGE_SHIFT \
                and self.pt[a >> PAGE_SHIFT] & WRITE:
            self.data[a:end] = data
            return
        if n == 0:
            return
        self._check_range(a, n, WRITE, "write")
        if a + n > self.size:
            raise PageFault(max(a, self.size), "write", self.domain)
        self.data[a:a + n] = data

    def copy(self, dst: int, src: int, length: int) -> None:
        """``memcpy``: copy ``length`` bytes from ``src`` to ``dst``, both checked."""
        if length <= 0:
            return
        s = src & ADDRESS_MASK
        d = dst & ADDRESS_MASK
        self._check_range(s, length, PRESENT, "read")
        self._check_range(d, length, WRITE, "write")
        if s + length > self.size:             # mapped, but no RAM behind it (device space)
            raise PageFault(max(s, self.size), "read", self.domain)
        if d + length > self.size:
            raise PageFault(max(d, self.size), "write", self.domain)
        self.data[d:d + length] = self.data[s:s + length]

    def fill(self, addr: int, byte: int, length: int) -> None:
        """``memset``: fill ``length`` bytes at ``addr`` with ``byte``."""
        if length <= 0:
            return
        a = addr & ADDRESS_MASK
        self._check_range(a, length, WRITE, "write")
        if a + length > self.size:
            raise PageFault(max(a, self.size), "write", self.domain)
        self.memory.array[a:a + length] = byte & 0xFF
