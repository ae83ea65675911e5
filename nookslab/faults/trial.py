"""One fault-injection trial: boot, load the faulty extension, run its workload, classify.

A trial is a pure function of (extension, configuration, faults, seed), as the paper's were: each
ran on a freshly reset machine (SOSP'03 section 5.1). The faults come from (extension, seed) alone,
never from the configuration, so the same faults go to native and to Nooks. Outcomes follow
SOSP'03 section 5.2:

``crash``     the system panicked (with its cause) or hung;
``nonfatal``  the system is alive but the extension's work failed, it did not load, or it is left
              unusable (a short second run of the workload fails);
``none``      no observable failure.

Two more outcomes never count in a figure: ``simulator-error`` (a bug of the simulator itself,
recorded rather than raised) and ``simulator-limit`` (a bound of the host was reached). The
verdict is the simulated kernel's own; the integrity sweep run at the end (``sweep``) is a
diagnostic shown beside it.

Under Nooks a failure that was caught and recovered, after which the second run works, is no
failure of the extension: ``recovered`` and ``service_restored`` say so.
"""
from __future__ import annotations

import errno
import html
import zlib
from dataclasses import asdict, dataclass
from types import SimpleNamespace

import numpy as np

from ..errors import choose, positive_int
from ..kernel.panic import KernelPanic
from .types import Fault

TRIAL_SECONDS = 0.02        # simulated seconds of workload per trial (a few hundred operations)
#: Extensions whose workload does much more per simulated second get a shorter run: kHTTPd's
#: serve-simple-web-page sets up VFAT and e1000 and then serves pages fast, so
#: 2 ms is ~40 pages natively (16 under Nooks: every one of httperf's 16 connections), each one
#: the whole accept-parse-open-read-send-close path of the server: every function a request
#: runs, run many times over. (The setup, mkfs, mount and ifup, is most of the wall-clock.)
EXTENSION_SECONDS = {"khttpd": 0.002}
#: The same for the follow-up run: 2 ms of kHTTPd is still every one of httperf's 16 open
#: connections served at least once (the workload fails unless all of them complete).
EXTENSION_FOLLOWUP_SECONDS = {"khttpd": 0.002}
FOLLOWUP_SECONDS = 0.005    # the second run that checks the extension still works
#: Outcomes that count in figures 6 and 7.
OUTCOMES = ("crash", "nonfatal", "none")
#: Outcomes that never do: the simulator failed, or a host bound was reached (shown as a note).
SIMULATOR_OUTCOMES = ("simulator-error", "simulator-limit")
ALL_OUTCOMES = OUTCOMES + SIMULATOR_OUTCOMES
#: The outcome of a trial that hit a bound of the simulator itself (host memory, a worker process
#: that died): not counted in the figures, shown beside them (``Verdict(kind="limit")``).
SIMULATOR_LIMIT = "simulator-limit"
#: Steps (loop back-edges) one kernel entry of a trial may run before the watchdog fires. A
#: healthy trial's longest entry takes ~650 (es1371's sample-rate converter set-up), a few faulty
#: but finite loops up to ~3,000 (measured over 3,500 random trials); 4,000 ends an endless loop
#: whose every iteration does disk I/O within ~0.2 s of the host's time, where the kernel's
#: default (20,000, for runs outside trials) took up to a second.
TRIAL_STEP_BUDGET = 4_000
#: Steps a whole trial may run, all entries together (the kernel's lockup detector checks it at
#: each device event and interrupt): a backstop for a livelock spread over many short entries.
#: Trials that end well take up to ~20,000 (a faulty VFAT writing long names slot by slot).
TRIAL_STEP_CAP = 40_000
SIMULATOR_ERROR = "simulator error"


@dataclass(frozen=True)
class TrialResult:
    """What one trial did. Plain data: prints, ``to_dict``/``from_dict``, ``_repr_html_``.

    ``outcome`` is one of :data:`OUTCOMES`, or of :data:`SIMULATOR_OUTCOMES` when the trial says
    nothing about the extension; ``cause`` the panic/hang message or the failure seen (None for
    ``none``). ``detected``: Nooks started a recovery; ``recovered``: one succeeded;
    ``service_restored``: recovered and the second run of the workload worked. ``activated``:
    how many of the faults ran. ``error``: set only if the simulator itself failed (a bug of ours,
    recorded rather than raised). ``sweep``: what the kernel's integrity sweep of every heap
    found at the end, a diagnostic beside the verdict (never part of it).
    """

    extension: str
    mode: str
    seed: int
    faults: tuple[Fault, ...]
    outcome: str
    cause: str | None = None
    workload: str = ""
    detected: bool = False
    recovered: bool = False
    service_restored: bool = False
    activated: int = 0
    verdict: str | None = None          # "panic" | "hang" | None
    first_failure: str | None = None
    followup_failure: str | None = None
    error: str | None = None
    index: int = -1                     # position in a campaign, -1 outside one
    #: after a recovery, did the application see it (its workload failed or had to be run
    #: again, or the system died)? None when no recovery ran (shadow drivers, OSDI'04).
    app_noticed: bool | None = None
    sweep: tuple[str, ...] = ()

    @property
    def simulator_error(self) -> bool:
        return self.error is not None

    @property
    def counts(self) -> bool:
        """Whether this trial counts in figures 6 and 7 (not a simulator error or limit)."""
        return self.outcome in OUTCOMES

    def to_dict(self) -> dict:
        data = asdict(self)
        data["faults"] = [f.to_dict() for f in self.faults]
        data["sweep"] = list(self.sweep)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "TrialResult":
        data = dict(data)
        data["faults"] = tuple(Fault.from_dict(f) for f in data["faults"])
        data["sweep"] = tuple(data.get("sweep", ()))
        return cls(**data)

    def __str__(self) -> str:
        head = f"trial {self.extension}/{self.mode} seed {self.seed}: {self.outcome}"
        if self.cause:
            head += f" ({self.cause})"
        if self.mode != "native":
            head += (f"; detected={self.detected} recovered={self.recovered} "
                     f"service_restored={self.service_restored}")
        return "\n".join([head] + [f"  {f}" for f in self.faults])

    def _repr_html_(self) -> str:
        rows = []
        for key, value in self.to_dict().items():
            if key == "faults":
                value = "<br>".join(html.escape(str(f)) for f in self.faults)
            else:
                value = html.escape(str(value))
            rows.append(f"<tr><th style='text-align:left'>{html.escape(key)}</th><td>{value}</td></tr>")
        return f"<table class='nookslab-trial'>{''.join(rows)}</table>"


def workload_for(extension) -> str:
    """The workload that exercises ``extension``: the first registered one that lists it (an
    out-of-tree :class:`~nookslab.Extension`: the first of its own)."""
    from ..extension import workloads_of
    for name in workloads_of(extension):
        return name
    raise ValueError(f"no workload drives extension {getattr(extension, 'name', extension)!r}")


def fault_rng(extension: str, seed: int) -> np.random.Generator:
    """The Generator a trial's faults are drawn from: (seed, extension) only, never the mode."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(extension.encode())]))


def trial_faults(extension, seed: int, faults_per_trial: int = 5) -> tuple[Fault, ...]:
    """The faults :func:`run_trial` injects for (extension, seed)."""
    from .injector import generate
    return generate(extension, faults_per_trial,
                    fault_rng(getattr(extension, "name", extension), seed))


def injectable_extensions() -> tuple[str, ...]:
    """Registered extensions whose source exists and that some workload drives."""
    from ..drivers import REGISTRY
    from ..workloads import WORKLOAD_SPECS
    out = []
    for name, spec in REGISTRY.items():
        if not any(name in w.extensions for w in WORKLOAD_SPECS.values()):
            continue
        if not _source_exists(spec.source):
            continue
        out.append(name)
    return tuple(out)


_FOUND_SOURCES: set[str] = set()


def _source_exists(module_path: str) -> bool:
    """Whether a driver's source module is installed (a found one is remembered: every trial
    checks its extension; a missing one is asked again, it may be written meanwhile)."""
    import importlib.util
    if module_path in _FOUND_SOURCES:
        return True
    try:
        found = importlib.util.find_spec(module_path) is not None
    except ImportError:
        return False
    if found:
        _FOUND_SOURCES.add(module_path)
    return found


def check_extension(extension):
    """``extension`` if faults can be injected into it (built, with a workload), else ValueError.
    An out-of-tree :class:`~nookslab.Extension` needs a workload of its own."""
    from ..extension import Extension
    if isinstance(extension, Extension):
        if not extension.workloads:
            raise ValueError(f"extension {extension.name!r} has no workload to run in a trial: "
                             f"give it workloads=[...]")
        return extension
    return choose(extension, injectable_extensions(), "extension")


def _as_fault(value) -> Fault:
    if isinstance(value, Fault):
        return value
    if isinstance(value, dict):
        return Fault.from_dict(value)
    raise ValueError(f"a fault must be a Fault or its to_dict(), got {value!r}")


#: A trial's length is an amount of *work*, not a fixed time: the number of operations of the
#: extension's workload (echoes for ping) a trial asks for, so that a fast card and a slow one
#: run every function of their drivers about equally often, and a trial stays within its
#: wall-clock budget (benchmarks/bench_net.py reports it). 100 echoes run each NIC driver's
#: transmit, interrupt and receive paths 100 times over and its ring refill many times.
TRIAL_OPERATIONS = {"ping": 100}
#: Native rates, in operations per simulated second, that turn :data:`TRIAL_OPERATIONS` into
#: simulated seconds: ping's echo rate is set by each card's speed and its driver's interrupt
#: path (seed 0, measured by benchmarks/bench_net.py: the gigabit e1000 answers ~8,000 echoes/s,
#: the three 100 Mbit/s cards ~6,200/s). A workload or card not listed keeps its seconds above.
NATIVE_RATES = {("e1000", "ping"): 8_000, ("pcnet32", "ping"): 6_200,
                ("3c59x", "ping"): 6_200, ("3c90x", "ping"): 6_200}


def trial_seconds(extension: str) -> float:
    """Simulated seconds of workload in a trial of ``extension``: :data:`TRIAL_OPERATIONS` of
    its workload at its native rate where both are known, else :data:`EXTENSION_SECONDS` or
    :data:`TRIAL_SECONDS`."""
    if extension in EXTENSION_SECONDS:
        return EXTENSION_SECONDS[extension]
    workload = next((w for (e, w) in NATIVE_RATES if e == extension), None)
    if workload is not None and workload in TRIAL_OPERATIONS:
        return TRIAL_OPERATIONS[workload] / NATIVE_RATES[(extension, workload)]
    return TRIAL_SECONDS


def run_trial(extension: str, mode: str = "native", seed: int = 0, faults_per_trial: int = 5,
              faults=None, seconds: float | None = None, index: int = -1) -> TrialResult:
    """Run one fault-injection trial; never raises for anything the faulty driver does.

    Parameters
    ----------
    extension: a registered extension with a workload (``"e1000"``, ``"null"``...), or an
        out-of-tree :class:`~nookslab.Extension` with one (carried by value, as a campaign's
        worker processes receive it).
    mode: ``"native"``, ``"nooks"`` or another of :data:`nookslab.MODES`.
    seed: seeds the kernel and, with the extension, the faults.
    faults_per_trial: how many random faults (1..100; the paper used 5).
    faults: the exact faults to inject instead (a replay); ``faults_per_trial`` is then ignored.
    seconds: simulated seconds of workload (default: :func:`trial_seconds` of the extension).
    """
    from ..system import available_modes
    check_extension(extension)
    if seconds is None:
        seconds = trial_seconds(getattr(extension, "name", extension))
    choose(mode, available_modes(), "mode")
    seed = positive_int(seed, "seed", low=0)
    if faults is None:
        positive_int(faults_per_trial, "faults_per_trial", 1, 100)
        faults = trial_faults(extension, seed, faults_per_trial)
    else:
        faults = tuple(_as_fault(f) for f in faults)
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not seconds > 0:
        raise ValueError(f"seconds must be a positive number, got {seconds!r}")
    return execute(extension, mode, seed, faults, seconds, index)[0]


def execute(extension: str, mode: str, seed: int, faults: tuple[Fault, ...],
            seconds: float | None = None, index: int = -1, setup=None):
    """Run a trial; return (TrialResult, the kernel it ran on, or None after a simulator error).

    ``setup(kernel)``, if given, runs after boot and before the load (an experiment's policy).
    """
    name = getattr(extension, "name", extension)
    base = dict(extension=name, mode=mode, seed=seed, faults=faults, index=index)
    if seconds is None:
        seconds = trial_seconds(name)
    kernel = None
    try:
        from .. import system
        workload = workload_for(extension)
        kernel = system.boot(mode=mode, seed=seed, step_budget=TRIAL_STEP_BUDGET,
                             extensions=[] if extension is name else [extension])
        kernel.irqs.step_cap = TRIAL_STEP_CAP
        followup = EXTENSION_FOLLOWUP_SECONDS.get(name, FOLLOWUP_SECONDS)
        if setup is not None:
            setup(kernel)
        kernel.load(name, faults=faults)
        first = kernel.run(workload, seconds=seconds)
        second = kernel.run(workload, seconds=followup) if kernel.verdict is None \
            else None
        return _classify(kernel, workload, first, second, base), kernel
    except MemoryError:                        # the host refused memory outside any guard
        return TrialResult(**base, outcome=SIMULATOR_LIMIT,
                           cause="simulator limit: the host refused memory", verdict="limit"), kernel
    except OSError as exc:
        if exc.errno != errno.ENOMEM:
            error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        else:                                  # the host's mmap/fork refused (ENOMEM): the same
            return TrialResult(**base, outcome=SIMULATOR_LIMIT,
                               cause="simulator limit: the host refused memory", verdict="limit"), kernel
    except Exception as exc:                   # noqa: BLE001 - recorded, never raised
        error = f"{type(exc).__name__}: {exc}".splitlines()[0]
    except KernelPanic:
        if kernel is not None and kernel.verdict is not None:
            # the system died outside a workload's own calls (spawning its process ran out
            # of memory the faulty driver took): a crash verdict like any other
            gone = SimpleNamespace(failure=f"system is down ({kernel.verdict})", ok=False,
                                   sweep=tuple(kernel.check_integrity()))
            return _classify(kernel, workload_for(extension), gone, None, base), kernel
        error = "KernelPanic escaped without a verdict"
    except BaseException as exc:               # a KernelPanic/ProcessKilled that escaped
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        error = f"{type(exc).__name__} escaped: {exc}".splitlines()[0]
    return TrialResult(**base, outcome="simulator-error", cause=f"{SIMULATOR_ERROR}: {error}",
                       error=error), kernel


def _classify(kernel, workload, first, second, base) -> TrialResult:
    activated = sum(1 for e in kernel.events if e.kind == "fault" and "activated" in e.detail)
    recoveries = list(kernel.recoveries)
    detected = bool(recoveries)
    recovered = any(getattr(r, "ok", False) for r in recoveries)
    noticed = None if not detected else (kernel.verdict is not None or not first.ok
                                         or second is None or not second.ok)
    common = dict(base, workload=workload, detected=detected, recovered=recovered,
                  activated=activated, first_failure=first.failure,
                  followup_failure=second.failure if second is not None else None,
                  app_noticed=noticed, sweep=(second or first).sweep)
    if kernel.verdict is not None:
        if kernel.verdict.kind == "limit":
            return TrialResult(**common, outcome=SIMULATOR_LIMIT, cause=kernel.verdict.cause,
                               verdict="limit")
        if kernel.verdict.kind == "error":     # the simulator's own code failed (a bug of ours)
            return TrialResult(**common, outcome="simulator-error", cause=kernel.verdict.cause,
                               error=kernel.verdict.cause, verdict="error")
        return TrialResult(**common, outcome="crash", cause=str(kernel.verdict),
                           verdict=kernel.verdict.kind)
    restored = recovered and second.ok
    if not second.ok:
        return TrialResult(**common, outcome="nonfatal", service_restored=False,
                           cause=first.failure or f"unusable afterwards: {second.failure}")
    if not first.ok and not recovered:
        return TrialResult(**common, outcome="nonfatal", cause=first.failure)
    return TrialResult(**common, outcome="none", service_restored=restored)
