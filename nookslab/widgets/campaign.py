"""The campaign explorer: figure 6 (system crashes) and figure 7 (non-fatal extension failures) of
SOSP'03 as bars, ours beside the paper's, as a share of trials. Each of our bars is a button: it
lists the trials of that extension, configuration and outcome, and any of them replays exactly
in the fault-injection panel.
"""
from __future__ import annotations

import html

import ipywidgets as W

FIGURES = (("crash", "Figure 6: system crashes"),
           ("nonfatal", "Figure 7: non-fatal extension failures"))
MODE_STYLE = {"native": "danger", "nooks": "info"}
BAR_PX = 260                 # width of a bar at 100% of trials
ALL = "all"


def _bar(count: int | None, trials: int, mode: str, clickable: bool) -> W.Button:
    pct = 0.0 if not trials or count is None else 100.0 * count / trials
    text = "-" if count is None else f"{count} ({pct:.1f}%)"
    b = W.Button(description=f"{mode}: {text}", button_style=MODE_STYLE.get(mode, ""),
                 disabled=not clickable or not count,
                 layout=W.Layout(width=f"{max(110, int(110 + BAR_PX * pct / 100))}px",
                                 height="24px"))
    b.add_class("nookslab-bar")
    return b


class CampaignExplorer(W.VBox):
    """Explore a :class:`~nookslab.faults.CampaignResult`.

    Parameters
    ----------
    result: the campaign result (None: an empty explorer that says how to get one).
    replay: ``replay(trial)`` called by the replay button (the panel's :meth:`FaultPanel.replay`).

    Attributes
    ----------
    bars: {(outcome, extension or "all", mode): Button}. selected: the trials listed now.
    """

    def __init__(self, result=None, replay=None):
        self.figures = W.VBox()
        self.listing = W.Select(options=[], rows=8, description="trials",
                                layout=W.Layout(width="720px"))
        self.replay_button = W.Button(description="replay in panel", disabled=True,
                                      button_style="primary")
        self.caption = W.HTML()
        self.replay = replay
        self.result = None
        self.bars: dict[tuple[str, str, str], W.Button] = {}
        self.selected: list = []
        self.replay_button.on_click(lambda _: self.replay_selected())
        self.listing.observe(self._picked, names="value")
        super().__init__([self.figures, self.caption, self.listing, self.replay_button])
        self.add_class("nookslab-campaign")
        self.show(result)

    def show(self, result) -> None:
        self.result = result
        self.bars = {}
        self.selected = []
        self.listing.options = []
        self.caption.value = ""
        if result is None:
            self.figures.children = [W.HTML(
                "<i>no campaign yet: press <b>run campaign</b> in the panel, or pass "
                "<code>Campaign(...).run()</code> to the explorer</i>")]
            return
        boxes = []
        for outcome, _title in FIGURES:
            table = result.figure6() if outcome == "crash" else result.figure7()
            rows = [W.HTML(f"<b>{html.escape(table.title)}</b> (share of trials; click a bar "
                           f"for its trials)")]
            modes = [m for m in ("native", "nooks") if m in result.config["modes"]]
            for r in table.rows:
                bars = []
                for m in modes:
                    b = _bar(getattr(r, m), r.trials, m, True)
                    b.on_click(lambda _, o=outcome, e=r.extension, m=m: self.select(o, e, m))
                    self.bars[(outcome, r.extension, m)] = b
                    bars.append(b)
                rows.append(W.HBox([W.HTML(f"{html.escape(r.extension)}",
                                           layout=W.Layout(width="90px"))] + bars))
            bars = []
            for m in modes:
                b = _bar(table.total(m), table.trials, m, True)
                b.on_click(lambda _, o=outcome, m=m: self.select(o, ALL, m))
                self.bars[(outcome, ALL, m)] = b
                bars.append(b)
            rows.append(W.HBox([W.HTML("<b>ours</b>", layout=W.Layout(width="90px"))] + bars))
            paper = [_bar(table.paper_native, table.paper_trials, "native", False),
                     _bar(table.paper_nooks, table.paper_trials, "nooks", False)]
            rows.append(W.HBox([W.HTML("<b>paper</b>", layout=W.Layout(width="90px"))] + paper))
            boxes.append(W.VBox(rows))
        self.figures.children = boxes

    def select(self, outcome: str, extension: str, mode: str) -> list:
        """List the trials of ``extension`` (or ``"all"``) in ``mode`` with ``outcome``."""
        if self.result is None:
            return []
        self.selected = [t for t in self.result.trials
                         if t.mode == mode and t.outcome == outcome
                         and (extension == ALL or t.extension == extension)]
        self.caption.value = (f"<b>{len(self.selected)}</b> {outcome} trial(s) of "
                              f"{html.escape(extension)} in {mode}")
        self.listing.options = [
            (f"#{t.index} {t.extension}/{t.mode} seed {t.seed}: {(t.cause or t.outcome)[:90]}", i)
            for i, t in enumerate(self.selected)]
        if self.selected:
            self.listing.value = 0
        self.replay_button.disabled = not self.selected or self.replay is None
        return self.selected

    def _picked(self, _change) -> None:
        self.replay_button.disabled = self.listing.value is None or self.replay is None

    def replay_selected(self):
        """Replay the trial picked in the list in the panel."""
        if self.replay is None or self.listing.value is None or not self.selected:
            return None
        return self.replay(self.selected[self.listing.value])
