"""Interactive views of the simulation for JupyterLab (ipywidgets).

The only subpackage that imports ipywidgets and IPython's display at module level. Every view
renders from a kernel's state, its ``kernel.events`` and result objects, and holds no simulation
logic::

    from nookslab.widgets import dashboard
    dashboard(extension="null", mode="both")          # the panel and every view
    dashboard(nl.boot(mode="nooks", seed=0))          # ... showing a kernel of your own first

Figure 2 (domains around the kernel): :func:`figure2`, its data :func:`architecture`.
Views: :class:`FaultPanel` (issue 7 item 1), :class:`MemoryMap` (2), :class:`XpcTrace` (3),
:class:`TrackerView` (4), :class:`RecoveryTimeline` (5), :class:`CampaignExplorer` (6).
"""
from __future__ import annotations

from .architecture import architecture, figure2
from .campaign import CampaignExplorer
from .dashboard import Dashboard, dashboard
from .memmap import MemoryMap
from .panel import FaultPanel, TrialRun
from .timeline import RecoveryTimeline
from .tracker import TrackerView
from .xpctrace import XpcTrace

__all__ = ["CampaignExplorer", "Dashboard", "FaultPanel", "MemoryMap", "RecoveryTimeline",
           "TrackerView", "TrialRun", "XpcTrace", "architecture", "dashboard", "figure2"]
