"""Beyond Nooks: shadow drivers, and Table 1's other approaches side by side (notebook 09).

Three experiments, every number from runs:

- :func:`network_scenario`: one network driver fails (fail-stop, transient) in the middle of a TCP
  stream after the administrator set its MAC address; under ``restart`` and under ``shadow``:
  does the interface keep its configuration, does the stream go on without an error?
- :func:`compare`: the same fault-injection campaign (the paper's five extensions) and the same
  Table 4 benchmarks in every configuration of :data:`~nookslab.nooks.approaches.APPROACHES`:
  crashes, non-fatal failures, recoveries the application noticed, relative performance.
- :func:`fault_matrix`: single-fault trials of each fault type in each configuration: which
  fault types still crash the system, per approach, beside what its protection model claims
  (:data:`CLAIMS`).
"""
from __future__ import annotations

import html
from dataclasses import asdict, dataclass, field

from ..nooks.approaches import APPROACHES, DESCRIPTIONS
from . import paper

#: What each protection model claims to contain (SOSP'03 section 5, Table 1; see
#: nookslab/nooks/approaches.py): the fault types whose *crashes* it is built to turn into a
#: recovered driver failure. Hangs with interrupts off (IRQ, SYNC, LOOP in a lock) are beyond
#: every in-kernel approach; a driver process cannot turn interrupts off, so for it a hang is a
#: timeout the kernel recovers from.
CLAIMS = {
    "native": (),
    "nooks": ("PTR", "BCOPY", "FREE", "ALLOC", "INTERFACE", "INIT"),
    "nooks+shadow": ("PTR", "BCOPY", "FREE", "ALLOC", "INTERFACE", "INIT"),
    "user-level": ("PTR", "BCOPY", "FREE", "ALLOC", "INTERFACE", "INIT", "IRQ", "SYNC", "LOOP"),
    "sfi": ("PTR", "BCOPY", "FREE", "ALLOC", "INTERFACE", "INIT"),
    "safe-language": ("PTR", "BCOPY", "FREE", "ALLOC", "INTERFACE", "INIT"),
}
FIVE = ("sb", "e1000", "pcnet32", "vfat", "khttpd")


# -- 1. restart vs shadow on one network failure ------------------------------------------------
@dataclass
class ScenarioResult:
    """One run of :func:`network_scenario`."""

    policy: str
    stream_ok: bool
    stream_failure: str | None
    mac_set: str
    mac_after: str
    up_after: bool
    ip_kept: bool
    recoveries: list = field(default_factory=list)      # one line per recovery
    gave_up: bool = False

    @property
    def app_noticed(self) -> bool:
        return not self.stream_ok

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return (f"policy {self.policy}: stream {'ok' if self.stream_ok else 'FAILED'}"
                + (f" ({self.stream_failure})" if self.stream_failure else "")
                + f"; MAC set {self.mac_set}, after recovery {self.mac_after}; interface "
                f"{'up' if self.up_after else 'down'}, address "
                f"{'kept' if self.ip_kept else 'lost'}; {len(self.recoveries)} recovery(ies)"
                + ("; gave up" if self.gave_up else ""))


MAC = bytes([0x02, 0x00, 0x5E, 0x10, 0x20, 0x30])       # a locally administered address


def network_scenario(policy: str = "shadow", extension: str = "e1000", seed: int = 1,
                     fail_at: float = 0.003, seconds: float = 0.01,
                     recurring=None) -> ScenarioResult:
    """Set ``extension``'s MAC address, stream over it, and fail the driver ``fail_at`` simulated
    seconds into the stream (the failure Nooks detects is fail-stop: the domain is stopped).

    ``policy``: the recovery policy (``"restart"`` or ``"shadow"``). ``recurring``: faults the
    driver binary carries, reloaded with it at every restart (a deterministic bug; then every
    reload fails again and the policy's restart limit must end it).
    """
    from .. import boot
    from ..kernel.net.netdevice import NET_DEVICE
    from ..nooks.recovery import check_policy
    check_policy(policy)
    k = boot(mode="nooks", seed=seed)
    iso = k.isolation
    iso.recovery.agent.policy = policy
    if recurring:
        iso.recovery.agent.reload_options[extension] = {"faults": tuple(recurring)}
    k.load(extension)
    net = k.subsystems["net"]
    nd = net.by_owner(extension)
    proc = k.spawn("ip")

    def set_mac():
        buf = k.heap.kmalloc(16)
        k.mmu.write(buf, b"\0\0" + MAC + bytes(8))
        ret = nd.ops.ndo_set_mac_address(nd.addr, buf)
        k.heap.kfree(buf)
        return ret

    k.syscall(proc, set_mac)
    warm = k.run("send-stream", seconds=0.002)
    ip = nd.ip
    if not warm.ok:
        raise RuntimeError(f"{extension} does not stream before the failure: {warm.failure}")
    if recurring:
        k.unload(extension)
        k.load(extension, faults=tuple(recurring))
        k.guard(lambda: k.syscall(proc, set_mac) if net.by_owner(extension) else None)
    else:
        def fail():
            domain = iso.domain_of.get(extension)
            if domain is not None and not domain.failed:
                iso.recovery.detected(domain, "fault", "transient failure (scenario)")
        k.clock.schedule(k.clock.cycles(fail_at), fail, label="scenario failure")
    r = k.run("send-stream", seconds=seconds)
    after = net.by_owner(extension)
    mac_after = k.mmu.read(after.addr + NET_DEVICE.dev_addr, 6).hex(":") if after else "-"
    return ScenarioResult(policy, r.ok, r.failure, MAC.hex(":"), mac_after,
                          bool(after and after.up), bool(after and after.ip == ip),
                          [str(rec).splitlines()[0] for rec in k.recoveries],
                          any(rec.policy == "disable" for rec in k.recoveries))


def sound_scenario(policy: str = "shadow", extension: str = "sb", seed: int = 1,
                   fail_at: float = 0.05, seconds: float = 0.2):
    """Play an MP3 and fail the sound driver ``fail_at`` simulated seconds in; return
    (workload result, recovery records). Under ``shadow`` the player's writes go on (the open
    file is reopened and its OSS configuration replayed); the samples that were in the card's
    ring at the failure are lost, which the player's end-to-end check reports."""
    from .. import boot
    from ..nooks.recovery import check_policy
    check_policy(policy)
    k = boot(mode="nooks", seed=seed)
    iso = k.isolation
    iso.recovery.agent.policy = policy
    k.load(extension)

    def fail():
        domain = iso.domain_of.get(extension)
        if domain is not None and not domain.failed:
            iso.recovery.detected(domain, "fault", "transient failure (scenario)")
    k.clock.schedule(k.clock.cycles(fail_at), fail, label="scenario failure")
    return k.run("play-mp3", seconds=seconds), list(k.recoveries)


# -- 2. the comparison: the same campaign and benchmarks in every configuration -----------------
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
    from .performance import ROWS, run_pair
    out = {}
    for benchmark, extension in rows or ROWS:
        native, other = run_pair(benchmark, extension, seed=seed, seconds=seconds, mode=mode)
        metric = paper.TABLE4[benchmark][5]
        out[benchmark] = (native.latency / other.latency if metric == "latency"
                          else other.throughput / native.throughput)
    return out


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

    @property
    def mean_performance(self) -> float:
        vals = list(self.performance.values())
        return sum(vals) / len(vals) if vals else float("nan")


@dataclass
class Comparison:
    """Crashes, non-fatal failures, noticed recoveries and relative performance per mode."""

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

    def __str__(self) -> str:
        benches = list(self.rows[0].performance) if self.rows else []
        head = (f"{'configuration':<14}{'crash':>6}{'prevented':>10}{'nonfatal':>9}"
                f"{'recovered':>10}{'noticed':>8}{'unaware':>8}{'rel.perf':>9}  "
                + " ".join(f"{b[:10]:>10}" for b in benches))
        lines = [f"Beyond Nooks: {self.config}", head, "-" * len(head)]
        for r in self.rows:
            prev = self.prevented(r.mode)
            lines.append(f"{r.mode:<14}{r.crash:>6}{prev:>10.0%}{r.nonfatal:>9}{r.recovered:>10}"
                         f"{r.app_noticed:>8}{r.app_unaware:>8}{r.mean_performance:>9.2f}  "
                         + " ".join(f"{r.performance[b]:>10.2f}" for b in benches))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return "<pre>" + html.escape(str(self)) + "</pre>"

    def plot(self, axes=None):
        """Crashes prevented (bars) and mean relative performance (bars), per configuration."""
        import matplotlib.pyplot as plt
        if axes is None:
            fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        else:
            fig = axes[0].figure
        modes = [r.mode for r in self.rows]
        axes[0].bar(modes, [r.crash for r in self.rows], color="tab:red", label="crashes")
        axes[0].bar(modes, [r.app_noticed for r in self.rows], bottom=[r.crash for r in self.rows],
                    color="tab:orange", label="recovered, application noticed")
        axes[0].set_ylabel("trials")
        axes[0].set_title("same faults, each configuration", fontsize=9)
        axes[0].legend(fontsize=8)
        axes[1].bar(modes, [r.mean_performance for r in self.rows], color="tab:blue")
        axes[1].set_ylim(0, 1.1)
        axes[1].set_ylabel("mean relative performance (Table 4 workloads)")
        axes[1].set_title("same benchmarks, each configuration", fontsize=9)
        for ax in axes:
            ax.tick_params(axis="x", labelrotation=30, labelsize=8)
        fig.tight_layout()
        return fig


def compare(trials: int = 100, seed: int = 0, workers: int = 2, extensions=FIVE,
            modes=APPROACHES, seconds: float | None = None, rows=None, campaign=None,
            progress: bool = False) -> Comparison:
    """Run the comparison: the campaign (or reuse ``campaign``) and the performance rows."""
    result = campaign or comparison_campaign(trials, seed, workers, extensions, modes, progress)
    out = []
    for mode in modes:
        ts = [t for t in result.trials if t.mode == mode]
        perf = ({b: 1.0 for b in _benchmarks(rows)} if mode == "native"
                else relative_performance(mode, seed, seconds, rows))
        out.append(ComparisonRow(mode, DESCRIPTIONS[mode].system, len(ts),
                                 sum(t.outcome == "crash" for t in ts),
                                 sum(t.outcome == "nonfatal" for t in ts),
                                 sum(t.outcome == "none" for t in ts),
                                 sum(t.recovered for t in ts),
                                 sum(t.app_noticed is True for t in ts),
                                 sum(t.app_noticed is False for t in ts), perf))
    config = dict(result.config, seconds=seconds)
    return Comparison(out, config)


def _benchmarks(rows):
    from .performance import ROWS
    return [b for b, _ in (rows or ROWS)]


# -- restart vs shadow on the same faults ------------------------------------------------------
def shadow_table(result) -> str:
    """Per extension: recoveries and whether the application noticed, restart vs shadow."""
    head = (f"{'extension':<10}{'policy':<14}{'recovered':>10}{'app noticed':>12}"
            f"{'app unaware':>12}{'crash':>6}")
    lines = [head, "-" * len(head)]
    counts = result.recovery_counts()
    outcomes = result.counts()
    for e in result.config["extensions"]:
        for m, label in (("nooks", "restart"), ("nooks+shadow", "shadow")):
            if (e, m) not in counts:
                continue
            c = counts[(e, m)]
            lines.append(f"{e:<10}{label:<14}{c['recovered']:>10}{c['app_noticed']:>12}"
                         f"{c['app_unaware']:>12}{outcomes[(e, m)]['crash']:>6}")
    return "\n".join(lines)


def plot_shadow(result, ax=None):
    """Recoveries the application noticed, restart beside shadow, per extension."""
    import matplotlib.pyplot as plt
    import numpy as np
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    exts = list(result.config["extensions"])
    counts = result.recovery_counts()
    x = np.arange(len(exts))
    for i, (m, label) in enumerate((("nooks", "restart"), ("nooks+shadow", "shadow"))):
        noticed = [counts.get((e, m), {}).get("app_noticed", 0) for e in exts]
        unaware = [counts.get((e, m), {}).get("app_unaware", 0) for e in exts]
        ax.bar(x + (i - 0.5) * 0.38, noticed, 0.38, label=f"{label}: application noticed",
               color=("tab:red", "tab:orange")[i])
        ax.bar(x + (i - 0.5) * 0.38, unaware, 0.38, bottom=noticed,
               label=f"{label}: application unaware", color=("tab:green", "tab:olive")[i])
    ax.set_xticks(x, exts)
    ax.set_ylabel("trials with a recovery")
    ax.set_title("restart vs shadow drivers on the same faults", fontsize=9)
    ax.legend(fontsize=7)
    return ax


# -- 3. fault type x approach --------------------------------------------------------------------
@dataclass
class FaultMatrix:
    """Crashes per (fault type, configuration) from single-fault trials, and the claims."""

    types: list
    modes: list
    trials: dict        # fault type -> trials per configuration
    crashes: dict       # (fault type, mode) -> crashes
    config: dict

    def blocked(self, ftype: str, mode: str) -> bool:
        """Whether ``mode`` left no crash of ``ftype`` where native had some."""
        return self.crashes[(ftype, "native")] > 0 and self.crashes[(ftype, mode)] == 0

    def to_dict(self) -> dict:
        return {"config": self.config, "types": self.types, "modes": self.modes,
                "crashes": {f"{t}/{m}": n for (t, m), n in self.crashes.items()}}

    def __str__(self) -> str:
        head = f"{'fault':<10}{'trials':>7}" + "".join(f"{m[:12]:>14}" for m in self.modes)
        lines = ["crashes per fault type and configuration (* = the model claims it)", head,
                 "-" * len(head)]
        for t in self.types:
            cells = "".join(f"{self.crashes[(t, m)]:>13}{'*' if t in CLAIMS[m] else ' '}"
                            for m in self.modes)
            lines.append(f"{t:<10}{self.trials[t]:>7}{cells}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return "<pre>" + html.escape(str(self)) + "</pre>"


def fault_matrix(trials: int = 10, seed: int = 0, extensions=("e1000", "sb"),
                 types=None, modes=APPROACHES) -> FaultMatrix:
    """``trials`` single-fault trials per fault type and extension, in every configuration."""
    import numpy as np

    from ..faults.injector import generate
    from ..faults.trial import fault_rng, run_trial
    from ..faults.types import FAULT_TYPES
    types = list(types or FAULT_TYPES)
    crashes = {(t, m): 0 for t in types for m in modes}
    counts = dict.fromkeys(types, 0)
    for t in types:
        for e in extensions:
            rng = np.random.default_rng(fault_rng(e, seed).integers(2**32) + len(t))
            for i in range(trials):
                try:
                    faults = generate(e, 1, rng, types=(t,))
                except ValueError:
                    break
                counts[t] += 1
                for m in modes:
                    r = run_trial(e, m, seed=seed + i, faults=faults)
                    crashes[(t, m)] += r.outcome == "crash"
    return FaultMatrix(types, list(modes), counts, crashes,
                       dict(trials=trials, seed=seed, extensions=list(extensions)))
