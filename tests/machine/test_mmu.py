"""The MMU: every load and store is checked against the current page table."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nookslab.machine import MMU, PAGE_SIZE, RW, PageFault, PageTable, PhysicalMemory
from nookslab.machine.mmu import PRESENT

RAM = 64 * PAGE_SIZE
RO_PAGE = 8          # mapped read-only in the tests' domain table
RW_PAGE = 9          # writable in the domain table


@pytest.fixture
def mmu():
    return MMU(PhysicalMemory(RAM))


@pytest.fixture
def domain(mmu):
    """A Nooks-style domain table: the kernel's, read-only, with one page of its own writable."""
    table = PageTable("dom", mmu.kernel_pt)
    table.set(PAGE_SIZE, RAM - PAGE_SIZE, PRESENT)
    table.set(RW_PAGE * PAGE_SIZE, PAGE_SIZE, RW)
    return table


def test_a_store_and_a_load_round_trip_in_little_endian(mmu):
    mmu.st32(0x2000, 0x11223344)
    assert mmu.ld32(0x2000) == 0x11223344
    assert mmu.ld16(0x2000) == 0x3344
    assert mmu.ld8(0x2003) == 0x11
    assert bytes(mmu.data[0x2000:0x2004]) == b"\x44\x33\x22\x11"


def test_stores_truncate_values_to_their_width(mmu):
    mmu.st8(0x2000, 0x1FF)
    mmu.st16(0x2002, -1)
    mmu.st32(0x2004, (1 << 40) + 7)
    assert mmu.ld8(0x2000) == 0xFF
    assert mmu.ld16(0x2002) == 0xFFFF
    assert mmu.ld32(0x2004) == 7


def test_unaligned_accesses_inside_a_page_work(mmu):
    mmu.st32(0x2001, 0xA1B2C3D4)
    mmu.st16(0x2007, 0xBEEF)
    assert mmu.ld32(0x2001) == 0xA1B2C3D4
    assert mmu.ld16(0x2007) == 0xBEEF


@pytest.mark.parametrize("store", ["st8", "st16", "st32"])
def test_a_store_to_a_read_only_page_faults_with_address_access_and_domain(mmu, domain, store):
    mmu.switch(domain)
    addr = RO_PAGE * PAGE_SIZE + 0x10
    with pytest.raises(PageFault) as err:
        getattr(mmu, store)(addr, 1)
    assert (err.value.addr, err.value.access, err.value.domain) == (addr, "write", "dom")
    assert mmu.ld32(addr) == 0, "a faulting store must not change memory"


def test_a_store_to_the_domains_own_page_succeeds(mmu, domain):
    mmu.switch(domain)
    mmu.st32(RW_PAGE * PAGE_SIZE + 8, 77)
    assert mmu.ld32(RW_PAGE * PAGE_SIZE + 8) == 77


def test_the_domain_may_read_all_kernel_memory(mmu, domain):
    mmu.st32(RO_PAGE * PAGE_SIZE, 1234)
    mmu.switch(domain)
    assert mmu.ld32(RO_PAGE * PAGE_SIZE) == 1234


@pytest.mark.parametrize("load", ["ld8", "ld16", "ld32"])
def test_loads_from_the_null_page_fault(mmu, load):
    with pytest.raises(PageFault) as err:
        getattr(mmu, load)(0x10)
    assert (err.value.addr, err.value.access, err.value.domain) == (0x10, "read", "kernel")
    assert "NULL pointer dereference" in str(err.value)


@pytest.mark.parametrize("addr", [RAM, RAM + 0x123, 0x7FFF_0000, 0xFFFF_FFFC])
def test_loads_and_stores_beyond_ram_fault(mmu, addr):
    with pytest.raises(PageFault) as err:
        mmu.ld32(addr)
    assert (err.value.addr, err.value.access) == (addr, "read")
    with pytest.raises(PageFault) as err:
        mmu.st32(addr, 1)
    assert (err.value.addr, err.value.access) == (addr, "write")
    assert "paging request" in str(err.value)


def test_a_negative_pointer_wraps_to_the_top_of_the_address_space_and_faults(mmu):
    with pytest.raises(PageFault) as err:
        mmu.ld32(-4)
    assert err.value.addr == 0xFFFF_FFFC


def test_a_store_crossing_into_a_read_only_page_faults_on_the_second_page(mmu, domain):
    mmu.switch(domain)
    end = (RW_PAGE + 1) * PAGE_SIZE          # first byte of the read-only page after ours
    with pytest.raises(PageFault) as err:
        mmu.st32(end - 2, 0xFFFFFFFF)
    assert (err.value.addr, err.value.access) == (end, "write")
    assert mmu.ld32(end - 4) == 0, "no byte of a faulting store lands"


def test_a_store_crossing_from_a_read_only_page_faults_on_the_first_page(mmu, domain):
    mmu.switch(domain)
    start = RW_PAGE * PAGE_SIZE
    with pytest.raises(PageFault) as err:
        mmu.st16(start - 1, 0xFFFF)
    assert err.value.addr == start - 1


def test_a_store_crossing_two_writable_pages_lands_on_both(mmu):
    mmu.st32(0x2FFE, 0xAABBCCDD)
    assert bytes(mmu.data[0x2FFE:0x3002]) == b"\xdd\xcc\xbb\xaa"
    assert mmu.ld32(0x2FFE) == 0xAABBCCDD


def test_a_load_crossing_into_an_unmapped_page_faults(mmu):
    with pytest.raises(PageFault) as err:
        mmu.ld32(RAM - 2)
    assert (err.value.addr, err.value.access) == (RAM, "read")


def test_switching_page_tables_changes_what_is_writable(mmu, domain):
    addr = RO_PAGE * PAGE_SIZE
    previous = mmu.switch(domain)
    assert previous is mmu.kernel_pt and mmu.domain == "dom"
    with pytest.raises(PageFault):
        mmu.st32(addr, 1)
    assert mmu.switch(previous) is domain
    mmu.st32(addr, 1)
    assert mmu.ld32(addr) == 1 and mmu.domain == "kernel" and mmu.switches == 2


def test_map_kernel_tells_every_coherency_listener(mmu):
    seen = []
    mmu.coherency_hooks.append(lambda *change: seen.append(change))
    mmu.map_kernel(0x5000, 10, 0)
    assert seen == [(0x5000, 10, 0)]
    with pytest.raises(PageFault):
        mmu.ld8(0x5000)


# -- bulk access ------------------------------------------------------------------------------
def test_copy_moves_bytes_and_handles_overlap_like_memmove(mmu):
    mmu.write(0x2000, bytes(range(16)))
    mmu.copy(0x2004, 0x2000, 12)
    assert mmu.read(0x2000, 16) == bytes(range(4)) + bytes(range(12))


def test_copy_into_a_read_only_page_faults_and_copies_nothing(mmu, domain):
    mmu.write(RO_PAGE * PAGE_SIZE - 100, b"\x01" * 100)
    mmu.switch(domain)
    dst = RW_PAGE * PAGE_SIZE + PAGE_SIZE - 50     # runs 50 bytes past our page
    with pytest.raises(PageFault) as err:
        mmu.copy(dst, RO_PAGE * PAGE_SIZE - 100, 100)
    assert (err.value.addr, err.value.access) == ((RW_PAGE + 1) * PAGE_SIZE, "write")
    assert mmu.read(dst, 50) == bytes(50)


def test_copy_from_an_unmapped_source_is_a_read_fault(mmu):
    with pytest.raises(PageFault) as err:
        mmu.copy(0x2000, 0, 16)
    assert (err.value.addr, err.value.access) == (0, "read")


def test_copy_from_beyond_ram_is_a_read_fault_at_the_source(mmu):
    mmu.map_kernel(RAM, PAGE_SIZE, RW)          # a mapped page with no RAM behind it
    with pytest.raises(PageFault) as err:
        mmu.copy(0x2000, RAM - 8, 16)
    assert err.value.access == "read"


def test_fill_writes_the_byte_and_is_checked(mmu, domain):
    mmu.fill(0x2000, 0x1AB, 10)
    assert mmu.read(0x2000, 11) == b"\xab" * 10 + b"\x00"
    mmu.switch(domain)
    with pytest.raises(PageFault):
        mmu.fill(RO_PAGE * PAGE_SIZE, 0, 1)


def test_bulk_read_and_write_check_every_page_they_touch(mmu, domain):
    mmu.switch(domain)
    base = RW_PAGE * PAGE_SIZE
    mmu.write(base, b"x" * PAGE_SIZE)
    with pytest.raises(PageFault) as err:
        mmu.write(base + 1, b"x" * PAGE_SIZE)
    assert err.value.addr == base + PAGE_SIZE
    with pytest.raises(PageFault):
        mmu.read(RAM - 10, 20)
    with pytest.raises(PageFault):
        mmu.read(0xFFFF_FFF0, 0x20)               # wraps past 4 GiB


def test_zero_and_negative_lengths_do_nothing(mmu):
    assert mmu.read(0, 0) == b""
    mmu.write(0, b"")
    mmu.copy(0, 0, 0)
    mmu.fill(0, 1, -5)
    mmu.copy(0x2000, 0, -1)


# -- properties -------------------------------------------------------------------------------
addresses = st.integers(min_value=0, max_value=RAM + 2 * PAGE_SIZE)
PATTERN = bytes(range(251)) * (RAM // 251) + bytes(RAM % 251)


@settings(max_examples=300, deadline=None)
@given(addr=addresses, width=st.sampled_from([1, 2, 4]))
def test_a_scalar_store_succeeds_exactly_when_every_byte_is_on_a_writable_page(addr, width):
    mmu = MMU(PhysicalMemory(RAM))
    table = PageTable("dom", mmu.kernel_pt)
    table.set(PAGE_SIZE, RAM - PAGE_SIZE, PRESENT)
    table.set(RW_PAGE * PAGE_SIZE, 2 * PAGE_SIZE, RW)
    mmu.switch(table)
    allowed = all(table.writable(addr + i) and addr + i < RAM for i in range(width))
    store = {1: mmu.st8, 2: mmu.st16, 4: mmu.st32}[width]
    load = {1: mmu.ld8, 2: mmu.ld16, 4: mmu.ld32}[width]
    before = bytes(mmu.data)
    if allowed:
        store(addr, 0x5A5A5A5A)
        assert load(addr) == 0x5A5A5A5A & ((1 << 8 * width) - 1)
    else:
        with pytest.raises(PageFault) as err:
            store(addr, 0x5A5A5A5A)
        assert err.value.access == "write" and err.value.domain == "dom"
        assert addr <= err.value.addr < addr + width
        assert not table.writable(err.value.addr) or err.value.addr >= RAM
        assert bytes(mmu.data) == before


@settings(max_examples=200, deadline=None)
@given(src=addresses, dst=addresses, length=st.integers(min_value=1, max_value=3 * PAGE_SIZE))
def test_copy_succeeds_exactly_when_source_is_readable_and_destination_writable(src, dst, length):
    mmu = MMU(PhysicalMemory(RAM))
    table = PageTable("dom", mmu.kernel_pt)
    table.set(PAGE_SIZE, RAM - PAGE_SIZE, PRESENT)
    table.set(RW_PAGE * PAGE_SIZE, 3 * PAGE_SIZE, RW)
    mmu.switch(table)
    mmu.data[:] = PATTERN
    pages = lambda a: range(a // PAGE_SIZE, (a + length - 1) // PAGE_SIZE + 1)  # noqa: E731
    readable = src + length <= RAM and all(table.present(p * PAGE_SIZE) for p in pages(src))
    writable = dst + length <= RAM and all(table.writable(p * PAGE_SIZE) for p in pages(dst))
    expected = bytes(mmu.data[src:src + length])
    if readable and writable:
        mmu.copy(dst, src, length)
        assert bytes(mmu.data[dst:dst + length]) == expected
    else:
        before = bytes(mmu.data)
        with pytest.raises(PageFault) as err:
            mmu.copy(dst, src, length)
        assert err.value.access == ("write" if readable else "read")
        assert bytes(mmu.data) == before


class Registers:
    """A fake device: remembers register writes, answers reads with offset + size."""

    def __init__(self):
        self.writes = []

    def mmio_read(self, offset, size):
        return 0x1000 + offset + size

    def mmio_write(self, offset, size, value):
        self.writes.append((offset, size, value))


def test_loads_and_stores_on_mapped_registers_reach_the_device(mmu):
    dev = Registers()
    base = 0xF000_0000
    mmu.map_mmio(base, 0x100, dev)
    assert mmu.ld32(base + 0x10) == 0x1014
    assert mmu.ld16(base + 0x12) == 0x1014
    assert mmu.ld8(base + 0x3) == (0x1004 & 0xFF)
    mmu.st32(base + 0x8, 0x1_2345_6789)
    mmu.st8(base + 0x1, 0x1FF)
    assert dev.writes == [(0x8, 4, 0x2345_6789), (0x1, 1, 0xFF)]
    mmu.unmap_mmio(base, 0x100)
    with pytest.raises(PageFault):
        mmu.ld32(base + 0x10)


@settings(max_examples=200, deadline=None)
@given(addr=st.integers(min_value=PAGE_SIZE, max_value=RAM - 8), value=st.integers(0, 2**32 - 1))
def test_word_stores_and_loads_agree_with_the_bytes_in_ram(addr, value):
    mmu = MMU(PhysicalMemory(RAM))
    mmu.st32(addr, value)
    assert bytes(mmu.data[addr:addr + 4]) == value.to_bytes(4, "little")
    assert mmu.ld32(addr) == value
    assert mmu.ld16(addr) == value & 0xFFFF
    assert mmu.ld8(addr + 3) == value >> 24
