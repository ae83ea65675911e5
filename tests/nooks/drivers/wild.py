"""A test-only driver whose ioctl commits one classic driver bug on request.

Shaped like nookslab/drivers/null.py without a device: init kmallocs a private struct, takes a
DMA buffer, installs an interrupt handler on a free line, sets up a timer and registers
``/dev/wild0``; cleanup returns all of it. ``ioctl(fd, cmd, arg)`` then misbehaves as asked.
"""
from nookslab.kernel.api import (copy_from_user, del_timer, free_irq, jiffies, kfree, kmalloc,
                                 ld32, local_irq_disable, memset, mod_timer, pci_alloc_consistent,
                                 pci_free_consistent, register_chrdev, request_irq, setup_timer,
                                 st32, unregister_chrdev)
from nookslab.kernel.chrdev import FileOperations
from nookslab.kernel.errno import EBUSY, EINVAL, ENOMEM
from nookslab.kernel.structs import Layout
from nookslab.kernel.timer import TIMER_LIST

WILD_MAJOR = 241
WILD_IRQ = 5
DMA_SIZE = 4096
CMD_OK, CMD_STORE, CMD_SPIN, CMD_SPIN_CLI, CMD_BAD_KFREE, CMD_PAST_END, CMD_DOUBLE_FREE, \
    CMD_RAISE, CMD_NULL_OBJECT = range(1, 10)

WILD_PRIV = Layout("wild_priv", [("dma", "ptr"), ("calls", "u32"), ("irqs", "u32"),
                                 ("timer", TIMER_LIST.size)])

priv = 0


def wild_interrupt(irq, dev_id):
    st32(dev_id + WILD_PRIV.irqs, ld32(dev_id + WILD_PRIV.irqs) + 1)


def wild_timer(data):
    st32(data + WILD_PRIV.calls, ld32(data + WILD_PRIV.calls))


def wild_ioctl(inode, file, cmd, arg):
    p = priv
    if cmd == CMD_OK:
        st32(p + WILD_PRIV.calls, ld32(p + WILD_PRIV.calls) + 1)
        return ld32(p + WILD_PRIV.calls)
    if cmd == CMD_STORE:
        st32(arg, 0xDEADBEEF)                       # a wild write into kernel memory
        return 0
    if cmd == CMD_SPIN:
        while True:                                 # livelock with interrupts on
            pass
    if cmd == CMD_SPIN_CLI:
        local_irq_disable()
        while True:                                 # a dead system: nothing can interrupt
            pass
    if cmd == CMD_BAD_KFREE:
        kfree(arg)                                  # a pointer kmalloc never returned
        return 0
    if cmd == CMD_PAST_END:
        dma = ld32(p + WILD_PRIV.dma)
        return copy_from_user(dma + DMA_SIZE - 16, arg, 64)   # runs past the DMA buffer
    if cmd == CMD_DOUBLE_FREE:
        q = kmalloc(64, 0)
        kfree(q)
        kfree(q)
        return 0
    if cmd == CMD_RAISE:
        return 100 // (cmd - CMD_RAISE)
    if cmd == CMD_NULL_OBJECT:
        mod_timer(0, jiffies() + 1)                 # a removed NULL check
        return 0
    return -EINVAL


WILD_FOPS = FileOperations(ioctl=wild_ioctl)


def init_module():
    global priv
    p = kmalloc(WILD_PRIV.size, 0)
    if not p:
        return -ENOMEM
    memset(p, 0, WILD_PRIV.size)
    dma = pci_alloc_consistent(0, DMA_SIZE)
    if not dma:
        kfree(p)
        return -ENOMEM
    st32(p + WILD_PRIV.dma, dma)
    err = request_irq(WILD_IRQ, wild_interrupt, 0, "wild", p)
    if err:
        pci_free_consistent(0, DMA_SIZE, dma)
        kfree(p)
        return err
    setup_timer(p + WILD_PRIV.timer, wild_timer, p)
    mod_timer(p + WILD_PRIV.timer, jiffies() + 1000)
    if register_chrdev(WILD_MAJOR, "wild0", WILD_FOPS):
        del_timer(p + WILD_PRIV.timer)
        free_irq(WILD_IRQ, p)
        pci_free_consistent(0, DMA_SIZE, dma)
        kfree(p)
        return -EBUSY
    priv = p
    return 0


def cleanup_module():
    global priv
    p = priv
    unregister_chrdev(WILD_MAJOR, "wild0")
    del_timer(p + WILD_PRIV.timer)
    free_irq(WILD_IRQ, p)
    pci_free_consistent(0, DMA_SIZE, ld32(p + WILD_PRIV.dma))
    kfree(p)
    priv = 0
