"""The fault-injection panel: choose an extension, a configuration, fault types and a seed; inject
and run one trial, step to the next seed, or run a small campaign; read the outcome as a story.

What it runs is chosen in :mod:`nookslab.widgets.trials` and run by :mod:`nookslab.faults`; this
module lays the controls out (a grid that wraps at laptop widths) and keeps what is on show honest:
every change of extension, configuration, seed or fault type runs the trial again (trials take
0.1-0.3 s), and until the new result is in, the old one is greyed out and marked stale with the
choices it was for. A replayed campaign trial says on screen what it switched.
"""
from __future__ import annotations

import html
from contextlib import contextmanager

import ipywidgets as W

from .faultlist import FaultRow, fault_rows, fault_table
from .story import Story, unavailable
from .style import stylesheet
from .trials import (MODE_CHOICES, PAPER_FAULTS, RANDOM, InlineExecutor, TrialRun,
                     available_modes, chosen_faults, fault_doc, fault_types,
                     injectable_extensions)

__all__ = ["FaultPanel", "MODE_CHOICES", "RANDOM", "TrialRun", "injectable_extensions"]

_WARN = "#b26a00"


class FaultPanel(W.VBox):
    """The fault-injection panel.

    Parameters
    ----------
    extension, mode, seed: the initial choices (mode ``"native"``, ``"nooks"`` or ``"both"``).
    faults: fault types switched on at start (none: the first trial shows "no failure").
    campaign_trials: trials *per configuration* of the panel's small campaign.
    run: run the initial trial now.
    auto_run: run the trial again whenever a choice changes (default). When False a change
        only marks the result on show stale, until ``inject & run`` is pressed.

    Attributes
    ----------
    runs: the last trial, one :class:`TrialRun` per configuration. ``on_trial(callback)``
    registers ``callback(runs)``, called after every trial (the dashboard's views use it).
    stale: True while the result on show is not for the current choices.
    rows: the fault list on show (:class:`~nookslab.widgets.faultlist.FaultRow`).
    """

    def __init__(self, extension: str | None = None, mode: str = "native", seed: int = 0,
                 faults=(), campaign_trials: int = 10, run: bool = True, auto_run: bool = True):
        choices = injectable_extensions()
        if not choices:
            raise ValueError("no extension with a workload is registered")
        extension = extension or choices[0]
        if extension not in choices:
            raise ValueError(f"unknown extension {extension!r}; choose from {list(choices)}")
        if mode not in MODE_CHOICES:
            raise ValueError(f"unknown configuration {mode!r}; choose from {list(MODE_CHOICES)}")
        kinds = fault_types() + (RANDOM,)
        unknown = [k for k in faults if k not in kinds]
        if unknown:
            raise ValueError(f"unknown fault type {unknown[0]!r}; choose from {list(kinds)}")
        self.auto_run = bool(auto_run)
        self.extension = W.Dropdown(options=choices, value=extension, description="extension",
                                    layout=W.Layout(width="260px", max_width="100%"))
        self.mode = W.ToggleButtons(options=MODE_CHOICES, value=mode, description="configuration",
                                    style={"button_width": "88px"},
                                    layout=W.Layout(max_width="100%"))
        self.mode.add_class("nookslab-configuration")
        self.seed = W.IntText(value=int(seed), description="seed",
                              layout=W.Layout(width="180px", max_width="100%"))
        self.toggles: dict[str, W.ToggleButton] = {}
        for kind in kinds:
            b = W.ToggleButton(value=kind in faults, description=kind, tooltip=fault_doc(kind),
                               layout=W.Layout(width="auto", min_width="0"))
            b.add_class("nookslab-fault-toggle")
            self._paint(b)
            b.observe(self._toggled, names="value")
            self.toggles[kind] = b
        self.run_button = W.Button(description="inject & run", button_style="primary",
                                   layout=W.Layout(width="auto"))
        self.next_button = W.Button(description="next seed", layout=W.Layout(width="auto"))
        self.campaign_button = W.Button(description="run campaign", layout=W.Layout(width="auto"))
        self.campaign_trials = W.BoundedIntText(value=campaign_trials, min=1, max=400,
                                                description="trials per configuration",
                                                style={"description_width": "initial"},
                                                layout=W.Layout(width="230px"))
        self.progress = W.IntProgress(value=0, min=0, max=1, description="campaign",
                                      layout=W.Layout(display="none", max_width="100%"))
        self.status = W.HTML()
        self.status.add_class("nookslab-text")
        self.caption = W.HTML()
        self.caption.add_class("nookslab-text")
        self.fault_list = W.HTML(layout=W.Layout(width="100%"))
        self.fault_list.add_class("nookslab-text")
        self.fault_list.add_class("nookslab-faults-box")
        self.stories = W.HBox(layout=W.Layout(align_items="flex-start", flex_flow="row wrap",
                                              width="100%"))
        self.stories.add_class("nookslab-stories")
        self.results = W.VBox([self.caption, self.fault_list, self.stories],
                              layout=W.Layout(width="100%"))
        self.results.add_class("nookslab-results")
        self.campaign_summary = W.HTML()
        self.campaign_summary.add_class("nookslab-text")
        self.run_button.on_click(lambda _: self.run())
        self.next_button.on_click(lambda _: self.next_seed())
        self.campaign_button.on_click(lambda _: self.run_campaign())
        for control in (self.extension, self.mode, self.seed):
            control.observe(self._changed, names="value")
        self.runs: list[TrialRun] = []
        self.rows: list[FaultRow] = []
        self.campaign = None
        self.replaying = None                 # the exact faults of a replayed campaign trial
        self.stale = False
        self._shown_for = ""                  # the choices the result on show was run with
        self._replay_note = ""
        self._quiet = False
        self._callbacks: list = []
        self._campaign_callbacks: list = []
        grid = W.GridBox(list(self.toggles.values()), layout=W.Layout(
            grid_template_columns="repeat(auto-fill, minmax(92px, 1fr))", grid_gap="4px",
            width="100%"))
        grid.add_class("nookslab-toggle-grid")
        self.toggle_grid = grid
        wrap = dict(flex_flow="row wrap", align_items="center", max_width="100%")
        top = W.HBox([self.extension, self.seed], layout=W.Layout(**wrap))
        actions = W.HBox([self.run_button, self.next_button, self.campaign_button,
                          self.campaign_trials], layout=W.Layout(**wrap))
        for box in (top, actions):
            box.add_class("nookslab-wrap")
        legend = W.HTML("<b>faults</b>: one of each type switched on (a blue button is on); "
                        "every change runs the trial again")
        legend.add_class("nookslab-text")
        super().__init__([
            stylesheet(), top, self.mode, legend,
            grid, actions, self.progress, self.status, self.results, self.campaign_summary],
            layout=W.Layout(max_width="100%"))
        self.add_class("nookslab-panel")
        if run:
            self.run()
        else:
            self._show([], [])

    # -- callbacks --------------------------------------------------------------------------
    def on_trial(self, callback) -> None:
        self._callbacks.append(callback)

    def on_campaign(self, callback) -> None:
        self._campaign_callbacks.append(callback)

    @staticmethod
    def _paint(button: W.ToggleButton) -> None:
        """An active toggle is blue, bold and outlined; an inactive one stays plain grey."""
        button.button_style = "info" if button.value else ""

    @contextmanager
    def _quietly(self):
        """Change several controls without each change running a trial."""
        self._quiet = True
        try:
            yield
        finally:
            self._quiet = False

    def _toggled(self, change) -> None:
        self._paint(change["owner"])
        if self._quiet:
            return
        self.replaying = None
        self._changed(change)

    def _changed(self, change) -> None:
        """A choice changed: the result on show no longer answers it."""
        if self._quiet:
            return
        self._replay_note = ""
        if change["owner"] is not self.mode and change["owner"] not in self.toggles.values():
            self.replaying = None             # a replayed trial's faults belong to its seed
        self._mark_stale()
        if self.auto_run:
            self.run()

    def _mark_stale(self) -> None:
        if not self._shown_for:
            return
        self.stale = True
        self.results.add_class("nookslab-stale")
        then = ("running the trial again&hellip;" if self.auto_run else
                "press <b>inject &amp; run</b> to run the trial for the new choices "
                f"({html.escape(self.choices)})")
        self.caption.value = (f"<b style='color:{_WARN}'>stale</b>: the result below is for "
                              f"{html.escape(self._shown_for)}; {then}")

    # -- what to inject ---------------------------------------------------------------------
    @property
    def chosen_types(self) -> tuple[str, ...]:
        return tuple(k for k, b in self.toggles.items() if b.value)

    def faults(self) -> tuple:
        """The faults the next trial injects (raises ValueError if a type has no site)."""
        if self.replaying is not None:
            return tuple(self.replaying)
        return chosen_faults(self.extension.value, int(self.seed.value), self.chosen_types)

    @property
    def modes(self) -> tuple[str, ...]:
        return ("native", "nooks") if self.mode.value == "both" else (self.mode.value,)

    @property
    def choices(self) -> str:
        """The current choices in words (what a result on show is labelled with)."""
        if self.replaying is not None:
            kinds = f"the {len(self.replaying)} faults of the replayed campaign trial"
        else:
            kinds = ", ".join(self.chosen_types) or "none"
        return (f"{self.extension.value}, seed {int(self.seed.value)}, configuration "
                f"{self.mode.value}, faults: {kinds}")

    # -- running ------------------------------------------------------------------------------
    def run(self) -> list[TrialRun]:
        """Inject the chosen faults and run one trial in each chosen configuration."""
        self.status.value = self._replay_note
        try:
            faults = self.faults()
        except ValueError as exc:
            self.runs = []
            self.status.value = f"<span style='color:#c62828'>{html.escape(str(exc))}</span>"
            self._show([unavailable(m, str(exc)) for m in self.modes], [])
            return self.runs
        runs, stories, kernels = [], [], {}
        built = available_modes()
        for mode in self.modes:
            if mode not in built:
                stories.append(unavailable(mode, f"the {mode} configuration is not built yet in "
                                                 f"this installation"))
                kernels[mode] = None
                continue
            run = self._trial(mode, faults)
            runs.append(run)
            stories.append(run.story)
            kernels[mode] = run.kernel
        self.runs = runs
        self._show(stories, fault_rows(self.extension.value, faults, kernels))
        for callback in self._callbacks:
            callback(runs)
        return runs

    def _trial(self, mode: str, faults) -> TrialRun:
        from .trials import run_one
        return run_one(self.extension.value, mode, int(self.seed.value), faults)

    def _show(self, stories: list[Story], rows: list[FaultRow]) -> None:
        self._shown = list(stories)
        self.rows = list(rows)
        self.stale = False
        self.results.remove_class("nookslab-stale")
        if not stories:
            self._shown_for = ""
            self.caption.value = "<i>no trial yet: press <b>inject &amp; run</b></i>"
            self.fault_list.value = ""
            self.stories.children = []
            return
        self._shown_for = self.choices
        self.caption.value = f"<b>Result</b> for {html.escape(self._shown_for)}"
        self.fault_list.value = fault_table(self.rows)
        boxes = []
        for story in stories:
            box = W.HTML(story.html(faults=False),
                         layout=W.Layout(flex="1 1 280px", min_width="0"))
            box.add_class("nookslab-outcome-box")
            box.add_class("nookslab-text")
            boxes.append(box)
        self.stories.children = boxes

    def next_seed(self) -> list[TrialRun]:
        """Re-run with the next seed (the same fault types, placed anew)."""
        self.replaying = None
        self._replay_note = ""
        with self._quietly():
            self.seed.value = int(self.seed.value) + 1
        self._mark_stale()
        return self.run()

    def replay(self, trial) -> list[TrialRun]:
        """Replay a campaign trial exactly: its extension, configuration, seed and faults, and
        say on screen which of the panel's choices that changed."""
        from ..faults.trial import trial_faults
        before = (self.extension.value, self.mode.value, int(self.seed.value),
                  self.chosen_types)
        try:
            as_random = tuple(trial.faults) == trial_faults(trial.extension, int(trial.seed),
                                                            PAPER_FAULTS)
        except ValueError:
            as_random = False
        with self._quietly():
            self.extension.value = trial.extension
            self.mode.value = trial.mode
            self.seed.value = int(trial.seed)
            for kind, b in self.toggles.items():   # the replayed faults stand for the toggles
                b.value = as_random and kind == RANDOM
        self.replaying = None if as_random else tuple(trial.faults)
        changed = []
        for what, old, new in (("extension", before[0], trial.extension),
                               ("configuration", before[1], trial.mode),
                               ("seed", before[2], int(trial.seed))):
            if old != new:
                changed.append(f"{what} {old} &rarr; {new}")
        old_types = ", ".join(before[3]) or "none"
        new_types = (RANDOM + f" (the trial's {PAPER_FAULTS} faults)" if as_random else
                     f"all off: the trial's {len(trial.faults)} faults are injected instead")
        if not (as_random and before[3] == (RANDOM,)):
            changed.append(f"fault toggles {html.escape(old_types)} &rarr; {new_types}")
        self._replay_note = (
            f"<div style='border-left:4px solid {_WARN};padding-left:6px'><b>Replaying campaign "
            f"trial #{trial.index}</b> ({html.escape(trial.extension)}, {trial.mode}, seed "
            f"{trial.seed}: {html.escape(trial.outcome)} in the campaign). Changed for the "
            f"replay: {'; '.join(changed) or 'nothing'}.</div>")
        runs = self.run()
        if runs and runs[0].result is not None and runs[0].result.outcome != trial.outcome:
            self.status.value += (f"<div style='color:#c62828'>the replay's outcome "
                                  f"({runs[0].result.outcome}) differs from the campaign's "
                                  f"({trial.outcome})</div>")
        return runs

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
        """What the fault list and the story boxes say, as text (one paragraph each)."""
        import re
        parts = [self.fault_list.value] + [b.value for b in self.stories.children]
        return "\n".join(html.unescape(re.sub(r"<[^>]+>", " ", p)).strip() for p in parts if p)

    # -- a small campaign -------------------------------------------------------------------
    def run_campaign(self):
        """Run a campaign of ``campaign_trials`` trials per configuration of this extension
        (random faults, the paper's five per trial) in the chosen configurations, with a
        progress bar."""
        from ..faults import Campaign
        built = available_modes()
        modes = tuple(m for m in self.modes if m in built)
        if not modes:
            self.status.value = "no configuration of this campaign is built yet"
            return None
        per = int(self.campaign_trials.value)
        campaign = Campaign([self.extension.value], trials=per, seed=int(self.seed.value),
                            modes=modes)
        total = len(campaign.tasks())
        self.progress.max = total
        self.progress.value = 0
        self.progress.description = f"{total} trials"
        self.progress.layout.display = ""

        def tick():
            self.progress.value += 1
        result = campaign.run(executor=InlineExecutor(tick), progress=False, batch=1)
        self.campaign = result
        counts = result.counts()
        lines = "".join(f"<li>{e} {m}: " + ", ".join(f"{o} {n}" for o, n in c.items()) + "</li>"
                        for (e, m), c in counts.items())
        self.campaign_summary.value = (
            f"<b>campaign</b>: {per} trials per configuration &times; {len(modes)} "
            f"configuration(s) = {total} trials (seed {int(self.seed.value)}; the same faults "
            f"in each configuration)<ul>{lines}</ul>")
        for callback in self._campaign_callbacks:
            callback(result)
        return result
