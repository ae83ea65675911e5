"""The virtual file system: super blocks, inodes, dentries, files, mounts and the file syscalls.

Modelled on Linux 2.4's VFS (``fs/super.c``, ``fs/namei.c``, ``fs/inode.c``, ``fs/dcache.c``). A
file system module registers its ops tables with ``register_filesystem``; ``mount`` allocates a
``super_block`` and calls the file system's ``read_super``; path lookup walks the dentry cache and
asks ``inode_operations.lookup`` on a miss; ``read``/``write``/``readdir`` go to its
``file_operations``; ``sync`` and ``umount`` write dirty inodes (``write_inode``) and then every
dirty buffer of the device. All four structs live in simulated memory on the kernel heap.

Where Linux lets a file system store ``sb->s_op``, ``inode->i_op`` and ``inode->i_fop`` itself,
our file systems hand all their tables to ``register_filesystem`` at once (one table per kind, the
directory/regular split decided by ``i_mode``): every driver table then crosses the interface in
one exported call, where an isolation layer can wrap it.

For recovery, :meth:`VfsSubsystem.sync_fs_of` writes a failed file system's dirty inodes (through
its ``write_inode``) and then its dirty buffers to disk before its resources are released (SOSP'03
section 8: syncing first cut VFAT's on-disk corruption after recovery from 90% to 10%), and
:meth:`VfsSubsystem.forget_fs_of` detaches it without calling into it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from . import errno
from .chrdev import FILE, INODE, FileOperations
from .panic import KernelBug
from .structs import Layout
from .symbols import Arg, buf, data, export, obj, op, ops, ops_table, scalar

SUPER_BLOCK = Layout("super_block", [
    ("s_dev", "u32"), ("s_blocksize", "u32"), ("s_magic", "u32"), ("s_root", "ptr"),
    ("s_fs_info", "ptr"), ("s_dirt", "u32"), ("s_flags", "u32"), ("s_maxbytes", "u32"),
])
NAME_MAX = 255
DENTRY = Layout("dentry", [
    ("d_inode", "ptr"), ("d_parent", "ptr"), ("d_sb", "ptr"), ("d_count", "u32"),
    ("d_flags", "u32"), ("d_name_len", "u32"), ("d_name", NAME_MAX + 1),
])
STATFS = Layout("statfs", [
    ("f_type", "u32"), ("f_bsize", "u32"), ("f_blocks", "u32"), ("f_bfree", "u32"),
    ("f_files", "u32"), ("f_namelen", "u32"),
])

S_IFMT = 0o170000
S_IFDIR = 0o040000
S_IFREG = 0o100000
DT_DIR = 4
DT_REG = 8
I_DIRTY = 1
O_RDONLY, O_WRONLY, O_RDWR = 0, 1, 2
O_CREAT = 0o100
O_TRUNC = 0o1000
O_APPEND = 0o2000
READDIR_BATCH = 64               # entries one readdir call may hand back


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


@dataclass
class FsType:
    """A registered file system (the kernel's ``file_systems`` list entry)."""

    name: str
    fs_type: FileSystemType
    s_op: SuperOperations
    i_op: InodeOperations
    f_op: FileOperations
    owner: str


@dataclass
class Mount:
    """``struct vfsmount``: a super block mounted on a directory path."""

    path: str
    fs: FsType
    sb: int
    dev: int
    inodes: dict[int, int] = field(default_factory=dict)      # ino -> inode (hashed)
    all_inodes: dict[int, None] = field(default_factory=dict)  # every live inode, in order
    dirty: dict[int, None] = field(default_factory=dict)       # dirty inodes, in order
    dentries: dict[int, None] = field(default_factory=dict)
    open_files: int = 0


@dataclass(frozen=True)
class Stat:
    """What ``stat`` returns (a few fields of ``struct stat``)."""

    ino: int
    mode: int
    size: int
    nlink: int

    @property
    def is_dir(self) -> bool:
        return self.mode & S_IFMT == S_IFDIR


class VfsSubsystem:
    """The file-system switch of one kernel."""

    def __init__(self, kernel):
        self.k = kernel
        self.mmu = kernel.mmu
        self.block = kernel.subsystems["block"]
        self.fs_types: dict[str, FsType] = {}
        kernel.file_closers["vfs"] = self.sys_close                 # do_exit closes files
        self.mounts: dict[str, Mount] = {}
        self.dcache: dict[tuple[int, str], int] = {}
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
        if any(m.fs is fs for m in self.mounts.values()):
            return -errno.EBUSY
        del self.fs_types[fs.name]
        return 0

    # -- exported: inodes and dentries ----------------------------------------------------------
    def _mount_of_sb(self, sb: int) -> Mount:
        for m in self.mounts.values():
            if m.sb == sb:
                return m
        if self._mounting is not None and self._mounting.sb == sb:
            return self._mounting
        raise BadObject(f"{sb:#010x} is not a mounted super_block")

    _mounting: Mount | None = None

    def _mount_of_inode(self, inode: int) -> Mount:
        return self._mount_of_sb(self.mmu.ld32(inode + INODE.i_sb))

    @export(obj("sb", "super_block"), returns=Arg("inode", "object", "inode", nullable=True),
            creates="inode")
    def new_inode(self, sb: int) -> int:
        """A fresh in-core inode of ``sb`` with one reference (not hashed yet); 0 on ENOMEM."""
        k = self.k
        k.charge(k.cost.kernel_call * 2)
        m = self._mount_of_sb(sb)
        inode = k.heap.kmalloc(INODE.size, "kernel")
        if not inode:
            return 0
        k.mmu.fill(inode, 0, INODE.size)
        k.mmu.st32(inode + INODE.i_sb, sb)
        k.mmu.st32(inode + INODE.i_count, 1)
        k.mmu.st32(inode + INODE.i_nlink, 1)
        m.all_inodes[inode] = None
        return inode

    @export(obj("inode", "inode", "inout"))
    def insert_inode_hash(self, inode: int) -> None:
        """Make the inode findable by ``iget`` under its ``i_ino``."""
        self.k.charge(self.k.cost.kernel_call)
        m = self._mount_of_inode(inode)
        self._check_inode(m, inode)
        m.inodes[self.mmu.ld32(inode + INODE.i_ino)] = inode

    @export(obj("sb", "super_block"), scalar("ino"),
            returns=Arg("inode", "object", "inode", nullable=True), creates="inode")
    def iget(self, sb: int, ino: int) -> int:
        """The in-core inode ``ino`` of ``sb`` with a new reference: from the inode cache, or
        read with ``read_inode`` if the file system has one; 0 if neither."""
        self.k.charge(self.k.cost.kernel_call)
        m = self._mount_of_sb(sb)
        inode = m.inodes.get(ino)
        if inode is not None:
            self.mmu.st32(inode + INODE.i_count, self.mmu.ld32(inode + INODE.i_count) + 1)
            return inode
        if m.fs.s_op is None or m.fs.s_op.read_inode is None:
            return 0
        inode = self.new_inode(sb)
        if not inode:
            return 0
        self.mmu.st32(inode + INODE.i_ino, ino)
        m.fs.s_op.read_inode(inode)
        m.inodes[ino] = inode
        return inode

    @export(Arg("inode", "object", "inode", nullable=True), releases="inode")
    def iput(self, inode: int) -> None:
        """Drop a reference; the last one to an unlinked inode deletes it (``delete_inode``)."""
        self.k.charge(self.k.cost.kernel_call)
        if not inode:
            return
        m = self._mount_of_inode(inode)
        self._check_inode(m, inode)
        count = self.mmu.ld32(inode + INODE.i_count)
        if count == 0:
            raise KernelBug(f"iput: inode {inode:#010x} has no references")
        self.mmu.st32(inode + INODE.i_count, count - 1)
        if count == 1 and self.mmu.ld32(inode + INODE.i_nlink) == 0:
            if m.fs.s_op is not None and m.fs.s_op.delete_inode is not None:
                m.fs.s_op.delete_inode(inode)
            self._destroy_inode(m, inode)

    @export(obj("inode", "inode", "inout"))
    def mark_inode_dirty(self, inode: int) -> None:
        """The inode changed: ``write_inode`` it at the next sync."""
        self.k.charge(self.k.cost.kernel_call)
        m = self._mount_of_inode(inode)
        self._check_inode(m, inode)
        self.mmu.st32(inode + INODE.i_state, self.mmu.ld32(inode + INODE.i_state) | I_DIRTY)
        m.dirty[inode] = None

    @export(obj("dentry", "dentry", "inout"), Arg("inode", "object", "inode", nullable=True))
    def d_instantiate(self, dentry: int, inode: int) -> None:
        """Attach ``inode`` to a negative dentry; the dentry takes over the caller's reference."""
        self.k.charge(self.k.cost.kernel_call)
        self._check_dentry(dentry)
        if self.mmu.ld32(dentry + DENTRY.d_inode):
            raise KernelBug(f"d_instantiate: dentry {dentry:#010x} already has an inode")
        if inode:
            self._check_inode(self._mount_of_inode(inode), inode)
        self.mmu.st32(dentry + DENTRY.d_inode, inode)

    @export(obj("dentry", "dentry", "inout"), Arg("inode", "object", "inode", nullable=True))
    def d_add(self, dentry: int, inode: int) -> None:
        """What ``lookup`` ends with: attach ``inode`` (or NULL: the name does not exist)."""
        self.d_instantiate(dentry, inode)

    @export(obj("inode", "inode"), returns=Arg("dentry", "object", "dentry", nullable=True),
            creates="dentry")
    def d_alloc_root(self, inode: int) -> int:
        """The root dentry of a file system being mounted, holding the caller's reference."""
        k = self.k
        k.charge(k.cost.kernel_call)
        m = self._mount_of_inode(inode)
        self._check_inode(m, inode)
        dentry = self._d_alloc(m, 0, "/")
        if dentry:
            k.mmu.st32(dentry + DENTRY.d_inode, inode)
            k.mmu.st32(dentry + DENTRY.d_parent, dentry)
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
    def _check_inode(self, m: Mount, inode: int) -> None:
        if inode not in m.all_inodes:
            raise BadObject(f"{inode:#010x} is not a live inode")

    def _check_dentry(self, dentry: int) -> None:
        if not any(dentry in m.dentries for m in self.mounts.values()) and not (
                self._mounting is not None and dentry in self._mounting.dentries):
            raise BadObject(f"{dentry:#010x} is not a dentry")

    def _d_alloc(self, m: Mount, parent: int, name: str) -> int:
        k = self.k
        d = k.heap.kmalloc(DENTRY.size, "kernel")
        if not d:
            return 0
        raw = name.encode("latin-1")
        k.mmu.fill(d, 0, DENTRY.size)
        k.mmu.st32(d + DENTRY.d_parent, parent)
        k.mmu.st32(d + DENTRY.d_sb, m.sb)
        k.mmu.st32(d + DENTRY.d_name_len, len(raw))
        k.mmu.write(d + DENTRY.d_name, raw)
        m.dentries[d] = None
        if parent:
            self.dcache[(parent, name)] = d
        return d

    def _free_object(self, type_name: str, addr: int) -> None:
        """kfree a VFS object the kernel frees on its own (umount, close, a failed open...),
        telling the isolation layer first so no domain keeps an association (and a stale
        domain copy) for an address the heap will hand out again (the paper: "the kernel must
        be changed to notify Nooks")."""
        if self.k.isolation is not None:
            self.k.isolation.object_freed(type_name, addr)
        self.k.heap.kfree(addr)

    def _destroy_inode(self, m: Mount, inode: int) -> None:
        ino = self.mmu.ld32(inode + INODE.i_ino)
        if m.inodes.get(ino) == inode:
            del m.inodes[ino]
        m.dirty.pop(inode, None)
        m.all_inodes.pop(inode, None)
        self._free_object("inode", inode)

    def _inode_of(self, dentry: int) -> int:
        return self.mmu.ld32(dentry + DENTRY.d_inode)

    def _is_dir(self, inode: int) -> bool:
        return self.mmu.ld32(inode + INODE.i_mode) & S_IFMT == S_IFDIR

    def _split(self, path: str):
        """(mount, components) for an absolute path under a mount point, or (None, error)."""
        if not isinstance(path, str) or not path.startswith("/"):
            return None, -errno.EINVAL
        best = None
        for mp in self.mounts:
            if path == mp or path.startswith(mp.rstrip("/") + "/"):
                if best is None or len(mp) > len(best):
                    best = mp
        if best is None:
            return None, -errno.ENOENT
        parts = [p for p in path[len(best):].split("/") if p and p != "."]
        for p in parts:
            if len(p.encode("latin-1", "replace")) > NAME_MAX:
                return None, -errno.ENAMETOOLONG
        return self.mounts[best], parts

    def _lookup(self, m: Mount, parent: int, name: str) -> int:
        """The dentry of ``name`` in directory dentry ``parent`` (maybe negative), or -errno."""
        k = self.k
        k.charge(k.cost.kernel_call)
        if name == "..":
            return self.mmu.ld32(parent + DENTRY.d_parent)
        d = self.dcache.get((parent, name))
        if d is not None:
            return d
        dir_inode = self._inode_of(parent)
        if not dir_inode or not self._is_dir(dir_inode):
            return -errno.ENOTDIR
        d = self._d_alloc(m, parent, name)
        if not d:
            return -errno.ENOMEM
        ret = m.fs.i_op.lookup(dir_inode, d) if m.fs.i_op.lookup is not None else -errno.ENOTDIR
        if ret:
            self._d_free(m, d)
            return ret if ret < 0 else -errno.EIO
        return d

    def _d_free(self, m: Mount, d: int) -> None:
        parent = self.mmu.ld32(d + DENTRY.d_parent)
        n = self.mmu.ld32(d + DENTRY.d_name_len)
        name = self.mmu.read(d + DENTRY.d_name, min(n, NAME_MAX)).decode("latin-1")
        if self.dcache.get((parent, name)) == d:
            del self.dcache[(parent, name)]
        m.dentries.pop(d, None)
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
        entry = self.k.current.files.get(fd) if self.k.current else None
        if entry is None or entry[0] != "vfs":
            return None, None
        f = entry[1]
        d = self.mmu.ld32(f + FILE.f_dentry)
        for m in self.mounts.values():
            if d in m.dentries:
                return m, f
        return None, None

    # -- system calls (run inside kernel.syscall) ---------------------------------------------
    def sys_mount(self, fstype: str, dev_name: str, path: str, data: int = 0) -> int:
        k = self.k
        fs = self.fs_types.get(fstype)
        if fs is None:
            return -errno.ENODEV
        dev = self.block.dev_of(dev_name)
        if not dev:
            return -errno.ENXIO
        if not isinstance(path, str) or not path.startswith("/") or path in self.mounts:
            return -errno.EBUSY
        if any(m.dev == dev for m in self.mounts.values()):
            return -errno.EBUSY
        self.block.invalidate_buffers(dev)
        sb = k.heap.kmalloc(SUPER_BLOCK.size, "kernel")
        if not sb:
            return -errno.ENOMEM
        k.mmu.fill(sb, 0, SUPER_BLOCK.size)
        k.mmu.st32(sb + SUPER_BLOCK.s_dev, dev)
        k.mmu.st32(sb + SUPER_BLOCK.s_blocksize, self.block.blocksize.get(dev, 512))
        k.mmu.st32(sb + SUPER_BLOCK.s_maxbytes, 0x7FFFFFFF)
        m = Mount(path, fs, sb, dev)
        self._mounting = m
        try:
            ret = fs.fs_type.read_super(sb, data, 0)
        finally:
            self._mounting = None
        root = k.mmu.ld32(sb + SUPER_BLOCK.s_root)
        if not ret and (root not in m.dentries or not self._inode_of(root)):
            ret = -errno.EINVAL
        if ret:
            self._teardown(m)
            return ret if ret < 0 else -errno.EINVAL
        self.mounts[path] = m
        k.events.add("mount", fs.owner, f"{fs.name} on {path} (dev {dev:#06x})")
        return 0

    def sys_umount(self, path: str) -> int:
        m = self.mounts.get(path)
        if m is None:
            return -errno.EINVAL
        if m.open_files:
            return -errno.EBUSY
        ret = self.sync_super(m)
        # shrink_dcache, invalidate_inodes, put_super, then the device's buffers (kill_super)
        for d in reversed(list(m.dentries)):
            inode = self._inode_of(d)
            if inode and inode in m.all_inodes:
                self.mmu.st32(d + DENTRY.d_inode, 0)
                self.iput(inode)
        s_op = m.fs.s_op
        for inode in list(m.all_inodes):
            if s_op is not None and s_op.clear_inode is not None:
                s_op.clear_inode(inode)
        if s_op is not None and s_op.put_super is not None:
            s_op.put_super(m.sb)
        ret = self.block.fsync_dev(m.dev) or ret
        del self.mounts[path]
        self._teardown(m)
        self.k.events.add("umount", m.fs.owner, f"{m.fs.name} from {path}")
        return ret

    def _teardown(self, m: Mount) -> None:
        """Free the kernel's objects of a mount and forget its device's buffers."""
        for inode in list(m.all_inodes):
            self._destroy_inode(m, inode)
        for d in list(m.dentries):
            self._d_free(m, d)
        self._free_object("super_block", m.sb)
        busy = self.block.invalidate_buffers(m.dev)
        if busy:
            self.k.events.add("warning", m.fs.owner,
                              f"VFS: {len(busy)} busy buffers after umount of {m.path}")

    def sync_super(self, m: Mount) -> int:
        """``fsync_super``: write dirty inodes, the super block, then every dirty buffer."""
        ret = self.write_inodes(m)
        return self.block.fsync_dev(m.dev) or ret

    def write_inodes(self, m: Mount) -> int:
        """``sync_inodes`` + ``sync_supers`` of one mount: hand every dirty inode to the file
        system's ``write_inode`` (which copies it into its on-disk form in a buffer and marks that
        buffer dirty), then a dirty super block to ``write_super``. Writes no buffer itself.
        Like Linux 2.4, a failing call does not stop the others; returns the first error."""
        s_op = m.fs.s_op
        ret = 0
        for inode in list(m.dirty):
            if inode not in m.dirty:
                continue
            del m.dirty[inode]
            self.mmu.st32(inode + INODE.i_state, self.mmu.ld32(inode + INODE.i_state) & ~I_DIRTY)
            if s_op is not None and s_op.write_inode is not None:
                r = s_op.write_inode(inode, 1)
                ret = ret or (r if r and r < 0 else 0)
        if s_op is not None and s_op.write_super is not None \
                and self.mmu.ld32(m.sb + SUPER_BLOCK.s_dirt):
            s_op.write_super(m.sb)
        return ret

    def sys_sync(self) -> int:
        ret = 0
        for path in sorted(self.mounts):
            ret = self.sync_super(self.mounts[path]) or ret
        return ret

    def sys_open(self, path: str, flags: int = O_RDONLY, mode: int = 0o644) -> int:
        k = self.k
        walked = self._walk(path, parent_only=True)
        if walked[0] is None:
            if walked[1] == -errno.EEXIST:           # the mount point itself
                walked = self._walk(path)
                if walked[0] is None:
                    return walked[1]
                m, d = walked
                return self._install_file(m, d, flags)
            return walked[1]
        m, parent, name = walked
        d = self._lookup(m, parent, name)
        if d < 0:
            return d
        inode = self._inode_of(d)
        if not inode:
            if not flags & O_CREAT:
                return -errno.ENOENT
            if m.fs.i_op.create is None:
                return -errno.EPERM
            ret = m.fs.i_op.create(self._inode_of(parent), d, S_IFREG | (mode & 0o777))
            if ret:
                return ret if ret < 0 else -errno.EIO
            inode = self._inode_of(d)
            if not inode:
                return -errno.EIO
        elif flags & O_TRUNC and not self._is_dir(inode) and flags & (O_WRONLY | O_RDWR):
            if self.mmu.ld32(inode + INODE.i_size):
                self.mmu.st32(inode + INODE.i_size, 0)
                if m.fs.i_op.truncate is not None:
                    m.fs.i_op.truncate(inode)
                self.mark_inode_dirty(inode)
        return self._install_file(m, d, flags)

    def _install_file(self, m: Mount, d: int, flags: int) -> int:
        k = self.k
        f = k.heap.kmalloc(FILE.size, "kernel")
        if not f:
            return -errno.ENOMEM
        k.mmu.fill(f, 0, FILE.size)
        k.mmu.st32(f + FILE.f_flags, flags)
        k.mmu.st32(f + FILE.f_count, 1)
        k.mmu.st32(f + FILE.f_dentry, d)
        inode = self._inode_of(d)
        if m.fs.f_op.open is not None:
            ret = m.fs.f_op.open(inode, f)
            if ret:
                self._free_object("file", f)
                return ret if ret < 0 else -errno.EIO
        k.mmu.st32(d + DENTRY.d_count, k.mmu.ld32(d + DENTRY.d_count) + 1)
        m.open_files += 1
        proc = k.current
        fd = 3 + len(proc.files)
        while fd in proc.files:
            fd += 1
        proc.files[fd] = ("vfs", f)
        return fd

    def sys_creat(self, path: str, mode: int = 0o644) -> int:
        return self.sys_open(path, O_CREAT | O_WRONLY | O_TRUNC, mode)

    def sys_close(self, fd: int) -> int:
        m, f = self._get_file(fd)
        if f is None:
            return -errno.EBADF
        del self.k.current.files[fd]
        d = self.mmu.ld32(f + FILE.f_dentry)
        ret = 0
        if m.fs.f_op.release is not None:
            ret = m.fs.f_op.release(self._inode_of(d), f)
        self.mmu.st32(d + DENTRY.d_count, max(0, self.mmu.ld32(d + DENTRY.d_count) - 1))
        m.open_files -= 1
        self._free_object("file", f)
        return ret

    def sys_read(self, fd: int, count: int) -> bytes | int:
        m, f = self._get_file(fd)
        if f is None:
            return -errno.EBADF
        if self.mmu.ld32(f + FILE.f_flags) & 3 == O_WRONLY:
            return -errno.EBADF
        if self._is_dir(self._inode_of(self.mmu.ld32(f + FILE.f_dentry))):
            return -errno.EISDIR
        if m.fs.f_op.read is None:
            return -errno.EINVAL
        proc = self.k.current
        out = []
        left = max(0, int(count))
        while left:
            n = min(left, proc.usize)
            got = m.fs.f_op.read(f, proc.ubuf, n)
            if got < 0 or got > n:
                return got if got < 0 else -errno.EFAULT
            if got == 0:
                break
            out.append(self.mmu.read(proc.ubuf, got))
            left -= got
            if got < n:                       # a short read ends the call, as read(2) does
                break
        return b"".join(out)

    def sys_write(self, fd: int, payload: bytes) -> int:
        m, f = self._get_file(fd)
        if f is None:
            return -errno.EBADF
        flags = self.mmu.ld32(f + FILE.f_flags)
        if flags & 3 == O_RDONLY:
            return -errno.EBADF
        if m.fs.f_op.write is None:
            return -errno.EINVAL
        inode = self._inode_of(self.mmu.ld32(f + FILE.f_dentry))
        if flags & O_APPEND:
            self.mmu.st32(f + FILE.f_pos, self.mmu.ld32(inode + INODE.i_size))
        # Linux 2.4's generic_file_write sets the times and marks the inode dirty before it asks
        # the file system for any block (mark_inode_dirty_sync): a write that fails half-way has
        # still left its inode to write at the next sync, with the first cluster and size the
        # file system reached. A flag and a list entry: no call, no cost of its own.
        self.mmu.st32(inode + INODE.i_state, self.mmu.ld32(inode + INODE.i_state) | I_DIRTY)
        m.dirty[inode] = None
        proc = self.k.current
        done = 0
        while done < len(payload):
            n = min(len(payload) - done, proc.usize)
            self.k.mmu.write(proc.ubuf, payload[done:done + n])
            wrote = m.fs.f_op.write(f, proc.ubuf, n)
            if wrote < 0:
                return wrote if done == 0 else done
            if wrote == 0 or wrote > n:
                return done if wrote == 0 else -errno.EFAULT
            done += wrote
            if wrote < n:                     # a short write ends the call
                break
        return done

    def sys_fsync(self, fd: int) -> int:
        m, f = self._get_file(fd)
        if f is None:
            return -errno.EBADF
        if m.fs.f_op.fsync is not None:
            return m.fs.f_op.fsync(f, 0)
        return self.sync_super(m)

    def sys_mkdir(self, path: str, mode: int = 0o755) -> int:
        walked = self._walk(path, parent_only=True)
        if walked[0] is None:
            return walked[1]
        m, parent, name = walked
        d = self._lookup(m, parent, name)
        if d < 0:
            return d
        if self._inode_of(d):
            return -errno.EEXIST
        if m.fs.i_op.mkdir is None:
            return -errno.EPERM
        ret = m.fs.i_op.mkdir(self._inode_of(parent), d, S_IFDIR | (mode & 0o777))
        if not ret and not self._inode_of(d):
            return -errno.EIO
        return ret

    def _remove(self, path: str, want_dir: bool) -> int:
        walked = self._walk(path, parent_only=True)
        if walked[0] is None:
            return walked[1]
        m, parent, name = walked
        d = self._lookup(m, parent, name)
        if d < 0:
            return d
        inode = self._inode_of(d)
        if not inode:
            return -errno.ENOENT
        if self._is_dir(inode) != want_dir:
            return -errno.ENOTDIR if want_dir else -errno.EISDIR
        if self.mmu.ld32(d + DENTRY.d_count):
            return -errno.EBUSY
        operation = m.fs.i_op.rmdir if want_dir else m.fs.i_op.unlink
        if operation is None:
            return -errno.EPERM
        ret = operation(self._inode_of(parent), d)
        if ret:
            return ret if ret < 0 else -errno.EIO
        # d_delete: the dentry turns negative and gives up its inode
        self.mmu.st32(d + DENTRY.d_inode, 0)
        self.iput(inode)
        if want_dir:
            for (p, n), c in list(self.dcache.items()):
                if p == d:
                    self._d_free(m, c)
        return 0

    def sys_unlink(self, path: str) -> int:
        return self._remove(path, want_dir=False)

    def sys_rmdir(self, path: str) -> int:
        return self._remove(path, want_dir=True)

    def sys_listdir(self, path: str) -> list[str] | int:
        """``getdents`` until the end: the names in a directory (without . and ..), in disk
        order."""
        fd = self.sys_open(path, O_RDONLY)
        if fd < 0:
            return fd
        m, f = self._get_file(fd)
        names: list[str] = []
        ret = 0
        if not self._is_dir(self._inode_of(self.mmu.ld32(f + FILE.f_dentry))):
            ret = -errno.ENOTDIR
        elif m.fs.f_op.readdir is None:
            ret = -errno.ENOTDIR
        else:
            ctx = self._next_ctx
            self._next_ctx += 1
            # a FAT directory holds at most 65,536 entries; a readdir that makes no progress
            # (f_pos unchanged while it still hands back entries) is a broken file system
            for _ in range(65_536 // READDIR_BATCH + 1):
                self._readdir[ctx] = []
                pos = self.mmu.ld32(f + FILE.f_pos)
                r = m.fs.f_op.readdir(f, ctx)
                got = self._readdir.pop(ctx)
                if r < 0:
                    ret = r
                    break
                names.extend(n for n, _, _, _ in got if n not in (".", ".."))
                if not got:
                    break
                if self.mmu.ld32(f + FILE.f_pos) == pos:
                    ret = -errno.EIO
                    break
            else:
                ret = -errno.EIO
        self.sys_close(fd)
        return ret if ret < 0 else names

    def sys_stat(self, path: str) -> Stat | int:
        walked = self._walk(path)
        if walked[0] is None:
            return walked[1]
        m, d = walked
        inode = self._inode_of(d)
        if not inode:
            return -errno.ENOENT
        ld = self.mmu.ld32
        return Stat(ld(inode + INODE.i_ino), ld(inode + INODE.i_mode), ld(inode + INODE.i_size),
                    ld(inode + INODE.i_nlink))

    def sys_statfs(self, path: str) -> dict | int:
        m, parts = self._split(path)
        if m is None:
            return parts
        if m.fs.s_op is None or m.fs.s_op.statfs is None:
            return -errno.ENOSYS
        buf = self.k.heap.kmalloc(STATFS.size, "kernel")
        if not buf:
            return -errno.ENOMEM
        self.mmu.fill(buf, 0, STATFS.size)
        ret = m.fs.s_op.statfs(m.sb, buf)
        out = STATFS.view(self.mmu, buf).as_dict()
        self._free_object("statfs", buf)
        return ret if ret else out

    # -- for recovery (kernel-internal) ----------------------------------------------------------
    def mounts_of(self, owner: str) -> list[Mount]:
        """Mounts whose file system belongs to module ``owner``, by mount path."""
        return [self.mounts[p] for p in sorted(self.mounts) if self.mounts[p].fs.owner == owner]

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
        for m in self.mounts_of(owner):
            for proc in self.k.processes:
                for fd, entry in list(proc.files.items()):
                    if entry[0] == "vfs" and self.mmu.ld32(entry[1] + FILE.f_dentry) in m.dentries:
                        del proc.files[fd]
                        self._free_object("file", entry[1])
            del self.mounts[m.path]
            self.block.release_holds(owner)
            self._teardown(m)
        for name in [n for n, fs in self.fs_types.items() if fs.owner == owner]:
            del self.fs_types[name]
        self.block.release_holds(owner)

    def held_by(self, owner: str) -> list[str]:
        held = [f"filesystem {n}" for n, fs in sorted(self.fs_types.items()) if fs.owner == owner]
        held += [f"mount {m.path} ({m.fs.name})" for m in self.mounts_of(owner)]
        return held


class BadObject(Exception):
    """A pointer passed as a VFS object (inode, dentry, super_block) is not one."""
