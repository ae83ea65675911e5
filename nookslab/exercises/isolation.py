"""Checks of notebook 02 (isolation): a domain's page table and its write check.

Both exercises are pieces of :class:`~nookslab.nooks.domain.ProtectionDomain`; the package's own
versions, :func:`~nookslab.nooks.domain.domain_page_table` and
:func:`~nookslab.nooks.domain.may_write`, give the expected answers (and are switched off while
the student's function runs).
"""
from __future__ import annotations

import numpy as np

from ..machine.memory import ADDRESS_MASK, ADDRESS_PAGES, PAGE_SHIFT, PAGE_SIZE
from ..machine.mmu import PRESENT, WRITE, PageFault
from ..nooks.domain import domain_page_table, may_write
from .cases import Agreement, Case, agree, graded_part as _part

_FLAG_NAMES = {0: "0 (unmapped)", PRESENT: "PRESENT", WRITE: "WRITE (not present)",
               PRESENT | WRITE: "PRESENT|WRITE"}


def _flags(value: int) -> str:
    return _FLAG_NAMES.get(int(value), f"{int(value):#04x}")


# -- exercise 1: the page table -------------------------------------------------------------------
def _kernel_tables(seed: int, count: int = 8) -> list[tuple[str, np.ndarray]]:
    """Random kernel tables: every combination of the two bits, in runs, at random places,
    always including page 0 and the last page; plus an empty table and a full one."""
    rng = np.random.default_rng(seed)
    tables = [("an empty table", np.zeros(ADDRESS_PAGES, np.uint8)),
              ("every page PRESENT|WRITE", np.full(ADDRESS_PAGES, PRESENT | WRITE, np.uint8))]
    for i in range(count - len(tables)):
        table = np.zeros(ADDRESS_PAGES, np.uint8)
        for _ in range(int(rng.integers(20, 60))):
            start = int(rng.integers(0, ADDRESS_PAGES))
            table[start:start + int(rng.integers(1, 4096))] = rng.integers(0, 4)
        table[0], table[-1] = rng.integers(0, 4, size=2)
        if i % 2:                     # both ends as the real machine never has them
            table[0] = table[-1] = PRESENT | WRITE
        tables.append((f"random table {i + 1}", table))
    return tables


def page_table_cases(hooks, seed: int = 0) -> Agreement:
    """``hooks.page_table`` on random kernel tables: present exactly where the kernel maps,
    never writable (the package's :func:`domain_page_table` gives the answers)."""
    fn = _part(hooks, "page_table")
    tables = _kernel_tables(seed)
    cases = [Case(f"page_table({label})", (table.copy(),), domain_page_table(table))
             for label, table in tables]
    sources = {case.call: table for case, (_, table) in zip(cases, tables)}

    def judge(case, got):
        try:
            table = np.asarray(got)
        except Exception:                                      # noqa: BLE001
            return f"expected an array of {ADDRESS_PAGES} page flags, got {type(got).__name__}"
        if table.shape != case.expected.shape:
            return f"expected an array of {ADDRESS_PAGES} page flags, got shape {table.shape}"
        try:
            table = table.astype(np.uint8)              # what the domain does with it
        except (TypeError, ValueError) as exc:
            return f"expected page flags (integers), got {exc}"
        wrong = np.flatnonzero(table != case.expected)
        if not len(wrong):
            return None
        page = int(wrong[0])
        kernel = sources[case.call][page]
        return (f"page {page:#07x} with kernel flags {_flags(kernel)}: expected "
                f"{_flags(case.expected[page])}, got {_flags(table[page])} "
                f"({len(wrong)} page(s) differ)")
    return agree("page tables", fn, cases, judge=judge, show=lambda v: "page flags")


def domain_probe(kernel, domain) -> str:
    """What the domain's page table lets code running in the domain do, tried through the MMU:
    read and write a kernel heap object, read a page the kernel never mapped, write the domain's
    own stack. One stable line."""
    mmu = kernel.mmu
    kobj = kernel.heap.kmalloc(64)
    unmapped = next(p << PAGE_SHIFT for p in range(ADDRESS_PAGES - 1, 0, -1)
                    if not mmu.kernel_pt.array[p] & PRESENT)

    def attempt(addr: int, write: bool) -> str:
        previous = mmu.switch(domain.pt)
        try:
            value = mmu.ld32(addr)
            if write:
                mmu.st32(addr, value)                  # the same value back: nothing changes
            return "ok"
        except PageFault:
            return "faults"
        finally:
            mmu.switch(previous)
    line = (f"domain {domain.name}: kernel heap read {attempt(kobj, False)}, write "
            f"{attempt(kobj, True)} | unmapped page read {attempt(unmapped, False)} | own stack "
            f"write {attempt(domain.stacks[0], True)}")
    kernel.heap.kfree(kobj)
    return line


# -- exercise 2: the write check ------------------------------------------------------------------
def _writable_map(rng) -> tuple[np.ndarray, list[tuple[int, int]], int]:
    """A domain's writable pages: islands at random places (one of them with a hole), and the
    first and last pages of the address space writable, as no real domain has them but the
    specification must still hold. Returns the map, the islands (first, last page) and the hole."""
    writable = np.zeros(ADDRESS_PAGES, dtype=bool)
    islands = [(0, 1), (ADDRESS_PAGES - 2, ADDRESS_PAGES - 1)]
    for _ in range(10):
        first = int(rng.integers(16, ADDRESS_PAGES - 16))
        islands.append((first, first + int(rng.integers(0, 4))))
    for first, last in islands:
        writable[first:last + 1] = True
    hole = int(rng.integers(16, ADDRESS_PAGES - 16))      # pages hole-1 and hole+1 writable
    writable[hole - 1], writable[hole], writable[hole + 1] = True, False, True
    for p in (2, ADDRESS_PAGES - 3):
        writable[p] = False
    writable.flags.writeable = False
    return writable, islands[2:], hole


def _cases(writable, rows) -> list[Case]:
    return [Case(f"write_check(writable, {_addr(a)}, {n})", (writable, a, n),
                 may_write(writable, a, n), about) for a, n, about in rows]


def _addr(a: int) -> str:
    return f"{a:#010x}" if a >= 0 else f"-{-a:#x}"


def write_check_limits(hooks, seed: int = 0) -> Agreement:
    """Lengths and the address range: zero and negative lengths, address 0 and below, the top of
    the 32-bit space (the first and last pages are writable here, so only the rules say no)."""
    fn = _part(hooks, "write_check")
    rng = np.random.default_rng(seed)
    writable, islands, _ = _writable_map(rng)
    inside = islands[0][0] << PAGE_SHIFT
    closed = (islands[1][1] + 1) << PAGE_SHIFT          # the page after an island: not writable
    top = ADDRESS_MASK
    rows = [(closed, 0, "nothing to write"), (0, 0, "nothing to write, at address 0"),
            (-8, 0, "nothing to write, below address 0"),
            (closed, -1, "a negative length"), (0, -PAGE_SIZE, "a negative length at address 0"),
            (closed + 12, -int(rng.integers(2, 1 << 20)), "a negative length"),
            (0, 1, "address 0"), (0, int(rng.integers(2, 64)), "address 0"),
            (1, 4, "just above address 0, page 0 writable"),
            (-4, 4, "a negative address"), (-PAGE_SIZE, 8, "a negative address"),
            (-int(rng.integers(1, 1 << 20)), 16, "a negative address"),
            (top, 1, "the very last byte"), (top - 3, 4, "the last 4 bytes"),
            (top - 3, 5, "one byte past the top"), (top - 7, 64, "past the top"),
            (top + 1, 1, "above the 32-bit space"),
            ((ADDRESS_PAGES - 2) << PAGE_SHIFT, 2 * PAGE_SIZE, "the last two pages, exactly"),
            ((ADDRESS_PAGES - 2) << PAGE_SHIFT, 2 * PAGE_SIZE + 1, "one byte past the top"),
            (inside + 16, 1 << 32, "a length of 4 GiB"),
            (inside, 8, "an ordinary write to a writable page"),
            (closed + 8, 8, "an ordinary write to a read-only page")]
    for _ in range(8):                                  # writes near the two ends, random sizes
        n = int(rng.integers(1, 3 * PAGE_SIZE))
        rows.append((int(rng.integers(1, 2 * PAGE_SIZE)), n, "near the bottom"))
        rows.append((top - int(rng.integers(0, 2 * PAGE_SIZE)), n, "near the top"))
    return agree("write check, lengths and address range", fn, _cases(writable, rows))


def write_check_pages(hooks, seed: int = 0) -> Agreement:
    """Page boundaries: first and last byte of a page, ranges crossing into a read-only page,
    a range ending exactly at a page's end, a read-only page in the middle, random ranges."""
    fn = _part(hooks, "write_check")
    rng = np.random.default_rng(seed)
    writable, islands, hole = _writable_map(rng)
    rows = []
    for first, last in islands[:6]:
        start, end = first << PAGE_SHIFT, (last + 1) << PAGE_SHIFT   # end: first byte after
        rows += [(start, 1, "the first byte of a writable page"),
                 (end - 1, 1, "the last byte of a writable page"),
                 (start, end - start, "a whole writable run, ending at a page's end"),
                 (end - 4, 8, "crossing into a read-only page"),
                 (start - 4, 8, "crossing from a read-only page"),
                 (start, end - start + 1, "one byte past the run"),
                 (end - PAGE_SIZE + int(rng.integers(0, PAGE_SIZE)), 1, "inside the run")]
    h = hole << PAGE_SHIFT
    rows += [(h - 8, PAGE_SIZE + 16, "over a read-only page between two writable ones"),
             (h - PAGE_SIZE, 3 * PAGE_SIZE, "three pages, the middle one read-only"),
             (h - 16, 16, "ending exactly where the read-only page starts"),
             (h + PAGE_SIZE, 16, "starting exactly after the read-only page")]
    for _ in range(24):                                 # random ranges around the islands
        first, last = islands[int(rng.integers(0, len(islands)))]
        a = (first << PAGE_SHIFT) + int(rng.integers(-2 * PAGE_SIZE, 3 * PAGE_SIZE))
        rows.append((a, int(rng.integers(1, 3 * PAGE_SIZE)), "a random range"))
    return agree("write check, page boundaries", fn, _cases(writable, rows))


def stack_end_line(domain) -> str:
    """The domain's own answer for writes at the end of its last stack (the page after it is
    not the domain's): one stable line."""
    end = domain.stacks[-1] + 2 * PAGE_SIZE
    return (f"last 4 bytes of the stack: {domain.can_write(end - 4, 4)} | 8 bytes across its "
            f"end: {domain.can_write(end - 4, 8)} | nothing at address 0: "
            f"{domain.can_write(0, 0)}")


__all__ = ["domain_probe", "page_table_cases", "stack_end_line", "write_check_limits",
           "write_check_pages"]
