"""Notebook 07's direct checks: stand-in drivers record every copy, so a fault that flips the
wrong calls, forgets hit(), calls it early or counts across loads is caught and named."""
from __future__ import annotations

import pytest

from nookslab.exercises import fault_copies, fault_hits, together
from nookslab.faults.types import FaultType
from nookslab.graded import NotYourOwn

RIGHT = """
def arm(kernel, module, hit):
    real = module.namespace["copy_from_user"]
    calls = [0]
    def copy_from_user(to, from_user, n):
        calls[0] += 1
        if calls[0] >= WILD_FROM:
            hit()
            to ^= 1 << 20
        return real(to, from_user, n)
    module.namespace["copy_from_user"] = copy_from_user
"""


def _results(fn):
    fault = FaultType.graded("WILD_COPY", fn)
    copies, hits = [], []
    for wild_from in (1, 2, 3, 5):
        fn.__globals__["WILD_FROM"] = wild_from
        copies.append(fault_copies(fault, wild_from, seed=wild_from))
        hits.append(fault_hits(fault, wild_from, seed=10 + wild_from))
    fn.__globals__["WILD_FROM"] = 3
    return {"copies": together(copies), "hits": together(hits)}


def test_the_right_fault_type_agrees(cell):
    results = _results(cell(RIGHT, WILD_FROM=3))
    assert str(results["copies"]) == "copies, WILD_FROM 1, 2, 3, 5: 24 of 24 cases agree"
    assert results["hits"].ok


@pytest.mark.parametrize("change, fails, says", [
    (("if calls[0] >= WILD_FROM:", "if True:"), {"copies", "hits"}, "expected the real copy"),
    (("if calls[0] >= WILD_FROM:", "if calls[0] >= 3:"), {"copies", "hits"}, "[WILD_FROM 1]"),
    (("            hit()\n", ""), {"hits"}, "hit() was not called"),
    (("    calls = [0]\n", "    calls = CALLS\n"), {"copies", "hits"}, "of load"),
    (("    real = module.namespace", "    hit()\n    real = module.namespace"), {"hits"},
     "hit() was called while arming"),
    (("to ^= 1 << 20", "to ^= 1 << 21"), {"copies", "hits"}, "to="),
    (("return real(to, from_user, n)", "real(to, from_user, n)"), {"copies", "hits"},
     "expected it to return the real copy's"),
    (("return real(to, from_user, n)", "real(to, from_user, n)\n        return real(to, from_user, n)"),
     {"copies", "hits"}, "expected one real copy_from_user call, got 2"),
])
def test_each_mistake_fails_the_check_of_its_rule(cell, change, fails, says):
    old, new = change
    assert old in RIGHT
    results = _results(cell(RIGHT.replace(old, new), WILD_FROM=3, CALLS=[0]))
    assert {name for name, r in results.items() if not r.ok} == fails
    assert any(says in str(r) for r in results.values()), [str(r) for r in results.values()]


def test_arming_through_the_packages_injector_is_switched_off_and_none_is_refused(cell):
    fn = cell("def arm(kernel, module, hit):\n    nl.exercises.live._arm_bad_copy(kernel, module, hit)")
    assert "raised SwitchedOff" in str(_results(fn)["copies"])
    with pytest.raises(NotYourOwn, match="fault type WILD_COPY: arm: it is None"):
        FaultType.graded("WILD_COPY", None)
