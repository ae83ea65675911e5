"""Physical memory and the page allocator."""
import numpy as np
import pytest

from nookslab.machine import PAGE_SIZE, OutOfMemory, PageAllocator, PhysicalMemory


@pytest.mark.parametrize("size", [0, -4096, 4095, 4097, 1.5e6, "16M", True, None])
def test_a_bad_memory_size_is_a_clear_error(size):
    with pytest.raises(ValueError, match="positive multiple of 4096"):
        PhysicalMemory(size)


def test_memory_larger_than_the_simulator_allows_is_refused():
    with pytest.raises(ValueError, match="at most 1 GiB"):
        PhysicalMemory((1 << 30) + PAGE_SIZE)


def test_memory_starts_zeroed_and_the_numpy_view_shares_it():
    mem = PhysicalMemory(4 * PAGE_SIZE)
    assert mem.pages == 4 and mem.size == 16384
    assert not mem.array.any()
    mem.data[5] = 7
    assert mem.array[5] == 7


def test_the_null_page_is_reserved_and_allocation_is_first_fit():
    pages = PageAllocator(PhysicalMemory(16 * PAGE_SIZE))
    a = pages.new_owner("a")
    b = pages.new_owner("b")
    assert pages.alloc(1, a) == PAGE_SIZE
    assert pages.alloc(3, b) == 2 * PAGE_SIZE
    assert pages.alloc(1, a) == 5 * PAGE_SIZE
    pages.free(2 * PAGE_SIZE, 3)
    assert pages.alloc(2, b) == 2 * PAGE_SIZE          # first run that fits
    assert pages.pages_of(a).tolist() == [1, 5]
    assert pages.free_pages == 16 - 1 - 2 - 2       # reserved, a twice, b twice
    assert pages.owner_names[a] == "a"


def test_running_out_of_pages_raises_out_of_memory():
    pages = PageAllocator(PhysicalMemory(4 * PAGE_SIZE))
    owner = pages.new_owner("x")
    with pytest.raises(OutOfMemory):
        pages.alloc(4, owner)                         # page 0 is never free
    pages.alloc(3, owner)
    with pytest.raises(OutOfMemory):
        pages.alloc(1, owner)
    with pytest.raises(ValueError, match="positive"):
        pages.alloc(0, owner)


def test_checksum_covers_exactly_the_selected_pages():
    mem = PhysicalMemory(4 * PAGE_SIZE)
    mask = np.array([False, True, False, False])
    before_all, before_page = mem.checksum(), mem.checksum(mask)
    mem.data[3 * PAGE_SIZE] = 1
    assert mem.checksum(mask) == before_page
    assert mem.checksum() != before_all
