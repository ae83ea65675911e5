"""Campaigns: many trials per extension, in both configurations (SOSP'03 section 5.1, figures 6-7).

The paper ran 400 trials of 5 random faults per extension, each trial's faults first on native
Linux and then on Nooks. A :class:`Campaign` does the same: trial ``i`` of extension ``e`` gets a
seed derived only from (campaign seed, ``e``, ``i``), so its faults and its outcome are the same
whatever runs it (serially, on a process pool, on a dask cluster) and in whatever order. Results
can stream to a JSONL file; running the same campaign again with that file skips the trials it
already holds (an interrupted campaign resumes). On worker processes, a worker that dies costs one
trial, never the campaign (:mod:`nookslab.faults.pool`).
"""
from __future__ import annotations

import csv
import html
import json
import os
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import choose, positive_int
from .pool import DEFAULT_MEMORY_CAP, run_batches, worker_count
from .trial import (ALL_OUTCOMES, OUTCOMES, SIMULATOR_LIMIT, SIMULATOR_OUTCOMES, TrialResult,
                    check_extension, run_trial, trial_faults)


@dataclass(frozen=True)
class TrialTask:
    """One trial to run: picklable, so any executor can ship it to a worker."""

    extension: str
    mode: str
    seed: int
    index: int
    faults_per_trial: int
    seconds: float | None
    driver: object = None           # an out-of-tree Extension, carried by value to the worker

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.extension, self.mode, self.index)


_WARMED: set[str] = set()


def _warm(extensions) -> None:
    """In a worker process: build the per-process caches (the drivers' parsed and compiled
    code, fault sites) once, then move everything alive out of the cyclic collector's sight
    (``gc.freeze``), so the collections each trial's garbage kernel triggers stay short."""
    import gc

    from ..kernel.module import _clean_code, _image
    from .injector import sites
    todo = [e for e in extensions if e not in _WARMED]
    if not todo or not _in_worker():
        return                                      # the notebook's own process: leave gc alone
    from ..drivers import REGISTRY
    for e in todo:
        spec = REGISTRY.get(e)
        if spec is None:                            # out of tree: compiled on first load
            continue
        _clean_code(spec.source, spec.name)
        _image(spec.source, spec.name)
        sites(e)
        _WARMED.add(e)
    gc.collect()
    gc.freeze()


def _in_worker() -> bool:
    import multiprocessing
    return multiprocessing.parent_process() is not None


#: Called with each task before its trial runs, in the worker (tests only: a worker that dies).
_trial_hook = None


def run_batch(tasks: list[TrialTask], measure: bool = False) -> list[dict]:
    """Run trials (in a worker); return them as plain dicts (cheap to send back).

    measure: add ``"_host"``: the trial's wall-clock and CPU seconds, the worker's peak resident
    memory and pid (for benchmarks; never part of a result).
    """
    import gc
    import time
    _warm(dict.fromkeys(t.extension for t in tasks))
    worker = _in_worker()
    out = []
    for t in tasks:
        if _trial_hook is not None:
            _trial_hook(t)
        wall, cpu = time.perf_counter(), time.process_time()
        data = run_trial(t.driver or t.extension, t.mode, t.seed, t.faults_per_trial, seconds=t.seconds,
                         index=t.index).to_dict()
        if measure:
            data["_host"] = dict(seconds=time.perf_counter() - wall,
                                 cpu=time.process_time() - cpu, rss_kib=_peak_rss(),
                                 pid=os.getpid())
        out.append(data)
        if worker:
            # A trial's kernel is one big reference cycle holding 16 MiB of RAM: freeing it now
            # (a short collection, the worker's long-lived objects are frozen) lets the next
            # boot reuse that memory instead of faulting in fresh pages.
            gc.collect()
    return out


def _peak_rss() -> int:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def lost_trial(task: TrialTask, detail: str) -> dict:
    """The record of a trial whose worker process died even when it ran alone."""
    return TrialResult(task.extension, task.mode, task.seed,
                       trial_faults(task.extension, task.seed, task.faults_per_trial),
                       SIMULATOR_LIMIT, cause=f"simulator limit: {detail}",
                       verdict="limit", index=task.index).to_dict()


class Campaign:
    """A fault-injection campaign.

    Parameters
    ----------
    extensions: registered extensions with a workload (the paper's: sb, e1000, pcnet32, vfat,
        khttpd), or out-of-tree :class:`~nookslab.Extension` values with one (sent to the
        workers with each trial).
    trials: trials per extension (the paper: 400). faults_per_trial: 1..100 (the paper: 5).
    seed: the campaign's root seed. modes: the configurations each trial runs in.
    seconds: simulated seconds of workload per trial (None: each extension's own,
        :func:`~nookslab.faults.trial.trial_seconds`).
    """

    def __init__(self, extensions, trials: int = 400, faults_per_trial: int = 5, seed: int = 0,
                 modes=("native", "nooks"), seconds: float | None = None):
        from ..system import MODES, available_modes
        if isinstance(extensions, str):
            extensions = [extensions]
        checked = [check_extension(e) for e in extensions]
        self.extensions = tuple(getattr(e, "name", e) for e in checked)
        self.out_of_tree = {e.name: e for e in checked if not isinstance(e, str)}
        if not self.extensions:
            raise ValueError("a campaign needs at least one extension")
        self.trials = positive_int(trials, "trials", 1)
        self.faults_per_trial = positive_int(faults_per_trial, "faults_per_trial", 1, 100)
        self.seed = positive_int(seed, "seed", 0)
        self.modes = tuple(choose(m, MODES, "mode") for m in modes)
        for m in self.modes:
            if m not in available_modes():
                raise ValueError(f"mode {m!r} is not available yet (its layer is not built); "
                                 f"available: {', '.join(available_modes())}")
        if not self.modes:
            raise ValueError(f"a campaign needs at least one mode: choose from {MODES}")
        # None: each extension's own trial length (trial.trial_seconds)
        self.seconds = None if seconds is None else float(seconds)

    @property
    def config(self) -> dict:
        return dict(extensions=list(self.extensions), trials=self.trials,
                    faults_per_trial=self.faults_per_trial, seed=self.seed,
                    modes=list(self.modes), seconds=self.seconds)

    def trial_seed(self, extension: str, index: int) -> int:
        """The seed of trial ``index`` of ``extension``: from (seed, extension, index) only."""
        ss = np.random.SeedSequence([self.seed, zlib.crc32(extension.encode()), index])
        return int(ss.generate_state(1)[0])

    def tasks(self) -> list[TrialTask]:
        """Every trial, in the campaign's fixed order: extension, trial, mode."""
        return [TrialTask(e, m, self.trial_seed(e, i), i, self.faults_per_trial, self.seconds,
                          self.out_of_tree.get(e))
                for e in self.extensions for i in range(self.trials) for m in self.modes]

    def run_with_workers(self, workers: int, progress: bool = True,
                         memory_cap: int | None = DEFAULT_MEMORY_CAP) -> "CampaignResult":
        """:meth:`run` serially for ``workers`` <= 1, else on ``workers`` processes, each with
        an address space of at most ``memory_cap`` bytes."""
        if workers <= 1:
            return self.run(progress=progress)
        return self.run(workers=workers, memory_cap=memory_cap, progress=progress)

    def run(self, executor=None, progress: bool = True, path=None,
            batch: int | None = None, workers: int | None = None,
            memory_cap: int | None = DEFAULT_MEMORY_CAP) -> "CampaignResult":
        """Run every trial; return a :class:`CampaignResult` in the campaign's order.

        executor: any ``concurrent.futures.Executor`` (a process pool, a dask
            ``client.get_executor()``), or None to run here (serially, or on ``workers``).
        progress: show a tqdm progress bar (notebook-aware).
        path: a JSONL file to stream results to; trials already in it are not run again.
        batch: trials per submitted job (default 1 serially, 20 on workers).
        workers: with no executor, run on this many worker processes of the campaign's own.
        memory_cap: the address-space cap of each worker process the campaign starts, in bytes
            (None: no cap). Trials that lose their worker are run again, alone, on a fresh one
            (:mod:`nookslab.faults.pool`): the campaign never stops for a dead worker.
        """
        tasks = self.tasks()
        done: dict[tuple, TrialResult] = {}
        sink = None
        if path is not None:
            path = Path(path)
            done = self._resume(path)
            sink = path.open("a", encoding="utf-8")
            if path.stat().st_size == 0:
                sink.write(json.dumps({"campaign": self.config}) + "\n")
        todo = [t for t in tasks if t.key not in done]
        pooled = executor is not None or (workers or 1) > 1
        size = batch or (20 if pooled else 1)
        batches = [todo[i:i + size] for i in range(0, len(todo), size)]
        bar = _progress(len(tasks), len(tasks) - len(todo), progress)
        deaths: list[dict] = []
        try:
            if not pooled:
                results = (run_batch(b) for b in batches)
            else:
                results = run_batches(batches, run_batch, worker_count(executor, workers),
                                      memory_cap, executor=executor, deaths=deaths,
                                      lost=lost_trial)
            for chunk in results:
                for data in chunk:
                    trial = TrialResult.from_dict(data)
                    done[(trial.extension, trial.mode, trial.index)] = trial
                    if sink is not None:
                        sink.write(json.dumps(data) + "\n")
                if sink is not None:
                    sink.flush()
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
            if sink is not None:
                sink.close()
        return CampaignResult(self.config, [done[t.key] for t in tasks],
                              host_deaths=[_death_record(d) for d in deaths])

    def _resume(self, path: Path) -> dict:
        done: dict[tuple, TrialResult] = {}
        if not path.exists():
            return done
        raw = path.read_bytes()
        if raw and not raw.endswith(b"\n"):       # drop a line cut short by the interruption
            with path.open("r+b") as handle:
                handle.truncate(raw.rfind(b"\n") + 1)
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle):
                try:
                    data = json.loads(line)
                except json.JSONDecodeError:      # a damaged line: run that trial again
                    continue
                if number == 0 and "campaign" in data:
                    if data["campaign"] != self.config:
                        raise ValueError(f"{path} holds a different campaign "
                                         f"({data['campaign']}); this one is {self.config}")
                    continue
                trial = TrialResult.from_dict(data)
                done[(trial.extension, trial.mode, trial.index)] = trial
        return done

    def __repr__(self) -> str:
        c = self.config
        return (f"Campaign(extensions={c['extensions']}, trials={c['trials']}, "
                f"faults_per_trial={c['faults_per_trial']}, seed={c['seed']}, modes={c['modes']})")


def _progress(total: int, initial: int, enabled: bool):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:                            # tqdm is a dependency; stay usable without it
        return None
    return tqdm(total=total, initial=initial, desc="trials", unit="trial")


def _death_record(death: dict) -> dict:
    """A worker death as plain data (the task it was running alone, if it was)."""
    out = {k: v for k, v in death.items() if k != "task"}
    if "task" in death:
        out["trial"] = list(death["task"].key)
    return out


class CampaignResult:
    """The trials of a campaign, in its order, and the figures computed from them.

    ``host_deaths``: the worker processes that died while the campaign ran (plain dicts: where,
    their exit codes, the trial if it died alone); their trials were run again.
    """

    def __init__(self, config: dict, trials: list[TrialResult], host_deaths=None):
        self.config = config
        self.trials = trials
        self.host_deaths = list(host_deaths or [])

    def counts(self) -> dict[tuple[str, str], dict[str, int]]:
        """{(extension, mode): {"crash": n, "nonfatal": n, "none": n, "simulator-error": n,
        "simulator-limit": n}}; the last two never count in a figure."""
        out = {(e, m): dict.fromkeys(ALL_OUTCOMES, 0)
               for e in self.config["extensions"] for m in self.config["modes"]}
        for t in self.trials:
            bucket = out[(t.extension, t.mode)]
            bucket[t.outcome] = bucket.get(t.outcome, 0) + 1
        return out

    def simulator_limits(self) -> list[TrialResult]:
        """Trials that hit a bound of the simulator (host memory, a worker that died)."""
        return [t for t in self.trials if t.outcome == SIMULATOR_LIMIT]

    def recovery_counts(self) -> dict[tuple[str, str], dict[str, int]]:
        """Per (extension, mode): trials where recovery was started, succeeded, restored service."""
        out = {}
        for (e, m) in self.counts():
            ts = [t for t in self.trials if t.extension == e and t.mode == m]
            out[(e, m)] = dict(detected=sum(t.detected for t in ts),
                               recovered=sum(t.recovered for t in ts),
                               service_restored=sum(t.service_restored for t in ts),
                               app_noticed=sum(t.app_noticed is True for t in ts),
                               app_unaware=sum(t.app_noticed is False for t in ts))
        return out

    def crash_causes(self, mode: str = "nooks") -> dict[str, int]:
        """The crashes of ``mode`` grouped by kind of cause, most common first."""
        causes = Counter(crash_kind(t.cause or "") for t in self.trials
                         if t.mode == mode and t.outcome == "crash")
        return dict(sorted(causes.items(), key=lambda kv: (-kv[1], kv[0])))

    def failure_causes(self, mode: str = "native") -> dict[str, int]:
        """The non-fatal failures of ``mode`` grouped by kind of cause, most common first."""
        causes = Counter(failure_kind(t.cause or "") for t in self.trials
                         if t.mode == mode and t.outcome == "nonfatal")
        return dict(sorted(causes.items(), key=lambda kv: (-kv[1], kv[0])))

    def simulator_errors(self) -> list[TrialResult]:
        """Trials the simulator itself failed on (should be none)."""
        return [t for t in self.trials if t.error is not None]

    def excluded(self) -> dict[tuple[str, str], dict[str, int]]:
        """Per (extension, mode), the trials left out of figures 6 and 7 (simulator errors and
        limits), only where there are any."""
        return {key: {o: c[o] for o in SIMULATOR_OUTCOMES if c[o]}
                for key, c in self.counts().items() if any(c[o] for o in SIMULATOR_OUTCOMES)}

    def figure6(self):
        """System crashes per extension, native beside Nooks, with the paper's totals."""
        from ..eval.figures import FigureTable
        return FigureTable.from_result(self, "crash")

    def figure7(self):
        """Non-fatal extension failures per extension, with the paper's totals."""
        from ..eval.figures import FigureTable
        return FigureTable.from_result(self, "nonfatal")

    def plot(self, axes=None):
        """Bar charts of figures 6 and 7, ours beside the paper's totals; returns the figure."""
        import matplotlib.pyplot as plt
        if axes is None:
            fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        else:
            fig = axes[0].figure
        self.figure6().plot(axes[0])
        self.figure7().plot(axes[1])
        fig.tight_layout()
        return fig

    def to_dict(self) -> dict:
        return {"campaign": self.config, "counts": {f"{e}/{m}": c for (e, m), c in
                                                    self.counts().items()},
                "trials": [t.to_dict() for t in self.trials]}

    def to_csv(self, path) -> None:
        """One row per trial (faults as JSON text)."""
        names = ["extension", "mode", "index", "seed", "outcome", "cause", "detected",
                 "recovered", "service_restored", "activated", "faults"]
        with Path(path).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, names)
            writer.writeheader()
            for t in self.trials:
                row = {n: getattr(t, n) for n in names if n != "faults"}
                row["faults"] = json.dumps([f.to_dict() for f in t.faults])
                writer.writerow(row)

    def __str__(self) -> str:
        lines = [self.title]
        for (e, m), c in self.counts().items():
            lines.append(f"  {e:<8} {m:<6} " + "  ".join(f"{k} {v:>4}" for k, v in c.items()
                                                          if k in OUTCOMES or v))
        return "\n".join(lines)

    @property
    def title(self) -> str:
        """The campaign's parameters in words (so a result says how it was made)."""
        c = self.config
        secs = c.get("seconds")
        return (f"campaign: {', '.join(c['extensions'])}; {c['trials']} trials per extension and "
                f"configuration, {c['faults_per_trial']} faults per trial, seed {c['seed']}; "
                f"configurations {', '.join(c['modes'])}"
                + (f"; {secs} simulated s per trial" if secs else ""))

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{h}</th>" for h in ("extension", "mode", *ALL_OUTCOMES))
        rows = "".join(f"<tr><td>{html.escape(e)}</td><td>{m}</td>"
                       + "".join(f"<td>{c[o]}</td>" for o in ALL_OUTCOMES) + "</tr>"
                       for (e, m), c in self.counts().items())
        return (f"<table class='nookslab-campaign'><caption style='text-align:left'>"
                f"{html.escape(self.title)}</caption><tr>{head}</tr>{rows}</table>")

    def _repr_pretty_(self, printer, cycle) -> None:
        # IPython's text/plain: what print shows, not the dataclass's field dump
        printer.text(str(self))


def crash_kind(cause: str) -> str:
    """A short class for a crash cause (what the residual-crash breakdown groups by)."""
    if cause.startswith("hang"):
        if "livelock" in cause:
            return "livelock (interrupt storm)"
        off = "interrupts off" in cause
        if "deadlock" in cause:      # a lock that can never be released: the paper's residue
            return "deadlock with interrupts off" if off else "deadlock"
        return "hang with interrupts off" if off else "hang"
    if "killing interrupt handler" in cause:
        return "oops in interrupt context"
    if "recursive fault" in cause:
        return "allocator broken (recursive fault in do_exit)"
    if "kill the idle task" in cause:
        return "oops outside any process"
    if "out of memory" in cause:
        return "out of memory"
    if "kernel BUG" in cause:
        return "kernel integrity check (BUG)"
    return "panic (other)"


def failure_kind(cause: str) -> str:
    """A short class for a non-fatal failure's cause (what figure 7's breakdown groups by)."""
    if "killed by oops: kernel BUG" in cause:
        return "process killed by a failed BUG() check"
    if "killed by oops" in cause:
        return "process killed by an oops"
    if "task hung" in cause:
        return "process hung"
    if "is not running" in cause or "insmod" in cause:
        return "extension did not load"
    if cause.startswith("unusable afterwards"):
        return "unusable afterwards"
    return "workload saw wrong results or errors"
