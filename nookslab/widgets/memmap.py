"""The memory map: every simulated physical page as a square, coloured by its owner (kernel heap,
each protection domain's heap and stacks, DMA regions, kernel buffers) or by what a selected page
table lets its domain write (SOSP'03 section 4.2: a domain may read all of the kernel and write
only its own pages and what is granted to it). A faulting store is framed in red where it hit.
"""
from __future__ import annotations

import html

import ipywidgets as W

from .data import (MemoryPicture, fault_sites, owner_picture, page_info, page_tables,
                   permission_picture, picture_pixels, png_bytes)

COLOUR_BY = ("owner", "write permission")
EXTENTS = ("pages in use", "all memory")
#: Columns of the cropped view (bigger squares than the whole map's 64).
CROP_COLUMNS = 32


def _what(access: str) -> str:
    return access if access == "corruption found" else f"faulting {access}"


def _by(site) -> str:
    if site.access == "corruption found":
        return "by the kernel's integrity check"
    return f"by domain {html.escape(site.domain)}"


class MemoryMap(W.VBox):
    """A memory-map view of one kernel.

    Attributes
    ----------
    picture: the :class:`~nookslab.widgets.data.MemoryPicture` on show (colours, legend,
    counts, ``marked`` page). ``highlighted``: the page framed in red, or None.
    """

    def __init__(self, kernel=None, crop: bool = False):
        self.colour_by = W.ToggleButtons(options=COLOUR_BY, value="owner", description="colour by")
        self.table = W.Dropdown(options=["kernel"], value="kernel", description="page table")
        # crop: draw from page 0 to the last page in use (or the faulting page), bigger
        self.extent = W.ToggleButtons(options=EXTENTS, value=EXTENTS[0 if crop else 1],
                                      description="show")
        self.extent.observe(lambda _: self.render(), names="value")
        self.image = W.Image(format="png")
        self.image.add_class("nookslab-memmap-image")
        self.legend = W.HTML()
        self.info = W.HTML()
        self.kernel = None
        self.picture: MemoryPicture | None = None
        self.colour_by.observe(lambda _: self.render(), names="value")
        self.table.observe(self._rerender, names="value")
        super().__init__([W.HBox([self.colour_by, self.table]), self.extent,
                          W.HBox([self.image, self.legend]), self.info])
        self.add_class("nookslab-memmap")
        self.show(kernel)

    @property
    def highlighted(self) -> int | None:
        return None if self.picture is None else self.picture.marked

    def show(self, kernel) -> None:
        """Draw ``kernel``'s memory (the page-table choice follows a failed domain if any)."""
        self.kernel = kernel
        if kernel is None:
            self.picture = None
            self.image.value = b""
            self.legend.value = ""
            self.info.value = "<i>no kernel to show yet: run a trial</i>"
            return
        tables = list(page_tables(kernel))
        # after a fault, show the table of the domain it happened in, if it still exists
        site = (fault_sites(kernel) or [None])[-1]
        choice = self.table.value if self.table.value in tables else "kernel"
        if site is not None and f"domain {site.domain}" in tables:
            choice = f"domain {site.domain}"
        self.table.unobserve(self._rerender, names="value")
        self.table.options = tables
        self.table.value = choice
        self.table.observe(self._rerender, names="value")
        self.render()

    def pages_in_use(self, marked: int | None = None) -> int:
        """How many pages the cropped view draws: up to the last page in use (or ``marked``),
        rounded up to a whole row of the cropped grid."""
        from ..machine.memory import OWNER_FREE
        import numpy as np
        owner = self.kernel.machine.pages.owner
        used = np.flatnonzero(owner != OWNER_FREE)
        last = max(int(used[-1]) if len(used) else 0, marked if marked is not None else 0)
        return min(len(owner), -(-(last + 1) // CROP_COLUMNS) * CROP_COLUMNS)

    def _rerender(self, _change=None) -> None:
        self.render()

    def render(self) -> None:
        kernel = self.kernel
        if kernel is None:
            return
        if self.colour_by.value == "owner":
            picture = owner_picture(kernel)
        else:
            picture = permission_picture(kernel, self.table.value)
        sites = fault_sites(kernel)
        notes = []
        ram_pages = len(picture.colours)
        for site in sites[-1:]:
            if site.page < ram_pages:
                picture.marked = site.page
                notes.append(f"<b style='color:#e60000'>{_what(site.access)}</b> at "
                             f"{site.addr:#010x} {_by(site)}: "
                             f"{html.escape(page_info(kernel, site.page, self.table.value))}")
            else:
                notes.append(f"<b style='color:#e60000'>{_what(site.access)}</b> at "
                             f"{site.addr:#010x} {_by(site)}: outside "
                             f"RAM ({ram_pages} pages), not drawn")
        self.picture = picture
        cols = None
        shown = ram_pages
        if self.extent.value == "pages in use":
            shown = self.pages_in_use(picture.marked)
            cols = CROP_COLUMNS if shown <= CROP_COLUMNS * CROP_COLUMNS else None
            picture = MemoryPicture(picture.colours[:shown], picture.legend, picture.counts,
                                    picture.marked if picture.marked is not None
                                    and picture.marked < shown else None, picture.title)
            notes.insert(0, f"showing pages 0 to {shown - 1} (the rest of memory is free: "
                            f"choose 'all memory' to see it)")
        img = picture_pixels(picture, cols)
        self.image.value = png_bytes(img)
        self.image.width = str(img.shape[1])
        self.image.height = str(img.shape[0])
        rows = "".join(
            f"<tr><td><span style='display:inline-block;width:14px;height:14px;"
            f"background:rgb{colour}'></span></td><td>{html.escape(label)}</td>"
            f"<td style='text-align:right'>{picture.counts[label]}</td></tr>"
            for label, colour in picture.legend.items())
        if picture.marked is not None:
            rows += ("<tr><td><span style='display:inline-block;width:10px;height:10px;"
                     "border:2px solid #e60000'></span></td>"
                     "<td>faulting access / corruption</td><td></td></tr>")
        self.legend.value = (f"<b>{html.escape(picture.title)}</b><table>"
                             f"<tr><th></th><th></th><th>pages</th></tr>{rows}</table>")
        self.info.value = (f"{ram_pages} pages of 4 KiB ({ram_pages * 4 // 1024} MiB), "
                           f"{kernel.mode} kernel<br>" + "<br>".join(notes))
