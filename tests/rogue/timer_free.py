"""Rogue driver: frees a block that holds its pending timer. ``ioctl(CMD_FREE)`` kfrees the
private struct without ``del_timer`` first; Linux then walks its timer list into freed memory
at the next timer interrupt."""
from nookslab.kernel.api import (del_timer, jiffies, kfree, kmalloc, ld32, memset, mod_timer,
                                 register_chrdev, setup_timer, st32, unregister_chrdev)
from nookslab.kernel.chrdev import FileOperations
from nookslab.kernel.errno import EBUSY, EINVAL, ENOMEM
from nookslab.kernel.structs import Layout
from nookslab.kernel.timer import TIMER_LIST

MAJOR = 241
CMD_WORK = 1
CMD_FREE = 2
PERIOD = 5                                   # jiffies
PRIV = Layout("timer_free_priv", [("timer", TIMER_LIST.size), ("ticks", "u32"),
                                  ("count", "u32")])

priv = 0


def tf_tick(data):
    p = data
    st32(p + PRIV.ticks, ld32(p + PRIV.ticks) + 1)
    mod_timer(p + PRIV.timer, jiffies() + PERIOD)


def tf_ioctl(inode, file, cmd, arg):
    global priv
    p = priv
    if cmd == CMD_WORK:
        n = ld32(p + PRIV.count) + 1
        st32(p + PRIV.count, n)
        return n
    if cmd == CMD_FREE:
        kfree(p)                             # the bug: its timer is still pending
        priv = 0
        return 1
    return -EINVAL


FOPS = FileOperations(ioctl=tf_ioctl)


def init_module():
    global priv
    p = kmalloc(PRIV.size, 0)
    if not p:
        return -ENOMEM
    memset(p, 0, PRIV.size)
    setup_timer(p + PRIV.timer, tf_tick, p)
    mod_timer(p + PRIV.timer, jiffies() + PERIOD)
    if register_chrdev(MAJOR, "rogue0", FOPS):
        del_timer(p + PRIV.timer)
        kfree(p)
        return -EBUSY
    priv = p
    return 0


def cleanup_module():
    global priv
    unregister_chrdev(MAJOR, "rogue0")
    if priv:
        del_timer(priv + PRIV.timer)
        kfree(priv)
    priv = 0
