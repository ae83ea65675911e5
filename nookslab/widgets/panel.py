"""The fault-injection panel: choose an extension, a configuration, fault types and a seed; inject
and run one trial, step to the next seed, or run a small campaign; read the outcome as a story.

Trials are run by :mod:`nookslab.faults` (the panel only chooses what to run and shows it): one
fault of each type switched on, placed by the seed as ``nookslab trial`` places them, or the
paper's five random faults, or the exact faults of a campaign trial being replayed.
"""
from __future__ import annotations

from concurrent.futures import Executor, Future
from dataclasses import dataclass, field

import ipywidgets as W

from .data import TrackerSnapshot, tracker_rows
from .story import Story, tell, unavailable

MODE_CHOICES = ("native", "nooks", "both")
RANDOM = "random x5"          # the paper's mix: five random faults (SOSP'03 section 5.1)


@dataclass
class TrialRun:
    """One trial the panel ran: its result, the kernel it ran on, what the tracker held when
    Nooks detected the failure, and the story told about it."""

    mode: str
    result: object
    kernel: object
    story: Story
    snapshots: list[TrackerSnapshot] = field(default_factory=list)


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


class _InlineExecutor(Executor):
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


class FaultPanel(W.VBox):
    """The fault-injection panel.

    Parameters
    ----------
    extension, mode, seed: the initial choices (mode ``"native"``, ``"nooks"`` or ``"both"``).
    faults: fault types switched on at start (none: the first trial shows "no failure").
    run: run the initial trial now.

    Attributes
    ----------
    runs: the last trial, one :class:`TrialRun` per configuration. ``on_trial(callback)``
    registers ``callback(runs)``, called after every trial (the dashboard's views use it).
    """

    def __init__(self, extension: str | None = None, mode: str = "native", seed: int = 0,
                 faults=(), campaign_trials: int = 10, run: bool = True):
        choices = injectable_extensions()
        if not choices:
            raise ValueError("no extension with a workload is registered")
        extension = extension or choices[0]
        if extension not in choices:
            raise ValueError(f"unknown extension {extension!r}; choose from {list(choices)}")
        if mode not in MODE_CHOICES:
            raise ValueError(f"unknown configuration {mode!r}; choose from {list(MODE_CHOICES)}")
        self.extension = W.Dropdown(options=choices, value=extension, description="extension")
        self.mode = W.ToggleButtons(options=MODE_CHOICES, value=mode, description="configuration")
        self.seed = W.IntText(value=int(seed), description="seed", layout=W.Layout(width="220px"))
        self.toggles: dict[str, W.ToggleButton] = {}
        for kind in fault_types() + (RANDOM,):
            b = W.ToggleButton(value=kind in faults, description=kind,
                               tooltip=self._fault_doc(kind), layout=W.Layout(width="96px"))
            b.add_class("nookslab-fault-toggle")
            b.observe(self._toggled, names="value")
            self.toggles[kind] = b
        self.run_button = W.Button(description="inject & run", button_style="primary")
        self.next_button = W.Button(description="next seed")
        self.campaign_button = W.Button(description="run campaign")
        self.campaign_trials = W.BoundedIntText(value=campaign_trials, min=1, max=400,
                                                description="trials",
                                                layout=W.Layout(width="160px"))
        self.progress = W.IntProgress(value=0, min=0, max=1, description="campaign",
                                      layout=W.Layout(visibility="hidden"))
        self.status = W.HTML()
        self.stories = W.HBox(layout=W.Layout(align_items="flex-start"))
        self.stories.add_class("nookslab-stories")
        self.campaign_summary = W.HTML()
        self.run_button.on_click(lambda _: self.run())
        self.next_button.on_click(lambda _: self.next_seed())
        self.campaign_button.on_click(lambda _: self.run_campaign())
        self.runs: list[TrialRun] = []
        self.campaign = None
        self.replaying = None                 # the exact faults of a replayed campaign trial
        self._callbacks: list = []
        self._campaign_callbacks: list = []
        toggles = W.GridBox(list(self.toggles.values()),
                            layout=W.Layout(grid_template_columns="repeat(9, 100px)"))
        super().__init__([
            W.HBox([self.extension, self.seed]), self.mode,
            W.HTML("<b>faults</b> (one of each type switched on; toggling re-runs the trial)"),
            toggles,
            W.HBox([self.run_button, self.next_button, self.campaign_button,
                    self.campaign_trials]),
            self.progress, self.status, self.stories, self.campaign_summary])
        self.add_class("nookslab-panel")
        if run:
            self.run()

    @staticmethod
    def _fault_doc(kind: str) -> str:
        if kind == RANDOM:
            return "five random faults of the paper's mix, as in one campaign trial"
        from ..faults import FAULT_DOCS
        c_fault, ours = FAULT_DOCS[kind]
        return f"{c_fault}\nhere: {ours}"

    # -- callbacks --------------------------------------------------------------------------
    def on_trial(self, callback) -> None:
        self._callbacks.append(callback)

    def on_campaign(self, callback) -> None:
        self._campaign_callbacks.append(callback)

    def _toggled(self, change) -> None:
        self.replaying = None
        self.run()

    # -- what to inject ---------------------------------------------------------------------
    @property
    def chosen_types(self) -> tuple[str, ...]:
        return tuple(k for k, b in self.toggles.items() if b.value)

    def faults(self) -> tuple:
        """The faults the next trial injects (raises ValueError if a type has no site)."""
        if self.replaying is not None:
            return tuple(self.replaying)
        ext, seed = self.extension.value, int(self.seed.value)
        chosen = []
        types = [k for k in self.chosen_types if k != RANDOM]
        if RANDOM in self.chosen_types:
            from ..faults.trial import trial_faults
            chosen.extend(trial_faults(ext, seed, 5))
        if types:
            from ..faults.injector import generate
            from ..faults.trial import fault_rng
            rng = fault_rng(ext, seed)
            for kind in types:
                try:
                    chosen.extend(generate(ext, 1, rng, types=(kind,)))
                except ValueError:
                    raise ValueError(f"{ext} has no site for a {kind} fault") from None
        return tuple(chosen)

    @property
    def modes(self) -> tuple[str, ...]:
        return ("native", "nooks") if self.mode.value == "both" else (self.mode.value,)

    # -- running ------------------------------------------------------------------------------
    def run(self) -> list[TrialRun]:
        """Inject the chosen faults and run one trial in each chosen configuration."""
        from ..system import available_modes
        self.status.value = ""
        try:
            faults = self.faults()
        except ValueError as exc:
            self.runs = []
            self.status.value = f"<span style='color:#c62828'>{exc}</span>"
            self._show([unavailable(m, str(exc)) for m in self.modes])
            return self.runs
        runs, stories = [], []
        for mode in self.modes:
            if mode not in available_modes():
                stories.append(unavailable(mode, f"the {mode} configuration is not built yet in "
                                                 f"this installation"))
                continue
            run = self._trial(mode, faults)
            runs.append(run)
            stories.append(run.story)
        self.runs = runs
        self._show(stories)
        for callback in self._callbacks:
            callback(runs)
        return runs

    def _trial(self, mode: str, faults) -> TrialRun:
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
        ext, seed = self.extension.value, int(self.seed.value)
        try:
            workload_for(ext)
        except ValueError as exc:
            return TrialRun(mode, None, None, unavailable(mode, str(exc)))
        result, kernel = execute(ext, mode, seed, tuple(faults), setup=watch)
        try:
            story = tell(result, kernel)
        except Exception as exc:               # noqa: BLE001 - a message in the view instead
            story = Story(mode, result.outcome, f"{result} (the story could not be told: "
                                                f"{type(exc).__name__}: {exc})")
        return TrialRun(mode, result, kernel, story, snapshots)

    def _show(self, stories: list[Story]) -> None:
        self._shown = list(stories)
        boxes = []
        for story in stories:
            box = W.HTML(story.html(), layout=W.Layout(width=f"{98 // max(1, len(stories))}%"))
            box.add_class("nookslab-outcome-box")
            boxes.append(box)
        self.stories.children = boxes

    def next_seed(self) -> list[TrialRun]:
        """Re-run with the next seed (the same fault types, placed anew)."""
        self.replaying = None
        self.seed.value = int(self.seed.value) + 1
        return self.run()

    def replay(self, trial) -> list[TrialRun]:
        """Replay a campaign trial exactly: its extension, configuration, seed and faults."""
        self.replaying = tuple(trial.faults)
        self.extension.value = trial.extension
        self.mode.value = trial.mode
        self.seed.value = int(trial.seed)
        for b in self.toggles.values():       # the replayed faults stand for the toggles
            b.unobserve(self._toggled, names="value")
            b.value = False
            b.observe(self._toggled, names="value")
        self.status.value = (f"replaying trial {trial.index} of the campaign "
                             f"({len(trial.faults)} faults)")
        return self.run()

    # -- outcome, for tests and notebooks ----------------------------------------------------
    @property
    def verdicts(self) -> dict[str, str]:
        """{configuration: verdict word} of the stories on show."""
        return {s.mode: s.verdict for s in self.stories_shown}

    @property
    def stories_shown(self) -> list[Story]:
        return list(getattr(self, "_shown", []))

    @property
    def outcome_text(self) -> str:
        """What the story boxes say, as text (one paragraph per configuration)."""
        import html as _html
        import re
        return "\n".join(_html.unescape(re.sub(r"<[^>]+>", " ", b.value)).strip()
                         for b in self.stories.children)

    # -- a small campaign -------------------------------------------------------------------
    def run_campaign(self):
        """Run a campaign of ``campaign_trials`` trials of this extension (random faults, the
        paper's five per trial) in the chosen configurations, with a progress bar."""
        from ..faults import Campaign
        from ..system import available_modes
        modes = tuple(m for m in self.modes if m in available_modes())
        if not modes:
            self.status.value = "no configuration of this campaign is built yet"
            return None
        campaign = Campaign([self.extension.value], trials=int(self.campaign_trials.value),
                            seed=int(self.seed.value), modes=modes)
        total = len(campaign.tasks())
        self.progress.max = total
        self.progress.value = 0
        self.progress.layout.visibility = "visible"

        def tick():
            self.progress.value += 1
        result = campaign.run(executor=_InlineExecutor(tick), progress=False, batch=1)
        self.campaign = result
        counts = result.counts()
        lines = "".join(f"<li>{e} {m}: " + ", ".join(f"{o} {n}" for o, n in c.items()) + "</li>"
                        for (e, m), c in counts.items())
        self.campaign_summary.value = f"<b>campaign</b> ({total} trials)<ul>{lines}</ul>"
        for callback in self._campaign_callbacks:
            callback(result)
        return result
