"""The VFAT extension through the VFS: names, data, directories, unlink, persistence."""
import pytest

from nookslab.kernel import errno
from nookslab.kernel.vfs import O_APPEND, O_CREAT, O_RDONLY, O_WRONLY
from nookslab.tools import fsck_vfat, read_files
from tests.storage.conftest import Shell


@pytest.fixture
def sh():
    return Shell(seed=4)


def test_a_file_with_a_long_name_round_trips_and_survives_a_remount(sh):
    data = bytes(range(256)) * 37 + b"tail"                 # 9476 bytes: 5 clusters
    assert sh.write("/mnt/A File With A Rather Long Name.txt", data) == len(data)
    assert sh.read("/mnt/A File With A Rather Long Name.txt") == data
    assert sh.umount() == 0
    assert fsck_vfat(sh.disk.image()) == []
    assert read_files(sh.disk.image()) == {"/A File With A Rather Long Name.txt": data}
    assert sh.mount() == 0
    assert sh.ls() == ["A File With A Rather Long Name.txt"]
    assert sh.read("/mnt/a file with a rather long name.TXT") == data    # case-insensitive


def test_missing_names_and_existing_directories_give_linux_errors(sh):
    assert sh.read("/mnt/nothing here") == -errno.ENOENT
    assert sh.call(sh.vfs.sys_mkdir, "/mnt/d", 0o755) == 0
    assert sh.call(sh.vfs.sys_mkdir, "/mnt/d", 0o755) == -errno.EEXIST
    assert sh.call(sh.vfs.sys_open, "/mnt/d/x/y", O_CREAT | O_WRONLY, 0) == -errno.ENOENT
    assert sh.call(sh.vfs.sys_open, "/mnt/bad:name", O_CREAT | O_WRONLY, 0) == -errno.EINVAL
    assert sh.call(sh.vfs.sys_open, "/mnt/" + "n" * 256, O_CREAT, 0) == -errno.ENAMETOOLONG


def test_unlink_frees_every_cluster_of_the_file(sh):
    before = sh.free_clusters()
    sh.write("/mnt/big.bin", b"\x01" * 20_000)               # 10 clusters of 2 KiB
    assert sh.free_clusters() == before - 10
    assert sh.call(sh.vfs.sys_unlink, "/mnt/big.bin") == 0
    assert sh.free_clusters() == before
    assert sh.ls() == []
    assert sh.call(sh.vfs.sys_unlink, "/mnt/big.bin") == -errno.ENOENT
    sh.umount()
    assert fsck_vfat(sh.disk.image()) == []


def test_truncating_on_open_gives_back_the_old_clusters(sh):
    sh.write("/mnt/f", b"a" * 10_000)
    before = sh.free_clusters()
    sh.write("/mnt/f", b"b" * 100)
    assert sh.free_clusters() == before + 4
    assert sh.read("/mnt/f") == b"b" * 100


def test_appending_extends_the_chain(sh):
    sh.write("/mnt/log", b"x" * 2000)
    sh.write("/mnt/log", b"y" * 3000, flags=O_WRONLY | O_APPEND)
    assert sh.read("/mnt/log") == b"x" * 2000 + b"y" * 3000
    sh.umount()
    assert fsck_vfat(sh.disk.image()) == []


def test_a_directory_grows_past_one_cluster_and_lists_in_creation_order(sh):
    assert sh.call(sh.vfs.sys_mkdir, "/mnt/many files", 0o755) == 0
    names = [f"source file number {i:02d}.c" for i in range(30)]   # 3 slots each: 90 > 64
    for i, name in enumerate(names):
        sh.write(f"/mnt/many files/{name}", bytes([i]) * (i + 1))
    assert sh.ls("/mnt/many files") == names
    assert sh.call(sh.vfs.sys_rmdir, "/mnt/many files") == -errno.ENOTEMPTY
    sh.umount()
    assert fsck_vfat(sh.disk.image()) == []
    files = read_files(sh.disk.image())
    assert files[f"/many files/{names[29]}"] == bytes([29]) * 30


def test_an_empty_directory_can_be_removed(sh):
    before = sh.free_clusters()
    assert sh.call(sh.vfs.sys_mkdir, "/mnt/tmp", 0o755) == 0
    assert sh.free_clusters() == before - 1
    assert sh.call(sh.vfs.sys_rmdir, "/mnt/tmp") == 0
    assert sh.free_clusters() == before
    assert sh.ls() == []


def test_stat_reports_size_and_kind(sh):
    sh.write("/mnt/s", b"12345")
    sh.call(sh.vfs.sys_mkdir, "/mnt/dir", 0o755)
    st = sh.call(sh.vfs.sys_stat, "/mnt/s")
    assert (st.size, st.is_dir, st.nlink) == (5, False, 1)
    assert sh.call(sh.vfs.sys_stat, "/mnt/dir").is_dir


def test_mount_refuses_an_unformatted_disk():
    s = Shell(seed=4, mount=False)
    s.disk.image()[510] = 0                                   # no boot signature
    assert s.mount() == -errno.EINVAL
    assert s.k.held_by("vfat") == ["filesystem vfat"]
    assert s.k.heap.leaks("vfat") == []


def test_unload_is_refused_while_mounted_and_clean_after_umount(sh):
    fd = sh.call(sh.vfs.sys_open, "/mnt/open", O_CREAT | O_WRONLY, 0o644)
    assert sh.umount() == -errno.EBUSY
    sh.call(sh.vfs.sys_close, fd)
    assert sh.umount() == 0
    assert sh.k.unload("vfat").leaks == []
    assert sh.k.held_by("vfat") == []


def test_the_interface_is_four_ops_tables_and_over_twenty_kernel_functions(sh):
    # SOSP'03 section 4: VFAT used six interfaces with over 35 calls in total.
    from nookslab.kernel.api import INTRINSICS
    imports = [n for n in sh.module.imports if n not in INTRINSICS]
    fs = sh.vfs.fs_types["vfat"]
    members = [t for t in (fs.fs_type, fs.s_op, fs.i_op, fs.f_op)]
    used = sum(1 for t in members for v in vars(t).values() if v is not None)
    assert len(imports) >= 20 and used >= 14 and len(imports) + used > 35
    subsystems = {sh.k.symbols.specs[n].subsystem for n in imports}
    assert subsystems == {"block", "vfs", "mm", "timer"}


def test_the_private_super_block_lives_in_simulated_memory(sh):
    from nookslab.drivers.vfat import MSDOS_SB, SBI_MAGIC
    from nookslab.kernel.vfs import SUPER_BLOCK
    sb = sh.vfs.mounts["/mnt"].sb
    sbi = sh.k.mmu.ld32(sb + SUPER_BLOCK.s_fs_info)
    assert sh.k.heap.ksize(sbi) == MSDOS_SB.size
    view = MSDOS_SB.view(sh.k.mmu, sbi)
    assert (view.magic, view.sec_per_clus, view.fat_start, view.data_start, view.clusters) == (
        SBI_MAGIC, 4, 1, 97, 8167)
    assert O_RDONLY == 0
