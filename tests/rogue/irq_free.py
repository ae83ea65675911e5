"""Rogue driver: frees the block its interrupt handler is registered with. ``ioctl(CMD_FREE)``
kfrees the private struct that is ``request_irq``'s ``dev_id``, then starts the device, whose
interrupt hands the freed pointer to the handler."""
from nookslab.kernel.api import (free_irq, iounmap, ioremap, kfree, kmalloc, ld32, memset,
                                 pci_enable_device, pci_find_device, readl, register_chrdev,
                                 request_irq, st32, unregister_chrdev, writel)
from nookslab.kernel.chrdev import FileOperations
from nookslab.kernel.errno import EBUSY, EINVAL, ENODEV, ENOMEM
from nookslab.kernel.pci import PCI_DEV
from nookslab.machine.devices.nulldev import CTRL_GO, REG_CTRL, REG_LEN, REG_STATUS

MAJOR = 241
CMD_WORK = 1
CMD_FREE = 2
VENDOR, DEVICE = 0x1AF4, 0x0001
PRIV = {"regs": 0, "irq": 4, "count": 8, "size": 12}

priv = 0
regs_static = 0


def irqfree_interrupt(irq, dev_id):
    regs = ld32(dev_id + PRIV["regs"])         # freed: poison, a wild pointer
    writel(readl(regs + REG_STATUS), regs + REG_STATUS)


def irqfree_ioctl(inode, file, cmd, arg):
    global priv
    p = priv
    if cmd == CMD_WORK:
        n = ld32(p + PRIV["count"]) + 1
        st32(p + PRIV["count"], n)
        return n
    if cmd == CMD_FREE:
        kfree(p)                              # the bug: the IRQ is still registered with it
        priv = 0
        writel(4, regs_static + REG_LEN)
        writel(CTRL_GO, regs_static + REG_CTRL)
        return 1
    return -EINVAL


FOPS = FileOperations(ioctl=irqfree_ioctl)


def init_module():
    global priv, regs_static
    pdev = pci_find_device(VENDOR, DEVICE, 0)
    if not pdev or pci_enable_device(pdev):
        return -ENODEV
    p = kmalloc(PRIV["size"], 0)
    if not p:
        return -ENOMEM
    memset(p, 0, PRIV["size"])
    regs = ioremap(ld32(pdev + PCI_DEV.resource_start), ld32(pdev + PCI_DEV.resource_len))
    st32(p + PRIV["regs"], regs)
    irq = ld32(pdev + PCI_DEV.irq)
    st32(p + PRIV["irq"], irq)
    if request_irq(irq, irqfree_interrupt, 0, "irq_free", p):
        iounmap(regs)
        kfree(p)
        return -EBUSY
    if register_chrdev(MAJOR, "rogue0", FOPS):
        free_irq(irq, p)
        iounmap(regs)
        kfree(p)
        return -EBUSY
    priv, regs_static = p, regs
    return 0


def cleanup_module():
    global priv
    unregister_chrdev(MAJOR, "rogue0")
    if priv:
        free_irq(ld32(priv + PRIV["irq"]), priv)
        iounmap(ld32(priv + PRIV["regs"]))
        kfree(priv)
    priv = 0
