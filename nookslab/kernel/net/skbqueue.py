"""``struct sk_buff_head``: the doubly linked skb queues of Linux 2.4, in simulated memory.

A queue head is ``next``, ``prev``, ``qlen`` and a lock word; its ``next``/``prev`` sit at the same
offsets as an sk_buff's, so the head is linked into the ring of its skbs exactly as Linux casts it
(``(struct sk_buff *)list``). Every device queue (the qdisc), the NET_RX backlog and every socket's
receive, write and backlog queues are such rings, threaded through the skbs' own ``next`` and
``prev``; each queued skb's ``list`` names its head. The functions below are Linux's
``__skb_queue_tail``, ``__skb_dequeue``, ``__skb_unlink``... and nothing else: they follow the
links in memory, so a corrupted link sends them somewhere wrong (a load through a wild pointer
faults; a link into other memory scribbles there), and a corrupted ``qlen`` misleads every limit
that reads it, as in Linux. Walks count CPU steps: a ring broken into a cycle that misses its head
spins until the watchdog fires.

The lock word is kept for the layout only: on a uniprocessor build ``spin_lock`` compiles to
nothing (see :mod:`nookslab.kernel.sync`); what protects a queue here is the interrupt flag and the
softirq context, as there.
"""
from __future__ import annotations

from ..structs import Layout
from .skbuff import SK_BUFF

SK_BUFF_HEAD = Layout("sk_buff_head", [("next", "ptr"), ("prev", "ptr"), ("qlen", "u32"),
                                       ("lock", "u32")])
assert SK_BUFF_HEAD.next == SK_BUFF.next == 0 and SK_BUFF_HEAD.prev == SK_BUFF.prev == 4

_NEXT, _PREV, _QLEN = 0, 4, SK_BUFF_HEAD.qlen
_LIST = SK_BUFF.list
MASK = 0xFFFFFFFF


def skb_queue_head_init(m, head: int) -> None:
    """An empty queue: the head linked to itself, length 0."""
    m.st32(head + _NEXT, head)
    m.st32(head + _PREV, head)
    m.st32(head + _QLEN, 0)
    m.st32(head + SK_BUFF_HEAD.lock, 0)


def skb_queue_len(m, head: int) -> int:
    return m.ld32(head + _QLEN)


def skb_peek(m, head: int) -> int:
    """The first skb, or 0 if the queue is empty (``skb_peek``)."""
    skb = m.ld32(head + _NEXT)
    return 0 if skb == head else skb


def skb_queue_tail(m, head: int, skb: int) -> None:
    """Link ``skb`` in at the tail (``__skb_queue_tail``)."""
    st32 = m.st32
    prev = m.ld32(head + _PREV)
    st32(skb + _NEXT, head)
    st32(skb + _PREV, prev)
    st32(skb + _LIST, head)
    st32(prev + _NEXT, skb)
    st32(head + _PREV, skb)
    st32(head + _QLEN, (m.ld32(head + _QLEN) + 1) & MASK)


def skb_queue_head(m, head: int, skb: int) -> None:
    """Link ``skb`` in at the front (``__skb_queue_head``: a requeue)."""
    st32 = m.st32
    nxt = m.ld32(head + _NEXT)
    st32(skb + _NEXT, nxt)
    st32(skb + _PREV, head)
    st32(skb + _LIST, head)
    st32(nxt + _PREV, skb)
    st32(head + _NEXT, skb)
    st32(head + _QLEN, (m.ld32(head + _QLEN) + 1) & MASK)


def skb_dequeue(m, head: int) -> int:
    """Unlink and return the first skb, or 0 if ``head.next`` is the head (``__skb_dequeue``)."""
    ld32 = m.ld32
    skb = ld32(head + _NEXT)
    if skb == head:
        return 0
    st32 = m.st32
    nxt = ld32(skb + _NEXT)
    st32(nxt + _PREV, head)
    st32(head + _NEXT, nxt)
    st32(head + _QLEN, (ld32(head + _QLEN) - 1) & MASK)
    st32(skb + _NEXT, 0)
    st32(skb + _PREV, 0)
    st32(skb + _LIST, 0)
    return skb


def skb_unlink(m, skb: int) -> None:
    """Take ``skb`` off whatever queue its ``list`` names (``skb_unlink``; none: nothing)."""
    ld32 = m.ld32
    head = ld32(skb + _LIST)
    if not head:
        return
    st32 = m.st32
    nxt = ld32(skb + _NEXT)
    prev = ld32(skb + _PREV)
    st32(head + _QLEN, (ld32(head + _QLEN) - 1) & MASK)
    st32(nxt + _PREV, prev)
    st32(prev + _NEXT, nxt)
    st32(skb + _NEXT, 0)
    st32(skb + _PREV, 0)
    st32(skb + _LIST, 0)


def skb_queue_walk(m, cpu, head: int):
    """Yield each skb from the front, following ``next`` (``skb_queue_walk``); one CPU step each.
    The caller must not unlink the skb it was given before asking for the next one."""
    skb = m.ld32(head + _NEXT)
    while skb != head:
        cpu.step()
        yield skb
        skb = m.ld32(skb + _NEXT)


class SkbQueue:
    """A deque-like view of one ``sk_buff_head`` for code outside the hot paths (the shadow
    driver keeps a device's queued packets across a restart through it). Every operation is one
    of the functions above: nothing is kept in Python."""

    __slots__ = ("m", "cpu", "head")

    def __init__(self, mmu, cpu, head: int):
        self.m = mmu
        self.cpu = cpu
        self.head = head

    def __len__(self) -> int:
        return skb_queue_len(self.m, self.head)

    def __bool__(self) -> bool:
        return skb_peek(self.m, self.head) != 0

    def __iter__(self):
        return iter(list(skb_queue_walk(self.m, self.cpu, self.head)))

    def append(self, skb: int) -> None:
        skb_queue_tail(self.m, self.head, skb)

    def appendleft(self, skb: int) -> None:
        skb_queue_head(self.m, self.head, skb)

    def extend(self, skbs) -> None:
        for skb in skbs:
            self.append(skb)

    def popleft(self) -> int:
        skb = skb_dequeue(self.m, self.head)
        if not skb:
            raise IndexError("pop from an empty sk_buff queue")
        return skb

    def clear(self) -> None:
        """Unlink every skb (without freeing them: the caller took them)."""
        while skb_dequeue(self.m, self.head):
            self.cpu.step()

    def __repr__(self) -> str:
        return f"<sk_buff_head at {self.head:#010x}, qlen {len(self)}>"
