"""Beyond Nooks: shadow drivers, and Table 1's other approaches side by side (notebook 09).

Three experiments, every number from runs:

- :func:`network_scenario`: one network driver fails (fail-stop, transient) in the middle of a TCP
  stream after the administrator set its MAC address; under ``restart`` and under ``shadow``:
  does the interface keep its configuration, does the stream go on without an error?
- :func:`compare` (in :mod:`nookslab.eval.comparison`, importable from here): the same
  fault-injection campaign (the paper's five extensions) and the same Table 4 benchmarks in every
  configuration of :data:`~nookslab.nooks.approaches.APPROACHES`: crashes, non-fatal failures,
  recoveries the application noticed, relative performance and CPU utilisation.
- :func:`fault_matrix`: single-fault trials of each fault type in each configuration: which
  fault types still crash the system, per approach, beside what its protection model claims
  (:data:`CLAIMS`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..kernel.errno import with_names
from ..nooks.approaches import APPROACHES
# The comparison lives in its own module; its names stay importable from here.
from .comparison import (FIVE, COLUMNS, Comparison, ComparisonRow,  # noqa: F401
                         compare, comparison_campaign, performance_and_cpu, relative_performance)
from .tables import ShownAsTable, Table

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
                + (f" ({with_names(self.stream_failure)})" if self.stream_failure else "")
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
class FaultMatrix(ShownAsTable):
    """Crashes per (fault type, configuration) from single-fault trials, and the claims."""
    # IPython prefers a __repr__ defined lower in the MRO (the dataclass's) to an inherited
    # _repr_pretty_: name it here so a notebook shows the table
    _repr_pretty_ = ShownAsTable._repr_pretty_

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

    def table(self) -> Table:
        columns = ["fault type", "trials"] + list(self.modes)
        rows = [[t, self.trials[t]] + [f"{self.crashes[(t, m)]}{'*' if t in CLAIMS[m] else ''}"
                                        for m in self.modes] for t in self.types]
        return Table(columns, rows, "Crashes per fault type and configuration",
                     ["* = the configuration's protection model claims to contain this fault "
                      "type's crashes (CLAIMS in nookslab.eval.beyond)."],
                     align="l" + "r" * (len(columns) - 1))



def fault_matrix(trials: int = 10, seed: int = 0, extensions=("e1000", "sb"),
                 types=None, modes=APPROACHES, progress: bool = False) -> FaultMatrix:
    """``trials`` single-fault trials per fault type and extension, in every configuration
    (``progress``: a progress bar over the fault types, tqdm)."""
    import numpy as np

    from ..faults.injector import generate
    from ..faults.trial import fault_rng, run_trial
    from ..faults.types import FAULT_TYPES
    types = list(types or FAULT_TYPES)
    crashes = {(t, m): 0 for t in types for m in modes}
    counts = dict.fromkeys(types, 0)
    order = types
    if progress:
        from tqdm.auto import tqdm
        order = tqdm(types, desc="fault types", unit="type")
    for t in order:
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
