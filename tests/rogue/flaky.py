"""Rogue driver: fails every few simulated seconds. It takes the null device's resources (I/O
mapping, DMA buffer, interrupt line) like a real PCI driver, and its watchdog timer, every
``PERIOD`` jiffies, stores through a NULL pointer in interrupt context (timer callback)."""
from nookslab.kernel.api import (del_timer, free_irq, iounmap, ioremap, jiffies, kfree, kmalloc,
                                 ld32, memset, mod_timer, pci_alloc_consistent, pci_enable_device,
                                 pci_find_device, pci_free_consistent, readl, register_chrdev,
                                 request_irq, setup_timer, st32, unregister_chrdev, writel)
from nookslab.kernel.chrdev import FileOperations
from nookslab.kernel.errno import EBUSY, EINVAL, ENODEV, ENOMEM
from nookslab.kernel.pci import PCI_DEV
from nookslab.kernel.structs import Layout
from nookslab.kernel.timer import TIMER_LIST
from nookslab.machine.devices.nulldev import REG_STATUS

MAJOR = 241
CMD_WORK = 1
VENDOR, DEVICE = 0x1AF4, 0x0001
BUF_SIZE = 16 * 1024
PERIOD = 200                       # jiffies: two simulated seconds
PRIV = Layout("flaky_priv", [("pdev", "ptr"), ("regs", "ptr"), ("dma", "ptr"), ("irq", "u32"),
                             ("timer", TIMER_LIST.size), ("count", "u32"), ("bad", "ptr")])

priv = 0


def flaky_interrupt(irq, dev_id):
    regs = ld32(dev_id + PRIV.regs)
    writel(readl(regs + REG_STATUS), regs + REG_STATUS)


def flaky_watchdog(data):
    st32(ld32(data + PRIV.bad) + 4, 1)        # the bug: p->bad is NULL
    mod_timer(data + PRIV.timer, jiffies() + PERIOD)


def flaky_ioctl(inode, file, cmd, arg):
    if cmd != CMD_WORK:
        return -EINVAL
    n = ld32(priv + PRIV.count) + 1
    st32(priv + PRIV.count, n)
    return n


FOPS = FileOperations(ioctl=flaky_ioctl)


def init_module():
    global priv
    pdev = pci_find_device(VENDOR, DEVICE, 0)
    if not pdev or pci_enable_device(pdev):
        return -ENODEV
    p = kmalloc(PRIV.size, 0)
    if not p:
        return -ENOMEM
    memset(p, 0, PRIV.size)
    st32(p + PRIV.pdev, pdev)
    regs = ioremap(ld32(pdev + PCI_DEV.resource_start), ld32(pdev + PCI_DEV.resource_len))
    dma = pci_alloc_consistent(pdev, BUF_SIZE)
    if not regs or not dma:
        if dma:
            pci_free_consistent(pdev, BUF_SIZE, dma)
        if regs:
            iounmap(regs)
        kfree(p)
        return -ENOMEM
    st32(p + PRIV.regs, regs)
    st32(p + PRIV.dma, dma)
    irq = ld32(pdev + PCI_DEV.irq)
    st32(p + PRIV.irq, irq)
    if request_irq(irq, flaky_interrupt, 0, "flaky", p):
        pci_free_consistent(pdev, BUF_SIZE, dma)
        iounmap(regs)
        kfree(p)
        return -EBUSY
    setup_timer(p + PRIV.timer, flaky_watchdog, p)
    mod_timer(p + PRIV.timer, jiffies() + PERIOD)
    if register_chrdev(MAJOR, "rogue0", FOPS):
        del_timer(p + PRIV.timer)
        free_irq(irq, p)
        pci_free_consistent(pdev, BUF_SIZE, dma)
        iounmap(regs)
        kfree(p)
        return -EBUSY
    priv = p
    return 0


def cleanup_module():
    global priv
    p = priv
    unregister_chrdev(MAJOR, "rogue0")
    del_timer(p + PRIV.timer)
    free_irq(ld32(p + PRIV.irq), p)
    pci_free_consistent(ld32(p + PRIV.pdev), BUF_SIZE, ld32(p + PRIV.dma))
    iounmap(ld32(p + PRIV.regs))
    kfree(p)
    priv = 0
