"""A panic outside the workload's own calls is a crash verdict, never a simulator error."""
from nookslab.faults.trial import run_trial

from ..rogue import rogue


def test_running_out_of_memory_for_the_workloads_process_is_a_crash_not_an_error():
    # found by the 10,000-trial run (a faulty e1000 took the memory the ping process needed,
    # with help from processes that never gave theirs back); the rogue hog driver takes it all
    for mode in ("native", "nooks"):
        r = run_trial(rogue("hog"), mode, 1, faults=[])
        assert r.error is None, r.error
        assert r.outcome == "crash" and "out of memory spawning rogue-io" in r.cause
        assert r.verdict == "panic"
