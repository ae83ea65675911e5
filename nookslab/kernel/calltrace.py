"""Recording the calls between a driver and the kernel, in the native configuration (lesson 01).

Natively nothing stands between a driver and the kernel: the module loader binds each name the
driver imports straight to the kernel's function, and the kernel calls the driver through the
function pointers it registered (ops tables, interrupt handlers, timer functions). To *see* those
calls, :func:`trace_calls` swaps in a linker that binds each import to a small recorder around the
kernel's function, and hands the kernel recorders around the driver's function pointers. The
driver's code is not edited and the simulated machine is not charged for the recording: only
``kernel.events`` grows, by one ``"call"`` event per call, which is why it is opt-in.

Each event's ``detail`` reads like the XPC trace of lesson 03, indented by nesting depth:
``-> null_write(0x00001118, 0x08000000, 1024)`` is the kernel calling into the driver,
``<- copy_from_user(...)`` the driver calling into the kernel; a call the kernel made from an
interrupt handler ends in ``[interrupt]``. CPU intrinsics (``ld32``, ``writel``: loads and
stores) are not calls and are not recorded.
"""
from __future__ import annotations

import dataclasses
from functools import wraps

from .api import INTRINSICS
from .module import Linker

KIND = "call"
#: Module entry points the loader calls by name (not through a registration).
ENTRY_POINTS = ("init_module", "cleanup_module")


def trace_calls(kernel) -> "TracingLinker":
    """Record every call between a driver loaded from now on and the kernel in
    ``kernel.events`` (kind ``"call"``). Native kernels only: under Nooks every such call is
    already an XPC, recorded as kind ``"xpc"``. Returns the linker it installed."""
    if kernel.isolation is not None or kernel.mode != "native":
        raise ValueError(f"trace_calls records the calls of a native kernel, not {kernel.mode!r}: "
                         "under Nooks each call is an XPC, already in kernel.events as 'xpc'")
    if not isinstance(kernel.linker, TracingLinker):
        kernel.linker = TracingLinker(kernel)
    return kernel.linker


def format_arg(value) -> str:
    """A short, stable text for one argument: small numbers in decimal, addresses in hex,
    functions and ops tables by name, bytes by length."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return str(value) if -4096 < value < 4096 else f"{value & 0xFFFFFFFF:#010x}"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value)} bytes>"
    if isinstance(value, str):
        return repr(value)
    if callable(value):
        return getattr(value, "__name__", "function")
    if dataclasses.is_dataclass(value):
        return getattr(type(value), "c_name", type(value).__name__)
    return type(value).__name__


class TracingLinker(Linker):
    """The native linker, with a recorder around every call in either direction."""

    def __init__(self, kernel):
        super().__init__(kernel)
        self.depth = 0
        self._linked: set[int] = set()
        self._wrapped: dict[int, tuple] = {}      # id(function or table) -> (original, recorder)

    # -- recording -------------------------------------------------------------------------------
    def _record(self, module_name: str, arrow: str, name: str, args: tuple) -> None:
        k = self.kernel
        text = f"{name}({', '.join(format_arg(a) for a in args)})"
        text = f"-> {text}" if arrow == "in" else f"<- {text}"
        if arrow == "in" and k.cpu.in_interrupt:
            text += " [interrupt]"
        k.events.add(KIND, module_name, "  " * self.depth + text)

    def _recorder(self, module_name: str, arrow: str, name: str, fn):
        linker = self

        @wraps(fn)
        def recorded(*args, **kwargs):
            linker._record(module_name, arrow, name, args)
            linker.depth += 1
            try:
                return fn(*args, **kwargs)
            finally:
                linker.depth -= 1
        return recorded

    def _into_driver(self, module_name: str, name: str, fn):
        """One recorder per driver function (the kernel may compare what it was given)."""
        entry = self._wrapped.get(id(fn))
        if entry is None or entry[0] is not fn:
            entry = (fn, self._recorder(module_name, "in", name, fn))
            self._wrapped[id(fn)] = entry
        return entry[1]

    def _table(self, module_name: str, table):
        """An ops table whose every function records its calls (the same copy each time)."""
        entry = self._wrapped.get(id(table))
        if entry is None or entry[0] is not table:
            prefix = getattr(type(table), "c_name", type(table).__name__)
            members = {f.name: getattr(table, f.name) for f in dataclasses.fields(table)}
            changes = {n: self._into_driver(module_name, f"{prefix}.{n}", fn)
                       for n, fn in members.items() if callable(fn)}
            entry = (table, dataclasses.replace(table, **changes))
            self._wrapped[id(table)] = entry
        return entry[1]

    # -- linking ---------------------------------------------------------------------------------
    def resolve(self, module, name: str):
        fn = super().resolve(module, name)
        if id(module) not in self._linked:
            # The loader calls these by name once linking is done: record them too.
            self._linked.add(id(module))
            for entry in ENTRY_POINTS:
                own = module.namespace.get(entry)
                if callable(own):
                    module.namespace[entry] = self._into_driver(module.name, entry, own)
        if name in INTRINSICS:
            return fn
        spec = self.kernel.symbols.specs[name]
        hands_over = [(i, a) for i, a in enumerate(spec.args) if a.kind in ("callback", "ops")]
        recorded = self._recorder(module.name, "out", name, fn)
        if not hands_over:
            return recorded
        linker = self

        @wraps(fn)
        def registering(*args, **kwargs):
            args = list(args)
            for i, a in hands_over:
                if i < len(args):
                    args[i] = linker._hand_over(module.name, a.kind, args[i])
                elif a.name in kwargs:
                    kwargs[a.name] = linker._hand_over(module.name, a.kind, kwargs[a.name])
            return recorded(*args, **kwargs)
        return registering

    def _hand_over(self, module_name: str, kind: str, value):
        if value is None:
            return value
        if kind == "ops" and dataclasses.is_dataclass(value):
            return self._table(module_name, value)
        if kind == "callback" and callable(value):
            return self._into_driver(module_name, getattr(value, "__name__", "callback"), value)
        return value
