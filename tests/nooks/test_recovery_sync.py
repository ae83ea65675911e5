"""Sync-before-release (SOSP'03 section 5.3) is a whole sync: the failed file system's dirty
inodes go through its ``write_inode`` (a call into the failed domain) before the buffers."""
import nookslab as nl
from nookslab.kernel.vfs import O_CREAT, O_WRONLY
from nookslab.tools import fsck_vfat, mkfs_vfat, read_files


def mounted(sync):
    k = nl.boot(mode="nooks", seed=3)
    assert k.load("vfat").ok
    vfs = k.subsystems["vfs"]
    disk = k.subsystems["block"].disk()
    mkfs_vfat(disk.image())
    proc = k.spawn("sh")
    assert k.syscall(proc, vfs.sys_mount, "vfat", "/dev/hda", "/mnt") == 0
    k.isolation.sync_before_release = sync
    return k, vfs, disk, proc


def write(k, vfs, proc, path, data):
    fd = k.syscall(proc, vfs.sys_open, path, O_CREAT | O_WRONLY, 0o644)
    assert fd >= 0, fd
    return k.syscall(proc, vfs.sys_write, fd, data)


def test_the_sync_writes_the_directory_entries_of_files_being_written():
    k, vfs, disk, proc = mounted(sync=True)
    assert write(k, vfs, proc, "/mnt/a.c", b"int a;\n" * 700) == 4900   # open, not synced
    record = k.recover("vfat")
    assert record.ok and record.errors == []
    # the FAT, the data and the entry (size, first cluster) all reached the disk
    assert fsck_vfat(disk.image()) == []
    assert read_files(disk.image()) == {"/a.c": b"int a;\n" * 700}


def test_without_sync_the_accepted_updates_are_dropped_and_the_disk_stays_as_it_was():
    k, vfs, disk, proc = mounted(sync=False)
    write(k, vfs, proc, "/mnt/a.c", b"int a;\n" * 700)
    assert k.recover("vfat").ok
    assert fsck_vfat(disk.image()) == [] and read_files(disk.image()) == {}


def test_a_write_that_faults_half_way_still_leaves_its_inode_to_the_sync():
    k, vfs, disk, proc = mounted(sync=True)
    ns = k.modules["vfat"].namespace
    real, calls = ns["copy_from_user"], []

    def faulty(*args):                      # the driver fails at its 6th block of the write
        calls.append(args)
        if len(calls) == 6:
            raise ZeroDivisionError("injected in vfat_write")
        return real(*args)

    ns["copy_from_user"] = faulty
    assert write(k, vfs, proc, "/mnt/b.c", b"x" * 8000) < 0
    assert len(k.recoveries) == 1 and "injected in vfat_write" in k.recoveries[0].cause
    record = k.recoveries[0]
    assert record.ok and record.errors == []
    # vfat_write never reached its mark_inode_dirty; the VFS had marked the inode before
    assert fsck_vfat(disk.image()) == []
    assert read_files(disk.image()) == {"/b.c": b"x" * (5 * 512)}


def test_a_fault_in_write_inode_during_the_sync_is_recorded_and_recovery_goes_on():
    k, vfs, disk, proc = mounted(sync=True)
    write(k, vfs, proc, "/mnt/a.c", b"a" * 3000)
    write(k, vfs, proc, "/mnt/b.c", b"b" * 3000)
    block = k.subsystems["block"]
    (m,) = vfs.mounts.values()
    ns = k.modules["vfat"].namespace
    real = ns["bread"]

    def bad_bread(*args):                   # write_inode reads a wild pointer
        raise RuntimeError("wild pointer in write_inode")

    ns["bread"] = bad_bread
    assert len(m.dirty) == 2
    record = k.recover("vfat")
    ns["bread"] = real
    assert record.ok, str(record)
    assert len(record.errors) == 1 and "failed again" in record.errors[0]
    assert "wild pointer in write_inode" in record.errors[0]
    assert len(k.recoveries) == 1 and not k.isolation.recovery.pending
    assert block.dirty_count() == 0          # the buffers were written all the same
    assert k.alive
    # the entries were not written: their clusters are lost, as fsck says
    assert [p.kind for p in fsck_vfat(disk.image())] == ["lost"]
