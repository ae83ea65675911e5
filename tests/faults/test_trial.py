"""Trials: pure functions of (extension, configuration, faults, seed) that never raise."""
import json

import pytest

import nookslab
import nookslab.system
from nookslab.faults import Campaign, Fault, TrialResult, run_trial
from nookslab.faults.trial import OUTCOMES, execute, trial_faults


def test_a_trial_is_a_pure_function_of_its_inputs():
    a = run_trial("null", "native", seed=3)
    b = run_trial("null", "native", seed=3)
    assert a == b and a.to_dict() == b.to_dict()


def test_a_replayed_fault_list_gives_the_same_outcome():
    for seed in range(8):
        first = run_trial("null", "native", seed=seed)
        saved = json.loads(json.dumps(first.to_dict()))
        replay = run_trial("null", "native", seed=seed, faults=saved["faults"])
        assert (replay.outcome, replay.cause) == (first.outcome, first.cause)


def test_faults_depend_on_extension_and_seed_not_on_the_mode():
    assert trial_faults("null", 4) == trial_faults("null", 4)
    assert trial_faults("null", 4) != trial_faults("null", 5)
    assert run_trial("null", "native", seed=4).faults == trial_faults("null", 4)


def test_outcomes_are_classified_from_what_the_kernel_saw():
    seen = {}
    for seed in range(40):
        t = run_trial("null", "native", seed=seed)
        assert t.outcome in OUTCOMES and t.error is None
        seen.setdefault(t.outcome, t)
    crash, nonfatal = seen["crash"], seen["nonfatal"]
    assert crash.verdict in ("panic", "hang") and crash.cause.startswith(crash.verdict)
    assert nonfatal.verdict is None and nonfatal.cause
    assert "none" in seen and seen["none"].cause is None


def test_a_trial_without_faults_has_no_failure():
    t = run_trial("null", "native", seed=1, faults=[])
    assert (t.outcome, t.cause, t.activated) == ("none", None, 0)


def test_a_removed_unlock_is_harmless_on_a_uniprocessor():
    # Nooks' kernel was built for one CPU, where Linux 2.4's spin_lock/spin_unlock are empty:
    # dropping the unlock in the interrupt handler (interrupts are off there anyway) changes
    # nothing. Hangs with interrupts off come from code that waits with the flag clear.
    from nookslab.faults.injector import sites
    from nookslab.kernel.module import driver_source
    lines = driver_source("nookslab.drivers.null").splitlines()
    site = next(s for s in sites("null")["SYNC"] if s.function == "null_interrupt"
                and "spin_unlock" in lines[s.line - 1])
    fault = Fault("SYNC", site.function, site.line, site.col, site.end_line, site.end_col, site.node)
    t = run_trial("null", "native", seed=1, faults=[fault])
    assert t.activated == 1 and t.outcome == "none", t.cause


def test_a_failing_allocation_at_load_is_a_nonfatal_failure():
    from nookslab.faults.injector import sites
    site = sites("null")["ALLOC"][0]
    fault = Fault("ALLOC", site.function, site.line, site.col, site.end_line, site.end_col,
                  site.node, count=1)
    t = run_trial("null", "native", seed=1, faults=[fault])
    assert t.outcome == "nonfatal" and "not running" in t.cause and t.activated == 1


def test_a_simulator_error_is_recorded_not_raised(monkeypatch):
    import nookslab.system as system

    def broken(**kwargs):
        raise RuntimeError("boom")
    monkeypatch.setattr(system, "boot", broken)
    result, _ = execute("null", "native", 1, ())
    assert result.error == "RuntimeError: boom" and result.cause.startswith("simulator error")
    assert result.outcome == "simulator-error" and not result.counts


NATIVE = ("native",)


def test_a_simulator_error_has_its_own_bucket_and_never_reaches_a_figure(monkeypatch):
    from nookslab.faults import trial as trial_mod
    real = trial_mod.execute

    def flaky(extension, mode, seed, faults, seconds=None, index=-1, setup=None):
        if index == 1:
            def boom(kernel):
                raise RuntimeError("boom")
            setup = boom
        return real(extension, mode, seed, faults, seconds, index, setup)
    monkeypatch.setattr(trial_mod, "execute", flaky)
    result = Campaign(["null"], trials=3, seed=7, modes=NATIVE).run(progress=False)
    counts = result.counts()[("null", "native")]
    assert counts["simulator-error"] == 1 and counts["simulator-limit"] == 0
    assert counts["crash"] + counts["nonfatal"] + counts["none"] == 2
    fig7 = result.figure7()
    assert fig7.total("native") == counts["nonfatal"]
    assert "null/native 1 simulator-error" in str(fig7)
    assert fig7.to_dict()["excluded"] == [{"where": "null/native", "outcome": "simulator-error",
                                          "trials": 1}]


def test_results_are_plain_data():
    t = run_trial("null", "native", seed=2)
    assert TrialResult.from_dict(json.loads(json.dumps(t.to_dict()))) == t
    assert "<table" in t._repr_html_() and "null/native" in str(t)


@pytest.mark.parametrize("kwargs, word", [
    (dict(extension="e1001"), "null"), (dict(mode="nook"), "native"),
    (dict(faults_per_trial=0), "faults_per_trial"), (dict(faults_per_trial=101), "100"),
    (dict(seconds=0), "seconds"), (dict(faults=["PTR"]), "Fault"), (dict(seed=-1), "seed")])
def test_bad_trial_inputs_are_clear_errors(kwargs, word):
    args = dict(extension="null", mode="native", seed=1)
    args.update(kwargs)
    with pytest.raises(ValueError, match=word):
        run_trial(**args)


def test_nooks_trials_report_recovery_once_nooks_exists():
    if "nooks" not in nookslab.system.available_modes():
        pytest.skip("the nooks layer is not built yet")
    t = run_trial("null", "nooks", seed=3)
    assert t.mode == "nooks" and t.outcome in OUTCOMES
    assert t.service_restored <= t.recovered <= t.detected
