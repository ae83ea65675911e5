"""Grading mode: a student's part of the mechanism runs with the package's own version switched off.

The graded notebooks ask for real parts of Nooks -- a domain's page table, its write check, the
batching of deferred calls, a wrapper's buffer checks, the tracker's garbage collection, the
recovery policy, a fault type, a term of the cost model -- and plug them in through one explicit
parameter (:class:`~nookslab.nooks.hooks.NooksHooks`, :class:`~nookslab.faults.types.FaultType`,
``CostModel(tlb_term=...)``). The package has its own version of each part, which an answer could
simply call. The check cells therefore build those parameters in *grading mode*
(``NooksHooks.graded(write_check=fn)``, ``FaultType.graded(name, arm)``,
``CostModel.graded(tlb_term=fn)``), which does two things:

1. it refuses a part that is not the student's own function (:func:`student_part`): ``None``
   (which would mean "the package's own"), a function of the package, a builtin, a
   ``functools.partial`` or a bound method, or anything that is not a function defined in the
   notebook. What is checked, exactly: the part is a plain Python function (``def`` or
   ``lambda``), its module is ``__main__`` (the notebook) and its code was not compiled from a
   file of the nookslab package;
2. while the student's function runs, the package's own version of that part is switched off:
   each one starts with :func:`own`, which raises :class:`SwitchedOff` ("the package's own write
   check is switched off while grading") instead of answering. A student function that calls the
   package's version -- directly, through a wrapper of its own, or by booting a kernel of its own
   whose domains would use it -- fails its checks with that message. Prints from the student's
   function are not shown while it runs under the checks (a debug print must not change what a
   check prints).

Outside a student's function nothing is switched off: the kernel, the checks' reference answers
and every other notebook cell use the package's versions as usual.

Which parts are switched off is the one piece of state here, kept inside a closure rather than
as a module global (the parts that receive a student's function receive no kernel to hold it): a
:class:`contextvars.ContextVar` for the calling thread, and a process-wide count of the student
functions running, so a thread a student's function starts cannot call the package's own part
either.
"""
from __future__ import annotations

import io
import os
import threading
import types
from contextlib import redirect_stdout
from contextvars import ContextVar

#: The graded parts and how a message names the package's own version of each.
PARTS: dict[str, str] = {
    "page_table": "page-table build",
    "write_check": "write check",
    "batch": "deferred-call batching",
    "buffer_check": "wrapper buffer check",
    "collect": "object tracker's garbage collection",
    "policy": "recovery policy",
    "fault": "fault injector",
    "tlb_term": "TLB refill term",
}

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


class SwitchedOff(RuntimeError):
    """The package's own version of a graded part was called while a student's version ran."""

    def __init__(self, part: str):
        self.part = part
        super().__init__(f"the package's own {PARTS[part]} is switched off while grading: "
                         f"your {part} must do the work itself, not call it")


class NotYourOwn(ValueError):
    """A graded part that is not a function the student defined in the notebook."""


class _Discard(io.TextIOBase):
    """A stdout that drops what a student's function prints while the checks call it."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return len(text)


def _switch():
    off: ContextVar[frozenset] = ContextVar("nookslab_graded_off", default=frozenset())
    # ...and process-wide: a thread the student's function starts begins with an empty context,
    # so the ContextVar alone would let that thread call the package's own version
    running: dict[str, int] = {}          # part -> student functions running it; empty if none
    lock = threading.Lock()
    sink = _Discard()

    def switched_off(part: str) -> bool:
        """Whether the package's own ``part`` is switched off here and now."""
        return (part in running) or (part in off.get())

    def own(part: str) -> None:
        """Called first by the package's own version of ``part``: raises :class:`SwitchedOff`
        while a student's version of ``part`` is running under the checks (in any thread)."""
        if switched_off(part):
            raise SwitchedOff(part)

    def run(part: str, fn, args, kwargs, settle):
        token = off.set(off.get() | {part})
        with lock:
            running[part] = running.get(part, 0) + 1
        try:
            with redirect_stdout(sink):
                value = fn(*args, **kwargs)
                return value if settle is None else settle(value)
        finally:
            with lock:
                if running[part] == 1:
                    del running[part]
                else:
                    running[part] -= 1
            off.reset(token)

    return own, switched_off, run


own, switched_off, _run = _switch()


def _check_part(part: str) -> str:
    if part not in PARTS:
        raise ValueError(f"unknown graded part {part!r}: choose one of {', '.join(PARTS)}")
    return part


def why_not_own(fn) -> str | None:
    """Why ``fn`` is not a function the student defined in the notebook, or None if it is."""
    if fn is None:
        return "it is None (which would mean the package's own)"
    if not isinstance(fn, types.FunctionType):       # builtins, partials, methods, classes
        return (f"it is a {type(fn).__name__}, not a function defined with def (or lambda) "
                "in the notebook")
    module = getattr(fn, "__module__", None)
    if module != "__main__":
        return f"it is {module}.{fn.__qualname__}, not a function defined in the notebook"
    if os.path.abspath(fn.__code__.co_filename).startswith(_PACKAGE_DIR):
        return f"its code comes from the nookslab package ({fn.__code__.co_filename})"
    return None


class GradedPart:
    """A student's function for graded ``part``, called with the package's own version switched
    off. ``settle(value)``, if given, turns what it returned into plain data (a bool, an int,
    lists) while the package's version is still off: an answer cannot hand back an object whose
    methods call the package later, when the kernel reads it."""

    __slots__ = ("part", "fn", "label", "settle")

    def __init__(self, part: str, fn, label: str, settle=None):
        self.part, self.fn, self.label, self.settle = part, fn, label, settle

    def __call__(self, *args, **kwargs):
        return _run(self.part, self.fn, args, kwargs, self.settle)

    @property
    def __name__(self) -> str:          # so a recovery record names the student's function
        return getattr(self.fn, "__name__", self.label)

    def __repr__(self) -> str:
        return f"<graded {self.part}: {getattr(self.fn, '__qualname__', self.fn)!r}>"


def student_part(part: str, fn, *, label: str | None = None, settle=None) -> GradedPart:
    """``fn`` as the student's graded ``part``, or :class:`NotYourOwn` saying why it is not one.

    Parameters
    ----------
    part : str
        One of :data:`PARTS`.
    fn : callable
        What the answer cell defined. A :class:`GradedPart` of the same part is returned as is.
    label : str, optional
        How the message names ``fn`` (default: ``"the <part> hook"``).
    settle : callable, optional
        Applied to each result while the package's version is still off (see
        :class:`GradedPart`); it raises ``TypeError`` for a result of the wrong shape.
    """
    _check_part(part)
    if isinstance(fn, GradedPart) and fn.part == part:
        return fn
    label = label or f"the {part} hook"
    reason = why_not_own(fn)
    if reason is not None:
        raise NotYourOwn(f"{label}: {reason}. While grading, the package's own {PARTS[part]} "
                         f"is switched off: plug in a function you wrote in the notebook.")
    return GradedPart(part, fn, label, settle)


__all__ = ["GradedPart", "NotYourOwn", "PARTS", "SwitchedOff", "own", "student_part",
           "switched_off", "why_not_own"]
