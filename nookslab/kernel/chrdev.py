"""Character devices: ``register_chrdev`` and the ``file_operations`` ops table.

A process opens ``/dev/NAME``; the kernel allocates a ``struct file`` in simulated memory and calls
the driver's ``file_operations`` members through it, as Linux 2.4's ``chrdev_open`` does.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import errno
from .structs import Layout
from .symbols import buf, data, export, obj, op, ops, ops_table, scalar

# The VFS (kernel/vfs.py) uses the same two structs for files on disk: the fields after
# f_rdev / i_private, and the inode's two leading rings, were added for it (Linux 2.4 keeps one
# struct file and one struct inode; the rings are the inode cache's, kernel/dcache.py).
FILE = Layout("file", [("f_flags", "u32"), ("f_pos", "u32"), ("f_count", "u32"),
                       ("private_data", "ptr"), ("f_rdev", "u32"), ("f_dentry", "ptr")])
INODE = Layout("inode", [("i_hash", "ptr"), ("i_hash_prev", "ptr"),   # list_head i_hash
                         ("i_list", "ptr"), ("i_list_prev", "ptr"),   # list_head i_list
                         ("i_ino", "u32"), ("i_rdev", "u32"), ("i_size", "u32"),
                         ("i_mode", "u32"), ("i_nlink", "u32"), ("i_private", "ptr"),
                         ("i_sb", "ptr"), ("i_count", "u32"), ("i_state", "u32"),
                         ("i_blocks", "u32"), ("i_mtime", "u32"), ("u", 32)])


@ops_table("file_operations")
@dataclass(frozen=True)
class FileOperations:
    """``struct file_operations``: a driver's entry points for an open file (None = NULL)."""

    open: Callable | None = op(obj("inode", "inode"), obj("file", "file", "inout"),
                               returns=scalar("ret"))
    release: Callable | None = op(obj("inode", "inode"), obj("file", "file", "inout"),
                                  returns=scalar("ret"))
    read: Callable | None = op(obj("file", "file", "inout"), scalar("buf"), scalar("count"),
                               returns=scalar("ret"))
    write: Callable | None = op(obj("file", "file", "inout"), scalar("buf"), scalar("count"),
                                returns=scalar("ret"))
    ioctl: Callable | None = op(obj("inode", "inode"), obj("file", "file", "inout"),
                                scalar("cmd"), scalar("arg"), returns=scalar("ret"))
    # for files and directories of a file system (kernel/vfs.py); NULL for character devices
    readdir: Callable | None = op(obj("file", "file", "inout"), scalar("ctx"),
                                  returns=scalar("ret"))
    fsync: Callable | None = op(obj("file", "file", "inout"), scalar("datasync"),
                                returns=scalar("ret"))


@dataclass
class CharDevice:
    major: int
    name: str
    fops: FileOperations
    owner: str
    inode: int


class CharDevSubsystem:
    """The character-device table and the system calls on character devices."""

    def __init__(self, kernel):
        self.k = kernel
        self.devices: dict[int, CharDevice] = {}

    @export(scalar("major"), data("name"), ops("fops", "file_operations"), returns=scalar("ret"),
            owned=True)
    def register_chrdev(self, major: int, name: str, fops: FileOperations,
                        owner: str = "kernel") -> int:
        """Register ``fops`` as character device ``major``; 0 or ``-EBUSY``."""
        if not 0 < major < 256:
            return -errno.EINVAL
        if major in self.devices:
            return -errno.EBUSY
        inode = self.k.heap.kmalloc(INODE.size, "kernel")
        self.k.mmu.st32(inode + INODE.i_rdev, major << 8)
        self.devices[major] = CharDevice(major, str(name), fops, owner, inode)
        self.k.events.add("register", owner, f"chrdev {major} /dev/{name}")
        return 0

    @export(scalar("major"), data("name"), returns=scalar("ret"))
    def unregister_chrdev(self, major: int, name: str) -> int:
        """Remove character device ``major``; 0 or ``-EINVAL``."""
        dev = self.devices.get(major)
        if dev is None or dev.name != name:
            return -errno.EINVAL
        del self.devices[major]
        self.k.heap.kfree(dev.inode)
        return 0

    def replace_fops(self, major: int, fops: FileOperations) -> None:
        """Used by Nooks when it substitutes a table of wrappers."""
        dev = self.devices[major]
        self.devices[major] = CharDevice(dev.major, dev.name, fops, dev.owner, dev.inode)

    # -- system calls (run inside kernel.syscall) -----------------------------------------
    def sys_open(self, path: str) -> int:
        name = path.removeprefix("/dev/")
        dev = next((d for d in self.devices.values() if d.name == name), None)
        if dev is None:
            return -errno.ENODEV
        k = self.k
        f = k.heap.kmalloc(FILE.size, "kernel")
        if not f:
            return -errno.ENOMEM
        k.mmu.st32(f + FILE.f_count, 1)
        k.mmu.st32(f + FILE.f_rdev, dev.major << 8)
        k.mmu.st32(f + FILE.private_data, 0)
        if dev.fops.open is not None:
            ret = dev.fops.open(dev.inode, f)
            if ret:
                k.heap.kfree(f)
                return ret
        proc = k.current
        fd = 3 + len(proc.files)
        while fd in proc.files:
            fd += 1
        proc.files[fd] = (dev.major, f)
        self.k.file_closers.setdefault(dev.major, self.sys_close)     # for do_exit
        return fd

    def _file(self, fd: int):
        entry = self.k.current.files.get(fd)
        if entry is None:
            return None, None
        major, f = entry
        return self.devices.get(major), f

    def sys_write(self, fd: int, payload: bytes) -> int:
        dev, f = self._file(fd)
        if dev is None:
            return -errno.EBADF
        if dev.fops.write is None:
            return -errno.EINVAL
        proc = self.k.current
        n = min(len(payload), proc.usize)
        self.k.mmu.write(proc.ubuf, payload[:n])
        return dev.fops.write(f, proc.ubuf, n)

    def sys_read(self, fd: int, count: int) -> bytes | int:
        dev, f = self._file(fd)
        if dev is None:
            return -errno.EBADF
        if dev.fops.read is None:
            return -errno.EINVAL
        proc = self.k.current
        count = min(count, proc.usize)
        got = dev.fops.read(f, proc.ubuf, count)
        if got < 0 or got > count:
            return got if got < 0 else -errno.EFAULT
        return self.k.mmu.read(proc.ubuf, got)

    def sys_ioctl(self, fd: int, cmd: int, arg: int) -> int:
        dev, f = self._file(fd)
        if dev is None:
            return -errno.EBADF
        if dev.fops.ioctl is None:
            return -errno.ENOTTY
        return dev.fops.ioctl(dev.inode, f, cmd, arg)

    def sys_close(self, fd: int) -> int:
        dev, f = self._file(fd)
        if f is None:
            return -errno.EBADF
        del self.k.current.files[fd]
        ret = 0
        if dev is not None and dev.fops.release is not None:
            ret = dev.fops.release(dev.inode, f)
        self.k.heap.kfree(f)
        return ret

    def held_by(self, owner: str) -> list[str]:
        return [f"chrdev {d.major} ({d.name})" for d in self.devices.values() if d.owner == owner]
