"""A soak of random fault-injection trials: does anything take the host down, and how slow is the
worst trial? Run: ``python benchmarks/bench_soak.py [--trials N] [--workers W] [--seed S]
[--memory-cap MIB] [--jsonl PATH]``.

Trial ``i`` runs extension ``i mod 9`` (the paper's eight and the example ``null`` driver) in
configuration ``(i div 9) mod 6`` (every one of ``nookslab.MODES``), with 5 random faults and seed
``S + i``, on ``W`` worker processes whose address space is capped (``--memory-cap``). Trials go
through the campaign's worker pool (:mod:`nookslab.faults.pool`): a worker that dies is replaced
and its trials run again. Reported: trials and outcomes, simulator errors, simulator limits,
host deaths (worker processes that died: must be 0), the ten slowest trials by wall-clock and by
CPU time (extension, configuration, seed, seconds), and the workers' peak resident memory.
Wall-clock on a shared machine includes other jobs' time; the CPU column is the trial's own.
A report, never a pass/fail test (``tests/faults/test_soak.py`` runs a small one).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import partial

import nookslab
from nookslab.faults.campaign import TrialTask, lost_trial, run_batch
from nookslab.faults.pool import run_batches
from nookslab.faults.trial import injectable_extensions

FAULTS = 5
TARGET_WORST_S = 0.25
TARGET_TYPICAL_S = 0.05


def soak_tasks(trials: int, seed: int) -> list[TrialTask]:
    """Trial i: extension i mod E, configuration (i div E) mod M, seed ``seed + i``."""
    extensions, modes = injectable_extensions(), nookslab.MODES
    return [TrialTask(extensions[i % len(extensions)],
                      modes[i // len(extensions) % len(modes)], seed + i, i, FAULTS, None)
            for i in range(trials)]


@dataclass
class Soak:
    """What a soak saw: one record per trial (its result and ``_host`` timing), worker deaths."""

    trials: int
    workers: int
    seed: int
    memory_cap_mib: int
    records: list = field(default_factory=list)
    deaths: list = field(default_factory=list)
    wall: float = 0.0
    wall_estimated: bool = False          # read back from a file: the trials' own sum / workers

    @property
    def outcomes(self) -> Counter:
        return Counter(r["outcome"] for r in self.records)

    @property
    def errors(self) -> list:
        return [r for r in self.records if r["error"] is not None]

    @property
    def limits(self) -> list:
        return [r for r in self.records if r["outcome"] == "simulator-limit"]

    @property
    def peak_rss_mib(self) -> float:
        return max((r["_host"]["rss_kib"] for r in self.records if "_host" in r),
                   default=0) / 1024

    def slowest(self, key: str = "seconds", n: int = 10) -> list:
        timed = [r for r in self.records if "_host" in r]
        return sorted(timed, key=lambda r: -r["_host"][key])[:n]


def run(trials: int, workers: int = 2, seed: int = 1_000_000, memory_cap_mib: int = 2048,
        batch: int = 10, jsonl=None) -> Soak:
    """Run the soak; every trial's record also goes to ``jsonl`` if given (a path)."""
    soak = Soak(trials, workers, seed, memory_cap_mib)
    tasks = soak_tasks(trials, seed)
    batches = [tasks[i:i + batch] for i in range(0, len(tasks), batch)]
    sink = open(jsonl, "w", encoding="utf-8") if jsonl else None
    t0 = time.perf_counter()
    written = 0
    try:
        for chunk in run_batches(batches, partial(run_batch, measure=True), workers,
                                 memory_cap_mib << 20, deaths=soak.deaths, lost=lost_trial):
            soak.records.extend(chunk)
            if sink is not None:
                for record in chunk:
                    sink.write(json.dumps(record) + "\n")
                for death in soak.deaths[written:]:
                    sink.write(json.dumps({"host_death": _plain(death)}) + "\n")
                written = len(soak.deaths)
                sink.flush()
    finally:
        soak.wall = time.perf_counter() - t0
        if sink is not None:
            sink.close()
    soak.records.sort(key=lambda r: r["index"])
    return soak


def _plain(death: dict) -> dict:
    return {k: (list(v.key) if k == "task" else v) for k, v in death.items()}


def load(path, workers: int = 2, memory_cap_mib: int = 2048) -> Soak:
    """A soak read back from its ``--jsonl`` file (all or part of one: a soak cut short)."""
    records, deaths = [], []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            data = json.loads(line)
            (deaths if "host_death" in data else records).append(data.get("host_death", data))
    records.sort(key=lambda r: r["index"])
    seed = min((r["seed"] - r["index"] for r in records), default=0)
    soak = Soak(len(records), workers, seed, memory_cap_mib, records, deaths)
    soak.wall = sum(r["_host"]["seconds"] for r in records) / max(workers, 1)
    soak.wall_estimated = True
    return soak


def report(soak: Soak) -> str:
    """The soak's figures as text."""
    n = len(soak.records)
    extensions, modes = injectable_extensions(), nookslab.MODES
    lines = [f"soak: {n} trials ({len(extensions)} extensions x {len(modes)} configurations, "
             f"{FAULTS} faults each, seeds {soak.seed}..{soak.seed + soak.trials - 1}), "
             f"{soak.workers} workers, memory cap {soak.memory_cap_mib} MiB each",
             f"load average at the end (other jobs share the cores): "
             + ", ".join(f"{x:.2f}" for x in os.getloadavg()),
             "outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(soak.outcomes.items())),
             f"simulator errors: {len(soak.errors)}",
             f"simulator limits: {len(soak.limits)}"]
    causes = Counter(_limit_kind(r["cause"]) for r in soak.limits)
    lines += [f"  {v} x {k}" for k, v in causes.most_common()]
    lines.append(f"host deaths (worker processes that died; must be 0): {len(soak.deaths)}")
    timed = [r["_host"] for r in soak.records if "_host" in r]
    if timed:
        wall = sorted(h["seconds"] for h in timed)
        cpu = sorted(h["cpu"] for h in timed)
        lines.append(f"wall-clock {soak.wall:.0f} s"
                     + (" (estimated: the trials' own / workers)" if soak.wall_estimated else "")
                     + f" ({n / soak.wall:.1f} trials/s); per trial "
                     f"wall median {statistics.median(wall):.3f} s, p99 "
                     f"{wall[int(0.99 * (len(wall) - 1))]:.3f} s; CPU median "
                     f"{statistics.median(cpu):.3f} s, p99 {cpu[int(0.99 * (len(cpu) - 1))]:.3f} "
                     f"s (targets: worst {TARGET_WORST_S} s, typical {TARGET_TYPICAL_S} s)")
        for key, label in (("seconds", "wall-clock"), ("cpu", "CPU")):
            lines.append(f"slowest 10 trials by {label}: extension, configuration, seed, wall s, "
                         f"CPU s, outcome")
            for r in soak.slowest(key):
                h = r["_host"]
                lines.append(f"  {r['extension']:<8} {r['mode']:<14} {r['seed']:>9} "
                             f"{h['seconds']:7.3f} {h['cpu']:7.3f}  {r['outcome']}"
                             + (f": {r['cause'][:70]}" if r["cause"] else ""))
        lines.append(f"peak worker memory (max RSS): {soak.peak_rss_mib:.0f} MiB")
    return "\n".join(lines)


def _limit_kind(cause: str) -> str:
    """A short class of a simulator-limit cause (what the report groups by)."""
    for marker in ("died", "refused memory", "integer", "asked the host"):
        if marker in cause:
            return {"died": "a worker died", "refused memory": "the host refused memory",
                    "integer": "a huge integer", "asked the host": "a huge host object"}[marker]
    return cause[:60]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1_000_000)
    parser.add_argument("--memory-cap", type=int, default=2048, help="MiB per worker")
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--jsonl", default=None, help="write every trial's record here")
    parser.add_argument("--report", default=None, metavar="JSONL",
                        help="only print the report of a soak saved with --jsonl (wall-clock "
                             "then estimated from the trials' own)")
    args = parser.parse_args()
    if args.report:
        print(report(load(args.report, args.workers, args.memory_cap)))
        return
    soak = run(args.trials, args.workers, args.seed, args.memory_cap, args.batch, args.jsonl)
    print(report(soak))


if __name__ == "__main__":
    main()
