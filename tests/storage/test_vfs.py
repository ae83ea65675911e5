"""The VFS: registration, mounting, sync, the exported interface, and what recovery will use."""
import dataclasses

from nookslab.kernel import errno
from nookslab.kernel.symbols import ops_members
from nookslab.kernel.vfs import (FileSystemType, InodeOperations, SuperOperations, O_CREAT,
                                 O_WRONLY)
from nookslab.tools import fsck_vfat, read_files

from .conftest import Shell


def test_mount_names_the_problem_with_an_errno():
    s = Shell(mount=False)
    assert s.call(s.vfs.sys_mount, "ext2", "/dev/hda", "/mnt") == -errno.ENODEV
    assert s.call(s.vfs.sys_mount, "vfat", "/dev/hdz", "/mnt") == -errno.ENXIO
    assert s.mount() == 0
    assert s.call(s.vfs.sys_mount, "vfat", "/dev/hda", "/mnt2") == -errno.EBUSY
    assert s.call(s.vfs.sys_umount, "/nowhere") == -errno.EINVAL


def test_a_mounted_file_system_cannot_be_unregistered(sh):
    assert sh.vfs.unregister_filesystem("vfat") == -errno.EBUSY
    assert sh.vfs.held_by("vfat") == ["filesystem vfat", "mount /mnt (vfat)"]
    assert len(sh.k.heap.leaks("vfat")) == 2          # msdos_sb_info and its name buffer
    assert sh.umount() == 0
    assert sh.k.held_by("vfat") == ["filesystem vfat"]


def test_sync_puts_a_consistent_file_system_on_the_disk_while_mounted(sh):
    sh.write("/mnt/kept.c", b"int main;\n" * 300)
    assert fsck_vfat(sh.disk.image()) == [] and read_files(sh.disk.image()) == {}
    assert sh.call(sh.vfs.sys_sync) == 0
    assert sh.block.dirty_count() == 0
    assert fsck_vfat(sh.disk.image()) == []
    assert read_files(sh.disk.image()) == {"/kept.c": b"int main;\n" * 300}


def test_recovery_can_sync_a_file_system_and_detach_it_without_calling_it(sh):
    sh.write("/mnt/a", b"a" * 5000)
    fd = sh.call(sh.vfs.sys_open, "/mnt/b", O_CREAT | O_WRONLY, 0o644)
    dirty = sh.block.dirty_count()
    assert dirty > 0
    assert sh.vfs.sync_fs_of("vfat") == dirty        # write_inode re-dirtied the entry block
    assert sh.block.dirty_count() == 0
    assert read_files(sh.disk.image())["/a"] == b"a" * 5000 and fsck_vfat(sh.disk.image()) == []
    sh.vfs.forget_fs_of("vfat")
    assert sh.vfs.mounts == {} and "vfat" not in sh.vfs.fs_types
    assert fd not in sh.proc.files
    assert sh.vfs.held_by("vfat") == [] and sh.block.held_by("vfat") == []
    # the driver's own memory is left for the recovery manager (it frees the domain's heap)
    assert len(sh.k.heap.leaks("vfat")) == 2


def test_every_vfs_struct_is_a_registered_object_type(sh):
    for name in ("super_block", "inode", "dentry", "file", "buffer_head", "statfs"):
        assert name in sh.k.object_types


def test_the_ops_tables_are_frozen_and_named_for_the_wrapper_generator():
    for table, c_name in ((FileSystemType, "file_system_type"),
                          (SuperOperations, "super_operations"),
                          (InodeOperations, "inode_operations")):
        assert table.c_name == c_name
        assert dataclasses.fields(table) and table.__dataclass_params__.frozen
        assert all(m["context"] == "process" for m in ops_members(table).values())


def test_buffer_cache_exports_say_what_they_create_and_release(sh):
    specs = sh.k.symbols.specs
    assert specs["bread"].creates == "buffer_head" and specs["bread"].owned
    assert specs["getblk"].creates == "buffer_head"
    assert specs["brelse"].releases == "bh"
    assert specs["iput"].releases == "inode" and specs["new_inode"].creates == "inode"
    assert specs["register_filesystem"].owned
    kinds = [a.kind for a in specs["register_filesystem"].args]
    assert kinds == ["data", "ops", "ops", "ops", "ops"]


def test_mounts_super_blocks_dentries_and_inodes_are_found_by_walking_memory(sh):
    from nookslab.kernel.chrdev import INODE
    from nookslab.kernel.dcache import DENTRY, name_hash
    from nookslab.kernel.vfs import SUPER_BLOCK, VFSMOUNT
    mmu, vfs = sh.k.mmu, sh.vfs
    (m,) = vfs.mounts.values()
    assert vfs._vfsmounts() == [m.mnt] and vfs._super_blocks() == [m.sb]
    assert mmu.ld32(m.mnt + VFSMOUNT.mnt_sb) == m.sb and m.path == "/mnt" and m.dev == 0x0300
    assert vfs._string(mmu.ld32(m.mnt + VFSMOUNT.mnt_devname)) == "/dev/hda"
    root = mmu.ld32(m.sb + SUPER_BLOCK.s_root)
    sh.write("/mnt/one", b"1")
    sh.write("/mnt/two", b"22")
    one = vfs.dcache.d_lookup(root, b"one", name_hash(b"one"))
    two = vfs.dcache.d_lookup(root, b"two", name_hash(b"two"))
    assert vfs.dcache.children(root) == [one, two]
    assert mmu.ld32(one + DENTRY.d_parent) == root and mmu.ld32(two + DENTRY.d_sb) == m.sb
    inode = mmu.ld32(two + DENTRY.d_inode)
    assert vfs.icache.find(m.sb, mmu.ld32(inode + INODE.i_ino)) == inode
    assert mmu.ld32(inode + INODE.i_size) == 2
    # dirty inodes wait on the super block's s_dirty ring, oldest first, until a sync
    assert m.dirty == [mmu.ld32(one + DENTRY.d_inode), inode]
    assert sh.call(vfs.sys_sync) == 0 and m.dirty == []
    vfs.check()


def test_a_bent_dentry_hash_link_faults_the_next_lookup_in_its_bucket_natively():
    import pytest

    from nookslab.kernel.dcache import DENTRY, name_hash
    from nookslab.kernel.panic import ProcessKilled
    from nookslab.kernel.vfs import SUPER_BLOCK
    s = Shell(seed=4)
    s.write("/mnt/one", b"1")
    (m,) = s.vfs.mounts.values()
    root = s.k.mmu.ld32(m.sb + SUPER_BLOCK.s_root)
    d = s.vfs.dcache.d_lookup(root, b"one", name_hash(b"one"))
    s.k.mmu.st32(d + DENTRY.d_hash, 0x7FFF0000)                  # a wild store
    assert s.read("/mnt/one") == b"1"             # first in its bucket: found before the link
    other = next(f"n{i}" for i in range(10_000) if s.vfs.dcache.bucket(
        root, name_hash(f"n{i}".encode())) == s.vfs.dcache.bucket(root, name_hash(b"one")))
    with pytest.raises(ProcessKilled, match="paging request at 0x7fff"):
        s.k.syscall(s.k.spawn("sh"), s.vfs.sys_stat, f"/mnt/{other}")
    assert s.k.verdict is None
