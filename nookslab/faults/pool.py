"""Worker processes for campaigns that survive their workers: a dead worker costs one trial.

A trial never raises for anything its driver does, and the loader bounds what a driver's code may
ask of the host (:mod:`nookslab.kernel.instrument`); a worker process may still die (the operating
system's out-of-memory killer, a crash of the interpreter). ``concurrent.futures`` then breaks the
whole pool: every unfinished job fails with ``BrokenProcessPool``. :func:`run_batches` instead
starts a fresh pool and goes on. The pool hands out jobs in submission order and holds at most
``workers + 1`` of them at once, so only the first ``workers + 1`` unfinished jobs can have been
running when a worker died: their trials are re-run one at a time, each alone in a fresh worker,
and the rest are resubmitted as they were. A trial that kills its worker alone too is recorded as
outcome ``"simulator-limit"``; every death is recorded in ``deaths``.

Each worker's address space is capped (``resource.RLIMIT_AS``, ``memory_cap`` bytes): a trial
that asks the host for more gets a ``MemoryError``, which the kernel turns into a simulator-limit
verdict, instead of growing until the out-of-memory killer picks a process.
"""
from __future__ import annotations

import os
from concurrent.futures import BrokenExecutor, ProcessPoolExecutor
from typing import Callable, Iterator

#: The default address-space cap of a campaign worker: a worker needs ~350 MiB of address space
#: (Python, numpy, one 16 MiB simulated machine at a time); a trial's own objects are bounded by
#: the loader's checks far below this.
DEFAULT_MEMORY_CAP = 2 << 30


def _cap_memory(cap: int | None) -> None:
    """Pool initializer: limit this worker's address space to ``cap`` bytes."""
    if not cap:
        return
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def new_pool(workers: int, memory_cap: int | None = DEFAULT_MEMORY_CAP) -> ProcessPoolExecutor:
    """A process pool of ``workers`` whose address spaces are capped at ``memory_cap`` bytes."""
    return ProcessPoolExecutor(workers, initializer=_cap_memory, initargs=(memory_cap,))


def _processes(pool) -> list:
    """The pool's worker processes (``concurrent.futures`` keeps them; others: none known)."""
    return list((getattr(pool, "_processes", None) or {}).values())


def _exit_codes(processes: list) -> list:
    """Exit codes of the processes that have ended (for the record)."""
    codes = []
    for p in processes:
        p.join(timeout=1)
        if p.exitcode is not None:
            codes.append(p.exitcode)
    return sorted(codes)


def run_batches(batches: list, fn: Callable, workers: int, memory_cap: int | None = None,
                executor=None, deaths: list | None = None, lost: Callable | None = None
                ) -> Iterator[list]:
    """Yield ``fn(batch)`` for every batch (in no fixed order), on worker processes.

    executor: run the first round on it (a pool of the caller's); later rounds, after a worker
        died, on fresh pools of ``workers`` processes with ``memory_cap``.
    deaths: a list that gets one dict per worker death seen.
    lost: ``lost(task, detail)`` -> the result to yield (in a list) for a task whose worker died
        even when it ran alone; by default the task is skipped.
    """
    deaths = deaths if deaths is not None else []
    pending = list(batches)
    while pending:
        pool = executor if executor is not None else new_pool(workers, memory_cap)
        ours = executor is None
        executor = None
        unfinished = []
        try:
            futures = []
            for batch in pending:
                try:
                    futures.append(pool.submit(fn, batch))
                except Exception:                   # noqa: BLE001 - the pool is already broken
                    futures.append(None)
            processes = _processes(pool)
            for future, batch in zip(futures, pending):
                try:
                    if future is None:
                        raise RuntimeError("not submitted")
                    result = future.result()
                except Exception:                   # noqa: BLE001 - the executor lost the job
                    unfinished.append(batch)
                    continue
                yield result
        finally:
            if ours:
                pool.shutdown(wait=True, cancel_futures=True)
        if not unfinished:
            return
        in_flight = getattr(pool, "_max_workers", workers) + 1
        suspects, pending = unfinished[:in_flight], unfinished[in_flight:]
        deaths.append({"where": "pool", "exit_codes": [c for c in _exit_codes(processes) if c],
                       "suspects": sum(len(b) for b in suspects)})
        yield from _alone([task for batch in suspects for task in batch], fn, memory_cap,
                          deaths, lost)


def _alone(tasks: list, fn: Callable, memory_cap: int | None, deaths: list,
           lost: Callable | None) -> Iterator[list]:
    """Run each task alone on one fresh worker (a new one after each death)."""
    pool = None
    try:
        for task in tasks:
            if pool is None:
                pool = new_pool(1, memory_cap)
            try:
                future = pool.submit(fn, [task])
                processes = _processes(pool)
                yield future.result()
                continue
            except BrokenExecutor:                  # it died alone too
                codes = [c for c in _exit_codes(processes) if c]
                pool.shutdown(wait=True, cancel_futures=True)
                pool = None
            detail = ("the worker process running this trial died, alone in a fresh worker too"
                      + (f" (exit code {codes[-1]})" if codes else ""))
            deaths.append({"where": "alone", "task": task, "exit_codes": codes})
            if lost is not None:
                yield [lost(task, detail)]
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def worker_count(executor, default: int | None = None) -> int:
    """How many workers ``executor`` has (``concurrent.futures`` pools say; else a guess)."""
    return getattr(executor, "_max_workers", None) or default or os.cpu_count() or 2
