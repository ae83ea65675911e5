"""The module loader: ``insmod`` and ``rmmod`` for driver source written in Python.

Loading a driver is *linking* it: the loader parses the driver's source, lets the fault injector
rewrite it if asked, adds a step count to every loop back-edge (so the watchdog can see a hang),
compiles it into a fresh namespace, and binds each name the driver imports from
``nookslab.kernel.api`` to the running kernel's function. That binding is the interposition point
Nooks uses (SOSP'03 section 4.3): a Nooks kernel binds the same names to wrappers instead, and the
driver's code is never edited.
"""
from __future__ import annotations

import ast
import builtins
import importlib.util
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Callable

from ..errors import choose
from .api import INTRINSICS
from .panic import KernelPanic, ProcessKilled

API_MODULE = "nookslab.kernel.api"
STEP_NAME = "_nl_step"


class LinkError(Exception):
    """A driver imports a symbol the kernel does not export (``unresolved symbol``)."""


@dataclass
class Module:
    """A loaded (or failed) kernel module.

    ``ok`` is True once init returned 0; ``error`` says why not. ``imports`` is the module's
    kernel interface: every exported function and intrinsic it names.
    """

    name: str
    spec: object
    namespace: dict = field(repr=False, default_factory=dict)
    imports: tuple[str, ...] = ()
    state: str = "loading"           # loading | live | failed | unloaded
    error: str | None = None
    leaks: list[str] = field(default_factory=list)
    faults: tuple = ()
    domain: object = field(default=None, repr=False)
    generation: int = 0              # how many times it has been (re)loaded

    @property
    def ok(self) -> bool:
        return self.state == "live"

    def function(self, name: str) -> Callable:
        return self.namespace[name]


class Linker:
    """Binds a module's imported names to kernel functions (the native configuration)."""

    def __init__(self, kernel):
        self.kernel = kernel

    def intrinsic(self, name: str) -> Callable:
        mmu = self.kernel.mmu
        table = {
            "ld8": mmu.ld8, "ld16": mmu.ld16, "ld32": mmu.ld32,
            "st8": mmu.st8, "st16": mmu.st16, "st32": mmu.st32,
            "ldbytes": mmu.read, "stbytes": mmu.write,
            "readb": mmu.ld8, "readw": mmu.ld16, "readl": mmu.ld32,
            # Linux's writeX(value, addr) takes the value first.
            "writeb": lambda value, addr: mmu.st8(addr, value),
            "writew": lambda value, addr: mmu.st16(addr, value),
            "writel": lambda value, addr: mmu.st32(addr, value),
        }
        return table[name]

    def resolve(self, module: Module, name: str) -> Callable:
        if name in INTRINSICS:
            return self.intrinsic(name)
        symbols = self.kernel.symbols
        if name not in symbols:
            raise LinkError(f"{module.name}: unresolved symbol {name}")
        fn = symbols.functions[name]
        if symbols.specs[name].owned:
            return partial(fn, owner=module.name)
        return fn


class _CountBackEdges(ast.NodeTransformer):
    """Put ``_nl_step()`` at the top of every loop body: one step per back-edge."""

    def _step(self) -> ast.stmt:
        return ast.Expr(ast.Call(ast.Name(STEP_NAME, ast.Load()), [], []))

    def visit_While(self, node):
        self.generic_visit(node)
        node.body.insert(0, self._step())
        return node

    def visit_For(self, node):
        self.generic_visit(node)
        node.body.insert(0, self._step())
        return node


@lru_cache(maxsize=None)
def driver_source(module_path: str) -> str:
    """The source text of a driver module, read from the installed package."""
    spec = importlib.util.find_spec(module_path)
    if spec is None or spec.origin is None:
        raise ValueError(f"no driver source module {module_path!r}")
    with open(spec.origin, encoding="utf-8") as handle:
        return handle.read()


def imported_names(tree: ast.Module) -> tuple[str, ...]:
    """Names a driver imports from the kernel API, in source order: its interface."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == API_MODULE:
            names.extend(alias.name for alias in node.names)
    return tuple(dict.fromkeys(names))


def compile_driver(source: str, name: str, rewrites=()) -> tuple[object, tuple[str, ...]]:
    """Parse, rewrite (faults), instrument loops and compile a driver. Returns (code, imports)."""
    tree = ast.parse(source, filename=f"<driver {name}>")
    imports = imported_names(tree)
    for rewrite in rewrites:
        tree = rewrite(tree)
    tree = _CountBackEdges().visit(tree)
    ast.fix_missing_locations(tree)
    return compile(tree, f"<driver {name}>", "exec"), imports


@lru_cache(maxsize=None)
def _clean_code(module_path: str, name: str):
    return compile_driver(driver_source(module_path), name)


class ModuleLoader:
    """``insmod``/``rmmod`` for one kernel."""

    def __init__(self, kernel):
        self.kernel = kernel
        self.modules: dict[str, Module] = {}

    def load(self, name: str, faults=None, **options) -> Module:
        from ..drivers import REGISTRY
        spec = REGISTRY[choose(name, REGISTRY, "extension")]
        k = self.kernel
        existing = self.modules.get(name)
        if existing is not None and existing.state in ("live", "loading"):
            raise ValueError(f"extension {name!r} is already loaded")
        if k.verdict is not None:
            module = Module(name, spec, state="failed", error=f"system is down ({k.verdict})")
            return module
        if spec.device is not None:
            k.machine.attach(spec.device_name, spec.device(k, **options))
        module = self.link(spec, tuple(faults or ()))
        module.generation = existing.generation + 1 if existing is not None else 1
        self.modules[name] = module
        k.events.add("load", name, f"insmod {name}" + (f" with {len(module.faults)} faults"
                                                        if module.faults else ""))
        self.run_init(module)
        return module

    def link(self, spec, faults: tuple) -> Module:
        """Compile the driver (with the faults' rewrites) and bind its imports."""
        k = self.kernel
        rewrites = [f.rewrite for f in faults if hasattr(f, "rewrite")]
        if rewrites:
            code, imports = compile_driver(driver_source(spec.source), spec.name, rewrites)
        else:
            code, imports = _clean_code(spec.source, spec.name)
        module = Module(spec.name, spec, imports=imports, faults=faults)
        namespace = {"__name__": f"nookslab.loaded.{spec.name}", "__builtins__": builtins}
        exec(code, namespace)                                  # defines the driver's functions
        namespace[STEP_NAME] = k.cpu.step
        module.namespace = namespace
        if k.isolation is not None:                             # Nooks hook: a new domain
            k.isolation.prepare(module)
        try:
            for symbol in imports:
                namespace[symbol] = k.linker.resolve(module, symbol)
        except LinkError as exc:
            module.state, module.error = "failed", str(exc)
        for fault in faults:
            if hasattr(fault, "arm"):
                fault.arm(k, module)
        return module

    def run_init(self, module: Module) -> None:
        k = self.kernel
        if module.state == "failed":
            k.events.add("load", module.name, f"insmod failed: {module.error}")
            return
        init = module.namespace.get("init_module")
        if init is None:
            module.state, module.error = "failed", "no init_module"
            return
        proc = k.spawn(f"insmod {module.name}")
        try:
            ret = k.syscall(proc, init)
        except ProcessKilled as exc:
            module.state, module.error = "failed", f"insmod {exc.reason}"
        except KernelPanic as exc:
            module.state, module.error = "failed", str(exc.verdict)
        else:
            if ret:
                module.state = "failed"
                from .errno import name as errname
                module.error = f"init_module returned -{errname(ret)}"
            else:
                module.state = "live"
        k.events.add("load", module.name, "init ok" if module.ok else f"init failed: {module.error}")

    def unload(self, name: str) -> Module:
        k = self.kernel
        module = self.modules.get(name)
        if module is None:
            raise ValueError(f"extension {name!r} is not loaded; loaded: {sorted(self.modules)}")
        if module.state == "live" and k.verdict is None:
            proc = k.spawn(f"rmmod {name}")
            cleanup = module.namespace.get("cleanup_module")
            try:
                if cleanup is not None:
                    k.syscall(proc, cleanup)
            except ProcessKilled as exc:
                module.error = f"rmmod {exc.reason}"
            except KernelPanic as exc:
                module.error = str(exc.verdict)
        module.state = "unloaded"
        if k.isolation is not None:
            k.isolation.unloaded(module)
        module.leaks = k.held_by(name)
        k.events.add("unload", name, "rmmod" + (f": {len(module.leaks)} leaked" if module.leaks
                                                 else ""))
        del self.modules[name]
        return module
