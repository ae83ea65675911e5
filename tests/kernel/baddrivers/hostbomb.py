"""A test-only driver whose ioctls try to take the *host* down, each with one classic mistake.

Shaped like tests/nooks/drivers/wild.py: init kmallocs a private struct (a name length, a status
word that never says "ready", a recursion depth) and registers ``/dev/hostbomb0``. Each ioctl is a
bug whose C original the simulated machine bounds, but whose Python form, unchecked, would ask
the host for gigabytes or never return: a buffer sized by a corrupted length, an endless poll
written as a generator expression, a recursion without a base case.
"""
from nookslab.kernel.api import (alloca, kfree, kmalloc, ld32, memset, register_chrdev, st32,
                                 stbytes, unregister_chrdev)
from nookslab.kernel.chrdev import FileOperations
from nookslab.kernel.errno import EINVAL, ENOMEM
from nookslab.kernel.structs import Layout

HOSTBOMB_MAJOR = 242
READY = 0x1
(CMD_OK, CMD_LJUST, CMD_REPEAT, CMD_BYTES, CMD_LIST, CMD_GENPOLL, CMD_LISTPOLL, CMD_COMPPOLL,
 CMD_RECURSE, CMD_ALLOCA, CMD_SUMPOLL) = range(1, 12)

PRIV = Layout("hostbomb_priv", [("name_len", "u32"), ("status", "u32"), ("depth", "u32")])
NAME = "hostbomb"

priv = 0


def padded_name(p):
    """The driver's name padded to the length in its private struct (VFAT's slot padding)."""
    return NAME.ljust(ld32(p + PRIV.name_len))


def status_ready(p):
    return ld32(p + PRIV.status) & READY


def deeper(p, n):
    st32(p + PRIV.depth, n)
    return deeper(p, n + 1)                        # the base case was forgotten


def hostbomb_ioctl(inode, file, cmd, arg):
    p = priv
    n = ld32(p + PRIV.name_len)
    if cmd == CMD_OK:
        return len(padded_name(p))
    if cmd == CMD_LJUST:
        return len(padded_name(p))
    if cmd == CMD_REPEAT:
        return len(b"\0" * n)
    if cmd == CMD_BYTES:
        return len(bytes(n))
    if cmd == CMD_LIST:
        return len([0] * n)
    if cmd == CMD_GENPOLL:                         # wait for "ready", forever
        return int(any(status_ready(p) for _ in iter(int, 1)))
    if cmd == CMD_LISTPOLL:
        return len(list(iter(int, 1)))
    if cmd == CMD_COMPPOLL:
        return len([status_ready(p) for _ in iter(int, 1)])
    if cmd == CMD_SUMPOLL:
        return sum(range(1 << 62))
    if cmd == CMD_RECURSE:
        return deeper(p, 0)
    if cmd == CMD_ALLOCA:                          # a local array sized by the corrupted length
        buf = alloca(n)
        stbytes(buf, b"hostbomb")
        return 0
    return -EINVAL


HOSTBOMB_FOPS = FileOperations(ioctl=hostbomb_ioctl)


def init_module():
    global priv
    p = kmalloc(PRIV.size, 0)
    if not p:
        return -ENOMEM
    memset(p, 0, PRIV.size)
    st32(p + PRIV.name_len, 26)
    err = register_chrdev(HOSTBOMB_MAJOR, "hostbomb0", HOSTBOMB_FOPS)
    if err:
        kfree(p)
        return err
    priv = p
    return 0


def cleanup_module():
    global priv
    unregister_chrdev(HOSTBOMB_MAJOR, "hostbomb0")
    kfree(priv)
    priv = 0
