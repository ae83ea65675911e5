"""Checks of notebook 08 (performance): the TLB refill term of the cost model.

The exercise's term: no refill with a tagged TLB or protection keys; otherwise ``work //
tlb_page_every`` pages (none for negative work), ``tlb_miss`` cycles each, capped at a full
refill, ``xpc_tlb``. The checks vary every constant it reads (random cost models built with
:meth:`~nookslab.machine.costs.CostModel.but` from the student's graded model) and the work,
around each boundary; :func:`_reference_refill` is the specification (switched off, like the
package's own :meth:`~nookslab.machine.costs.CostModel.tlb_refill`, while the student's term runs).
"""
from __future__ import annotations

import numpy as np

from ..graded import GradedPart, own
from .cases import Agreement, Case, agree, short


def _reference_refill(cost, work: int) -> int:
    own("tlb_term")
    if cost.tagged_tlb or cost.domain_switch == "pkey":
        return 0
    return min(cost.xpc_tlb, max(work, 0) // cost.tlb_page_every * cost.tlb_miss)


def _model_of(cost):
    if not isinstance(getattr(cost, "tlb_term", None), GradedPart):
        raise TypeError(f"the checks take CostModel.graded(tlb_term=your_function), got {cost!r}")
    return cost


def _random_model(base, rng, **fixed):
    return base.but(tlb_miss=int(rng.integers(20, 200)), tlb_page_every=int(rng.integers(10, 300)),
                    xpc_tlb=int(rng.integers(2_000, 30_000)), **fixed)


def _label(cost) -> str:
    knobs = []
    if cost.tagged_tlb:
        knobs.append("tagged TLB")
    if cost.domain_switch == "pkey":
        knobs.append("pkey")
    extra = (", " + ", ".join(knobs)) if knobs else ""
    return (f"tlb_term(cost[tlb_miss={cost.tlb_miss}, tlb_page_every={cost.tlb_page_every}, "
            f"xpc_tlb={cost.xpc_tlb}{extra}], work=")


def _case(cost, work: int, about: str) -> Case:
    return Case(f"{_label(cost)}{work})", (cost, work), _reference_refill(cost, work), about)


def _judge(case: Case, got) -> str | None:
    try:
        cycles = int(got)                   # what the machine charges
    except (TypeError, ValueError, OverflowError):
        return f"expected {case.expected} cycles, got {short(got)}"
    return None if cycles == case.expected else f"expected {case.expected}, got {cycles}"


def _call(cost):
    term = cost.tlb_term

    def run(model, work):
        return term(model, work)
    return run


def tlb_pages(cost, seed: int = 0, count: int = 8) -> Agreement:
    """Untagged page-table models, work below the cap: ``work // tlb_page_every`` whole pages of
    ``tlb_miss`` cycles; none for zero, negative or less than a page's worth of work."""
    cost = _model_of(cost)
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(count):
        m = _random_model(cost, rng, tagged_tlb=False, domain_switch="page_table")
        every, cap_pages = m.tlb_page_every, m.xpc_tlb // m.tlb_miss
        k = int(rng.integers(2, max(cap_pages, 3)))
        for work, about in ((0, "no work"), (-1, "negative work"),
                            (-int(rng.integers(2, 10**6)), "negative work"),
                            (every - 1, "less than one page"), (every, "exactly one page"),
                            (every + 1, "one page and a cycle"),
                            (k * every - 1, "just under a whole number of pages"),
                            (k * every + int(rng.integers(1, every)), "pages and a part")):
            if _reference_refill(m, work) < m.xpc_tlb or work <= 0:
                cases.append(_case(m, work, about))
    return agree("TLB refill, pages", _call(cost), cases, judge=_judge, show=str)


def tlb_cap_and_tags(cost, seed: int = 0, count: int = 8) -> Agreement:
    """The cap (work around and far past a full refill's worth), and the same works with a
    tagged TLB or protection keys, which charge nothing."""
    cost = _model_of(cost)
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(count):
        m = _random_model(cost, rng, tagged_tlb=False, domain_switch="page_table")
        full = -(-m.xpc_tlb // m.tlb_miss) * m.tlb_page_every      # work that reaches the cap
        works = [(full - m.tlb_page_every, "one page under the cap"), (full, "reaches the cap"),
                 (full + int(rng.integers(1, 10 * full)), "past the cap"),
                 (10**9 + int(rng.integers(0, 10**6)), "a second of work")]
        cases += [_case(m, w, a) for w, a in works]
        knobs = ({"tagged_tlb": True}, {"domain_switch": "pkey"},
                 {"tagged_tlb": True, "domain_switch": "pkey"})[i % 3]
        tagged = m.but(**knobs)
        cases += [_case(tagged, w, "nothing is flushed") for w, _ in works[1:3]]
        cases.append(_case(tagged, int(rng.integers(0, full)), "nothing is flushed"))
        cases.append(_case(tagged, -int(rng.integers(1, 1000)), "nothing is flushed"))
    return agree("TLB refill, cap and tags", _call(cost), cases, judge=_judge, show=str)


__all__ = ["tlb_cap_and_tags", "tlb_pages"]
