"""The comparison of notebook 09: every configuration priced in performance *and* CPU time."""
import pytest

from nookslab.eval.comparison import compare
from nookslab.eval.performance import run_pair

ROWS = (("play-mp3", "sb"), ("send-stream", "e1000"))


@pytest.fixture(scope="module")
def comparison():
    return compare(trials=2, seed=0, workers=1, extensions=("sb",), rows=ROWS, seconds=0.02)


def test_every_configuration_has_a_cpu_figure_beside_each_relative_performance(comparison):
    for r in comparison.rows:
        assert set(r.cpu) == set(r.performance) == {"play-mp3", "send-stream"}
        assert all(0 < v <= 1 for v in r.cpu.values())


def test_the_native_row_shows_the_native_runs_cpu_and_isolation_costs_cpu_even_when_free(
        comparison):
    native, sfi = run_pair("send-stream", "e1000", seed=0, seconds=0.02, mode="sfi")
    assert comparison.row("native").cpu["send-stream"] == native.cpu_util
    assert comparison.row("sfi").cpu["send-stream"] == sfi.cpu_util
    # sfi keeps the throughput (rel. about 1) but not the CPU time: it must not read as free
    assert comparison.row("sfi").performance["send-stream"] > 0.98
    assert comparison.row("sfi").cpu["send-stream"] > comparison.row("native").cpu["send-stream"]


def test_the_table_names_its_columns_in_words_and_shows_as_html_not_a_raw_dict(comparison):
    text = str(comparison)
    head = text.splitlines()[1]
    assert "send-stream rel." in head and "send-stream CPU" in head and "unaware" in head
    assert "{" not in text.splitlines()[0]
    html = comparison._repr_html_()
    assert "<table" in html and "<pre>" not in html and "send-stream CPU" in html
    assert "noticed: the application saw an error" in html


def test_the_chart_shows_recoveries_the_application_did_not_notice(comparison):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig = comparison.plot()
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    plt.close(fig)
    assert labels == ["crash", "recovered, application noticed", "recovered, application unaware"]
    assert len(fig.axes) == 3
