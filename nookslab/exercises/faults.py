"""Checks of notebook 07 (fault injection): a new fault type, ``WILD_COPY``.

The exercise's fault: the driver's ``copy_from_user`` gets, from its ``WILD_FROM``-th call on
(counting from 1, per load of the driver), a destination with bit 20 flipped; the real copy still
runs, with the changed destination, and its result is returned; ``hit()`` is called when a copy
is changed (at the latest at the first changed copy), never before. The direct checks arm the
student's fault type on stand-in modules whose ``copy_from_user`` records what it is given, so
each call can be compared with the specification (:func:`_reference_destination`).
"""
from __future__ import annotations

import numpy as np

from ..graded import GradedPart, own
from ..system import boot
from .cases import Agreement, Case, agree, short

BIT = 20


class CheckModule:
    """A stand-in for a loaded driver: a name and a namespace holding ``copy_from_user``, a
    recorder that keeps each call's arguments and returns a number of bytes not copied."""

    def __init__(self, name: str, rng):
        self.name = name
        self.calls: list[tuple[int, int, int]] = []
        self.results = [int(v) for v in rng.integers(0, 3, size=64)]

        def copy_from_user(to, from_user, n):
            self.calls.append((to, from_user, n))
            return self.results[len(self.calls) - 1]
        self.real = copy_from_user
        self.namespace = {"copy_from_user": copy_from_user, "kmalloc": None}


def _reference_destination(to: int, call: int, wild_from: int) -> int:
    """Where the ``call``-th copy of a load (from 1) must go."""
    own("fault")
    return to ^ (1 << BIT) if call >= wild_from else to


def _arm_of(fault_type) -> GradedPart:
    arm = getattr(fault_type, "arm", None)
    if not isinstance(arm, GradedPart):
        raise TypeError(f"the checks take FaultType.graded(name, your_arm), got {fault_type!r}")
    return arm


def _plan(rng, loads: int, calls: int) -> list[tuple[int, int, int, int]]:
    """Calls as (load, to, from_user, n), interleaving ``loads`` loads of the driver."""
    plan = []
    for _ in range(calls):
        plan.append((int(rng.integers(0, loads)), int(rng.integers(0x00400000, 0x00800000)),
                     int(rng.integers(0x08000000, 0x0C000000)), int(rng.integers(1, 4096))))
    return plan


def _scenario(arm, kernel, plan, loads: int, seed: int):
    """Arm ``loads`` stand-in modules and make the planned calls; what each call did."""
    rng = np.random.default_rng(seed)
    modules, hits = [], []
    for i in range(loads):
        m = CheckModule(f"null#{i + 1}", rng)
        count = [0]
        hits.append(count)
        arm(kernel, m, lambda detail="", count=count: count.__setitem__(0, count[0] + 1))
        modules.append(m)
    armed_hits = [c[0] for c in hits]
    trace = []
    for load, to, src, n in plan:
        m = modules[load]
        before = len(m.calls)
        returned = m.namespace["copy_from_user"](to, src, n)
        real = m.calls[before:]
        trace.append((real, returned, m.results[before] if real else None, hits[load][0]))
    return armed_hits, trace


def _runner(arm, kernel, loads: int):
    def run(plan, seed):
        return _scenario(arm, kernel, plan, loads, seed)
    return run


def _expected(plan, loads: int, wild_from: int):
    counts = [0] * loads
    out = []
    for load, to, src, n in plan:
        counts[load] += 1
        out.append((load, counts[load], _reference_destination(to, counts[load], wild_from),
                    src, n))
    return out


def _judge_copies(case: Case, got) -> str | None:
    _, trace = got
    for (load, k, to, src, n), (real, returned, result, _) in zip(case.expected, trace):
        where = f"copy {k} of load {load + 1}"
        if len(real) != 1:
            return f"{where}: expected one real copy_from_user call, got {len(real)}"
        if real[0] != (to, src, n):
            got_to, got_src, got_n = real[0]
            return (f"{where}: expected the real copy to get (to={_hex(to)}, from_user="
                    f"{_hex(src)}, n={n}), got (to={_hex(got_to)}, from_user={_hex(got_src)}, "
                    f"n={short(got_n)})")
        if returned != result:
            return f"{where}: expected it to return the real copy's {result}, got {short(returned)}"
    return None


def _hex(value) -> str:
    return f"{value:#010x}" if isinstance(value, int) else short(value)


def _judge_hits(wild_from: int):
    def judge(case: Case, got) -> str | None:
        armed, trace = got
        if any(armed):
            return "hit() was called while arming, before any copy was changed"
        for (load, k, *_), (_, _, _, hits) in zip(case.expected, trace):
            if k < wild_from and hits:
                return (f"hit() was called by copy {k} of load {load + 1}, which changes nothing "
                        f"(WILD_FROM {wild_from})")
            if k >= wild_from and not hits:
                return f"copy {k} of load {load + 1} changed the destination but hit() was not called"
        return None
    return judge


def _cases(wild_from: int, loads: int, seed: int, count: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(count):
        calls = int(rng.integers(max(wild_from - 1, 1), wild_from + 6)) * loads
        plan = _plan(rng, loads, calls)
        what = f"{calls} copies over {loads} loads" if loads > 1 else f"{calls} copies"
        cases.append(Case(what, (plan, seed * 100 + i),
                          _expected(plan, loads, wild_from)))
    return cases


def fault_copies(fault_type, wild_from: int, seed: int = 0, count: int = 6) -> Agreement:
    """One load of a stand-in driver: the destination of each copy, the other arguments and the
    result passed through, for ``wild_from`` (the notebook's WILD_FROM right now)."""
    arm = _arm_of(fault_type)
    k = boot("native", seed=seed)
    return agree("copies", _runner(arm, k, 1), _cases(wild_from, 1, seed, count),
                 judge=_judge_copies, show=lambda v: "", setting=f"WILD_FROM {wild_from}")


def fault_hits(fault_type, wild_from: int, seed: int = 0, count: int = 6) -> Agreement:
    """Two loads of a stand-in driver at once, calls interleaved: each load counts its own
    copies from 1 (a reloaded binary starts afresh), and ``hit()`` comes with the first changed
    copy of a load, never before."""
    arm = _arm_of(fault_type)
    k = boot("native", seed=seed)
    cases = _cases(wild_from, 2, seed, count)
    return agree("activation and reloads", _runner(arm, k, 2), cases, judge=_both(wild_from),
                 show=lambda v: "", setting=f"WILD_FROM {wild_from}")


def _both(wild_from: int):
    hits = _judge_hits(wild_from)

    def judge(case: Case, got) -> str | None:
        return _judge_copies(case, got) or hits(case, got)
    return judge


__all__ = ["CheckModule", "fault_copies", "fault_hits"]
