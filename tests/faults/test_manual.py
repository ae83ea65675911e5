"""Manual bugs sit on live code, and Nooks catches the ones that free what the driver does not own."""
from nookslab.eval.manual import _probe, manual_bugs, run_manual
from nookslab.faults.types import Fault


def test_each_manual_bug_runs_in_a_native_probe_where_the_driver_has_a_live_site():
    bugs = manual_bugs("e1000")
    for kind in ("uninitialised heap variable", "double free", "removed NULL check"):
        ran, harm = _probe("e1000", bugs[kind], 0)
        assert ran and harm, kind


def test_a_kernel_helper_freeing_a_stale_pointer_from_driver_memory_is_refused_under_nooks():
    # e1000 without the memset of its buffer-info array: the close path hands the kernel's
    # ring purge a slab-poison "sk_buff" pointer. Native Linux's kfree_skb loads through it and
    # oopses in rmmod (killed; the system runs on); under Nooks the tracker does not know it as
    # one of the domain's sk_buffs, so it is refused.
    row = run_manual("e1000", "uninitialised heap variable",
                     manual_bugs("e1000")["uninitialised heap variable"])
    assert row["native"].startswith("oops at rmmod") and "0x6b6b6b" in row["native"]
    assert row["detected"] and row["recovered"] and not row["nooks"].startswith("crash")


def test_a_double_free_is_detected_and_recovered_under_nooks():
    row = run_manual("e1000", "double free", manual_bugs("e1000")["double free"])
    assert row["native"].startswith("oops at rmmod") and "double free of" in row["native"]
    assert row["detected"] and row["recovered"]


def test_a_bug_that_never_runs_is_not_chosen_when_a_live_site_exists():
    bugs = manual_bugs("sb")
    fault: Fault = bugs["double free"][0]
    assert fault.function == "cleanup_module"     # sb's only free on a path that runs (rmmod)
