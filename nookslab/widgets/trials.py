"""What the fault panel runs, without widgets: the extensions and fault types it offers, the faults
its toggles stand for, one trial in one configuration (told as a story), and an executor that
ticks a progress bar while a campaign runs.

Trials are run by :mod:`nookslab.faults` (this module only chooses what to run): one fault of each
type switched on, placed by the seed as ``nookslab trial`` places them, or the paper's five random
faults, or the exact faults of a campaign trial being replayed.
"""
from __future__ import annotations

from concurrent.futures import Executor, Future
from dataclasses import dataclass, field

from .data import TrackerSnapshot, tracker_rows
from .story import Story, tell, unavailable

MODE_CHOICES = ("native", "nooks", "both")
RANDOM = "random x5"          # the paper's mix: five random faults (SOSP'03 section 5.1)
PAPER_FAULTS = 5


@dataclass
class TrialRun:
    """One trial the panel ran: its result, the kernel it ran on, what the tracker held when
    Nooks detected the failure, and the story told about it."""

    mode: str
    result: object
    kernel: object
    story: Story
    snapshots: list[TrackerSnapshot] = field(default_factory=list)


def available_modes() -> tuple[str, ...]:
    """The configurations built in this installation (looked up at each call, where the
    package keeps them)."""
    from ..system import available_modes as modes
    return tuple(modes())


def injectable_extensions() -> tuple[str, ...]:
    """Registered extensions that some workload drives (the paper's first, then the example)."""
    from ..drivers import EXTENSIONS, REGISTRY
    from ..workloads import WORKLOAD_SPECS
    driven = [n for n in REGISTRY if any(n in s.extensions for s in WORKLOAD_SPECS.values())]
    paper = [n for n in EXTENSIONS if n in driven]
    return tuple(paper + [n for n in driven if n not in paper])


def fault_types() -> tuple[str, ...]:
    try:
        from ..faults import FAULT_TYPES
    except ImportError:
        return ()
    return tuple(FAULT_TYPES)


def fault_doc(kind: str) -> str:
    """A toggle's tooltip: the C fault it stands for and what ours does."""
    if kind == RANDOM:
        return "five random faults of the paper's mix, as in one campaign trial"
    from ..faults import FAULT_DOCS
    c_fault, ours = FAULT_DOCS[kind]
    return f"{c_fault}\nhere: {ours}"


def chosen_faults(extension: str, seed: int, types) -> tuple:
    """The faults the toggles ``types`` stand for (raises ValueError if a type has no site)."""
    chosen = []
    single = [k for k in types if k != RANDOM]
    if RANDOM in types:
        from ..faults.trial import trial_faults
        chosen.extend(trial_faults(extension, seed, PAPER_FAULTS))
    if single:
        from ..faults.injector import generate
        from ..faults.trial import fault_rng
        rng = fault_rng(extension, seed)
        for kind in single:
            try:
                chosen.extend(generate(extension, 1, rng, types=(kind,)))
            except ValueError:
                raise ValueError(f"{extension} has no site for a {kind} fault") from None
    return tuple(chosen)


def run_one(extension: str, mode: str, seed: int, faults) -> TrialRun:
    """One trial in one configuration, with the tracker snapshot taken at detection."""
    from ..faults.trial import execute, workload_for
    snapshots: list[TrackerSnapshot] = []

    def watch(kernel):
        # Snapshot the tracker when Nooks detects a failure: the view then shows the
        # table that recovery empties (SOSP'03 section 4.5).
        recovery = getattr(getattr(kernel, "isolation", None), "recovery", None)
        if recovery is not None and hasattr(recovery, "observers"):
            recovery.observers.append(
                lambda domain, trigger, cause: snapshots.append(TrackerSnapshot(
                    domain.name, kernel.clock.now, trigger, cause, tracker_rows(domain))))
    try:
        workload_for(extension)
    except ValueError as exc:
        return TrialRun(mode, None, None, unavailable(mode, str(exc)))
    result, kernel = execute(extension, mode, seed, tuple(faults), setup=watch)
    try:
        story = tell(result, kernel)
    except Exception as exc:               # noqa: BLE001 - a message in the view instead
        story = Story(mode, result.outcome, f"{result} (the story could not be told: "
                                            f"{type(exc).__name__}: {exc})")
    return TrialRun(mode, result, kernel, story, snapshots)


class InlineExecutor(Executor):
    """Runs each submitted batch at once, here, and ticks a progress bar: lets the panel show
    progress of :meth:`Campaign.run` without threads (the campaign code stays untouched)."""

    def __init__(self, tick):
        self.tick = tick

    def submit(self, fn, *args, **kwargs):
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:          # noqa: BLE001 - handed to the caller's result()
            future.set_exception(exc)
        self.tick()
        return future
