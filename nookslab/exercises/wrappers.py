"""Checks of notebook 04 (wrappers): a wrapper generator's buffer checks.

The checks generate interface descriptions the student's generator has never seen -- functions
with made-up names, arguments of every kind, buffers of every mode, lengths from a constant or
from another argument, calls with trailing arguments absent -- and call the check it builds
against a stand-in domain with three kinds of memory: pages the domain may write (and read), pages
it may only read (the kernel's), and unmapped pages. :func:`_reference_check` is the exercise's
specification (switched off while the student's code runs, like the package's own checks).
"""
from __future__ import annotations

import numpy as np

from ..graded import own
from ..kernel.symbols import Arg, Export
from .cases import Agreement, Case, agree, graded_part, short

PAGE = 4096
#: Where the stand-in domain's memory lies (page numbers): writable, read-only, unmapped.
_WRITABLE, _READ_ONLY, _UNMAPPED = range(0x400, 0x410), range(0x410, 0x420), range(0x420, 0x430)
_MODES = ("in", "out", "inout")
_SYLLABLES = ("ra", "ko", "vi", "tel", "mun", "dro", "sa", "pex", "lu", "gor", "ni", "bast")
_VERBS = ("read", "write", "fill", "copy", "peek", "poke", "load", "store", "xfer", "sync")


class CheckDomain:
    """A stand-in protection domain for the checks: ``can_read`` and ``can_write`` over three
    regions (what a real domain answers, from its page table and writable pages)."""

    name = "checks"

    @staticmethod
    def _pages(addr: int, n: int) -> range:
        return range(addr // PAGE, (addr + n - 1) // PAGE + 1)

    def can_read(self, addr: int, n: int) -> bool:
        if n <= 0:
            return True
        return addr > 0 and all(p in _WRITABLE or p in _READ_ONLY for p in self._pages(addr, n))

    def can_write(self, addr: int, n: int) -> bool:
        if n <= 0:
            return True
        return addr > 0 and all(p in _WRITABLE for p in self._pages(addr, n))

    def __repr__(self) -> str:
        return "<domain checks>"


def _reference_check(spec: Export, args: tuple, domain) -> bool:
    """Whether the exercise's specification refuses ``args``."""
    own("buffer_check")
    names = [a.name for a in spec.args]
    for i, a in enumerate(spec.args):
        if a.kind != "buffer" or i >= len(args):
            continue
        if isinstance(a.length, int):
            n = a.length
        else:
            j = names.index(a.length) if a.length in names else len(args)
            n = args[j] if j < len(args) else None
        if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
            continue
        if not (domain.can_read(args[i], n) if a.mode == "in" else domain.can_write(args[i], n)):
            return True
    return False


def describe(spec: Export) -> str:
    """A spec in one line: ``name(dst: out buffer[len], len: scalar)``."""
    parts = []
    for a in spec.args:
        if a.kind == "buffer":
            parts.append(f"{a.name}: {a.mode} buffer[{a.length}]")
        else:
            parts.append(f"{a.name}: {a.kind}")
    return f"{spec.name}({', '.join(parts)})"


def names_of(spec: Export) -> list[str]:
    return [a.name for a in spec.args]


def _name(rng) -> str:
    stem = "".join(_SYLLABLES[int(i)] for i in rng.integers(0, len(_SYLLABLES), 2))
    return f"{stem}_{_VERBS[int(rng.integers(0, len(_VERBS)))]}"


def _where(kind: str, rng, n: int = 8) -> int:
    """An address in memory of ``kind``, with room for ``n`` bytes before the region's end."""
    region = {"writable": _WRITABLE, "read-only": _READ_ONLY, "unmapped": _UNMAPPED}[kind]
    start, end = region.start * PAGE, region.stop * PAGE
    return int(rng.integers(start, max(end - max(n, 1), start + 1)))


def _other(kind: str, rng):
    """A value for a non-buffer argument of ``kind``."""
    if kind == "scalar":
        return int(rng.integers(-4, 1 << 16))
    if kind == "object":
        return _where(("writable", "read-only", "unmapped")[int(rng.integers(0, 3))], rng)
    return None if rng.integers(0, 2) else f"<{kind}>"


def _judge(case: Case, got) -> str | None:
    refused = case.expected
    if got is None:
        return None if not refused else "expected a refusal (a message), got None: let through"
    if isinstance(got, str) and got:
        return None if refused else f"expected None (let through), got a refusal: {short(got)}"
    return f"expected None or a message, got {short(got)}"


def _show(refused: bool) -> str:
    return "a refusal" if refused else "None"


def _caller(builder):
    def run(spec, args, domain):
        check = builder(spec)                 # checked and switched off as the builder is
        return check(args, domain)
    return run


def _case(spec: Export, args: tuple, about: str = "") -> Case:
    shown = ", ".join(f"{v:#010x}" if isinstance(v, int) and v > 0xFFFF else short(v)
                      for v in args)
    return Case(f"check for {describe(spec)} with args ({shown})", (spec, args, CheckDomain()),
                _reference_check(spec, args, CheckDomain()), about)


def buffer_modes(hooks, seed: int = 0) -> Agreement:
    """One buffer of each mode in each kind of memory: ``in`` buffers must be readable,
    ``out`` and ``inout`` buffers writable (lengths from a constant here)."""
    builder = graded_part(hooks, "buffer_check")
    rng = np.random.default_rng(seed)
    cases = []
    for mode in _MODES:
        for kind in ("writable", "read-only", "unmapped"):
            for _ in range(2):
                n = int(rng.integers(1, 256))
                before = [Arg(f"a{i}") for i in range(int(rng.integers(0, 3)))]
                spec = Export(_name(rng), tuple(before + [Arg("buf", "buffer", mode=mode,
                                                               length=n)]))
                args = tuple(_other("scalar", rng) for _ in before) + (_where(kind, rng, n),)
                cases.append(_case(spec, args, f"{mode} buffer in {kind} memory"))
    return agree("buffer checks, modes", _caller(builder), cases, judge=_judge, show=_show)


def buffer_lengths(hooks, seed: int = 0) -> Agreement:
    """Lengths from a constant and from another argument (before or after the buffer); a
    buffer running from writable into read-only memory; zero, negative and absent lengths
    (not checked: nothing is copied)."""
    builder = graded_part(hooks, "buffer_check")
    rng = np.random.default_rng(seed)
    edge = _WRITABLE.stop * PAGE                       # the first read-only byte
    cases = []
    for mode in ("out", "inout", "in"):
        bad = "unmapped" if mode == "in" else "read-only"
        for length_first in (False, True):
            n = int(rng.integers(16, 2 * PAGE))
            buf = Arg("dst" if mode != "in" else "src", "buffer", mode=mode, length="count")
            cnt = Arg("count")
            spec = Export(_name(rng), (cnt, buf) if length_first else (buf, cnt))

            def args(ptr, count, spec=spec):
                return (count, ptr) if spec.args[0].name == "count" else (ptr, count)
            across = edge - 8 if mode != "in" else _UNMAPPED.start * PAGE - 8
            cases += [_case(spec, args(_where("writable", rng, n), n), "length from an argument"),
                      _case(spec, args(across, n), "the named length runs into memory it may "
                                                   "not " + ("read" if mode == "in" else "write")),
                      _case(spec, args(across, 8), "ends exactly where that memory starts"),
                      _case(spec, args(_where(bad, rng), 0), "a length of 0"),
                      _case(spec, args(_where(bad, rng), -int(rng.integers(1, 4096))),
                            "a negative length"),
                      _case(spec, args(_where(bad, rng), None), "a length that is not a number")]
            if not length_first:
                cases.append(_case(spec, (_where(bad, rng),), "the length argument is absent"))
        const = int(rng.integers(PAGE, 3 * PAGE))
        spec = Export(_name(rng), (Arg("p", "buffer", mode=mode, length=const), Arg("flags")))
        cases += [_case(spec, (edge - const + 1 if mode != "in" else
                               _UNMAPPED.start * PAGE - const + 1, 0), "a constant length, one "
                                                                        "byte too far"),
                  _case(spec, (edge - const if mode != "in" else
                               _UNMAPPED.start * PAGE - const, 0), "a constant length, ending "
                                                                   "at the boundary")]
    return agree("buffer checks, lengths", _caller(builder), cases, judge=_judge, show=_show)


def buffer_interfaces(hooks, seed: int = 0, count: int = 40) -> Agreement:
    """Random interfaces of functions never named before: up to six arguments of every kind,
    several buffers each, lengths from constants or other arguments, some trailing arguments
    absent from the call."""
    builder = graded_part(hooks, "buffer_check")
    rng = np.random.default_rng(seed)
    kinds = ("scalar", "object", "buffer", "callback", "ops", "data")
    cases = []
    for _ in range(count):
        n_args = int(rng.integers(1, 7))
        args_spec = []
        for i in range(n_args):
            kind = kinds[int(rng.integers(0, len(kinds)))] if rng.random() < 0.6 else "buffer"
            if kind != "buffer":
                args_spec.append(Arg(f"x{i}", kind, mode=_MODES[int(rng.integers(0, 3))]))
                continue
            scalars = [a.name for a in args_spec if a.kind == "scalar"]
            length = (scalars[int(rng.integers(0, len(scalars)))] if scalars and rng.integers(0, 2)
                      else int(rng.integers(1, 3 * PAGE)))
            args_spec.append(Arg(f"b{i}", "buffer", mode=_MODES[int(rng.integers(0, 3))],
                                 length=length))
        spec = Export(_name(rng), tuple(args_spec))
        buffers = [i for i, a in enumerate(spec.args) if a.kind == "buffer"]
        odd = buffers[int(rng.integers(0, len(buffers)))] if buffers and rng.random() < 0.7 else -1
        values = [int(rng.integers(-8, 2 * PAGE)) if a.kind == "scalar" else
                  None if a.kind == "buffer" else _other(a.kind, rng) for a in spec.args]
        for i in buffers:
            a = spec.args[i]
            n = a.length if isinstance(a.length, int) else values[names_of(spec).index(a.length)]
            # every buffer where its mode allows it (an in buffer in read-only memory, any
            # other in writable memory), often right at the end of that region so the whole
            # length matters; at most one buffer is wrong: wholly in memory its mode may not
            # use, or one byte past the end of its region
            fine = _READ_ONLY if a.mode == "in" else _WRITABLE
            values[i] = _where("read-only" if a.mode == "in" else "writable", rng, 64)
            if i == odd and (n <= 0 or rng.random() < 0.5):
                values[i] = _where("unmapped" if a.mode == "in" else "read-only", rng, 64)
            elif n > 0 and (i == odd or rng.random() < 0.5):
                values[i] = fine.stop * PAGE - n + (1 if i == odd else 0)
        present = len(values) - int(rng.integers(0, 2)) * int(rng.integers(0, len(values) + 1))
        cases.append(_case(spec, tuple(values[:present])))
    return agree("buffer checks, random interfaces", _caller(builder), cases, judge=_judge,
                 show=_show)


__all__ = ["CheckDomain", "buffer_interfaces", "buffer_lengths", "buffer_modes", "describe"]
