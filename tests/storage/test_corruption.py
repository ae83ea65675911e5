"""Storage state a buggy file system could corrupt lives in simulated memory (issue 15).

A wild store from VFAT into a mount entry, a super block or a buffer hash link: natively it
lands, and the kernel's own later walk meets it as Linux would (a fault kills the process that
walks into it, a bent link misleads the walk), with no panic by rule; under Nooks the same store
faults in VFAT's domain, and recovery leaves the kernel's lists intact.
"""
import pytest

from nookslab.kernel import block as blk
from nookslab.kernel import errno
from nookslab.kernel.block import BUFFER_HEAD, HDA
from nookslab.kernel.panic import ProcessKilled
from nookslab.kernel.vfs import O_RDONLY, SUPER_BLOCK, VFSMOUNT

from .conftest import Shell

WILD = 0x7FFF0000                   # no RAM and no device there: a load from it faults


def stray_store(sh, addr, value):
    """VFAT's next ``sbi_of`` (nearly every operation calls it) first stores ``value`` at
    ``addr`` with the driver's own ``st32``: a wild pointer in the driver, used once."""
    ns = sh.k.modules["vfat"].namespace
    real, st32 = ns["sbi_of"], ns["st32"]

    def wild(inode):
        ns["sbi_of"] = real
        st32(addr, value)
        return real(inode)

    ns["sbi_of"] = wild


def in_new_process(sh, fn, *args):
    return sh.k.syscall(sh.k.spawn("sh"), fn, *args)


def mounted(mode):
    sh = Shell(seed=4, mode=mode)
    sh.write("/mnt/kept", b"hello")
    (m,) = sh.vfs.mounts.values()
    return sh, m


def test_natively_a_wild_store_into_the_mount_list_kills_each_later_path_walk():
    sh, m = mounted("native")
    stray_store(sh, m.mnt + VFSMOUNT.mnt_list, WILD)
    assert sh.call(sh.vfs.sys_stat, "/mnt/new") == -errno.ENOENT    # the lookup that stores
    for _ in range(2):                      # every walk of vfsmntlist now follows the link
        with pytest.raises(ProcessKilled, match="paging request at 0x7fff0000 .read"):
            in_new_process(sh, sh.vfs.sys_open, "/mnt/kept", O_RDONLY)
    assert sh.k.verdict is None             # the processes died; the kernel runs on
    assert sh.k.subsystems["block"].dirty_count() >= 0


def test_natively_a_bent_mount_point_name_makes_the_file_system_vanish_without_a_crash():
    sh, m = mounted("native")
    devname = sh.k.mmu.ld32(m.mnt + VFSMOUNT.mnt_devname)
    stray_store(sh, m.mnt + VFSMOUNT.mnt_dirname, devname)         # "/mnt" -> "/dev/hda"
    sh.call(sh.vfs.sys_stat, "/mnt/new")
    assert in_new_process(sh, sh.vfs.sys_open, "/mnt/kept", O_RDONLY) == -errno.ENOENT
    assert sh.read("/dev/hda/kept") == b"hello"                    # mounted somewhere else
    assert sh.k.verdict is None


def test_natively_a_wild_super_block_op_pointer_kills_the_next_sync():
    sh, m = mounted("native")
    stray_store(sh, m.sb + SUPER_BLOCK.s_op, WILD)
    sh.call(sh.vfs.sys_stat, "/mnt/new")
    with pytest.raises(ProcessKilled, match="paging request at 0x7fff0000"):
        in_new_process(sh, sh.vfs.sys_sync)
    assert sh.k.verdict is None


def test_under_nooks_the_same_store_into_the_mount_list_faults_in_vfat_and_is_recovered():
    sh, m = mounted("nooks")
    sh.k.isolation.sync_before_release = True
    before = sh.k.mmu.ld32(m.mnt + VFSMOUNT.mnt_list)
    stray_store(sh, m.mnt + VFSMOUNT.mnt_list, WILD)
    assert sh.call(sh.vfs.sys_stat, "/mnt/new") < 0                # the call fails...
    (record,) = sh.k.recoveries                                    # ...in vfat's domain
    assert record.ok and "write, domain vfat" in record.cause
    assert f"{m.mnt + VFSMOUNT.mnt_list:#010x}" in record.cause
    assert sh.k.verdict is None and sh.k.modules["vfat"].generation == 2
    assert before != WILD
    sh.vfs.check()                                                 # the kernel's lists held
    assert sh.vfs.mounts == {}                                     # recovery detached it
    # recovery synced through the kernel's own (intact) lists; the reloaded vfat mounts it
    assert sh.mount() == 0 and sh.read("/mnt/kept") == b"hello"


def test_natively_a_wild_store_into_a_buffer_hash_link_kills_the_next_walk_of_its_chain():
    sh, _ = mounted("native")
    b = sh.block
    boot = b._get_hash_table(HDA, 0, 512)                          # read_super's block 0
    stray_store(sh, boot + BUFFER_HEAD.b_next, WILD)
    sh.call(sh.vfs.sys_stat, "/mnt/new")
    other = next(n for n in range(1, b.disk().sectors)
                 if blk.bh_hashfn(HDA, n) == blk.bh_hashfn(HDA, 0))
    with pytest.raises(ProcessKilled, match="paging request at 0x7fff000"):
        in_new_process(sh, b.bread, HDA, other, 512)
    assert sh.k.verdict is None


def test_under_nooks_the_same_store_into_a_buffer_hash_link_faults_in_vfat_and_is_recovered():
    sh, _ = mounted("nooks")
    b = sh.block
    boot = b._get_hash_table(HDA, 0, 512)
    stray_store(sh, boot + BUFFER_HEAD.b_next, WILD)
    assert sh.call(sh.vfs.sys_stat, "/mnt/new") < 0
    (record,) = sh.k.recoveries
    assert record.ok and f"{boot + BUFFER_HEAD.b_next:#010x} (write, domain vfat)" in record.cause
    b.check()                                                      # every chain intact
    other = next(n for n in range(1, b.disk().sectors)
                 if blk.bh_hashfn(HDA, n) == blk.bh_hashfn(HDA, 0))
    assert in_new_process(sh, b.bread, HDA, other, 512)            # the walk goes through
    assert sh.k.verdict is None


def test_under_nooks_vfats_scribble_on_its_copy_of_a_dentrys_links_never_reaches_the_kernel():
    from nookslab.kernel.dcache import DENTRY, name_hash
    sh, m = mounted("nooks")
    ns = sh.k.modules["vfat"].namespace
    real, st32 = ns["dentry_name"], ns["st32"]

    def scribbling(dentry):                 # vfat_lookup's first look at the dentry (its copy)
        st32(dentry + DENTRY.d_hash, WILD)
        st32(dentry + DENTRY.d_parent, WILD)
        return real(dentry)

    ns["dentry_name"] = scribbling
    assert sh.call(sh.vfs.sys_stat, "/mnt/new") == -errno.ENOENT
    root = sh.k.mmu.ld32(m.sb + SUPER_BLOCK.s_root)
    d = sh.vfs.dcache.d_lookup(root, b"new", name_hash(b"new"))      # the kernel's dentry
    assert d and sh.k.mmu.ld32(d + DENTRY.d_parent) == root
    assert sh.k.recoveries == [] and sh.k.verdict is None
    sh.vfs.check()


def test_natively_a_mount_list_bent_into_a_loop_hangs_the_next_walk_and_the_sweep_says_so():
    from nookslab.kernel.panic import KernelBug, KernelPanic
    sh, m = mounted("native")
    stray_store(sh, m.mnt + VFSMOUNT.mnt_list, m.mnt + VFSMOUNT.mnt_list)   # next = itself
    sh.call(sh.vfs.sys_stat, "/mnt/new")
    with pytest.raises(KernelPanic):
        in_new_process(sh, sh.vfs.sys_open, "/mnt/kept", O_RDONLY)
    assert sh.k.verdict.kind == "hang" and "no progress" in sh.k.verdict.cause
    with pytest.raises(KernelBug, match="vfsmntlist ring broken"):
        sh.vfs.check()
    assert sh.vfs.held_by("vfat")[-1].startswith("mount list unreadable")
