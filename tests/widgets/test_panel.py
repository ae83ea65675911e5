"""The fault-injection panel driven from Python, as a student's clicks would drive it."""
from __future__ import annotations

import pytest

from nookslab.faults import FAULT_TYPES
from nookslab.widgets import FaultPanel
from nookslab.widgets.panel import RANDOM


def test_a_trial_with_no_fault_says_no_failure():
    panel = FaultPanel(extension="null", mode="native", seed=14)
    assert panel.verdicts == {"native": "no failure"}
    assert "no failure" in panel.outcome_text
    assert "no fault injected" in panel.outcome_text


def test_toggling_a_fault_on_reruns_the_trial_and_shows_the_native_crash(crash_case):
    panel = FaultPanel(extension="null", mode="native", seed=crash_case["seed"])
    panel.toggles[crash_case["fault"]].value = True
    assert panel.verdicts == {"native": "crash"}
    run = panel.runs[0]
    assert run.result.outcome == "crash"
    assert run.result.verdict == "panic"
    assert "crash" in panel.outcome_text and "no failure" not in panel.outcome_text
    assert "PTR in null_interrupt" in panel.outcome_text      # where the fault landed
    assert "panic" in panel.outcome_text                     # the kernel's message


def test_toggling_the_fault_off_again_shows_no_failure(crash_case):
    panel = FaultPanel(extension="null", mode="native", seed=crash_case["seed"],
                       faults=(crash_case["fault"],))
    assert panel.verdicts == {"native": "crash"}
    panel.toggles[crash_case["fault"]].value = False
    assert panel.verdicts == {"native": "no failure"}
    assert panel.runs[0].result.faults == ()


def test_both_configurations_side_by_side_show_crash_and_recovery(crash_case):
    panel = FaultPanel(extension="null", mode="both", seed=crash_case["seed"])
    assert panel.verdicts == {"native": "no failure", "nooks": "no failure"}
    panel.toggles["PTR"].value = True
    assert panel.verdicts == {"native": "crash", "nooks": "recovered"}
    assert len(panel.stories.children) == 2
    nooks = panel.runs[1]
    assert nooks.result.recovered and nooks.result.service_restored
    # the same fault went to both configurations
    assert panel.runs[0].result.faults == nooks.result.faults
    story = nooks.story
    assert story.caught[0] == ("t=0.127 ms Nooks detected (null): fault: unable to handle kernel "
                               "paging request at 0x00001004 (write, domain null)")
    assert story.recovery[0] == "recovery of null (fault), policy restart: ok"
    assert story.afterwards == "the workload ran again and worked"


def test_next_seed_steps_the_seed_and_places_the_faults_anew(crash_case):
    panel = FaultPanel(extension="null", mode="native", seed=14, faults=("PTR",))
    first = panel.runs[0].result.faults
    panel.next_button.click()
    assert panel.seed.value == 15
    assert panel.runs[0].result.seed == 15
    assert panel.runs[0].result.faults != first


def test_the_run_button_runs_the_trial_again_with_the_same_result(crash_case):
    panel = FaultPanel(extension="null", mode="native", seed=14, faults=("PTR",))
    before = panel.runs[0].result
    panel.run_button.click()
    assert panel.runs[0].result == before


def test_the_random_toggle_injects_the_papers_five_faults_of_a_campaign_trial():
    from nookslab.faults.trial import trial_faults
    panel = FaultPanel(extension="null", mode="native", seed=3, faults=(RANDOM,))
    assert panel.runs[0].result.faults == trial_faults("null", 3, 5)


def test_every_fault_type_has_a_toggle_with_its_c_analogue_as_tooltip():
    panel = FaultPanel(extension="null", run=False)
    assert tuple(panel.toggles) == FAULT_TYPES + (RANDOM,)
    assert panel.toggles["PTR"].tooltip.startswith("PTR (8)")
    assert panel.runs == []


def test_an_unknown_extension_or_configuration_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown extension 'nope'; choose from"):
        FaultPanel(extension="nope")
    with pytest.raises(ValueError, match="unknown configuration 'fast'"):
        FaultPanel(extension="null", mode="fast")


def test_a_fault_type_with_no_site_is_a_message_in_the_panel_not_a_traceback(monkeypatch):
    from nookslab.faults import injector

    def no_site(*args, **kwargs):
        raise ValueError("no site")
    monkeypatch.setattr(injector, "generate", no_site)
    panel = FaultPanel(extension="null", mode="native", seed=0, faults=("IRQ",))
    assert panel.runs == []
    assert "null has no site for a IRQ fault" in panel.status.value
    assert panel.verdicts == {"native": "unavailable"}


def test_a_configuration_not_built_yet_is_shown_as_unavailable(monkeypatch):
    import nookslab.kernel
    monkeypatch.setattr(nookslab.kernel, "available_modes", lambda: ("native",))
    panel = FaultPanel(extension="null", mode="both", seed=0)
    assert panel.verdicts == {"native": "no failure", "nooks": "unavailable"}
    assert "the nooks configuration is not built yet" in panel.outcome_text
    assert [r.mode for r in panel.runs] == ["native"]


def test_the_campaign_button_fills_the_progress_bar_and_counts_every_trial():
    panel = FaultPanel(extension="null", mode="both", seed=0, campaign_trials=3, run=False)
    seen = []
    panel.on_campaign(seen.append)
    panel.campaign_button.click()
    result = panel.campaign
    assert panel.progress.max == 6 and panel.progress.value == 6
    assert len(result.trials) == 6
    assert seen == [result]
    counts = result.counts()
    assert sum(counts[("null", "native")].values()) == 3
    assert sum(counts[("null", "nooks")].values()) == 3
    for outcome, n in counts[("null", "native")].items():
        assert f"{outcome} {n}" in panel.campaign_summary.value


def test_a_trial_stopped_at_a_simulator_limit_is_told_as_one_not_as_no_failure():
    from nookslab.faults.trial import TrialResult
    from nookslab.widgets.story import tell
    result = TrialResult("vfat", "native", 1, (), "simulator-limit", verdict="limit",
                         cause="simulator limit: vfat asked the host for a 2,147,483,674-byte str")
    story = tell(result)
    assert story.verdict == "simulator limit"
    assert story.headline.endswith("not of the simulated machine: simulator limit: vfat asked "
                                   "the host for a 2,147,483,674-byte str")
    assert story.afterwards == "the run was stopped there (a simulator limit, not a crash)"
