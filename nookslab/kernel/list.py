"""``struct list_head``: Linux's doubly linked rings, threaded through structs in simulated memory.

The helpers of ``include/linux/list.h``, on addresses: a ring is a ``list_head`` (``next``,
``prev``) embedded in a kernel global or a struct, linked to the ``list_head`` embedded in each
member; ``list_entry`` is the member's address minus the offset of its link. They follow the
links in memory and nothing else, so a corrupted link sends them where it points (a load through
an address outside RAM faults, a store into other memory scribbles there), and a walk of a ring
broken into a cycle that misses its head runs on, counting a CPU step per member, until the
watchdog ends it, as the same loop would hang a Linux 2.4 kernel.
"""
from __future__ import annotations

from typing import Iterator

NEXT = 0
PREV = 4


def INIT_LIST_HEAD(m, head: int) -> None:
    """An empty ring: the head linked to itself."""
    m.st32(head + NEXT, head)
    m.st32(head + PREV, head)


def list_empty(m, head: int) -> bool:
    return m.ld32(head + NEXT) == head


def _add(m, new: int, prev: int, nxt: int) -> None:
    m.st32(nxt + PREV, new)
    m.st32(new + NEXT, nxt)
    m.st32(new + PREV, prev)
    m.st32(prev + NEXT, new)


def list_add(m, new: int, head: int) -> None:
    """Link ``new`` in right after ``head`` (a stack)."""
    _add(m, new, head, m.ld32(head + NEXT))


def list_add_tail(m, new: int, head: int) -> None:
    """Link ``new`` in right before ``head`` (a queue: the ring's newest end)."""
    _add(m, new, m.ld32(head + PREV), head)


def list_del_init(m, entry: int) -> None:
    """Unlink ``entry`` and leave it an empty ring of its own (``list_del_init``)."""
    nxt = m.ld32(entry + NEXT)
    prev = m.ld32(entry + PREV)
    m.st32(nxt + PREV, prev)
    m.st32(prev + NEXT, nxt)
    INIT_LIST_HEAD(m, entry)


#: No ring the kernel keeps holds this many members: a walk that passes it is going round a
#: loop that misses its head (a hang, also where no watchdog is armed, so the host never spins).
RING_MAX = 1 << 16


def list_walk(m, head: int, cpu) -> Iterator[int]:
    """The links of the ring at ``head``, first to last (``list_for_each_safe``: the next link
    is read before a member is handed out, so it may be unlinked). Each move to the next member
    is a CPU step (``cpu.step``): a ring that never returns to its head hangs the walk until the
    watchdog fires, or ``RING_MAX`` members have gone by."""
    ld32 = m.ld32
    step = cpu.step
    pos = ld32(head + NEXT)
    n = 0
    while pos != head:
        nxt = ld32(pos + NEXT)
        yield pos
        pos = nxt
        step()                           # the loop's back-edge
        n += 1
        if n > RING_MAX:
            cpu.spin("a list walk that never returns to its head")
