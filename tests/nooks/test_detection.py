"""Each detection path of SOSP'03 section 4.5, on the test-only ``wild`` driver."""
import numpy as np

from nookslab.kernel.errno import EIO
from nookslab.machine.memory import PAGE_SHIFT

from .conftest import ioctl
from .drivers.wild import (CMD_BAD_KFREE, CMD_DOUBLE_FREE, CMD_NULL_OBJECT, CMD_OK, CMD_PAST_END,
                           CMD_RAISE, CMD_SPIN, CMD_SPIN_CLI, CMD_STORE, WILD_IRQ, WILD_MAJOR)


def test_a_healthy_driver_counts_its_calls_through_xpc(wild):
    before = wild.isolation.xpc_count
    assert ioctl(wild, CMD_OK) == 1
    assert ioctl(wild, CMD_OK) == 2
    assert wild.isolation.xpc_count > before
    assert not wild.recoveries


def test_a_wild_store_into_a_kernel_object_faults_is_recovered_and_the_workload_resumes(wild):
    target = wild.timers.head                      # the kernel's timer list head
    cd = wild.subsystems["chrdev"]
    proc = wild.spawn("tester")
    fd = wild.syscall(proc, cd.sys_open, "/dev/wild0")
    snapshot = bytes(wild.machine.memory.data)
    seen = {}

    def at_detection(domain, trigger, cause):
        ram = wild.machine.memory.pages
        mask = ~domain.writable[:ram]
        seen["outside"] = wild.machine.memory.checksum(mask)
        pages = np.frombuffer(snapshot, dtype=np.uint8).reshape(ram, -1)
        import zlib
        seen["before"] = zlib.crc32(pages[mask].tobytes())
        seen["trigger"] = trigger

    wild.isolation.recovery.observers.append(at_detection)
    old = wild.modules["wild"].domain
    assert wild.syscall(proc, cd.sys_ioctl, fd, CMD_STORE, target) == -EIO
    assert seen["trigger"] == "fault"
    assert seen["outside"] == seen["before"], "kernel memory outside the domain changed"
    assert wild.verdict is None
    rec = wild.recoveries[-1]
    assert (rec.extension, rec.trigger, rec.ok) == ("wild", "fault", True)
    assert [s.name for s in rec.steps] == [
        "disable interrupts", "agent policy", "unwind", "release objects", "unload",
        "reload", "init", "release physical"]
    assert "paging request" in rec.cause
    assert wild.modules["wild"].domain is not old
    assert wild.run("wild-io", seconds=0.01).ok


def test_after_a_recovery_nothing_of_the_old_domain_is_left(wild):
    old = wild.modules["wild"].domain
    ioctl(wild, CMD_STORE, wild.timers.head)
    assert len(old.tracker) == 0
    assert old.destroyed and not old.heap.live
    assert len(wild.machine.pages.pages_of(old.owner)) == 0
    assert wild.heap.leaks("wild") == []
    # the IRQ handler, the chrdev and the DMA buffer were released exactly once, then re-made
    frees = [e for e in wild.events if e.kind == "irq" and e.detail == f"free_irq {WILD_IRQ}"]
    assert len(frees) == 1
    assert not [e for e in wild.events if e.kind == "warning"]
    assert len(wild.irqs.actions[WILD_IRQ]) == 1
    assert WILD_MAJOR in wild.subsystems["chrdev"].devices
    dma = [a for a, (_, owner, _) in wild.subsystems["pci"].dma.items() if owner == "wild"]
    assert len(dma) == 1
    assert WILD_IRQ not in wild.irqs.disabled


def test_a_python_error_in_the_domain_is_a_processor_exception_and_recovers(wild):
    assert ioctl(wild, CMD_RAISE) == -EIO
    assert wild.recoveries[-1].trigger == "fault"
    assert "divide error" in wild.recoveries[-1].cause


def test_a_bad_pointer_passed_to_kfree_is_refused_by_the_wrapper(wild):
    live = dict(wild.modules["wild"].domain.heap.live)
    assert ioctl(wild, CMD_BAD_KFREE, wild.timers.head) == -EIO
    assert wild.verdict is None
    rec = wild.recoveries[-1]
    assert rec.trigger == "check" and "unknown kmalloc pointer" in rec.cause
    assert live                                           # the kernel heap was not touched
    assert wild.heap.owns(wild.timers.head)


def test_a_double_free_is_refused_by_the_wrapper(wild):
    ioctl(wild, CMD_DOUBLE_FREE)
    assert wild.recoveries[-1].trigger == "check"
    assert "kfree" in wild.recoveries[-1].cause


def test_a_length_past_the_end_of_a_dma_buffer_is_refused(wild):
    ioctl(wild, CMD_PAST_END, 0)
    assert "runs past the end of its dma buffer" in wild.recoveries[-1].cause


def test_a_null_kernel_object_is_refused_by_the_wrapper(wild):
    ioctl(wild, CMD_NULL_OBJECT)
    assert "NULL timer_list" in wild.recoveries[-1].cause


def test_the_error_policy_returns_an_error_to_the_driver_instead_of_recovering(wild):
    wild.isolation.recovery.agent.software_faults = "error"
    assert ioctl(wild, CMD_BAD_KFREE, wild.timers.head) == 0     # the driver ignores kfree
    assert not wild.recoveries
    assert wild.isolation.recovery.check_failures == 1
    assert ioctl(wild, CMD_OK) == 1


def test_a_spin_with_interrupts_on_ends_in_a_timeout_recovery(wild):
    assert ioctl(wild, CMD_SPIN) == -EIO
    rec = wild.recoveries[-1]
    assert rec.trigger == "timeout" and rec.ok
    assert "interrupts on" in rec.cause
    assert wild.cpu.irq_enabled
    assert wild.run("wild-io", seconds=0.01).ok


def test_a_spin_with_interrupts_off_is_still_a_system_hang(wild):
    import pytest
    from nookslab.kernel.panic import KernelPanic
    with pytest.raises(KernelPanic):
        ioctl(wild, CMD_SPIN_CLI)
    assert wild.verdict.kind == "hang"
    assert not wild.recoveries


def test_explicit_recovery_of_a_healthy_driver_restarts_it(wild):
    assert ioctl(wild, CMD_OK) == 1
    rec = wild.recover("wild")
    assert rec.ok and rec.trigger == "explicit" and rec.policy == "restart"
    assert wild.modules["wild"].generation == 2
    assert ioctl(wild, CMD_OK) == 1                      # a fresh driver: state is lost


def test_the_disable_policy_leaves_the_extension_unloaded(wild):
    wild.isolation.recovery.agent.policy = "disable"
    ioctl(wild, CMD_STORE, wild.timers.head)
    assert wild.modules["wild"].state == "disabled"
    assert WILD_MAJOR not in wild.subsystems["chrdev"].devices
    assert not wild.run("wild-io", seconds=0.01).ok
    assert wild.held_by("wild") == []


def test_too_many_restarts_in_an_interval_disable_the_extension(wild):
    wild.isolation.recovery.agent.max_restarts = 2
    for _ in range(3):
        ioctl(wild, CMD_STORE, wild.timers.head)
    assert [r.policy for r in wild.recoveries] == ["restart", "restart", "disable"]
    assert wild.modules["wild"].state == "disabled"


def test_a_shadow_hook_is_called_instead_of_a_restart(wild):
    calls = []

    def shadow(manager, domain, record):
        calls.append(record.extension)
        return True

    wild.isolation.recovery.agent.policy = shadow
    ioctl(wild, CMD_STORE, wild.timers.head)
    assert calls == ["wild"] and wild.recoveries[-1].ok


def test_native_kernels_refuse_explicit_recovery(wild_registry):
    import pytest
    import nookslab
    k = nookslab.boot(mode="native", seed=1)
    with pytest.raises(ValueError):
        k.recover("wild")
