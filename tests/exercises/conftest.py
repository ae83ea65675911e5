"""Answers for the direct checks, written as a notebook would define them."""
from __future__ import annotations

import numpy as np
import pytest

import nookslab as nl
from nookslab.machine.memory import PAGE_SHIFT, PAGE_SIZE
from nookslab.machine.mmu import PRESENT, WRITE


def notebook(source: str, **names) -> dict:
    """Run ``source`` as a notebook cell would (module ``__main__``); return its namespace."""
    ns = {"__name__": "__main__", "np": np, "nl": nl, "PRESENT": PRESENT, "WRITE": WRITE,
          "PAGE_SHIFT": PAGE_SHIFT, "PAGE_SIZE": PAGE_SIZE, **names}
    exec(compile(source, "<notebook cell>", "exec"), ns)
    return ns


@pytest.fixture
def cell():
    """``cell(source, **names)``: the function the source defines last, as a notebook has it."""
    def define(source: str, **names):
        ns = notebook(source, **names)
        name = source.split("def ", 1)[1].split("(", 1)[0] if "def " in source else None
        return ns[name] if name else ns
    return define
