"""``dashboard(kernel)``: the fault-injection panel above the views of one kernel (memory map, XPC
trace, object tracker, recovery timeline) and the campaign explorer. Each trial the panel runs
replaces the kernel on show (in "both", the nooks one; a selector switches).
"""
from __future__ import annotations

import html

import ipywidgets as W

from .campaign import CampaignExplorer
from .memmap import MemoryMap
from .panel import FaultPanel
from .timeline import RecoveryTimeline
from .tracker import TrackerView
from .xpctrace import XpcTrace

TABS = ("memory map", "XPC trace", "object tracker", "recovery timeline", "campaign explorer")


class Dashboard(W.VBox):
    """The panel and every view, wired together.

    Attributes
    ----------
    panel, memory, xpc, tracker, recovery, explorer: the parts. kernel: the kernel on show.
    """

    def __init__(self, kernel=None, campaign=None, **panel_options):
        panel_options.setdefault("run", kernel is None)
        self.panel = FaultPanel(**panel_options)
        self.memory = MemoryMap()
        self.xpc = XpcTrace()
        self.tracker = TrackerView()
        self.recovery = RecoveryTimeline()
        self.explorer = CampaignExplorer(campaign, replay=self.panel.replay)
        self.which = W.ToggleButtons(options=["(none)"], description="views of")
        self.which.observe(self._switch, names="value")
        self._slots = [W.VBox([v]) for v in (self.memory, self.xpc, self.tracker, self.recovery,
                                             self.explorer)]
        self.tabs = W.Tab(children=self._slots)
        for i, title in enumerate(TABS):
            self.tabs.set_title(i, title)
        self.kernel = None
        self._kernels: dict = {}
        self.panel.on_trial(self._trial_ran)
        self.panel.on_campaign(self.explorer.show)
        super().__init__([self.panel, self.which, self.tabs])
        self.add_class("nookslab-dashboard")
        if kernel is not None:
            self._kernels = {f"given ({kernel.mode})": (kernel, [])}
            self._offer("given (" + kernel.mode + ")")
        elif self.panel.runs:
            self._trial_ran(self.panel.runs)

    def _trial_ran(self, runs) -> None:
        self._kernels = {r.mode: (r.kernel, r.snapshots) for r in runs if r.kernel is not None}
        if not self._kernels:
            self.show(None)
            return
        self._offer("nooks" if "nooks" in self._kernels else next(iter(self._kernels)))

    def _offer(self, choice: str) -> None:
        self.which.unobserve(self._switch, names="value")
        self.which.options = list(self._kernels)
        self.which.value = choice
        self.which.observe(self._switch, names="value")
        self.show(*self._kernels[choice])

    def _switch(self, change) -> None:
        if change["new"] in self._kernels:
            self.show(*self._kernels[change["new"]])

    def show(self, kernel, snapshots=()) -> None:
        """Point every view at ``kernel``."""
        self.kernel = kernel
        views = ((self.memory, (kernel,)), (self.xpc, (kernel,)),
                 (self.tracker, (kernel, snapshots)), (self.recovery, (kernel,)))
        for slot, (view, args) in zip(self._slots, views):
            try:
                view.show(*args)
                slot.children = [view]
            except Exception as exc:           # noqa: BLE001 - a message in the view, no traceback
                slot.children = [W.HTML(
                    f"<i>this view cannot show this kernel yet ({html.escape(type(exc).__name__)}:"
                    f" {html.escape(str(exc))}); a part it reads may not be built yet</i>")]


def dashboard(kernel=None, campaign=None, **panel_options) -> Dashboard:
    """The fault-injection panel and all views in one widget.

    Parameters
    ----------
    kernel: a booted kernel to show first (optional; otherwise the panel's first trial).
    campaign: a :class:`~nookslab.faults.CampaignResult` for the explorer (optional).
    panel_options: ``extension``, ``mode`` (native / nooks / both), ``seed``, ``faults`` for
        the panel (see :class:`~nookslab.widgets.FaultPanel`).
    """
    return Dashboard(kernel, campaign, **panel_options)
