"""The system composed from above: a kernel, the isolation layer, the drivers and the programs.

The kernel (:mod:`nookslab.kernel`) imports none of the layers above it. :func:`boot` builds a
:class:`~nookslab.kernel.Kernel` and hands it what a real system has installed: the driver
catalog it loads extensions from (the package's drivers plus any out-of-tree
:class:`~nookslab.Extension`), the user programs its workloads run as, and, in every
configuration but ``native``, the Nooks layer, installed at its boot hook (SOSP'03 Table 2's
"Linux kernel changes") and then reconfigured for the configuration
(:mod:`nookslab.nooks.approaches`).
"""
from __future__ import annotations

from functools import partial

from .errors import choose
from .extension import catalogs
from .kernel import Kernel
from .machine import CostModel
from .machine.machine import DEFAULT_MEMORY, DEFAULT_STEP_BUDGET
from .workloads import Userland

#: native and nooks (SOSP'03), then the other configurations of the "beyond Nooks" notebook:
#: shadow drivers (OSDI'04) and Table 1's other approaches (see nookslab/nooks/approaches.py).
MODES = ("native", "nooks", "nooks+shadow", "user-level", "sfi", "safe-language")


def available_modes() -> tuple[str, ...]:
    """The configurations this installation can boot (all of :data:`MODES`)."""
    return MODES


def boot(mode: str = "native", seed: int = 0, memory: int = DEFAULT_MEMORY,
         cost: CostModel | None = None, step_budget: int = DEFAULT_STEP_BUDGET,
         hooks=None, extensions=()) -> Kernel:
    """Boot a fresh simulated system.

    Parameters
    ----------
    mode: ``"native"`` (drivers run in the kernel's protection domain, as in stock Linux),
        ``"nooks"`` (each driver isolated in its own lightweight protection domain), or one of
        the other configurations: ``"nooks+shadow"``, ``"user-level"``, ``"sfi"``,
        ``"safe-language"`` (see :mod:`nookslab.nooks.approaches`).
    seed: seeds every random choice of this kernel (workload data, device timing).
    memory: bytes of simulated RAM (default 16 MiB).
    cost: the cycle cost model (default: the paper's 1.7 GHz Pentium 4).
    step_budget: steps a kernel entry may take before the watchdog calls it a hang.
    hooks: a :class:`~nookslab.nooks.hooks.NooksHooks` of student parts of Nooks (nooks mode
        only; default: the package's own).
    extensions: out-of-tree drivers (:class:`~nookslab.Extension` values) this system can load
        besides the package's, with their workloads: ``boot(..., extensions=[mine]).load(name)``.
    """
    mode = choose(mode, MODES, "mode")
    if hooks is not None and mode == "native":
        raise ValueError("hooks replace parts of Nooks: boot mode 'nooks', not 'native'")
    if isinstance(extensions, (str, bytes)) or not hasattr(extensions, "__iter__"):
        raise ValueError(f"extensions must be a list of Extension values, got {extensions!r}")
    drivers, workloads = catalogs(extensions)
    isolation = None
    if mode != "native":
        from . import nooks
        isolation = partial(nooks.install, hooks=hooks)
    return Kernel(mode=mode, seed=seed, memory=memory, cost=cost, step_budget=step_budget,
                  drivers=drivers, userland=Userland(workloads), isolation=isolation)


__all__ = ["MODES", "available_modes", "boot"]
