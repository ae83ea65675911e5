"""The null-io workload on the null driver: the foundation's end-to-end example."""
import zlib

import pytest

import nookslab
from nookslab.drivers.null import BUF_SIZE, IOCTL_TICKS, IOCTL_TRANSFERS
from nookslab.kernel.timer import HZ


@pytest.fixture
def k():
    kernel = nookslab.boot(mode="native", seed=4)
    assert kernel.load("null").ok
    return kernel


def test_null_io_reports_figures_that_agree_with_each_other(k):
    r = k.run("null-io", seconds=0.01)
    assert r.ok and r.failure is None
    assert (r.workload, r.extension, r.mode, r.seed, r.unit) == ("null-io", "null", "native", 4,
                                                                "bytes/s")
    assert r.operations > 10 and r.nbytes == 1024 * r.operations
    assert r.throughput == r.nbytes / r.seconds
    assert r.seconds >= 0.01 and r.xpcs == 0 and r.xpc_rate == 0


def test_a_write_takes_at_least_the_devices_dma_time(k):
    r = k.run("null-io", seconds=0.005, block=2048)
    device = k.machine.devices["nulldev"]
    assert r.latency * k.clock.hz > device.latency + 2048
    assert device.transfers == r.operations


def test_cpu_util_is_busy_cycles_over_elapsed_cycles(k):
    now0, busy0 = k.clock.now, k.clock.busy
    r = k.run("null-io", seconds=0.01)
    elapsed, busy = k.clock.now - now0, k.clock.busy - busy0
    assert r.cpu_util == busy / elapsed
    assert r.seconds == elapsed / k.clock.hz
    assert 0 < r.cpu_util < 1, "the CPU idles while the device works"


def test_the_driver_counts_transfers_and_its_heartbeat_timer_ticks(k):
    r = k.run("null-io", seconds=0.05)
    cd = k.subsystems["chrdev"]
    proc = k.spawn("reader")
    fd = k.syscall(proc, cd.sys_open, "/dev/null0")
    assert k.syscall(proc, cd.sys_ioctl, fd, IOCTL_TRANSFERS, 0) == r.operations
    ticks = k.syscall(proc, cd.sys_ioctl, fd, IOCTL_TICKS, 0)
    assert ticks == k.timers.jiffies()      # one heartbeat per jiffy since load at jiffy 0
    assert ticks >= 0.05 * HZ


def test_the_device_computes_the_crc_of_what_was_written(k):
    cd = k.subsystems["chrdev"]
    proc = k.spawn("writer")
    fd = k.syscall(proc, cd.sys_open, "/dev/null0")
    payload = bytes(range(256)) * 3
    assert k.syscall(proc, cd.sys_write, fd, payload) == len(payload)
    answer = k.syscall(proc, cd.sys_read, fd, 4)
    assert int.from_bytes(answer, "little") == zlib.crc32(payload)
    assert k.syscall(proc, cd.sys_close, fd) == 0


@pytest.mark.parametrize("block", [1, 4096, BUF_SIZE])
def test_null_io_works_for_any_block_the_driver_accepts(k, block):
    assert k.run("null-io", seconds=0.002, block=block).ok


def test_a_block_larger_than_the_drivers_buffer_is_an_error_return_not_a_crash(k):
    r = k.run("null-io", seconds=0.002, block=BUF_SIZE + 1)
    assert not r.ok and r.failure == f"write returned -22, expected {BUF_SIZE + 1}"
    assert r.throughput is None and k.verdict is None


def test_when_init_fails_the_driver_unwinds_and_null_io_fails_cleanly():
    k = nookslab.boot(seed=4)
    k.irqs.request_irq(9, lambda irq, dev_id: None, 0, "squatter", 0)   # the null device's line
    module = k.load("null")
    assert module.state == "failed" and module.error == "init_module returned -EBUSY"
    assert k.held_by("null") == [], "init unwound everything it had taken, in reverse"
    r = k.run("null-io", seconds=0.01)
    assert not r.ok and r.failure == "null is not running (init_module returned -EBUSY)"
    assert k.verdict is None
