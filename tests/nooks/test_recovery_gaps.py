"""Recovery gaps closed (issue 16), each shown with a rogue driver of our own (tests/rogue),
natively and under Nooks: a free of a block the kernel still reaches, the I/O-mapping record
across a recovery, kernel threads, and a driver that fails again and again."""
import pytest

import nookslab as nl

from ..rogue import CMD_WORK, ioctl, rogue

CMD_FREE, CMD_FAULT = 2, 3


def test_natively_freeing_a_block_with_a_pending_timer_panics_in_the_timer_interrupt():
    # Linux frees it; the next timer interrupt walks its list into the poison
    k = nl.boot("native", seed=1, extensions=[rogue("timer_free")])
    assert k.load("timer_free").ok
    assert ioctl(k, CMD_FREE) == 1
    k.idle(0.2)
    assert k.verdict.kind == "panic"
    assert "timer_list" in k.verdict.cause and "bad magic" in k.verdict.cause
    assert "irq 0" in k.verdict.cause                         # in the timer interrupt


def test_under_nooks_the_kfree_wrapper_refuses_a_block_with_a_pending_timer_and_recovers():
    k = nl.boot("nooks", seed=1, extensions=[rogue("timer_free")])
    assert k.load("timer_free").ok
    assert ioctl(k, CMD_FREE) < 0                             # refused: -EIO to the caller
    k.idle(0.2)
    assert k.verdict is None
    (rec,) = k.recoveries
    assert rec.trigger == "check" and rec.ok
    assert "still reached by the kernel (pending timer at" in rec.cause
    assert any(r.startswith("timer_list") and "via del_timer" in r for r in rec.released)
    timers = k.timers.held_by("timer_free")
    assert len(timers) == 1                                   # the reloaded driver's own
    k.check_integrity()                                       # the timer list walks clean
    assert k.verdict is None and k.run("rogue-io", seconds=0.01).ok


def test_under_nooks_freeing_the_block_an_irq_is_registered_with_is_refused():
    native = nl.boot("native", seed=1, extensions=[rogue("irq_free")])
    assert native.load("irq_free").ok
    ioctl(native, CMD_FREE)
    native.idle(0.01)
    # natively the interrupt hands the freed pointer to the handler, which reads the poison
    assert native.verdict.kind == "panic" and "0x6b6b6b6f" in native.verdict.cause
    k = nl.boot("nooks", seed=1, extensions=[rogue("irq_free")])
    assert k.load("irq_free").ok
    assert ioctl(k, CMD_FREE) < 0
    k.idle(0.01)
    (rec,) = k.recoveries
    assert k.verdict is None and rec.ok
    assert "request_irq registered with" in rec.cause
    assert k.run("rogue-io", seconds=0.001).ok


def test_the_io_mapping_record_survives_a_recovery():
    k = nl.boot("nooks", seed=2)
    assert k.load("null").ok
    pci = k.subsystems["pci"]
    (regs,) = pci.iomaps
    rec = k.recover("null")
    assert rec.ok and any(r.startswith("iomem") for r in rec.kept)
    # the old instance's mapping was undone after the reload, the new one's is still recorded
    assert f"ioremap {regs:#010x}" in k.held_by("null")
    assert k.run("null-io", seconds=0.001).ok
    assert k.unload("null").leaks == [] and pci.iomaps == {}


def test_two_mappings_of_one_window_are_two_records_each_undone_once():
    k = nl.boot("native", seed=2)
    k.load("null")
    pci = k.subsystems["pci"]
    (regs,) = pci.iomaps
    assert pci.ioremap(regs, 0x100, owner="other") == regs
    pci.iounmap(regs)                                         # the oldest: null's
    assert not any(h.startswith("ioremap") for h in k.held_by("null"))
    assert k.held_by("other") == [f"ioremap {regs:#010x}"]


def test_recovery_stops_the_kernel_thread_of_the_failed_driver():
    k = nl.boot("nooks", seed=1, extensions=[rogue("kthread_fault")])
    assert k.load("kthread_fault").ok
    threads = k.subsystems["ksocket"].threads
    (old,) = threads.values()
    assert ioctl(k, CMD_FAULT) < 0
    k.idle(0.01)
    (rec,) = k.recoveries
    assert rec.ok and "kernel_thread" in " ".join(rec.released)
    (new,) = threads.values()                                 # only the reloaded driver's
    assert new is not old and old.exited == "stopped" and old.proc.exited
    assert [p.name for p in k.processes] == ["[rogued]"]
    assert k.held_by("kthread_fault").count("kernel thread rogued") == 1


def test_natively_the_fault_kills_only_the_caller_and_the_thread_runs_on():
    k = nl.boot("native", seed=1, extensions=[rogue("kthread_fault")])
    assert k.load("kthread_fault").ok
    threads = k.subsystems["ksocket"].threads
    (old,) = threads.values()
    assert ioctl(k, CMD_FAULT) is None                        # killed by the oops
    k.idle(0.01)
    assert k.verdict is None and list(threads.values()) == [old] and old.exited is None


def test_recovering_khttpd_leaves_one_daemon_thread():
    k = nl.boot("nooks", seed=2)
    assert k.load("khttpd").ok
    threads = k.subsystems["ksocket"].threads
    (old,) = threads.values()
    assert k.recover("khttpd").ok
    assert [t.name for t in threads.values()] == ["khttpd"] and old.tid not in threads
    assert k.held_by("khttpd").count("kernel thread khttpd") == 1


def test_a_driver_that_fails_every_two_seconds_is_recovered_to_the_limit_then_disabled():
    # 80 restarts: beyond the 62 after which the insmod processes nobody freed ran memory out
    k = nl.boot("nooks", seed=1, extensions=[rogue("flaky")])
    agent = k.isolation.recovery.agent
    agent.max_restarts, agent.interval = 80, 1000.0
    seen = []
    k.isolation.recovery.observers.append(
        lambda domain, trigger, cause: seen.append((k.machine.pages.free_pages, len(k.heap.live),
                                                    len(k.processes))))
    assert k.load("flaky").ok
    k.idle(170)
    assert k.verdict is None
    assert len(k.recoveries) == 81 and all(r.ok for r in k.recoveries)
    assert [r.policy for r in k.recoveries] == ["restart"] * 80 + ["disable"]
    assert k.modules["flaky"].state == "disabled" and k.held_by("flaky") == []
    # every failure finds kernel memory as the one before it did: nothing leaks per recovery
    assert len(seen) == 81 and len(set(seen)) == 1
    assert k.recoveries[40].started - k.recoveries[39].started == 2 * k.clock.hz


def test_natively_the_flaky_driver_panics_at_its_first_failure():
    k = nl.boot("native", seed=1, extensions=[rogue("flaky")])
    assert k.load("flaky").ok
    k.idle(3)
    assert k.verdict.kind == "panic" and "NULL pointer" in k.verdict.cause


@pytest.mark.parametrize("mode", ["native", "nooks"])
def test_a_leaking_driver_leaks_natively_and_gives_everything_back_with_its_domain(mode):
    k = nl.boot(mode, seed=1, extensions=[rogue("leaky")])
    assert k.load("leaky").ok
    domain = k.isolation.domains["leaky"] if k.isolation else None
    assert k.run("rogue-io", seconds=0.001, calls=20).ok
    gone = k.unload("leaky")
    assert len([x for x in gone.leaks if x.startswith("kmalloc 1024 bytes")]) == 20
    in_kernel_heap = [a for a, (_, owner) in k.heap.live.items() if owner == "leaky"]
    if mode == "native":
        assert len(in_kernel_heap) == 20                      # the kernel heap keeps them
    else:
        assert in_kernel_heap == [] and domain.destroyed      # they went with the domain
        assert len(k.machine.pages.pages_of(domain.owner)) == 0
