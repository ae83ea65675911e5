"""Checks Nooks makes with the tracker and the domain's page table (manual-bug classes)."""
import nookslab
from nookslab.faults.trial import run_trial, trial_faults


def test_no_protection_domain_maps_user_memory():
    k = nookslab.boot(mode="nooks", seed=0)
    before = k.spawn("early")                     # user pages that exist before the domain
    assert k.load("e1000").ok
    after = k.spawn("late")                       # and pages handed out after it
    domain = k.modules["e1000"].domain
    for proc in (before, after):
        assert not domain.can_read(proc.ubuf, 4)
        assert not domain.can_write(proc.ubuf, 4)
        assert k.mmu.kernel_pt.array[proc.ubuf >> 12]      # the kernel still reaches it


def test_a_driver_reading_a_user_pointer_itself_is_caught_under_nooks_only():
    from nookslab.eval.manual import manual_bugs, run_manual
    row = run_manual("sb", "user-level pointer dereference",
                     manual_bugs("sb")["user-level pointer dereference"])
    assert row["native"] == "none"                # Linux 2.4 lets the kernel read user memory
    assert row["detected"] and row["recovered"]


def test_freeing_a_still_registered_net_device_is_refused_by_the_wrapper():
    # A BRANCH fault forces e1000_probe's `if err:` after a successful register_netdev, so the
    # probe frees the registered device: a kernel BUG natively (it kills insmod; the kernel
    # runs on), a refused parameter in Nooks.
    seed = 3127067791
    faults = trial_faults("e1000", seed)
    assert any(f.type == "BRANCH" and f.function == "e1000_probe" for f in faults)
    native = run_trial("e1000", "native", seed, faults=faults)
    nooks = run_trial("e1000", "nooks", seed, faults=faults)
    assert native.outcome == "nonfatal" and "free_netdev of registered" in native.cause
    assert "insmod killed by oops: kernel BUG" in native.cause
    assert nooks.outcome != "crash" and nooks.detected
