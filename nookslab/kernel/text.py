"""Function pointers: the kernel text segment as a table of addresses.

A C function pointer is an address in kernel text. Where kernel objects in simulated memory hold a
function pointer (``timer_list.function``), we store such an address: calling through a corrupted
one is an oops ("unable to handle kernel paging request"), as on a real machine.
"""
from __future__ import annotations

from typing import Callable

from ..machine.mmu import PageFault

TEXT_BASE = 0xC010_0000
TEXT_STRIDE = 16


class FunctionTable:
    def __init__(self):
        self._by_addr: dict[int, Callable] = {}
        self._by_fn: dict[int, int] = {}
        self._keep: list[Callable] = []          # keeps ids stable while registered

    def address_of(self, fn: Callable | None) -> int:
        """The text address of ``fn`` (0 for None, the NULL function pointer)."""
        if fn is None:
            return 0
        key = id(fn)
        addr = self._by_fn.get(key)
        if addr is None:
            addr = TEXT_BASE + TEXT_STRIDE * len(self._keep)
            self._keep.append(fn)
            self._by_fn[key] = addr
            self._by_addr[addr] = fn
        return addr

    def lookup(self, addr: int) -> Callable:
        """The function at ``addr``; a bad address faults as an instruction fetch would."""
        fn = self._by_addr.get(addr & 0xFFFFFFFF)
        if fn is None:
            raise PageFault(addr, "exec", "kernel")
        return fn
