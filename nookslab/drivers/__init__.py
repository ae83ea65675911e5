"""The extensions: each driver's registry entry (source module, device, workloads).

The paper isolated eight extensions (SOSP'03 Table 3). ``EXTENSIONS`` lists those built so far;
``REGISTRY`` also holds the foundation's example ``null`` driver, loadable but not one of the eight.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class DriverSpec:
    """One loadable extension.

    ``source``: the Python module holding the driver's code (compiled by the module loader).
    ``device``: a factory ``(kernel, **options) -> device`` for its hardware, or None.
    ``context``: where its code mostly runs, ``"interrupt"`` or ``"process"`` (SOSP'03 5.2).
    """

    name: str
    source: str
    description: str
    device_name: str | None
    device: Callable | None
    context: str
    paper: bool = True


def _null_device(kernel, **options):
    from ..machine.devices.nulldev import NullDevice
    return NullDevice(**options)


REGISTRY: dict[str, DriverSpec] = {
    "null": DriverSpec("null", "nookslab.drivers.null", "example null device (not in the paper)",
                       "nulldev", _null_device, "process", paper=False),
}

#: The paper's Table 3 order.
PAPER_ORDER = ("sb", "es1371", "e1000", "pcnet32", "3c59x", "3c90x", "vfat", "khttpd")

EXTENSIONS: tuple[str, ...] = tuple(n for n in PAPER_ORDER if n in REGISTRY)
