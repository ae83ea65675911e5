"""The views (memory map, XPC trace, tracker, recovery timeline, campaign explorer, dashboard)
driven from Python: what they show after a trial."""
from __future__ import annotations

import numpy as np

import nookslab as nl
from nookslab.widgets import (CampaignExplorer, MemoryMap, RecoveryTimeline, TrackerView,
                              XpcTrace, dashboard)
from nookslab.widgets.data import MARK_COLOUR, crossing_counts, grid_shape, picture_pixels


# -- memory map ------------------------------------------------------------------------------
def test_the_memory_map_frames_the_page_the_faulting_store_hit(nooks_crash_run):
    view = MemoryMap(nooks_crash_run.kernel)
    assert view.highlighted == 1                       # 0x00001004 lies in page 1
    assert "faulting write</b> at 0x00001004 by domain null" in view.info.value
    assert ("owner &#x27;kernel heap&#x27;; read-only in the domain null page table"
            in view.info.value)
    img = picture_pixels(view.picture)
    cols, _, cell = grid_shape(len(view.picture.colours))
    assert (cols, cell) == (64, 8)
    assert tuple(img[0, cell + 2]) == MARK_COLOUR      # inside page 1's square
    assert tuple(img[2 * cell + 4, 5 * cell + 4]) != MARK_COLOUR   # far from it


def test_the_owner_view_counts_every_page_of_a_16_mib_machine(nooks_crash_run):
    view = MemoryMap(nooks_crash_run.kernel)
    counts = view.picture.counts
    assert sum(counts.values()) == 4096
    assert counts["reserved"] == 1
    domain = nooks_crash_run.kernel.isolation.domains["null"]
    from nookslab.nooks.domain import STACK_PAGES
    assert counts["domain null stacks"] == len(domain.stacks) * STACK_PAGES
    assert counts["domain null heap"] + counts["domain null stacks"] == \
        len(domain.memory_pages())
    assert bytes(view.image.value).startswith(b"\x89PNG\r\n\x1a\n")
    assert view.image.width == "512"


def test_the_write_permission_view_shows_what_the_selected_domain_may_write(nooks_crash_run):
    k = nooks_crash_run.kernel
    view = MemoryMap(k)
    view.colour_by.value = "write permission"
    assert view.table.value == "domain null"           # the domain the fault happened in
    domain = k.isolation.domains["null"]
    own = int(np.count_nonzero(k.machine.pages.owner == domain.owner))
    counts = view.picture.counts
    assert counts["writable: the domain's own heap and stacks"] == own
    writable = int(np.count_nonzero(domain.pt.array[:4096] & 2))
    assert counts["writable: the domain's own heap and stacks"] + \
        counts["writable: granted (DMA, device, lent buffers)"] == writable
    view.table.value = "kernel"
    assert view.picture.counts["not present"] == 1     # page 0: NULL must fault
    assert "writable (kernel page table)" in view.picture.counts


def test_a_native_crash_marks_where_the_kernel_found_the_corruption(crash_case):
    from nookslab.widgets import FaultPanel
    panel = FaultPanel(extension="null", mode="native", seed=14, faults=("PTR",))
    view = MemoryMap(panel.runs[0].kernel)
    assert view.highlighted == 1
    assert ("corruption found</b> at 0x00001018 by the kernel's integrity check: page 1"
            in view.info.value)


def test_the_memory_map_without_a_kernel_says_so():
    view = MemoryMap()
    assert view.highlighted is None
    assert "run a trial" in view.info.value


# -- XPC trace --------------------------------------------------------------------------------
def test_the_xpc_trace_counts_every_recorded_crossing(nooks_crash_run):
    k = nooks_crash_run.kernel
    view = XpcTrace(k)
    xpcs = [e for e in k.events if e.kind == "xpc"]
    assert len(view.crossings) == len(xpcs) == k.isolation.xpc_count
    assert sum(n for _, _, n in view.counts) == len(xpcs)
    assert f"<b>{k.isolation.xpc_count}</b> crossings" in view.summary.value
    calls = sum(1 for e in xpcs if e.detail.endswith("->"))
    assert sum(n for _, kind, n in view.counts if kind == "call") == calls
    assert view.timeline.value.startswith("<svg")


def test_zooming_to_one_call_shows_its_path_only(nooks_crash_run):
    view = XpcTrace(nooks_crash_run.kernel)
    path = view.zoom_to("file_operations.write")
    assert path[0].function == "file_operations.write" and path[0].kind == "call"
    assert all(not (c.kind == "call" and c.function == "file_operations.write") for c in path[1:])
    assert view.path == path
    assert "one call's path" in view.detail.value
    assert sum(n for _, _, n in view.counts) == len(path)
    view.zoom.value = -1
    assert view.path == [] and view.detail.value == ""


def test_the_crossing_window_narrows_the_timeline_and_the_counts(nooks_crash_run):
    view = XpcTrace(nooks_crash_run.kernel)
    assert view.window.value == (0, len(view.crossings) - 1)
    view.window.value = (10, 19)
    assert sum(n for _, _, n in view.counts) == 10
    assert view.counts == crossing_counts(view.crossings[10:20])


def test_the_xpc_trace_of_a_native_kernel_explains_there_are_no_crossings():
    k = nl.boot(mode="native", seed=0)
    k.load("null")
    view = XpcTrace(k)
    assert view.crossings == []
    assert "no call crosses a domain boundary" in view.summary.value


def test_deferred_batches_are_parsed_from_the_trace():
    from nookslab.kernel.trace import Event
    from nookslab.widgets.data import crossings
    events = [Event(10, "xpc", "e1000", "net_device_ops.ndo_start_xmit ->"),
              Event(20, "xpc", "e1000", "<- dev_kfree_skb_irq"),
              Event(30, "irq", "kernel", "irq 11"),
              Event(40, "xpc", "e1000", "<- deferred x3")]
    xs = crossings(events)
    assert [(c.index, c.kind, c.function, c.batch) for c in xs] == [
        (0, "call", "net_device_ops.ndo_start_xmit", 0), (1, "kernel", "dev_kfree_skb_irq", 0),
        (3, "deferred", "deferred x3", 3)]
    assert crossing_counts(xs) == [("deferred batch", "deferred", 1),
                                   ("dev_kfree_skb_irq", "kernel", 1),
                                   ("net_device_ops.ndo_start_xmit", "call", 1)]


# -- tracker and recovery -----------------------------------------------------------------
def test_the_tracker_view_shows_the_table_recovery_emptied(nooks_crash_run):
    k = nooks_crash_run.kernel
    view = TrackerView(k, nooks_crash_run.snapshots)
    (snap,) = view.snapshots
    assert snap.domain == "null" and snap.trigger == "fault"
    assert len(snap.rows) == 10
    record = k.recoveries[0]
    assert len(record.released) == 10 and len(record.kept) == 2
    assert "10 tracked object(s), 10 released or kept by recovery" in view.before.value
    assert "released via free_irq" in view.before.value
    assert "kept for the device, released after reload via iounmap" in view.before.value
    # after the restart the new domain tracks what the re-run init acquired
    assert view.count("null") == len(k.isolation.domains["null"].tracker)
    assert view.count("null") > 0


def test_the_tracker_view_of_a_native_kernel_says_there_is_no_tracker():
    view = TrackerView(nl.boot(mode="native", seed=0))
    assert view.rows == {}
    assert "there is no object tracker" in view.now.value


def test_the_recovery_timeline_lists_detection_then_the_papers_steps_in_order(nooks_crash_run):
    view = RecoveryTimeline(nooks_crash_run.kernel)
    assert view.steps == ["detected", "recovery starts", "disable interrupts", "agent policy",
                          "unwind", "release objects", "unload", "reset device", "reload",
                          "init", "release physical", "recovered"]
    times = [r.time for r in view.rows]
    assert times == sorted(times)
    assert view.rows[0].time == 215696                # the page fault, in cycles
    assert "<b>release objects</b>" in view.html.value


def test_the_recovery_timeline_without_a_failure_says_nothing_was_recovered():
    k = nl.boot(mode="nooks", seed=0)
    assert "Nooks detected no failure" in RecoveryTimeline(k).html.value


# -- campaign explorer ----------------------------------------------------------------------
def _small_campaign():
    from nookslab.faults import Campaign
    return Campaign(["null"], trials=4, seed=0).run(progress=False)


def test_the_campaign_bars_show_our_counts_and_the_papers_totals():
    result = _small_campaign()
    view = CampaignExplorer(result)
    counts = result.counts()
    for outcome in ("crash", "nonfatal"):
        for mode in ("native", "nooks"):
            n = counts[("null", mode)][outcome]
            assert view.bars[(outcome, "null", mode)].description.startswith(f"{mode}: {n} (")
            assert view.bars[(outcome, "all", mode)].description.startswith(f"{mode}: {n} (")
    text = str(view.figures.children[0].children[-1].children[1].description)
    assert text == "native: 317 (15.8%)"               # the paper's figure 6 total of 2000


def test_clicking_a_bar_lists_its_trials_and_replay_reruns_one_in_the_panel():
    from nookslab.widgets import FaultPanel
    result = _small_campaign()
    panel = FaultPanel(extension="null", run=False)
    view = CampaignExplorer(result, replay=panel.replay)
    counts = result.counts()
    outcome = "nonfatal" if counts[("null", "native")]["nonfatal"] else "crash"
    view.bars[(outcome, "null", "native")].click()
    assert len(view.selected) == counts[("null", "native")][outcome]
    assert all(t.outcome == outcome and t.mode == "native" for t in view.selected)
    assert len(view.listing.options) == len(view.selected)
    view.replay_button.click()
    trial = view.selected[0]
    (run,) = panel.runs
    assert run.result.faults == trial.faults and run.result.seed == trial.seed
    assert run.result.outcome == trial.outcome
    assert panel.seed.value == trial.seed and panel.mode.value == "native"


def test_the_explorer_without_a_campaign_says_how_to_get_one():
    view = CampaignExplorer()
    assert view.bars == {}
    assert "run campaign" in view.figures.children[0].value


# -- dashboard ---------------------------------------------------------------------------
def test_the_dashboard_shows_a_given_kernel_and_then_each_trial():
    k = nl.boot(mode="nooks", seed=0)
    k.load("null")
    board = dashboard(k, extension="null", seed=14, mode="both")
    assert board.kernel is k and board.panel.runs == []
    assert board.tracker.count("null") == len(k.isolation.domains["null"].tracker)
    board.panel.toggles["PTR"].value = True
    assert board.which.options == ("native", "nooks") and board.which.value == "nooks"
    assert board.memory.highlighted == 1
    assert board.recovery.steps[0] == "detected"
    board.which.value = "native"
    assert board.kernel.mode == "native"
    assert board.tracker.rows == {}


def test_the_dashboard_campaign_fills_the_explorer():
    board = dashboard(extension="null", mode="native", seed=0, campaign_trials=2)
    assert board.panel.verdicts == {"native": "no failure"}
    board.panel.campaign_button.click()
    assert board.explorer.result is board.panel.campaign
    assert ("crash", "null", "native") in board.explorer.bars


def test_a_view_that_fails_on_a_kernel_shows_a_message_in_its_tab(monkeypatch):
    board = dashboard(extension="null", mode="native", seed=0, run=False)

    def broken(kernel):
        raise AttributeError("no such thing")
    monkeypatch.setattr(board.xpc, "show", broken)
    board.panel.run()
    slot = board.tabs.children[1]
    assert "cannot show this kernel yet (AttributeError: no such thing)" in slot.children[0].value
    assert board.tabs.children[0].children[0] is board.memory
