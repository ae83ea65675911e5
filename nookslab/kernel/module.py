"""The module loader: ``insmod`` and ``rmmod`` for driver source written in Python.

Loading a driver is *linking* it: the loader parses the driver's source, lets the fault injector
rewrite it if asked, adds the simulated machine's bounds (a watchdog step on every loop form, a
frame on the simulated stack for every function, a size check before anything is built: see
:mod:`nookslab.kernel.instrument`), compiles it into a fresh namespace, and binds each name the driver imports from
``nookslab.kernel.api`` to the running kernel's function. That binding is the interposition point
Nooks uses (SOSP'03 section 4.3): a Nooks kernel binds the same names to wrappers instead, and the
driver's code is never edited.
"""
from __future__ import annotations

import __future__
import ast
import builtins
import importlib.util
import threading
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Callable

from ..errors import choose
from .api import INTRINSICS
from .bounds import bindings
from .instrument import STEP as STEP_NAME
from .instrument import instrument
from .panic import KernelPanic, ProcessKilled

API_MODULE = "nookslab.kernel.api"


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
    state: str = "loading"           # loading | live | failed | disabled | unloaded
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
            "alloca": self.kernel.cpu.alloca,
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


#: CPython 3.11's conversions between its C syntax trees and ``ast`` objects keep a recursion
#: depth in shared state: ``ast.parse`` or ``compile(tree)`` running in two threads at once can
#: fail with "AST constructor recursion depth mismatch" (a thread-pool campaign does that).
_AST_LOCK = threading.Lock()


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    """``ast.parse``, one thread at a time (see :data:`_AST_LOCK`)."""
    with _AST_LOCK:
        return ast.parse(source, filename=filename)


def _compile_tree(tree: ast.AST, filename: str, flags: int = 0):
    # compiled here, in this module, as before: it inherits this module's future flags
    with _AST_LOCK:
        return compile(tree, filename, "exec", flags=flags)


def _fix_missing_locations(tree: ast.AST) -> None:
    """``ast.fix_missing_locations`` without recursion: each node lacking a position takes its
    parent's (after the parent's own was filled in), exactly as the library function does."""
    stack = [(tree, 1, 0, 1, 0)]
    pop, push, children = stack.pop, stack.append, ast.iter_child_nodes
    while stack:
        node, lineno, col, end_lineno, end_col = pop()
        attributes = node._attributes
        if "lineno" in attributes:
            if not hasattr(node, "lineno"):
                node.lineno = lineno
            else:
                lineno = node.lineno
        if "end_lineno" in attributes:
            if getattr(node, "end_lineno", None) is None:
                node.end_lineno = end_lineno
            else:
                end_lineno = node.end_lineno
        if "col_offset" in attributes:
            if not hasattr(node, "col_offset"):
                node.col_offset = col
            else:
                col = node.col_offset
        if "end_col_offset" in attributes:
            if getattr(node, "end_col_offset", None) is None:
                node.end_col_offset = end_col
            else:
                end_col = node.end_col_offset
        for child in children(node):
            push((child, lineno, col, end_lineno, end_col))


@lru_cache(maxsize=None)
def driver_source(module_path: str) -> str:
    """The source text of a driver module, read from the installed package."""
    spec = importlib.util.find_spec(module_path)
    if spec is None or spec.origin is None:
        raise ValueError(f"no driver source module {module_path!r}")
    with open(spec.origin, encoding="utf-8") as handle:
        return handle.read()


def source_of(spec) -> str:
    """The source text a driver spec loads: the text it carries (a driver built outside the
    tree, :class:`nookslab.Extension`), else its source module's."""
    code = getattr(spec, "code", None)
    return code if code is not None else driver_source(spec.source)


def imported_names(tree: ast.Module) -> tuple[str, ...]:
    """Names a driver imports from the kernel API, in source order: its interface."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == API_MODULE:
            names.extend(alias.name for alias in node.names)
    return tuple(dict.fromkeys(names))


def compile_driver(source: str, name: str, rewrites=()) -> tuple[object, tuple[str, ...]]:
    """Parse, rewrite (faults), instrument (:mod:`.instrument`) and compile a driver. Returns
    (code, imports)."""
    tree = parse(source, filename=f"<driver {name}>")
    imports = imported_names(tree)
    for rewrite in rewrites:
        tree = rewrite(tree)
    instrument(tree)
    _fix_missing_locations(tree)
    return _compile_tree(tree, f"<driver {name}>"), imports


@lru_cache(maxsize=64)
def _clean_text(source: str, name: str):
    return compile_driver(source, name)


def _clean_code(module_path: str, name: str):
    return _clean_text(driver_source(module_path), name)


class _Image:
    """A driver's pristine parse, cut into its top-level statements, each compiled on its own.

    A faulted load recompiles only the top-level statements (functions, nearly always) that its
    faults' rewrites can touch, and runs the clean compiled code of every other statement, in
    source order, in one namespace: the same namespace, function for function, as compiling the
    whole rewritten module (``tests/kernel/test_module.py`` checks the bytecode is identical).
    """

    def __init__(self, source: str, name: str):
        self.source = source
        self.filename = f"<driver {name}>"
        self.lines = source.splitlines(keepends=True)
        tree = parse(source, filename=self.filename)             # pristine: never mutated
        self.tree = tree
        self.flags = 0
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                for alias in node.names:
                    self.flags |= getattr(__future__, alias.name).compiler_flag
        # statement i covers source lines spans[i] (decorators included)
        self.spans = tuple((min([s.lineno] + [d.lineno for d in getattr(s, "decorator_list", ())]),
                            s.end_lineno) for s in tree.body)
        # every def by name, (lineno, index of its top-level statement), for faults that name one
        self.defs: dict[str, list[tuple[int, int]]] = {}
        for index, stmt in enumerate(tree.body):
            for node in ast.walk(stmt):
                if isinstance(node, ast.FunctionDef):
                    self.defs.setdefault(node.name, []).append((node.lineno, index))
        # CPython compiles ``mod.f()`` differently when ``mod`` is a module-level import: each
        # statement compiled alone is preceded by the module's imports under ``if False:``
        # (no code, same symbol table).
        imports = [node for node in _module_scope(parse(source, filename=self.filename))
                   if isinstance(node, (ast.Import, ast.ImportFrom))
                   and getattr(node, "module", None) != "__future__"]
        self.prelude = [ast.fix_missing_locations(ast.If(ast.Constant(False), imports, []))] \
            if imports else []
        instrumented = instrument(parse(source, filename=self.filename))
        _fix_missing_locations(instrumented)
        self.codes = tuple(self._compile(i, stmt) for i, stmt in enumerate(instrumented.body))

    def _compile(self, index: int, stmt: ast.stmt):
        """One statement compiled alone (None: a bare constant, which compiles to nothing)."""
        if index and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) \
                and not isinstance(stmt.value.value, str):
            return None
        if isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__" or not index:
            body = [stmt]                                  # a future import or the docstring
        else:
            # the prelude (or a pass) also keeps a later string from becoming the docstring
            body = [*self.prelude, stmt] if self.prelude \
                else [ast.Pass(lineno=1, col_offset=0, end_lineno=1, end_col_offset=0), stmt]
        return _compile_tree(ast.Module(body, []), self.filename, self.flags)

    def statement_at(self, line: int) -> int | None:
        for index, (first, last) in enumerate(self.spans):
            if first <= line <= last:
                return index
        return None

    def touched(self, faults) -> set[int] | None:
        """Top-level statements the faults' rewrites may edit; None if that cannot be told."""
        out: set[int] = set()
        for fault in faults:
            scope = getattr(fault, "rewrite_scope", None)
            if scope is None:
                return None
            scope = scope()
            if scope is None:                                   # no syntax-tree edit
                continue
            line, function = scope
            index = self.statement_at(line)
            if index is None:
                return None
            out.add(index)
            # the def a fault names by (function, line): the last one at or before the line
            named = [d for d in self.defs.get(function, ()) if d[0] <= line]
            if named:
                out.add(max(named)[1])
        return out

    def fresh(self, index: int) -> ast.stmt:
        """A new, unshared parse of top-level statement ``index``, at its true line numbers."""
        stmt = self.tree.body[index]
        first, last = self.spans[index]
        text = "\n" * (first - 1) + "".join(self.lines[first - 1:last])
        for node in parse(text, filename=self.filename).body:
            if (node.lineno, node.col_offset) == (stmt.lineno, stmt.col_offset):
                return node
        raise AssertionError(f"{self.filename}: cannot re-parse statement {index}")

    def faulted(self, faults, rewrites) -> list | None:
        """The code objects to run, in order, for a load with these faults (None: compile it all)."""
        touched = self.touched(faults)
        if touched is None:
            return None
        order = sorted(touched)
        tree = ast.Module([self.fresh(i) for i in order], [])
        for rewrite in rewrites:
            tree = rewrite(tree)
        if len(tree.body) != len(order):
            return None
        instrument(tree)
        _fix_missing_locations(tree)
        codes = list(self.codes)
        for index, stmt in zip(order, tree.body):
            codes[index] = self._compile(index, stmt)
        return [c for c in codes if c is not None]


def _module_scope(tree: ast.Module):
    """The nodes of a module's own scope (not inside a def, class or lambda)."""
    todo = list(tree.body)
    while todo:
        node = todo.pop(0)
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            todo.extend(ast.iter_child_nodes(node))


@lru_cache(maxsize=64)
def _image_of(source: str, name: str) -> _Image:
    return _Image(source, name)


def _image(module_path: str, name: str) -> _Image:
    return _image_of(driver_source(module_path), name)


class ModuleLoader:
    """``insmod``/``rmmod`` for one kernel."""

    def __init__(self, kernel):
        self.kernel = kernel
        self.modules: dict[str, Module] = {}

    def load(self, name: str, faults=None, **options) -> Module:
        k = self.kernel
        spec = k.drivers[choose(name, k.drivers, "extension")]
        existing = self.modules.get(name)
        if existing is not None and existing.state in ("live", "loading"):
            raise ValueError(f"extension {name!r} is already loaded")
        if k.verdict is not None:
            module = Module(name, spec, state="failed", error=f"system is down ({k.verdict})")
            return module
        if spec.device is not None:
            try:
                device = spec.device(k, **options)
            except TypeError as exc:
                if options and "argument" in str(exc):          # an option the model lacks
                    raise ValueError(f"extension {name!r}: bad device options {options}: "
                                     f"{exc}") from None
                raise
            k.machine.attach(spec.device_name, device)
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
        source = source_of(spec)
        code, imports = _clean_text(source, spec.name)
        codes = [code]
        if rewrites:
            # Recompile only the top-level statements the faults touch (the rest is the clean
            # code, compiled once per process); the whole module if that cannot be told.
            codes = _image_of(source, spec.name).faulted(faults, rewrites)
            if codes is None:
                code, imports = compile_driver(source, spec.name, rewrites)
                codes = [code]
        module = Module(spec.name, spec, imports=imports, faults=faults)
        namespace = {"__name__": f"nookslab.loaded.{spec.name}", "__builtins__": builtins,
                     **bindings(k, spec.name)}
        # Defines the driver's functions. Its module-level code runs as a kernel entry with its
        # own step budget, so a top-level loop is stopped by the watchdog like any other.
        saved = k.cpu.arm()
        try:
            for code in codes:
                exec(code, namespace)
        except Exception as exc:                                # noqa: BLE001 - a broken image
            from .kernel import describe
            module.state, module.error = "failed", f"invalid module: {describe(exc)}"
        except KernelPanic as exc:                              # a simulator limit
            module.state, module.error = "failed", f"invalid module: {exc.verdict}"
        finally:
            k.cpu.disarm(saved)
        module.namespace = namespace
        if k.isolation is not None:                             # Nooks hook: a new domain
            k.isolation.prepare(module)
        try:
            for symbol in imports:
                namespace[symbol] = k.linker.resolve(module, symbol)
        except LinkError as exc:
            if module.state != "failed":
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
        proc = None
        try:
            proc = k.spawn(f"insmod {module.name}")
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
        finally:
            if proc is not None:
                k.exit_process(proc)          # insmod exits: its pages go back
        k.events.add("load", module.name, "init ok" if module.ok else f"init failed: {module.error}")

    def unload(self, name: str) -> Module:
        k = self.kernel
        module = self.modules.get(name)
        if module is None:
            raise ValueError(f"extension {name!r} is not loaded; loaded: {sorted(self.modules)}")
        if module.state == "live" and k.verdict is None:
            proc = None
            cleanup = module.namespace.get("cleanup_module")
            try:
                proc = k.spawn(f"rmmod {name}")
                if cleanup is not None:
                    k.syscall(proc, cleanup)
            except ProcessKilled as exc:
                module.error = f"rmmod {exc.reason}"
            except KernelPanic as exc:
                module.error = str(exc.verdict)
            finally:
                if proc is not None:
                    k.exit_process(proc)
        module.state = "unloaded"
        if k.isolation is not None:
            k.isolation.unloaded(module)
        module.leaks = k.held_by(name)
        k.events.add("unload", name, "rmmod" + (f": {len(module.leaks)} leaked" if module.leaks
                                                 else ""))
        del self.modules[name]
        return module
