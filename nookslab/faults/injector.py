"""The injector: where each fault type can land in a driver, and how it is applied.

Sites are the syntax nodes of the driver's own functions (its ``.text``) that fit a fault type's
pattern, enumerated in source order from the pristine source; :func:`generate` picks types and
sites with a seeded ``numpy`` Generator, as the Nooks injector picked a random ``.text`` address and
scanned to the first instruction that fit (SOSP'03 section 5.1).

Applying a fault has two halves, both called by the module loader (``kernel.load(name,
faults=...)``): :func:`rewrite` edits the syntax tree before compiling, routing the faulty spot
through a *hook* named after the fault (``_nl_fault_ptr_52_14_9_0(...)``); :func:`arm` binds that
hook in the loaded module's namespace once its kernel imports are linked. A hook does the faulty
thing (flips the bit, drops the unlock, returns NULL...) and records the fault's first activation
in ``kernel.events`` (kind ``"fault"``). Kernel functions a hook calls are looked up in the
driver's namespace at call time, so under Nooks they are the wrappers the driver would have called.
"""
from __future__ import annotations

import ast
from collections import deque
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..kernel.module import API_MODULE, driver_source, parse
from .types import FAULT_TYPES, STALE_WORDS, Fault

# Kernel functions by role (names as the drivers import them; extra names do no harm).
#: the address argument of each load/store/copy routine (PTR)
ADDRESS_ARG = {"ld8": 0, "ld16": 0, "ld32": 0, "st8": 0, "st16": 0, "st32": 0, "ldbytes": 0,
               "stbytes": 0, "readb": 0, "readw": 0, "readl": 0, "writeb": 1, "writew": 1,
               "writel": 1, "memcpy": 0, "memset": 0, "memmove": 0}
#: the length argument of each copy routine (BCOPY)
COPY_LENGTH_ARG = {"memcpy": 2, "memmove": 2, "copy_from_user": 2, "copy_to_user": 2}
#: allocation routines (ALLOC), and the free routine that undoes each (FREE's early free)
ALLOCATORS = {"kmalloc": "kfree", "vmalloc": "vfree", "alloc_skb": "kfree_skb",
              "dev_alloc_skb": "dev_kfree_skb", "kmem_cache_alloc": None,
              "pci_alloc_consistent": None, "get_free_page": None, "__get_free_pages": None,
              "alloc_etherdev": None, "getblk": None, "bread": None}
FREES = ("kfree", "vfree", "kfree_skb", "dev_kfree_skb", "dev_kfree_skb_irq", "dev_kfree_skb_any",
         "pci_free_consistent", "kmem_cache_free", "free_page", "free_pages", "brelse")
#: calls that restore or enable interrupts (IRQ)
IRQ_RESTORES = ("spin_unlock_irqrestore", "read_unlock_irqrestore", "write_unlock_irqrestore",
                "local_irq_restore", "restore_flags", "local_irq_enable", "sti",
                "spin_unlock_irq")
#: lock and unlock calls (SYNC)
LOCKS = ("spin_lock", "spin_unlock", "spin_lock_irqsave", "spin_unlock_irqrestore",
         "spin_lock_irq", "spin_unlock_irq", "spin_lock_bh", "spin_unlock_bh", "read_lock",
         "read_unlock", "write_lock", "write_unlock", "down", "up", "down_interruptible",
         "lock_kernel", "unlock_kernel")
USER_COPIES = ("copy_from_user", "copy_to_user")
_NOP_STATEMENTS = (ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Return, ast.Raise)


@dataclass(frozen=True)
class Site:
    """A place a fault type can land: the node's kind and position, in a named function."""

    function: str
    node: str
    line: int
    col: int
    end_line: int
    end_col: int
    count: int = 0          # INTERFACE: the parameter index
    choices: int = 0        # INTERFACE: how many stale sources there are (other params + words)

    @classmethod
    def of(cls, function: str, node: ast.AST, **extra) -> "Site":
        return cls(function, type(node).__name__, node.lineno, node.col_offset,
                   node.end_lineno, node.end_col_offset, **extra)


def _called(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id
    return None


class _Collector(ast.NodeVisitor):
    """Walks the driver's functions in source order and files each node under the types it fits."""

    def __init__(self, tree: ast.Module):
        self.sites: dict[str, list[Site]] = {t: [] for t in FAULT_TYPES}
        self.sites["USERPTR"] = []
        self.imports: set[str] = set()
        self.toplevel: set[str] = set()
        for node in tree.body:
            if isinstance(node, ast.ImportFrom):
                self.imports.update(a.asname or a.name for a in node.names)
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                self.toplevel.add(node.name)
        self.function: str | None = None
        self.globals: set[str] = set()
        self.assigned: set[str] = set()
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                self.visit_function(node)

    def add(self, kind: str, node: ast.AST, **extra) -> None:
        self.sites[kind].append(Site.of(self.function, node, **extra))

    def visit_function(self, fn: ast.FunctionDef) -> None:
        outer = (self.function, self.globals, self.assigned)
        self.function = fn.name
        self.globals = {n for g in ast.walk(fn) if isinstance(g, ast.Global) for n in g.names}
        self.assigned = set()
        params = [a.arg for a in fn.args.args]
        for index in range(len(params)):
            self.add("INTERFACE", fn, count=index, choices=len(params) - 1 + len(STALE_WORDS))
        for stmt in fn.body:
            self.visit(stmt)
        self.function, self.globals, self.assigned = outer

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:      # nested functions
        self.visit_function(node)

    def generic_visit(self, node: ast.AST) -> None:
        if isinstance(node, _NOP_STATEMENTS) and not _is_docstring(node):
            self.add("NOP", node)
        super().generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.add("DST", node)
        if len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name not in self.globals:
                self.add("STACK", node)
                if name not in self.assigned:
                    self.add("INIT", node)
                self.assigned.add(name)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.add("DST", node)
        self.generic_visit(node)

    def _test(self, node) -> None:
        self.add("BRANCH", node.test)
        self.add("LOOP", node.test)
        self.generic_visit(node)

    visit_If = visit_While = visit_IfExp = _test

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, int):
            self.add("TEXT", node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        # NULL_PRIV.regs: a struct-field offset the C compiler would have encoded as an immediate.
        if isinstance(node.value, ast.Name) and node.value.id.isupper() \
                and isinstance(node.ctx, ast.Load):
            self.add("TEXT", node)
            return
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if not isinstance(node.ctx, ast.Load):
            return
        if node.id.isupper():
            self.add("TEXT", node)
        elif node.id not in self.imports and node.id not in self.toplevel \
                and node.id not in _BUILTINS:
            self.add("SRC", node)

    def visit_Call(self, node: ast.Call) -> None:
        name = _called(node)
        if name in ADDRESS_ARG and len(node.args) > ADDRESS_ARG[name]:
            self.add("PTR", node.args[ADDRESS_ARG[name]])
        if name in COPY_LENGTH_ARG and len(node.args) > COPY_LENGTH_ARG[name]:
            self.add("BCOPY", node)
        if name in ALLOCATORS:
            self.add("ALLOC", node)
            if ALLOCATORS[name]:
                self.add("FREE", node)
        if name in FREES:
            self.add("FREE", node)
            self.add("MEM_LEAK", node)
        if name in IRQ_RESTORES:
            self.add("IRQ", node)
        if name in LOCKS:
            self.add("SYNC", node)
        if name in USER_COPIES:
            self.add("USERPTR", node)
        for arg in node.args:            # never the called name itself: that is not an operand
            self.visit(arg)
        for kw in node.keywords:
            self.visit(kw.value)
        if not isinstance(node.func, ast.Name):
            self.visit(node.func)


_BUILTINS = {"len", "min", "max", "int", "bool", "bytes", "range", "abs", "isinstance", "None",
             "True", "False", "print", "str", "hex", "divmod", "sum", "any", "all"}


def _is_docstring(node: ast.AST) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) \
        and isinstance(node.value.value, str)


@lru_cache(maxsize=None)
def sites_of_source(source: str) -> dict[str, tuple[Site, ...]]:
    """Every site of every fault type in a driver's source, in source order."""
    collector = _Collector(parse(source))
    return {kind: tuple(found) for kind, found in collector.sites.items()}


def sites(extension) -> dict[str, tuple[Site, ...]]:
    """Every site of every fault type in the source of ``extension`` (a package extension's
    name or an out-of-tree :class:`~nookslab.Extension`)."""
    from ..extension import driver_of
    return sites_of_source(driver_of(extension)[1].text)


# -- choosing faults ------------------------------------------------------------------------------
HEAP_WINDOW_US = 20_000        # a HEAP flip lands within the first 20 ms after load (trial length)


def bcopy_extension(u: float, rng: np.random.Generator) -> int:
    """How far BCOPY extends a copy: 50% by 1, 44% by 2-1023, 6% by a page (the injector's split)."""
    if u < 0.50:
        return 1
    if u < 0.94:
        return int(rng.integers(2, 1024))
    return 4096


def generate(extension: str, count: int, rng: np.random.Generator,
             types: tuple[str, ...] = FAULT_TYPES) -> tuple[Fault, ...]:
    """``count`` random faults for ``extension``: a type drawn uniformly, then a site of that type.

    A type with no site in this driver is drawn again (the paper's injector scanned on to the next
    fitting instruction). Every fault draws the same amount of randomness, so the k-th fault of a
    trial does not depend on the types before it.
    """
    found = sites(extension)
    usable = [t for t in types if t == "HEAP" or found.get(t)]
    if not usable:
        raise ValueError(f"no site for fault types {', '.join(types)} in "
                         f"{getattr(extension, 'name', extension)}")
    faults = []
    for _ in range(count):
        draws = rng.integers(0, 2**32, size=6)
        kind = usable[int(draws[0]) % len(usable)]
        sub = np.random.default_rng(int(draws[1]))
        bit = int(draws[2] % 32)
        where = int(draws[3])
        if kind == "HEAP":
            faults.append(Fault("HEAP", bit=bit, count=int(draws[4] % HEAP_WINDOW_US),
                                where=where))
            continue
        choices = found[kind]
        site = choices[int(draws[4]) % len(choices)]
        params = dict(bit=bit, count=0, where=0)
        if kind == "BRANCH":
            params["bit"] = bit & 1
        elif kind == "STACK":
            params["count"] = int(sub.integers(1, 9))
        elif kind in ("FREE", "MEM_LEAK", "ALLOC"):
            params.update(bit=0, count=int(sub.integers(1, 5)))
        elif kind == "BCOPY":
            params.update(bit=0, count=bcopy_extension(float(sub.random()), sub))
        elif kind == "INIT":
            params.update(bit=0, where=where % len(STALE_WORDS))
        elif kind == "INTERFACE":
            params.update(bit=0, count=site.count, where=where % site.choices)
        elif kind in ("SYNC", "IRQ", "NOP", "LOOP"):
            params.update(bit=0, where=where % len(STALE_WORDS) if kind == "SYNC" else 0)
        faults.append(Fault(kind, site.function, site.line, site.col, site.end_line,
                            site.end_col, site.node, **params))
    return tuple(faults)


# -- applying faults: the syntax-tree half ------------------------------------------------------
def _find(tree: ast.AST, fault: Fault):
    """(parent, field, index, node) of the node a fault names, or None if it is gone."""
    key = (fault.node, fault.line, fault.col, fault.end_line, fault.end_col)
    for parent in _walk_near(tree, fault.line):
        for field, value in ast.iter_fields(parent):
            items = value if isinstance(value, list) else [value]
            for index, node in enumerate(items):
                if isinstance(node, ast.AST) and getattr(node, "lineno", None) == fault.line \
                        and (type(node).__name__, node.lineno, node.col_offset,
                             node.end_lineno, node.end_col_offset) == key:
                    return parent, field, (index if isinstance(value, list) else None), node
    return None


def _start(stmt: ast.AST) -> int:
    return min([getattr(stmt, "lineno", 0)]
               + [d.lineno for d in getattr(stmt, "decorator_list", ())])


def _walk_near(tree: ast.AST, line: int, before: bool = False):
    """``ast.walk(tree)`` restricted to the top-level statements that can hold nodes of ``line``
    (``before``: of any line up to it), in the same order: the search costs a function, not
    the whole driver."""
    if not isinstance(tree, ast.Module):
        yield from ast.walk(tree)
        return
    yield tree
    todo = deque(s for s in tree.body if _start(s) <= line
                 and (before or line <= getattr(s, "end_lineno", line)))
    while todo:
        node = todo.popleft()
        todo.extend(ast.iter_child_nodes(node))
        yield node


def _put(parent, field, index, new) -> None:
    if index is None:
        setattr(parent, field, new)
    else:
        getattr(parent, field)[index] = new


def _hook_call(fault: Fault, *args: ast.expr) -> ast.Call:
    return ast.Call(ast.Name(fault.hook, ast.Load()), list(args), [])


def _function(tree: ast.AST, name: str, line: int) -> ast.FunctionDef | None:
    best = None
    for node in _walk_near(tree, line, before=True):
        if isinstance(node, ast.FunctionDef) and node.name == name and node.lineno <= line \
                and (best is None or node.lineno > best.lineno):
            best = node
    return best


def _prebind_stale(tree, fault: Fault, assign: ast.Assign, word: int) -> None:
    """Bind the local ``assign`` stores to a stale word at function entry (as C's stack slot)."""
    if len(assign.targets) != 1 or not isinstance(assign.targets[0], ast.Name):
        return
    name = assign.targets[0].id
    fn = _function(tree, fault.function, fault.line)
    if fn is None or name in {a.arg for a in fn.args.args} \
            or any(isinstance(g, ast.Global) and name in g.names for g in ast.walk(fn)):
        return                                   # a parameter or a global is already bound
    fn.body.insert(0, ast.Assign([ast.Name(name, ast.Store())], ast.Constant(word)))


def rewrite(fault: Fault, tree: ast.Module) -> ast.Module:
    """Apply ``fault``'s syntax-tree edit to ``tree`` (in place; returns it).

    A site that is no longer there (another fault of the same trial removed the statement holding
    it) leaves the tree unchanged: the fault simply never runs.
    """
    kind = fault.type
    if kind == "HEAP":
        return tree
    if kind == "INTERFACE":
        fn = _function(tree, fault.function, fault.line)
        if fn is None or fault.count >= len(fn.args.args):
            return tree
        params = [a.arg for a in fn.args.args]
        victim = params[fault.count]
        others = [p for p in params if p != victim]
        source = (ast.Name(others[fault.where], ast.Load()) if fault.where < len(others)
                  else ast.Constant(STALE_WORDS[(fault.where - len(others)) % len(STALE_WORDS)]))
        fn.body.insert(0, ast.Assign([ast.Name(victim, ast.Store())], _hook_call(fault, source)))
        return tree
    found = _find(tree, fault)
    if found is None:
        return tree
    parent, field, index, node = found
    if kind in ("TEXT", "SRC", "BRANCH", "LOOP"):
        _put(parent, field, index, _hook_call(fault, node))
    elif kind == "PTR":
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            node.right = _hook_call(fault, node.right)
        else:
            _put(parent, field, index, _hook_call(fault, node))
    elif kind in ("DST", "STACK"):
        node.value = _hook_call(fault, node.value)
    elif kind == "NOP":
        _put(parent, field, index, ast.copy_location(ast.Expr(_hook_call(fault)), node))
        if isinstance(node, ast.Assign):           # a local whose store is gone stays stale
            _prebind_stale(tree, fault, node, STALE_WORDS[0])
        elif isinstance(node, ast.Return):         # falling off the end returns a stale eax
            fn = _function(tree, fault.function, fault.line)
            if fn is not None:
                fn.body.append(ast.Return(ast.Constant(STALE_WORDS[0])))
    elif kind == "INIT":
        # The store is gone (its value is still computed); the local keeps a stale word.
        _put(parent, field, index, ast.copy_location(ast.Expr(_hook_call(fault, node.value)), node))
        _prebind_stale(tree, fault, node, STALE_WORDS[fault.where % len(STALE_WORDS)])
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
            and not node.func.id.startswith("_nl_fault_"):
        # The call-site faults: route the call through the hook, which gets the callee's name
        # first. A call another fault of the trial already rerouted is left alone.
        node.args.insert(0, ast.Constant(node.func.id))
        node.func = ast.Name(fault.hook, ast.Load())
    return tree
