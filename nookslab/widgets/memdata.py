"""What the memory map shows, read from a kernel's pages, page tables and events: the owner of
each physical page, what a page table lets its domain write, where a refused access hit; drawn as
a PNG (no matplotlib: fast and byte-for-byte stable). Plain functions and records, no ipywidgets.
"""
from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from ..machine.memory import OWNER_FREE, PAGE_SHIFT
from ..machine.mmu import PRESENT, WRITE

# -- faulting accesses ------------------------------------------------------------------------
# A PageFault's message (machine/mmu.py): "... at 0x00001234 (write, domain e1000)".
_FAULT_AT = re.compile(r"at (0x[0-9a-fA-F]+) \((read|write), domain ([^)]+)\)")
# A failed integrity check that names the corrupted address (heap red zone, slab header...).
_BUG_AT = re.compile(r"kernel BUG: .*?(0x[0-9a-fA-F]{8})")


@dataclass(frozen=True)
class FaultSite:
    """Where a refused access hit: the address, the access and the page table it ran under."""

    addr: int
    access: str
    domain: str
    time: int
    source: str                  # the event it was read from

    @property
    def page(self) -> int:
        return self.addr >> PAGE_SHIFT


def fault_sites(kernel) -> list[FaultSite]:
    """Every page fault the kernel recorded (oops events, Nooks detections), in time order."""
    sites = []
    for event in kernel.events:
        if event.kind not in ("oops", "fault", "panic", "recovery"):
            continue
        match = _FAULT_AT.search(event.detail)
        bug = _BUG_AT.search(event.detail) if match is None else None
        site = None
        if match:
            site = FaultSite(int(match.group(1), 16), match.group(2), match.group(3),
                             event.time, f"{event.kind} {event.subject}: {event.detail}")
        elif bug:
            site = FaultSite(int(bug.group(1), 16), "corruption found", "kernel", event.time,
                             f"{event.kind} {event.subject}: {event.detail}")
        if site is not None:
            if not sites or (sites[-1].addr, sites[-1].access) != (site.addr, site.access):
                sites.append(site)
    return sites


# -- the memory map -----------------------------------------------------------------------------
#: Colours (RGB) of the owner classes; domains take the DOMAIN_COLOURS (by name).
OWNER_COLOURS = {
    "free": (236, 236, 236),
    "reserved": (90, 90, 90),
    "kernel heap": (66, 110, 190),
    "kernel buffers": (80, 170, 190),      # skb pool, buffer cache
    "user": (120, 180, 120),
    "dma": (214, 80, 80),
    "other": (170, 150, 110),
}
#: Other kernel-owned regions ("kernel text", "kernel data", ...), each its own shade of blue.
KERNEL_COLOURS = ((40, 60, 130), (110, 140, 220), (30, 100, 160), (140, 120, 210))
DOMAIN_COLOURS = ((240, 150, 40), (150, 90, 200), (230, 120, 180), (200, 200, 60),
                  (110, 200, 170))
#: What each owner class is, for the legend.
OWNER_NOTES = {
    "free": "not allocated",
    "reserved": "page 0: the NULL guard",
    "kernel heap": "kmalloc blocks of the kernel (and of native drivers)",
    "kernel buffers": "socket buffers (skb) and the buffer cache",
    "user": "user processes' pages",
    "dma": "DMA regions lent to devices",
    "kernel hash tables": "heads of the buffer-cache, dentry and inode hash chains",
    "kernel stack": "the kernel's stack (driver frames and on-stack buffers, natively)",
    "other": "",
}
#: Colours of the write-permission view of one page table.
PERMISSION_COLOURS = {
    "writable: the domain's own heap and stacks": (240, 150, 40),
    "writable: granted (DMA, device, lent buffers)": (240, 210, 60),
    "writable (kernel page table)": (66, 110, 190),
    "read-only": (180, 190, 205),
    "not present": (60, 60, 60),
    "free (not in use)": (236, 236, 236),
}
#: The faulting-page marker: the page filled black inside a black-and-yellow ring (a pattern no
#: owner or permission colour has, so it reads on any page).
MARK_COLOUR = (0, 0, 0)
MARK_RING = (255, 214, 0)
MARGIN = 10                          # white pixels around the map


def owner_class(name: str) -> str:
    """The legend entry an owner name falls under (``"domain e1000"`` stays itself)."""
    if name in ("free", "reserved", "kernel heap", "user"):
        return name
    if name.startswith("domain "):
        return name
    if name.startswith("dma") or name.endswith(" dma"):
        return "dma"
    if name in ("skb", "buffer cache"):
        return "kernel buffers"
    if name.endswith(" hash"):
        return "kernel hash tables"         # buffer, dentry and inode hash chains' heads
    if name.startswith("kernel "):
        return name                         # kernel text, kernel data...: their own colour
    return "other"


def class_colours(labels) -> dict[str, tuple[int, int, int]]:
    """A colour per owner class: the fixed ones, then domains and other kernel regions in the
    order of their names (so a domain keeps its colour when recovery rebuilds it, and up to five
    domains, or four kernel regions, never share one)."""
    out = {}
    domains = sorted(label for label in set(labels) if label.startswith("domain "))
    kernel = sorted(label for label in set(labels)
                    if label not in OWNER_COLOURS and not label.startswith("domain "))
    for label in set(labels):
        if label in OWNER_COLOURS:
            out[label] = OWNER_COLOURS[label]
    for i, label in enumerate(domains):
        out[label] = DOMAIN_COLOURS[i % len(DOMAIN_COLOURS)]
    for i, label in enumerate(kernel):
        out[label] = KERNEL_COLOURS[i % len(KERNEL_COLOURS)]
    return out


@dataclass
class MemoryPicture:
    """One rendering of the memory map: per-page colours and the legend that explains them."""

    colours: np.ndarray                      # (pages, 3) uint8
    legend: dict[str, tuple[int, int, int]]  # label -> colour, only labels that occur
    counts: dict[str, int]                   # label -> pages (of all RAM, even when cropped)
    marked: int | None = None                # the faulting page, if any
    title: str = ""
    first: int = 0                           # the page colours[0] stands for
    ram_pages: int = 0                       # pages of RAM (colours may show fewer)

    @property
    def last(self) -> int:
        """The last page drawn."""
        return self.first + len(self.colours) - 1


def in_use(picture: MemoryPicture, owner: np.ndarray) -> int:
    """Pages from page 0 through the last page in use (and the marked page), rounded up to
    whole rows of the map: where everything but free memory lies."""
    used = np.flatnonzero(owner != OWNER_FREE)
    last = int(used[-1]) if len(used) else 0
    if picture.marked is not None and picture.marked < len(owner):
        last = max(last, picture.marked)
    count = last + 1
    cols = grid_shape(count)[0]
    return min(len(owner), -(-count // cols) * cols)


def crop(picture: MemoryPicture, count: int) -> MemoryPicture:
    """The first ``count`` pages of ``picture`` (the legend and counts still of all RAM)."""
    return MemoryPicture(picture.colours[:count], picture.legend, picture.counts,
                         picture.marked, picture.title, 0, len(picture.colours))


def owner_picture(kernel) -> MemoryPicture:
    """Every physical page coloured by its owner (``machine.pages.owner`` + ``owner_names``)."""
    pages = kernel.machine.pages
    owner = pages.owner
    lut = np.zeros((max(pages.owner_names) + 1, 3), dtype=np.uint8)
    labels = {oid: owner_class(name) for oid, name in sorted(pages.owner_names.items())}
    colour_of = class_colours(labels.values())
    for oid, label in labels.items():
        lut[oid] = colour_of[label]
    colours = lut[owner]
    present = np.bincount(owner, minlength=len(lut))
    counts: dict[str, int] = {}
    legend: dict[str, tuple[int, int, int]] = {}
    for oid, label in labels.items():
        if present[oid]:
            counts[label] = counts.get(label, 0) + int(present[oid])
            legend[label] = tuple(int(c) for c in lut[oid])
    # A live domain's pages split into its stacks (drawn lighter) and its heap.
    isolation = getattr(kernel, "isolation", None)
    for name, domain in sorted(getattr(isolation, "domains", {}).items()):
        label = f"domain {name}"
        stack_pages = _stack_pages(domain, len(owner))
        if label not in counts or not len(stack_pages):
            continue
        base = np.array(legend.pop(label), dtype=np.int32)
        light = tuple(int(c) for c in (base + (255 - base) // 2))
        colours[stack_pages] = light
        total = counts.pop(label)
        counts[f"{label} heap"] = total - len(stack_pages)
        legend[f"{label} heap"] = tuple(int(c) for c in base)
        counts[f"{label} stacks"] = len(stack_pages)
        legend[f"{label} stacks"] = light
    return MemoryPicture(colours, legend, counts, title="owner of each physical page",
                         ram_pages=len(owner))


def _stack_pages(domain, ram_pages: int) -> np.ndarray:
    """Page numbers of a protection domain's stack pool (empty if it has none)."""
    try:
        from ..nooks.domain import STACK_PAGES
    except ImportError:
        return np.zeros(0, dtype=np.int64)
    firsts = [addr >> PAGE_SHIFT for addr in getattr(domain, "stacks", [])]
    pages = [p + i for p in firsts for i in range(STACK_PAGES) if p + i < ram_pages]
    return np.array(sorted(pages), dtype=np.int64)


def page_tables(kernel) -> dict[str, object]:
    """The page tables a view may select: the kernel's, then each live protection domain's."""
    tables = {"kernel": kernel.mmu.kernel_pt}
    isolation = getattr(kernel, "isolation", None)
    for name, domain in sorted(getattr(isolation, "domains", {}).items()):
        tables[f"domain {name}"] = domain.pt
    return tables


def permission_picture(kernel, table: str = "kernel") -> MemoryPicture:
    """Each RAM page coloured by what the page table ``table`` lets its domain do with it."""
    tables = page_tables(kernel)
    if table not in tables:
        raise ValueError(f"no page table {table!r}; choose from {list(tables)}")
    pages = kernel.machine.pages
    n = len(pages.owner)
    flags = tables[table].array[:n]
    own = None
    if table != "kernel":
        domain = kernel.isolation.domains[table[len("domain "):]]
        own = pages.owner == domain.owner
    classes = np.full(n, 0, dtype=np.int8)
    writable = (flags & WRITE) != 0
    present = (flags & PRESENT) != 0
    labels = list(PERMISSION_COLOURS)
    # index into labels
    classes[:] = labels.index("read-only")
    classes[~present] = labels.index("not present")
    if own is None:
        classes[writable] = labels.index("writable (kernel page table)")
    else:
        classes[writable & own] = labels.index("writable: the domain's own heap and stacks")
        classes[writable & ~own] = labels.index("writable: granted (DMA, device, lent buffers)")
    free = (pages.owner == OWNER_FREE) & ~writable
    classes[free] = labels.index("free (not in use)")
    lut = np.array([PERMISSION_COLOURS[label] for label in labels], dtype=np.uint8)
    colours = lut[classes]
    present_counts = np.bincount(classes, minlength=len(labels))
    counts = {label: int(present_counts[i]) for i, label in enumerate(labels) if present_counts[i]}
    legend = {label: PERMISSION_COLOURS[label] for label in counts}
    title = (f"what {table} may write (its page table)" if table != "kernel" else
             "the kernel page table: every page in use is writable (native drivers run here)")
    return MemoryPicture(colours, legend, counts, title=title, ram_pages=n)


def page_info(kernel, page: int, table: str = "kernel") -> str:
    """One line about physical page ``page``: owner, and whether ``table`` lets it be written."""
    pages = kernel.machine.pages
    if not 0 <= page < len(pages.owner):
        return f"page {page} is outside RAM ({len(pages.owner)} pages)"
    owner = pages.owner_names.get(int(pages.owner[page]), "?")
    flags = page_tables(kernel).get(table, kernel.mmu.kernel_pt).array[page]
    access = "writable" if flags & WRITE else ("read-only" if flags & PRESENT else "not present")
    return (f"page {page} ({page << PAGE_SHIFT:#010x}): owner {owner!r}; "
            f"{access} in the {table} page table")


def grid_shape(pages: int) -> tuple[int, int, int]:
    """(columns, rows, pixels per page side) of the map, 512 pixels wide (and a margin): 16-pixel
    pages for up to 1024 pages (the pages in use), 8 for a 16 MiB machine, 4 beyond."""
    cols = 32 if pages <= 1024 else 64 if pages <= 4096 else 128
    rows = -(-pages // cols)
    cell = 512 // cols
    return cols, rows, cell


def picture_pixels(picture: MemoryPicture) -> np.ndarray:
    """The map as an (height, width, 3) image: one square per page, a 1-pixel gap between rows
    and columns; the marked page framed black (filled black when pages are small) inside a
    black-and-yellow ring."""
    colours = picture.colours
    pages = len(colours)
    cols, rows, cell = grid_shape(pages)
    grid = np.full((rows * cols, 3), 255, dtype=np.uint8)
    grid[:pages] = colours
    grid = grid.reshape(rows, cols, 3)
    squares = np.repeat(np.repeat(grid, cell, axis=0), cell, axis=1)
    if cell > 3:
        squares[cell - 1::cell, :, :] = 255
        squares[:, cell - 1::cell, :] = 255
    # a white margin, so the marker's ring shows whole around a page on the map's edge
    img = np.full((squares.shape[0] + 2 * MARGIN, squares.shape[1] + 2 * MARGIN, 3), 255,
                  dtype=np.uint8)
    img[MARGIN:-MARGIN, MARGIN:-MARGIN] = squares
    marked = None if picture.marked is None else picture.marked - picture.first
    if marked is not None and 0 <= marked < pages:
        r, c = divmod(marked, cols)
        y, x = MARGIN + r * cell, MARGIN + c * cell
        # the page framed black, its own colour kept in the middle where there is room
        img[y:y + cell - 1, x:x + cell - 1] = MARK_COLOUR
        if cell >= 12:
            img[y + 3:y + cell - 4, x + 3:x + cell - 4] = colours[marked]
        # the ring: a band in the gap around the page, wide enough to find one page at a
        # glance, narrow enough that the neighbours keep most of their colour
        pad = min(MARGIN, max(6, cell // 2 + 2))
        y0, y1 = max(0, y - pad), min(img.shape[0], y + cell - 1 + pad)
        x0, x1 = max(0, x - pad), min(img.shape[1], x + cell - 1 + pad)
        for width, colour in ((4, MARK_COLOUR), (2, MARK_RING)):
            inset = 0 if colour == MARK_COLOUR else 1
            a0, a1, b0, b1 = y0 + inset, y1 - inset, x0 + inset, x1 - inset
            img[a0:a0 + width, b0:b1] = colour
            img[a1 - width:a1, b0:b1] = colour
            img[a0:a1, b0:b0 + width] = colour
            img[a0:a1, b1 - width:b1] = colour
    return img


def png_bytes(img: np.ndarray) -> bytes:
    """Encode an (h, w, 3) uint8 image as PNG (no matplotlib: fast and byte-for-byte stable)."""
    h, w, _ = img.shape
    raw = np.zeros((h, w * 3 + 1), dtype=np.uint8)          # filter byte 0 on each row
    raw[:, 1:] = img.reshape(h, w * 3)

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw.tobytes(), 1)) + chunk(b"IEND", b""))
