"""Rogue drivers of our own, loaded as out-of-tree extensions (:class:`nookslab.Extension`).

Each file here is a small driver written against ``nookslab.kernel.api`` with one bug a real
driver has had; :func:`rogue` makes it an Extension with the ``rogue-io`` workload (or any other).
Nothing in the package knows these drivers: tests boot with ``extensions=[rogue("leaky")]``.
"""
from __future__ import annotations

from pathlib import Path

import nookslab as nl
from nookslab.workloads import Measurement, WorkloadFailed, WorkloadSpec

HERE = Path(__file__).parent
CMD_WORK = 1            # every rogue driver: count one unit of work, return the count


def rogue_io(kernel, proc, extension, duration, rng, calls=5, cmd=CMD_WORK):
    """Open /dev/rogue0 and make ``calls`` ioctls ``cmd``, 1 ms apart; each must count up."""
    cd = kernel.subsystems["chrdev"]
    fd = kernel.syscall(proc, cd.sys_open, "/dev/rogue0")
    if fd < 0:
        raise WorkloadFailed(f"open /dev/rogue0 failed: {fd}")
    m = Measurement()
    last = None
    for _ in range(calls):
        n = kernel.syscall(proc, cd.sys_ioctl, fd, cmd, 0)
        if n <= 0 or (last is not None and n != last + 1):
            raise WorkloadFailed(f"ioctl returned {n} after {last}")
        last = n
        m.operations += 1
        kernel.run_until(kernel.clock.now + kernel.clock.cycles(0.001))
    kernel.run_until(kernel.clock.now + duration)
    kernel.syscall(proc, cd.sys_close, fd)
    return m


ROGUE_IO = WorkloadSpec("rogue-io", (), rogue_io, "ioctls on /dev/rogue0, each counted",
                        "throughput", "ops/s")


def rogue(name: str, **options) -> nl.Extension:
    """The rogue driver ``tests/rogue/NAME.py`` as an out-of-tree extension (null device)."""
    options.setdefault("device", "null")
    options.setdefault("workloads", [ROGUE_IO])
    return nl.Extension.from_file(HERE / f"{name}.py", **options)


def ioctl(k, cmd, arg=0):
    """One ioctl on /dev/rogue0 from a process that then exits; its result (None if killed)."""
    cd = k.subsystems["chrdev"]
    proc = k.spawn("tester")
    try:
        fd = k.syscall(proc, cd.sys_open, "/dev/rogue0")
        assert fd >= 0, fd
        return k.syscall(proc, cd.sys_ioctl, fd, cmd, arg)
    except BaseException as exc:                # ProcessKilled, KernelPanic: the verdict tells
        if type(exc).__name__ not in ("ProcessKilled", "KernelPanic"):
            raise
        return None
    finally:
        k.exit_process(proc)
