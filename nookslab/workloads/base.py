"""What every workload shares: its registry entry, its result, and the run harness.

A workload is a user program: a deterministic function of the kernel's seed and a simulated
duration, which drives an extension through system calls, checks its own results end to end, and
reports figures in simulated time. It returns a :class:`Measurement`; :func:`run_workload` turns
that, plus the kernel's counters, into a :class:`WorkloadResult`.
"""
from __future__ import annotations

import html
import inspect
from dataclasses import asdict, dataclass, field
from typing import Callable, Mapping

from ..kernel.panic import KernelPanic, ProcessKilled


#: The longest simulated run a workload accepts (an hour of simulated time is far beyond any lesson).
MAX_SECONDS = 3600.0


class WorkloadFailed(Exception):
    """The workload saw a wrong result (a lost packet, a bad checksum, an error return)."""


@dataclass
class Measurement:
    """What a workload function reports.

    ``operations``: units of work done and checked (packets, files, requests, periods).
    ``nbytes``: payload bytes moved. ``latencies``: per-operation latencies in cycles (optional).
    ``total_latency``: a single latency in cycles for latency-measured runs (optional).
    """

    operations: int = 0
    nbytes: int = 0
    latencies: list[int] = field(default_factory=list)
    total_latency: int | None = None
    notes: str = ""


@dataclass(frozen=True)
class WorkloadSpec:
    """A registered workload: its name, the extensions it drives, and its function.

    ``metric`` is ``"throughput"`` or ``"latency"`` (how the paper's Table 4 compares the row).
    ``unit``: what ``throughput`` counts per simulated second (``"bytes/s"``, ``"ops/s"``).
    """

    name: str
    extensions: tuple[str, ...]
    fn: Callable
    description: str
    metric: str = "throughput"
    unit: str = "bytes/s"


@dataclass
class WorkloadResult:
    """The outcome of one run, in simulated time. Plain data: prints, ``to_dict``, HTML."""

    workload: str
    extension: str
    mode: str
    seed: int
    ok: bool
    failure: str | None
    seconds: float                   # simulated seconds the run took
    operations: int
    nbytes: int
    throughput: float | None         # per simulated second (unit below)
    latency: float | None            # simulated seconds per operation (or for the whole job)
    xpcs: int
    xpc_rate: float
    cpu_util: float
    unit: str = "bytes/s"
    #: what the kernel's integrity sweep found after the run (every heap, domains' included):
    #: a diagnostic beside ``ok``/``failure``, never part of the verdict
    sweep: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        status = "ok" if self.ok else f"FAILED: {self.failure}"
        parts = [f"{self.workload} on {self.extension} ({self.mode}, seed {self.seed}): {status}",
                 f"  {self.operations} operations in {self.seconds:.4f} simulated s"]
        if self.throughput is not None:
            parts.append(f"  throughput {self.throughput:,.1f} {self.unit}")
        if self.latency is not None:
            parts.append(f"  latency {self.latency * 1e6:,.1f} us")
        parts.append(f"  XPCs {self.xpcs} ({self.xpc_rate:,.0f}/s), CPU {self.cpu_util:.1%}")
        if self.sweep:
            parts.append(f"  integrity sweep (diagnostic): {len(self.sweep)} problem(s), first: "
                         f"{self.sweep[0]}")
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
                       f"<td>{html.escape(_fmt(v))}</td></tr>" for k, v in self.to_dict().items())
        return f"<table class='nookslab-result'>{rows}</table>"


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}"
    return str(value)


class Userland:
    """The user programs installed on one system (its ``/usr/bin``): workload name -> spec.

    :func:`nookslab.boot` gives each kernel one, with the package's workloads and those of the
    out-of-tree extensions it boots with; ``kernel.run(name, ...)`` runs one of them.
    """

    def __init__(self, specs: Mapping[str, WorkloadSpec]):
        self.specs: dict[str, WorkloadSpec] = dict(specs)

    def run(self, kernel, name: str, seconds: float, **params) -> WorkloadResult:
        """Run workload ``name`` on ``kernel`` for ``seconds`` of simulated time."""
        from ..errors import choose
        spec = self.specs[choose(name, self.specs, "workload")]
        return _run(kernel, spec, seconds, params)

    def __repr__(self) -> str:
        return f"<Userland: {', '.join(self.specs)}>"


def run_workload(kernel, name: str, seconds: float, **params) -> WorkloadResult:
    """Run workload ``name`` on ``kernel`` for ``seconds`` of simulated time (the kernel's own
    user programs if it has them, else the package's)."""
    userland = getattr(kernel, "userland", None)
    if userland is None:
        from . import WORKLOAD_SPECS
        userland = Userland(WORKLOAD_SPECS)
    return userland.run(kernel, name, seconds, **params)


def _check_params(spec: WorkloadSpec, params: dict) -> None:
    """A ValueError naming the workload's parameters if ``params`` does not fit them."""
    try:
        inspect.signature(spec.fn).bind(None, None, None, 0, None, **params)
    except TypeError as exc:
        taken = [p for p in list(inspect.signature(spec.fn).parameters)[5:]]
        raise ValueError(f"workload {spec.name!r}: {exc}; its parameters: "
                         f"{', '.join(taken) or 'none'}") from None


def _run(kernel, spec: WorkloadSpec, seconds: float, params: dict) -> WorkloadResult:
    name = spec.name
    _check_params(spec, params)
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) \
            or not 0 < seconds <= MAX_SECONDS:
        raise ValueError(f"seconds must be a positive number of simulated seconds, at most "
                         f"{MAX_SECONDS}, got {seconds!r}")
    loaded = [e for e in spec.extensions if e in kernel.modules]
    if not loaded:
        raise ValueError(f"workload {name!r} needs one of {', '.join(spec.extensions)} loaded; "
                         f"loaded: {', '.join(sorted(kernel.modules)) or 'none'}")
    extension = loaded[0]
    module = kernel.modules[extension]
    clock = kernel.clock
    start, busy0 = clock.now, clock.busy
    xpc0 = kernel.isolation.xpc_count if kernel.isolation is not None else 0
    failure = None
    measurement = Measurement()
    duration = clock.cycles(seconds)
    if kernel.verdict is not None:
        failure = f"system is down ({kernel.verdict})"
    elif module.state == "failed":
        # the same rule in every configuration: a module whose init failed (and that no
        # recovery brought back) is not running, natively or under Nooks. A module recovery
        # disabled is different: its registrations were undone, and the program meets the
        # kernel's own answer for a device nobody drives (ENODEV)
        failure = f"{extension} is not running ({module.error})"
    else:
        proc = None
        try:
            proc = kernel.spawn(name)
            measurement = spec.fn(kernel, proc, extension, duration, kernel.rng, **params)
        except WorkloadFailed as exc:
            failure = str(exc)
        except ProcessKilled as exc:
            failure = exc.reason if exc.reason.startswith("fork of ") else f"{name} {exc.reason}"
        except KernelPanic as exc:
            failure = f"system {exc.verdict}"
        finally:
            if proc is not None:
                kernel.exit_process(proc)       # its pages and files, whatever happened
            if kernel.verdict is not None and failure is None:
                failure = f"system {kernel.verdict}"     # died closing the program's files
    sweep = tuple(kernel.check_integrity())
    elapsed = max(clock.now - start, 1)
    busy = clock.busy - busy0
    xpcs = (kernel.isolation.xpc_count if kernel.isolation is not None else 0) - xpc0
    secs = elapsed / clock.hz
    throughput = latency = None
    if failure is None:
        if spec.metric == "latency":
            total = measurement.total_latency if measurement.total_latency is not None else elapsed
            latency = total / clock.hz
            throughput = measurement.operations / secs
        else:
            amount = measurement.nbytes if spec.unit == "bytes/s" else measurement.operations
            throughput = amount / secs
            if measurement.latencies:
                latency = sum(measurement.latencies) / len(measurement.latencies) / clock.hz
    return WorkloadResult(
        workload=name, extension=extension, mode=kernel.mode, seed=int(kernel.seed),
        ok=failure is None, failure=failure, seconds=secs, operations=measurement.operations,
        nbytes=measurement.nbytes, throughput=throughput, latency=latency, xpcs=xpcs,
        xpc_rate=xpcs / secs, cpu_util=min(1.0, busy / elapsed), unit=spec.unit, sweep=sweep)
