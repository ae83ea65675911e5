"""A trial's host time is bounded by simulated counts: its kernel entries' step budget, an
interrupt storm's length (the card's re-raises; the kernel's storm detector, tested in
tests/kernel/test_livelock.py) and its steps in all; each ends in a hang verdict, and a sound
trial stays well inside all of them."""
import pytest

import nookslab
from nookslab.faults.trial import (TRIAL_STEP_BUDGET, TRIAL_STEP_CAP, execute, run_trial,
                                   trial_faults)
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


def test_a_livelock_spread_over_many_entries_meets_the_kernels_step_cap_a_trial_sets():
    seen = []
    execute("null", "native", 0, (), setup=lambda k: seen.append(k.irqs.step_cap))
    assert seen == [TRIAL_STEP_CAP]
    k = nookslab.boot(seed=0)
    k.load("null")
    k.irqs.step_cap = TRIAL_STEP_CAP
    k.cpu.steps = TRIAL_STEP_CAP + 1
    k.run("null-io", seconds=0.001)                 # the next device event meets the detector
    assert k.verdict.kind == "hang"
    assert k.verdict.cause.startswith("livelock: no end after 4000") and \
        k.verdict.cause.endswith(f"the lockup detector's cap is {TRIAL_STEP_CAP})")


@pytest.mark.parametrize("extension", ["vfat", "e1000", "sb", "khttpd"])
def test_a_sound_trial_stays_far_inside_every_bound(extension):
    result, kernel = execute(extension, "nooks", 0, ())
    assert result.outcome == "none" and kernel.verdict is None
    assert kernel.cpu.steps < TRIAL_STEP_CAP // 5
