"""The file system calls on paths and open files: open, read, write, close, mkdir, unlink...

The half of :class:`~nookslab.kernel.vfs.VfsSubsystem` a process reaches through ``open(2)``
and its friends, as Linux 2.4's ``fs/open.c``, ``fs/read_write.c``, ``fs/namei.c`` and
``fs/readdir.c``: each resolves its path through the mount list and the dentry cache (see
:mod:`.vfs`), then calls the file system's ``inode_operations`` or ``file_operations``. A file is a
``struct file`` in simulated memory; its mount is found through ``f_dentry->d_sb``.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import errno
from .chrdev import FILE, INODE
from .dcache import DENTRY
from .structs import Layout

STATFS = Layout("statfs", [
    ("f_type", "u32"), ("f_bsize", "u32"), ("f_blocks", "u32"), ("f_bfree", "u32"),
    ("f_files", "u32"), ("f_namelen", "u32"),
])

S_IFMT = 0o170000
S_IFDIR = 0o040000
S_IFREG = 0o100000
DT_DIR = 4
DT_REG = 8
O_RDONLY, O_WRONLY, O_RDWR = 0, 1, 2
O_CREAT = 0o100
O_TRUNC = 0o1000
O_APPEND = 0o2000
READDIR_BATCH = 64               # entries one readdir call may hand back


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


class FileSyscalls:
    """The system calls on paths and files (mixed into the VFS subsystem)."""

    def sys_open(self, path: str, flags: int = O_RDONLY, mode: int = 0o644) -> int:
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

    def _install_file(self, m, d: int, flags: int) -> int:
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
        self._mnt_get(m.sb, 1)
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
        self._mnt_get(m.sb, -1)
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
        self.icache.mark_dirty(inode)
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
            for child in self.dcache.children(d):
                self._d_free(child)
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
        s_op = self._s_op(m.sb)
        if s_op is None or s_op.statfs is None:
            return -errno.ENOSYS
        buf = self.k.heap.kmalloc(STATFS.size, "kernel")
        if not buf:
            return -errno.ENOMEM
        self.mmu.fill(buf, 0, STATFS.size)
        ret = s_op.statfs(m.sb, buf)
        out = STATFS.view(self.mmu, buf).as_dict()
        self._free_object("statfs", buf)
        return ret if ret else out
