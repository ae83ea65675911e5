"""Table 1's approaches side by side (notebook 09, ``nookslab reproduce shadow``): the same
fault-injection campaign and the same Table 4 benchmarks in every configuration of
:data:`~nookslab.nooks.approaches.APPROACHES`: crashes, non-fatal failures, recoveries the
application noticed or not, and what each costs: relative performance *and* CPU utilisation
(a configuration can keep the throughput and still spend the CPU's spare time on isolation).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..nooks.approaches import APPROACHES, DESCRIPTIONS
from . import paper
from .tables import ShownAsTable, Table

FIVE = ("sb", "e1000", "pcnet32", "vfat", "khttpd")


def comparison_campaign(trials: int = 100, seed: int = 0, workers: int = 2,
                        extensions=FIVE, modes=APPROACHES, progress: bool = False):
    """The fault-injection campaign in every configuration (same faults for each)."""
    from ..faults import Campaign
    campaign = Campaign(list(extensions), trials=trials, seed=seed, modes=tuple(modes))
    return campaign.run_with_workers(workers, progress=progress)


def relative_performance(mode: str, seed: int = 0, seconds: float | None = None,
                         rows=None) -> dict[str, float]:
    """Table 4's relative performance of ``mode`` against native, per benchmark (as the paper:
    by latency for play-mp3 and compile-local, by throughput for the rest)."""
    return performance_and_cpu(mode, seed, seconds, rows)[0]


def performance_and_cpu(mode: str, seed: int = 0, seconds: float | None = None,
                        rows=None) -> tuple[dict, dict, dict]:
    """Per benchmark: ``mode``'s relative performance against native, the CPU utilisation of the
    native run and of the run in ``mode`` (0..1). A configuration that keeps the throughput may
    still pay in CPU time: the second and third say what it cost."""
    from .performance import ROWS, run_pair
    perf, cpu_native, cpu = {}, {}, {}
    for benchmark, extension in rows or ROWS:
        native, other = run_pair(benchmark, extension, seed=seed, seconds=seconds, mode=mode)
        metric = paper.TABLE4[benchmark][5]
        perf[benchmark] = (native.latency / other.latency if metric == "latency"
                           else other.throughput / native.throughput)
        cpu_native[benchmark] = native.cpu_util
        cpu[benchmark] = other.cpu_util
    return perf, cpu_native, cpu


@dataclass
class ComparisonRow:
    mode: str
    system: str
    trials: int
    crash: int
    nonfatal: int
    none: int
    recovered: int
    app_noticed: int
    app_unaware: int
    performance: dict          # benchmark -> relative performance
    cpu: dict = field(default_factory=dict)     # benchmark -> CPU utilisation (0..1)

    @property
    def mean_performance(self) -> float:
        vals = list(self.performance.values())
        return sum(vals) / len(vals) if vals else float("nan")


#: What each column of the comparison means (printed under it).
COLUMNS = (
    "crashes: trials in which the kernel crashed (panic or hang).",
    "prevented: the share of native's crashes that did not crash in this configuration "
    "(the same faults).",
    "non-fatal: trials in which the kernel lived but the driver's work failed.",
    "recovered: trials in which the driver failed, was detected and restarted; of those, "
    "noticed: the application saw an error (its workload failed or had to be run again); "
    "unaware: it did not (the shadow driver hid the failure).",
    "rel.: the benchmark's throughput (latency for play-mp3 and compile-local) relative to "
    "native, 1.00 = no loss; CPU: the share of the CPU the benchmark kept busy (native's in the "
    "native row). A configuration can keep rel. at 1.00 and still pay in CPU.",
)


@dataclass
class Comparison(ShownAsTable):
    """Crashes, non-fatal failures, noticed recoveries, relative performance and CPU per mode."""
    # IPython prefers a __repr__ defined lower in the MRO (the dataclass's) to an inherited
    # _repr_pretty_: name it here so a notebook shows the table
    _repr_pretty_ = ShownAsTable._repr_pretty_

    rows: list
    config: dict

    def row(self, mode: str) -> ComparisonRow:
        return next(r for r in self.rows if r.mode == mode)

    def prevented(self, mode: str) -> float:
        """Share of native crashes that did not crash in ``mode`` (same faults)."""
        base = self.row("native").crash
        return (base - self.row(mode).crash) / base if base else float("nan")

    def to_dict(self) -> dict:
        return {"config": self.config, "rows": [asdict(r) | {"mean_performance":
                                                            r.mean_performance}
                                                for r in self.rows]}

    @property
    def title(self) -> str:
        c = self.config
        secs = c.get("seconds")
        return (f"Beyond Nooks: {c['trials']} trials per configuration and extension "
                f"({', '.join(c['extensions'])}), {c['faults_per_trial']} faults per trial, "
                f"seed {c['seed']}; benchmarks run "
                + (f"{secs} simulated s each" if secs else "Table 4's lengths"))

    def table(self) -> Table:
        """The comparison as a :class:`~nookslab.eval.tables.Table` (what prints and shows)."""
        benches = list(self.rows[0].performance) if self.rows else []
        columns = ["configuration", "crashes", "prevented", "non-fatal", "recovered", "noticed",
                   "unaware"]
        for b in benches:
            columns += [f"{b} rel.", f"{b} CPU"]
        rows = []
        for r in self.rows:
            prev = self.prevented(r.mode)
            cells = [r.mode, r.crash, "-" if prev != prev else f"{prev:.0%}", r.nonfatal,
                     r.recovered, r.app_noticed, r.app_unaware]
            for b in benches:
                cpu = r.cpu.get(b)
                cells += [f"{r.performance[b]:.2f}", "-" if cpu is None else f"{cpu:.0%}"]
            rows.append(cells)
        return Table(columns, rows, self.title, list(COLUMNS))

    def plot(self, axes=None):
        """Three panels per configuration: what the faults did (crashes, recoveries the
        application noticed, recoveries it did not), relative performance and CPU utilisation
        on each benchmark."""
        import matplotlib.pyplot as plt
        import numpy as np
        if axes is None:
            fig, axes = plt.subplots(1, 3, figsize=(14, 4))
        else:
            fig = axes[0].figure
        modes = [r.mode for r in self.rows]
        crash = np.array([r.crash for r in self.rows])
        noticed = np.array([r.app_noticed for r in self.rows])
        axes[0].bar(modes, crash, color="tab:red", label="crash")
        axes[0].bar(modes, noticed, bottom=crash, color="tab:orange",
                    label="recovered, application noticed")
        axes[0].bar(modes, [r.app_unaware for r in self.rows], bottom=crash + noticed,
                    color="tab:green", label="recovered, application unaware")
        axes[0].set_ylabel("trials")
        axes[0].set_title("same faults, each configuration", fontsize=9)
        axes[0].legend(fontsize=7)
        benches = list(self.rows[0].performance) if self.rows else []
        x = np.arange(len(modes))
        width = 0.8 / max(len(benches), 1)
        for i, b in enumerate(benches):
            offset = (i - (len(benches) - 1) / 2) * width
            axes[1].bar(x + offset, [r.performance[b] for r in self.rows], width, label=b)
            axes[2].bar(x + offset, [100 * r.cpu.get(b, 0.0) for r in self.rows], width, label=b)
        axes[1].set_ylim(0, 1.1)
        axes[1].set_ylabel("relative performance (native = 1)")
        axes[1].set_title("same benchmarks: performance", fontsize=9)
        axes[2].set_ylim(0, 100)
        axes[2].set_ylabel("CPU utilisation (%)")
        axes[2].set_title("same benchmarks: CPU time they cost", fontsize=9)
        for ax in axes:
            ax.set_xticks(x, modes)
            ax.tick_params(axis="x", labelrotation=30, labelsize=8)
        for ax in axes[1:]:
            ax.legend(fontsize=7)
        fig.tight_layout()
        return fig


def compare(trials: int = 100, seed: int = 0, workers: int = 2, extensions=FIVE,
            modes=APPROACHES, seconds: float | None = None, rows=None, campaign=None,
            progress: bool = False) -> Comparison:
    """Run the comparison: the campaign (or reuse ``campaign``) and the performance rows
    (relative performance and CPU utilisation of each benchmark in each configuration).

    ``progress``: a progress bar over the campaign's trials and then the configurations'
    benchmark runs (tqdm)."""
    result = campaign or comparison_campaign(trials, seed, workers, extensions, modes, progress)
    measured: dict[str, tuple] = {}
    bar = _bar(len(modes), progress, "benchmarks")
    for mode in modes:
        if mode != "native":
            measured[mode] = performance_and_cpu(mode, seed, seconds, rows)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    native_cpu = next(iter(measured.values()))[1] if measured else \
        performance_and_cpu("native", seed, seconds, rows)[1]
    out = []
    for mode in modes:
        ts = [t for t in result.trials if t.mode == mode]
        if mode == "native":
            perf, cpu = {b: 1.0 for b in _benchmarks(rows)}, native_cpu
        else:
            perf, _, cpu = measured[mode]
        out.append(ComparisonRow(mode, DESCRIPTIONS[mode].system, len(ts),
                                 sum(t.outcome == "crash" for t in ts),
                                 sum(t.outcome == "nonfatal" for t in ts),
                                 sum(t.outcome == "none" for t in ts),
                                 sum(t.recovered for t in ts),
                                 sum(t.app_noticed is True for t in ts),
                                 sum(t.app_noticed is False for t in ts), perf, cpu))
    config = dict(result.config, seconds=seconds)
    return Comparison(out, config)


def _bar(total: int, enabled: bool, desc: str):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:                            # tqdm is a dependency; stay usable without it
        return None
    return tqdm(total=total, desc=desc, unit="configuration")


def _benchmarks(rows):
    from .performance import ROWS
    return [b for b, _ in (rows or ROWS)]


