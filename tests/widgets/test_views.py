"""The views (memory map, XPC trace, tracker, recovery timeline, campaign explorer, dashboard)
driven from Python: what they show after a trial."""
from __future__ import annotations

import numpy as np

import nookslab as nl
from nookslab.widgets import (CampaignExplorer, MemoryMap, RecoveryTimeline, TrackerView,
                              XpcTrace, dashboard)
from nookslab.widgets.data import (MARK_COLOUR, MARK_RING, crossing_counts, grid_shape,
                                   picture_pixels)
from nookslab.widgets.memdata import MARGIN


# -- memory map ------------------------------------------------------------------------------
def test_the_memory_map_marks_the_page_the_faulting_store_hit(nooks_crash_run):
    view = MemoryMap(nooks_crash_run.kernel)
    assert view.highlighted == 1                       # 0x00001004 lies in page 1
    assert "faulting write</b> at 0x00001004 by domain null" in view.info.value
    assert ("owner &#x27;kernel heap&#x27;; read-only in the domain null page table"
            in view.info.value)
    img = picture_pixels(view.picture)
    cols, _, cell = grid_shape(len(view.picture.colours))
    assert (cols, cell) == (32, 16)                    # the pages in use, 16-pixel squares
    m = MARGIN
    assert tuple(img[m, m + cell]) == MARK_COLOUR      # page 1's frame
    assert tuple(img[m + cell // 2, m + cell + cell // 2]) == tuple(view.picture.colours[1])
    ring = img[:m + 2 * cell, :m + 3 * cell].reshape(-1, 3)
    assert (ring == MARK_RING).all(axis=1).sum() > 8 * cell    # a ring all around it
    assert (img[:m, m + cell - 4:m + 2 * cell] == MARK_RING).all(axis=2).any()  # above, too
    assert tuple(img[m + 4 * cell + 4, m + 8 * cell + 4]) not in (MARK_COLOUR, MARK_RING)


def test_the_marker_has_a_colour_no_page_has():
    from nookslab.widgets.data import DOMAIN_COLOURS, KERNEL_COLOURS, OWNER_COLOURS, \
        PERMISSION_COLOURS
    colours = {*OWNER_COLOURS.values(), *PERMISSION_COLOURS.values(), *DOMAIN_COLOURS,
               *KERNEL_COLOURS}
    assert MARK_COLOUR not in colours and MARK_RING not in colours
    assert MARK_COLOUR != OWNER_COLOURS["dma"]


def test_the_memory_map_opens_on_the_pages_in_use_and_shows_all_memory_on_request(
        nooks_crash_run):
    k = nooks_crash_run.kernel
    view = MemoryMap(k)
    owner = k.machine.pages.owner
    last_used = int(np.flatnonzero(owner != 0)[-1])
    shown = len(view.picture.colours)
    assert last_used < shown <= last_used + 32 and shown % 32 == 0
    assert view.image.height == str(-(-shown // 32) * 16 + 2 * MARGIN)
    assert view.image.width == str(512 + 2 * MARGIN)
    assert f"pages 0&ndash;{shown - 1} of 4096" in view.info.value
    assert sum(view.picture.counts.values()) == 4096   # the legend still counts all RAM
    view.extent.value = "all memory"
    assert len(view.picture.colours) == 4096
    assert grid_shape(4096) == (64, 64, 8)
    assert view.highlighted == 1
    assert "all 4096 pages" in view.info.value


def test_kernel_owned_regions_each_get_their_own_colour():
    from nookslab.widgets.memdata import class_colours, owner_class
    names = ["kernel heap", "kernel text", "kernel data", "skb", "user", "dma e1000",
             "ide dma", "domain e1000", "reserved"]
    classes = [owner_class(n) for n in names]
    assert classes == ["kernel heap", "kernel text", "kernel data", "kernel buffers", "user",
                       "dma", "dma", "domain e1000", "reserved"]
    colours = class_colours(classes + ["domain vfat", "domain sb", "kernel stacks"])
    assert len(set(colours.values())) == len(colours) == 11


def test_looking_up_a_page_tells_its_owner_and_permission(nooks_crash_run):
    view = MemoryMap(nooks_crash_run.kernel)
    assert view.lookup.value == 1                      # starts on the marked page
    view.lookup.value = 0
    assert view.page_line.value == ("page 0 (0x00000000): owner &#x27;reserved&#x27;; not "
                                    "present in the domain null page table")


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
    assert view.image.width == str(512 + 2 * MARGIN)
    assert "(page 0: the NULL guard)" in view.legend.value


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
    assert "what domain null may write" in view.legend.value
    view.table.value = "kernel"
    assert view.picture.counts["not present"] == 1     # page 0: NULL must fault
    assert "writable (kernel page table)" in view.picture.counts


def test_the_write_permission_view_opens_on_the_drivers_domain_without_a_fault():
    k = nl.boot(mode="nooks", seed=0)
    k.load("null")
    view = MemoryMap(k, colour_by="write permission")
    assert view.highlighted is None
    assert view.table.value == "domain null"
    assert view.table.options == ("kernel", "domain null")
    assert "writable: the domain's own heap and stacks" in view.picture.counts
    native = nl.boot(mode="native", seed=0)
    native.load("null")
    view.show(native)
    assert view.table.value == "kernel" and "every page in use is writable" in view.legend.value


def test_corruption_the_native_kernel_finds_is_marked_where_it_found_it():
    # WILD_STORE natively: the store lands in the red zone before the kernel's struct file;
    # kfree's red-zone check (a BUG() that kills the program) names the address it found
    from nookslab.exercises import WILD_STORE
    from nookslab.faults.trial import execute
    from nookslab.faults.types import CustomFault
    result, kernel = execute("null", "native", 0, (CustomFault(WILD_STORE, "null_write"),))
    assert result.outcome == "nonfatal" and "kernel BUG" in result.cause
    addr = int(result.cause.split("red zone before ")[1].split()[0], 16)
    view = MemoryMap(kernel)
    assert view.highlighted == addr >> 12
    assert (f"corruption found</b> at {addr:#010x} by the kernel's integrity check: "
            f"page {addr >> 12}" in view.info.value)


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


def test_an_explicit_recovery_is_requested_not_detected_and_prints_as_text():
    k = nl.boot(mode="nooks", seed=0)
    k.load("null")
    k.run("null-io", seconds=0.001)
    rec = k.isolation.recover("null")
    view = RecoveryTimeline(k)
    assert view.steps[0] == "recovery requested" and view.steps[-1] == "recovered"
    lines = view.text.splitlines()
    assert lines[0] == (f"recovery 1 of null: recovered (policy restart) after "
                        f"{rec.finished - rec.started} cycles")
    assert lines[1] == "          0 cycles  recovery requested: recover() called: no failure " \
                       "was detected"
    assert [line.split("cycles  ")[1].split(":")[0] for line in lines[2:-1]] == \
        [s.name for s in rec.steps]
    assert repr(view) == "RecoveryTimeline(1 recovery(ies): recovered)"
    assert view.html.value.count("<svg") == 1
    # a step is recorded when done: the reload took from the device reset to its own row
    reset, reload = (next(s.time for s in rec.steps if s.name == n) for n in ("reset device",
                                                                            "reload"))
    assert f"<title>reload: into domain null ({reload - reset} cycles)</title></rect>" \
        in view.html.value


def test_a_disabled_driver_reads_disabled_and_each_recovery_has_its_block():
    from nookslab.nooks.hooks import NooksHooks

    def policy(extension, restarts, cause):
        return "restart" if restarts < 1 else "disable"
    k = nl.boot(mode="nooks", seed=0, hooks=NooksHooks(policy=policy))
    k.load("null")
    k.isolation.recover("null")
    k.run("null-io", seconds=0.0005)
    k.isolation.recover("null")
    view = RecoveryTimeline(k)
    ends = [line.split(": ")[1].split(" (")[0] for line in view.text.splitlines()
            if line.startswith("recovery ")]
    assert ends == ["recovered", "disabled"]
    assert "failed" not in view.text.splitlines()[-1]
    assert "<b>recovery 1</b>" in view.html.value and "<b>recovery 2</b>" in view.html.value


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
            assert view.bars[(outcome, "null", mode)].description.startswith(f"{n} of 4 (")
            assert view.bars[(outcome, "all", mode)].description.startswith(f"{n} of 4 (")
    text = str(view.figures.children[0].children[-2].children[3].description)
    assert text == "4 of 2000 (0.2%)"                  # the paper's figure 6, nooks
    assert "4 trials per configuration per extension" in view.figures.children[0].children[0].value


def _synthetic_campaign(native_crashes: int, nooks_crashes: int, trials: int = 60):
    """A campaign result with the given crash counts out of ``trials`` per configuration."""
    from nookslab.faults.campaign import CampaignResult
    from nookslab.faults.trial import TrialResult
    config = dict(extensions=["null"], trials=trials, faults_per_trial=5, seed=0,
                  modes=["native", "nooks"])
    runs = []
    for mode, crashes in (("native", native_crashes), ("nooks", nooks_crashes)):
        runs += [TrialResult("null", mode, i, (), "crash" if i < crashes else "none",
                             cause=("panic: " + "a long cause " * 12) if i < crashes else None,
                             index=i) for i in range(trials)]
    return CampaignResult(config, runs)


def test_bar_lengths_are_proportional_to_the_shares_with_no_minimum():
    from nookslab.widgets.campaign import BAR_PX
    view = CampaignExplorer(_synthetic_campaign(8, 1))          # 13.3% and 1.7%
    assert view.scales["crash"] == 20                            # the paper's 15.8% fits in 20
    native, nooks = view.widths[("crash", "null", "native")], view.widths[("crash", "null", "nooks")]
    assert native == round(BAR_PX * (8 / 60 * 100) / 20, 1) == 160.0
    assert nooks == round(BAR_PX * (1 / 60 * 100) / 20, 1) == 20.0
    assert native / nooks == 8
    assert view.widths[("crash", "paper", "nooks")] == round(BAR_PX * 0.2 / 20, 1)
    assert view.widths[("nonfatal", "null", "native")] == 0.0     # 0% is no bar at all
    zero = view.figures.children[1].children[1].children[2].value
    assert "data-width='0.0' style='width:0.0px" in zero
    assert view.bars[("crash", "null", "nooks")].description == "1 of 60 (1.7%)"
    assert not view.bars[("nonfatal", "null", "native")].description.startswith(" ")
    assert view.bars[("nonfatal", "null", "native")].disabled     # nothing to list


def test_a_picked_trials_full_cause_is_shown_wrapped_below_the_list():
    view = CampaignExplorer(_synthetic_campaign(3, 0))
    view.bars[("crash", "null", "native")].click()
    assert len(view.selected) == 3
    label = view.listing.options[0][0]
    assert len(label) < 120 and label.endswith("\u2026")
    cause = view.selected[0].cause
    assert len(cause) > 120 and cause in view.detail.value
    assert "overflow-wrap:anywhere" in view.detail.value
    assert view.listing.layout.display == ""


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


def test_a_bad_extent_or_colouring_is_a_clear_error():
    import pytest
    with pytest.raises(ValueError, match="unknown extent 'some'; choose from"):
        MemoryMap(extent="some")
    with pytest.raises(ValueError, match="unknown colouring 'age'; choose from"):
        MemoryMap(colour_by="age")
