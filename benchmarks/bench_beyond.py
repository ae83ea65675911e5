"""The comparison campaign of "beyond Nooks": six configurations x the paper's five extensions.

    python benchmarks/bench_beyond.py [--trials 100] [--workers 2]

Reports the wall-clock of the campaign (target: at most 90 s with two workers, 100 trials per
extension) and the process time per trial of a serial sample (what the lead re-measures on an
idle machine: wall-clock is unreliable while the machine is shared).
"""
from __future__ import annotations

import argparse
import time


def main() -> None:
    from nookslab.eval.beyond import FIVE, comparison_campaign
    from nookslab.faults import run_trial
    from nookslab.faults.campaign import Campaign
    from nookslab.nooks.approaches import APPROACHES
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sample", type=int, default=4, help="serial trials per ext and mode")
    args = parser.parse_args()
    sample = Campaign(list(FIVE), trials=args.sample, modes=APPROACHES)
    per_mode = {}
    for task in sample.tasks():
        t0 = time.process_time()
        run_trial(task.extension, task.mode, task.seed)
        per_mode.setdefault(task.mode, []).append(time.process_time() - t0)
    total = sum(sum(v) for v in per_mode.values()) / sum(len(v) for v in per_mode.values())
    print("process time per trial (serial sample):")
    for mode, times in per_mode.items():
        print(f"  {mode:<14} {sum(times) / len(times) * 1e3:7.1f} ms")
    print(f"  {'all':<14} {total * 1e3:7.1f} ms -> {6 * 5 * args.trials} trials = "
          f"{6 * 5 * args.trials * total:.0f} s of CPU")
    t0 = time.perf_counter()
    result = comparison_campaign(args.trials, 0, args.workers)
    wall = time.perf_counter() - t0
    print(f"campaign: {len(result.trials)} trials, {args.workers} workers, {wall:.1f} s wall "
          f"(target 90 s); simulator errors {len(result.simulator_errors())}")


if __name__ == "__main__":
    main()
