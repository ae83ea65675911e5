"""How long grading takes: one notebook, and a batch with two workers (each in its own sandbox).

    python benchmarks/bench_grading.py [--notebook 02-isolation] [--batch 20] [--workers 2]
                                       [--unsafe-no-sandbox]

Targets (issue #13): one notebook at most 20 s, a batch of 20 at most 6 minutes with 2 workers,
and not more than 2x the grader before the sandbox (8.6 s and 49.8 s when that was measured). The
submissions are the solution notebook itself (full marks: every check runs to the end). Wall-clock
only means something on an idle machine: the load average is printed beside each figure.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path


def load() -> str:
    return "load average " + ", ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    from nookslab.grading import grade
    from nookslab.grading.cli import grade_folder
    from nookslab.grading.make_exercises import SOLUTIONS
    parser = argparse.ArgumentParser()
    parser.add_argument("--notebook", default="02-isolation", help="a solutions/ notebook name")
    parser.add_argument("--batch", type=int, default=20, help="submissions in the batch (0: none)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--unsafe-no-sandbox", action="store_true", help="compare without it")
    args = parser.parse_args()
    solution = SOLUTIONS / f"{args.notebook}.ipynb"
    sandbox = not args.unsafe_no_sandbox
    folder = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    try:
        one = folder / "one" / solution.name
        one.parent.mkdir()
        shutil.copy(solution, one)
        print(f"one notebook ({solution.name}), {'sandboxed' if sandbox else 'NO sandbox'}; {load()}")
        t0 = time.perf_counter()
        report = grade(one, sandbox=sandbox)
        wall = time.perf_counter() - t0
        print(f"  {wall:.1f} s wall (target 20 s; before the sandbox 8.6 s), score "
              f"{report.score:g}/{report.max_score:g}; {load()}")
        if args.batch:
            batch = folder / "batch"
            batch.mkdir()
            for i in range(args.batch):
                shutil.copy(solution, batch / f"{solution.stem}-student{i:02d}.ipynb")
            t0 = time.perf_counter()
            reports = grade_folder(batch, folder / "grades.csv", workers=args.workers, sandbox=sandbox)
            wall = time.perf_counter() - t0
            full = sum(r.score == r.max_score for r in reports)
            print(f"batch of {args.batch}, {args.workers} workers: {wall:.1f} s wall (target 360 s; "
                  f"before the sandbox 49.8 s), {wall / args.batch:.1f} s per submission, "
                  f"{full}/{len(reports)} full marks; {load()}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
