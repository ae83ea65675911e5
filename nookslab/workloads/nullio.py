"""``null-io``: the example workload for the null device (not one of the paper's).

Writes blocks of seeded random bytes to ``/dev/null0`` and reads back the CRC-32 the device
computed by DMA; every answer is checked against ``zlib.crc32`` of the block sent.
"""
from __future__ import annotations

import zlib

from .base import Measurement, WorkloadFailed


def null_io(kernel, proc, extension, duration, rng, block=1024, think_us=50):
    cd = kernel.subsystems["chrdev"]
    deadline = kernel.clock.now + duration
    fd = kernel.syscall(proc, cd.sys_open, "/dev/null0")
    if fd < 0:
        raise WorkloadFailed(f"open /dev/null0 failed: {fd}")
    m = Measurement()
    think = kernel.clock.cycles(think_us * 1e-6)
    while kernel.clock.now < deadline:
        payload = rng.integers(0, 256, size=block, dtype="uint8").tobytes()
        t0 = kernel.clock.now
        n = kernel.syscall(proc, cd.sys_write, fd, payload)
        if n != block:
            raise WorkloadFailed(f"write returned {n}, expected {block}")
        answer = kernel.syscall(proc, cd.sys_read, fd, 4)
        if isinstance(answer, int) or int.from_bytes(answer, "little") != zlib.crc32(payload):
            raise WorkloadFailed(f"device answered {answer!r}, expected crc32 "
                                 f"{zlib.crc32(payload):#010x}")
        m.latencies.append(kernel.clock.now - t0)
        m.operations += 1
        m.nbytes += block
        kernel.run_until(kernel.clock.now + think)
    kernel.syscall(proc, cd.sys_close, fd)
    return m
