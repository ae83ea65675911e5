"""The memory map: every simulated physical page as a square, coloured by its owner (reserved,
kernel heap, kernel buffers, user pages, DMA regions, each protection domain's heap and stacks)
or by what a selected page table lets its domain write (SOSP'03 section 4.2: a domain may read
all of the kernel and write only its own pages and what is granted to it).

It opens on the pages in use (page 0 up to the last allocated page, 16-pixel squares) with a
control to show all of RAM; a faulting access is marked where it hit (the page black, inside a
black-and-yellow ring); the write-permission view opens on the driver's protection domain.
"""
from __future__ import annotations

import html

import ipywidgets as W

from .memdata import (MARK_RING, OWNER_NOTES, MemoryPicture, crop, fault_sites, grid_shape,
                      in_use, owner_picture, page_info, page_tables, permission_picture,
                      picture_pixels, png_bytes)
from .style import stylesheet

COLOUR_BY = ("owner", "write permission")
EXTENT = ("pages in use", "all memory")


def _what(access: str) -> str:
    return access if access == "corruption found" else f"faulting {access}"


def _by(site) -> str:
    if site.access == "corruption found":
        return "by the kernel's integrity check"
    return f"by domain {html.escape(site.domain)}"


def _swatch(colour) -> str:
    return (f"<span style='display:inline-block;width:14px;height:14px;vertical-align:middle;"
            f"background:rgb{tuple(colour)}'></span>")


MARK_SWATCH = ("<span style='display:inline-block;width:8px;height:8px;vertical-align:middle;"
               f"background:#000;border:3px solid rgb{MARK_RING};outline:2px solid #000'></span>")


class MemoryMap(W.VBox):
    """A memory-map view of one kernel.

    Parameters
    ----------
    kernel: the kernel to show (None: an empty map that says to run a trial).
    extent: ``"pages in use"`` (default) or ``"all memory"``.
    colour_by: ``"owner"`` (default) or ``"write permission"``.

    Attributes
    ----------
    picture: the :class:`~nookslab.widgets.memdata.MemoryPicture` on show (colours of the pages
    drawn, legend, counts of all RAM, ``marked`` page). ``highlighted``: the marked page, or None.
    ``lookup``: type a page number to read its owner and permission.
    """

    def __init__(self, kernel=None, extent: str = "pages in use", colour_by: str = "owner"):
        if extent not in EXTENT:
            raise ValueError(f"unknown extent {extent!r}; choose from {list(EXTENT)}")
        if colour_by not in COLOUR_BY:
            raise ValueError(f"unknown colouring {colour_by!r}; choose from {list(COLOUR_BY)}")
        self.colour_by = W.ToggleButtons(options=COLOUR_BY, value=colour_by,
                                         description="colour by", style={"button_width": "130px"})
        self.extent = W.ToggleButtons(options=EXTENT, value=extent, description="show",
                                      style={"button_width": "110px"})
        self.table = W.Dropdown(options=["kernel"], value="kernel", description="page table",
                                layout=W.Layout(width="260px", max_width="100%"))
        self.lookup = W.BoundedIntText(value=0, min=0, max=0, description="page",
                                       layout=W.Layout(width="170px"))
        self.image = W.Image(format="png", layout=W.Layout(max_width="100%", height="auto"))
        self.image.add_class("nookslab-memmap-image")
        self.legend = W.HTML(layout=W.Layout(max_width="100%"))
        self.legend.add_class("nookslab-text")
        self.info = W.HTML(layout=W.Layout(max_width="100%"))
        self.info.add_class("nookslab-text")
        self.page_line = W.HTML()
        self.page_line.add_class("nookslab-text")
        self.kernel = None
        self.picture: MemoryPicture | None = None
        self.colour_by.observe(self._rerender, names="value")
        self.extent.observe(self._rerender, names="value")
        self.table.observe(self._rerender, names="value")
        self.lookup.observe(self._look, names="value")
        wrap = dict(flex_flow="row wrap", align_items="flex-start", max_width="100%")
        controls = W.HBox([self.colour_by, self.extent, self.table], layout=W.Layout(**wrap))
        super().__init__([stylesheet(), controls, self.info,
                          W.HBox([self.image, self.legend], layout=W.Layout(**wrap)),
                          W.HBox([self.lookup, self.page_line], layout=W.Layout(**wrap))],
                         layout=W.Layout(max_width="100%"))
        self.add_class("nookslab-memmap")
        self.show(kernel)

    @property
    def highlighted(self) -> int | None:
        return None if self.picture is None else self.picture.marked

    def show(self, kernel) -> None:
        """Draw ``kernel``'s memory. The page table follows the domain a fault happened in, else
        the driver's domain (the first protection domain), else the kernel's."""
        self.kernel = kernel
        if kernel is None:
            self.picture = None
            self.image.value = b""
            self.legend.value = self.page_line.value = ""
            self.info.value = "<i>no kernel to show yet: run a trial</i>"
            return
        tables = list(page_tables(kernel))
        domains = [t for t in tables if t != "kernel"]
        site = (fault_sites(kernel) or [None])[-1]
        if site is not None and f"domain {site.domain}" in tables:
            choice = f"domain {site.domain}"
        elif self.table.value in domains:
            choice = self.table.value
        else:
            choice = domains[0] if domains else "kernel"
        self.table.unobserve(self._rerender, names="value")
        self.table.options = tables
        self.table.value = choice
        self.table.observe(self._rerender, names="value")
        pages = len(kernel.machine.pages.owner)
        self.lookup.max = pages - 1
        self.render()

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
        ram_pages = len(picture.colours)
        notes = []
        for site in fault_sites(kernel)[-1:]:
            where = (f"{MARK_SWATCH} <b>{_what(site.access)}</b> at {site.addr:#010x} "
                     f"{_by(site)}: ")
            if site.page < ram_pages:
                picture.marked = site.page
                notes.append(where + html.escape(page_info(kernel, site.page, self.table.value)))
            else:
                notes.append(where + f"outside RAM ({ram_pages} pages), not drawn")
        owner = kernel.machine.pages.owner
        if self.extent.value == "pages in use":
            picture = crop(picture, in_use(picture, owner))
        self.picture = picture
        img = picture_pixels(picture)
        self.image.value = png_bytes(img)
        self.image.width = str(img.shape[1])
        self.image.height = str(img.shape[0])
        cols, _, _ = grid_shape(len(picture.colours))
        shown = (f"pages {picture.first}&ndash;{picture.last} of {ram_pages} "
                 f"({ram_pages * 4 // 1024} MiB of 4 KiB pages); the rest is free"
                 if len(picture.colours) < ram_pages else
                 f"all {ram_pages} pages ({ram_pages * 4 // 1024} MiB of 4 KiB pages)")
        self.info.value = (f"{kernel.mode} kernel: {shown}; each row is {cols} pages, page 0 "
                           f"top left<br>" + "<br>".join(notes))
        rows = "".join(
            f"<tr><td>{_swatch(colour)}</td><td>{html.escape(label)}"
            + (f" <span style='color:#777'>({html.escape(OWNER_NOTES[label])})</span>"
               if OWNER_NOTES.get(label) else "")
            + f"</td><td style='text-align:right'>{picture.counts[label]}</td></tr>"
            for label, colour in picture.legend.items())
        if picture.marked is not None:
            rows += (f"<tr><td>{MARK_SWATCH}</td><td>faulting access / corruption found "
                     f"(page {picture.marked})</td><td></td></tr>")
        self.legend.value = (f"<b>{html.escape(picture.title)}</b><table>"
                             f"<tr><th></th><th></th><th>pages</th></tr>{rows}</table>")
        if picture.marked is not None:
            self.lookup.unobserve(self._look, names="value")
            self.lookup.value = picture.marked
            self.lookup.observe(self._look, names="value")
        self._look()

    def _look(self, _change=None) -> None:
        if self.kernel is None:
            return
        self.page_line.value = html.escape(page_info(self.kernel, int(self.lookup.value),
                                                     self.table.value))
