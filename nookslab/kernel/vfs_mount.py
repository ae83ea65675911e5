"""Super blocks and mounts: Linux 2.4's ``fs/super.c`` and ``fs/namespace.c``, in simulated memory.

The part of :class:`~nookslab.kernel.vfs.VfsSubsystem` that keeps the ``super_blocks`` ring of
``struct super_block`` (``s_list``) and the ``vfsmntlist`` ring of ``struct vfsmount``
(``mnt_list``), and works on them: mount, umount, sync, ``/proc/mounts``, and the routines
recovery uses on a failed file system. Every walk goes through the MMU (:mod:`.list`); a
:class:`Mount` is a snapshot of what one walk read, never consulted in place of memory.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..machine.cpu import Watchdog
from ..machine.mmu import CpuFault
from . import errno
from .chrdev import FILE, INODE
from .dcache import DENTRY, I_DIRTY, buckets_of
from .list import RING_MAX, INIT_LIST_HEAD, list_add_tail, list_del_init, list_walk
from .panic import KernelBug
from .structs import Layout

SUPER_BLOCK = Layout("super_block", [
    ("s_list", "ptr"), ("s_list_prev", "ptr"),          # struct list_head s_list
    ("s_dev", "u32"), ("s_blocksize", "u32"), ("s_dirt", "u32"), ("s_maxbytes", "u32"),
    ("s_type", "ptr"), ("s_op", "ptr"), ("s_flags", "u32"), ("s_magic", "u32"),
    ("s_root", "ptr"), ("s_count", "u32"),
    ("s_dirty", "ptr"), ("s_dirty_prev", "ptr"),        # struct list_head s_dirty: inodes
    ("s_fs_info", "ptr"),
])
#: Fields of a super block only the kernel writes (never copied back from a file system's copy).
SUPER_BLOCK_KERNEL_FIELDS = ("s_list", "s_list_prev", "s_dev", "s_type", "s_op", "s_count",
                             "s_dirty", "s_dirty_prev")
#: ``struct vfsmount`` (2.4), the fields a tree with no root file system needs: Linux names the
#: mount point by a dentry of the file system below (``mnt_mountpoint``); with nothing below,
#: here it is its path, a string (``mnt_dirname``), as ``/proc/mounts`` prints it.
VFSMOUNT = Layout("vfsmount", [
    ("mnt_list", "ptr"), ("mnt_list_prev", "ptr"),      # struct list_head mnt_list
    ("mnt_sb", "ptr"), ("mnt_root", "ptr"), ("mnt_count", "u32"), ("mnt_flags", "u32"),
    ("mnt_devname", "ptr"), ("mnt_dirname", "ptr"),
])
#: fs/super.c's and fs/namespace.c's globals: ``LIST_HEAD(super_blocks)``,
#: ``LIST_HEAD(vfsmntlist)``, and fs/inode.c's ``LIST_HEAD(inode_in_use)``.
VFS_GLOBALS = Layout("vfs_globals", [
    ("super_blocks", "ptr"), ("super_blocks_prev", "ptr"),
    ("vfsmntlist", "ptr"), ("vfsmntlist_prev", "ptr"),
    ("inode_in_use", "ptr"), ("inode_in_use_prev", "ptr"),
])
PATH_MAX = 4096


@dataclass(slots=True)
class Mount:
    """A mounted file system as the kernel just read it from its ``vfsmount`` (``mnt``) and
    ``super_block`` (``sb``): a snapshot for one call, never consulted in place of memory."""

    path: str
    fs: object                      # the registered file system (vfs.FsType)
    sb: int
    dev: int
    mnt: int = 0
    vfs: object = field(default=None, repr=False, compare=False)

    @property
    def dirty(self) -> list[int]:
        """Its dirty inodes, oldest first (a walk of ``sb->s_dirty``)."""
        return self.vfs.icache.dirty_of(self.sb)


class Namespace:
    """Mount, umount and sync over the super block and mount rings (mixed into the VFS)."""

    def _super_blocks(self) -> list[int]:
        """Every super block, in mount order (a walk of ``super_blocks``)."""
        return [link - SUPER_BLOCK.s_list for link in list_walk(
            self.mmu, self.globals + VFS_GLOBALS.super_blocks, self.k.cpu)]

    def _vfsmounts(self) -> list[int]:
        """Every ``vfsmount``, in mount order (a walk of ``vfsmntlist``)."""
        return [link - VFSMOUNT.mnt_list for link in list_walk(
            self.mmu, self.globals + VFS_GLOBALS.vfsmntlist, self.k.cpu)]

    def _string(self, addr: int) -> str:
        """A NUL-terminated kernel string, read as ``strncpy`` reads it (never past the line
        that holds its end)."""
        out = b""
        while len(out) < PATH_MAX:
            at = addr + len(out)
            chunk = self.mmu.read(at, 64 - (at & 63))
            end = chunk.find(0)
            if end >= 0:
                return (out + chunk[:end]).decode("latin-1")
            out += chunk
        return out[:PATH_MAX].decode("latin-1")

    def _kstrdup(self, text: str) -> int:
        raw = text.encode("latin-1", "replace") + b"\0"
        addr = self.k.heap.kmalloc(len(raw), "kernel")
        if addr:
            self.mmu.write(addr, raw)
        return addr

    def _mount(self, mnt: int, path: str | None = None) -> Mount:
        sb = self.mmu.ld32(mnt + VFSMOUNT.mnt_sb)
        if path is None:
            path = self._string(self.mmu.ld32(mnt + VFSMOUNT.mnt_dirname))
        return Mount(path, self._fs_of(sb), sb, self.mmu.ld32(sb + SUPER_BLOCK.s_dev), mnt, self)

    def _of_sb(self, sb: int) -> Mount:
        """A snapshot of super block ``sb`` without its mount point (which it does not need)."""
        return Mount("", self._fs_of(sb), sb, self.mmu.ld32(sb + SUPER_BLOCK.s_dev), 0, self)

    def _mnt_of_sb(self, sb: int) -> int:
        ld32 = self.mmu.ld32
        return next((mnt for mnt in self._vfsmounts() if ld32(mnt + VFSMOUNT.mnt_sb) == sb), 0)

    @property
    def mounts(self) -> dict[str, Mount]:
        """Mount point -> :class:`Mount`, read off ``vfsmntlist`` now (kernel-side; a program
        asks :meth:`sys_mounts` in a system call)."""
        return {m.path: m for m in (self._mount(mnt) for mnt in self._vfsmounts())}

    def sys_mounts(self) -> list[Mount]:
        """What ``/proc/mounts`` lists, in mount order (run inside ``kernel.syscall``: a bent
        ``vfsmntlist`` is met by the process that reads it)."""
        return [self._mount(mnt) for mnt in self._vfsmounts()]

    def _mnt_get(self, sb: int, delta: int) -> None:
        """``mntget``/``mntput`` on the vfsmount of ``sb`` (each open file holds one)."""
        mnt = self._mnt_of_sb(sb)
        if mnt:
            count = self.mmu.ld32(mnt + VFSMOUNT.mnt_count)
            self.mmu.st32(mnt + VFSMOUNT.mnt_count, max(0, count + delta))

    # -- mount, umount and sync (run inside kernel.syscall) ---------------------------------
    def sys_mount(self, fstype: str, dev_name: str, path: str, data: int = 0) -> int:
        k = self.k
        mmu = self.mmu
        fs = self.fs_types.get(fstype)
        if fs is None:
            return -errno.ENODEV
        dev = self.block.dev_of(dev_name)
        if not dev:
            return -errno.ENXIO
        if not isinstance(path, str) or not path.startswith("/") or path in self.mounts:
            return -errno.EBUSY
        if any(mmu.ld32(sb + SUPER_BLOCK.s_dev) == dev for sb in self._super_blocks()):
            return -errno.EBUSY
        self.block.invalidate_buffers(dev)
        sb = k.heap.kmalloc(SUPER_BLOCK.size, "kernel")
        if not sb:
            return -errno.ENOMEM
        mmu.fill(sb, 0, SUPER_BLOCK.size)
        mmu.st32(sb + SUPER_BLOCK.s_dev, dev)
        mmu.st32(sb + SUPER_BLOCK.s_blocksize, self.block.blocksize.get(dev, 512))
        mmu.st32(sb + SUPER_BLOCK.s_maxbytes, 0x7FFFFFFF)
        mmu.st32(sb + SUPER_BLOCK.s_type, k.text.address_of(fs))
        mmu.st32(sb + SUPER_BLOCK.s_op, k.text.address_of(fs.s_op))
        mmu.st32(sb + SUPER_BLOCK.s_count, 1)
        INIT_LIST_HEAD(mmu, sb + SUPER_BLOCK.s_dirty)
        list_add_tail(mmu, sb + SUPER_BLOCK.s_list, self.globals + VFS_GLOBALS.super_blocks)
        ret = fs.fs_type.read_super(sb, data, 0)
        root = mmu.ld32(sb + SUPER_BLOCK.s_root)
        if not ret and (not root or mmu.ld32(root + DENTRY.d_sb) != sb
                        or not self._inode_of(root)):
            ret = -errno.EINVAL
        mnt = devname = dirname = 0
        if not ret:
            mnt = k.heap.kmalloc(VFSMOUNT.size, "kernel")
            devname, dirname = self._kstrdup(str(dev_name)), self._kstrdup(path)
            if not (mnt and devname and dirname):
                for addr in (mnt, devname, dirname):
                    k.heap.kfree(addr)                  # NULL is ignored
                ret = -errno.ENOMEM
        if ret:
            self._teardown(sb)
            return ret if ret < 0 else -errno.EINVAL
        mmu.fill(mnt, 0, VFSMOUNT.size)
        mmu.st32(mnt + VFSMOUNT.mnt_sb, sb)
        mmu.st32(mnt + VFSMOUNT.mnt_root, root)
        mmu.st32(mnt + VFSMOUNT.mnt_count, 1)
        mmu.st32(mnt + VFSMOUNT.mnt_devname, devname)
        mmu.st32(mnt + VFSMOUNT.mnt_dirname, dirname)
        list_add_tail(mmu, mnt + VFSMOUNT.mnt_list, self.globals + VFS_GLOBALS.vfsmntlist)
        k.events.add("mount", fs.owner, f"{fs.name} on {path} (dev {dev:#06x})")
        return 0

    def sys_umount(self, path: str) -> int:
        m = self.mounts.get(path)
        if m is None:
            return -errno.EINVAL
        if self.mmu.ld32(m.mnt + VFSMOUNT.mnt_count) > 1:
            return -errno.EBUSY
        ret = self.sync_super(m)
        # shrink_dcache, invalidate_inodes, put_super, then the device's buffers (kill_super)
        for d in self.dcache.tree(self.mmu.ld32(m.sb + SUPER_BLOCK.s_root)):
            inode = self._inode_of(d)
            if inode:
                self.mmu.st32(d + DENTRY.d_inode, 0)
                self.iput(inode)
        s_op = self._s_op(m.sb)
        for inode in self.icache.of_sb(m.sb):
            if s_op is not None and s_op.clear_inode is not None:
                s_op.clear_inode(inode)
        if s_op is not None and s_op.put_super is not None:
            s_op.put_super(m.sb)
        ret = self.block.fsync_dev(m.dev) or ret
        self._release_mnt(m.mnt)
        self._teardown(m.sb)
        self.k.events.add("umount", m.fs.owner, f"{m.fs.name} from {path}")
        return ret

    def _release_mnt(self, mnt: int) -> None:
        """Off ``vfsmntlist``, and freed with its strings."""
        list_del_init(self.mmu, mnt + VFSMOUNT.mnt_list)
        for offset in (VFSMOUNT.mnt_devname, VFSMOUNT.mnt_dirname):
            self.k.heap.kfree(self.mmu.ld32(mnt + offset))
        self.k.heap.kfree(mnt)

    def _teardown(self, sb: int) -> None:
        """Free the kernel's objects of a super block (its inodes, its dentry tree, itself) and
        forget its device's buffers."""
        mmu = self.mmu
        dev = mmu.ld32(sb + SUPER_BLOCK.s_dev)
        owner = self._fs_of(sb).owner
        for inode in self.icache.of_sb(sb):
            self._destroy_inode(inode)
        root = mmu.ld32(sb + SUPER_BLOCK.s_root)
        if root:
            for d in self.dcache.tree(root):
                self._d_free(d)
        list_del_init(mmu, sb + SUPER_BLOCK.s_list)
        self._free_object("super_block", sb)
        busy = self.block.invalidate_buffers(dev)
        if busy:
            self.k.events.add("warning", owner, f"VFS: {len(busy)} busy buffers after umount "
                                                f"of dev {dev:#06x}")

    def sync_super(self, m: Mount) -> int:
        """``fsync_super``: write dirty inodes, the super block, then every dirty buffer."""
        ret = self.write_inodes(m)
        return self.block.fsync_dev(m.dev) or ret

    def write_inodes(self, m: Mount) -> int:
        """``sync_inodes`` + ``sync_supers`` of one mount: hand every dirty inode (oldest first,
        off ``s_dirty``) to the file system's ``write_inode`` (which copies it into its on-disk
        form in a buffer and marks that buffer dirty), then a dirty super block to
        ``write_super``. Writes no buffer itself. Like Linux 2.4, a failing call does not stop
        the others; returns the first error."""
        s_op = self._s_op(m.sb)
        ret = 0
        for inode in self.icache.dirty_of(m.sb):
            if not self.mmu.ld32(inode + INODE.i_state) & I_DIRTY:
                continue
            self.icache.mark_clean(inode)
            if s_op is not None and s_op.write_inode is not None:
                r = s_op.write_inode(inode, 1)
                ret = ret or (r if r and r < 0 else 0)
        if s_op is not None and s_op.write_super is not None \
                and self.mmu.ld32(m.sb + SUPER_BLOCK.s_dirt):
            s_op.write_super(m.sb)
        return ret

    def sys_sync(self) -> int:
        ret = 0
        mounts = self.mounts
        for path in sorted(mounts):
            ret = self.sync_super(mounts[path]) or ret
        return ret

    # -- for recovery (kernel-internal) ----------------------------------------------------------
    def mounts_of(self, owner: str) -> list[Mount]:
        """Mounts whose file system belongs to module ``owner``, by mount path."""
        mounts = self.mounts
        return [mounts[p] for p in sorted(mounts) if mounts[p].fs.owner == owner]

    def sync_fs_of(self, owner: str) -> int:
        """Recovery's sync-before-release of ``owner``'s file systems: what ``fsync_dev`` does
        for each device they have mounted. Returns the buffers that were dirty and were written.

        Writing the dirty buffers alone is not a sync: a file system keeps part of what it has
        accepted in its in-memory inodes, and only its ``write_inode`` puts that into a buffer
        (VFAT: a file's size and first cluster live in its directory entry; without them the
        FAT's chains of a file being written reach the disk owned by no entry, lost clusters).
        So, as Linux 2.4's ``fsync_dev`` (``sync_inodes``, ``sync_supers``, then
        ``sync_buffers``), dirty inodes go to ``write_inode`` through the file system's
        (wrapped) ops table first: a call into the failed extension, which only works while
        the recovery manager lets the kernel enter its domain (``RecoveryManager`` does, for
        its sync step). Refused or failing calls leave those inodes unwritten; the buffers are
        written anyway, as ``fsync_dev`` ignores ``write_inode``'s outcome.
        """
        written = 0
        for m in self.mounts_of(owner):
            self.write_inodes(m)
            written += self.block.dirty_count(m.dev)
            self.block.fsync_dev(m.dev)
        return written

    def forget_fs_of(self, owner: str) -> None:
        """Detach ``owner``'s file systems without calling them: drop their mounts (open files
        become invalid), buffer references and registrations. Sync first if the data matters."""
        ld32 = self.mmu.ld32
        for m in self.mounts_of(owner):
            for proc in self.k.processes:
                for fd, entry in list(proc.files.items()):
                    if entry[0] == "vfs" and \
                            ld32(ld32(entry[1] + FILE.f_dentry) + DENTRY.d_sb) == m.sb:
                        del proc.files[fd]
                        self._free_object("file", entry[1])
            self._release_mnt(m.mnt)
            self.block.release_holds(owner)
            self._teardown(m.sb)
        for name in [n for n, fs in self.fs_types.items() if fs.owner == owner]:
            del self.fs_types[name]
        self.block.release_holds(owner)

    def held_by(self, owner: str) -> list[str]:
        held = [f"filesystem {n}" for n, fs in sorted(self.fs_types.items()) if fs.owner == owner]
        try:
            held += [f"mount {m.path} ({m.fs.name})" for m in self.mounts_of(owner)]
        except (CpuFault, Watchdog) as exc:          # an accounting query: say so, never raise
            held.append(f"mount list unreadable ({exc})")
        return held

    def check(self) -> None:
        """Integrity sweep (a diagnostic, never run by the kernel on its own): the super block,
        mount and in-use rings, every super block's ``s_dirty`` ring and every dentry and inode
        hash ring link back (``next->prev`` is the member) and close at their heads. Raises
        :class:`KernelBug` at the first break."""
        g = self.globals
        for head, name in ((g + VFS_GLOBALS.vfsmntlist, "vfsmntlist"),
                           (g + VFS_GLOBALS.inode_in_use, "inode_in_use")):
            self._check_ring(head, name)
        for link in self._check_ring(g + VFS_GLOBALS.super_blocks, "super_blocks"):
            sb = link - SUPER_BLOCK.s_list
            self._check_ring(sb + SUPER_BLOCK.s_dirty, f"s_dirty of {sb:#010x}")
        for table, name in ((self.dcache.table, "dentry hash"), (self.icache.table, "inode hash")):
            for head in buckets_of(self.mmu, table):
                self._check_ring(head, name)

    def _check_ring(self, head: int, name: str) -> list[int]:
        """The ring's links, each checked to link back; :class:`KernelBug` if one does not or
        the ring does not close."""
        ld32 = self.mmu.ld32
        pos, links = head, []
        while True:
            nxt = ld32(pos)
            if ld32(nxt + 4) != pos:
                raise KernelBug(f"{name} ring broken after {pos:#010x}")
            pos = nxt
            if pos == head:
                return links
            links.append(pos)
            if len(links) > RING_MAX:
                raise KernelBug(f"{name} ring does not return to its head")
