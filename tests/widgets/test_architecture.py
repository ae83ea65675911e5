"""Figure 2 from a live kernel: its data reflects the domains the kernel has, and it draws."""
from __future__ import annotations

import matplotlib

import nookslab as nl
from nookslab.widgets import architecture, figure2

matplotlib.use("Agg")


def test_the_data_behind_figure_2_lists_each_domain_with_its_extensions():
    k = nl.boot("nooks", seed=0)
    k.isolation.share("sb", "sound")
    k.isolation.share("es1371", "sound")
    for name in ("null", "sb", "es1371"):
        k.load(name)
    data = architecture(k)
    assert [(d.name, d.extensions) for d in data.domains] == [("null", ("null",)),
                                                               ("sound", ("sb", "es1371"))]
    assert all(d.writable_pages > 0 and d.tracked_objects > 0 for d in data.domains)
    assert data.xpcs == k.isolation.xpc.count > 0
    assert "domain sound: sb, es1371" in str(data)


def test_a_native_kernel_has_no_domains_and_its_drivers_sit_in_the_kernel():
    k = nl.boot("native", seed=0)
    k.load("null")
    data = architecture(k)
    assert data.domains == () and data.kernel_extensions == ("null",) and data.xpcs == 0


def test_figure_2_draws_one_box_per_domain_plus_the_kernel():
    import matplotlib.pyplot as plt
    k = nl.boot("nooks", seed=0)
    k.load("null")
    ax = figure2(k)
    assert len(ax.patches) == 1 + 2 * len(architecture(k).domains)   # kernel, box + arrow each
    plt.close(ax.figure)
