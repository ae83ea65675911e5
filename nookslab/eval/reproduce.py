"""``nookslab reproduce fig6|fig7|manual|vfat``: the fault-injection results of SOSP'03 section 5;
``table4|table2``: the performance (section 5.2) and code-size (section 4) tables.

Every number printed here comes from runs; the paper's (from :mod:`nookslab.eval.paper`) is shown
beside it. Each entry point takes keyword options (``trials``, ``seed``, ``workers``, ``json``) and
returns an exit status.
"""
from __future__ import annotations

import json as _json
import os
import sys
from functools import lru_cache
from pathlib import Path

from . import paper


def fault_extensions() -> tuple[str, ...]:
    """The paper's five fault-injection extensions that are built (with a workload)."""
    from ..faults.trial import check_extension
    built = []
    for e in paper.FAULT_EXTENSIONS:
        try:
            built.append(check_extension(e))
        except ValueError:
            pass
    return tuple(built)


def _modes() -> tuple[str, ...]:
    from ..system import available_modes
    return tuple(m for m in ("native", "nooks") if m in available_modes())


@lru_cache(maxsize=4)
def campaign_result(trials: int, seed: int, workers: int, extensions: tuple, modes: tuple):
    """Run (once per process) the figure 6/7 campaign; fig6 and fig7 share it."""
    from ..faults import Campaign
    campaign = Campaign(extensions, trials=trials, seed=seed, modes=modes)
    return campaign.run_with_workers(workers, progress=sys.stderr.isatty())


def _figure(outcome: str, trials, seed, workers, json) -> int:
    trials = paper.TRIALS_PER_EXTENSION if trials is None else trials
    seed = 0 if seed is None else seed
    workers = workers or min(2, os.cpu_count() or 1)
    extensions = fault_extensions()
    note = ""
    if not extensions:
        extensions = ("null",)
        note = ("note: none of the paper's five extensions is built yet; running the example "
                "null driver instead")
    modes = _modes()
    print(f"fault injection: {len(extensions)} extension(s) x {trials} trials x "
          f"{len(modes)} mode(s), {paper.FAULTS_PER_TRIAL} faults per trial, seed {seed}")
    if note:
        print(note)
    if "nooks" not in modes:
        print("note: the nooks configuration is not built yet; native only")
    result = campaign_result(trials, seed, workers, extensions, modes)
    table = result.figure6() if outcome == "crash" else result.figure7()
    print(table)
    extra: dict = {}
    if outcome == "crash":
        for mode in modes:
            causes = result.crash_causes(mode)
            extra[f"crash_causes_{mode}"] = causes
            print(f"  crashes by cause ({mode}): "
                  + (", ".join(f"{k} {v}" for k, v in causes.items()) or "none"))
    else:
        for mode in modes:
            causes = result.failure_causes(mode)
            extra[f"failure_causes_{mode}"] = causes
            print(f"  non-fatal failures by cause ({mode}): "
                  + (", ".join(f"{k} {v}" for k, v in causes.items()) or "none"))
        for (e, m), c in result.recovery_counts().items():
            if m == "nooks":
                print(f"  {e}: nooks detected {c['detected']}, recovered {c['recovered']}, "
                      f"service restored {c['service_restored']}")
        extra["recoveries"] = {f"{e}/{m}": c for (e, m), c in result.recovery_counts().items()}
    errors = result.simulator_errors()
    limits = result.simulator_limits()
    print(f"  simulator errors: {len(errors)}; simulator limits (not in the figure): {len(limits)}")
    if json is not None:
        data = dict(table.to_dict(), campaign=result.config, **extra,
                    simulator_errors=len(errors), simulator_limits=len(limits))
        Path(json).write_text(_json.dumps(data, indent=1))
    return 0


def fig6(trials: int | None = None, seed: int | None = None, workers: int | None = None,
         json=None) -> int:
    """Figure 6: system crashes, native vs Nooks, ours beside the paper's totals."""
    return _figure("crash", trials, seed, workers, json)


def fig7(trials: int | None = None, seed: int | None = None, workers: int | None = None,
         json=None) -> int:
    """Figure 7: non-fatal extension failures, ours beside the paper's totals."""
    return _figure("nonfatal", trials, seed, workers, json)


def manual(seed: int | None = None, json=None) -> int:
    """The manually injected bugs (SOSP'03 section 5.1): each should be detected and recovered."""
    from .manual import manual_bugs, run_manual
    if "nooks" not in _modes():
        print("manual bugs: the nooks configuration is not built yet; nothing to show "
              "(this experiment checks that Nooks detects and recovers each bug)")
        return 0
    seed = 0 if seed is None else seed
    extensions = fault_extensions() or ("null",)
    rows = []
    print("manual bugs (paper: all detected and recovered)")
    for ext in extensions:
        for bug, faults in manual_bugs(ext, seed).items():
            if not faults:
                print(f"  {ext:<8} {bug:<30} no site in this driver")
                continue
            row = run_manual(ext, bug, faults, seed)
            rows.append(row)
            print(f"  {ext:<8} {bug:<30} native: {row['native']:<9} nooks: detected="
                  f"{row['detected']} recovered={row['recovered']} ({row['nooks']})")
    if json is not None:
        Path(json).write_text(_json.dumps(rows, indent=1))
    return 0


def vfat(trials: int | None = None, seed: int | None = None, json=None) -> int:
    """Share of VFAT recoveries that leave lost or corrupt files on disk (fsck errors, or
    accepted updates dropped), without and with sync-before-release."""
    from .manual import vfat_available, vfat_recovery_damage
    reason = vfat_available()
    if reason:
        print(f"vfat recovery errors: not available yet ({reason})")
        return 0
    trials = 100 if trials is None else trials
    seed = 0 if seed is None else seed
    out = {}
    for sync in (False, True):
        counts = vfat_recovery_damage(trials, seed, sync)
        recoveries, damaged = counts["recoveries"], counts["damaged"]
        share = damaged / recoveries if recoveries else None
        key = "with_sync" if sync else "without_sync"
        out[key] = dict(counts, share=share)
        shown = "-" if share is None else f"{share:.0%}"
        print(f"  {key:<13} recoveries {recoveries:>4}, left lost or corrupt files {damaged:>4} "
              f"({shown}: fsck errors {counts['fsck_errors']}, dropped updates "
              f"{counts['lost_updates']}); paper {paper.VFAT_CORRUPTION[key]:.0%}")
    if json is not None:
        Path(json).write_text(_json.dumps(out, indent=1))
    return 0


def table4(seed: int | None = None, json=None) -> int:
    """Table 4: relative performance, XPC rate and CPU per benchmark, ours beside the paper's."""
    import time
    from .performance import table4 as _table4
    t0 = time.perf_counter()
    from .performance import crossing_breakdown
    table = _table4(seed=0 if seed is None else seed)
    print(table)
    print(f"  (table4() took {time.perf_counter() - t0:.1f} s of wall-clock)")
    breakdown = crossing_breakdown(seed=0 if seed is None else seed)
    print()
    print(breakdown)
    if json is not None:
        Path(json).write_text(_json.dumps(table.to_dict(), indent=1))
    return 0


def table2(json=None) -> int:
    """Table 2: non-comment lines per Nooks component of nookslab, and figure 5's sharing."""
    from .loc import table2 as _table2
    table = _table2()
    print(table)
    if json is not None:
        Path(json).write_text(_json.dumps(table.to_dict(), indent=1))
    return 0


def shadow(trials: int | None = None, seed: int | None = None, workers: int | None = None,
           json=None) -> int:
    """Beyond Nooks: restart vs shadow drivers on the same faults, and Table 1's approaches as
    configurations (crashes, noticed recoveries, relative performance, CPU). With ``json``, the two
    plots are written beside it as PNG files."""
    import time
    from .beyond import compare, comparison_campaign, network_scenario, plot_shadow, shadow_table
    trials = 100 if trials is None else trials
    seed = 0 if seed is None else seed
    workers = (os.cpu_count() or 1) if workers is None else workers
    print("shadow drivers, OSDI'04 (paper, qualitative only): "
          + "; ".join(paper.SHADOW[k] for k in ("applications", "overhead", "limits")))
    print("one network failure in the middle of a TCP stream, after `ip link set address`:")
    for policy in ("restart", "shadow"):
        print(f"  {network_scenario(policy)}")
    t0 = time.perf_counter()
    result = comparison_campaign(trials, seed, workers, fault_extensions(),
                                 progress=sys.stderr.isatty())
    wall = time.perf_counter() - t0
    print(f"\nrestart vs shadow on the same faults ({trials} trials per extension, seed {seed}):")
    print(shadow_table(result))
    comparison = compare(campaign=result, seed=seed)
    print()
    print(comparison)
    print(f"  (campaign: {len(result.trials)} trials in {wall:.1f} s of wall-clock, "
          f"{workers} worker(s))")
    errors = result.simulator_errors()
    print(f"  simulator errors: {len(errors)}; simulator limits: {len(result.simulator_limits())}")
    if json is not None:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        path = Path(json)
        path.write_text(_json.dumps({"comparison": comparison.to_dict(),
                                     "recoveries": {f"{e}/{m}": c for (e, m), c in
                                                    result.recovery_counts().items()}},
                                    indent=1))
        ax = plot_shadow(result)
        ax.figure.savefig(path.with_suffix(".shadow.png"), dpi=100)
        fig = comparison.plot()
        fig.savefig(path.with_suffix(".approaches.png"), dpi=100)
        plt.close("all")
    return 0
