"""Kernel objects freed by the kernel on its own (umount, close, statfs) must not stay associated
with a domain copy: the heap hands their addresses out again, and a stale association would
give the extension the old copy (regression: the second compile-local run on one kernel wrote
'..' of a new directory with a cluster of the previous mount's root-inode copy)."""
import pytest

import nookslab


@pytest.mark.parametrize("mode", ["native", "nooks"])
def test_compile_local_twice_on_one_kernel_is_ok(mode):
    k = nookslab.boot(mode=mode, seed=0)
    k.load("vfat")
    first = k.run("compile-local", seconds=0.02)
    second = k.run("compile-local", seconds=0.005)
    assert first.ok, first.failure
    assert second.ok, second.failure
    assert k.verdict is None and not k.recoveries


def test_umount_leaves_no_vfs_object_tracked():
    k = nookslab.boot(mode="nooks", seed=0)
    module = k.load("vfat")
    assert k.run("compile-local", seconds=0.02).ok
    tracker = module.domain.tracker
    left = {o.type.name for o in tracker.enumerate()}
    assert not left & {"inode", "dentry", "super_block", "file", "statfs"}, left
    assert not tracker.copies
