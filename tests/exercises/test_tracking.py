"""Notebook 05's direct checks: made-up tracked types, the release list and the kept list judged
apart, so feedback says which of the two is wrong."""
from __future__ import annotations

import pytest

from nookslab.exercises import collect_keep, collect_release
from nookslab.nooks.hooks import NooksHooks

RIGHT = ("def collect(objects):\n    new = objects[::-1]\n"
         "    return [o for o in new if not o.type.physical], [o for o in new if o.type.physical]")


def _results(fn):
    hooks = NooksHooks.graded(collect=fn)
    return {"release": collect_release(hooks, seed=1), "keep": collect_keep(hooks, seed=2)}


def test_the_right_collection_agrees_and_sorting_by_seq_is_as_good(cell):
    assert all(r.ok for r in _results(cell(RIGHT)).values())
    by_seq = cell("def collect(objects):\n    new = sorted(objects, key=lambda o: -o.seq)\n"
                  "    return [o for o in new if not o.type.physical], "
                  "[o for o in new if o.type.physical]")
    assert str(_results(by_seq)["release"]) == "released now: 24 of 24 cases agree"


@pytest.mark.parametrize("source, fails, says", [
    ("return objects, []", {"release", "keep"}, "expected release ["),
    ("return ([o for o in objects if not o.type.physical], "
     "[o for o in objects[::-1] if o.type.physical])", {"release"}, "expected release ["),
    ("new = objects[::-1]\n    return ([o for o in new if not o.type.physical], "
     "[o for o in objects if o.type.physical])", {"keep"}, "expected keep ["),
    ("new = objects[::-1]\n    return ([o for o in new if o.type.name not in ('dma', 'iomem')], "
     "[o for o in new if o.type.name in ('dma', 'iomem')])", {"release", "keep"}, "(physical)"),
    ("return nl.nooks.recovery.collect_objects(objects)", {"release", "keep"},
     "raised SwitchedOff"),
    ("return objects[::-1]", {"release", "keep"}, "must return a pair (release, keep)"),
])
def test_each_mistake_fails_the_list_it_gets_wrong(cell, source, fails, says):
    results = _results(cell("def collect(objects):\n    " + source))
    assert {name for name, r in results.items() if not r.ok} == fails
    assert any(says in str(r) for r in results.values()), [str(r) for r in results.values()]
