"""Rogue driver: starts a kernel thread, then faults. ``ioctl(CMD_FAULT)`` stores through a
NULL pointer (a wild write to page 0), with its kernel thread still alive."""
from nookslab.kernel.api import (kernel_thread, kfree, kmalloc, kthread_stop, ld32, memset,
                                 register_chrdev, st32, unregister_chrdev)
from nookslab.kernel.chrdev import FileOperations
from nookslab.kernel.errno import EBUSY, EINVAL, ENOMEM
from nookslab.kernel.structs import Layout

MAJOR = 241
CMD_WORK = 1
CMD_FAULT = 3
PRIV = Layout("kthread_fault_priv", [("tid", "u32"), ("passes", "u32"), ("count", "u32"),
                                     ("bad", "ptr")])

priv = 0


def rogued(data):
    """One pass of the thread's loop: count it, then sleep until woken (returns 0)."""
    p = data
    st32(p + PRIV.passes, ld32(p + PRIV.passes) + 1)
    return 0


def kt_ioctl(inode, file, cmd, arg):
    p = priv
    if cmd == CMD_WORK:
        n = ld32(p + PRIV.count) + 1
        st32(p + PRIV.count, n)
        return n
    if cmd == CMD_FAULT:
        st32(ld32(p + PRIV.bad) + 8, 1)      # the bug: p->bad is NULL
        return 0
    return -EINVAL


FOPS = FileOperations(ioctl=kt_ioctl)


def init_module():
    global priv
    p = kmalloc(PRIV.size, 0)
    if not p:
        return -ENOMEM
    memset(p, 0, PRIV.size)
    tid = kernel_thread(rogued, p, "rogued")
    if tid <= 0:
        kfree(p)
        return -ENOMEM
    st32(p + PRIV.tid, tid)
    if register_chrdev(MAJOR, "rogue0", FOPS):
        kthread_stop(tid)
        kfree(p)
        return -EBUSY
    priv = p
    return 0


def cleanup_module():
    global priv
    unregister_chrdev(MAJOR, "rogue0")
    kthread_stop(ld32(priv + PRIV.tid))
    kfree(priv)
    priv = 0
