"""The null-device driver: the foundation's example extension (not one of the paper's eight).

It is shaped like a small Linux 2.4 PCI character driver: ``init_module`` finds and enables the
device, ``ioremap``s its registers, allocates its private struct with ``kmalloc`` and a DMA buffer,
installs an interrupt handler and a heartbeat timer, and registers ``/dev/null0``. A ``write``
copies the user's bytes into the DMA buffer, starts the device and sleeps until the interrupt
handler wakes it; ``read`` returns the CRC-32 the device computed. A spinlock taken with
interrupts off protects the private struct, as Linux drivers protect state shared with their
interrupt handler.
"""
from nookslab.kernel.api import (copy_from_user, copy_to_user, del_timer, free_irq, init_waitqueue_head,
                                 iounmap, ioremap, jiffies, kfree, kmalloc, ld32, memset,
                                 mod_timer, pci_alloc_consistent, pci_enable_device,
                                 pci_find_device, pci_free_consistent, readl, register_chrdev,
                                 request_irq, setup_timer, sleep_on_timeout, spin_lock_init,
                                 spin_lock_irqsave, spin_unlock_irqrestore, st32, stbytes,
                                 unregister_chrdev, wake_up, writel)
from nookslab.kernel.chrdev import FileOperations
from nookslab.kernel.errno import EBUSY, EINVAL, EIO, ENODEV, ENOMEM, EFAULT
from nookslab.kernel.pci import PCI_DEV
from nookslab.kernel.structs import Layout
from nookslab.kernel.sync import SPINLOCK, WAIT_QUEUE_HEAD
from nookslab.kernel.timer import TIMER_LIST
from nookslab.machine.devices.nulldev import (CTRL_GO, MAX_LEN, REG_CTRL, REG_DMA_ADDR, REG_LEN,
                                              REG_RESULT, REG_STATUS, STATUS_DONE, STATUS_ERROR)

NULL_MAJOR = 240
VENDOR, DEVICE = 0x1AF4, 0x0001
BUF_SIZE = 16 * 1024
IOCTL_TICKS = 1
IOCTL_TRANSFERS = 2

NULL_PRIV = Layout("null_priv", [
    ("pdev", "ptr"), ("regs", "ptr"), ("irq", "u32"), ("dma_buf", "ptr"),
    ("lock", SPINLOCK.size), ("wq", WAIT_QUEUE_HEAD.size), ("timer", TIMER_LIST.size),
    ("ticks", "u32"), ("transfers", "u32"), ("result", "u32"), ("done", "u32"),
    ("status", "u32"), ("users", "u32"),
])

priv = 0          # the driver's one static pointer (its .bss)


def null_interrupt(irq, dev_id):
    p = dev_id
    flags = spin_lock_irqsave(p + NULL_PRIV.lock)
    regs = ld32(p + NULL_PRIV.regs)
    status = readl(regs + REG_STATUS)
    writel(status, regs + REG_STATUS)             # acknowledge
    st32(p + NULL_PRIV.status, status)
    if status & STATUS_DONE:
        st32(p + NULL_PRIV.result, readl(regs + REG_RESULT))
        st32(p + NULL_PRIV.done, 1)
    spin_unlock_irqrestore(p + NULL_PRIV.lock, flags)
    wake_up(p + NULL_PRIV.wq)


def null_heartbeat(data):
    p = data
    st32(p + NULL_PRIV.ticks, ld32(p + NULL_PRIV.ticks) + 1)
    mod_timer(p + NULL_PRIV.timer, jiffies() + 1)


def null_open(inode, file):
    p = priv
    st32(p + NULL_PRIV.users, ld32(p + NULL_PRIV.users) + 1)
    return 0


def null_release(inode, file):
    p = priv
    st32(p + NULL_PRIV.users, ld32(p + NULL_PRIV.users) - 1)
    return 0


def null_write(file, buf, count):
    p = priv
    if count <= 0 or count > BUF_SIZE:
        return -EINVAL
    dma = ld32(p + NULL_PRIV.dma_buf)
    if copy_from_user(dma, buf, count):
        return -EFAULT
    flags = spin_lock_irqsave(p + NULL_PRIV.lock)
    regs = ld32(p + NULL_PRIV.regs)
    st32(p + NULL_PRIV.done, 0)
    writel(dma, regs + REG_DMA_ADDR)
    writel(count, regs + REG_LEN)
    writel(CTRL_GO, regs + REG_CTRL)
    spin_unlock_irqrestore(p + NULL_PRIV.lock, flags)
    tries = 0
    while not ld32(p + NULL_PRIV.done):
        tries += 1
        if tries > 10:
            return -EIO
        sleep_on_timeout(p + NULL_PRIV.wq, 2)
    if ld32(p + NULL_PRIV.status) & STATUS_ERROR:
        return -EIO
    st32(p + NULL_PRIV.transfers, ld32(p + NULL_PRIV.transfers) + 1)
    return count


def null_read(file, buf, count):
    p = priv
    if count < 4:
        return -EINVAL
    scratch = ld32(p + NULL_PRIV.dma_buf) + BUF_SIZE - 4
    st32(scratch, ld32(p + NULL_PRIV.result))
    if copy_to_user(buf, scratch, 4):
        return -EFAULT
    return 4


def null_ioctl(inode, file, cmd, arg):
    p = priv
    if cmd == IOCTL_TICKS:
        return ld32(p + NULL_PRIV.ticks)
    if cmd == IOCTL_TRANSFERS:
        return ld32(p + NULL_PRIV.transfers)
    return -EINVAL


NULL_FOPS = FileOperations(open=null_open, release=null_release, read=null_read,
                           write=null_write, ioctl=null_ioctl)


def init_module():
    global priv
    pdev = pci_find_device(VENDOR, DEVICE, 0)
    if not pdev:
        return -ENODEV
    if pci_enable_device(pdev):
        return -ENODEV
    p = kmalloc(NULL_PRIV.size, 0)
    if not p:
        return -ENOMEM
    memset(p, 0, NULL_PRIV.size)
    st32(p + NULL_PRIV.pdev, pdev)
    regs = ioremap(ld32(pdev + PCI_DEV.resource_start), ld32(pdev + PCI_DEV.resource_len))
    if not regs:
        kfree(p)
        return -ENODEV
    st32(p + NULL_PRIV.regs, regs)
    dma = pci_alloc_consistent(pdev, BUF_SIZE)
    if not dma:
        iounmap(regs)
        kfree(p)
        return -ENOMEM
    st32(p + NULL_PRIV.dma_buf, dma)
    spin_lock_init(p + NULL_PRIV.lock)
    init_waitqueue_head(p + NULL_PRIV.wq)
    irq = ld32(pdev + PCI_DEV.irq)
    st32(p + NULL_PRIV.irq, irq)
    err = request_irq(irq, null_interrupt, 0, "null", p)
    if err:
        # unwind in reverse order, as Linux probe routines do
        pci_free_consistent(pdev, BUF_SIZE, dma)
        iounmap(regs)
        kfree(p)
        return err
    setup_timer(p + NULL_PRIV.timer, null_heartbeat, p)
    mod_timer(p + NULL_PRIV.timer, jiffies() + 1)
    err = register_chrdev(NULL_MAJOR, "null0", NULL_FOPS)
    if err:
        del_timer(p + NULL_PRIV.timer)
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
    unregister_chrdev(NULL_MAJOR, "null0")
    del_timer(p + NULL_PRIV.timer)
    free_irq(ld32(p + NULL_PRIV.irq), p)
    pci_free_consistent(ld32(p + NULL_PRIV.pdev), BUF_SIZE, ld32(p + NULL_PRIV.dma_buf))
    iounmap(ld32(p + NULL_PRIV.regs))
    kfree(p)
    priv = 0
