"""Notebook 02's direct checks: the right page table and write check agree on every case, and each
plausible mistake disagrees where its rule is tried, with the case that shows it."""
from __future__ import annotations

import pytest

from nookslab.exercises import (domain_probe, null_domain, page_table_cases, stack_end_line,
                                write_check_limits, write_check_pages)
from nookslab.graded import NotYourOwn
from nookslab.nooks.hooks import NooksHooks

RIGHT_TABLE = "def table(kernel_flags):\n    return kernel_flags & PRESENT"
RIGHT_CHECK = """
def can_write(writable, addr, length):
    if length <= 0:
        return True
    if addr <= 0 or addr + length - 1 > 0xFFFFFFFF:
        return False
    return bool(writable[addr >> PAGE_SHIFT:((addr + length - 1) >> PAGE_SHIFT) + 1].all())
"""


def test_the_right_page_table_agrees_and_a_present_when_any_bit_one_does_not(cell):
    assert str(page_table_cases(NooksHooks.graded(page_table=cell(RIGHT_TABLE)), seed=2)) == \
        "page tables: 8 of 8 cases agree"
    wrong = cell("def table(kernel_flags):\n    return np.where(kernel_flags > 0, PRESENT, 0)")
    shown = str(page_table_cases(NooksHooks.graded(page_table=wrong), seed=2))
    assert "first disagreement" in shown and "kernel flags WRITE (not present): expected 0 " \
                                              "(unmapped), got PRESENT" in shown


def test_a_table_of_the_wrong_shape_is_named_as_such(cell):
    short = cell("def table(kernel_flags):\n    return kernel_flags[:10] & PRESENT")
    assert "got shape (10,)" in str(page_table_cases(NooksHooks.graded(page_table=short)))


def test_the_live_probe_shows_kernel_pages_read_only_to_the_domain(cell):
    k, d = null_domain(hooks=NooksHooks.graded(page_table=cell(RIGHT_TABLE)))
    assert domain_probe(k, d) == ("domain null: kernel heap read ok, write faults | unmapped page "
                                  "read faults | own stack write ok")
    k, d = null_domain(hooks=NooksHooks(page_table=lambda f: f))
    assert "kernel heap read ok, write ok" in domain_probe(k, d)


@pytest.mark.parametrize("rule, source, fails", [
    ("no length rule", "if addr <= 0 or addr + length - 1 > 0xFFFFFFFF:\n        return False\n"
                       "    return bool(writable[addr >> PAGE_SHIFT:((addr + length - 1) >> "
                       "PAGE_SHIFT) + 1].all())", ("limits",)),
    ("no address range", "if length <= 0:\n        return True\n    return bool(writable[addr >> "
                         "PAGE_SHIFT:((addr + length - 1) >> PAGE_SHIFT) + 1].all())", ("limits",)),
    ("first page only", "return length <= 0 or (addr > 0 and bool(writable[addr >> PAGE_SHIFT]))",
     ("limits", "pages")),
    ("first and last pages", "if length <= 0:\n        return True\n    if addr <= 0 or addr + "
                             "length - 1 > 0xFFFFFFFF:\n        return False\n    return bool("
                             "writable[addr >> PAGE_SHIFT] and writable[(addr + length - 1) >> "
                             "PAGE_SHIFT])", ("pages",)),
    ("one past the end", "if length <= 0:\n        return True\n    if addr <= 0 or addr + length "
                         "> 0xFFFFFFFF:\n        return False\n    return bool(writable[addr >> "
                         "PAGE_SHIFT:((addr + length) >> PAGE_SHIFT) + 1].all())",
     ("limits", "pages")),
])
def test_each_mistake_in_the_write_check_fails_the_check_of_its_rule(cell, rule, source, fails):
    hooks = NooksHooks.graded(write_check=cell("def can_write(writable, addr, length):\n    "
                                               + source))
    results = {"limits": write_check_limits(hooks, seed=3), "pages": write_check_pages(hooks, seed=4)}
    assert {name for name, r in results.items() if not r.ok} == set(fails), rule
    right = NooksHooks.graded(write_check=cell(RIGHT_CHECK))
    assert write_check_limits(right, seed=3).ok and write_check_pages(right, seed=4).ok


def test_a_delegating_write_check_is_switched_off_and_a_none_hook_refused(cell):
    hooks = NooksHooks.graded(write_check=cell(
        "def can_write(writable, addr, length):\n    return nl.nooks.domain.may_write(writable, "
        "addr, length)"))
    shown = str(write_check_limits(hooks, seed=3))
    assert "0 of 38 cases agree (38 raised SwitchedOff)" in shown
    assert "the package's own write check is switched off while grading" in shown
    with pytest.raises(NotYourOwn, match="write_check hook: it is None"):
        NooksHooks.graded(write_check=None)


def test_the_stack_end_line_is_the_domains_own_answer(cell):
    _, d = null_domain(hooks=NooksHooks.graded(write_check=cell(RIGHT_CHECK)))
    assert stack_end_line(d) == ("last 4 bytes of the stack: True | 8 bytes across its end: False "
                                 "| nothing at address 0: True")
