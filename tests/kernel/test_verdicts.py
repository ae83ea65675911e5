"""Linux 2.4's rules for a driver's crash: oops kills the process, panic or hang ends the system.

The misbehaving driver is tests/kernel/baddrivers/bell.py on a fake "bell" device. Every call goes
through the kernel's own entries: ``kernel.syscall`` (process context), device interrupts and the
timer interrupt delivered while simulated time passes (interrupt context).
"""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nookslab
from nookslab.kernel import KernelPanic, ProcessKilled

from .baddrivers import bell as B
from .baddrivers.belldev import BELL_IRQ


def call(k, entry, *args, proc=None):
    proc = proc or k.spawn(entry)
    return k.syscall(proc, k.modules["bell"].function(entry), *args)


def counters(k):
    return call(k, "counters")


# -- process context: the calling process dies, the system lives ---------------------------
@pytest.mark.parametrize("entry,args,message", [
    ("act", (B.ACT_RAISE,), "divide error (ZeroDivisionError"),
    ("act", (B.ACT_WILD,), "unable to handle kernel NULL pointer dereference at 0x00000000"),
    ("wild_write", (0x7000_0000,), "unable to handle kernel paging request at 0x70000000"),
])
def test_an_oops_in_process_context_kills_only_the_calling_process(bell, entry, args, message):
    k = bell
    victim = k.spawn("victim")
    with pytest.raises(ProcessKilled) as err:
        call(k, entry, *args, proc=victim)
    assert message in err.value.reason
    assert k.verdict is None and k.alive
    assert victim.killed == err.value.reason and not victim.alive
    oops = k.events.of("oops")
    assert len(oops) == 1 and oops[0].detail.startswith("process victim: ")
    with pytest.raises(ProcessKilled):                 # the dead process stays dead
        call(k, "counters", proc=victim)
    assert counters(k) == (0, 0, 0)                     # another process runs fine


def test_after_an_oops_in_process_context_a_later_workload_run_works(bell):
    k = bell
    with pytest.raises(ProcessKilled):
        call(k, "act", B.ACT_RAISE)
    r = k.run("bell-io", seconds=0.01, entry="counters", calls=3)
    assert r.ok and r.operations == 3 and k.verdict is None


def test_an_oops_while_holding_a_lock_with_interrupts_off_turns_interrupts_back_on(bell):
    k = bell
    with pytest.raises(ProcessKilled):
        call(k, "lock_and_crash")
    assert k.cpu.irq_enabled and k.verdict is None
    call(k, "ring", B.ACT_NOTHING, 100)
    k.idle(0.001)
    assert counters(k)[0] == 1, "interrupts are still delivered after the victim died"


def test_a_failed_bug_check_in_process_context_kills_only_the_process(bell):
    # Linux 2.4: BUG() is an invalid opcode; die() oopses and do_exit kills the caller.
    k = bell
    victim = k.spawn("victim")
    with pytest.raises(ProcessKilled) as err:
        call(k, "double_free", 64, proc=victim)
    assert err.value.reason.startswith("killed by oops: kernel BUG: kernel: double free of 0x")
    assert k.verdict is None and victim.killed == err.value.reason
    assert victim.mm == 0, "do_exit freed its mm_struct"
    assert counters(k) == (0, 0, 0)                     # another process runs fine
    assert k.run("bell-io", seconds=0.01, entry="counters", calls=3).ok


# -- interrupt context: any exception panics -------------------------------------------------
@pytest.mark.parametrize("action,message", [
    (B.ACT_RAISE, "divide error"),
    (B.ACT_WILD, "NULL pointer dereference"),
])
def test_an_exception_in_an_interrupt_handler_panics_the_system(bell, action, message):
    k = bell
    call(k, "ring", action, 1_000)
    t0 = k.clock.now
    k.idle(0.001)                                         # a verdict never escapes idle()
    assert k.verdict.kind == "panic"
    assert k.verdict.cause.startswith("Aiee, killing interrupt handler! ")
    assert message in k.verdict.cause and k.verdict.cause.endswith(f"(irq {BELL_IRQ})")
    assert k.verdict.time == t0 + 1_000 + k.cost.irq_entry
    assert [e.kind for e in k.events][-2:] == ["oops", "panic"]


def test_an_exception_in_a_timer_function_panics_the_system(bell):
    k = bell
    call(k, "start_timer", B.ACT_RAISE, 2)
    k.idle(0.1)
    assert k.verdict.kind == "panic" and "divide error" in k.verdict.cause
    assert k.verdict.cause.endswith("(irq 0)")


def test_a_dead_system_refuses_further_system_calls_and_runs(bell):
    k = bell
    call(k, "ring", B.ACT_RAISE, 10)
    k.idle(0.001)
    verdict = k.verdict
    with pytest.raises(KernelPanic):
        call(k, "counters")
    r = k.run("bell-io", seconds=0.01)
    assert not r.ok and r.failure == f"system is down ({verdict})"
    assert k.verdict is verdict, "the first verdict is the one recorded"


# -- hangs: the watchdog counts steps ---------------------------------------------------------
def test_a_spin_with_interrupts_off_is_a_hang_found_by_counting_steps(bell):
    k = bell
    steps0 = k.cpu.steps
    with pytest.raises(KernelPanic):
        call(k, "spin_irqs_off")
    assert k.verdict.kind == "hang"
    assert "after 2000 steps with interrupts off" in k.verdict.cause
    assert k.cpu.steps - steps0 == 2_001           # the first back-edge past the budget


def test_a_spin_with_interrupts_on_is_also_a_hang_in_native(bell):
    # Linux 2.4 does not preempt kernel code: a driver looping in a system call never yields.
    k = bell
    with pytest.raises(KernelPanic):
        call(k, "spin_irqs_on")
    assert k.verdict.kind == "hang" and "with interrupts on" in k.verdict.cause


def test_waiting_for_an_interrupt_under_an_irqsave_lock_is_a_hang(bell):
    k = bell
    with pytest.raises(KernelPanic):
        call(k, "deadlock_irqsave")
    assert k.verdict.kind == "hang" and "interrupts off" in k.verdict.cause


# -- what an oops in process context leaves behind ---------------------------------------------
def test_a_semaphore_is_taken_and_released_in_turn_by_one_process_after_another(bell):
    k = bell
    assert [call(k, "down_up") for _ in range(3)] == [1, 1, 1] and k.verdict is None


def test_a_bug_while_holding_a_semaphore_kills_the_holder_and_hangs_the_next_taker(bell):
    # Linux 2.4: the oops kills the holder before its up(); the kernel runs on with the
    # semaphore down, and the next process that wants it sleeps for ever (D state)
    k = bell
    with pytest.raises(ProcessKilled) as err:
        call(k, "down_and_bug")
    assert "kernel BUG: kernel: kfree of bad pointer" in err.value.reason and k.verdict is None
    assert counters(k) == (0, 0, 0), "the system is alive: another call works"
    t0 = k.clock.now
    taker = k.spawn("taker")
    with pytest.raises(ProcessKilled) as hung:
        call(k, "down_up", proc=taker)
    assert hung.value.reason == ("task hung: blocked in down("
                                 f"{k.modules['bell'].namespace['priv'] + 64:#010x}) for more "
                                 "than 120 s")
    assert taker.killed == hung.value.reason and k.verdict is None
    assert k.clock.now - t0 >= k.clock.cycles(120)
    r = k.run("bell-io", seconds=0.01, entry="down_up")
    assert not r.ok and r.failure.startswith("bell-io task hung: blocked in down(")
    assert k.verdict is None and counters(k) == (0, 0, 0)


def test_a_bug_with_the_line_masked_leaves_the_line_masked_and_the_device_unheard(bell):
    k = bell
    with pytest.raises(ProcessKilled):
        call(k, "mask_and_bug")
    assert k.verdict is None and k.irqs.disabled == {BELL_IRQ: 1}
    call(k, "ring", B.ACT_NOTHING, 100)
    k.idle(0.001)
    assert counters(k)[0] == 0 and BELL_IRQ in k.irqs.pending, "the interrupt is never taken"


def test_a_bug_with_interrupts_off_leaves_them_on_as_die_does(bell):
    # arch/i386 die(): spin_unlock_irq(&die_lock) before do_exit; nothing is left off
    k = bell
    k.cpu.irq_enabled = True
    with pytest.raises(ProcessKilled):
        call(k, "lock_and_crash")
    assert k.cpu.irq_enabled and k.verdict is None


def test_taking_a_spinlock_twice_is_harmless_on_a_uniprocessor(bell):
    # Linux 2.4 built for one CPU (as Nooks was) compiles spin_lock to nothing.
    k = bell
    assert call(k, "lock_twice") == 7 and k.verdict is None
    assert any("taken while held" in e.detail for e in k.events.of("lock"))


@pytest.mark.parametrize("action", [B.ACT_SPIN, B.ACT_DEADLOCK])
def test_a_spin_in_an_interrupt_handler_is_a_hang(bell, action):
    k = bell
    call(k, "ring", action, 500)
    k.idle(0.001)
    assert k.verdict.kind == "hang" and "interrupts off" in k.verdict.cause


def test_a_spin_in_a_timer_function_is_a_hang(bell):
    k = bell
    call(k, "start_timer", B.ACT_SPIN, 1)
    k.idle(0.05)
    assert k.verdict.kind == "hang"


def test_the_step_budget_is_per_kernel_entry_not_per_run():
    k = nookslab.boot(seed=0, step_budget=50)
    k.load("null")
    r = k.run("null-io", seconds=0.02)
    assert r.ok and k.verdict is None
    assert k.cpu.steps > 5 * 50, "many entries, each well inside its own budget"


# -- integrity checks -------------------------------------------------------------------------
def test_the_integrity_sweep_is_a_diagnostic_never_a_verdict(bell):
    k = bell
    call(k, "overrun", 40)
    found = k.check_integrity()
    assert len(found) == 1 and found[0].startswith("kernel: red zone after")
    assert k.verdict is None, "Linux has no end-of-run sweep: nothing met the overrun yet"
    assert k.events.of("sweep")[-1].detail.startswith("1 problem(s): kernel: red zone after")


def test_a_workload_that_corrupts_the_heap_unnoticed_shows_it_in_the_sweep_beside_its_result(
        bell):
    k = bell
    r = k.run("bell-io", seconds=0.01, entry="use_after_free", args=(64,))
    assert r.ok and k.verdict is None
    assert len(r.sweep) == 1 and "written after it was freed" in r.sweep[0]
    assert "integrity sweep (diagnostic): 1 problem(s)" in str(r)


def test_use_after_free_is_caught_when_the_object_is_reused(bell):
    k = bell
    with pytest.raises(ProcessKilled) as err:
        call(k, "use_after_free_then_alloc", 200)
    assert "kernel BUG" in err.value.reason and "written after it was freed" in err.value.reason
    assert k.verdict is None


@pytest.mark.parametrize("entry,message", [("double_free", "double free"),
                                           ("bad_free", "kfree of bad pointer"),
                                           ("overrun_and_free", "red zone after")])
def test_heap_misuse_by_a_driver_is_a_kernel_bug_that_kills_the_caller(bell, entry, message):
    with pytest.raises(ProcessKilled) as err:
        call(bell, entry, 32)
    assert bell.verdict is None and message in err.value.reason
    assert err.value.reason.startswith("killed by oops: kernel BUG: ")


def test_integrity_check_of_a_healthy_kernel_finds_nothing(bell):
    assert bell.check_integrity() == [] and bell.verdict is None


def test_two_kernels_never_interfere_a_panic_in_one_leaves_the_other_alive(
        test_drivers):
    a = nookslab.boot(seed=1, step_budget=2_000)
    b = nookslab.boot(seed=1, step_budget=2_000)
    a.load("bell")
    b.load("bell")
    a.syscall(a.spawn("x"), a.modules["bell"].function("ring"), B.ACT_RAISE, 10)
    a.idle(0.001)
    b.idle(0.001)
    assert a.verdict.kind == "panic" and b.verdict is None


# -- the sweep: nothing a driver does escapes as a traceback ----------------------------------
SWEEP = [
    ("act", (B.ACT_RAISE,), "killed"), ("act", (B.ACT_WILD,), "killed"),
    ("act", (B.ACT_SPIN,), "hang"), ("act", (B.ACT_DEADLOCK,), "hang"),
    ("ring", (B.ACT_RAISE, 100), "panic"), ("ring", (B.ACT_WILD, 100), "panic"),
    ("ring", (B.ACT_SPIN, 100), "hang"), ("ring", (B.ACT_DEADLOCK, 100), "hang"),
    ("start_timer", (B.ACT_RAISE, 1), "panic"), ("start_timer", (B.ACT_SPIN, 1), "hang"),
    ("wild_write", (0x10,), "killed"), ("wild_write", (0xFFFF_FFFF,), "killed"),
    ("spin_irqs_off", (), "hang"), ("spin_irqs_on", (), "hang"),
    ("deadlock_irqsave", (), "hang"), ("lock_and_crash", (), "killed"),
    ("overrun", (16,), "unnoticed"), ("overrun_and_free", (16,), "killed"),
    ("use_after_free", (32,), "unnoticed"), ("double_free", (32,), "killed"),
    ("bad_free", (32,), "killed"), ("free_pending_timer", (), "panic"),
    ("corrupt_timer", (0, 0x0F00_0000, 1), "panic"),
]


@pytest.mark.parametrize("entry,args,outcome", SWEEP)
def test_a_misbehaving_driver_under_a_workload_yields_a_result_never_a_traceback(
        bell, entry, args, outcome):
    k = bell
    r = k.run("bell-io", seconds=0.03, entry=entry, args=args)     # three jiffies
    if outcome == "unnoticed":             # nothing walked into it yet: only the sweep sees it
        assert r.ok and k.verdict is None and r.sweep
        return
    assert not r.ok
    if outcome == "killed":
        assert k.verdict is None and r.failure.startswith("bell-io killed by oops: ")
        assert k.run("bell-io", seconds=0.01, entry="counters", calls=3).ok, "still works"
    else:
        assert k.verdict.kind == outcome and r.failure.startswith(f"system {outcome}: ")


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(addr=st.integers(min_value=0, max_value=2**32 - 1))
def test_a_wild_write_anywhere_either_lands_in_ram_or_kills_the_writer(test_drivers, addr):
    k = nookslab.boot(seed=0, memory=1 << 20, step_budget=2_000)
    k.load("bell")
    try:
        call(k, "wild_write", addr)
    except ProcessKilled as exc:
        # the 4-byte store touches addr..addr+3: page 0, or past the end of RAM, or a hole
        assert addr < 4096 or addr + 3 >= k.machine.memory.size or addr >= 0xF000_0000
        assert "unable to handle kernel" in exc.reason
        assert k.verdict is None
    else:
        if addr >= k.machine.memory.size:
            # Mapped but not RAM: a device's register window; the store went to the device.
            assert addr >= 0xF000_0000 and k.mmu.kernel_pt.present(addr)
        else:
            assert k.mmu.ld32(addr) == 0xDEADBEEF
