"""A panic outside the workload's own calls is a crash verdict, never a simulator error."""
from nookslab.faults.trial import run_trial


def test_running_out_of_memory_for_the_workloads_process_is_a_crash_not_an_error():
    # found by the 10,000-trial run: a faulty e1000 takes the memory the ping process needs
    for mode in ("native", "nooks"):
        r = run_trial("e1000", mode, 1013663478)
        assert r.error is None, r.error
        assert r.outcome == "crash" and "out of memory spawning" in r.cause
        assert r.verdict == "panic"
