"""The memory map's cropped view (lesson 02): it starts on the pages in use, bigger."""
from __future__ import annotations

import numpy as np

from nookslab.machine.memory import OWNER_FREE
from nookslab.widgets import MemoryMap
from nookslab.widgets.memmap import CROP_COLUMNS


def test_the_cropped_map_draws_every_page_in_use_and_the_faulting_page_in_whole_rows(
        nooks_crash_run):
    k = nooks_crash_run.kernel
    view = MemoryMap(k, crop=True)
    shown = view.pages_in_use(view.highlighted)
    last_used = int(np.flatnonzero(k.machine.pages.owner != OWNER_FREE)[-1])
    assert last_used < shown <= last_used + CROP_COLUMNS and shown % CROP_COLUMNS == 0
    assert view.highlighted == 1 and view.highlighted < shown
    assert f"showing pages 0 to {shown - 1}" in view.info.value
    assert (int(view.image.width), int(view.image.height)) == (512, shown // CROP_COLUMNS * 16)
    assert sum(view.picture.counts.values()) == 4096       # the legend still counts all memory


def test_all_memory_is_one_click_away_and_the_default_view_is_unchanged(nooks_crash_run):
    view = MemoryMap(nooks_crash_run.kernel, crop=True)
    view.extent.value = "all memory"
    assert "showing pages" not in view.info.value
    whole = MemoryMap(nooks_crash_run.kernel)
    assert whole.extent.value == "all memory"
    assert (view.image.width, view.image.height) == (whole.image.width, whole.image.height)
