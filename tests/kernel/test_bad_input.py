"""Bad input from a user is a ValueError that names the bad value and the valid choices."""
import math

import pytest

import nookslab


@pytest.mark.parametrize("mode", ["nook", "", "NATIVE ", "Native", None, 1])
def test_an_unknown_mode_names_the_valid_modes(mode):
    with pytest.raises(ValueError) as err:
        nookslab.boot(mode=mode, seed=1)
    message = str(err.value)
    assert f"unknown mode {mode!r}" in message and "'native'" in message


@pytest.mark.parametrize("memory", [-4096, 0, 4095, 1000, 16 * 1024 * 1024 + 1, 2.0 ** 24, True])
def test_a_bad_memory_size_says_what_a_good_one_is(memory):
    with pytest.raises(ValueError) as err:
        nookslab.boot(seed=1, memory=memory)
    assert "memory" in str(err.value) and "multiple of 4096" in str(err.value)
    assert repr(memory) in str(err.value)


def test_a_small_but_valid_memory_size_boots():
    k = nookslab.boot(seed=1, memory=1 << 20)
    assert k.machine.memory.size == 1 << 20 and k.alive


@pytest.mark.parametrize("seed", [-1, 1.5, "7", True])
def test_a_bad_seed_is_a_clear_error(seed):
    with pytest.raises(ValueError, match="seed"):
        nookslab.boot(seed=seed)


@pytest.mark.parametrize("name", ["e1001", "", "NULL", "null "])
def test_an_unknown_module_name_names_the_registry(name):
    k = nookslab.boot(seed=1)
    with pytest.raises(ValueError) as err:
        k.load(name)
    assert f"unknown extension {name!r}" in str(err.value) and "'null'" in str(err.value)
    assert k.modules == {} and k.alive


@pytest.mark.parametrize("workload", ["null_io", "nullio", "", "ping!"])
def test_an_unknown_workload_names_the_valid_workloads(workload):
    k = nookslab.boot(seed=1)
    k.load("null")
    with pytest.raises(ValueError) as err:
        k.run(workload, seconds=0.01)
    assert f"unknown workload {workload!r}" in str(err.value) and "'null-io'" in str(err.value)


@pytest.mark.parametrize("seconds", [0, -0.5, math.nan, "1", None])
def test_non_positive_seconds_is_a_clear_error(seconds):
    k = nookslab.boot(seed=1)
    k.load("null")
    with pytest.raises(ValueError, match="seconds must be a positive number"):
        k.run("null-io", seconds=seconds)


def test_running_a_workload_without_its_driver_says_which_to_load():
    with pytest.raises(ValueError, match="needs one of null loaded; loaded: none"):
        nookslab.boot(seed=1).run("null-io", seconds=0.01)


@pytest.mark.parametrize("seconds", [float("inf"), float("nan"), 1e30])
def test_an_endless_or_absurd_run_length_is_a_clear_error(seconds):
    k = nookslab.boot(seed=0)
    k.load("null")
    with pytest.raises(ValueError, match="at most"):
        k.run("null-io", seconds=seconds)
