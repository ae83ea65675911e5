"""Seeded cases for the direct checks: a student's function against the exercise's specification.

Each graded exercise has, beside its end-to-end run in the live simulation, direct checks on cases
drawn from its specification: boundaries, empty and oversized inputs, every mode of the interface.
The cases are generated from an explicit seed, and many of them, so an answer written for the few
inputs a check happens to try cannot match them. :func:`agree` runs the student's function on
each case and returns an :class:`Agreement`, which prints one stable summary line
(``write check, page boundaries: 40 of 40 cases agree``, with how many cases raised which
exception, if any) and, only when something disagrees, the first disagreement, to tell the
student which behaviour is missing.

The expected answers come from the exercise's specification written once in the package (each
notebook's module here). Those references count as the package's own version of the graded part:
while the student's function runs they are switched off like the rest (:mod:`nookslab.graded`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from ..graded import GradedPart


@dataclass(frozen=True)
class Case:
    """One case: the arguments, the right answer, and how a message names it.

    ``call`` reads like the call (``can_write(writable, 0x00001ffc, 8)``); ``about`` says which
    rule of the specification it tries (``crosses into a page the domain may not write``).
    """

    call: str
    args: tuple
    expected: object
    about: str = ""


@dataclass(frozen=True)
class Agreement:
    """How many cases a student's function got right, and the first it got wrong."""

    what: str
    agreed: int
    total: int
    first: str = ""
    raised: int = 0
    error: str = ""
    setting: str = ""           # a constant the cases were run with (``BATCH_LIMIT 8``)

    @property
    def ok(self) -> bool:
        return self.agreed == self.total and self.total > 0

    def __str__(self) -> str:
        setting = f", {self.setting}" if self.setting else ""
        line = f"{self.what}{setting}: {self.agreed} of {self.total} cases agree"
        if self.raised:
            line += f" ({self.raised} raised {self.error})"
        return line if not self.first else line + "\nfirst disagreement: " + self.first


def together(results) -> Agreement:
    """Several agreements of one check (the same cases under other settings of a notebook
    constant) as one: one summary line, the first disagreement of any."""
    results = list(results)
    if not results:
        raise ValueError("together() needs at least one Agreement")
    settings = [r.setting for r in results if r.setting]
    first = next((r for r in results if r.first), None)
    error = next((r.error for r in results if r.error), "")
    return Agreement(results[0].what, sum(r.agreed for r in results),
                     sum(r.total for r in results),
                     f"[{first.setting}] {first.first}" if first and first.setting else
                     (first.first if first else ""),
                     sum(r.raised for r in results), error, _join(settings))


def _join(settings: list[str]) -> str:
    """``BATCH_LIMIT 1``, ``BATCH_LIMIT 2`` -> ``BATCH_LIMIT 1, 2``."""
    if not settings:
        return ""
    heads = {s.rsplit(" ", 1)[0] for s in settings}
    if len(heads) == 1 and all(" " in s for s in settings):
        return f"{heads.pop()} {', '.join(s.rsplit(' ', 1)[1] for s in settings)}"
    return f"{len(settings)} settings of the notebook's constants"


class Raised:
    """What a student's function raised, as a value a case can show."""

    def __init__(self, exc: Exception):
        self.exc = exc

    def __repr__(self) -> str:
        return f"raised {type(self.exc).__name__}: {self.exc}"


def call(fn: Callable, args: tuple):
    """``fn(*args)``, or :class:`Raised` when it raises (a timeout or interrupt still stops it)."""
    try:
        return fn(*args)
    except Exception as exc:                                   # noqa: BLE001 - shown to the student
        return Raised(exc)


def agree(what: str, fn: Callable, cases: Iterable[Case],
          judge: Callable | None = None, show: Callable = repr, setting: str = "") -> Agreement:
    """Run ``fn`` on every case and compare with the expected answers.

    Parameters
    ----------
    what : str
        The summary line's label.
    fn : callable
        Calls the student's function, as a :class:`~nookslab.graded.GradedPart` (so the
        package's own version is switched off while it runs): see :func:`graded_part`.
    cases : iterable of Case
    judge : callable, optional
        ``judge(case, got) -> str | None``: what is wrong with ``got`` (``"expected ..., got
        ..."``), or None when it is right. Default: ``got == case.expected``, shown with ``show``.
    show : callable
        How the default judge prints an answer.
    setting : str
        The notebook constant the cases assume (``"BATCH_LIMIT 8"``), if any.
    """
    cases = list(cases)
    agreed, first, raised, error = 0, "", 0, ""
    for case in cases:
        got = call(fn, case.args)
        if isinstance(got, Raised):
            raised += 1
            error = error or type(got.exc).__name__
            shown = show(case.expected)
            wrong = (f"expected {shown}, got " if shown else "") + repr(got)
        elif judge is not None:
            try:
                wrong = judge(case, got)
            except Exception as exc:                           # noqa: BLE001 - an odd answer
                wrong = f"got {short(got)}, which the check cannot read ({type(exc).__name__}: {exc})"
        else:
            wrong = None if _same(got, case.expected) else \
                f"expected {show(case.expected)}, got {show(got)}"
        if wrong is None:
            agreed += 1
        elif not first:
            about = f" ({case.about})" if case.about else ""
            first = f"{case.call}{about}: {wrong}"
    return Agreement(what, agreed, len(cases), first, raised, error, setting)


def _same(got, expected) -> bool:
    if isinstance(got, Raised):
        return False
    try:
        return bool(got == expected)
    except Exception:                                          # noqa: BLE001 - an odd value
        return False


def graded_part(hooks, name: str) -> GradedPart:
    """The student's graded ``name`` part of ``hooks`` (built with ``NooksHooks.graded``)."""
    part = getattr(hooks, name, None)
    if not isinstance(part, GradedPart):
        raise TypeError(f"the checks take NooksHooks.graded({name}=your_function), got {hooks!r}")
    return part


def short(value, width: int = 160) -> str:
    """``repr(value)`` cut to ``width`` characters (a student's function may return anything)."""
    text = repr(value)
    return text if len(text) <= width else text[:width - 3] + "..."


__all__ = ["Agreement", "Case", "Raised", "agree", "call", "graded_part", "short", "together"]
