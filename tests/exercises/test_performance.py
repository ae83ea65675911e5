"""Notebook 08's direct checks: random cost models around every boundary of the TLB refill term
(a page's worth of work, the cap, negative work, tags and keys)."""
from __future__ import annotations

import pytest

from nookslab.exercises import tlb_cap_and_tags, tlb_pages
from nookslab.graded import NotYourOwn
from nookslab.machine.costs import CostModel

RIGHT = ("def term(cost, work):\n"
         "    if cost.tagged_tlb or cost.domain_switch == 'pkey':\n        return 0\n"
         "    return min(cost.xpc_tlb, max(work, 0) // cost.tlb_page_every * cost.tlb_miss)")


def _results(fn):
    model = CostModel.graded(tlb_term=fn)
    return {"pages": tlb_pages(model, seed=1), "cap": tlb_cap_and_tags(model, seed=2)}


def test_the_right_term_agrees_and_stays_graded_through_what_ifs(cell):
    results = _results(cell(RIGHT))
    assert str(results["pages"]) == "TLB refill, pages: 64 of 64 cases agree" and results["cap"].ok
    model = CostModel.graded(tlb_term=cell(RIGHT))
    assert model.grading and model.what_if("tagged-tlb").grading and not CostModel().grading


@pytest.mark.parametrize("change, fails", [
    (("min(cost.xpc_tlb, max(work, 0) // cost.tlb_page_every * cost.tlb_miss)",
      "max(work, 0) // cost.tlb_page_every * cost.tlb_miss"), {"cap"}),
    (("max(work, 0)", "work"), {"pages"}),
    (("max(work, 0) // cost.tlb_page_every * cost.tlb_miss",
      "max(work, 0) * cost.tlb_miss // cost.tlb_page_every"), {"pages"}),
    (("cost.tagged_tlb or cost.domain_switch == 'pkey'", "cost.tagged_tlb"), {"cap"}),
    (("min(cost.xpc_tlb, max(work, 0) // cost.tlb_page_every * cost.tlb_miss)",
      "min(12000, max(work, 0) // 60 * 60)"), {"pages", "cap"}),
    (("min(cost.xpc_tlb, max(work, 0) // cost.tlb_page_every * cost.tlb_miss)", "0"),
     {"pages", "cap"}),
])
def test_each_mistake_fails_the_check_of_its_rule(cell, change, fails):
    old, new = change
    results = _results(cell(RIGHT.replace(old, new)))
    assert {name for name, r in results.items() if not r.ok} == fails


def test_asking_the_package_for_the_refill_is_switched_off(cell):
    for source in ("return cost.tlb_refill(work)", "return min(cost.tlb_cost, work)",
                   "return nl.machine.costs.CostModel().tlb_refill(work)"):
        shown = str(_results(cell("def term(cost, work):\n    " + source))["pages"])
        assert "(64 raised SwitchedOff)" in shown and "TLB refill term is switched off" in shown
    with pytest.raises(NotYourOwn, match="tlb_term hook: it is None"):
        CostModel.graded(tlb_term=None)
