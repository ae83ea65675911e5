"""The soak benchmark, small: random trials over every extension and configuration on two
capped workers never lose a worker, never fail the simulator, and report what they saw."""
import importlib.util
import sys
from pathlib import Path

import pytest

import nookslab
from nookslab.faults.trial import injectable_extensions

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_soak.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_soak", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module                  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def test_sixty_soak_trials_cover_every_extension_and_configuration_without_a_host_death(bench):
    soak = bench.run(60, workers=2, seed=500_000, memory_cap_mib=2048, batch=4)
    assert [r["index"] for r in soak.records] == list(range(60))
    assert {r["extension"] for r in soak.records} == set(injectable_extensions())
    assert {r["mode"] for r in soak.records} == set(nookslab.MODES)
    assert [r["seed"] for r in soak.records] == list(range(500_000, 500_060))
    assert soak.deaths == [] and soak.errors == []
    assert set(soak.outcomes) <= {"crash", "nonfatal", "none", "simulator-limit"}
    assert all(r["_host"]["cpu"] > 0 and r["_host"]["rss_kib"] > 0 for r in soak.records)
    text = bench.report(soak)
    for line in ("soak: 60 trials (9 extensions x 6 configurations, 5 faults each, seeds "
                 "500000..500059), 2 workers, memory cap 2048 MiB each",
                 "simulator errors: 0", "host deaths (worker processes that died; must be 0): 0",
                 "slowest 10 trials by wall-clock", "slowest 10 trials by CPU",
                 "peak worker memory (max RSS): "):
        assert line in text
    slowest = soak.slowest("cpu")
    assert len(slowest) == 10
    assert slowest[0]["_host"]["cpu"] == max(r["_host"]["cpu"] for r in soak.records)


def test_the_soak_runs_the_trials_the_campaign_would_run(bench):
    from nookslab.faults import run_trial
    task = bench.soak_tasks(20, 7)[13]
    assert (task.extension, task.mode, task.seed) == (injectable_extensions()[13 % 9],
                                                       nookslab.MODES[1], 20)
    soak = bench.run(1, workers=1, seed=20, memory_cap_mib=1024, batch=1)
    (record,) = soak.records
    again = run_trial(record["extension"], record["mode"], record["seed"], index=0).to_dict()
    assert {k: v for k, v in record.items() if k != "_host"} == again


def test_a_soak_saved_as_jsonl_reads_back_to_the_same_report(bench, tmp_path):
    path = tmp_path / "soak.jsonl"
    soak = bench.run(12, workers=2, seed=600_000, memory_cap_mib=2048, batch=3, jsonl=path)
    again = bench.load(path)
    assert again.records == soak.records and again.deaths == soak.deaths == []
    assert again.seed == 600_000 and again.trials == 12
    first = bench.report(again).splitlines()
    assert first[0] == bench.report(soak).splitlines()[0]
    assert "(estimated: the trials' own / workers)" in bench.report(again)
