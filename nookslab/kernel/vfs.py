"""The virtual file system: super blocks, mounts, inodes and dentries, and mount/umount/sync.

Modelled on Linux 2.4's VFS (``fs/super.c``, ``fs/namespace.c``, ``fs/namei.c``, ``fs/inode.c``,
``fs/dcache.c``). A file system module registers its ops tables with ``register_filesystem``;
``mount`` allocates a ``super_block``, links it on ``super_blocks``, calls the file system's
``read_super`` and links a ``vfsmount`` on ``vfsmntlist``; path lookup finds the mount on that
list, walks the dentry cache and asks ``inode_operations.lookup`` on a miss; ``sync`` and
``umount`` write dirty inodes (``write_inode``, oldest first off the super block's ``s_dirty``
ring) and then every dirty buffer of the device. The file system calls on open files are in
:mod:`.vfs_files`.

All of it is kernel data in simulated memory, and the kernel reaches it only through the MMU:
the mount list and super blocks (``s_dev``, ``s_type``, ``s_op``, ``s_root``, ``s_dirt``, the
``s_dirty`` ring), the dentry and inode hash tables and rings (:mod:`.dcache`), the inodes
(``i_ino``, ``i_size``, ``i_nlink``, ``i_state``...) and the files. ``s_type`` and ``s_op`` hold
addresses in the kernel's text table (:mod:`.text`), as C holds pointers to the module's
``file_system_type`` and ``super_operations``: after a wild store into one, the kernel's next
call through it faults. Python keeps the registered file system types (the ``file_systems``
list, whose ops tables are Python callables) and the per-call ``readdir`` contexts, nothing the
kernel walks. A corrupted structure is met by the kernel's own code as Linux would meet it: a
pointer out of RAM faults in the walk (in process context the caller is killed), a bent link
sends the walk elsewhere (a name or a mount not found, a dentry in the wrong place), a ring that
never returns to its head keeps the walk going until the watchdog sees a hang.

Where Linux lets a file system store ``sb->s_op``, ``inode->i_op`` and ``inode->i_fop`` itself,
our file systems hand all their tables to ``register_filesystem`` at once (one table per kind, the
directory/regular split decided by ``i_mode``): every driver table then crosses the interface in
one exported call, where an isolation layer can wrap it; ``mount`` sets ``s_type`` and ``s_op``.

For recovery, :meth:`VfsSubsystem.sync_fs_of` writes a failed file system's dirty inodes (through
its ``write_inode``) and then its dirty buffers to disk before its resources are released (SOSP'03
section 8: syncing first cut VFAT's on-disk corruption after recovery from 90% to 10%), and
:meth:`VfsSubsystem.forget_fs_of` detaches it without calling into it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..machine.cpu import Watchdog
from ..machine.mmu import CpuFault, PageFault
from . import errno
from .chrdev import FILE, INODE, FileOperations
from .dcache import (DENTRY, DENTRY_KERNEL_FIELDS, I_DIRTY, INODE_KERNEL_FIELDS, NAME_MAX,
                     Dcache, InodeCache, buckets_of, name_hash)
from .list import RING_MAX, INIT_LIST_HEAD, list_add_tail, list_del_init, list_walk
from .panic import KernelBug
from .structs import Layout
from .symbols import Arg, buf, data, export, obj, op, ops, ops_table, scalar
from .vfs_files import (DT_DIR, DT_REG, O_APPEND, O_CREAT, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY,
                        READDIR_BATCH, S_IFDIR, S_IFMT, S_IFREG, STATFS, FileSyscalls, Stat)

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
#: What the isolation layer must know of these structs (names re-exported from here).
KERNEL_FIELDS = {"super_block": SUPER_BLOCK_KERNEL_FIELDS, "dentry": DENTRY_KERNEL_FIELDS,
                 "inode": INODE_KERNEL_FIELDS}
__all__ = ["DENTRY", "DT_DIR", "DT_REG", "FileSystemType", "I_DIRTY", "InodeOperations",
           "KERNEL_FIELDS", "NAME_MAX", "O_APPEND", "O_CREAT", "O_RDONLY", "O_RDWR", "O_TRUNC",
           "O_WRONLY", "READDIR_BATCH", "S_IFDIR", "S_IFMT", "S_IFREG", "STATFS", "SUPER_BLOCK",
           "Stat", "SuperOperations", "VFSMOUNT", "VfsSubsystem"]


@ops_table("file_system_type")
@dataclass(frozen=True)
class FileSystemType:
    """``struct file_system_type``: how to read a super block off a device."""

    read_super: Callable | None = op(obj("sb", "super_block", "inout"), scalar("data"),
                                     scalar("silent"), returns=scalar("ret"))


@ops_table("super_operations")
@dataclass(frozen=True)
class SuperOperations:
    """``struct super_operations``: per-file-system inode and super-block housekeeping."""

    read_inode: Callable | None = op(obj("inode", "inode", "inout"))
    write_inode: Callable | None = op(obj("inode", "inode", "inout"), scalar("wait"),
                                      returns=scalar("ret"))
    delete_inode: Callable | None = op(obj("inode", "inode", "inout"))
    clear_inode: Callable | None = op(obj("inode", "inode", "inout"))
    put_super: Callable | None = op(obj("sb", "super_block", "inout"))
    write_super: Callable | None = op(obj("sb", "super_block", "inout"))
    statfs: Callable | None = op(obj("sb", "super_block"), obj("buf", "statfs", "out"),
                                 returns=scalar("ret"))


@ops_table("inode_operations")
@dataclass(frozen=True)
class InodeOperations:
    """``struct inode_operations``: name-space operations on directories, truncate on files."""

    lookup: Callable | None = op(obj("dir", "inode", "inout"), obj("dentry", "dentry", "inout"),
                                 returns=scalar("ret"))
    create: Callable | None = op(obj("dir", "inode", "inout"), obj("dentry", "dentry", "inout"),
                                 scalar("mode"), returns=scalar("ret"))
    mkdir: Callable | None = op(obj("dir", "inode", "inout"), obj("dentry", "dentry", "inout"),
                                scalar("mode"), returns=scalar("ret"))
    unlink: Callable | None = op(obj("dir", "inode", "inout"), obj("dentry", "dentry", "inout"),
                                 returns=scalar("ret"))
    rmdir: Callable | None = op(obj("dir", "inode", "inout"), obj("dentry", "dentry", "inout"),
                                returns=scalar("ret"))
    truncate: Callable | None = op(obj("inode", "inode", "inout"))


@dataclass(frozen=True)
class FsType:
    """A registered file system (the kernel's ``file_systems`` list entry)."""

    name: str
    fs_type: FileSystemType
    s_op: SuperOperations
    i_op: InodeOperations
    f_op: FileOperations
    owner: str


@dataclass(slots=True)
class Mount:
    """A mounted file system as the kernel just read it from its ``vfsmount`` (``mnt``) and
    ``super_block`` (``sb``): a snapshot for one call, never consulted in place of memory."""

    path: str
    fs: FsType
    sb: int
    dev: int
    mnt: int = 0
    vfs: object = field(default=None, repr=False, compare=False)

    @property
    def dirty(self) -> list[int]:
        """Its dirty inodes, oldest first (a walk of ``sb->s_dirty``)."""
        return self.vfs.icache.dirty_of(self.sb)


class VfsSubsystem(FileSyscalls):
    """The file-system switch of one kernel."""

    def __init__(self, kernel):
        self.k = kernel
        self.mmu = kernel.mmu
        self.block = kernel.subsystems["block"]
        self.fs_types: dict[str, FsType] = {}
        kernel.file_closers["vfs"] = self.sys_close                 # do_exit closes files
        g = kernel.heap.kmalloc(VFS_GLOBALS.size, "kernel")
        self.globals = g
        INIT_LIST_HEAD(self.mmu, g + VFS_GLOBALS.super_blocks)
        INIT_LIST_HEAD(self.mmu, g + VFS_GLOBALS.vfsmntlist)
        self.dcache = Dcache(kernel)
        self.icache = InodeCache(kernel, g + VFS_GLOBALS.inode_in_use, SUPER_BLOCK.s_dirty)
        self._readdir: dict[int, list] = {}
        self._next_ctx = 1
        for layout in (SUPER_BLOCK, DENTRY, STATFS):
            kernel.object_types[layout.name] = layout

    # -- registration ----------------------------------------------------------------------
    @export(data("name"), ops("fs_type", "file_system_type"), ops("s_op", "super_operations"),
            ops("i_op", "inode_operations"), ops("f_op", "file_operations"),
            returns=scalar("ret"), owned=True)
    def register_filesystem(self, name: str, fs_type: FileSystemType, s_op: SuperOperations,
                            i_op: InodeOperations, f_op: FileOperations,
                            owner: str = "kernel") -> int:
        """Add a file system type and its ops tables; 0 or ``-EBUSY`` if the name is taken."""
        self.k.charge(self.k.cost.kernel_call)
        name = str(name)
        if name in self.fs_types:
            return -errno.EBUSY
        if fs_type is None or fs_type.read_super is None:
            return -errno.EINVAL
        self.fs_types[name] = FsType(name, fs_type, s_op, i_op, f_op, owner)
        self.k.events.add("register", owner, f"filesystem {name}")
        return 0

    @export(data("name"), returns=scalar("ret"))
    def unregister_filesystem(self, name: str) -> int:
        """Remove a file system type; ``-EBUSY`` while it is mounted, ``-EINVAL`` if unknown."""
        self.k.charge(self.k.cost.kernel_call)
        fs = self.fs_types.get(str(name))
        if fs is None:
            return -errno.EINVAL
        s_type = self.k.text.address_of(fs)
        if any(self.mmu.ld32(sb + SUPER_BLOCK.s_type) == s_type for sb in self._super_blocks()):
            return -errno.EBUSY
        del self.fs_types[fs.name]
        return 0

    # -- the mount list and super blocks (in memory) ----------------------------------------
    def _super_blocks(self) -> list[int]:
        """Every super block, in mount order (a walk of ``super_blocks``)."""
        return [link - SUPER_BLOCK.s_list for link in list_walk(
            self.mmu, self.globals + VFS_GLOBALS.super_blocks, self.k.cpu)]

    def _vfsmounts(self) -> list[int]:
        """Every ``vfsmount``, in mount order (a walk of ``vfsmntlist``)."""
        return [link - VFSMOUNT.mnt_list for link in list_walk(
            self.mmu, self.globals + VFS_GLOBALS.vfsmntlist, self.k.cpu)]

    def _fs_of(self, sb: int) -> FsType:
        """``sb->s_type``: what the pointer names in the kernel's text table (a bad one faults,
        as the first call through it would)."""
        addr = self.mmu.ld32(sb + SUPER_BLOCK.s_type)
        fs = self.k.text.lookup(addr)
        if not isinstance(fs, FsType):
            raise PageFault(addr, "read", "kernel")
        return fs

    def _s_op(self, sb: int) -> SuperOperations | None:
        """``sb->s_op`` (None for NULL; a bad one faults)."""
        addr = self.mmu.ld32(sb + SUPER_BLOCK.s_op)
        if not addr:
            return None
        s_op = self.k.text.lookup(addr)
        if not isinstance(s_op, SuperOperations):
            raise PageFault(addr, "read", "kernel")
        return s_op

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

    # -- exported: inodes and dentries ----------------------------------------------------------
    @export(obj("sb", "super_block"), returns=Arg("inode", "object", "inode", nullable=True),
            creates="inode")
    def new_inode(self, sb: int) -> int:
        """A fresh in-core inode of ``sb`` with one reference (not hashed yet); 0 on ENOMEM."""
        self.k.charge(self.k.cost.kernel_call * 2)
        return self.icache.new(sb)

    @export(obj("inode", "inode", "inout"))
    def insert_inode_hash(self, inode: int) -> None:
        """Make the inode findable by ``iget`` under its ``i_ino``."""
        self.k.charge(self.k.cost.kernel_call)
        self.icache.insert_hash(inode)

    @export(obj("sb", "super_block"), scalar("ino"),
            returns=Arg("inode", "object", "inode", nullable=True), creates="inode")
    def iget(self, sb: int, ino: int) -> int:
        """The in-core inode ``ino`` of ``sb`` with a new reference: from the inode cache, or
        read with ``read_inode`` if the file system has one; 0 if neither."""
        self.k.charge(self.k.cost.kernel_call)
        inode = self.icache.find(sb, ino)
        if inode:
            self.mmu.st32(inode + INODE.i_count, self.mmu.ld32(inode + INODE.i_count) + 1)
            return inode
        s_op = self._s_op(sb)
        if s_op is None or s_op.read_inode is None:
            return 0
        inode = self.new_inode(sb)
        if not inode:
            return 0
        self.mmu.st32(inode + INODE.i_ino, ino)
        s_op.read_inode(inode)
        self.icache.insert_hash(inode)
        return inode

    @export(Arg("inode", "object", "inode", nullable=True), releases="inode")
    def iput(self, inode: int) -> None:
        """Drop a reference; the last one to an unlinked inode deletes it (``delete_inode``)."""
        self.k.charge(self.k.cost.kernel_call)
        if not inode:
            return
        count = self.mmu.ld32(inode + INODE.i_count)
        if count == 0:
            raise KernelBug(f"iput: inode {inode:#010x} has no references")
        self.mmu.st32(inode + INODE.i_count, count - 1)
        if count == 1 and self.mmu.ld32(inode + INODE.i_nlink) == 0:
            s_op = self._s_op(self.mmu.ld32(inode + INODE.i_sb))
            if s_op is not None and s_op.delete_inode is not None:
                s_op.delete_inode(inode)
            self._destroy_inode(inode)

    @export(obj("inode", "inode", "inout"))
    def mark_inode_dirty(self, inode: int) -> None:
        """The inode changed: ``write_inode`` it at the next sync."""
        self.k.charge(self.k.cost.kernel_call)
        self.icache.mark_dirty(inode)

    @export(obj("dentry", "dentry", "inout"), Arg("inode", "object", "inode", nullable=True))
    def d_instantiate(self, dentry: int, inode: int) -> None:
        """Attach ``inode`` to a negative dentry; the dentry takes over the caller's reference."""
        self.k.charge(self.k.cost.kernel_call)
        if self.mmu.ld32(dentry + DENTRY.d_inode):
            raise KernelBug(f"d_instantiate: dentry {dentry:#010x} already has an inode")
        self.mmu.st32(dentry + DENTRY.d_inode, inode)

    @export(obj("dentry", "dentry", "inout"), Arg("inode", "object", "inode", nullable=True))
    def d_add(self, dentry: int, inode: int) -> None:
        """What ``lookup`` ends with: attach ``inode`` (or NULL: the name does not exist). The
        kernel hashed the dentry when it asked (Linux's ``d_add`` hashes it here)."""
        self.d_instantiate(dentry, inode)

    @export(obj("inode", "inode"), returns=Arg("dentry", "object", "dentry", nullable=True),
            creates="dentry")
    def d_alloc_root(self, inode: int) -> int:
        """The root dentry of a file system being mounted, holding the caller's reference."""
        k = self.k
        k.charge(k.cost.kernel_call)
        dentry = self.dcache.d_alloc(0, b"/", name_hash(b"/"),
                                     self.mmu.ld32(inode + INODE.i_sb))
        if dentry:
            k.mmu.st32(dentry + DENTRY.d_inode, inode)
        return dentry

    @export(scalar("ctx"), buf("name", "namelen"), scalar("namelen"),
            scalar("offset"), scalar("ino"), scalar("d_type"), returns=scalar("ret"))
    def vfs_filldir(self, ctx: int, name: int, namelen: int, offset: int, ino: int,
                    d_type: int) -> int:
        """``filldir``: hand one directory entry to ``readdir``'s caller; non-zero means full."""
        self.k.charge(self.k.cost.kernel_call)
        entries = self._readdir.get(ctx)
        if entries is None:
            return -errno.EINVAL
        if len(entries) >= READDIR_BATCH:
            return -errno.EINVAL
        if not 0 < namelen <= NAME_MAX:
            return -errno.ENAMETOOLONG
        text = self.mmu.read(name, namelen).decode("latin-1")
        entries.append((text, ino, d_type, offset))
        return 0

    # -- internals --------------------------------------------------------------------------
    def _free_object(self, type_name: str, addr: int) -> None:
        """kfree a VFS object the kernel frees on its own (umount, close, a failed open...),
        telling the isolation layer first so no domain keeps an association (and a stale
        domain copy) for an address the heap will hand out again (the paper: "the kernel must
        be changed to notify Nooks")."""
        if self.k.isolation is not None:
            self.k.isolation.object_freed(type_name, addr)
        self.k.heap.kfree(addr)

    def _destroy_inode(self, inode: int) -> None:
        self.icache.unlink(inode)
        self._free_object("inode", inode)

    def _inode_of(self, dentry: int) -> int:
        return self.mmu.ld32(dentry + DENTRY.d_inode)

    def _is_dir(self, inode: int) -> bool:
        return self.mmu.ld32(inode + INODE.i_mode) & S_IFMT == S_IFDIR

    def _split(self, path: str):
        """(mount, components) for an absolute path under a mount point, or (None, error): the
        mount whose point is the longest prefix of ``path``, found on ``vfsmntlist``."""
        if not isinstance(path, str) or not path.startswith("/"):
            return None, -errno.EINVAL
        best = None
        for mnt in self._vfsmounts():
            mp = self._string(self.mmu.ld32(mnt + VFSMOUNT.mnt_dirname))
            if path == mp or path.startswith(mp.rstrip("/") + "/"):
                if best is None or len(mp) > len(best[0]):
                    best = (mp, mnt)
        if best is None:
            return None, -errno.ENOENT
        parts = [p for p in path[len(best[0]):].split("/") if p and p != "."]
        for p in parts:
            if len(p.encode("latin-1", "replace")) > NAME_MAX:
                return None, -errno.ENAMETOOLONG
        return self._mount(best[1], best[0]), parts

    def _lookup(self, m: Mount, parent: int, name: str) -> int:
        """The dentry of ``name`` in directory dentry ``parent`` (maybe negative), or -errno:
        ``d_lookup`` in the dentry cache, else a new hashed dentry that the file system's
        ``lookup`` fills (``real_lookup``)."""
        k = self.k
        k.charge(k.cost.kernel_call)
        if name == "..":
            return self.mmu.ld32(parent + DENTRY.d_parent)
        raw = name.encode("latin-1", "replace")
        h = name_hash(raw)
        d = self.dcache.d_lookup(parent, raw, h)
        if d:
            return d
        dir_inode = self._inode_of(parent)
        if not dir_inode or not self._is_dir(dir_inode):
            return -errno.ENOTDIR
        d = self.dcache.d_alloc(parent, raw, h, m.sb)
        if not d:
            return -errno.ENOMEM
        ret = m.fs.i_op.lookup(dir_inode, d) if m.fs.i_op.lookup is not None else -errno.ENOTDIR
        if ret:
            self._d_free(d)
            return ret if ret < 0 else -errno.EIO
        return d

    def _d_free(self, d: int) -> None:
        self.dcache.d_unlink(d)
        self._free_object("dentry", d)

    def _walk(self, path: str, parent_only: bool = False):
        """Resolve ``path``: (mount, dentry) or, with ``parent_only``, (mount, dir dentry, name).
        Errors come back as (None, -errno)."""
        m, parts = self._split(path)
        if m is None:
            return None, parts
        d = self.mmu.ld32(m.sb + SUPER_BLOCK.s_root)
        last = parts[-1] if parts and parent_only else None
        for name in (parts[:-1] if parent_only and parts else parts):
            d = self._lookup(m, d, name)
            if d < 0:
                return None, d
            inode = self._inode_of(d)
            if not inode:
                return None, -errno.ENOENT
        if parent_only:
            if last is None:
                return None, -errno.EEXIST
            if not self._is_dir(self._inode_of(d)):
                return None, -errno.ENOTDIR
            return m, d, last
        return m, d

    def _get_file(self, fd: int):
        """(mount, file) of a descriptor of the current process, or (None, None): the mount
        read through ``file->f_dentry->d_sb``."""
        entry = self.k.current.files.get(fd) if self.k.current else None
        if entry is None or entry[0] != "vfs":
            return None, None
        f = entry[1]
        sb = self.mmu.ld32(self.mmu.ld32(f + FILE.f_dentry) + DENTRY.d_sb)
        return self._of_sb(sb), f

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
        mnt = 0
        if not ret:
            mnt = k.heap.kmalloc(VFSMOUNT.size, "kernel")
            ret = 0 if mnt else -errno.ENOMEM
        if ret:
            self._teardown(sb)
            return ret if ret < 0 else -errno.EINVAL
        mmu.fill(mnt, 0, VFSMOUNT.size)
        mmu.st32(mnt + VFSMOUNT.mnt_sb, sb)
        mmu.st32(mnt + VFSMOUNT.mnt_root, root)
        mmu.st32(mnt + VFSMOUNT.mnt_count, 1)
        mmu.st32(mnt + VFSMOUNT.mnt_devname, self._kstrdup(str(dev_name)))
        mmu.st32(mnt + VFSMOUNT.mnt_dirname, self._kstrdup(path))
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
