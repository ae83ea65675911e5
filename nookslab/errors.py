"""Errors for bad input, shared by every part of the package.

A bad argument from a user (an unknown mode, driver, workload or fault type, a bad count) is a
``ValueError`` whose message names the bad value and the valid choices (DESIGN.md section 4).
"""
from __future__ import annotations

from typing import Iterable


def choose(value, valid: Iterable, what: str):
    """Return ``value`` if it is one of ``valid``, else raise a ValueError naming the choices."""
    choices = tuple(valid)
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"unknown {what} {value!r}: choose one of {listed}")
    return value


def positive_int(value, what: str, low: int = 1, high: int | None = None) -> int:
    """Return ``value`` as an int if ``low <= value <= high``, else raise a clear ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int,)) and not hasattr(value, "__index__"):
        raise ValueError(f"{what} must be a whole number, got {value!r}")
    number = int(value)
    if number < low or (high is not None and number > high):
        bound = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise ValueError(f"{what} must be {bound}, got {number}")
    return number
