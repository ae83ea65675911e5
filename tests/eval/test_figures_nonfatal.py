"""Why a native trial ended non-fatal, in kinds (lesson 07 reads figure 7 with them)."""
from nookslab.eval.figures import NONFATAL_KINDS, nonfatal_kind, nonfatal_kinds
from nookslab.faults import Campaign


def test_each_non_fatal_cause_falls_in_one_kind():
    assert nonfatal_kind("null-io killed by oops: unable to handle kernel NULL pointer "
                         "dereference at 0x00000000 (write, domain kernel)") == NONFATAL_KINDS[0]
    assert nonfatal_kind("null is not running (init_module returned -ENOMEM)") == \
        NONFATAL_KINDS[1]
    assert nonfatal_kind("null is not running (insmod killed by oops: ...)") == NONFATAL_KINDS[1]
    assert nonfatal_kind("device answered b'\\x00', expected crc32 0xd4533f3c") == \
        NONFATAL_KINDS[2]


def test_the_kinds_count_every_non_fatal_trial_of_the_mode_once():
    result = Campaign(["null"], trials=6, seed=0).run(progress=False)
    for mode in ("native", "nooks"):
        kinds = nonfatal_kinds(result, mode)
        assert list(kinds) == list(NONFATAL_KINDS)
        assert sum(kinds.values()) == result.counts()[("null", mode)]["nonfatal"]
