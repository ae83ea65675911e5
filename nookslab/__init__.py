"""nookslab: a teaching lab on Nooks (Swift, Bershad, Levy, SOSP 2003).

A simulated machine and a small Linux-like kernel run device drivers; the Nooks layer isolates
them in lightweight kernel protection domains. The public API (DESIGN.md section 5)::

    import nookslab as nl
    k = nl.boot(mode="native", seed=7)
    k.load("null")
    r = k.run("null-io", seconds=0.01)

A driver of one's own, built outside the package (docs/architecture.md, "Out-of-tree drivers")::

    mine = nl.Extension.from_file("mydriver.py", device="null", workloads=["null-io"])
    k = nl.boot(mode="nooks", seed=7, extensions=[mine])
    k.load("mydriver")
"""
from __future__ import annotations

from .drivers import EXTENSIONS
from .extension import Extension
from .kernel import Kernel, Verdict
from .system import available_modes, boot
from .workloads import WORKLOADS, WorkloadResult

__version__ = "0.1.0"

#: The configurations a kernel can boot in.
MODES: tuple[str, ...] = available_modes()

__all__ = ["EXTENSIONS", "Extension", "Kernel", "MODES", "Verdict", "WORKLOADS",
           "WorkloadResult", "boot", "__version__"]
