"""Shadow drivers (OSDI'04): transparent recovery of a network driver, and its limits."""
import pytest

import nookslab as nl
from nookslab.eval.beyond import network_scenario
from nookslab.faults import Fault

# e1000_xmit_frame reads its skb through a stale word: every transmit faults (a deterministic bug)
XMIT_BUG = Fault("INTERFACE", "e1000_xmit_frame", 232, 0, 259, 12, "FunctionDef", count=0,
                 where=1)


def test_shadow_keeps_the_configured_address_and_the_stream_where_restart_loses_it():
    restart = network_scenario("restart")
    shadow = network_scenario("shadow")
    assert len(restart.recoveries) == 1 and len(shadow.recoveries) == 1
    assert not restart.stream_ok                     # the application saw the failure
    assert restart.mac_after != restart.mac_set and not restart.up_after
    assert shadow.stream_ok, shadow.stream_failure   # the application saw nothing
    assert shadow.mac_after == shadow.mac_set and shadow.up_after and shadow.ip_kept


def test_a_deterministic_bug_that_recurs_after_replay_ends_in_the_give_up_not_a_loop():
    r = network_scenario("shadow", recurring=[XMIT_BUG])
    assert r.gave_up and not r.stream_ok
    k_limit = 5                                       # Agent.max_restarts
    assert len(r.recoveries) == k_limit + 1
    assert "policy disable" in r.recoveries[-1]


def test_the_shadow_recovery_is_recorded_step_by_step():
    k = nl.boot(mode="nooks+shadow", seed=2)
    k.load("e1000")
    assert k.run("send-stream", seconds=0.002).ok
    rec = k.recover("e1000")
    names = [s.name for s in rec.steps]
    assert rec.policy == "shadow" and rec.ok
    assert "restore configuration" in names and "cancel pending" in names
    assert names.index("reload") < names.index("restore configuration")
    restored = rec.steps[names.index("restore configuration")].detail
    assert "eth0 up" in restored                     # the interface the workload configured
    assert k.run("send-stream", seconds=0.002).ok


def test_bad_policy_and_mode_names_raise_value_errors_naming_the_choices():
    k = nl.boot(mode="nooks", seed=0)
    with pytest.raises(ValueError, match="restart, disable, shadow"):
        k.isolation.recovery.agent.policy = "reboot"
    with pytest.raises(ValueError, match="safe-language"):
        nl.boot(mode="microkernel")
    with pytest.raises(ValueError, match="shadow"):
        network_scenario("bogus")


def test_every_configuration_runs_the_paper_workloads_without_faults():
    assert set(nl.MODES) >= {"native", "nooks", "nooks+shadow", "user-level", "sfi",
                             "safe-language"}
    for mode in nl.MODES:
        k = nl.boot(mode=mode, seed=1)
        k.load("sb")
        r = k.run("play-mp3", seconds=0.01)
        assert r.ok, (mode, r.failure)


def test_a_sound_shadow_reopens_the_file_and_the_player_writes_on_where_restart_fails_a_write():
    from nookslab.eval.beyond import sound_scenario
    restart, recs = sound_scenario("restart")
    assert len(recs) == 1 and "write of frames" in restart.failure     # the player saw -EIO
    shadow, recs = sound_scenario("shadow")
    assert len(recs) == 1 and recs[0].ok
    steps = {s.name: s.detail for s in recs[0].steps}
    assert steps["restore configuration"].startswith("1 open file(s) reopened, 4 configuration")
    # every write succeeded; only the samples in the old ring are gone (a glitch)
    assert "sample mismatch" in shadow.failure or "samples lost" in shadow.failure
