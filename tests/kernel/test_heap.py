"""kmalloc/kfree: size classes, alignment, red zones, poisoning, and what they catch."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nookslab.kernel.heap import (CLASSES, MAX_KMALLOC, POISON_END, POISON_FREE, RED_BYTE, Heap)
from nookslab.kernel.panic import KernelBug
from nookslab.machine import MMU, PAGE_SIZE, PageAllocator, PhysicalMemory


@pytest.fixture
def heap():
    memory = PhysicalMemory(256 * PAGE_SIZE)
    pages = PageAllocator(memory)
    return Heap("test", MMU(memory), pages, pages.new_owner("test heap"))


def test_kmalloc_returns_eight_byte_aligned_memory_of_the_size_asked(heap):
    sizes = [1, 7, 16, 17, 100, 2048, 2049, 5000, MAX_KMALLOC]
    addrs = [heap.kmalloc(n, "m") for n in sizes]
    assert all(a % 8 == 0 and a >= PAGE_SIZE for a in addrs)
    assert [heap.ksize(a) for a in addrs] == sizes
    assert heap.leaks("m") == sorted(zip(addrs, sizes))


def test_objects_never_overlap(heap):
    spans = sorted((a, a + n) for n in (8, 30, 64, 200, 3000)
                   for a in (heap.kmalloc(n, "m") for _ in range(5)))
    assert all(end <= nxt for (_, end), (nxt, _) in zip(spans, spans[1:]))


def test_fresh_memory_is_poisoned_not_zeroed(heap):
    a = heap.kmalloc(16, "m")
    assert bytes(heap.data[a:a + 16]) == bytes([POISON_FREE]) * 15 + bytes([POISON_END])


def test_red_zones_surround_every_object(heap):
    a = heap.kmalloc(20, "m")
    assert bytes(heap.data[a - 8:a]) == bytes([RED_BYTE]) * 8
    assert bytes(heap.data[a + 20:a + 28]) == bytes([RED_BYTE]) * 8


@pytest.mark.parametrize("size", [0, -1, MAX_KMALLOC + 1])
def test_an_impossible_size_returns_null(heap, size):
    assert heap.kmalloc(size, "m") == 0


def test_a_freed_object_is_reused_first_and_memory_is_poisoned(heap):
    a = heap.kmalloc(64, "m")
    heap.mmu.st32(a, 0x12345678)
    heap.kfree(a)
    assert bytes(heap.data[a:a + 4]) == bytes([POISON_FREE]) * 4
    assert heap.kmalloc(60, "n") == a
    assert heap.allocations == 2 and heap.frees == 1


def test_kfree_of_null_is_ignored(heap):
    heap.kfree(0)
    assert heap.frees == 0


@pytest.mark.parametrize("size", [16, 100, 3000])
def test_a_write_one_past_the_end_is_caught_by_kfree(heap, size):
    a = heap.kmalloc(size, "m")
    heap.mmu.st8(a + size, 0)
    with pytest.raises(KernelBug, match=r"red zone after .*\(write past the end"):
        heap.kfree(a)


def test_a_write_just_before_the_start_is_caught_by_the_sweep(heap):
    a = heap.kmalloc(32, "m")
    heap.mmu.st8(a - 1, 0)
    with pytest.raises(KernelBug, match="red zone before"):
        heap.check()


def test_a_trampled_header_is_caught(heap):
    a = heap.kmalloc(32, "m")
    heap.mmu.st32(a - 24 + 4, 999)            # the size field of the slab header
    with pytest.raises(KernelBug, match="slab header"):
        heap.check()


def test_a_write_after_free_is_caught_when_the_object_is_reused(heap):
    a = heap.kmalloc(128, "m")
    heap.kfree(a)
    heap.mmu.st8(a + 50, 0)
    with pytest.raises(KernelBug, match="written after it was freed"):
        heap.kmalloc(128, "n")


def test_a_write_after_free_is_caught_by_the_sweep(heap):
    a = heap.kmalloc(128, "m")
    heap.kfree(a)
    heap.mmu.st32(a + 124, 0)
    with pytest.raises(KernelBug, match="written after it was freed"):
        heap.check()


def test_a_write_after_free_of_a_large_object_is_caught_by_the_sweep(heap):
    a = heap.kmalloc(10_000, "m")
    heap.kfree(a)
    heap.mmu.st32(a + 9_000, 0)
    with pytest.raises(KernelBug, match="written after it was freed"):
        heap.check()


def test_a_double_free_is_a_kernel_bug(heap):
    a = heap.kmalloc(48, "m")
    heap.kfree(a)
    with pytest.raises(KernelBug, match="double free"):
        heap.kfree(a)


def test_a_double_free_of_a_large_object_is_a_kernel_bug(heap):
    a = heap.kmalloc(5000, "m")
    heap.kfree(a)
    with pytest.raises(KernelBug, match="double free"):
        heap.kfree(a)


@pytest.mark.parametrize("offset", [4, -4, 1])
def test_freeing_a_pointer_that_kmalloc_never_returned_is_a_kernel_bug(heap, offset):
    a = heap.kmalloc(48, "m")
    with pytest.raises(KernelBug, match="bad pointer"):
        heap.kfree(a + offset)


def test_large_frees_return_pages_after_a_delay_and_stay_checked(heap):
    free0 = heap.pages.free_pages
    addrs = [heap.kmalloc(5000, "m") for _ in range(6)]
    assert heap.pages.free_pages == free0 - 6 * 2
    for a in addrs:
        heap.kfree(a)
    heap.check()
    assert heap.pages.free_pages == free0 - 4 * 2    # the last four stay poisoned, in quarantine


def test_block_of_finds_the_allocation_containing_an_address(heap):
    a = heap.kmalloc(100, "m")
    assert heap.block_of(a + 99) == (a, 100)
    assert heap.block_of(a + 100) is None
    assert heap.owns(a) and not heap.owns(a + 1)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 6000), st.booleans()), min_size=1, max_size=40))
def test_any_sequence_of_correct_allocations_and_frees_passes_the_sweep(ops):
    memory = PhysicalMemory(512 * PAGE_SIZE)
    pages = PageAllocator(memory)
    heap = Heap("prop", MMU(memory), pages, pages.new_owner("prop"))
    live = []
    for size, free_one in ops:
        a = heap.kmalloc(size, "m")
        assert a % 8 == 0 and heap.ksize(a) == size
        heap.mmu.fill(a, 0x33, size)                  # use every byte it owns, and no more
        live.append(a)
        if free_one:
            heap.kfree(live.pop(0))
        heap.check()
    for a in live:
        heap.kfree(a)
    heap.check()
    assert heap.live == {} and heap.allocations == heap.frees == len(ops)


def test_size_classes_are_powers_of_two_up_to_2048():
    assert CLASSES == tuple(2 ** i for i in range(4, 12))


def test_a_huge_size_written_over_a_freed_large_header_is_caught_without_a_huge_check(heap):
    a = heap.kmalloc(5000, "m")
    heap.kfree(a)
    heap.mmu.st32(a - 24 + 4, 0xFFFF_FFF0)
    with pytest.raises(KernelBug, match="header of freed"):
        heap.check()
