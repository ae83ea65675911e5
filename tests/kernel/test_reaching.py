"""kernel.reaching: what the kernel still reaches inside a block (Linux's
debug_check_no_obj_freed), the question Nooks' free wrappers ask before memory goes."""
import nookslab as nl
from nookslab.kernel.timer import TIMER_LIST


def _pending_timer(k, block):
    timers = k.timers
    timers.setup_timer(block + 8, lambda data: None, 0)
    k.mmu.st32(block + 8 + TIMER_LIST.expires, timers.jiffies() + 100)
    timers.add_timer(block + 8)
    return block + 8


def test_a_pending_timer_is_reached_until_it_is_deleted():
    k = nl.boot(seed=1)
    block = k.heap.kmalloc(64)
    timer = _pending_timer(k, block)
    assert k.reaching(block, 64) == [f"pending timer at {timer:#010x}"]
    assert k.reaching(block + 64, 64) == [] and k.reaching(block, 8) == []
    k.timers.del_timer(timer)
    assert k.reaching(block, 64) == []


def test_a_corrupted_timer_list_ends_the_walk_without_touching_devices():
    k = nl.boot(seed=1)
    k.load("null")                                   # its registers are MMIO at 0xf0001000
    device = k.machine.devices["nulldev"]
    reads = []
    real = device.mmio_read
    device.mmio_read = lambda offset, size: reads.append(offset) or real(offset, size)
    block = k.heap.kmalloc(64)
    timer = _pending_timer(k, block)
    k.mmu.st32(timer + TIMER_LIST.next, 0xF0001000 + 4 - TIMER_LIST.magic)   # -> REG_STATUS
    assert k.reaching(block, 64) == [f"pending timer at {timer:#010x}"]
    assert reads == [] and k.verdict is None
