"""A trial's host time is bounded by simulated counts: its kernel entries' step budget, an
interrupt storm's length, its device events and its steps in all; each ends in a hang verdict,
and a sound trial stays well inside all of them."""
import pytest

import nookslab
from nookslab.faults.trial import (TRIAL_STEP_BUDGET, TRIAL_STEP_CAP, _livelock_watchdog, execute,
                                   run_trial, trial_faults)
from nookslab.kernel.panic import KernelPanic
from nookslab.machine.devices.nic import NicDevice


def test_a_trial_boots_with_the_trial_step_budget():
    seen = []
    execute("null", "native", 0, (), setup=lambda k: seen.append(k.cpu.step_budget))
    assert seen == [TRIAL_STEP_BUDGET] == [4_000]
    assert nookslab.boot().cpu.step_budget == 20_000          # outside trials: the default


def test_an_endless_loop_in_a_trial_is_a_hang_after_the_trial_budget():
    # pcnet32 seed 1000545: a faulty ring loop ran 8,196 steps before (a nonfatal echo loss)
    t = run_trial("pcnet32", "native", seed=1_000_545)
    assert t.outcome == "crash"
    assert t.cause.startswith(f"hang: no progress in kernel after {TRIAL_STEP_BUDGET} steps")


def test_an_interrupt_storm_is_a_hang_after_two_hundred_raises_in_a_row():
    assert NicDevice.STORM == 200
    result, kernel = execute("3c59x", "native", 1_000_421, trial_faults("3c59x", 1_000_421))
    assert result.cause.startswith("hang: interrupt storm on IRQ 6 (3c59x)")
    assert kernel.cpu.steps < 20_000                   # 189,955 with the old 5,000 raises


def test_a_livelock_of_device_events_is_a_hang_after_the_trials_event_budget():
    t = run_trial("sb", "nooks", seed=1_000_065)
    assert t.cause.startswith("hang: livelock: no end after 3000 device events and interrupts")


def test_a_livelock_spread_over_many_entries_meets_the_trials_step_cap():
    k = nookslab.boot(seed=0)
    _livelock_watchdog(k, 0.025)
    k.cpu.steps = TRIAL_STEP_CAP + 1
    with pytest.raises(KernelPanic):
        k.clock.pop_due()
    assert k.verdict.kind == "hang"
    assert k.verdict.cause.startswith(f"livelock: no end after {TRIAL_STEP_CAP + 1} steps in all")


@pytest.mark.parametrize("extension", ["vfat", "e1000", "sb", "khttpd"])
def test_a_sound_trial_stays_far_inside_every_bound(extension):
    result, kernel = execute(extension, "nooks", 0, ())
    assert result.outcome == "none" and kernel.verdict is None
    assert kernel.cpu.steps < TRIAL_STEP_CAP // 5
