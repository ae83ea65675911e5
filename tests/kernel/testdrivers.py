"""Registering test-only drivers and workloads without touching the package's registries.

``nookslab.boot`` gives each kernel a copy of ``nookslab.drivers.REGISTRY`` (and of the workloads)
when it boots, so a test swaps in a *copy* of the registry (``monkeypatch``) that also holds drivers
from ``tests/kernel/baddrivers``, before it boots. Nothing in the package changes, and the copy is
dropped when the test ends. (The public way for a driver of one's own is ``nookslab.Extension``,
see tests/rogue; these older fixtures keep the patch.)
"""
from __future__ import annotations

import nookslab.drivers
import nookslab.workloads
from nookslab.drivers import DriverSpec
from nookslab.workloads import Measurement, WorkloadSpec

from .baddrivers.belldev import BellDevice

BAD_DRIVERS = ("bell", "hostbomb", "hoard", "init_raises", "toplevel_raises", "init_hangs",
               "init_fails", "cleanup_raises", "unresolved", "no_init")


def _bell_device(kernel, **options):
    return BellDevice()


def spec_for(name: str) -> DriverSpec:
    has_device = name == "bell"
    return DriverSpec(name, f"tests.kernel.baddrivers.{name}", f"test-only driver {name}",
                      "belldev" if has_device else None, _bell_device if has_device else None,
                      "process", paper=False)


def bell_io(kernel, proc, extension, duration, rng, entry="counters", args=(), calls=1):
    """Call one bell entry point ``calls`` times, then let the rest of ``duration`` pass."""
    fn = kernel.modules[extension].function(entry)
    deadline = kernel.clock.now + duration
    m = Measurement()
    for _ in range(calls):
        kernel.syscall(proc, fn, *args)
        m.operations += 1
    kernel.run_until(deadline)
    return m


def install(monkeypatch) -> None:
    """Make every test-only driver loadable, and add the ``bell-io`` workload, for one test."""
    registry = dict(nookslab.drivers.REGISTRY)
    for name in BAD_DRIVERS:
        registry[name] = spec_for(name)
    monkeypatch.setattr(nookslab.drivers, "REGISTRY", registry)
    specs = dict(nookslab.workloads.WORKLOAD_SPECS)
    specs["bell-io"] = WorkloadSpec("bell-io", ("bell", "hoard"), bell_io, "call a bell entry point",
                                    "throughput", "ops/s")
    monkeypatch.setattr(nookslab.workloads, "WORKLOAD_SPECS", specs)
