"""Notebook 03's direct checks: edge sizes and random queues for any BATCH_LIMIT; each mistake
names the queue and what went wrong."""
from __future__ import annotations

import pytest

from nookslab.exercises import batch_edges, batch_random, together
from nookslab.nooks.hooks import NooksHooks

RIGHT = ("def batch(queue):\n"
         "    return [queue[i:i + BATCH_LIMIT] for i in range(0, len(queue), BATCH_LIMIT)]")


def _run(fn, ns, limits=(1, 2, 8)):
    hooks = NooksHooks.graded(batch=fn)
    found = []
    for limit in limits:
        ns["BATCH_LIMIT"] = limit          # as the check cell's loop rebinds the notebook's global
        found += [batch_edges(hooks, limit, seed=limit), batch_random(hooks, limit, seed=limit)]
    return together(found)


def test_the_right_batching_agrees_for_every_limit(cell):
    ns = {}
    fn = cell(RIGHT, **ns)
    result = _run(fn, fn.__globals__)
    assert result.ok and str(result).startswith("edge sizes, 6 settings") is False
    assert str(result) == "edge sizes, BATCH_LIMIT 1, 1, 2, 2, 8, 8: 78 of 78 cases agree"


@pytest.mark.parametrize("source, says", [
    ("return [queue]", "expected batch sizes [] (BATCH_LIMIT 1), got [0]"),
    ("return [queue[i:i + 8] for i in range(0, len(queue), 8)]", "expected batch sizes [1, 1]"),
    ("return [queue[i:i + BATCH_LIMIT] for i in range(0, max(len(queue), 1), BATCH_LIMIT)]",
     "expected batch sizes [] (BATCH_LIMIT 1), got [0]"),
    ("return [[c] for c in queue]", "expected batch sizes [2] (BATCH_LIMIT 2), got [1, 1]"),
    ("return [queue[i:i + BATCH_LIMIT] for i in range(0, len(queue), BATCH_LIMIT)][::-1]",
     "out of order"),
    ("return [queue[i:i + BATCH_LIMIT] for i in range(0, len(queue) - BATCH_LIMIT + 1, "
     "BATCH_LIMIT)]", "is in no batch"),
    ("return nl.exercises.xpc._reference_batches(queue, BATCH_LIMIT)", "raised SwitchedOff"),
])
def test_each_mistake_disagrees_and_says_how(cell, source, says):
    fn = cell("def batch(queue):\n    " + source)
    result = _run(fn, fn.__globals__)
    assert not result.ok and says in str(result), str(result)
