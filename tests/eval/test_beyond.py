"""Beyond Nooks: the approaches of Table 1 as configurations, compared from runs."""
import pytest

from nookslab.eval.beyond import CLAIMS, compare, fault_matrix
from nookslab.faults import run_trial
from nookslab.nooks.approaches import APPROACHES


@pytest.fixture(scope="module")
def matrix():
    return fault_matrix(trials=3, seed=0, extensions=("e1000",),
                        types=("INTERFACE", "PTR", "INIT", "SRC", "IRQ"))


def test_each_approach_blocks_the_crashes_its_protection_model_claims(matrix):
    assert any(matrix.crashes[(t, "native")] for t in matrix.types)   # there is something to block
    for mode in APPROACHES:
        for t in matrix.types:
            if t in CLAIMS[mode]:
                assert matrix.crashes[(t, mode)] == 0, (t, mode, str(matrix))


def test_sfi_blocks_exactly_what_nooks_blocks_its_protection_model_being_the_same(matrix):
    for t in matrix.types:
        assert matrix.crashes[(t, "sfi")] == matrix.crashes[(t, "nooks")]


def test_native_claims_nothing_and_the_matrix_prints_every_configuration(matrix):
    assert CLAIMS["native"] == ()
    text = str(matrix)
    for mode in ("native", "nooks", "user-level"):
        assert mode in text


def test_a_trial_records_whether_the_application_noticed_the_recovery():
    native = run_trial("e1000", "native", seed=5)
    assert native.app_noticed is None
    for mode in ("nooks", "nooks+shadow"):
        t = run_trial("e1000", mode, seed=5)
        assert (t.app_noticed is None) == (not t.detected)


def test_the_comparison_counts_every_trial_once_and_prices_every_configuration():
    c = compare(trials=2, seed=0, workers=1, extensions=("sb",),
                rows=(("play-mp3", "sb"),), seconds=0.05)
    assert [r.mode for r in c.rows] == list(APPROACHES)
    for r in c.rows:
        assert r.crash + r.nonfatal + r.none == r.trials == 2
        assert 0 < r.mean_performance <= 1.05
    assert "safe-language" in str(c)


def test_unknown_modes_in_a_campaign_are_refused_with_the_choices():
    from nookslab.faults import Campaign
    with pytest.raises(ValueError, match="user-level"):
        Campaign(["sb"], trials=1, modes=("native", "microkernel"))


def test_safe_language_refuses_a_store_past_a_driver_object_that_nooks_lets_through():
    import nookslab as nl
    from nookslab.nooks.approaches import SafetyViolation
    seen = {}
    for mode in ("nooks", "safe-language"):
        k = nl.boot(mode=mode, seed=0)
        m = k.load("e1000")
        domain = m.domain
        block = domain.heap.kmalloc(24, "e1000")
        st32 = m.namespace["st32"]
        saved = k.mmu.switch(domain.pt)
        try:
            st32(block + 16, 1)                      # inside the object: fine everywhere
            st32(block + 24, 1)                      # one word past its end: same page
            seen[mode] = "stored"
        except SafetyViolation as exc:
            seen[mode] = str(exc)
        finally:
            k.mmu.switch(saved)
    assert seen["nooks"] == "stored"                 # page-granular: Nooks cannot see it
    assert seen["safe-language"].startswith("store of 4 byte(s)")   # refused at the access


def test_a_user_level_driver_cannot_read_kernel_memory_it_was_not_handed():
    import nookslab as nl
    for mode, readable in (("nooks", True), ("user-level", False)):
        k = nl.boot(mode=mode, seed=0)
        domain = k.load("e1000").domain
        secret = k.heap.kmalloc(64)
        assert domain.can_read(secret, 4) is readable
        assert domain.can_read(domain.stack(0), 4)


def test_reproduce_shadow_is_a_built_target():
    from nookslab import cli
    assert callable(cli._resolve(cli.REPRODUCE["shadow"]))


def test_a_hang_with_interrupts_off_kills_nooks_but_a_user_level_driver_is_recovered():
    # A removed branch leaves pcnet32 looping with interrupts off inside its domain: Nooks cannot
    # take the CPU back (the paper's residual class), a user-level driver cannot turn interrupts
    # off, so its hang is a timeout the kernel recovers from. (The 18th BRANCH fault drawn for
    # pcnet32 from the campaign's seed-0 stream; found by search, pinned here.)
    import numpy as np

    from nookslab.faults.injector import generate
    from nookslab.faults.trial import fault_rng
    rng = np.random.default_rng(fault_rng("pcnet32", 0).integers(2**32) + len("BRANCH"))
    faults = [generate("pcnet32", 1, rng, types=("BRANCH",)) for _ in range(18)][17]
    nooks = run_trial("pcnet32", "nooks", seed=3, faults=faults)
    user = run_trial("pcnet32", "user-level", seed=3, faults=faults)
    assert nooks.outcome == "crash" and "interrupts off" in nooks.cause
    assert "SYNC" not in CLAIMS["nooks"] and "SYNC" in CLAIMS["user-level"]
    assert user.outcome != "crash" and user.recovered
