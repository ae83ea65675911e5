"""A wild store into kernel state that lives in simulated memory: the heap's free lists and cache
descriptors, a process's mm_struct slab, an IRQ line's irqaction chain.

Natively (Linux 2.4) the store itself is silent and the kernel meets it when its own code walks
the structure: the walk faults or goes astray, and the oops rules decide (process context: the
walker dies; interrupt context or do_exit: a panic). No rule stands in for the corruption. Under
Nooks the same store faults in the driver's domain (kernel pages are read-only there) and is
recovered; the structure is untouched. The store comes from the test-only ``wild`` driver
(tests/nooks/drivers/wild.py, ``ioctl(CMD_STORE, addr)`` writes 0xDEADBEEF at ``addr``).
"""
import pytest

import nookslab
from nookslab.kernel import KernelPanic, ProcessKilled
from nookslab.kernel.errno import EIO
from nookslab.kernel.heap import BUFCTL_END, GEOMETRY, KMEM_CACHE, SLAB
from nookslab.kernel.irq import IRQACTION

from ..nooks.conftest import ioctl, wild_registry  # noqa: F401 - the fixture
from ..nooks.drivers.wild import CMD_OK, CMD_RAISE, CMD_STORE, WILD_IRQ


def boot(mode):
    k = nookslab.boot(mode=mode, seed=11, step_budget=2_000)
    assert k.load("wild").ok
    return k


def partial_slab(k, cls):
    """The first slab of size-``cls`` with a free object, and its first free index."""
    slab = k.mmu.ld32(k.heap.cache_of[cls] + KMEM_CACHE.partial_next)
    return slab, k.mmu.ld32(slab + SLAB.free)


def kmalloc_twice(k, proc, size):
    heap = k.heap
    return k.syscall(proc, lambda: (heap.kmalloc(size), heap.kmalloc(size)))


def test_the_heaps_free_list_is_a_bufctl_chain_in_the_slab_page(wild_registry):
    k = boot("native")
    slab, free = partial_slab(k, 64)
    nxt = k.mmu.ld32(slab + SLAB.size + 4 * free)
    a = k.heap.kmalloc(64)
    assert k.mmu.ld32(slab + SLAB.free) == nxt, "kmalloc took the head and followed its link"
    k.heap.kfree(a)
    assert k.mmu.ld32(slab + SLAB.free) == free and k.mmu.ld32(slab + SLAB.size + 4 * free) == nxt
    assert nxt == BUFCTL_END or nxt < 64


def test_natively_a_wild_store_into_a_free_list_link_faults_in_the_next_kmalloc_that_walks_it(
        wild_registry):
    k = boot("native")
    slab, free = partial_slab(k, 64)
    assert ioctl(k, CMD_STORE, slab + SLAB.size + 4 * free) == 0
    assert k.verdict is None, "the store itself is silent"
    victim = k.spawn("victim")
    with pytest.raises(ProcessKilled) as err:
        kmalloc_twice(k, victim, 64)       # the first is fine; the second follows 0xdeadbeef
    assert "unable to handle kernel paging request" in err.value.reason
    assert k.verdict is None, "an oops in process context: the walker dies, no panic by rule"
    assert ioctl(k, CMD_OK) >= 1, "the system runs on"


def test_natively_a_free_list_link_pointing_at_a_live_object_is_caught_by_slab_debug(
        wild_registry):
    k = boot("native")
    live = k.heap.kmalloc(64)
    slab, free = partial_slab(k, 64)
    chunk = GEOMETRY[64][0]
    k.mmu.st32(slab + SLAB.size + 4 * free, (live - 24 - k.mmu.ld32(slab + SLAB.s_mem)) // chunk)
    victim = k.spawn("victim")
    with pytest.raises(ProcessKilled) as err:
        kmalloc_twice(k, victim, 64)
    assert f"the free list of size-64 leads to {live:#010x}, which is not a free object" in \
        err.value.reason
    assert k.verdict is None and k.heap.ksize(live) == 64, "the live object was not handed out"


def test_natively_the_same_walk_in_an_interrupt_handler_panics(wild_registry):
    k = boot("native")
    slab, free = partial_slab(k, 64)
    ioctl(k, CMD_STORE, slab + SLAB.size + 4 * free)
    heap = k.heap
    k.irqs.request_irq(9, lambda irq, dev: (heap.kmalloc(64), heap.kmalloc(64)), 0, "alloc", 0)
    k.guard(k.machine.raise_irq, 9)
    assert k.verdict.kind == "panic"
    assert k.verdict.cause.startswith("Aiee, killing interrupt handler! unable to handle kernel "
                                      "paging request")


def test_natively_a_wild_store_into_a_cache_descriptor_kills_the_next_fork(wild_registry):
    k = boot("native")
    cache = k.heap.cache_of[16]                       # mm_structs are 16 bytes
    ioctl(k, CMD_STORE, cache + KMEM_CACHE.partial_next)
    r = k.run("wild-io", seconds=0.005)
    assert not r.ok and r.failure.startswith("fork of wild-io killed by oops: unable to handle")
    assert k.verdict is None


def test_natively_a_broken_slab_under_a_process_panics_when_an_oops_kills_it(wild_registry):
    # do_exit frees the victim's mm_struct; the allocator cannot: a recursive fault
    k = boot("native")
    victim = k.spawn("victim")
    slab = victim.mm & ~0xFFF
    ioctl(k, CMD_STORE, slab + SLAB.cache)
    cd = k.subsystems["chrdev"]
    fd = k.syscall(victim, cd.sys_open, "/dev/wild0")
    with pytest.raises(KernelPanic):
        k.syscall(victim, cd.sys_ioctl, fd, CMD_RAISE, 0)
    assert k.verdict.kind == "panic"
    assert k.verdict.cause.startswith("kernel cannot continue: recursive fault in do_exit of "
                                      "victim: kernel BUG: kernel: slab corruption: slab_t at")
    assert k.verdict.cause.endswith("(after: divide error (ZeroDivisionError: integer division "
                                    "or modulo by zero) (process victim))")


def test_natively_a_wild_store_into_an_irqaction_panics_at_the_lines_next_interrupt(
        wild_registry):
    k = boot("native")
    action = k.irqs.chain(WILD_IRQ)[0]
    ioctl(k, CMD_STORE, action + IRQACTION.handler)
    assert k.verdict is None
    k.guard(k.machine.raise_irq, WILD_IRQ)
    assert k.verdict.kind == "panic" and k.verdict.cause == (
        "Aiee, killing interrupt handler! unable to handle kernel paging request at 0xdeadbeef "
        f"(exec, domain kernel) (irq {WILD_IRQ})")


def test_natively_a_wild_next_link_in_an_irqaction_faults_after_the_handler_ran(wild_registry):
    k = boot("native")
    action = k.irqs.chain(WILD_IRQ)[0]
    ioctl(k, CMD_STORE, action + IRQACTION.next)
    k.guard(k.machine.raise_irq, WILD_IRQ)
    assert k.verdict.kind == "panic" and "paging request at 0xdeadbeef (read" in k.verdict.cause


@pytest.mark.parametrize("target", ["free-list link", "cache descriptor", "irqaction"])
def test_under_nooks_the_same_store_faults_in_the_domain_and_is_recovered(wild_registry,
                                                                          target):
    k = boot("nooks")
    slab, free = partial_slab(k, 64)
    addr = {"free-list link": slab + SLAB.size + 4 * free,
            "cache descriptor": k.heap.cache_of[16] + KMEM_CACHE.partial_next,
            "irqaction": k.irqs.chain(WILD_IRQ)[0] + IRQACTION.handler}[target]
    before = k.mmu.ld32(addr)
    assert ioctl(k, CMD_STORE, addr) == -EIO
    rec = k.recoveries[-1]
    assert (rec.trigger, rec.ok) == ("fault", True) and "paging request" in rec.cause
    assert k.mmu.ld32(addr) != 0xDEADBEEF and k.verdict is None
    if target != "irqaction":             # recovery re-registers the handler (a new wrapper)
        assert k.mmu.ld32(addr) == before
    assert k.check_integrity() == []
    victim = k.spawn("victim")
    a, b = kmalloc_twice(k, victim, 64)
    assert k.heap.ksize(a) == k.heap.ksize(b) == 64
    k.guard(k.machine.raise_irq, WILD_IRQ)
    assert k.verdict is None and len(k.irqs.actions[WILD_IRQ]) == 1
    assert k.run("wild-io", seconds=0.005).ok
