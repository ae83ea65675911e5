"""Out-of-tree extensions: a driver of one's own, loaded as Linux loads a module built outside
the kernel tree.

A Linux module built against the kernel's headers, outside its source tree, is loaded by name
like any other (``insmod ./mydriver.o``). Here a driver module of one's own (a Python source
file written against :mod:`nookslab.kernel.api`, shaped like the drivers in
``nookslab/drivers/``) becomes an :class:`Extension` value: its source text, the device model it
drives and the workloads that exercise it. Boot with it and load it by name, in any
configuration::

    rogue = nl.Extension.from_file("rogue.py", device="null", workloads=["null-io"])
    k = nl.boot("nooks", seed=1, extensions=[rogue])
    k.load("rogue")
    k.run("null-io", seconds=0.01)

An Extension is plain, picklable data (the source text travels by value), so a fault-injection
trial or campaign takes one wherever it takes an extension's name and ships it to its worker
processes; nothing is registered globally, and two kernels with different extensions never meet.
"""
from __future__ import annotations

import ast
import dataclasses
import importlib.util
import os
import types
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from . import drivers as _drivers
from . import workloads as _workloads
from .drivers import DriverSpec
from .workloads import WorkloadSpec

CONTEXTS = ("process", "interrupt")


@dataclass(frozen=True)
class Extension:
    """A driver module built outside the tree, with its device model and workloads.

    Parameters
    ----------
    name: the name it is loaded by (``k.load(name)``); not one of the package's extensions.
    code: the driver's Python source, written against :mod:`nookslab.kernel.api`
        (``init_module``, ``cleanup_module``, ops tables, ``-errno`` returns).
    device: its hardware: a factory ``(kernel, **options) -> device`` (a
        :mod:`nookslab.machine.devices` model), the name of a package extension whose device
        model it drives (``"null"``, ``"e1000"``, ``"sb"``...), or None for none.
    device_name: the name the device is plugged in under (default: the package extension's, or
        ``name``).
    workloads: what exercises it: names of the package's workloads that should also drive it
        (``"null-io"`` for a driver of ``/dev/null0``) and :class:`~nookslab.workloads.WorkloadSpec`
        values of its own (``fn(kernel, proc, extension, duration, rng, **params)`` returning a
        :class:`~nookslab.workloads.Measurement`; raise ``WorkloadFailed`` on a wrong answer).
    description, context: shown beside it; where its code mostly runs (``"process"`` or
        ``"interrupt"``). origin: where the code came from (a path), for messages.
    """

    name: str
    code: str = field(repr=False)
    device: Callable | str | None = None
    device_name: str | None = None
    workloads: tuple = ()
    description: str = ""
    context: str = "process"
    origin: str = "<string>"

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip() or any(
                c.isspace() or c == "/" for c in self.name):
            raise ValueError(f"an extension's name is a word without spaces or '/', "
                             f"got {self.name!r}")
        if self.name in _drivers.REGISTRY:
            raise ValueError(f"extension name {self.name!r} is one of the package's "
                             f"({', '.join(_drivers.REGISTRY)}): give yours another name")
        if not isinstance(self.code, str):
            raise ValueError(f"code must be the driver's Python source text, got "
                             f"{type(self.code).__name__}")
        try:
            ast.parse(self.code, filename=self.origin)
        except SyntaxError as exc:
            raise ValueError(f"the driver {self.name!r} ({self.origin}) is not valid Python: "
                             f"{exc.msg} at line {exc.lineno}") from None
        device, device_name = self.device, self.device_name
        if isinstance(device, str):
            if device not in _drivers.REGISTRY or _drivers.REGISTRY[device].device is None:
                having = [n for n, s in _drivers.REGISTRY.items() if s.device is not None]
                raise ValueError(f"unknown device model {device!r}: name a package extension "
                                 f"whose device to use ({', '.join(having)}) or give a factory "
                                 f"(kernel, **options) -> device")
            device_name = device_name or _drivers.REGISTRY[device].device_name
            device = _drivers.REGISTRY[device].device
        elif device is not None and not callable(device):
            raise ValueError(f"device must be a factory (kernel, **options) -> device, a package "
                             f"extension's name, or None; got {device!r}")
        if device is not None and device_name is None:
            device_name = self.name
        object.__setattr__(self, "device", device)
        object.__setattr__(self, "device_name", device_name)
        if isinstance(self.workloads, (str, WorkloadSpec)):
            object.__setattr__(self, "workloads", (self.workloads,))
        workloads = tuple(self.workloads)
        for w in workloads:
            if isinstance(w, str):
                if w not in _workloads.WORKLOAD_SPECS:
                    raise ValueError(f"unknown workload {w!r}: choose one of "
                                     f"{', '.join(_workloads.WORKLOAD_SPECS)} "
                                     f"or give a WorkloadSpec")
            elif not isinstance(w, WorkloadSpec):
                raise ValueError(f"a workload is a package workload's name or a WorkloadSpec, "
                                 f"got {w!r}")
            elif w.name in _workloads.WORKLOAD_SPECS:
                raise ValueError(f"workload name {w.name!r} is one of the package's: give "
                                 f"yours another name, or name the package's to reuse it")
        object.__setattr__(self, "workloads", workloads)
        if self.context not in CONTEXTS:
            raise ValueError(f"unknown context {self.context!r}: choose one of {CONTEXTS}")

    # -- making one ------------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | os.PathLike, name: str | None = None,
                  **options) -> "Extension":
        """The driver in the Python source file ``path`` (named after the file by default).

        ``options``: ``device``, ``device_name``, ``workloads``, ``description``, ``context``.
        """
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise ValueError(f"no driver source file {path!r}")
        with open(path, encoding="utf-8") as handle:
            code = handle.read()
        stem = os.path.splitext(os.path.basename(path))[0]
        return cls(name or stem, code, origin=path, **options)

    @classmethod
    def from_module(cls, module: str | types.ModuleType, name: str | None = None,
                    **options) -> "Extension":
        """The driver in a Python module (a module object or its dotted name); its code is
        read from the module's source file, never imported as a module."""
        modname = module.__name__ if isinstance(module, types.ModuleType) else module
        if not isinstance(modname, str):
            raise ValueError(f"a module or its dotted name, got {module!r}")
        try:
            spec = importlib.util.find_spec(modname)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            raise ValueError(f"no Python source for driver module {modname!r}")
        return cls.from_file(spec.origin, name or modname.rsplit(".", 1)[-1], **options)

    # -- what boot installs ------------------------------------------------------------------
    def driver_spec(self) -> DriverSpec:
        """Its entry in a kernel's driver catalog."""
        return DriverSpec(self.name, self.origin, self.description or f"out-of-tree driver "
                          f"{self.name} ({self.origin})", self.device_name, self.device,
                          self.context, paper=False, code=self.code)

    @property
    def workload_names(self) -> tuple[str, ...]:
        """The names of the workloads that drive it, in the order given."""
        return tuple(w if isinstance(w, str) else w.name for w in self.workloads)


def as_extension(value) -> Extension:
    """``value`` if it is an :class:`Extension`, else a ValueError saying what is expected."""
    if isinstance(value, Extension):
        return value
    raise ValueError(f"extensions are Extension values (Extension.from_file(...)), got "
                     f"{value!r}; the package's own ({', '.join(_drivers.REGISTRY)}) are "
                     f"always there")


def catalogs(extensions: Iterable = ()) -> tuple[dict[str, DriverSpec], dict[str, WorkloadSpec]]:
    """The driver and workload catalogs of a system booted with ``extensions``: the package's
    own, plus each extension's driver and workloads (a package workload it names drives it too).
    """
    drivers: dict[str, DriverSpec] = dict(_drivers.REGISTRY)
    workloads: dict[str, WorkloadSpec] = dict(_workloads.WORKLOAD_SPECS)
    for ext in (as_extension(e) for e in extensions):
        if ext.name in drivers:
            raise ValueError(f"two extensions are named {ext.name!r}")
        drivers[ext.name] = ext.driver_spec()
        for w in ext.workloads:
            spec = workloads[w] if isinstance(w, str) else workloads.get(w.name, w)
            if not isinstance(w, str) and spec is not w and spec.fn is not w.fn:
                raise ValueError(f"two different workloads are named {w.name!r}")
            if ext.name not in spec.extensions:
                spec = dataclasses.replace(spec, extensions=spec.extensions + (ext.name,))
            workloads[spec.name] = spec
    return drivers, workloads


def driver_of(extension) -> tuple[str, DriverSpec]:
    """(name, driver spec) of a package extension's name or an :class:`Extension`."""
    if isinstance(extension, Extension):
        return extension.name, extension.driver_spec()
    from .errors import choose
    name = choose(extension, _drivers.REGISTRY, "extension")
    return name, _drivers.REGISTRY[name]


def workloads_of(extension, specs: Mapping[str, WorkloadSpec] | None = None) -> tuple[str, ...]:
    """The workloads that drive a package extension (by name) or an :class:`Extension`."""
    if isinstance(extension, Extension):
        return extension.workload_names
    specs = _workloads.WORKLOAD_SPECS if specs is None else specs
    return tuple(n for n, s in specs.items() if extension in s.extensions)


__all__ = ["Extension", "as_extension", "catalogs", "driver_of", "workloads_of"]
