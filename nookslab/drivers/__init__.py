"""The extensions: each driver's registry entry (source module, device, workloads).

The paper isolated eight extensions (SOSP'03 Table 3). ``EXTENSIONS`` lists those built so far;
``REGISTRY`` also holds the foundation's example ``null`` driver, loadable but not one of the eight.
It is the in-tree catalog, read (never changed) when :func:`nookslab.boot` gives a kernel its
own; a driver built outside the tree comes in as a :class:`nookslab.Extension` at boot.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class DriverSpec:
    """One loadable extension.

    ``source``: the Python module holding the driver's code (compiled by the module loader),
    or, for a driver built outside the tree, where its code came from.
    ``device``: a factory ``(kernel, **options) -> device`` for its hardware, or None.
    ``context``: where its code mostly runs, ``"interrupt"`` or ``"process"`` (SOSP'03 5.2).
    ``code``: the driver's source text, carried by value (out-of-tree drivers); None: read it
    from ``source``.
    """

    name: str
    source: str
    description: str
    device_name: str | None
    device: Callable | None
    context: str
    paper: bool = True
    code: str | None = field(default=None, repr=False)

    @property
    def text(self) -> str:
        """The driver's source text."""
        from ..kernel.module import source_of
        return source_of(self)


def _null_device(kernel, **options):
    from ..machine.devices.nulldev import NullDevice
    return NullDevice(**options)


from ..machine.devices import sound as _sound  # noqa: E402 - the sound cards
from ..machine.devices import nic as _nic  # noqa: E402 - the network cards

REGISTRY: dict[str, DriverSpec] = {
    "null": DriverSpec("null", "nookslab.drivers.null", "example null device (not in the paper)",
                       "nulldev", _null_device, "process", paper=False),
    "vfat": DriverSpec("vfat", "nookslab.drivers.vfat", "VFAT: FAT16 file system with long names "
                       "(on the kernel's IDE disk)", None, None, "process"),
    "sb": DriverSpec("sb", "nookslab.drivers.sb", "SoundBlaster 16 sound card (ISA DMA)", "sb16",
                     _sound.sb16_device, "process"),
    "es1371": DriverSpec("es1371", "nookslab.drivers.es1371", "Ensoniq ES1371 sound card (PCI)",
                         "es1371", _sound.es1371_device, "process"),
    "e1000": DriverSpec("e1000", "nookslab.drivers.e1000", "Intel PRO/1000 gigabit Ethernet",
                        "e1000", _nic.e1000_device, "interrupt"),
    "pcnet32": DriverSpec("pcnet32", "nookslab.drivers.pcnet32", "AMD PCnet-PCI II 10/100 "
                          "Ethernet", "pcnet32", _nic.pcnet32_device, "interrupt"),
    "3c59x": DriverSpec("3c59x", "nookslab.drivers.c3c59x", "3Com 3c59x Vortex 10/100 "
                        "Ethernet (FIFOs, windows)", "3c59x", _nic.vortex_device, "interrupt"),
    "3c90x": DriverSpec("3c90x", "nookslab.drivers.c3c90x", "3Com 3c90x Boomerang/Cyclone "
                        "10/100 Ethernet (DMA lists)", "3c90x", _nic.boomerang_device,
                        "interrupt"),
    # SOSP'03 5.2: "kHTTPd is process-oriented but corrupts interrupt-level data"
    "khttpd": DriverSpec("khttpd", "nookslab.drivers.khttpd", "kHTTPd: in-kernel web server "
                         "(kernel sockets, files from the VFS)", None, None, "process"),
}

#: The paper's Table 3 order.
PAPER_ORDER = ("sb", "es1371", "e1000", "pcnet32", "3c59x", "3c90x", "vfat", "khttpd")

EXTENSIONS: tuple[str, ...] = tuple(n for n in PAPER_ORDER if n in REGISTRY)
