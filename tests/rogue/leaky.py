"""Rogue driver: leaks. Each ioctl allocates a 1 KiB buffer it never frees, and cleanup_module
frees only the private struct (a MEM_LEAK bug, the kind the paper's injector planted)."""
from nookslab.kernel.api import (kfree, kmalloc, ld32, memset, register_chrdev, st32,
                                 unregister_chrdev)
from nookslab.kernel.chrdev import FileOperations
from nookslab.kernel.errno import EBUSY, EINVAL, ENOMEM
from nookslab.kernel.structs import Layout

MAJOR = 241
CMD_WORK = 1
LEAK = 1024
PRIV = Layout("leaky_priv", [("count", "u32"), ("last", "ptr")])

priv = 0


def leaky_ioctl(inode, file, cmd, arg):
    p = priv
    if cmd != CMD_WORK:
        return -EINVAL
    buf = kmalloc(LEAK, 0)               # the bug: nobody frees it
    if not buf:
        return -ENOMEM
    memset(buf, 0x5A, LEAK)
    st32(p + PRIV.last, buf)
    n = ld32(p + PRIV.count) + 1
    st32(p + PRIV.count, n)
    return n


FOPS = FileOperations(ioctl=leaky_ioctl)


def init_module():
    global priv
    p = kmalloc(PRIV.size, 0)
    if not p:
        return -ENOMEM
    memset(p, 0, PRIV.size)
    if register_chrdev(MAJOR, "rogue0", FOPS):
        kfree(p)
        return -EBUSY
    priv = p
    return 0


def cleanup_module():
    global priv
    unregister_chrdev(MAJOR, "rogue0")
    kfree(priv)
    priv = 0
