"""compile-local on VFAT: correct, deterministic, scaled by time, and its checks have teeth."""
import pytest

import nookslab as nl
from nookslab.drivers.vfat import MSDOS_SB
from nookslab.kernel.vfs import SUPER_BLOCK
from nookslab.tools import fsck_vfat


def run(seed=3, seconds=0.02, **params):
    k = nl.boot(seed=seed)
    assert k.load("vfat").ok
    return k, k.run("compile-local", seconds=seconds, **params)


def test_compile_local_runs_correctly_and_leaves_a_clean_disk():
    k, r = run()
    assert r.ok, r.failure
    assert (r.workload, r.extension, r.mode, r.unit) == ("compile-local", "vfat", "native",
                                                         "files/s")
    assert r.operations >= 1 and r.latency >= 0.02
    assert fsck_vfat(k.subsystems["block"].disk().image()) == []
    assert "/mnt" not in k.subsystems["vfs"].mounts
    assert k.unload("vfat").leaks == []


def test_the_same_seed_gives_the_same_run_twice():
    _, a = run(seed=8)
    _, b = run(seed=8)
    assert a.ok and a.to_dict() == b.to_dict()


def test_another_seed_gives_a_different_correct_run():
    _, a = run(seed=8)
    _, b = run(seed=9)
    assert a.ok and b.ok
    assert (a.operations, a.nbytes, a.latency) != (b.operations, b.nbytes, b.latency)


def test_more_simulated_time_means_more_files_and_a_cpu_bound_run():
    _, short = run(seconds=0.02)
    _, long = run(seconds=0.1)
    assert long.operations > short.operations
    assert long.cpu_util > 0.8            # the paper's compile-local is CPU-bound (97.5%)


def test_a_second_run_on_the_same_kernel_starts_from_a_fresh_file_system():
    k, first = run()
    second = k.run("compile-local", seconds=0.02)
    assert first.ok and second.ok


def corrupt(field, delta):
    def hook(kernel):
        sb = kernel.subsystems["vfs"].mounts["/mnt"].sb
        sbi = kernel.mmu.ld32(sb + SUPER_BLOCK.s_fs_info)
        addr = sbi + getattr(MSDOS_SB, field)
        kernel.mmu.st32(addr, kernel.mmu.ld32(addr) + delta)
    return hook


@pytest.mark.parametrize("field,delta", [("sec_per_clus", 4), ("cluster_size", -1024),
                                         ("fat_start", 1), ("data_start", 3),
                                         ("dir_start", 1), ("clusters", -8160)])
def test_corrupting_the_private_super_block_never_passes_silently(field, delta):
    k, r = run(after_mount=corrupt(field, delta))
    assert not r.ok or k.verdict is not None, f"corrupting {field} went unnoticed"


def test_an_unpatched_hook_leaves_the_run_correct():
    k, r = run(after_mount=corrupt("magic", 0))
    assert r.ok, r.failure


def test_a_fixed_number_of_files_does_the_same_work_whatever_the_time():
    _, short = run(seconds=0.01, files=5)
    _, long = run(seconds=0.5, files=5)
    assert short.ok and short.operations == long.operations == 5
    assert short.latency == long.latency


def test_a_bad_file_count_is_a_clear_error():
    k = nl.boot(seed=1)
    k.load("vfat")
    with pytest.raises(ValueError, match="files"):
        k.run("compile-local", seconds=0.01, files=0)
