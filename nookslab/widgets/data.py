"""What the views show, read from a kernel's state, its ``events`` and result objects.

Plain functions and records, no ipywidgets: the widgets draw these, and the tests check them
without a browser. Nothing here simulates anything; it only reads what the simulation recorded.
"""
from __future__ import annotations

import re
import zlib
from collections import Counter
from dataclasses import dataclass, field

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
#: Colours (RGB) of the owner classes; domains take the DOMAIN_COLOURS in order of creation.
OWNER_COLOURS = {
    "free": (236, 236, 236),
    "reserved": (90, 90, 90),
    "kernel heap": (66, 110, 190),
    "user": (120, 180, 120),
    "dma": (214, 80, 80),
    "kernel buffers": (80, 170, 190),      # skb pool, buffer cache
    "other": (170, 150, 110),
}
DOMAIN_COLOURS = ((240, 150, 40), (150, 90, 200), (230, 120, 180), (200, 200, 60),
                  (110, 200, 170))
#: Colours of the write-permission view of one page table.
PERMISSION_COLOURS = {
    "writable: the domain's own heap and stacks": (240, 150, 40),
    "writable: granted (DMA, device, lent buffers)": (240, 210, 60),
    "writable (kernel page table)": (66, 110, 190),
    "read-only": (180, 190, 205),
    "not present": (60, 60, 60),
    "free (not in use)": (236, 236, 236),
}
MARK_COLOUR = (230, 0, 0)


def owner_class(name: str) -> str:
    """The legend entry an owner name falls under (``"domain e1000"`` stays itself)."""
    if name in ("free", "reserved", "kernel heap", "user"):
        return name
    if name.startswith("domain "):
        return name
    if name.startswith("dma") or name == "ide dma":
        return "dma"
    if name in ("skb", "buffer cache"):
        return "kernel buffers"
    return "other"


@dataclass
class MemoryPicture:
    """One rendering of the memory map: per-page colours and the legend that explains them."""

    colours: np.ndarray                      # (pages, 3) uint8
    legend: dict[str, tuple[int, int, int]]  # label -> colour, only labels that occur
    counts: dict[str, int]                   # label -> pages
    marked: int | None = None                # the faulting page, if any
    title: str = ""


def owner_picture(kernel) -> MemoryPicture:
    """Every physical page coloured by its owner (``machine.pages.owner`` + ``owner_names``)."""
    pages = kernel.machine.pages
    owner = pages.owner
    lut = np.zeros((max(pages.owner_names) + 1, 3), dtype=np.uint8)
    labels: dict[int, str] = {}
    for oid in sorted(pages.owner_names):
        label = owner_class(pages.owner_names[oid])
        if label.startswith("domain "):
            # by name, so a domain keeps its colour when recovery rebuilds it
            colour = DOMAIN_COLOURS[zlib.crc32(label.encode()) % len(DOMAIN_COLOURS)]
        else:
            colour = OWNER_COLOURS[label]
        lut[oid] = colour
        labels[oid] = label
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
    return MemoryPicture(colours, legend, counts, title="owner of each physical page")


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
    return MemoryPicture(colours, legend, counts, title=f"write permission in {table}'s page table")


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


def grid_shape(pages: int, cols: int | None = None) -> tuple[int, int, int]:
    """(columns, rows, pixels per page side) of the map: about 512 pixels wide (``cols``
    columns if given: fewer columns draw bigger pages)."""
    cols = cols or (64 if pages <= 4096 else 128)
    rows = -(-pages // cols)
    cell = max(2, 512 // cols)
    return cols, rows, cell


def picture_pixels(picture: MemoryPicture, cols: int | None = None) -> np.ndarray:
    """The map as an (height, width, 3) image: one square per page, a 1-pixel gap between rows
    and columns, the marked page drawn as a red frame with a red cross (``cols``: see
    :func:`grid_shape`)."""
    colours = picture.colours
    pages = len(colours)
    cols, rows, cell = grid_shape(pages, cols)
    grid = np.full((rows * cols, 3), 255, dtype=np.uint8)
    grid[:pages] = colours
    grid = grid.reshape(rows, cols, 3)
    img = np.repeat(np.repeat(grid, cell, axis=0), cell, axis=1)
    if cell > 3:
        img[cell - 1::cell, :, :] = 255
        img[:, cell - 1::cell, :] = 255
    if picture.marked is not None and 0 <= picture.marked < pages:
        r, c = divmod(picture.marked, cols)
        y, x = r * cell, c * cell
        # a frame two cells wide so a single page stands out at a glance
        y0, y1 = max(0, y - cell), min(img.shape[0], y + 2 * cell)
        x0, x1 = max(0, x - cell), min(img.shape[1], x + 2 * cell)
        img[y0:y1, x0:x0 + 2] = MARK_COLOUR
        img[y0:y1, x1 - 2:x1] = MARK_COLOUR
        img[y0:y0 + 2, x0:x1] = MARK_COLOUR
        img[y1 - 2:y1, x0:x1] = MARK_COLOUR
        img[y:y + cell, x:x + cell] = MARK_COLOUR
    return img


def png_bytes(img: np.ndarray) -> bytes:
    """Encode an (h, w, 3) uint8 image as PNG (no matplotlib: fast and byte-for-byte stable)."""
    import struct
    h, w, _ = img.shape
    raw = np.zeros((h, w * 3 + 1), dtype=np.uint8)          # filter byte 0 on each row
    raw[:, 1:] = img.reshape(h, w * 3)

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw.tobytes(), 1)) + chunk(b"IEND", b""))


# -- XPC --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Crossing:
    """One XPC from ``kernel.events``: ``kind`` is ``"call"`` (kernel into the extension),
    ``"kernel"`` (the extension calls the kernel), ``"return"`` or ``"deferred"`` (a batch)."""

    index: int                   # position in kernel.events
    time: int
    domain: str
    function: str
    kind: str
    batch: int = 0               # calls in a deferred batch


_DEFERRED = re.compile(r"deferred x(\d+)")


def crossings(events) -> list[Crossing]:
    """The ``"xpc"`` events as :class:`Crossing` records, in order."""
    out = []
    for i, e in enumerate(events):
        if e.kind != "xpc":
            continue
        detail = e.detail.strip()
        batch = 0
        if detail.endswith("->"):
            kind, fn = "call", detail[:-2].strip()
        elif detail.startswith("<-"):
            fn = detail[2:].strip()
            m = _DEFERRED.fullmatch(fn)
            kind = "deferred" if m else "kernel"
            batch = int(m.group(1)) if m else 0
        elif detail.startswith("return") or detail.startswith("ret "):
            kind, fn = "return", detail.split(None, 1)[-1]
        else:
            kind, fn = "kernel", detail
        out.append(Crossing(i, e.time, e.subject, fn, kind, batch))
    return out


def crossing_counts(xs: list[Crossing]) -> list[tuple[str, str, int]]:
    """(function, kind, count) per interface function, most crossed first."""
    counts = Counter((c.function if c.kind != "deferred" else "deferred batch", c.kind)
                     for c in xs)
    return sorted(((f, k, n) for (f, k), n in counts.items()), key=lambda r: (-r[2], r[0], r[1]))


def call_path(xs: list[Crossing], start: int) -> list[Crossing]:
    """One call's path: crossing ``xs[start]`` (a call into an extension) and every crossing
    after it up to the next call into an extension of the same function (one packet's trip
    through start_xmit, say, with the kernel calls it made and the deferred batch)."""
    if not 0 <= start < len(xs):
        return []
    first = xs[start]
    path = [first]
    for c in xs[start + 1:]:
        if c.kind == "call" and c.function == first.function:
            break
        path.append(c)
        if len(path) >= 200:
            break
    return path


# -- object tracker --------------------------------------------------------------------------
@dataclass(frozen=True)
class TrackerRow:
    """One tracked object as the view lists it."""

    domain: str
    type: str
    addr: int
    copy: int
    owner: str
    kind: str                    # "object" | "registration" | "per-call"
    describe: str

    def cells(self) -> tuple[str, ...]:
        return (self.domain, self.type, f"{self.addr:#010x}",
                f"{self.copy:#010x}" if self.copy else "-", self.owner, self.kind)


def tracker_rows(domain) -> list[TrackerRow]:
    """The live table of ``domain``'s object tracker, oldest first."""
    rows = []
    for obj in reversed(domain.tracker.enumerate()):
        owner = obj.args.get("owner") if isinstance(obj.args, dict) else None
        kind = "registration" if obj.key else ("per-call" if obj.per_call else "object")
        rows.append(TrackerRow(domain.name, obj.type.name, obj.addr, obj.copy,
                               str(owner or domain.name), kind, obj.describe()))
    return rows


def all_tracker_rows(kernel) -> dict[str, list[TrackerRow]]:
    """Tracker tables of every live domain of ``kernel`` ({} without Nooks)."""
    isolation = getattr(kernel, "isolation", None)
    if isolation is None:
        return {}
    return {name: tracker_rows(d) for name, d in sorted(isolation.domains.items())}


@dataclass
class TrackerSnapshot:
    """The tracker table of a domain at one moment (taken when Nooks detects a failure)."""

    domain: str
    time: int
    trigger: str
    cause: str
    rows: list[TrackerRow] = field(default_factory=list)


# -- recovery -------------------------------------------------------------------------------
@dataclass(frozen=True)
class TimelineRow:
    """One line of the recovery timeline: simulated time, what happened, detail."""

    time: int
    extension: str
    what: str
    detail: str


def recovery_timeline(kernel) -> list[TimelineRow]:
    """Detection and each recovery step, in order, from ``kernel.recoveries`` and the events."""
    rows: list[TimelineRow] = []
    for record in getattr(kernel, "recoveries", []):
        ext = getattr(record, "extension", "?")
        started = getattr(record, "started", 0)
        domain = getattr(record, "old_domain", "") or ext
        # Detection is the layer's "fault" event for the domain (the recovery itself may start
        # later, when the user-mode agent runs).
        detected = [e.time for e in kernel.events if e.kind == "fault" and e.subject == domain
                    and "activated" not in e.detail and e.time <= started]
        why = f"{getattr(record, 'trigger', '?')}: {getattr(record, 'cause', '')}"
        rows.append(TimelineRow(detected[-1] if detected else started, ext, "detected", why))
        if detected and detected[-1] < started:
            rows.append(TimelineRow(started, ext, "recovery starts",
                                    "the user-mode agent runs"))
        for step in getattr(record, "steps", []):
            rows.append(TimelineRow(getattr(step, "time", 0), ext, getattr(step, "name", str(step)),
                                    getattr(step, "detail", "")))
        ok = getattr(record, "ok", False)
        rows.append(TimelineRow(getattr(record, "finished", 0), ext,
                                "recovered" if ok else "recovery failed",
                                f"policy {getattr(record, 'policy', '?')}"))
    return rows


def detection_time(kernel) -> int | None:
    """When Nooks first noticed a failure (the first ``fault`` event from the layer)."""
    for e in kernel.events:
        if e.kind in ("fault", "check") and "activated" not in e.detail:
            return e.time
    return None
