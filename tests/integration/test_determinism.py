"""Determinism: one seed, one result, in any process and in any order; different seeds differ."""
import json
import os
import subprocess
import sys

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import nookslab


def run_null(seed, seconds=0.01):
    k = nookslab.boot(mode="native", seed=seed)
    k.load("null")
    r = k.run("null-io", seconds=seconds)
    k.unload("null")
    return k, r


def fingerprint(seed):
    """Everything observable about one run, as plain data."""
    k, r = run_null(seed)
    return {"result": r.to_dict(), "events": [e.to_dict() for e in k.events],
            "memory": k.machine.memory.checksum(), "now": k.clock.now, "busy": k.clock.busy,
            "steps": k.cpu.steps}


def test_the_same_seed_gives_an_identical_trace_result_and_memory():
    assert fingerprint(3) == fingerprint(3)


def test_runs_do_not_depend_on_what_ran_before_in_the_process():
    first = fingerprint(5)
    fingerprint(6)
    nookslab.boot(seed=5).load("null")
    assert fingerprint(5) == first


def test_a_run_in_another_process_with_another_hash_seed_is_identical():
    code = ("import json; from tests.integration.test_determinism import fingerprint; "
            "print(json.dumps(fingerprint(7)))")
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
                         check=True)
    assert json.loads(out.stdout) == json.loads(json.dumps(fingerprint(7)))


def test_different_seeds_send_different_data_on_the_same_schedule():
    # null-io's randomness is its payload; the device's timing does not depend on the bytes.
    ka, ra = run_null(1)
    kb, rb = run_null(2)
    a, b = ra.to_dict(), rb.to_dict()
    assert (a.pop("seed"), b.pop("seed")) == (1, 2)
    assert a == b
    assert ka.machine.memory.checksum() != kb.machine.memory.checksum()
    assert ka.rng.integers(1 << 62) != kb.rng.integers(1 << 62)


def test_a_seed_sequence_can_be_passed_instead_of_an_int():
    a = nookslab.boot(seed=np.random.SeedSequence(99))
    b = nookslab.boot(seed=99)
    assert a.rng.integers(1 << 62) == b.rng.integers(1 << 62)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_any_seed_replays_exactly(seed):
    _, r1 = run_null(seed, seconds=0.002)
    _, r2 = run_null(seed, seconds=0.002)
    assert r1.ok and r1.to_dict() == r2.to_dict()
