"""Exported kernel functions, ops tables, and the declarative description of each interface.

In Linux a module's undefined symbols are bound at ``insmod`` time against the kernel's exported
symbol table; Nooks interposes exactly there (SOSP'03 section 4.3). Here every exported function
carries a declarative :class:`Export` spec (parameter kinds, what it creates or releases), and every
ops table is a frozen dataclass whose members carry the same kind of spec. The Nooks wrapper
generator reads these specs; nothing about an interface is written twice.

Parameter kinds:

``scalar``    a plain value (an int, a flag, a length)
``object``    a pointer to a kernel object of a tracked ``type`` (``mode`` in / out / inout)
``buffer``    a pointer to ``length`` bytes (``length`` names another parameter, or is an int)
``callback``  a driver function the kernel will call later (an IRQ handler, a timer function)
``ops``       an ops table of driver functions (``net_device_ops``, ``file_operations``)
``data``      a Python value passed by value (bytes, a string: e.g. a device name)
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable

KINDS = ("scalar", "object", "buffer", "callback", "ops", "data")


@dataclass(frozen=True)
class Arg:
    """One parameter (or return value) of a kernel<->driver function."""

    name: str
    kind: str = "scalar"
    type: str | None = None          # tracked object type, for "object"
    mode: str = "in"                 # "in" | "out" | "inout"
    length: str | int | None = None  # for "buffer": a parameter name or a byte count
    nullable: bool = False

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown parameter kind {self.kind!r}: choose one of {KINDS}")


def scalar(name: str) -> Arg:
    return Arg(name)


def obj(name: str, type: str, mode: str = "in", nullable: bool = False) -> Arg:
    return Arg(name, "object", type, mode, nullable=nullable)


def buf(name: str, length: str | int, mode: str = "in") -> Arg:
    return Arg(name, "buffer", mode=mode, length=length)


def callback(name: str) -> Arg:
    return Arg(name, "callback")


def ops(name: str, type: str) -> Arg:
    return Arg(name, "ops", type)


def data(name: str) -> Arg:
    return Arg(name, "data")


@dataclass(frozen=True)
class Export:
    """The declarative description of one exported kernel function.

    ``creates``: the tracked type of an object the call hands to the caller (kmalloc, alloc_skb).
    ``releases``: the name of a parameter whose object the call destroys or takes back (kfree).
    ``owned``: the kernel needs to know the calling module (accounting for leak checks); the
    linker passes ``owner=`` for it. ``xpc``: False for routines Nooks links directly into the
    domain (memcpy-like helpers that touch only memory the caller may touch).
    """

    name: str
    args: tuple[Arg, ...]
    returns: Arg | None = None
    creates: str | None = None
    releases: str | None = None
    owned: bool = False
    xpc: bool = True
    subsystem: str = ""
    doc: str = ""


def export(*args: Arg, returns: Arg | None = None, creates: str | None = None,
           releases: str | None = None, owned: bool = False, xpc: bool = True,
           name: str | None = None):
    """Mark a kernel method as an exported symbol (``EXPORT_SYMBOL``) with its interface spec."""

    def mark(fn: Callable) -> Callable:
        fn.__export__ = Export(name or fn.__name__, tuple(args), returns, creates, releases,
                               owned, xpc, doc=(fn.__doc__ or "").strip().split("\n")[0])
        return fn

    return mark


def op(*args: Arg, returns: Arg | None = None, context: str = "process") -> Any:
    """A member of an ops table: a driver function pointer, ``None`` for NULL.

    ``context`` says where the kernel calls it from: ``"process"`` or ``"interrupt"``.
    """
    return field(default=None, metadata={"args": tuple(args), "returns": returns,
                                         "context": context})


def ops_members(table_type: type) -> dict[str, dict]:
    """The member specs of an ops-table class: name -> {"args", "returns", "context"}."""
    return {f.name: dict(f.metadata) for f in dataclasses.fields(table_type)}


def ops_table(c_name: str):
    """Name a frozen dataclass as the ops table ``struct c_name`` (read by the wrapper generator)."""

    def mark(cls: type) -> type:
        cls.c_name = c_name
        return cls

    return mark


class SymbolTable:
    """The kernel's exported symbols: name -> (bound function, spec)."""

    def __init__(self):
        self.functions: dict[str, Callable] = {}
        self.specs: dict[str, Export] = {}

    def add_from(self, subsystem_name: str, obj: object) -> None:
        for attr in sorted(dir(type(obj))):
            fn = getattr(type(obj), attr, None)
            spec = getattr(fn, "__export__", None)
            if spec is None:
                continue
            if spec.name in self.functions:
                raise RuntimeError(f"symbol {spec.name} exported twice")
            self.functions[spec.name] = getattr(obj, attr)
            self.specs[spec.name] = dataclasses.replace(spec, subsystem=subsystem_name)

    def __contains__(self, name: str) -> bool:
        return name in self.functions

    def __len__(self) -> int:
        return len(self.functions)
