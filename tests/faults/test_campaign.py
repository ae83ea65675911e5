"""Campaigns: deterministic on any executor, resumable, validated, and summarised as figures."""
import json
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest

from nookslab.faults import Campaign, CampaignResult, run_trial

NATIVE = ("native",)


def outcomes(result: CampaignResult):
    return [(t.extension, t.mode, t.index, t.seed, t.outcome, t.cause) for t in result.trials]


@pytest.fixture(scope="module")
def serial():
    return Campaign(["null"], trials=30, seed=7, modes=NATIVE).run(progress=False)


def test_a_campaign_gives_the_same_trials_serially_and_on_a_process_pool(serial):
    with ProcessPoolExecutor(2) as pool:
        pooled = Campaign(["null"], trials=30, seed=7, modes=NATIVE).run(
            executor=pool, progress=False, batch=4)
    assert outcomes(pooled) == outcomes(serial)
    assert [t.to_dict() for t in pooled.trials] == [t.to_dict() for t in serial.trials]


def test_a_thread_pool_gives_the_same_trials_too(serial):
    with ThreadPoolExecutor(2) as pool:
        threaded = Campaign(["null"], trials=30, seed=7, modes=NATIVE).run(executor=pool,
                                                                           progress=False)
    assert outcomes(threaded) == outcomes(serial)


def test_each_campaign_trial_replays_alone_from_its_seed(serial):
    t = serial.trials[11]
    again = run_trial(t.extension, t.mode, t.seed, index=t.index)
    assert again == t


def test_trial_seeds_depend_on_campaign_seed_extension_and_index():
    c = Campaign(["null"], trials=3, seed=7, modes=NATIVE)
    assert c.trial_seed("null", 1) == Campaign(["null"], trials=99, seed=7,
                                               modes=NATIVE).trial_seed("null", 1)
    assert len({c.trial_seed("null", i) for i in range(3)}) == 3
    assert c.trial_seed("null", 1) != Campaign(["null"], trials=3, seed=8,
                                               modes=NATIVE).trial_seed("null", 1)


def test_counts_add_up_to_the_trials(serial):
    counts = serial.counts()
    assert list(counts) == [("null", "native")]
    c = counts[("null", "native")]
    assert sum(c.values()) == 30
    assert c["crash"] == sum(t.outcome == "crash" for t in serial.trials)
    assert serial.simulator_errors() == []


def test_an_interrupted_campaign_resumes_from_its_jsonl_file(tmp_path, serial):
    path = tmp_path / "trials.jsonl"
    Campaign(["null"], trials=10, seed=7, modes=NATIVE).run(progress=False, path=path)
    lines = path.read_text().splitlines()
    assert len(lines) == 1 + 10 and json.loads(lines[0])["campaign"]["trials"] == 10
    # cut the file short mid-line, as a kill would, then run the full campaign on it
    path.write_text("\n".join(lines[:6]) + "\n" + lines[6][:20])
    full = Campaign(["null"], trials=10, seed=7, modes=NATIVE)
    resumed = full.run(progress=False, path=path)
    assert outcomes(resumed) == outcomes(serial)[:10]
    ran = [json.loads(x) for x in path.read_text().splitlines()[1:] if x.startswith("{\"ext")]
    assert len(ran) == 10


def test_resuming_from_another_campaigns_file_is_refused(tmp_path):
    path = tmp_path / "trials.jsonl"
    Campaign(["null"], trials=2, seed=1, modes=NATIVE).run(progress=False, path=path)
    with pytest.raises(ValueError, match="different campaign"):
        Campaign(["null"], trials=2, seed=2, modes=NATIVE).run(progress=False, path=path)


def test_figures_are_tables_with_the_papers_totals_beside_ours(serial):
    fig6, fig7 = serial.figure6(), serial.figure7()
    counts = serial.counts()[("null", "native")]
    assert fig6.total("native") == counts["crash"] and fig7.total("native") == counts["nonfatal"]
    assert "317" in str(fig6) and "512" in str(fig7)
    assert "<table" in fig6._repr_html_() and fig7.to_dict()["paper"]["nooks"] == 212


def test_results_save_to_json_and_csv(tmp_path, serial):
    data = json.loads(json.dumps(serial.to_dict()))
    assert len(data["trials"]) == 30 and data["counts"]["null/native"]["crash"] >= 0
    serial.to_csv(tmp_path / "t.csv")
    assert len((tmp_path / "t.csv").read_text().splitlines()) == 31
    assert "<table" in serial._repr_html_()


def test_plot_draws_both_figures(serial):
    import matplotlib
    matplotlib.use("Agg")
    fig = serial.plot()
    assert len(fig.axes) == 2
    import matplotlib.pyplot as plt
    plt.close(fig)


def test_crash_causes_group_the_crashes(serial):
    causes = serial.crash_causes("native")
    assert sum(causes.values()) == serial.counts()[("null", "native")]["crash"]


@pytest.mark.parametrize("kwargs, word", [
    (dict(trials=0), "trials"), (dict(faults_per_trial=0), "faults_per_trial"),
    (dict(faults_per_trial=101), "faults_per_trial"), (dict(extensions=["e1001"]), "null"),
    (dict(extensions=[]), "extension"), (dict(modes=("nook",)), "native"),
    (dict(modes=()), "mode"), (dict(seed=-2), "seed")])
def test_bad_campaigns_are_clear_errors(kwargs, word):
    args = dict(extensions=["null"], trials=2, faults_per_trial=5, seed=0, modes=NATIVE)
    args.update(kwargs)
    with pytest.raises(ValueError, match=word):
        Campaign(**args)


def test_a_dask_cluster_runs_a_campaign_unchanged(serial):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        result = Campaign(["null"], trials=30, seed=7, modes=NATIVE).run(
            executor=client.get_executor(), progress=False)
    assert outcomes(result) == outcomes(serial)


@pytest.mark.parametrize("cause, kind", [
    ("hang: deadlock on spinlock 0x1 in sb after 20000 steps with interrupts off (in domain sb)",
     "deadlock with interrupts off"),
    ("hang: no progress in e1000 after 20000 steps with interrupts off", "hang with interrupts off"),
    ("hang: livelock: 4001 interrupts and device events within one jiffy, nothing else can "
     "run (interrupt storm; irq 11: 4001)", "livelock (interrupt storm)"),
    ("panic: Aiee, killing interrupt handler! x (irq 3)", "oops in interrupt context"),
    ("panic: kernel cannot continue: recursive fault in do_exit of ping: kernel BUG: y (after: "
     "z)", "allocator broken (recursive fault in do_exit)"),
    ("panic: Attempted to kill the idle task! x (softirq)", "oops outside any process")])
def test_crash_kinds_tell_deadlocks_from_other_hangs(cause, kind):
    from nookslab.faults.campaign import crash_kind
    assert crash_kind(cause) == kind


def test_a_campaign_result_names_its_parameters_in_words_not_as_a_dict():
    from IPython.lib.pretty import pretty
    result = Campaign(["null"], trials=1, seed=3).run(progress=False)
    head = str(result).splitlines()[0]
    assert head == ("campaign: null; 1 trials per extension and configuration, 5 faults per "
                    "trial, seed 3; configurations native, nooks")
    assert pretty(result) == str(result) and head in result._repr_html_()


def _dies_on(index: int, marker=None):
    """A trial hook that kills its worker process at trial ``index`` (once, if ``marker``)."""
    import os

    def hook(task):
        if task.index == index and (marker is None or not marker.exists()):
            if marker is not None:
                marker.write_text("died once")
            os._exit(3)
    return hook


def test_a_worker_killed_mid_campaign_costs_nothing_its_trials_run_again(serial, monkeypatch,
                                                                          tmp_path):
    import nookslab.faults.campaign as campaign
    monkeypatch.setattr(campaign, "_trial_hook", _dies_on(11, tmp_path / "marker"))
    result = Campaign(["null"], trials=30, seed=7, modes=NATIVE).run(
        workers=2, progress=False, batch=4)
    assert [t.to_dict() for t in result.trials] == [t.to_dict() for t in serial.trials]
    assert [d["where"] for d in result.host_deaths] == ["pool"]
    assert result.host_deaths[0]["suspects"] <= 3 * 4       # what could have been running


def test_a_trial_that_kills_its_worker_every_time_is_a_simulator_limit(serial, monkeypatch):
    import nookslab.faults.campaign as campaign
    monkeypatch.setattr(campaign, "_trial_hook", _dies_on(11))
    result = Campaign(["null"], trials=30, seed=7, modes=NATIVE).run(
        workers=2, progress=False, batch=4)
    lost = result.trials[11]
    assert lost.outcome == "simulator-limit" and lost.seed == serial.trials[11].seed
    assert lost.cause == ("simulator limit: the worker process running this trial died, alone "
                          "in a fresh worker too (exit code 3)")
    assert lost.faults == serial.trials[11].faults
    others = [t.to_dict() for i, t in enumerate(result.trials) if i != 11]
    assert others == [t.to_dict() for i, t in enumerate(serial.trials) if i != 11]
    assert [d["where"] for d in result.host_deaths] == ["pool", "alone"]
    assert result.host_deaths[1] == {"where": "alone", "exit_codes": [3],
                                     "trial": ["null", "native", 11]}
    assert result.counts()[("null", "native")]["simulator-limit"] == 1
    assert result.simulator_limits() == [lost]


def test_a_broken_pool_of_the_callers_is_replaced_and_the_campaign_finishes(serial, monkeypatch,
                                                                            tmp_path):
    import nookslab.faults.campaign as campaign
    monkeypatch.setattr(campaign, "_trial_hook", _dies_on(3, tmp_path / "marker"))
    with ProcessPoolExecutor(2) as pool:
        result = Campaign(["null"], trials=30, seed=7, modes=NATIVE).run(
            executor=pool, progress=False, batch=5)
    assert [t.to_dict() for t in result.trials] == [t.to_dict() for t in serial.trials]
    assert len(result.host_deaths) == 1


def test_simulator_limits_are_left_out_of_the_figures_and_noted_beside_them(serial):
    import dataclasses
    trials = list(serial.trials)
    trials[0] = dataclasses.replace(trials[0], outcome="simulator-limit", verdict="limit",
                                    cause="simulator limit: a test")
    result = CampaignResult(serial.config, trials)
    counts = result.counts()[("null", "native")]
    assert counts["simulator-limit"] == 1 and sum(counts.values()) == 30
    fig6 = result.figure6()
    assert fig6.total("native") == counts["crash"]
    assert fig6.excluded == (("null/native", "simulator-limit", 1),)
    assert fig6.to_dict()["excluded"] == [{"where": "null/native", "outcome": "simulator-limit",
                                          "trials": 1}]
    assert str(fig6).splitlines()[-1] == ("  note: not counted (the simulator's, not the "
                                          "extension's): null/native 1 simulator-limit")
    assert "not counted" not in str(serial.figure6())
