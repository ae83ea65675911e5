"""How fast the interactive views answer (wall-clock on the host; issue 7's targets).

    python benchmarks/bench_widgets.py

* one trial from the fault-injection panel, as a click on "next seed" runs it (a new seed, so new
  faults: the loader's cache of compiled drivers does not help): the trial, its story, and (in the
  dashboard row) every view re-rendered. Target: at most 0.25 s.
* a typed seed (the panel's observer: the old result marked stale, the trial run again, the
  fault list described afresh): the same target.
* the memory map of a 16 MiB machine (4096 pages): colours, the fault mark, PNG encoding and the
  legend, cropped to the pages in use or all of it. Target: at most 0.5 s.
* the campaign explorer drawing a 60-trials-per-configuration campaign: target 0.25 s.

Each figure is the best and the median of ``repeat`` runs.
"""
from __future__ import annotations

import statistics
import time

TRIAL_TARGET = 0.25
MEMMAP_TARGET = 0.5


def _times(fn, repeat: int) -> tuple[float, float]:
    from nookslab.faults.describe import _describe
    fn()                                          # warm caches (driver source, imports)
    samples = []
    for _ in range(repeat):
        _describe.cache_clear()                   # each click describes its faults afresh
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return min(samples), statistics.median(samples)


def measure(repeat: int = 5, extensions=None) -> list[tuple[str, float, float, float]]:
    """Rows of (what, best s, median s, target s)."""
    import nookslab as nl
    from nookslab.widgets import FaultPanel, MemoryMap, dashboard
    from nookslab.widgets.panel import injectable_extensions

    rows = []
    # The crash case of the tests: one PTR fault in the null driver, seed 14.
    for mode in ("native", "nooks", "both"):
        panel = FaultPanel(extension="null", mode=mode, seed=14, faults=("PTR",), run=False)
        best, med = _times(panel.next_seed, repeat)
        rows.append((f"panel next seed null/{mode} (PTR)", best, med, TRIAL_TARGET))
    panel = FaultPanel(extension="null", mode="both", seed=14, faults=("PTR",))

    def type_a_seed():
        panel.seed.value = int(panel.seed.value) + 1
    best, med = _times(type_a_seed, repeat)
    rows.append(("panel seed typed null/both (stale, re-run)", best, med, TRIAL_TARGET))
    board = dashboard(extension="null", mode="nooks", seed=14, faults=("PTR",))
    best, med = _times(board.panel.next_seed, repeat)
    rows.append(("dashboard next seed null/nooks + all views", best, med, TRIAL_TARGET))
    for ext in extensions if extensions is not None else injectable_extensions():
        if ext == "null":
            continue
        panel = FaultPanel(extension=ext, mode="nooks", seed=0, faults=("PTR",), run=False)
        best, med = _times(panel.next_seed, repeat)
        rows.append((f"panel next seed {ext}/nooks (PTR)", best, med, TRIAL_TARGET))

    run = FaultPanel(extension="null", mode="nooks", seed=14, faults=("PTR",)).runs[0]
    kernel = run.kernel
    assert len(kernel.machine.pages.owner) == 4096            # 16 MiB of 4 KiB pages
    view = MemoryMap()
    best, med = _times(lambda: view.show(kernel), repeat)
    rows.append(("memory map 16 MiB, pages in use (fault marked)", best, med, MEMMAP_TARGET))
    view.extent.value = "all memory"
    best, med = _times(view.render, repeat)
    rows.append(("memory map 16 MiB, all pages (fault marked)", best, med, MEMMAP_TARGET))
    view.colour_by.value = "write permission"
    best, med = _times(view.render, repeat)
    rows.append(("memory map 16 MiB, write permission", best, med, MEMMAP_TARGET))
    big = nl.boot(mode="nooks", seed=0, memory=64 << 20)
    big.load("null")
    best, med = _times(lambda: view.show(big), repeat)
    rows.append(("memory map 64 MiB, write permission (no target)", best, med, float("nan")))

    from nookslab.faults import Campaign
    from nookslab.widgets import CampaignExplorer
    result = Campaign(["null"], trials=60, seed=0).run(progress=False)
    explorer = CampaignExplorer()
    best, med = _times(lambda: explorer.show(result), repeat)
    rows.append(("campaign explorer, 60 trials x 2 configurations", best, med, TRIAL_TARGET))
    return rows


def main() -> None:
    rows = measure()
    print(f"{'what':<52}{'best s':>9}{'median s':>10}{'target s':>10}  ok")
    for what, best, med, target in rows:
        ok = "" if target != target else ("yes" if med <= target else "NO")
        print(f"{what:<52}{best:>9.3f}{med:>10.3f}{target:>10.2f}  {ok}")


if __name__ == "__main__":
    main()
