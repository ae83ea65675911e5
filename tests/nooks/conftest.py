"""Fixtures for the Nooks tests: the test-only ``wild`` driver and its workload."""
import pytest

import nookslab
import nookslab.drivers
import nookslab.workloads
from nookslab.drivers import DriverSpec
from nookslab.workloads import Measurement, WorkloadFailed, WorkloadSpec

from .drivers.wild import CMD_OK


def wild_io(kernel, proc, extension, duration, rng, calls=5):
    """Open /dev/wild0 and make ``calls`` good ioctls, 1 ms apart; each must count up."""
    cd = kernel.subsystems["chrdev"]
    fd = kernel.syscall(proc, cd.sys_open, "/dev/wild0")
    if fd < 0:
        raise WorkloadFailed(f"open /dev/wild0 failed: {fd}")
    m = Measurement()
    last = None
    for _ in range(calls):
        n = kernel.syscall(proc, cd.sys_ioctl, fd, CMD_OK, 0)
        if n <= 0 or (last is not None and n != last + 1):
            raise WorkloadFailed(f"ioctl returned {n} after {last}")
        last = n
        m.operations += 1
        kernel.run_until(kernel.clock.now + kernel.clock.cycles(0.001))
    kernel.syscall(proc, cd.sys_close, fd)
    return m


@pytest.fixture
def wild_registry(monkeypatch):
    registry = dict(nookslab.drivers.REGISTRY)
    registry["wild"] = DriverSpec("wild", "tests.nooks.drivers.wild", "test-only wild driver",
                                  None, None, "process", paper=False)
    monkeypatch.setattr(nookslab.drivers, "REGISTRY", registry)
    specs = dict(nookslab.workloads.WORKLOAD_SPECS)
    specs["wild-io"] = WorkloadSpec("wild-io", ("wild",), wild_io, "good ioctls", "throughput",
                                    "ops/s")
    monkeypatch.setattr(nookslab.workloads, "WORKLOAD_SPECS", specs)


@pytest.fixture
def wild(wild_registry):
    """A nooks kernel with the wild driver loaded (small step budget: hangs are found fast)."""
    k = nookslab.boot(mode="nooks", seed=11, step_budget=2_000)
    module = k.load("wild")
    assert module.ok, module.error
    return k


def ioctl(k, cmd, arg=0):
    """One ioctl on /dev/wild0 from a fresh process; returns the result."""
    cd = k.subsystems["chrdev"]
    proc = k.spawn("tester")
    fd = k.syscall(proc, cd.sys_open, "/dev/wild0")
    assert fd >= 0, fd
    try:
        return k.syscall(proc, cd.sys_ioctl, fd, cmd, arg)
    finally:
        if k.verdict is None:
            k.syscall(proc, cd.sys_close, fd)
