import pytest

import nookslab as nl
from nookslab.kernel.vfs import O_CREAT, O_RDONLY, O_TRUNC, O_WRONLY
from nookslab.tools import mkfs_vfat


class Shell:
    """A user process on a booted kernel with VFAT mounted on /mnt (a fresh mkfs)."""

    def __init__(self, seed=1, mount=True, mode="native"):
        self.k = nl.boot(mode=mode, seed=seed)
        self.module = self.k.load("vfat")
        self.vfs = self.k.subsystems["vfs"]
        self.block = self.k.subsystems["block"]
        self.disk = self.block.disk()
        self.proc = self.k.spawn("sh")
        mkfs_vfat(self.disk.image())
        if mount:
            assert self.call(self.vfs.sys_mount, "vfat", "/dev/hda", "/mnt") == 0

    def call(self, fn, *args):
        return self.k.syscall(self.proc, fn, *args)

    def write(self, path, data, flags=O_CREAT | O_WRONLY | O_TRUNC):
        fd = self.call(self.vfs.sys_open, path, flags, 0o644)
        assert fd >= 0, fd
        n = self.call(self.vfs.sys_write, fd, data)
        assert self.call(self.vfs.sys_close, fd) == 0
        return n

    def read(self, path):
        fd = self.call(self.vfs.sys_open, path, O_RDONLY, 0)
        if fd < 0:
            return fd
        data = self.call(self.vfs.sys_read, fd, 1 << 20)
        assert self.call(self.vfs.sys_close, fd) == 0
        return data

    def ls(self, path="/mnt"):
        return self.call(self.vfs.sys_listdir, path)

    def umount(self):
        return self.call(self.vfs.sys_umount, "/mnt")

    def mount(self):
        return self.call(self.vfs.sys_mount, "vfat", "/dev/hda", "/mnt")

    def free_clusters(self):
        return self.call(self.vfs.sys_statfs, "/mnt")["f_bfree"]


@pytest.fixture
def sh():
    return Shell()


def populated_image():
    """A disk image with a few files and a directory, written by the real driver."""
    s = Shell(seed=5)
    assert s.call(s.vfs.sys_mkdir, "/mnt/src", 0o755) == 0
    s.write("/mnt/src/first long file name.c", bytes(range(256)) * 20)       # 5120 bytes
    s.write("/mnt/src/second_file_with_a_long_name.c", b"x" * 3000)
    s.write("/mnt/README", b"hello\n")
    assert s.umount() == 0
    return bytearray(s.disk.image())
