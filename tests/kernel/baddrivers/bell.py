"""A test-only driver for the bell device whose entry points misbehave on request.

Shaped like nookslab/drivers/null.py (init finds the device, kmallocs a private struct, installs an
interrupt handler and a timer; cleanup returns everything), plus entry points that each commit one
classic driver bug, called by the tests through ``kernel.syscall`` (process context) or armed to
run in the interrupt handler / timer function (interrupt context).
"""
from nookslab.kernel.api import (del_timer, disable_irq, down, enable_irq, free_irq, iounmap,
                                 ioremap, jiffies, kfree, kmalloc, ld32, local_irq_disable, memset,
                                 mod_timer, pci_enable_device, pci_find_device, readl, request_irq,
                                 sema_init, setup_timer, spin_lock, spin_lock_init,
                                 spin_lock_irqsave, spin_unlock_irqrestore, st8, st32, up, writel)
from nookslab.kernel.errno import ENODEV, ENOMEM
from nookslab.kernel.pci import PCI_DEV
from nookslab.kernel.structs import Layout
from nookslab.kernel.sync import SEMAPHORE, SPINLOCK
from nookslab.kernel.timer import TIMER_LIST
from tests.kernel.baddrivers.belldev import BELL_DEVICE, BELL_VENDOR, REG_RING, REG_STATUS

# What the interrupt handler or the timer function does when it runs.
ACT_NOTHING = 0
ACT_RAISE = 1          # divide by zero
ACT_WILD = 2           # store through a NULL pointer
ACT_SPIN = 3           # loop forever (interrupts are off in a handler)
ACT_DEADLOCK = 4       # wait, holding the lock with interrupts off, for an interrupt

BELL_PRIV = Layout("bell_priv", [
    ("pdev", "ptr"), ("regs", "ptr"), ("irq", "u32"), ("lock", SPINLOCK.size),
    ("timer", TIMER_LIST.size), ("action", "u32"), ("irqs", "u32"), ("timer_jiffy", "u32"),
    ("timer_runs", "u32"), ("zero", "u32"), ("sem", SEMAPHORE.size),
])

priv = 0


def _misbehave(p):
    action = ld32(p + BELL_PRIV.action)
    if action == ACT_RAISE:
        return 100 // ld32(p + BELL_PRIV.zero)
    if action == ACT_WILD:
        st32(0, 0xDEADBEEF)
    if action == ACT_SPIN:
        while True:
            pass
    if action == ACT_DEADLOCK:
        _wait_for_interrupt_locked(p)
    return 0


def _wait_for_interrupt_locked(p):
    """The uniprocessor deadlock: the lock turns interrupts off, then we wait for one."""
    spin_lock_irqsave(p + BELL_PRIV.lock)
    seen = ld32(p + BELL_PRIV.irqs)
    while ld32(p + BELL_PRIV.irqs) == seen:
        pass


def bell_interrupt(irq, dev_id):
    p = dev_id
    regs = ld32(p + BELL_PRIV.regs)
    writel(1, regs + REG_STATUS)                      # acknowledge
    st32(p + BELL_PRIV.irqs, ld32(p + BELL_PRIV.irqs) + 1)
    _misbehave(p)


def bell_timer(data):
    p = data
    st32(p + BELL_PRIV.timer_jiffy, jiffies())
    st32(p + BELL_PRIV.timer_runs, ld32(p + BELL_PRIV.timer_runs) + 1)
    _misbehave(p)


# -- entry points the tests call in process context -----------------------------------------
def ring(action, delay):
    """Arm ``action`` for the interrupt handler and ring the bell ``delay`` cycles from now."""
    p = priv
    st32(p + BELL_PRIV.action, action)
    writel(delay, ld32(p + BELL_PRIV.regs) + REG_RING)
    return 0


def start_timer(action, delay):
    """Arm ``action`` for the timer function and start the timer ``delay`` jiffies from now."""
    p = priv
    st32(p + BELL_PRIV.action, action)
    mod_timer(p + BELL_PRIV.timer, jiffies() + delay)
    return jiffies() + delay


def act(action):
    """Commit ``action`` right here, in process context."""
    p = priv
    st32(p + BELL_PRIV.action, action)
    return _misbehave(p)


def wild_write(addr):
    st32(addr, 0xDEADBEEF)
    return 0


def spin_irqs_off():
    local_irq_disable()
    while True:
        pass


def spin_irqs_on():
    while True:
        pass


def deadlock_irqsave():
    _wait_for_interrupt_locked(priv)


def lock_twice():
    """Take the private lock twice: a deadlock on SMP, nothing on a uniprocessor build."""
    p = priv
    spin_lock(p + BELL_PRIV.lock)
    spin_lock(p + BELL_PRIV.lock)
    return 7


def lock_and_crash():
    """Oops while holding the private lock with interrupts off."""
    p = priv
    flags = spin_lock_irqsave(p + BELL_PRIV.lock)
    st32(0, 1)
    spin_unlock_irqrestore(p + BELL_PRIV.lock, flags)


def down_and_bug():
    """Take the private semaphore, then fail a BUG() check (kfree of a bad pointer): the oops
    kills the caller before its up()."""
    p = priv
    down(p + BELL_PRIV.sem)
    kfree(p + 4)
    up(p + BELL_PRIV.sem)
    return 0


def down_up():
    """Take and release the private semaphore (a short critical section)."""
    p = priv
    down(p + BELL_PRIV.sem)
    up(p + BELL_PRIV.sem)
    return 1


def mask_and_bug():
    """Mask the bell's line, then fail a BUG() check before unmasking it."""
    p = priv
    irq = ld32(p + BELL_PRIV.irq)
    disable_irq(irq)
    kfree(p + 4)
    enable_irq(irq)
    return 0


def overrun(size):
    """kmalloc ``size`` bytes and write one byte past the end; return the pointer (kept live)."""
    b = kmalloc(size, 0)
    st8(b + size, 0x41)
    return b


def overrun_and_free(size):
    b = kmalloc(size, 0)
    st8(b + size, 0x41)
    kfree(b)
    return 0


def use_after_free(size):
    """Free an object, then write into it; return its address."""
    b = kmalloc(size, 0)
    kfree(b)
    st32(b, 0x12345678)
    return b


def use_after_free_then_alloc(size):
    b = kmalloc(size, 0)
    kfree(b)
    st32(b, 0x12345678)
    return kmalloc(size, 0)


def double_free(size):
    b = kmalloc(size, 0)
    kfree(b)
    kfree(b)
    return 0


def bad_free(size):
    b = kmalloc(size, 0)
    kfree(b + 4)
    return 0


def corrupt_timer(field, value, delay):
    """Start the timer, then scribble ``value`` over one of its list fields."""
    p = priv
    st32(p + BELL_PRIV.action, ACT_NOTHING)
    mod_timer(p + BELL_PRIV.timer, jiffies() + delay)
    st32(p + BELL_PRIV.timer + field, value)
    return 0


def free_pending_timer():
    """Free the private struct while its timer is still on the kernel's list."""
    global priv
    p = priv
    mod_timer(p + BELL_PRIV.timer, jiffies() + 1)
    kfree(p)
    priv = 0
    return 0


def counters():
    p = priv
    return (ld32(p + BELL_PRIV.irqs), ld32(p + BELL_PRIV.timer_runs),
            ld32(p + BELL_PRIV.timer_jiffy))


# -- module entry points ------------------------------------------------------------------
def init_module():
    global priv
    pdev = pci_find_device(BELL_VENDOR, BELL_DEVICE, 0)
    if not pdev or pci_enable_device(pdev):
        return -ENODEV
    p = kmalloc(BELL_PRIV.size, 0)
    if not p:
        return -ENOMEM
    memset(p, 0, BELL_PRIV.size)
    st32(p + BELL_PRIV.pdev, pdev)
    regs = ioremap(ld32(pdev + PCI_DEV.resource_start), ld32(pdev + PCI_DEV.resource_len))
    if not regs:
        kfree(p)
        return -ENODEV
    st32(p + BELL_PRIV.regs, regs)
    spin_lock_init(p + BELL_PRIV.lock)
    irq = ld32(pdev + PCI_DEV.irq)
    st32(p + BELL_PRIV.irq, irq)
    err = request_irq(irq, bell_interrupt, 0, "bell", p)
    if err:
        iounmap(regs)
        kfree(p)
        return err
    setup_timer(p + BELL_PRIV.timer, bell_timer, p)
    sema_init(p + BELL_PRIV.sem, 1)
    priv = p
    return 0


def cleanup_module():
    global priv
    p = priv
    del_timer(p + BELL_PRIV.timer)
    free_irq(ld32(p + BELL_PRIV.irq), p)
    iounmap(ld32(p + BELL_PRIV.regs))
    kfree(p)
    priv = 0
