"""Table 4 is computed from runs, in both configurations, with the cost model in force."""
from __future__ import annotations

import pytest

from nookslab.eval import paper, performance
from nookslab.eval.performance import ROWS, Table4Row, table4
from nookslab.machine.costs import CostModel
from nookslab.workloads.base import WorkloadResult

SECONDS = 0.01


def fake(mode, throughput=None, latency=None, xpcs=0, cpu=0.5):
    return WorkloadResult("w", "e", mode, 0, True, None, 0.1, 10, 1000, throughput, latency,
                          xpcs, xpcs / 0.1, cpu)


def test_relative_performance_is_by_latency_for_mp3_and_compile_and_throughput_otherwise(
        monkeypatch):
    def run_pair(benchmark, extension, seed, seconds, cost):
        return (fake("native", throughput=200.0, latency=1.0, cpu=0.25),
                fake("nooks", throughput=150.0, latency=4.0, xpcs=70, cpu=0.75))
    monkeypatch.setattr(performance, "run_pair", run_pair)
    t = table4()
    assert [r.benchmark for r in t.rows] == [b for b, _ in ROWS]
    for r in t.rows:
        expected = 0.25 if r.benchmark in ("play-mp3", "compile-local") else 0.75
        assert r.relative_performance == expected
        assert r.metric == paper.TABLE4[r.benchmark][5]
        assert (r.xpc_rate, r.cpu_native, r.cpu_nooks) == (700.0, 0.25, 0.75)
        assert r.difference == pytest.approx(expected - paper.TABLE4[r.benchmark][2])


def test_a_row_moves_when_the_cost_model_changes():
    rows = (("send-stream", "e1000"),)
    base = table4(seconds=SECONDS, rows=rows).rows[0]
    cheap = table4(seconds=SECONDS, rows=rows, cost=CostModel(tagged_tlb=True)).rows[0]
    dear = table4(seconds=SECONDS, rows=rows, cost=CostModel().but(xpc_tlb=30_000)).rows[0]
    assert dear.relative_performance < base.relative_performance < cheap.relative_performance
    assert base.cpu_native == cheap.cpu_native == dear.cpu_native       # native pays no XPCs
    assert base.xpc_rate > 0


def test_a_device_bound_row_idles_the_cpu_and_loses_nothing():
    r = table4(seconds=0.1, rows=(("play-mp3", "sb"),)).rows[0]
    assert r.relative_performance == pytest.approx(1.0, abs=0.01)
    assert 0 < r.cpu_native < 0.2 and 0 < r.cpu_nooks < 0.2
    assert 0 < r.xpc_rate < 2_000


def test_compile_local_does_the_same_job_in_both_configurations():
    native, nooks = performance.run_pair("compile-local", "vfat", 0, 0.02, None)
    assert native.operations == nooks.operations > 0
    assert nooks.latency > native.latency


def test_the_table_prints_renders_and_plots_ours_beside_the_papers():
    import matplotlib
    matplotlib.use("Agg")
    t = table4(seconds=SECONDS, rows=(("play-mp3", "sb"), ("send-stream", "e1000")))
    text = str(t)
    assert "send-stream" in text and "ordering by overhead" in text
    assert "<table" in t._repr_html_()
    d = t.to_dict()
    assert d["rows"][1]["paper"]["xpc_rate"] == paper.TABLE4["send-stream"][1]
    ax = t.plot()
    assert len(ax.collections) == 2
    assert isinstance(t.rows[0], Table4Row)


def test_on_the_defaults_every_row_is_within_a_tenth_of_the_papers_relative_performance():
    t = table4(seed=0)
    for r in t.rows:
        assert abs(r.difference) <= 0.10, (r.benchmark, r.relative_performance)
    # XPC rates within a factor of 2 of the paper's, but receive-stream's: its ACK transmits
    # (one ndo_start_xmit per two segments, Linux's delayed-ACK rule) are each a crossing,
    # several times the paper's whole rate for that row (see docs and eval/performance.py)
    for r in t.rows:
        if r.benchmark != "receive-stream":
            assert 0.5 <= r.xpc_ratio <= 2.0, (r.benchmark, r.xpc_rate)
    # the rows with the most overhead are the paper's: kHTTPd, then compile-local
    assert t.ordering()[-2:] == t.paper_ordering()[-2:]


def test_a_progress_bar_changes_nothing_in_the_table():
    from nookslab.eval.performance import table4 as make
    rows = (("play-mp3", "sb"),)
    quiet = make(seed=0, seconds=0.05, rows=rows)
    shown = make(seed=0, seconds=0.05, rows=rows, progress=True)
    assert quiet.to_dict() == shown.to_dict()
