"""The contract every driver passes, run over every entry of ``nookslab.drivers.REGISTRY``.

A driver added to the registry is covered automatically (py65's shared CPU tests are the model):
it loads; every workload that lists it runs correctly in the native configuration, the same way
twice for one seed and correctly for another; unloading returns every resource; it reloads; and
its source reaches the kernel only through ``nookslab.kernel.api`` names that the kernel exports.
"""
from __future__ import annotations

import ast
import dataclasses
import importlib

import pytest

import nookslab
from nookslab.drivers import REGISTRY
from nookslab.kernel.api import INTRINSICS
from nookslab.kernel.module import API_MODULE, driver_source
from nookslab.kernel.structs import Layout
from nookslab.workloads import WORKLOAD_SPECS

SECONDS = 0.02
DRIVERS = sorted(REGISTRY)
PAIRS = [(w, d) for w, spec in sorted(WORKLOAD_SPECS.items()) for d in spec.extensions
         if d in REGISTRY]

# Where a driver may import plain data (constants, Layouts, register offsets, ops-table types).
DATA_MODULES = ("nookslab.kernel.", "nookslab.machine.devices.", "nookslab.machine.memory",
                "nookslab.drivers.")
# Never: the kernel object itself, or host facilities that break determinism or isolation.
FORBIDDEN_MODULES = ("nookslab.kernel.kernel", "nookslab.machine.machine", "nookslab.machine.mmu",
                     "nookslab.machine.cpu", "nookslab.nooks", "random", "time", "datetime",
                     "os", "sys", "threading", "secrets", "uuid", "subprocess", "socket", "ctypes",
                     "importlib", "builtins", "inspect", "gc", "numpy")
# Pure helpers a driver may call directly (they touch no kernel state).
PURE_HELPERS = {("nookslab.kernel.structs", "signed32")}


def boot(seed=11):
    return nookslab.boot(mode="native", seed=seed)


def load(k, name):
    """Load ``name`` (and any driver it declares it needs first); assert it came up."""
    for needed in getattr(REGISTRY[name], "requires", ()):
        assert k.load(needed).ok
    module = k.load(name)
    assert module.ok, f"{name}: {module.error}"
    return module


# -- loading and running ----------------------------------------------------------------------
@pytest.mark.parametrize("name", DRIVERS)
def test_the_driver_loads_and_leaves_the_kernel_alive(name):
    k = boot()
    module = load(k, name)
    assert module.state == "live" and k.verdict is None
    assert k.events.of("load")[-1].detail == "init ok"
    assert k.check_integrity() == [] and k.verdict is None


@pytest.mark.parametrize("workload,name", PAIRS)
def test_every_workload_of_the_driver_runs_correctly_in_native(workload, name):
    k = boot()
    load(k, name)
    r = k.run(workload, seconds=SECONDS)
    assert r.ok, f"{workload} on {name}: {r.failure}"
    assert r.operations > 0 and r.extension == name and r.mode == "native"
    assert r.seconds >= SECONDS and 0 < r.cpu_util <= 1 and r.xpcs == 0
    assert k.verdict is None


@pytest.mark.parametrize("workload,name", PAIRS)
def test_one_seed_gives_the_same_result_and_trace_twice(workload, name):
    runs = []
    for _ in range(2):
        k = boot(seed=21)
        load(k, name)
        runs.append((k.run(workload, seconds=SECONDS).to_dict(), list(k.events)))
    assert runs[0] == runs[1]


@pytest.mark.parametrize("workload,name", PAIRS)
def test_another_seed_still_runs_correctly(workload, name):
    k = boot(seed=12345)
    load(k, name)
    r = k.run(workload, seconds=SECONDS)
    assert r.ok, f"{workload} on {name} (seed 12345): {r.failure}"
    assert r.seed == 12345


# -- unloading ---------------------------------------------------------------------------------
def _workloads_of(name):
    return [w for w, d in PAIRS if d == name]


@pytest.mark.parametrize("name", DRIVERS)
def test_unload_after_work_returns_every_resource(name):
    k = boot()
    load(k, name)
    for workload in _workloads_of(name):
        assert k.run(workload, seconds=SECONDS).ok
    module = k.unload(name)
    assert module.leaks == [] and module.error is None, module.leaks or module.error
    assert k.heap.leaks(name) == [], "a live kmalloc owned by the module"
    assert k.held_by(name) == [] and name not in k.modules
    assert k.check_integrity() == [] and k.verdict is None


@pytest.mark.parametrize("name", DRIVERS)
def test_load_unload_load_works(name):
    k = boot()
    load(k, name)
    assert k.unload(name).leaks == []
    load(k, name)
    for workload in _workloads_of(name):
        r = k.run(workload, seconds=SECONDS)
        assert r.ok, f"{workload} after reload of {name}: {r.failure}"
    assert k.unload(name).leaks == []


# -- the driver's interface, read from its source ------------------------------------------------
def _imports(name):
    tree = ast.parse(driver_source(REGISTRY[name].source))
    return [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]


def _is_data(value) -> bool:
    """Constants, Layouts and ops-table types: what a driver may import besides the API."""
    if value is None or isinstance(value, (bool, int, float, str, bytes, Layout)):
        return True
    if isinstance(value, (tuple, frozenset)):
        return all(_is_data(v) for v in value)
    if isinstance(value, type):
        return value is Layout or (dataclasses.is_dataclass(value) and hasattr(value, "c_name"))
    return False


def interface_problems(source: str) -> list[str]:
    """Every import in ``source`` that reaches past the kernel API or imports live objects."""
    problems = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "nookslab" or alias.name in FORBIDDEN_MODULES:
                    problems.append(f"line {node.lineno}: import {alias.name}")
            continue
        if not isinstance(node, ast.ImportFrom):
            continue
        module = node.module or ""
        if node.level:
            problems.append(f"line {node.lineno}: relative import")
            continue
        if module == API_MODULE:
            continue
        if any(module == bad or module.startswith(bad + ".") for bad in FORBIDDEN_MODULES):
            problems.append(f"line {node.lineno}: from {module} import ...")
            continue
        if not module.startswith("nookslab"):
            continue                                   # other stdlib (zlib, struct...): allowed
        if not (module + ".").startswith(DATA_MODULES):
            problems.append(f"line {node.lineno}: from {module} (not a data module)")
            continue
        source_module = importlib.import_module(module)
        for alias in node.names:
            value = getattr(source_module, alias.name, None)
            if alias.name == "Kernel" or not (_is_data(value)
                                              or (module, alias.name) in PURE_HELPERS):
                problems.append(f"line {node.lineno}: {module}.{alias.name} is not plain data "
                                f"({type(value).__name__})")
    return problems


@pytest.mark.parametrize("name", DRIVERS)
def test_the_driver_reaches_the_kernel_only_through_api_imports(name):
    assert interface_problems(driver_source(REGISTRY[name].source)) == []


def test_the_interface_check_catches_each_way_around_the_api():
    source = """
import nookslab.kernel.kernel
from nookslab.kernel.kernel import Kernel
from nookslab.kernel import Kernel
from nookslab.kernel.heap import Heap
from nookslab.kernel.mm import MemorySubsystem
from nookslab.machine.mmu import MMU
from nookslab.workloads import run_workload
from random import random
from .null import priv
import time
from nookslab.kernel.api import kmalloc
from nookslab.kernel.timer import TIMER_LIST, HZ
from nookslab.kernel.chrdev import FileOperations
from nookslab.kernel.structs import Layout, signed32
"""
    problems = interface_problems(source)
    assert [p.split(":")[0] for p in problems] == [f"line {n}" for n in range(2, 12)]


@pytest.mark.parametrize("name", DRIVERS)
def test_every_api_name_the_driver_imports_is_exported_by_the_kernel(name):
    k = boot()
    api = [alias.name for node in _imports(name)
           if isinstance(node, ast.ImportFrom) and node.module == API_MODULE
           for alias in node.names]
    assert api, f"{name} imports nothing from {API_MODULE}"
    missing = [n for n in api if n not in k.symbols and n not in INTRINSICS]
    assert missing == []


@pytest.mark.parametrize("name", DRIVERS)
def test_the_driver_has_linux_entry_points(name):
    tree = ast.parse(driver_source(REGISTRY[name].source))
    top = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert {"init_module", "cleanup_module"} <= top


@pytest.mark.parametrize("name", DRIVERS)
def test_the_registry_entry_is_well_formed(name):
    spec = REGISTRY[name]
    assert spec.name == name and spec.context in ("process", "interrupt")
    assert (spec.device is None) == (spec.device_name is None)
    assert spec.paper == (name in nookslab.drivers.PAPER_ORDER)
