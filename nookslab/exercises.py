"""Checks for the graded notebooks: a student's function against the package's own, on seeded cases.

Student code enters only through these explicit parameters (STYLE.md, "Notebooks"); nothing here
patches the package. Each ``check_*`` builds a fresh kernel from ``seed``, draws cases from it,
calls the student's function and the package's mechanism on the same input, and returns a
:class:`CheckResult` whose one-line ``repr`` is stable (the grader compares it with nbval).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .kernel import boot
from .machine.memory import ADDRESS_MASK, PAGE_SHIFT, PAGE_SIZE


@dataclass(frozen=True)
class CheckResult:
    """How many seeded cases agreed, and the first that did not."""
    name: str
    cases: int
    agreed: int
    first_difference: str = ""

    @property
    def ok(self) -> bool:
        return self.agreed == self.cases

    def __repr__(self) -> str:
        line = f"{self.name}: {self.agreed}/{self.cases} cases agree"
        return line if self.ok else f"{line}; first difference: {self.first_difference}"


def null_domain(seed: int = 0):
    """A kernel booted under Nooks with the null driver loaded, and the driver's domain."""
    k = boot("nooks", seed=seed)
    k.load("null")
    return k, k.isolation.domains["null"]


def _addresses(k, domain, rng, cases: int) -> list[tuple[int, int]]:
    """Writes worth testing: the domain's stacks and heap, kernel memory, page edges, nonsense."""
    inside = [domain.stacks[0], domain.stacks[-1], domain.kmalloc(256, owner="check")]
    outside = [k.heap.kmalloc(256) if hasattr(k.heap, "kmalloc") else PAGE_SIZE * 5, PAGE_SIZE]
    picks = []
    for _ in range(cases):
        kind = int(rng.integers(5))
        if kind == 0:
            base = inside[int(rng.integers(len(inside)))]
            picks.append((base + int(rng.integers(0, 2 * PAGE_SIZE)), int(rng.integers(1, 64))))
        elif kind == 1:
            picks.append((outside[int(rng.integers(len(outside)))] + int(rng.integers(64)),
                          int(rng.integers(1, 16))))
        elif kind == 2:  # straddling a page edge
            base = inside[int(rng.integers(len(inside)))]
            edge = ((base >> PAGE_SHIFT) + int(rng.integers(1, 4))) << PAGE_SHIFT
            picks.append((edge - int(rng.integers(1, 8)), int(rng.integers(1, 16))))
        elif kind == 3:  # odd lengths and addresses
            picks.append((int(rng.choice([0, -4, ADDRESS_MASK - 2, ADDRESS_MASK + 1])),
                          int(rng.choice([0, -1, 1, 4]))))
        else:
            picks.append((int(rng.integers(0, ADDRESS_MASK)), int(rng.integers(1, 3 * PAGE_SIZE))))
    return picks


def check_page_span(fn, seed: int = 0, cases: int = 200) -> CheckResult:
    """Compare ``fn(addr, length) -> (first_page, last_page)`` with the domain's own page span."""
    from .nooks.domain import _pages
    k, domain = null_domain(seed)
    rng = np.random.default_rng(seed)
    agreed, first = 0, ""
    for addr, length in _addresses(k, domain, rng, cases):
        if addr <= 0 or length <= 0 or addr + length - 1 > ADDRESS_MASK:
            agreed += 1  # outside the function's contract: not asked
            continue
        want, got = _pages(addr, length), fn(addr, length)
        if tuple(got) == want if isinstance(got, (tuple, list)) else False:
            agreed += 1
        elif not first:
            first = f"page_span({addr:#x}, {length}) gave {got!r}, expected {want!r}"
    return CheckResult("page_span", cases, agreed, first)


def check_write_check(fn, seed: int = 0, cases: int = 200) -> CheckResult:
    """Compare ``fn(writable, addr, length) -> bool`` with ``ProtectionDomain.can_write``.

    ``writable`` is the domain's per-page boolean array (a read-only view).
    """
    k, domain = null_domain(seed)
    rng = np.random.default_rng(seed)
    view = domain.writable.view()
    view.flags.writeable = False
    agreed, first = 0, ""
    for addr, length in _addresses(k, domain, rng, cases):
        want = domain.can_write(addr, length)
        got = fn(view, addr, length)
        if isinstance(got, (bool, np.bool_)) and bool(got) == want:
            agreed += 1
        elif not first:
            first = f"can_write({addr:#x}, {length}) gave {got!r}, expected {want!r}"
    return CheckResult("write check", cases, agreed, first)


def check_crossings(fn, seed: int = 0, runs: tuple[float, ...] = (0.001, 0.002, 0.004)) -> CheckResult:
    """Compare ``fn(events) -> (to_driver, to_kernel)`` with the XPC engine's own counters.

    ``events`` is the kernel's trace after a short null-io run under Nooks.
    """
    agreed, first = 0, ""
    for i, seconds in enumerate(runs):
        k, _ = null_domain(seed + i)
        k.run("null-io", seconds=seconds)
        engine = k.isolation.xpc
        want = (engine.to_driver, engine.to_kernel)
        got = fn(list(k.events))
        if isinstance(got, (tuple, list)) and tuple(got) == want:
            agreed += 1
        elif not first:
            first = f"run of {seconds} s: gave {got!r}, expected {want!r}"
    return CheckResult("crossings", len(runs), agreed, first)


def _wrapped_names(events) -> list[str]:
    names = {e.detail.replace("<- ", "").replace(" ->", "") for e in events if e.kind == "xpc"}
    return sorted(names)


def check_wrapped_calls(fn, seed: int = 0, runs: tuple[float, ...] = (0.0, 0.001, 0.003)) -> CheckResult:
    """Compare ``fn(events) -> sorted list of wrapped call names`` with the trace's own."""
    agreed, first = 0, ""
    for i, seconds in enumerate(runs):
        k, _ = null_domain(seed + i)
        if seconds:
            k.run("null-io", seconds=seconds)
        want, got = _wrapped_names(list(k.events)), fn(list(k.events))
        if isinstance(got, list) and got == want:
            agreed += 1
        elif not first:
            first = f"run of {seconds} s: {len(want)} names expected, got {got!r:.80}"
    return CheckResult("wrapped calls", len(runs), agreed, first)


def check_outcome_counts(fn, seed: int = 0, trials: int = 6) -> CheckResult:
    """Compare ``fn(trials) -> {outcome: count}`` with a count of seeded null-driver trials."""
    from collections import Counter

    from .faults import run_trial
    agreed, first = 0, ""
    for mode in ("native", "nooks"):
        results = [run_trial("null", mode, seed=seed + i, faults_per_trial=1) for i in range(trials)]
        want = dict(Counter(r.outcome for r in results))
        got = fn(results)
        if isinstance(got, dict) and got == want:
            agreed += 1
        elif not first:
            first = f"{mode}: gave {got!r}, expected {want!r}"
    return CheckResult("outcome counts", 2, agreed, first)


def check_xpc_cost(fn, names: tuple[str, ...] = ("paper", "tagged-tlb", "pkey", "3.4GHz")) -> CheckResult:
    """Compare ``fn(cost) -> cycles`` with ``CostModel.xpc_cost`` for some named what-ifs."""
    from .machine.costs import WHAT_IFS, CostModel
    agreed, first = 0, ""
    names = tuple(n for n in names if n in WHAT_IFS)
    for name in names:
        model = CostModel().what_if(name)
        want, got = model.xpc_cost, fn(model)
        if got == want:
            agreed += 1
        elif not first:
            first = f"what-if {name}: gave {got!r}, expected {want!r}"
    return CheckResult("xpc cost", len(names), agreed, first)


__all__ = ["CheckResult", "check_crossings", "check_outcome_counts", "check_page_span",
           "check_wrapped_calls", "check_write_check", "check_xpc_cost", "null_domain"]
