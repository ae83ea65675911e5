"""Memory management exported to drivers: ``kmalloc``, ``kfree``, ``memcpy``, user copies."""
from __future__ import annotations

from ..machine.memory import PAGE_SIZE, OutOfMemory
from .symbols import Arg, buf, export, scalar

GFP_KERNEL = 0x1F0
GFP_ATOMIC = 0x20


class MemorySubsystem:
    """``kmalloc``/``kfree`` over the kernel heap, and the copy routines."""

    def __init__(self, kernel):
        self.k = kernel
        self.heap = kernel.heap
        self.mmu = kernel.mmu

    @export(scalar("size"), scalar("flags"), returns=Arg("ptr", "object", "kmalloc"),
            creates="kmalloc", owned=True)
    def kmalloc(self, size: int, flags: int = GFP_KERNEL, owner: str = "kernel") -> int:
        """Allocate ``size`` bytes of kernel memory; 0 (NULL) on failure."""
        self.k.charge(self.k.cost.kernel_call * 3)
        try:
            return self.heap.kmalloc(size, owner)
        except OutOfMemory:                 # no pages left for the heap to grow: NULL
            return 0

    @export(Arg("ptr", "object", "kmalloc", nullable=True), releases="ptr")
    def kfree(self, ptr: int) -> None:
        """Free memory from kmalloc; NULL is ignored."""
        self.k.charge(self.k.cost.kernel_call * 2)
        self.heap.kfree(ptr)

    @export(buf("dst", "n", "out"), buf("src", "n"), scalar("n"), xpc=False)
    def memcpy(self, dst: int, src: int, n: int) -> int:
        """Copy ``n`` bytes; runs in the caller's protection domain (no crossing)."""
        self.k.charge(self.k.cost.copy_cost(n))
        self.mmu.copy(dst, src, n)
        return dst

    @export(buf("dst", "n", "out"), scalar("c"), scalar("n"), xpc=False)
    def memset(self, dst: int, c: int, n: int) -> int:
        """Fill ``n`` bytes with ``c``; runs in the caller's protection domain."""
        self.k.charge(self.k.cost.copy_cost(n) // 2)
        self.mmu.fill(dst, c, n)
        return dst

    @export(buf("to", "n", "out"), scalar("from_user"), scalar("n"), returns=scalar("left"))
    def copy_from_user(self, to: int, from_user: int, n: int) -> int:
        """Copy ``n`` bytes from user memory; returns the number of bytes *not* copied."""
        if n < 0 or not self.k.user_range_ok(from_user, n):
            return max(n, 0)
        self.k.charge(self.k.cost.copy_cost(n))
        self.mmu.copy(to, from_user, n)
        return 0

    @export(scalar("to_user"), buf("src", "n"), scalar("n"), returns=scalar("left"))
    def copy_to_user(self, to_user: int, src: int, n: int) -> int:
        """Copy ``n`` bytes to user memory; returns the number of bytes *not* copied."""
        if n < 0 or not self.k.user_range_ok(to_user, n):
            return max(n, 0)
        self.k.charge(self.k.cost.copy_cost(n))
        self.mmu.copy(to_user, src, n)
        return 0

    def held_by(self, owner: str) -> list[str]:
        return [f"kmalloc {size} bytes at {addr:#010x}" for addr, size in self.heap.leaks(owner)]


PAGE = PAGE_SIZE
