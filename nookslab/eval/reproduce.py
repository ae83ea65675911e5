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


def _folder(out):
    """The :class:`~nookslab.eval.outputs.OutputFolder` for ``out`` (None: no files)."""
    if out is None:
        return None
    from .outputs import OutputFolder
    return out if isinstance(out, OutputFolder) else OutputFolder(out)


def _axes(ncols: int = 1, size=(7, 4)):
    """A new matplotlib figure and its axes, outside pyplot (no backend is touched)."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=size)
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes if ncols > 1 else axes[0]


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


def _figure(outcome: str, trials, seed, workers, json, out=None) -> int:
    folder = _folder(out)
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
    data = dict(table.to_dict(), campaign=result.config, **extra,
                simulator_errors=len(errors), simulator_limits=len(limits))
    if json is not None:
        Path(json).write_text(_json.dumps(data, indent=1))
    if folder is not None:
        name = "fig6" if outcome == "crash" else "fig7"
        folder.table(name, name, table.table(), data)
        fig, ax = _axes()
        table.plot(ax=ax)
        folder.figure(name, f"{name}-bars", fig, f"{table.title}: % of trials, ours and paper's")
    return 0


def fig6(trials: int | None = None, seed: int | None = None, workers: int | None = None,
         json=None, out=None) -> int:
    """Figure 6: system crashes, native vs Nooks, ours beside the paper's totals."""
    return _figure("crash", trials, seed, workers, json, out)


def fig7(trials: int | None = None, seed: int | None = None, workers: int | None = None,
         json=None, out=None) -> int:
    """Figure 7: non-fatal extension failures, ours beside the paper's totals."""
    return _figure("nonfatal", trials, seed, workers, json, out)


def manual(seed: int | None = None, json=None, out=None) -> int:
    """The manually injected bugs (SOSP'03 section 5.1): each should be detected and recovered."""
    from .manual import manual_bugs, run_manual
    folder = _folder(out)
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
    if folder is not None:
        from .tables import Table
        folder.table("manual", "manual", Table(
            ["extension", "bug", "native", "nooks detected", "nooks recovered", "nooks"],
            [[r["extension"], r["bug"], r["native"], r["detected"], r["recovered"], r["nooks"]]
             for r in rows], "Manually injected bugs (paper: all detected and recovered)"), rows)
    return 0


def vfat(trials: int | None = None, seed: int | None = None, json=None, out=None) -> int:
    """Share of VFAT recoveries that leave lost or corrupt files on disk (fsck errors, or
    accepted updates dropped), without and with sync-before-release."""
    from .manual import vfat_available, vfat_recovery_damage
    folder = _folder(out)
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
    if folder is not None:
        from .tables import Table
        rows = [[key.replace("_", " "), c["recoveries"], c["damaged"], c["fsck_errors"],
                 c["lost_updates"], "-" if c["share"] is None else f"{c['share']:.2f}",
                 f"{paper.VFAT_CORRUPTION[key]:.2f}"] for key, c in out.items()]
        folder.table("vfat", "vfat", Table(
            ["policy", "recoveries", "damaged", "fsck errors", "dropped updates", "share damaged",
             "paper share"], rows, "VFAT recoveries that left lost or corrupt files"), out)
        fig, ax = _axes(size=(5, 3.5))
        keys = list(out)
        ours = [100 * (out[k]["share"] or 0) for k in keys]
        theirs = [100 * paper.VFAT_CORRUPTION[k] for k in keys]
        xs = range(len(keys))
        ax.bar([x - 0.2 for x in xs], ours, 0.4, label="nookslab")
        ax.bar([x + 0.2 for x in xs], theirs, 0.4, label="paper (SOSP'03)")
        ax.set_xticks(list(xs), [k.replace("_", " ") for k in keys])
        ax.set_ylabel("% of recoveries leaving damage")
        ax.set_ylim(0, 100)
        ax.legend()
        folder.figure("vfat", "vfat-bars", fig, "VFAT recoveries leaving damage, ours and paper's")
    return 0


def table4(seed: int | None = None, json=None, out=None) -> int:
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
    folder = _folder(out)
    if folder is not None:
        folder.table("table4", "table4", table.table(), table.to_dict())
        folder.table("table4", "table4-receive-stream-xpcs", breakdown)
        fig, ax = _axes(size=(6, 4))
        table.plot(ax=ax)
        folder.figure("table4", "table4-plot", fig,
                      "Table 4: relative performance against XPC rate, ours and paper's")
    return 0


def table2(json=None, out=None) -> int:
    """Table 2: non-comment lines per Nooks component of nookslab, and figure 5's sharing."""
    from .loc import table2 as _table2
    table = _table2()
    print(table)
    if json is not None:
        Path(json).write_text(_json.dumps(table.to_dict(), indent=1))
    folder = _folder(out)
    if folder is not None:
        from .tables import Table
        data = table.to_dict()
        rows = [[c, v["ours"], v["paper"]] for c, v in data["rows"].items()]
        rows.append(["total", data["total"], data["paper_total"]])
        folder.table("table2", "table2", Table(["component", "nookslab lines", "paper lines"],
                                               rows, "Table 2: lines of code per component"),
                     data)
    return 0


def shadow(trials: int | None = None, seed: int | None = None, workers: int | None = None,
           json=None, out=None) -> int:
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
    data = {"comparison": comparison.to_dict(),
            "recoveries": {f"{e}/{m}": c for (e, m), c in result.recovery_counts().items()}}
    if json is not None:
        path = Path(json)
        path.write_text(_json.dumps(data, indent=1))
        fig, ax = _axes()
        plot_shadow(result, ax=ax)
        fig.savefig(path.with_suffix(".shadow.png"), dpi=100)
        fig, axes = _axes(3, size=(14, 4))
        comparison.plot(axes=axes)
        fig.savefig(path.with_suffix(".approaches.png"), dpi=100)
    folder = _folder(out)
    if folder is not None:
        folder.table("shadow", "shadow-approaches", comparison.table(), data)
        fig, ax = _axes()
        plot_shadow(result, ax=ax)
        folder.figure("shadow", "shadow-restart-vs-shadow", fig,
                      "Recoveries the application noticed: restart vs shadow drivers")
        fig, axes = _axes(3, size=(14, 4))
        comparison.plot(axes=axes)
        folder.figure("shadow", "shadow-approaches", fig,
                      "Table 1's approaches on the same faults and benchmarks")
    return 0
