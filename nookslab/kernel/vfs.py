"""The virtual file system: super blocks, mounts, inodes and dentries, and mount/umount/sync.

Modelled on Linux 2.4's VFS (``fs/super.c``, ``fs/namespace.c``, ``fs/namei.c``, ``fs/inode.c``,
``fs/dcache.c``). A file system module registers its ops tables with ``register_filesystem``;
``mount`` allocates a ``super_block``, links it on ``super_blocks``, calls the file system's
``read_super`` and links a ``vfsmount`` on ``vfsmntlist``; path lookup finds the mount on that
list, walks the dentry cache and asks ``inode_operations.lookup`` on a miss; ``sync`` and
``umount`` write dirty inodes (``write_inode``, oldest first off the super block's ``s_dirty``
ring) and then every dirty buffer of the device. :class:`VfsSubsystem` is assembled from three
parts: this module (registration, the interface exported to file systems, path lookup),
:mod:`.vfs_mount` (super blocks, mounts, sync, recovery's routines) and :mod:`.vfs_files` (the
system calls on paths and open files).

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

from dataclasses import dataclass
from typing import Callable

from ..machine.mmu import PageFault
from . import errno
from .chrdev import FILE, INODE, FileOperations
from .dcache import (DENTRY, DENTRY_KERNEL_FIELDS, I_DIRTY, INODE_KERNEL_FIELDS, NAME_MAX,
                     Dcache, InodeCache, name_hash)
from .list import INIT_LIST_HEAD
from .panic import KernelBug
from .symbols import Arg, buf, data, export, obj, op, ops, ops_table, scalar
from .vfs_files import (DT_DIR, DT_REG, O_APPEND, O_CREAT, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY,
                        READDIR_BATCH, S_IFDIR, S_IFMT, S_IFREG, STATFS, FileSyscalls, Stat)
from .vfs_mount import (PATH_MAX, SUPER_BLOCK, SUPER_BLOCK_KERNEL_FIELDS, VFS_GLOBALS, VFSMOUNT,
                        Mount, Namespace)

#: What the isolation layer must know of these structs (names re-exported from here).
KERNEL_FIELDS = {"super_block": SUPER_BLOCK_KERNEL_FIELDS, "dentry": DENTRY_KERNEL_FIELDS,
                 "inode": INODE_KERNEL_FIELDS}
__all__ = ["DENTRY", "DT_DIR", "DT_REG", "FileSystemType", "I_DIRTY", "InodeOperations",
           "KERNEL_FIELDS", "NAME_MAX", "O_APPEND", "O_CREAT", "O_RDONLY", "O_RDWR", "O_TRUNC",
           "O_WRONLY", "READDIR_BATCH", "S_IFDIR", "S_IFMT", "S_IFREG", "STATFS", "SUPER_BLOCK",
           "Mount", "PATH_MAX", "Stat", "SuperOperations", "VFSMOUNT", "VfsSubsystem"]


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

class VfsSubsystem(Namespace, FileSyscalls):
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
    # -- the super block's pointers into the text table ---------------------------------
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
