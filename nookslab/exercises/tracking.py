"""Checks of notebook 05 (object tracking): the tracker's garbage collection at recovery.

The checks hand the student's ``collect`` lists of tracked objects of made-up types (so an answer
cannot go by the names of the types the null driver happens to use), some physical, in creation
order, with gaps in their sequence numbers; the package's own
:func:`~nookslab.nooks.recovery.collect_objects` gives the expected answer.
"""
from __future__ import annotations

import numpy as np

from ..nooks.recovery import collect_objects
from ..nooks.tracker import TrackedObject, TrackedType
from .cases import Agreement, Case, agree, graded_part, short

_NAMES = ("ring", "mailbox", "rx_window", "doorbell", "cmd_queue", "fw_image", "stats_block",
          "irq_cookie", "bounce_buf", "desc_table", "timer_slot", "proc_entry")


def _objects(rng, n: int, physical_share: float) -> list[TrackedObject]:
    types = [TrackedType(f"{name}_{int(rng.integers(10, 99))}",
                         physical=bool(rng.random() < physical_share))
             for name in rng.permutation(_NAMES)[:6]]
    objects, seq = [], int(rng.integers(1, 50))
    for _ in range(n):
        seq += int(rng.integers(1, 7))
        kind = types[int(rng.integers(0, len(types)))]
        objects.append(TrackedObject(addr=0x00400000 + 64 * seq, type=kind, seq=seq))
    return objects


def _label(obj) -> str:
    if not isinstance(obj, TrackedObject):
        return short(obj, 40)
    return f"{obj.type.name}#{obj.seq}{' (physical)' if obj.type.physical else ''}"


def _labels(objs) -> str:
    return "[" + ", ".join(_label(o) for o in objs) + "]"


def _cases(seed: int, count: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    shapes = [(0, 0.5, "no objects"), (1, 1.0, "one physical object"),
              (1, 0.0, "one object"), (int(rng.integers(3, 9)), 0.0, "nothing physical"),
              (int(rng.integers(3, 9)), 1.0, "everything physical")]
    shapes += [(int(rng.integers(2, 30)), float(rng.uniform(0.2, 0.6)), "")
               for _ in range(count - len(shapes))]
    cases = []
    for n, share, about in shapes:
        objects = _objects(rng, n, share)
        cases.append(Case(f"collect({n} object{'s' if n != 1 else ''}, oldest first)",
                          (list(objects),), collect_objects(objects), about))
    return cases


def _pair(got):
    try:
        release, keep = got
        return list(release), list(keep)
    except (TypeError, ValueError):
        return None


def _compare(which: int, what: str):
    def judge(case: Case, got) -> str | None:
        pair = _pair(got)
        if pair is None:
            return f"expected a pair (release, keep), got {short(got)}"
        want, have = case.expected[which], pair[which]
        if [id(o) for o in have] == [id(o) for o in want]:
            return None
        return f"expected {what} {_labels(want)}, got {_labels(have)}"
    return judge


def collect_release(hooks, seed: int = 0, count: int = 24) -> Agreement:
    """The first list: every object a device cannot touch, newest first, nothing else."""
    fn = graded_part(hooks, "collect")
    return agree("released now", fn, _cases(seed, count), judge=_compare(0, "release"))


def collect_keep(hooks, seed: int = 0, count: int = 24) -> Agreement:
    """The second list: the physical objects (kept for the device until the reload), newest
    first, and none of them released early."""
    fn = graded_part(hooks, "collect")
    return agree("kept for the device", fn, _cases(seed, count), judge=_compare(1, "keep"))


__all__ = ["collect_keep", "collect_release"]
