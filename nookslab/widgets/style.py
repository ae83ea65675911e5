"""The views' stylesheet, shipped as a ``<style>`` element inside the widget tree (an HTML widget):
no JupyterLab extension to install, and it travels with the widget state into a saved notebook.

Every rule is scoped to a ``nookslab-`` class, so nothing else on the page changes. What it is for:
controls that wrap at laptop widths instead of being clipped (the file browser open at 1024 px
leaves ~600 px for an output), result boxes that wrap their text rather than spill into each
other, an active fault toggle that reads as *on* at a glance, a stale result greyed out, and the
dashboard's tab titles wrapping to a second row rather than being cut.
"""
from __future__ import annotations

import ipywidgets as W

CSS = """
.nookslab-panel, .nookslab-campaign, .nookslab-memmap, .nookslab-recovery {
  max-width: 100%; box-sizing: border-box; }
.nookslab-wrap { flex-wrap: wrap !important; gap: 4px 8px; max-width: 100%; }
.nookslab-wrap > .widget-inline-hbox, .nookslab-wrap > .jupyter-widgets { max-width: 100%; }
.nookslab-toggle-grid { width: 100%; max-width: 100%; box-sizing: border-box; }
.nookslab-toggle-grid .nookslab-fault-toggle { width: auto !important; min-width: 0;
  margin: 0 !important; }
.nookslab-fault-toggle.mod-active { font-weight: bold;
  box-shadow: inset 0 0 0 2px #0d3c6e !important; }
.nookslab-fault-toggle:not(.mod-active) { background: #f4f4f4; color: #333; }
.nookslab-configuration .widget-toggle-button.mod-active { background: #1565c0 !important;
  color: white !important; font-weight: bold; }
.nookslab-configuration .widget-toggle-buttons { flex-wrap: wrap; }
.nookslab-stories { flex-wrap: wrap !important; gap: 8px; width: 100%; }
.nookslab-outcome-box { flex: 1 1 280px !important; min-width: 0 !important;
  box-sizing: border-box; border: 1px solid #ddd; border-radius: 4px; padding: 6px 8px;
  overflow: hidden; }
.nookslab-outcome-box .widget-html-content, .nookslab-text .widget-html-content {
  line-height: 1.4; white-space: normal; overflow-wrap: anywhere; }
.nookslab-story ol, .nookslab-story ul { padding-left: 1.4em; margin: 2px 0; }
.nookslab-stale .nookslab-outcome-box, .nookslab-stale.nookslab-faults-box {
  opacity: 0.45; filter: grayscale(1); }
.nookslab-faults table { border-collapse: collapse; width: 100%; table-layout: auto; }
.nookslab-faults td, .nookslab-faults th { border-top: 1px solid #e4e4e4; padding: 3px 4px;
  vertical-align: top; text-align: left; line-height: 1.35; }
.nookslab-faults th, .nookslab-faults td[data-ran] { white-space: nowrap; overflow-wrap: normal; }
.nookslab-code { font-family: var(--jp-code-font-family, monospace); font-size: 0.92em;
  white-space: pre-wrap; overflow-wrap: anywhere; display: block; padding: 1px 4px; }
.nookslab-code.before { background: #fff5f5; }
.nookslab-code.after { background: #f3fbf3; }
.nookslab-code del { background: #ffc9c9; text-decoration: line-through; }
.nookslab-code ins { background: #a8e6a8; text-decoration: none; font-weight: bold; }
.nookslab-campaign .nookslab-bar-label { white-space: nowrap; }
.nookslab-listing { margin-left: 0 !important; margin-right: 0 !important; }
.nookslab-listing select { min-width: 0; width: 100%; }
.nookslab-campaign .nookslab-count { width: auto !important; min-width: 0;
  padding: 0 6px !important; height: 22px !important; line-height: 20px !important; }
.nookslab-timeline td, .nookslab-timeline th { padding: 1px 6px; vertical-align: top;
  overflow-wrap: normal; }
.nookslab-timeline th, .nookslab-timeline td.num { white-space: nowrap; }
.nookslab-timeline td.num { text-align: right; font-variant-numeric: tabular-nums; }
.nookslab-dashboard .widget-tab > .lm-TabBar .lm-TabBar-content { flex-wrap: wrap; }
.nookslab-dashboard .widget-tab > .lm-TabBar .lm-TabBar-tab { flex: 0 0 auto; min-width: 0; }
"""


def stylesheet() -> W.HTML:
    """An (invisible) HTML widget holding the stylesheet; put one in each top-level view."""
    sheet = W.HTML(f"<style>{CSS}</style>", layout=W.Layout(height="0px", margin="0px"))
    sheet.add_class("nookslab-style")
    return sheet
