"""sk_buff_head queues in simulated memory: the links and counts are memory, and so are their faults."""
from __future__ import annotations

import pytest

import nookslab
from nookslab.kernel.net.skbqueue import (SK_BUFF_HEAD, SkbQueue, skb_dequeue, skb_queue_head,
                                          skb_queue_head_init, skb_queue_tail, skb_queue_walk,
                                          skb_unlink)
from nookslab.kernel.net.skbuff import SK_BUFF
from nookslab.kernel.panic import KernelBug
from nookslab.machine.cpu import Watchdog
from nookslab.machine.mmu import PageFault


@pytest.fixture
def kq():
    k = nookslab.boot(seed=1, step_budget=1_000)
    net = k.subsystems["net"]
    head = k.heap.kmalloc(SK_BUFF_HEAD.size)
    skb_queue_head_init(k.mmu, head)
    return k, net, head


def links(k, head):
    """(next, prev, qlen) of the head and of each skb, read straight from memory."""
    m = k.mmu
    return m.ld32(head), m.ld32(head + 4), m.ld32(head + SK_BUFF_HEAD.qlen)


def test_queued_skbs_form_a_ring_through_the_head_in_memory(kq):
    k, net, head = kq
    m = k.mmu
    a, b, c = (net.alloc_skb(100) for _ in range(3))
    skb_queue_tail(m, head, a)
    skb_queue_tail(m, head, b)
    skb_queue_head(m, head, c)                       # c, a, b
    assert links(k, head) == (c, b, 3)
    assert [m.ld32(s + SK_BUFF.next) for s in (c, a, b)] == [a, b, head]
    assert [m.ld32(s + SK_BUFF.prev) for s in (c, a, b)] == [head, c, a]
    assert all(m.ld32(s + SK_BUFF.list) == head for s in (a, b, c))
    assert list(skb_queue_walk(m, k.cpu, head)) == [c, a, b]
    skb_unlink(m, a)                                 # from the middle
    assert m.ld32(c + SK_BUFF.next) == b and m.ld32(b + SK_BUFF.prev) == c
    assert m.ld32(a + SK_BUFF.list) == 0 and links(k, head)[2] == 2
    assert skb_dequeue(m, head) == c and skb_dequeue(m, head) == b
    assert skb_dequeue(m, head) == 0 and links(k, head) == (head, head, 0)


def test_the_deque_view_keeps_nothing_in_python(kq):
    k, net, head = kq
    q = SkbQueue(k.mmu, k.cpu, head)
    a, b = net.alloc_skb(10), net.alloc_skb(10)
    q.append(a)
    q.appendleft(b)
    assert len(q) == 2 and list(q) == [b, a] and bool(q)
    k.mmu.st32(head + SK_BUFF_HEAD.qlen, 7)           # memory says seven
    assert len(q) == 7
    q.clear()
    assert not q and links(k, head) == (head, head, (7 - 2) & 0xFFFFFFFF)


def test_a_dequeue_follows_a_wild_link_into_a_page_fault(kq):
    k, net, head = kq
    k.mmu.st32(head, 0xDEADBEEF)                      # head->next
    with pytest.raises(PageFault) as fault:
        skb_dequeue(k.mmu, head)
    assert fault.value.addr == 0xDEADBEEF


def test_a_ring_broken_into_a_cycle_without_its_head_spins_until_the_watchdog(kq):
    k, net, head = kq
    m = k.mmu
    a, b = net.alloc_skb(10), net.alloc_skb(10)
    skb_queue_tail(m, head, a)
    skb_queue_tail(m, head, b)
    m.st32(b + SK_BUFF.next, a)                       # b -> a -> b -> ...
    k.cpu.arm()
    with pytest.raises(Watchdog):
        for _ in skb_queue_walk(m, k.cpu, head):
            pass


def test_freeing_an_skb_still_on_a_queue_is_a_bug(kq):
    k, net, head = kq
    a = net.alloc_skb(10)
    skb_queue_tail(k.mmu, head, a)
    with pytest.raises(KernelBug, match="still on a list"):
        net.kfree_skb(a)
    skb_unlink(k.mmu, a)
    net.kfree_skb(a)
    with pytest.raises(KernelBug, match="double free"):
        net.kfree_skb(a)


def test_an_skb_is_known_by_its_memory_not_by_a_table(kq):
    k, net, head = kq
    with pytest.raises(PageFault):                    # a pointer past RAM: the load faults
        net.kfree_skb(0xDEADBEEF)
    ordinary = k.heap.kmalloc(64)                     # mapped, but no sk_buff: bad magic
    with pytest.raises(KernelBug, match="not a live sk_buff"):
        net.kfree_skb(ordinary)
