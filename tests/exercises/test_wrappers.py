"""Notebook 04's direct checks: generated interfaces with made-up names, every mode and length
rule, against a stand-in domain with writable, read-only and unmapped memory."""
from __future__ import annotations

import pytest

from nookslab.exercises import CheckDomain, buffer_interfaces, buffer_lengths, buffer_modes
from nookslab.graded import NotYourOwn
from nookslab.nooks.hooks import NooksHooks

RIGHT = """
def make(spec):
    names = [a.name for a in spec.args]
    def check(args, domain):
        for i, a in enumerate(spec.args):
            if a.kind != "buffer" or i >= len(args):
                continue
            if isinstance(a.length, int):
                n = a.length
            else:
                j = names.index(a.length)
                n = args[j] if j < len(args) else None
            if not isinstance(n, int) or n <= 0:
                continue
            ok = domain.can_read(args[i], n) if a.mode == "in" else domain.can_write(args[i], n)
            if not ok:
                return "refused"
        return None
    return check
"""


def _results(fn):
    hooks = NooksHooks.graded(buffer_check=fn)
    return {"modes": buffer_modes(hooks, seed=1), "lengths": buffer_lengths(hooks, seed=2),
            "interfaces": buffer_interfaces(hooks, seed=3)}


def test_the_stand_in_domain_has_three_kinds_of_memory():
    d = CheckDomain()
    assert (d.can_read(0x400000, 8), d.can_write(0x400000, 8)) == (True, True)
    assert (d.can_read(0x410000, 8), d.can_write(0x410000, 8)) == (True, False)
    assert (d.can_read(0x420000, 8), d.can_write(0x420000, 8)) == (False, False)
    assert d.can_write(0x40fffc, 4) and not d.can_write(0x40fffc, 5)


def test_the_right_generator_agrees_everywhere(cell):
    assert all(r.ok for r in _results(cell(RIGHT)).values())


@pytest.mark.parametrize("mistake, change, fails", [
    ("in buffers unchecked", ('if a.kind != "buffer"', 'if a.kind != "buffer" or a.mode == "in"'),
     {"modes", "lengths", "interfaces"}),
    ("can_write for every mode", ("domain.can_read(args[i], n) if a.mode == \"in\" else ", ""),
     {"modes", "lengths", "interfaces"}),
    ("constant lengths only", ("j = names.index(a.length)\n                n = args[j] if j < "
                               "len(args) else None", "continue"), {"lengths", "interfaces"}),
    ("one byte checked", ("domain.can_write(args[i], n)", "domain.can_write(args[i], 1)"),
     {"lengths", "interfaces"}),
    ("lengths that are not numbers", ("not isinstance(n, int) or n <= 0", "n <= 0"), {"lengths"}),
])
def test_each_mistake_fails_the_checks_of_its_rule(cell, mistake, change, fails):
    old, new = change
    assert old in RIGHT
    results = _results(cell(RIGHT.replace(old, new)))
    assert {name for name, r in results.items() if not r.ok} == fails, mistake


def test_a_check_written_for_copy_from_user_alone_fails_on_functions_never_named(cell):
    fn = cell("def make(spec):\n    def check(args, domain):\n"
              "        if spec.name == 'copy_from_user' and not domain.can_write(args[0], args[2]):\n"
              "            return 'no'\n    return check")
    results = _results(fn)
    assert not any(r.ok for r in results.values())
    assert "buffer[" in results["modes"].first and "copy_from_user" not in results["modes"].first


def test_a_generator_returning_none_or_a_package_check_is_refused(cell):
    shown = str(_results(cell("def make(spec):\n    return None"))["modes"])
    assert "raised NotYourOwn" in shown and "buffer_check returned: it is None" in shown
    delegating = cell("def make(spec):\n    def check(args, domain):\n"
                      "        return nl.exercises.wrappers._reference_check(spec, args, domain)"
                      " and 'no' or None\n    return check")
    assert "raised SwitchedOff" in str(_results(delegating)["modes"])
    with pytest.raises(NotYourOwn):
        NooksHooks.graded(buffer_check=None)
