"""The campaign explorer: figure 6 (system crashes) and figure 7 (non-fatal extension failures) of
SOSP'03 as bars, ours beside the paper's, as a share of trials. A bar's length is proportional to
its share (0 is no bar at all; the scale is printed under each figure) and its count is written
outside it, as a button: it lists the trials of that extension, configuration and outcome, the
picked trial's full cause and faults are shown wrapped below, and it replays exactly in the
fault-injection panel.
"""
from __future__ import annotations

import html

import ipywidgets as W

from .faultlist import fault_rows, fault_table
from .style import stylesheet

FIGURES = (("crash", "Figure 6: system crashes"),
           ("nonfatal", "Figure 7: non-fatal extension failures"))
MODE_COLOURS = {"native": "#d9534f", "nooks": "#1565c0"}
BAR_PX = 240                 # length of a bar at the figure's full scale
SCALES = (5, 10, 20, 25, 50, 100)
ALL = "all"
PAPER = "paper"
SHORT_CAUSE = 70             # characters of a cause in the trial list (the full one is below)


def share(count: int | None, trials: int) -> float:
    """``count`` as a percentage of ``trials`` (0 for no count)."""
    return 0.0 if not trials or count is None else 100.0 * count / trials


def full_scale(shares) -> int:
    """The figure's full-width share: the smallest of :data:`SCALES` that holds every bar."""
    top = max([0.0, *shares])
    return next(s for s in SCALES if top <= s)


def bar_px(pct: float, scale: float) -> float:
    """A bar's length in pixels: proportional to its share, no minimum."""
    return round(BAR_PX * pct / scale, 1)


def _track(width: float, mode: str, paper: bool) -> str:
    colour = MODE_COLOURS.get(mode, "#777")
    fill = (f"background:repeating-linear-gradient(45deg,{colour},{colour} 3px,#fff 3px,"
            f"#fff 5px)" if paper else f"background:{colour}")
    return (f"<div class='nookslab-bar-track' style='width:{BAR_PX}px;height:14px;margin-top:4px;"
            f"background:#f0f0f0;border-left:1px solid #888'><div class='nookslab-bar' "
            f"data-width='{width}' style='width:{width}px;height:14px;{fill}'></div></div>")


class CampaignExplorer(W.VBox):
    """Explore a :class:`~nookslab.faults.CampaignResult`.

    Parameters
    ----------
    result: the campaign result (None: an empty explorer that says how to get one).
    replay: ``replay(trial)`` called by the replay button (the panel's :meth:`FaultPanel.replay`).

    Attributes
    ----------
    bars: {(outcome, extension or "all", mode): Button}, the count beside each of our bars
    (click: list its trials). widths: {(outcome, extension, "all" or "paper", mode): pixels} of
    every bar drawn; scales: {outcome: full-width share in %}. selected: the trials listed now.
    """

    def __init__(self, result=None, replay=None):
        self.figures = W.VBox(layout=W.Layout(max_width="100%"))
        self.listing = W.Select(options=[], rows=8, layout=W.Layout(
            width="100%", max_width="720px", display="none"))
        self.listing.add_class("nookslab-listing")
        self.detail = W.HTML(layout=W.Layout(max_width="100%"))
        self.detail.add_class("nookslab-text")
        self.replay_button = W.Button(description="replay in panel", disabled=True,
                                      button_style="primary", layout=W.Layout(display="none"))
        self.caption = W.HTML()
        self.caption.add_class("nookslab-text")
        self.replay = replay
        self.result = None
        self.bars: dict[tuple[str, str, str], W.Button] = {}
        self.widths: dict[tuple[str, str, str], float] = {}
        self.scales: dict[str, int] = {}
        self.selected: list = []
        self.replay_button.on_click(lambda _: self.replay_selected())
        self.listing.observe(self._picked, names="value")
        super().__init__([stylesheet(), self.figures, self.caption, self.listing, self.detail,
                          self.replay_button], layout=W.Layout(max_width="100%"))
        self.add_class("nookslab-campaign")
        self.show(result)

    def show(self, result) -> None:
        self.result = result
        self.bars, self.widths, self.scales = {}, {}, {}
        self.selected = []
        self.listing.options = []
        self.listing.layout.display = self.replay_button.layout.display = "none"
        self.caption.value = self.detail.value = ""
        if result is None:
            self.figures.children = [W.HTML(
                "<i>no campaign yet: press <b>run campaign</b> in the panel, or pass "
                "<code>Campaign(...).run()</code> to the explorer</i>")]
            return
        from ..eval.paper import TRIALS_PER_EXTENSION
        modes = [m for m in ("native", "nooks") if m in result.config["modes"]]
        per = int(result.config["trials"])
        boxes = []
        for outcome, _title in FIGURES:
            table = result.figure6() if outcome == "crash" else result.figure7()
            lines = [(r.extension, m, getattr(r, m), r.trials, False)
                     for r in table.rows for m in modes]
            lines += [(ALL, m, table.total(m), table.trials, False) for m in modes]
            lines += [(PAPER, "native", table.paper_native, table.paper_trials, True),
                      (PAPER, "nooks", table.paper_nooks, table.paper_trials, True)]
            scale = full_scale(share(n, t) for _, _, n, t, _ in lines)
            self.scales[outcome] = scale
            head = W.HTML(f"<b>{html.escape(table.title)}</b>: share of trials, "
                          f"{per} trials per configuration per extension (the paper: "
                          f"{TRIALS_PER_EXTENSION} per extension, {table.paper_trials} in "
                          f"all). Click a count for its trials.")
            head.add_class("nookslab-text")
            rows = [head]
            for ext, mode, n, trials, paper in lines:
                rows.append(self._line(outcome, ext, mode, n, trials, paper, scale))
            rows.append(W.HTML(f"<span style='color:#666'>bar length: 0 to {scale}% of "
                               f"trials ({BAR_PX} px); striped: the paper's totals</span>"))
            boxes.append(W.VBox(rows, layout=W.Layout(margin="0 0 10px 0", max_width="100%")))
        notes = self._excluded(result)
        if notes:
            boxes.append(W.HTML(notes))
        self.figures.children = boxes

    def _line(self, outcome, ext, mode, n, trials, paper, scale) -> W.HBox:
        pct = share(n, trials)
        width = bar_px(pct, scale)
        self.widths[(outcome, ext, mode)] = width
        name = {ALL: "<b>ours, all</b>", PAPER: "<b>paper</b>"}.get(ext, html.escape(ext))
        label = W.HTML(f"{name}", layout=W.Layout(width="80px"))
        label.add_class("nookslab-bar-label")
        who = W.HTML(f"<span style='color:{MODE_COLOURS.get(mode, '#555')}'>{mode}</span>",
                     layout=W.Layout(width="54px"))
        track = W.HTML(_track(width, mode, paper), layout=W.Layout(width=f"{BAR_PX + 4}px"))
        text = "-" if n is None else f"{n} of {trials} ({pct:.1f}%)"
        count = W.Button(description=text, disabled=paper or not n,
                         tooltip=("the paper's total" if paper else
                                  f"list the {outcome} trials of {ext} in {mode}"),
                         layout=W.Layout(width="auto"))
        count.add_class("nookslab-count")
        if not paper:
            count.on_click(lambda _, o=outcome, e=ext, m=mode: self.select(o, e, m))
            self.bars[(outcome, ext, mode)] = count
        row = W.HBox([label, who, track, count], layout=W.Layout(
            flex_flow="row wrap", align_items="center", max_width="100%"))
        row.add_class("nookslab-bar-row")
        return row

    @staticmethod
    def _excluded(result) -> str:
        """A note on trials counted in no figure (the simulator's own errors and limits)."""
        extra: dict[str, int] = {}
        for t in result.trials:
            if t.outcome not in ("crash", "nonfatal", "none"):
                extra[t.outcome] = extra.get(t.outcome, 0) + 1
        if not extra:
            return ""
        listed = ", ".join(f"{n} {o}" for o, n in sorted(extra.items()))
        return (f"<i>not counted in either figure (a limit or error of the simulator, not a "
                f"driver failure): {html.escape(listed)}</i>")

    def select(self, outcome: str, extension: str, mode: str) -> list:
        """List the trials of ``extension`` (or ``"all"``) in ``mode`` with ``outcome``."""
        if self.result is None:
            return []
        self.selected = [t for t in self.result.trials
                         if t.mode == mode and t.outcome == outcome
                         and (extension == ALL or t.extension == extension)]
        self.caption.value = (f"<b>{len(self.selected)}</b> {outcome} trial(s) of "
                              f"{html.escape(extension)} in {mode}: pick one to read its full "
                              f"cause and faults, then replay it")
        self.listing.options = [(self._label(t), i) for i, t in enumerate(self.selected)]
        self.listing.layout.display = self.replay_button.layout.display = ""
        if self.selected:
            self.listing.value = 0
        self._picked()
        return self.selected

    @staticmethod
    def _label(t) -> str:
        cause = t.cause or t.outcome
        if len(cause) > SHORT_CAUSE:
            cause = cause[:SHORT_CAUSE - 1] + "\u2026"
        return f"#{t.index} {t.extension}/{t.mode} seed {t.seed}: {cause}"

    @property
    def picked(self):
        """The trial picked in the list (None if none)."""
        if self.listing.value is None or not self.selected:
            return None
        return self.selected[self.listing.value]

    def _picked(self, _change=None) -> None:
        t = self.picked
        self.replay_button.disabled = t is None or self.replay is None
        if t is None:
            self.detail.value = ""
            return
        rows = fault_rows(t.extension, t.faults, {})
        self.detail.value = (
            f"<div style='line-height:1.4;overflow-wrap:anywhere'><b>trial #{t.index}</b> "
            f"{html.escape(t.extension)}/{t.mode}, seed {t.seed}: <b>{html.escape(t.outcome)}"
            f"</b>{': ' + html.escape(t.cause) if t.cause else ''} ({t.activated} of "
            f"{len(t.faults)} faults ran)</div>" + fault_table(rows))

    def replay_selected(self):
        """Replay the trial picked in the list in the panel."""
        t = self.picked
        if self.replay is None or t is None:
            return None
        return self.replay(t)
