"""The slab debug sweep: every inconsistency of one :class:`~nookslab.kernel.heap.Heap`, read
from simulated memory.

Linux 2.4 has no such sweep in its verdicts (its checks run inside kmalloc and kfree, which
:mod:`nookslab.kernel.heap` does); this one is a diagnostic shown beside a trial's verdict, like
``CONFIG_DEBUG_SLAB``'s reports or kmemleak's scans: the caches' slab lists, each slab's free
list (``bufctl``), every object's header, red zones and poison. It reads through the kernel's
view, never raises, and lists what it finds in address order.
"""
from __future__ import annotations

import struct

from ..machine.memory import PAGE_SHIFT, PAGE_SIZE
from ..machine.mmu import CpuFault
from .slab import (_HDR, _REDZONE, BUFCTL_END, CACHE_MAGIC, GEOMETRY, HEADER, KMEM_CACHE,
                   MAGIC_FREE, MAGIC_LIVE, OVERHEAD, RED, SLAB, _poison)

_LIST_LIMIT = 1 << 16          # a list longer than any heap can hold is circular
_SLAB = struct.Struct("<6I")   # slab_t


def sweep(heap) -> list[str]:
    """Every problem found in ``heap``, as one line each (empty if it is consistent)."""
    found: list[str] = []
    for cls, cache in heap.cache_of.items():
        _guard(found, heap, lambda: _check_cache(heap, cls, cache, found))
    for slab in sorted(heap.slab_class):
        _guard(found, heap, lambda: _check_slab(heap, slab, found))
    for base in sorted(heap.large):
        _guard(found, heap, lambda: _check_large(heap, base, found))
    return found


def _guard(found: list, heap, fn) -> None:
    try:
        fn()
    except CpuFault as exc:
        found.append(f"{heap.name}: walking the heap faulted: {exc}")


def _check_cache(heap, cls: int, cache: int, found: list) -> None:
    kv = heap.kv
    if kv.ld32(cache + KMEM_CACHE.magic) != CACHE_MAGIC \
            or kv.ld32(cache + KMEM_CACHE.objsize) != cls:
        found.append(f"{heap.name}: kmem_cache_t of size-{cls} at {cache:#010x} overwritten")
        return
    for head, full in ((cache + KMEM_CACHE.partial_next, False),
                       (cache + KMEM_CACHE.full_next, True)):
        which = "slabs_full" if full else "slabs_partial"
        prev, node, steps = head, kv.ld32(head), 0
        while node != head:
            steps += 1
            if heap.slab_class.get(node) != cls or steps > _LIST_LIMIT:
                found.append(f"{heap.name}: {which} of size-{cls} leads to {node:#010x}, "
                             "not one of its slabs (list corrupted)")
                break
            if kv.ld32(node + SLAB.prev) != prev:
                found.append(f"{heap.name}: {which} of size-{cls}: slab {node:#010x} has a "
                             "bad prev link (list corrupted)")
                break
            if (kv.ld32(node + SLAB.free) == BUFCTL_END) != full:
                found.append(f"{heap.name}: slab {node:#010x} is on {which} with "
                             f"{'a free object' if full else 'no free object'}")
            prev, node = node, kv.ld32(node + SLAB.next)


def _check_slab(heap, slab: int, found: list) -> None:
    cls = heap.slab_class[slab]
    chunk, num, first = GEOMETRY[cls]
    page = heap.kv.read(slab, PAGE_SIZE)            # one mapped page: read once, parsed here
    _, _, s_mem, inuse, free, cache = _SLAB.unpack_from(page, 0)
    if cache != heap.cache_of[cls] or s_mem != slab + first:
        found.append(f"{heap.name}: slab corruption: slab_t at {slab:#010x} overwritten")
        return
    bufctl = struct.unpack_from(f"<{num}I", page, SLAB.size)
    on_list: set[int] = set()
    broken = False
    i = free
    while i != BUFCTL_END:
        if i >= num or i in on_list:
            found.append(f"{heap.name}: slab corruption: free list of slab {slab:#010x} "
                         f"{'leaves the slab' if i >= num else 'loops'} (index {i:#x})")
            broken = True
            break
        on_list.add(i)
        i = bufctl[i]
    poison = _poison(cls)
    for i in range(num):
        start = first + i * chunk
        addr = slab + start + HEADER + RED
        magic, size, _, hcls = _HDR.unpack_from(page, start)
        if magic == MAGIC_LIVE:
            if hcls != cls or not 0 < size <= cls:
                found.append(f"{heap.name}: slab header of {addr:#010x} overwritten")
                continue
            at = start + HEADER + RED
            if page[at - RED:at] != _REDZONE:
                found.append(f"{heap.name}: red zone before {addr:#010x} overwritten")
            if page[at + size:at + size + RED] != _REDZONE:
                found.append(f"{heap.name}: red zone after {addr:#010x}+{size} overwritten "
                             "(write past the end of an object)")
        elif magic == MAGIC_FREE:
            at = start + HEADER + RED
            if page[at:at + cls] != poison:
                found.append(f"{heap.name}: slab corruption: object {addr:#010x} "
                             "written after it was freed")
        else:
            found.append(f"{heap.name}: slab header of {addr:#010x} overwritten")
    if inuse + len(on_list) != num and not broken:
        found.append(f"{heap.name}: slab {slab:#010x}: inuse {inuse} and {len(on_list)} free "
                     f"do not add up to {num} objects")


def _check_large(heap, base: int, found: list) -> None:
    addr = base + HEADER + RED
    npages = heap.large[base]
    if any(a == addr for a, _ in heap.large_free):
        problem = large_free_problem(heap, addr, npages)
        if problem:
            found.append(problem)
        return
    magic, size, _, cls = _HDR.unpack(heap.kv.read(base, HEADER))
    if magic != MAGIC_LIVE or cls or not 0 < size <= (npages << PAGE_SHIFT) - OVERHEAD:
        found.append(f"{heap.name}: slab header of {addr:#010x} overwritten")
        return
    _red_zones(heap, addr, size, found)


def _red_zones(heap, addr: int, size: int, found: list) -> None:
    if heap.kv.read(addr - RED, RED) != _REDZONE:
        found.append(f"{heap.name}: red zone before {addr:#010x} overwritten")
    if heap.kv.read(addr + size, RED) != _REDZONE:
        found.append(f"{heap.name}: red zone after {addr:#010x}+{size} overwritten "
                     "(write past the end of an object)")


def large_free_problem(heap, addr: int, npages: int) -> str | None:
    """What is wrong with a freed large object still in quarantine, or None."""
    magic, size, _, _ = _HDR.unpack(heap.kv.read(addr - HEADER - RED, HEADER))
    # The size comes from the (corruptible) header: bound it by the pages really held.
    if magic != MAGIC_FREE or not 0 < size <= (npages << PAGE_SHIFT) - OVERHEAD:
        return (f"{heap.name}: slab corruption: header of freed {addr:#010x} overwritten")
    if heap.mmu.memory.data[addr:addr + size] != _poison(size):
        return (f"{heap.name}: slab corruption: object {addr:#010x} written after it was "
                "freed")
    return None
