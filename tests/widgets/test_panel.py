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
    assert "PTR in null_interrupt, line 48" in panel.outcome_text      # where it landed
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
                               "paging request at 0xf0801004 (write, domain null)")
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
    from nookslab.widgets import panel as panel_module
    monkeypatch.setattr(panel_module, "available_modes", lambda: ("native",))
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


# -- what is on show answers the choices ----------------------------------------------------
def test_the_result_is_labelled_with_the_choices_it_was_run_with(crash_case):
    panel = FaultPanel(extension="null", mode="both", seed=14, faults=("PTR",))
    assert panel.caption.value == ("<b>Result</b> for null, seed 14, configuration both, "
                                   "faults: PTR")
    assert not panel.stale


def test_changing_the_seed_runs_the_trial_again_for_the_new_seed(crash_case):
    panel = FaultPanel(extension="null", mode="native", seed=14, faults=("PTR",))
    panel.seed.value = 15
    assert [r.result.seed for r in panel.runs] == [15]
    assert "seed 15" in panel.caption.value and not panel.stale


def test_changing_the_configuration_or_extension_runs_the_trial_again(crash_case):
    panel = FaultPanel(extension="null", mode="both", seed=crash_case["seed"], faults=("PTR",))
    panel.mode.value = "native"
    assert [r.mode for r in panel.runs] == ["native"]
    assert panel.verdicts == {"native": "crash"}
    other = next(e for e in panel.extension.options if e != "null")
    panel.toggles["PTR"].value = False                 # keep the other driver's trial short
    panel.extension.value = other
    assert [r.result.extension for r in panel.runs] == [other]
    assert f"for {other}, seed {crash_case['seed']}" in panel.caption.value


def test_with_auto_run_off_a_changed_choice_greys_the_old_result_out_as_stale():
    panel = FaultPanel(extension="null", mode="native", seed=14, faults=("PTR",),
                       auto_run=False)
    shown = panel.runs
    panel.seed.value = 15
    assert panel.runs is shown                         # nothing ran
    assert panel.stale and "nookslab-stale" in panel.results._dom_classes
    assert panel.caption.value.startswith("<b style='color:#b26a00'>stale</b>: the result "
                                          "below is for null, seed 14, configuration native")
    assert "(null, seed 15, configuration native, faults: PTR)" in panel.caption.value
    panel.toggles["PTR"].value = False
    assert panel.stale and "faults: none)" in panel.caption.value
    panel.run_button.click()
    assert not panel.stale and "nookslab-stale" not in panel.results._dom_classes
    assert panel.runs[0].result.seed == 15 and panel.runs[0].result.faults == ()


def test_an_active_fault_toggle_looks_different_from_an_inactive_one():
    panel = FaultPanel(extension="null", mode="native", seed=14, run=False)
    ptr = panel.toggles["PTR"]
    assert ptr.button_style == "" and "mod-active" not in ptr._dom_classes
    panel.auto_run = False
    ptr.value = True
    assert ptr.button_style == "info"
    assert all(b.button_style == "" for k, b in panel.toggles.items() if k != "PTR")


def test_the_toggle_grid_wraps_to_the_width_it_is_given():
    panel = FaultPanel(extension="null", run=False)
    layout = panel.toggle_grid.layout
    assert layout.grid_template_columns == "repeat(auto-fill, minmax(92px, 1fr))"
    assert all(b.layout.width == "auto" for b in panel.toggles.values())
    assert panel.stories.layout.flex_flow == "row wrap"


def test_an_unknown_fault_type_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown fault type 'PTRR'; choose from"):
        FaultPanel(extension="null", faults=("PTRR",))


# -- the fault list --------------------------------------------------------------------------
def test_the_faults_are_listed_once_readably_above_both_configurations(crash_case):
    panel = FaultPanel(extension="null", mode="both", seed=14, faults=("PTR", "SYNC"))
    html = panel.fault_list.value + "".join(b.value for b in panel.stories.children)
    assert html.count("PTR in null_interrupt, line 48") == 1
    assert "_nl_fault" not in html and "bit=" not in html and "count=" not in html
    assert ("<span class='nookslab-code before' style='white-space:pre-wrap;overflow-wrap:"
            "anywhere'>before: writel(status, regs + REG_STATUS)</span>") in html
    assert "regs + <ins>(</ins>REG_STATUS<ins> ^ 0x10000000</ins>)<ins>)</ins>" in html
    assert [sorted(r.ran) for r in panel.rows] == [["native", "nooks"]] * 2
    assert panel.rows[0].ran == {"native": True, "nooks": True}
    assert "Where the faults landed" not in "".join(b.value for b in panel.stories.children)


def test_a_fault_whose_code_never_ran_says_so_instead_of_no_failure():
    # seed 2 puts the PTR fault in null_ioctl, which the null-io workload never calls
    panel = FaultPanel(extension="null", mode="both", seed=2, faults=("PTR",))
    assert panel.verdicts == {"native": "fault never ran", "nooks": "fault never ran"}
    assert "this trial tested nothing" in panel.outcome_text
    assert panel.rows[0].ran == {"native": False, "nooks": False}
    assert "<b>never ran</b>" in panel.fault_list.value
    assert "no failure" not in panel.outcome_text


# -- replaying a campaign trial --------------------------------------------------------------
def _campaign_trial(mode: str = "native"):
    from nookslab.faults import Campaign
    result = Campaign(["null"], trials=4, seed=0).run(progress=False)
    return next(t for t in result.trials if t.mode == mode and t.outcome == "nonfatal")


def test_a_replay_says_on_screen_what_it_switched_and_keeps_saying_it():
    trial = _campaign_trial("native")
    panel = FaultPanel(extension="null", mode="both", seed=3, faults=("PTR",))
    panel.replay(trial)
    assert panel.mode.value == "native" and panel.seed.value == trial.seed
    assert panel.chosen_types == (RANDOM,)             # a campaign trial is random x5
    assert panel.runs[0].result.faults == trial.faults
    assert panel.runs[0].result.outcome == trial.outcome
    status = panel.status.value
    assert f"Replaying campaign trial #{trial.index}</b> (null, native, seed {trial.seed}" in status
    assert "configuration both &rarr; native" in status
    assert f"seed 3 &rarr; {trial.seed}" in status
    assert "fault toggles PTR &rarr; random x5 (the trial's 5 faults)" in status
    panel.run_button.click()                           # still the replay on show
    assert "Replaying campaign trial" in panel.status.value
    panel.seed.value = trial.seed + 1                  # a new choice: no longer the replay
    assert panel.status.value == ""


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
