"""Checks of notebook 03 (XPC): batching a domain's deferred kernel calls.

The exercise's specification: consecutive batches of at most ``BATCH_LIMIT`` calls, in the order
they were queued, none dropped or repeated, as few crossings as possible (every batch full but the
last), no batch at all for an empty queue. The package itself runs the whole queue in one crossing
(no limit); :func:`_reference_batches` is the specification, switched off like the package's own
while the student's function runs.
"""
from __future__ import annotations

import numpy as np

from ..graded import own
from .cases import Agreement, Case, agree, short
from .cases import graded_part as _part

#: What a queued call looks like to the checks: the kernel's own deferred calls, by name.
_CALLS = ("netif_rx", "dev_kfree_skb_irq", "dev_kfree_skb_any")


def _reference_batches(queue: list, limit: int) -> list[list]:
    own("batch")
    return [list(queue[i:i + limit]) for i in range(0, len(queue), limit)]


def _queue(n: int, rng) -> list[tuple]:
    """``n`` distinct deferred calls, shaped like the kernel's ``(function name, args)``."""
    return [(_CALLS[int(rng.integers(0, len(_CALLS)))], (i, int(rng.integers(0, 1 << 16))))
            for i in range(n)]


def _judge(case: Case, got) -> str | None:
    expected, limit, queue = case.expected
    try:
        batches = [list(b) for b in got]
    except TypeError:
        return f"expected a list of batches, got {short(got)}"
    sizes, want = [len(b) for b in batches], [len(b) for b in expected]
    flat = [call for b in batches for call in b]
    position = {call: i for i, call in enumerate(queue)}
    if flat != queue:
        for call in flat:
            if call not in position:
                return f"a batch holds {short(call)}, which was never queued"
        seen = [position[c] for c in flat]
        missing = sorted(set(range(len(queue))) - set(seen))
        if missing:
            return f"call {missing[0]} of the queue is in no batch (batch sizes {sizes})"
        twice = next(i for i in seen if seen.count(i) > 1) if len(seen) != len(set(seen)) else None
        if twice is not None:
            return f"call {twice} of the queue is in two batches"
        wrong = next(k for k, i in enumerate(seen) if i != k)
        return f"the calls are out of order: call {seen[wrong]} comes where call {wrong} should"
    if sizes != want:
        return f"expected batch sizes {want} (BATCH_LIMIT {limit}), got {sizes}"
    return None


def _cases(sizes, limit: int, rng) -> list[Case]:
    cases = []
    for n in sizes:
        queue = _queue(n, rng)
        cases.append(Case(f"batch(queue of {n} call{'s' if n != 1 else ''}) with BATCH_LIMIT "
                          f"{limit}", (list(queue),), (_reference_batches(queue, limit), limit,
                                                       queue)))
    return cases


def batch_edges(hooks, limit: int, seed: int = 0) -> Agreement:
    """An empty queue, one call, the limit minus one, exactly the limit, the limit plus one,
    twice the limit and around it, for ``limit`` (the notebook's BATCH_LIMIT right now)."""
    fn = _part(hooks, "batch")
    rng = np.random.default_rng(seed)
    sizes = sorted({0, 1, max(limit - 1, 0), limit, limit + 1, 2 * limit, 2 * limit + 1,
                    3 * limit - 1})
    cases = _cases(sizes, limit, rng)
    return agree("edge sizes", fn, cases, judge=_judge, setting=f"BATCH_LIMIT {limit}")


def batch_random(hooks, limit: int, seed: int = 0, count: int = 20) -> Agreement:
    """``count`` random queues, up to five times ``limit`` long."""
    fn = _part(hooks, "batch")
    rng = np.random.default_rng(seed)
    sizes = [int(rng.integers(0, 5 * limit + 2)) for _ in range(count)]
    cases = _cases(sizes, limit, rng)
    return agree("random queues", fn, cases, judge=_judge, setting=f"BATCH_LIMIT {limit}")


def largest_batch(kernel) -> int:
    """The most deferred calls a kernel ran in one crossing."""
    sizes = [int(e.detail.rsplit("x", 1)[1]) for e in kernel.events
             if e.kind == "xpc" and "deferred x" in e.detail]
    return max(sizes, default=0)


__all__ = ["batch_edges", "batch_random", "largest_batch"]
