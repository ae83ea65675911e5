"""Faults told for a reader: the injector's edit shown as the driver's own code, never its hook
names or raw parameters."""
from __future__ import annotations

import numpy as np
import pytest

from nookslab.faults import FAULT_TYPES
from nookslab.faults.describe import describe_in, ordinal, ran
from nookslab.faults.injector import generate, sites
from nookslab.faults.types import Fault
from nookslab.kernel.trace import Event

DRIVERS = ("null", "e1000", "vfat", "sb")


def _each_type(extension: str, per_type: int = 3):
    rng = np.random.default_rng(7)
    found = sites(extension)
    for kind in FAULT_TYPES:
        if kind != "HEAP" and not found.get(kind):
            continue
        yield from generate(extension, per_type, rng, types=(kind,))


@pytest.mark.parametrize("extension", DRIVERS)
def test_every_fault_reads_as_code_with_no_hook_names_and_a_visible_change(extension):
    for fault in _each_type(extension):
        change = describe_in(extension, fault)
        text = str(change)
        assert "_nl_fault" not in text and "bit=" not in text and "where=" not in text, text
        if fault.type == "HEAP":
            assert change.before == change.after == ""
            continue
        assert change.title == f"{fault.type} in {fault.function}, line {fault.line}"
        assert change.before and change.after, text
        assert change.after != change.before, text          # the change shows


def test_a_bit_flip_is_an_xor_of_the_flipped_value():
    fault = next(f for f in _each_type("e1000") if f.type == "PTR" and f.node == "BinOp")
    change = describe_in("e1000", fault)
    assert f" ^ {1 << fault.bit:#x})" in change.after
    assert change.what.startswith(f"flips bit {fault.bit} of the offset ")


def test_each_kind_of_edit_is_written_as_what_it_does():
    by_type = {}
    for extension in DRIVERS:
        for fault in _each_type(extension):
            by_type.setdefault(fault.type, (extension, fault))
    said = {t: describe_in(e, f) for t, (e, f) in by_type.items()}
    assert said["LOOP"].after.split(" ", 1)[1].startswith("not ")
    assert said["BRANCH"].after in ("if True:", "if False:", "while True:", "while False:")
    assert said["NOP"].after == "pass"
    assert " + " in said["BCOPY"].after and said["BCOPY"].what.endswith("too many, every call")
    assert said["INTERFACE"].after.startswith(said["INTERFACE"].before + " ")
    assert said["ALLOC"].after.endswith("call") and "NULL" in said["ALLOC"].after
    assert said["HEAP"].what.endswith("ms after the driver is loaded")


def test_the_sentence_gives_counts_as_ordinals():
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101)] == \
        ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st"]


def test_a_fault_ran_only_if_its_hook_recorded_an_activation():
    fault = Fault("PTR", "null_write", 60, 4, 60, 20, "BinOp", bit=3)
    other = Fault("PTR", "null_write", 61, 4, 61, 20, "BinOp", bit=3)
    events = [Event(5, "fault", "null", f"{fault} activated"),
              Event(6, "fault", "null", "fault: unable to handle kernel paging request")]
    assert ran(fault, events) and not ran(other, events)


def test_a_fault_without_source_still_has_a_title_and_a_sentence():
    fault = Fault("PTR", "null_write", 60, 4, 60, 20, "BinOp", bit=3)
    change = describe_in("no-such-driver", fault)
    assert change.title == "PTR in null_write, line 60"
    assert change.before == change.after == ""
    assert change.what.startswith("flips bit 3")
