"""The static policy for answer cells, checked before anything runs (exercises/README.md tells it).

An answer cell is the student's piece of the mechanism: functions, classes, constants, and the
imports they need. Anything else could change what the check cells see instead of doing the work,
so it is refused before the notebook runs, with the rule it broke; the exercise then scores 0 and
the rest of the notebook is graded with that answer replaced by the stub.

The rules (each :class:`Refusal` names one):

``syntax``        the cell must be plain Python: no IPython magics (``%``), no shell (``!``);
``top level``     at the top level only ``def``, ``class``, ``import`` and constant assignments
                  (``NAME = value``; calls only to builtins and to the allowed modules);
``import``        only ``math``, ``numpy``, ``numpy.fft``, ``numpy.linalg``, ``numpy.random`` (a
                  name imported from them may not be another module; no test modules), plus
                  what the answer cell's ``allow`` metadata
                  lists (``"module"``: that module and anything from it; ``"module:name"``: only
                  ``from module import name``); no ``*``, no relative imports;
``name``          never the interpreter's way in: ``sys``, ``os``, ``builtins``, ``get_ipython``,
                  ``open``, ``exec``, ``eval``, ``setattr``... (:data:`FORBIDDEN_NAMES`);
``dunder``        no ``__names__`` at all, as a name, an attribute, a method (``__init__``
                  excepted) or inside a string (``getattr(x, "__class__")``, ``"{0.__class__}"``);
``attribute``     no attributes that reach files, pickles, frames, threads or global settings
                  (:data:`FORBIDDEN_ATTRIBUTES`, e.g. ``np.load``, ``np.set_printoptions``,
                  ``gen.gi_frame``, ``x.threading``, ``b.getattr``), no ``_private`` attribute
                  at all (a module's ``_globals``, ``_core``...); ``getattr``/``hasattr``/
                  ``delattr`` only called at once with a literal name;
``redefines``     no name the notebook's own cells, another exercise's answer, Python's builtins
                  or IPython define (``print``, ``NooksHooks``, ``In``...);
``changes``       attributes and items may be set or deleted only on what a function made or
                  received, or on the answer's own classes and constants -- never on a module or
                  on a name the notebook defined (``np.sum = ...``, ``nl.MODES[0] = ...``), nor
                  through a local or constant bound to one (``x = np.random; x.seed = ...``),
                  nor by handing one to a callable the answer wrote;
``name``          also: no module the lesson's cells imported (``nl``, ``np``): the answer
                  imports what it needs itself;
``top level``     also: default values are literals, decorators only ``staticmethod``,
                  ``classmethod``, ``property`` (either would run code when the cell runs);
                  class bodies hold only methods and constants; no ``match``, no string
                  annotations (``typing`` evaluates them), no private import paths, no
                  ``global``/``nonlocal``.
"""
from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass

DEFAULT_ALLOW = ("numpy", "math")
#: The modules an answer may import from by default (numpy's own tests, conftest and private
#: modules hold pytest, pkgutil and the like under plain names: only these, not "numpy.*").
NUMPY_MODULES = ("math", "numpy", "numpy.fft", "numpy.linalg", "numpy.random")

FORBIDDEN_NAMES = frozenset({
    "id", "hash",  # an object's address (hash is one for most objects): a way to any object
    "sys", "os", "subprocess", "ctypes", "gc", "inspect", "importlib", "builtins", "get_ipython",
    "open", "exec", "eval", "compile", "globals", "locals", "vars", "setattr", "breakpoint",
    "input", "help", "exit", "quit", "memoryview", "In", "Out", "_ih", "_oh", "_dh", "display",
})
FORBIDDEN_ATTRIBUTES = frozenset(FORBIDDEN_NAMES - {"display", "exit", "quit", "In", "Out"} | {
    "ctypeslib", "f2py", "distutils", "testing", "load", "loads", "dump", "dumps", "fromfile",
    "tofile", "memmap", "open_memmap", "read_array", "save", "savez", "savez_compressed",
    "savetxt", "loadtxt", "genfromtxt", "fromregex", "DataSource", "set_printoptions",
    "printoptions", "set_string_function", "seterr", "seterrcall", "setbufsize", "system",
    "popen", "environ", "modules", "mro", "format_map", "write_array", "attrgetter",
    "methodcaller", "core", "getattr", "hasattr", "delattr", "threading", "Thread", "Timer",
    "multiprocessing", "concurrent", "signal", "socket", "pickle", "marshal", "shutil", "pathlib",
    "tempfile", "atexit", "faulthandler", "IPython", "ipykernel", "warnings", "weakref", "types",
    "graded", "bltns", "functools", "operator", "update_wrapper", "wraps", "setitem", "delitem",
    "typing", "get_type_hints", "ForwardRef", "annotations", "obj", "add_newdoc",
    "as_strided", "stride_tricks", "byte_bounds", "array_utils", "id", "cffi", "capsule",
    "state_address", "hash",
})
_FORMAT_FIELD = re.compile(r"\{[^{}]*[.\[][^{}]*\}")
#: Methods that change the object they are called on: called only on what the answer made.
MUTATING_METHODS = frozenset({
    "append", "extend", "insert", "pop", "remove", "clear", "update", "setdefault", "popitem",
    "sort", "reverse", "add", "discard", "difference_update", "intersection_update",
    "symmetric_difference_update", "put", "fill", "resize", "itemset", "setfield", "setflags",
    "appendleft", "extendleft", "popleft", "rotate", "move_to_end",
})
#: Decorators an answer may use (any other runs code when the cell runs, before the checks).
DECORATORS = frozenset({"staticmethod", "classmethod", "property"})
_FRAME_ATTRIBUTE = re.compile(r"^(f|gi|cr|ag|tb|co)_[a-z]")
_IPYTHON_NAME = re.compile(r"^_(i+|i\d+|\d+)?$")
#: Builtins a constant's value may call (``LIMITS = tuple(range(4))``).
CONSTANT_CALLS = frozenset({
    "abs", "bool", "bytes", "dict", "divmod", "enumerate", "float", "frozenset", "int", "len",
    "list", "max", "min", "pow", "range", "reversed", "round", "set", "sorted", "str", "sum",
    "tuple", "zip", "chr", "ord", "hex", "bin", "oct", "complex", "any", "all", "map", "filter",
})
LITERAL_NAME_CALLS = ("getattr", "hasattr", "delattr")


@dataclass(frozen=True)
class Refusal:
    """One broken rule: which, where, and what to change."""
    rule: str
    line: int
    detail: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.detail} [rule: {self.rule}]"


def check_answer(source: str, *, allow=(), reserved=frozenset(),
                 modules=frozenset()) -> list[Refusal]:
    """The rules ``source`` breaks (empty when it may run). ``allow`` is the answer cell's
    ``allow`` metadata; ``reserved`` the names the notebook's other cells define; ``modules``
    those of them that are modules (``nl``, ``np``: an answer imports what it needs itself)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return [Refusal("syntax", exc.lineno or 1, "not plain Python (" + (exc.msg or "syntax error")
                        + "): IPython magics (%) and shell commands (!) are not allowed here")]
    checker = _Checker(_allowed(allow), frozenset(reserved), tree, frozenset(modules))
    checker.top_level(tree)
    checker.visit(tree)
    seen, out = set(), []
    for r in sorted(checker.refusals, key=lambda r: r.line):
        if (r.rule, r.line, r.detail) not in seen:
            seen.add((r.rule, r.line, r.detail))
            out.append(r)
    return out


def _allowed(allow) -> tuple[set[str], set[tuple[str, str]]]:
    modules, names = set(DEFAULT_ALLOW), set()
    for item in allow or ():
        item = str(item)
        if ":" in item:
            module, _, name = item.partition(":")
            names.add((module.strip(), name.strip()))
        else:
            modules.add(item.strip())
    return modules, names


def bound_names(source: str) -> set[str]:
    """The names a cell binds at the notebook's top level (definitions, assignments, imports,
    loop targets, ``global`` names); empty if it is not plain Python."""
    try:
        return set(_bindings(ast.parse(source)))
    except SyntaxError:
        return set()


def module_names(source: str) -> set[str]:
    """The names a (trusted) notebook cell binds to modules by its imports: ``import x as y``,
    and ``from x import y`` where ``x.y`` is a module. Empty if it is not plain Python."""
    import importlib.util
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    found = set()
    for node in _module_level(tree):
        if isinstance(node, ast.Import):
            found.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                try:
                    spec = importlib.util.find_spec(f"{node.module}.{a.name}")
                except (ImportError, ValueError):
                    spec = None
                if spec is not None:
                    found.add(a.asname or a.name)
    return found


def _bindings(tree) -> dict[str, ast.AST]:
    """Each name bound at the top level, with the first node binding it."""
    names: dict[str, ast.AST] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            for name in node.names:
                names.setdefault(name, node)
    for node in _module_level(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.setdefault(node.name, node)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                if a.name != "*":
                    names.setdefault((a.asname or a.name).split(".")[0], node)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.setdefault(node.id, node)
    return names


def _module_level(tree):
    """Nodes that run in the module's scope (not inside a def, lambda or class body)."""
    todo = list(ast.iter_child_nodes(tree))
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            todo.extend(node.decorator_list if not isinstance(node, ast.Lambda) else [])
            todo.extend(d for d in node.args.defaults + node.args.kw_defaults if d is not None)
        elif isinstance(node, ast.ClassDef):
            todo.extend(node.decorator_list + node.bases + [k.value for k in node.keywords])
        elif isinstance(node, ast.comprehension):  # its target is the comprehension's own
            todo.extend([node.iter, *node.ifs])
        else:
            todo.extend(ast.iter_child_nodes(node))


def _literal(node) -> bool:
    """A literal default: a constant, or a tuple/list of them (``-1`` included)."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return isinstance(node.operand, ast.Constant)
    if isinstance(node, ast.Tuple):   # not a list: a mutable default keeps state between calls
        return all(_literal(e) for e in node.elts)
    return False


def _dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def _root(node):
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        node = node.value
    return node


class _Checker(ast.NodeVisitor):
    def __init__(self, allowed, reserved, tree, lesson_modules=frozenset()):
        self.modules, self.names = allowed
        self.reserved = reserved
        self.refusals: list[Refusal] = []
        self.locals: list[set[str]] = []  # one set per enclosing function
        self.foreign: list[set[str]] = []  # per function: locals that may hold what it did not make
        self.own = set()                  # the answer's own top-level defs, classes, constants
        self.classes = set()
        self.functions = {n.name for n in tree.body
                          if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
        self.imported = set()
        self.called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
        self.call_roots = {id(_root(n.func)) for n in ast.walk(tree) if isinstance(n, ast.Call)}
        constants = []
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.own.add(node.name)
                if isinstance(node, ast.ClassDef):
                    self.classes.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
                self.own.update(names)
                constants.append((names, node.value))
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                self.imported.update((a.asname or a.name).split(".")[0] for a in node.names)
        self.own -= self.imported
        self.lesson_modules = set(lesson_modules) - self.imported - self.own
        # a constant holding something the answer did not make (``M = np.random``) is not its own
        made = self.own - {n for names, value in constants for n in names}
        for names, value in constants:
            if value is not None and self._mentions_outside(value, made):
                self.own -= names

    def _made_names(self) -> set[str]:
        """The names that hold only what the answer made, here: its own definitions and
        constants, and the enclosing functions' locals never bound to something from outside."""
        return (self.own | set().union(*self.locals)) - set().union(*self.foreign)

    def _mentions_outside(self, value, made) -> bool:
        """Whether ``value`` may evaluate to something the answer did not make: it names, other
        than as the function it calls, a name that is not in ``made``; or it calls one of the
        answer's own functions or a local (which return whatever they were written to)."""
        for n in ast.walk(value):
            if isinstance(n, ast.Call) and any(isinstance(f, ast.Subscript)
                                               for f in ast.walk(n.func)):
                return True       # d[key](...): whatever the container held, called
            if not (isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)):
                continue
            if id(n) in self.call_roots:
                if id(n) in self.called and (  # f(...) itself, not a method of f
                        (n.id in self.functions and n.id not in self.classes)
                        or any(n.id in scope for scope in self.locals)):
                    return True
            elif n.id not in made:
                return True
        return False

    def refuse(self, rule, node, detail):
        self.refusals.append(Refusal(rule, getattr(node, "lineno", 1), detail))

    # -- the top level ------------------------------------------------------------------------
    def top_level(self, tree):
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import,
                                 ast.ImportFrom, ast.Pass)):
                continue
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) \
                    and isinstance(node.value.value, str):
                continue  # a docstring
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if all(self._plain_target(t) for t in targets) and node.value is not None:
                    self._constant(node.value)
                    continue
            kind = type(node).__name__.lower()
            self.refuse("top level", node, f"a top-level `{kind}` statement: at the top level an "
                        "answer only defines functions, classes and constants and imports")
        for name, node in _bindings(tree).items():
            self._check_binding(name, node)

    def _plain_target(self, target) -> bool:
        if isinstance(target, ast.Name):
            return True
        return isinstance(target, (ast.Tuple, ast.List)) and all(self._plain_target(e) for e in target.elts)

    def _constant(self, value):
        for node in ast.walk(value):
            if isinstance(node, ast.Call):
                func = node.func
                ok = (isinstance(func, ast.Name) and func.id in CONSTANT_CALLS) or (
                    isinstance(func, ast.Attribute) and isinstance(_root(func), ast.Name)
                    and _root(func).id in self.imported)
                if not ok:
                    self.refuse("top level", node, "a constant's value may call only builtins "
                                "and the allowed modules (`" + ast.unparse(func) + "(...)`); "
                                "do the work inside your function")
            elif isinstance(node, (ast.Lambda, ast.NamedExpr, ast.Await, ast.Yield, ast.YieldFrom)):
                self.refuse("top level", node, "a constant's value is a plain expression")

    def _check_binding(self, name, node):
        if _dunder(name):
            return  # refused as a dunder where it appears
        line = getattr(node, "lineno", 1)
        if name in FORBIDDEN_NAMES:
            return  # refused where it is imported or named
        if name in self.reserved:
            self.refusals.append(Refusal("redefines", line, f"`{name}` is defined by the "
                                         "notebook's own cells (or another exercise): use "
                                         "another name"))
        elif hasattr(builtins, name) or _IPYTHON_NAME.match(name):
            self.refusals.append(Refusal("redefines", line, f"`{name}` is a Python or IPython "
                                         "builtin: use another name"))

    # -- everywhere ---------------------------------------------------------------------------
    def visit_Import(self, node):
        for alias in node.names:
            self._import(node, alias.name, None)

    def visit_ImportFrom(self, node):
        if node.level:
            self.refuse("import", node, "relative imports are not allowed")
            return
        for alias in node.names:
            self._import(node, node.module or "", alias.name)

    def _import(self, node, module, name):
        shown = f"from {module} import {name}" if name else f"import {module}"
        parts = module.split(".") + ([name] if name else [])
        bad = [p for p in parts if p in FORBIDDEN_ATTRIBUTES or _dunder(p) or p.startswith("_")]
        if name == "*":
            self.refuse("import", node, f"`{shown}`: say which names you import")
            return
        if bad:
            self.refuse("import", node, f"`{shown}`: `{bad[0]}` is not allowed in an answer")
            return
        if {"tests", "conftest", "testing"} & set(parts):
            self.refuse("import", node, f"`{shown}`: test modules are not allowed in an answer")
            return
        allowed_modules = self.modules - set(DEFAULT_ALLOW) | set(NUMPY_MODULES)
        whole = module in allowed_modules or any(
            module.startswith(m + ".") for m in self.modules - set(DEFAULT_ALLOW))
        if not whole and not (name and (module, name) in self.names):
            allowed = sorted(allowed_modules) + [f"{m}:{n}" for m, n in sorted(self.names)]
            self.refuse("import", node, f"`{shown}`: an answer may import only from "
                        + ", ".join(allowed))
            return
        if name and module in NUMPY_MODULES:
            # from m import x is m.x: a module it names must be one of these too (numpy's own
            # modules import pytest, pkgutil, operator... under plain names)
            import importlib
            import types
            try:
                value = getattr(importlib.import_module(module), name)
            except (ImportError, AttributeError):
                return                    # a name that is not there fails when the cell runs
            if isinstance(value, types.ModuleType) and value.__name__ not in NUMPY_MODULES:
                self.refuse("import", node, f"`{shown}`: `{name}` is the module "
                            f"`{value.__name__}`, not one an answer may use ("
                            + ", ".join(sorted(NUMPY_MODULES)) + ")")

    def visit_Name(self, node):
        if node.id == "type":
            self.refuse("dunder", node, "`type` is not allowed in an answer (its result makes "
                        "classes behind the policy's back): use `isinstance(x, C)`")
        if node.id in LITERAL_NAME_CALLS and id(node) not in self.called:
            self.refuse("attribute", node, f"`{node.id}` may only be called at once, with a "
                        "literal attribute name")
        if _dunder(node.id):
            self.refuse("dunder", node, f"`{node.id}`: dunder names are not allowed in an answer")
        elif node.id in FORBIDDEN_NAMES:
            self.refuse("name", node, f"`{node.id}` is not allowed in an answer (it reaches the "
                        "interpreter, files or the notebook, not the exercise)")
        elif _IPYTHON_NAME.match(node.id) and node.id != "_":
            self.refuse("name", node, f"`{node.id}` is IPython's history, not allowed in an answer")
        elif (isinstance(node.ctx, ast.Load) and node.id in self.reserved
              and node.id not in self.lesson_modules and not node.id.isupper()
              and node.id not in self.own and not any(node.id in sc for sc in self.locals)):
            self.refuse("name", node, f"`{node.id}` is the lesson's: an answer works only on what "
                        "its function is given, its own definitions and the notebook's UPPER_CASE "
                        "constants")
        elif node.id in self.lesson_modules and not any(node.id in scope for scope in self.locals):
            self.refuse("name", node, f"`{node.id}` is a module the lesson's cells imported: an "
                        "answer does not reach into modules through the notebook; import what it "
                        "needs itself (numpy, math, or what the cell's allow metadata lists)")

    def _made_here(self, node) -> bool:
        """The chain starts at a name the answer made: its own class or constant, a parameter,
        or a local never bound to something reached from outside (``x = np.random`` is not)."""
        root = _root(node)
        if not isinstance(root, ast.Name):
            return False
        for scope, foreign in zip(reversed(self.locals), reversed(self.foreign)):
            if root.id in scope:
                return root.id not in foreign
        return root.id in self.own

    @staticmethod
    def _constant_name(node) -> bool:
        """An UPPER_CASE name the notebook defines (``BATCH_LIMIT``): read as a value."""
        return isinstance(node, ast.Name) and node.id.isupper()

    def visit_Attribute(self, node):
        attr = node.attr
        if attr == "format" and id(node) not in self.called:
            self.refuse("attribute", node, "`.format` may only be called at once, on a string "
                        "written out")
        if _dunder(attr):
            self.refuse("dunder", node, f"`.{attr}`: dunder attributes are not allowed in an answer")
        elif attr.startswith("_"):
            self.refuse("attribute", node, f"`.{attr}`: no `_private` attributes in an answer "
                        "(name your own attributes without a leading underscore)")
        elif attr in FORBIDDEN_ATTRIBUTES or _FRAME_ATTRIBUTE.match(attr) or attr == "func_globals":
            self.refuse("attribute", node, f"`.{attr}` is not allowed in an answer (it reaches "
                        "files, the interpreter or global settings)")
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self._changes(node)
        self.generic_visit(node)

    def visit_Subscript(self, node):
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self._changes(node)
        self.generic_visit(node)

    def _changes(self, node):
        chain = node.value if isinstance(node, (ast.Attribute, ast.Subscript)) else node
        if isinstance(node, ast.Attribute) and any(
                isinstance(n, (ast.Subscript, ast.Call)) for n in ast.walk(chain)):
            self.refuse("changes", node, f"`{ast.unparse(node)}`: set attributes only through a "
                        "plain name (`obj.attr = ...`), not through an item or a call")
            return
        if self._made_here(node):
            return
        target = ast.unparse(node)
        self.refuse("changes", node, f"`{target}` changes something the answer did not make: "
                    "set attributes and items only on what your function made or received")

    def visit_Constant(self, node):
        if isinstance(node.value, (str, bytes)) and ("__" in str(node.value)):
            self.refuse("dunder", node, "a string holding `__` (a dunder name hides there: "
                        "getattr, format fields)")

    def visit_Call(self, node):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "format":
            text = func.value.value if isinstance(func.value, ast.Constant) else None
            if not isinstance(text, str) or _FORMAT_FIELD.search(text.replace("{{", "").replace("}}", "")):
                self.refuse("attribute", node, "`.format(...)` only on a string written out whose "
                            "fields name no attribute or item (`'{} of {}'.format(a, b)`); "
                            "or use an f-string")
        if isinstance(func, ast.Attribute) and func.attr in MUTATING_METHODS \
                and not self._made_here(func.value):
            self.refuse("changes", node, f"`{ast.unparse(func)}(...)` changes something the "
                        "answer did not make: change only what your function made or received")
        elif isinstance(func, ast.Attribute) and func.attr in MUTATING_METHODS:
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                self._stores_outside_value(ast.Subscript(value=func.value, slice=ast.Constant(0),
                                                         lineno=node.lineno),
                                           arg)
        callee = _root(func)
        if isinstance(func, ast.Lambda) or (isinstance(callee, ast.Name) and (
                callee.id in self.functions or any(callee.id in sc for sc in self.locals))):
            # a callable the answer wrote (a def, a lambda, a method of its own class, a local)
            # may change what it is handed: hand it only what the answer made
            made = self._made_names()
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                arg = arg.value if isinstance(arg, ast.Starred) else arg
                if self._constant_name(arg):
                    continue
                if self._mentions_outside(arg, made):
                    self.refuse("changes", arg, f"`{ast.unparse(arg)}` handed to "
                                f"`{ast.unparse(func)}`, which the answer wrote: pass it only "
                                "what your function made or received")
        if isinstance(func, ast.Name) and func.id in LITERAL_NAME_CALLS:
            if len(node.args) < 2 or not isinstance(node.args[1], ast.Constant) \
                    or not isinstance(node.args[1].value, str):
                self.refuse("attribute", node, f"`{func.id}` needs a literal attribute name")
            elif node.args[1].value in FORBIDDEN_ATTRIBUTES:
                self.refuse("attribute", node, f"`{func.id}(..., {node.args[1].value!r})` is not allowed")
            if func.id == "delattr" and node.args:
                self._changes(ast.Attribute(value=node.args[0], attr="x", ctx=ast.Del(),
                                            lineno=node.lineno))
        if isinstance(func, ast.Name) and func.id == "type" and len(node.args) == 3:
            self.refuse("dunder", node, "`type(name, bases, namespace)` makes a class behind "
                        "the policy's back: write a `class`")
        for kw in node.keywords:
            if kw.arg == "allow_pickle":
                self.refuse("attribute", node, "`allow_pickle` is not allowed in an answer")
        self.generic_visit(node)

    def _function(self, node):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _dunder(node.name) \
                and node.name != "__init__":
            self.refuse("dunder", node, f"`def {node.name}`: special methods other than "
                        "`__init__` are not allowed (they change how objects print and compare)")
        for deco in getattr(node, "decorator_list", []):
            if not (isinstance(deco, ast.Name) and deco.id in DECORATORS):
                self.refuse("top level", deco, f"`@{ast.unparse(deco)}`: a decorator runs code "
                            "when the cell runs; only " + ", ".join(sorted(DECORATORS)) + " are allowed")
            self.visit(deco)
        args = node.args
        for default in args.defaults + [d for d in args.kw_defaults if d is not None]:
            if not _literal(default):
                self.refuse("top level", default, f"default value `{ast.unparse(default)}`: "
                            "a default is evaluated when the cell runs; use a literal "
                            "(a number, string, None, or a tuple of them)")
            self.visit(default)
        scope = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
        scope.update(a.arg for a in (args.vararg, args.kwarg) if a is not None)
        body = node.body if isinstance(node.body, list) else [node.body]
        declared_global = set()
        for child in body:
            for sub in ast.walk(child):
                if isinstance(sub, ast.Global):
                    declared_global.update(sub.names)
                elif isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
                    scope.add(sub.id)
                elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    scope.add(sub.name)
                elif isinstance(sub, (ast.Import, ast.ImportFrom)):
                    scope.update((a.asname or a.name).split(".")[0] for a in sub.names)
                elif isinstance(sub, ast.arg):
                    scope.add(sub.arg)
                elif isinstance(sub, ast.ExceptHandler) and sub.name:
                    scope.add(sub.name)
        scope -= declared_global
        self.locals.append(scope)
        self.foreign.append(set())
        self.foreign[-1].update(self._foreign_locals(body, scope))
        for child in body:
            self.visit(child)
        self.locals.pop()
        self.foreign.pop()
        if node.__class__ is not ast.Lambda:
            every = args.posonlyargs + args.args + args.kwonlyargs + [
                a for a in (args.vararg, args.kwarg) if a is not None]
            for annotation in [a.annotation for a in every] + [node.returns]:
                if annotation is not None:
                    self._annotation(annotation)
                    self.visit(annotation)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def _annotation(self, node):
        """An annotation is a type written out (``int``, ``np.ndarray``, ``list[int]``, ``None``):
        never a string, which typing would evaluate as code."""
        for sub in ast.walk(node):
            if isinstance(sub, ast.Constant) and sub.value is not None and sub.value is not Ellipsis:
                self.refuse("attribute", sub, f"annotation `{ast.unparse(node)}`: write the type "
                            "itself, not a string or a value (a string annotation is code)")
                return
            if isinstance(sub, (ast.Call, ast.Lambda, ast.NamedExpr, ast.BinOp)) \
                    and not (isinstance(sub, ast.BinOp) and isinstance(sub.op, ast.BitOr)):
                self.refuse("attribute", sub, f"annotation `{ast.unparse(node)}`: write the type "
                            "itself")
                return

    def visit_Global(self, node):
        self.refuse("changes", node, f"`{type(node).__name__.lower()} {', '.join(node.names)}`: "
                    "a function may not rebind names outside it; keep state in an object of your "
                    "own class, or return it")

    visit_Nonlocal = visit_Global

    def visit_Assign(self, node):
        for target in node.targets:
            self._stores_outside_value(target, node.value)
        self.generic_visit(node)

    def _stores_outside_value(self, target, value):
        """``C.m = numpy.random`` inside a function: the answer's own class or constant would then
        hold what the answer did not make, and reach it through a name the policy trusts."""
        root = _root(target)
        if target is root or not isinstance(root, ast.Name) or not self.locals \
                or any(root.id in scope for scope in self.locals) or root.id not in self.own:
            return
        made = self._made_names()
        if value is not None and self._mentions_outside(value, made):
            self.refuse("changes", target, f"`{ast.unparse(target)} = {ast.unparse(value)}`: the "
                        "answer's own classes and constants hold only what it made")

    def visit_AnnAssign(self, node):
        if node.annotation is not None:
            self._annotation(node.annotation)
        self.generic_visit(node)

    def _foreign_locals(self, body, scope) -> set[str]:
        """The locals of a function (``scope``) that some binding may point at something the
        answer did not make: assigned, looped over, or taken from a ``with`` or a walrus from
        an expression naming an outside name (other than as the function it calls)."""
        bindings: list[tuple[set[str], ast.AST]] = []
        always: set[str] = set()          # bound to what the answer cannot have made
        for child in body:
            for sub in ast.walk(child):
                if isinstance(sub, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
                    targets = sub.targets if isinstance(sub, ast.Assign) else [sub.target]
                    value = sub.value
                    # x[i] = v, x.a = v: x now holds v (a container laundering a module)
                    for t in targets:
                        root = _root(t)
                        if t is not root and isinstance(root, ast.Name) and value is not None:
                            bindings.append(({root.id} & scope, value))
                elif isinstance(sub, (ast.For, ast.AsyncFor, ast.comprehension)):
                    targets, value = [sub.target], sub.iter
                elif isinstance(sub, ast.withitem) and sub.optional_vars is not None:
                    targets, value = [sub.optional_vars], sub.context_expr
                elif isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) \
                        and sub.func.attr in MUTATING_METHODS:
                    root = _root(sub.func.value)  # d.append(v): d now holds v
                    if isinstance(root, ast.Name):
                        for arg in [*sub.args, *(k.value for k in sub.keywords)]:
                            bindings.append(({root.id} & scope, arg))
                    continue
                elif isinstance(sub, (ast.Import, ast.ImportFrom)):
                    always.update((a.asname or a.name).split(".")[0] for a in sub.names)
                    continue
                elif isinstance(sub, ast.ExceptHandler) and sub.name:
                    always.add(sub.name)
                    continue
                elif isinstance(sub, (ast.Global, ast.Nonlocal)):
                    always.update(sub.names)
                    continue
                else:
                    continue
                names = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
                if value is not None:
                    bindings.append((names & scope, value))
        inner = set().union(*self.locals[:-1]) if len(self.locals) > 1 else set()
        foreign: set[str] = set(always & scope)
        changed = True
        while changed:              # a local copied from a foreign local is foreign too
            changed = False
            made = (self.own | scope | inner) - foreign - set().union(*self.foreign[:-1] or [set()])
            for names, value in bindings:
                if names - foreign and self._mentions_outside(value, made):
                    foreign |= names
                    changed = True
        return foreign

    def visit_ClassDef(self, node):
        for child in node.decorator_list + node.bases:
            self.visit(child)
        for deco in node.decorator_list:
            if not (isinstance(deco, ast.Name) and deco.id in DECORATORS):
                self.refuse("top level", deco, f"`@{ast.unparse(deco)}` on a class: a decorator "
                            "runs code when the cell runs")
        for kw in node.keywords:
            self.refuse("dunder", kw, f"`{kw.arg}=` in a class statement is not allowed")
        for child in node.body:  # a class body runs when the cell runs: definitions only
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Pass)):
                pass
            elif isinstance(child, ast.Expr) and isinstance(child.value, ast.Constant):
                pass
            elif isinstance(child, (ast.Assign, ast.AnnAssign)) and all(
                    self._plain_target(t) for t in (child.targets if isinstance(child, ast.Assign)
                                                    else [child.target])):
                if child.value is not None:
                    self._constant(child.value)
                    if self._mentions_outside(child.value, self.own):
                        self.refuse("changes", child, f"`{ast.unparse(child)}`: a class holds only "
                                    "what the answer made (not a module or a notebook object)")
            else:
                self.refuse("top level", child, f"a `{type(child).__name__.lower()}` statement in "
                            "a class body: a class body only defines methods and constants")
        for child in node.body:
            self.visit(child)

    def visit_Match(self, node):
        self.refuse("syntax", node, "`match` is not allowed in an answer (its patterns read "
                    "attributes behind the policy's back): use if/elif")
        self.visit(node.subject)

