"""Wall-clock of fault injection: one trial (target <= 0.25 s) and the figure 6+7 campaign.

The full campaign is 5 extensions x 400 trials x 2 configurations with two worker processes
(target <= 60 s on the 2-core machine). By default this measures a scaled-down campaign and
extrapolates linearly (it says so), from the wall-clock seen and from the workers' CPU time
(what two otherwise idle cores would take: other jobs on a shared machine inflate the
wall-clock); ``--full`` runs the whole thing. Speed is reported, never
asserted. It also prints our figure 6/7 counts beside the paper's totals.

    python benchmarks/bench_faults.py [--trials N] [--full]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

from nookslab.eval import paper
from nookslab.eval.reproduce import fault_extensions
from nookslab.faults import Campaign, run_trial
from nookslab.system import available_modes


def single_trial(extensions, modes, repeats: int = 5) -> tuple[dict, dict]:
    """Median wall-clock and median process (CPU) time of one trial, per (extension, mode).

    Process time is what the trial itself costs; wall-clock adds whatever else shares the
    cores (on a busy machine wall-clock overstates it)."""
    times, cpu = {}, {}
    for e in extensions:
        for m in modes:
            samples, cpu_samples = [], []
            for seed in range(repeats):
                t0, c0 = time.perf_counter(), time.process_time()
                run_trial(e, m, seed=seed)
                samples.append(time.perf_counter() - t0)
                cpu_samples.append(time.process_time() - c0)
            times[(e, m)] = statistics.median(samples)
            cpu[(e, m)] = statistics.median(cpu_samples)
    return times, cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=40, help="trials per extension")
    parser.add_argument("--full", action="store_true", help="run all 400 trials per extension")
    args = parser.parse_args()
    extensions = fault_extensions() or ("null",)
    modes = tuple(m for m in ("native", "nooks") if m in available_modes())
    trials = paper.TRIALS_PER_EXTENSION if args.full else args.trials
    print(f"extensions: {', '.join(extensions)}; modes: {', '.join(modes)}")

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average (other jobs share the 2 cores): {load}")
    times, cpu = single_trial(extensions, modes)
    for (e, m), t in times.items():
        print(f"single trial {e:<8} {m:<6} {t * 1e3:7.1f} ms wall, {cpu[(e, m)] * 1e3:7.1f} ms "
              f"CPU (medians of 5)")
    print(f"single trial, worst median: {max(times.values()):.3f} s wall, "
          f"{max(cpu.values()):.3f} s CPU (target <= 0.25 s)")

    campaign = Campaign(extensions, trials=trials, seed=0, modes=modes)
    before = os.times()
    t0 = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        result = campaign.run(executor=pool, progress=False)
    elapsed = time.perf_counter() - t0
    after = os.times()            # the workers are reaped: their CPU time is in children_*
    cpu = (after.children_user - before.children_user
           + after.children_system - before.children_system)
    n = len(result.trials)
    full = 5 * paper.TRIALS_PER_EXTENSION * 2
    print(f"load average before the campaign: {load}")
    print(f"campaign: {n} trials in {elapsed:.1f} s with 2 workers ({elapsed / n * 1e3:.1f} ms/trial); "
          f"worker CPU {cpu:.1f} s ({cpu / n * 1e3:.1f} ms CPU/trial, so {cpu / 2:.1f} s on two "
          f"otherwise idle cores)")
    if n != full:
        print(f"extrapolated to the full campaign ({full} trials = 5 extensions x 400 x 2 modes): "
              f"{elapsed / n * full:.0f} s wall as measured here, {cpu / n * full / 2:.0f} s from "
              f"worker CPU on two idle cores (target <= 60 s) [extrapolated, not measured]")
    else:
        print(f"full campaign measured: {elapsed:.1f} s wall (target <= 60 s)")
    print(result.figure6())
    print(result.figure7())
    for mode in modes:
        print(f"crash causes ({mode}): {result.crash_causes(mode)}")
    print(f"simulator errors: {len(result.simulator_errors())}")


if __name__ == "__main__":
    main()
