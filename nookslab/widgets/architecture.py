"""The paper's figure 2, drawn from a live kernel: the kernel in the middle, each lightweight
protection domain around it with the extensions it holds, and the crossings (XPCs) between them.

:func:`architecture` reads the picture's data from the kernel (never typed in): one
:class:`DomainBox` per live domain, with its extensions, the pages it may write, the objects its
tracker holds and the crossings counted so far. :func:`figure2` draws it with matplotlib;
nbval does not compare pictures, so a notebook prints :func:`architecture` beside it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class DomainBox:
    """One protection domain of the picture."""

    name: str
    extensions: tuple[str, ...]
    writable_pages: int
    tracked_objects: int

    def __str__(self) -> str:
        return (f"domain {self.name}: {', '.join(self.extensions)} | "
                f"{self.writable_pages} writable pages, {self.tracked_objects} tracked objects")


@dataclass(frozen=True)
class Architecture:
    """Figure 2's data: the kernel's mode, its domains (sorted by name), the crossings so far."""

    mode: str
    domains: tuple[DomainBox, ...]
    kernel_extensions: tuple[str, ...]      # extensions running in the kernel's own domain
    xpcs: int

    def __str__(self) -> str:
        lines = [f"kernel ({self.mode}); XPCs so far: {self.xpcs}"]
        if self.kernel_extensions:
            lines.append("in the kernel's own domain: " + ", ".join(self.kernel_extensions))
        lines += [f"  {d}" for d in self.domains]
        return "\n".join(lines)


def architecture(kernel) -> Architecture:
    """The data behind figure 2 for ``kernel`` (native: every extension inside the kernel)."""
    iso = kernel.isolation
    if iso is None:
        return Architecture(kernel.mode, (), tuple(sorted(kernel.modules)), 0)
    boxes = tuple(DomainBox(d.name, tuple(d.modules), int(d.writable.sum()), len(d.tracker))
                  for _, d in sorted(iso.domains.items()) if not d.destroyed)
    inside = {m for b in boxes for m in b.extensions}
    rest = tuple(sorted(m for m in kernel.modules if m not in inside))
    return Architecture(kernel.mode, boxes, rest, iso.xpc.count)


def figure2(kernel, ax=None):
    """Draw figure 2 for ``kernel``; returns the matplotlib Axes (end the cell with plt.show())."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    data = architecture(kernel)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 5))
    ax.set_xlim(-1.6, 1.6)
    ax.set_ylim(-1.3, 1.3)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.add_patch(FancyBboxPatch((-0.45, -0.25), 0.9, 0.5, boxstyle="round,pad=0.03",
                                fc="#dde6f0", ec="#1f3b5a", lw=1.5))
    label = "Linux kernel\n(kernel page table)"
    if data.kernel_extensions:
        label += "\n" + ", ".join(data.kernel_extensions)
    ax.text(0, 0, label, ha="center", va="center", fontsize=9)
    n = max(len(data.domains), 1)
    for i, box in enumerate(data.domains):
        angle = math.pi / 2 - 2 * math.pi * i / n
        x, y = 1.05 * math.cos(angle), 0.9 * math.sin(angle)
        ax.add_patch(FancyBboxPatch((x - 0.42, y - 0.2), 0.84, 0.4, boxstyle="round,pad=0.03",
                                    fc="#fbe9d0", ec="#8a4b08", lw=1.2))
        ax.text(x, y, f"domain {box.name}\n" + "\n".join(box.extensions),
                ha="center", va="center", fontsize=8)
        ax.add_patch(FancyArrowPatch((x * 0.36, y * 0.36), (x * 0.72, y * 0.72),
                                     arrowstyle="<->", mutation_scale=12, color="#444"))
        ax.text(x * 0.54 + 0.05, y * 0.54, "XPC", fontsize=7, color="#444")
    ax.set_title(f"Figure 2 from this kernel: {len(data.domains)} protection domain(s), "
                 f"{data.xpcs} XPCs", fontsize=10)
    return ax


__all__ = ["Architecture", "DomainBox", "architecture", "figure2"]
