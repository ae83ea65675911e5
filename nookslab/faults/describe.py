"""A fault told for a reader: where it lands, what it does, and the driver's statement before and
after the injector's edit, written as the driver's own code (never the injector's hook names).

The injector routes a faulty spot through a hook named after the fault
(``_nl_fault_ptr_52_14_9_0(...)``, see :mod:`nookslab.faults.injector`); a student should read what
the hook *does* instead: ``hw + (TDLEN ^ 0x10000000)`` for a flipped bit, ``not (tx)`` for an
inverted test, ``memcpy(dst, src, n + 17)`` for an extended copy. :func:`describe` applies the
fault's own rewrite to the function that holds it, then replaces the hook by that reading, so the
"after" shown is the edit the loader really compiles, in plain code.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import lru_cache

from ..kernel.module import parse
from .injector import COPY_LENGTH_ARG
from .types import STALE_WORDS, Fault

_XOR_TYPES = ("TEXT", "SRC", "DST", "PTR", "STACK")
_RESTORE_WITH_FLAGS = ("spin_unlock_irqrestore", "read_unlock_irqrestore",
                       "write_unlock_irqrestore")


@dataclass(frozen=True)
class FaultChange:
    """One fault, readable.

    Attributes
    ----------
    title: the type and the site (``"PTR in e1000_configure, line 166"``).
    what: one sentence on what the fault does, with its parameters in words.
    before, after: the statement the fault hits, before and after the edit (``""`` when the
        fault has no code site, as HEAP's bit flip at a random moment).
    """

    title: str
    what: str
    before: str = ""
    after: str = ""

    def __str__(self) -> str:
        lines = [f"{self.title}: {self.what}"]
        if self.before or self.after:
            lines += [f"  before: {self.before}", f"  after:  {self.after}"]
        return "\n".join(lines)


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 21st..."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _hex(value: int) -> ast.Name:
    # a Name whose id is the hex literal: ast.unparse prints it verbatim
    return ast.Name(id=f"{value:#x}", ctx=ast.Load())


def _grouped(node: ast.expr) -> ast.expr:
    """``node``, parenthesised for the reader unless it is a single term."""
    if isinstance(node, (ast.Name, ast.Constant, ast.Attribute, ast.Call, ast.Subscript)):
        return node
    return ast.Name(id=f"({ast.unparse(node)})", ctx=ast.Load())


def _word(value: int) -> str:
    return f"{value:#010x}"


def title(fault) -> str:
    """The fault's type and where it lands."""
    if not isinstance(fault, Fault):
        return f"{fault.type} (a new fault type)"
    if not fault.function:
        return f"{fault.type} (no code site: a bit flip in the driver's memory)"
    return f"{fault.type} in {fault.function}, line {fault.line}"


# -- finding the statement ----------------------------------------------------------------------
@lru_cache(maxsize=32)
def _spans(source: str) -> tuple[tuple[str, ...], tuple[tuple[int, int], ...]]:
    """The source's lines and the (first, last) line of each top-level function."""
    spans = []
    for node in parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            spans.append((first, node.end_lineno))
    return tuple(source.splitlines()), tuple(spans)


def _snippet(source: str, line: int) -> str:
    """Only the top-level function holding ``line``, padded with blank lines so line numbers
    stay right (parsing a whole driver per fault would cost ~0.1 s for VFAT)."""
    lines, spans = _spans(source)
    span = next(((a, b) for a, b in spans if a <= line <= b), None)
    if span is None:
        return source
    return "\n" * (span[0] - 1) + "\n".join(lines[span[0] - 1:span[1]]) + "\n"


def _statement_at(tree: ast.AST, line: int) -> ast.stmt | None:
    """The innermost statement that holds ``line``."""
    best = None
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and node.lineno <= line <= (node.end_lineno or node.lineno):
            if best is None or (node.lineno, -(node.end_lineno or 0)) >= \
                    (best.lineno, -(best.end_lineno or 0)):
                best = node
    return best


def _show(stmt: ast.stmt | None) -> str:
    """A statement as one line of code; a compound statement as its header."""
    if stmt is None:
        return ""
    if isinstance(stmt, (ast.If, ast.While)):
        word = "while" if isinstance(stmt, ast.While) else "if"
        return f"{word} {ast.unparse(stmt.test)}:"
    if isinstance(stmt, ast.For):
        return f"for {ast.unparse(stmt.target)} in {ast.unparse(stmt.iter)}:"
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return f"def {stmt.name}({ast.unparse(stmt.args)}):"
    if isinstance(stmt, (ast.With, ast.Try)) or hasattr(stmt, "body"):
        return ast.unparse(stmt).splitlines()[0]
    return " ".join(ast.unparse(stmt).split("\n"))


# -- the hook, read as code ------------------------------------------------------------------------
class _Readable(ast.NodeTransformer):
    """Replaces the fault's hook calls by what the hook does, written as plain code."""

    def __init__(self, fault: Fault):
        self.fault = fault
        self.dropped: list[str] = []        # calls the fault removes (SYNC, IRQ)
        self.callee = ""                    # the kernel function a call-site fault hits
        self.operand = ""                   # the value a bit-flip fault flips

    def visit_Call(self, node: ast.Call):
        self.generic_visit(node)
        f = self.fault
        if not (isinstance(node.func, ast.Name) and node.func.id == f.hook):
            return node
        args = node.args
        if f.type in _XOR_TYPES:
            self.operand = ast.unparse(args[0])
            # parenthesised whole, so the flip reads the same inside any expression
            flipped = f"({ast.unparse(_grouped(args[0]))} ^ {1 << f.bit:#x})"
            return ast.Name(id=flipped, ctx=ast.Load())
        if f.type == "BRANCH":
            return ast.Constant(f.bit == 0)
        if f.type == "LOOP":
            return ast.UnaryOp(ast.Not(), _grouped(args[0]))
        if f.type == "INTERFACE":
            return _hex(args[0].value) if isinstance(args[0], ast.Constant) else args[0]
        if not args or not isinstance(args[0], ast.Constant):
            return node
        callee, rest = args[0].value, list(args[1:])
        self.callee = callee
        call = ast.Call(ast.Name(callee, ast.Load()), rest, node.keywords)
        if f.type == "BCOPY" and callee in COPY_LENGTH_ARG and COPY_LENGTH_ARG[callee] < len(rest):
            i = COPY_LENGTH_ARG[callee]
            rest[i] = ast.BinOp(rest[i], ast.Add(), ast.Constant(f.count))
        elif f.type == "USERPTR":
            call.func = ast.Name("memcpy", ast.Load())
        elif f.type == "IRQ":
            if callee in _RESTORE_WITH_FLAGS and rest:
                call.args = [rest[0], ast.Constant(0)]
            elif callee == "spin_unlock_irq":
                call.func = ast.Name("spin_unlock", ast.Load())
            else:
                self.dropped.append(ast.unparse(call))
                return ast.Constant(None)
        elif f.type == "SYNC":
            self.dropped.append(ast.unparse(call))
            if callee in ("spin_lock_irqsave", "down_interruptible"):
                return _hex(STALE_WORDS[f.where % len(STALE_WORDS)])
            return ast.Constant(None)
        return call


@dataclass
class _Site:
    """What the rewrite shows about the site: the assigned name, the callee, dropped calls."""

    target: str = ""
    callee: str = ""
    operand: str = ""
    dropped: tuple[str, ...] = ()


def _after(fault: Fault, snippet: str) -> tuple[str, str, _Site]:
    """(before, after, what the site is) of a code-site fault."""
    original = _statement_at(parse(snippet), fault.line)
    before = _show(original)
    site = _Site()
    if isinstance(original, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        targets = original.targets if isinstance(original, ast.Assign) else [original.target]
        site.target = ", ".join(ast.unparse(t) for t in targets)
    tree = ast.fix_missing_locations(fault.rewrite(parse(snippet)))
    if fault.type == "INTERFACE":
        fn = next((n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)
                   and n.name == fault.function and n.lineno == fault.line), None)
        if fn is None or not fn.body:
            return before, before, site
        params = [a.arg for a in fn.args.args]
        site.target = params[fault.count] if fault.count < len(params) else ""
        entry = _Readable(fault).visit(fn.body[0])
        return before, f"{before} {ast.unparse(entry)}", site
    stmt = _statement_at(tree, fault.line)
    if stmt is None:
        return before, "", site
    if fault.type in ("NOP", "INIT") and isinstance(stmt, ast.Expr) \
            and isinstance(stmt.value, ast.Call) and getattr(stmt.value.func, "id", "") == fault.hook:
        if fault.type == "NOP" or not stmt.value.args:
            return before, "pass", site
        return before, _show(ast.Expr(stmt.value.args[0])), site
    readable = _Readable(fault)
    stmt = readable.visit(stmt)
    after = _show(stmt)
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) \
            and stmt.value.value is None:
        after = "pass"                          # the whole statement was the dropped call
    site.callee, site.dropped = readable.callee, tuple(readable.dropped)
    site.operand = readable.operand
    comment = _comment(fault, site.callee)
    return before, f"{after}  # {comment}" if comment else after, site


def _comment(fault: Fault, callee: str) -> str:
    """What a call-site fault changes that the code cannot show (when, how often)."""
    from .injector import ALLOCATORS
    count = fault.count
    if fault.type == "ALLOC":
        return "NULL on every call" if count <= 1 else f"NULL on every {ordinal(count)} call"
    if fault.type == "MEM_LEAK":
        return f"skipped from the {ordinal(count)} call on"
    if fault.type == "FREE":
        if callee in ALLOCATORS:
            return f"from the {ordinal(count)} call: freed at once on every other call"
        return f"from the {ordinal(count)} call: freed twice, then skipped, alternately"
    if fault.type == "IRQ" and callee in _RESTORE_WITH_FLAGS:
        return "interrupts stay disabled"
    if fault.type == "STACK":
        return f"only the {ordinal(count)} time"
    return ""


# -- the sentence -----------------------------------------------------------------------------------
def _what(fault, before: str, site: _Site) -> str:
    target = site.target or "its target"
    if not isinstance(fault, Fault):
        doc = getattr(getattr(fault, "kind", None), "doc", "") or "defined in the notebook"
        return f"a new fault type: {doc}"
    t, bit, count = fault.type, fault.bit, fault.count
    if t == "HEAP":
        return (f"flips bit {bit % 8} of one byte in one of the driver's live heap blocks or DMA "
                f"buffers, {count / 1000:.3f} ms after the driver is loaded")
    operand = f" {site.operand}" if site.operand else ""
    if t == "TEXT":
        return f"flips bit {bit} of the constant{operand} in the code"
    if t == "SRC":
        return f"flips bit {bit} of the value{operand} where it is read"
    if t == "DST":
        return f"flips bit {bit} of the value stored in {target}, every time"
    if t == "PTR":
        if fault.node == "BinOp":
            return f"flips bit {bit} of the offset{operand} added to an address"
        return f"flips bit {bit} of the address{operand}"
    if t == "STACK":
        return (f"flips bit {bit} of the value stored in {target}, once, on the "
                f"{ordinal(count)} time this line runs")
    if t == "BRANCH":
        return ("forces the test true: the guarded code always runs" if bit == 0 else
                "forces the test false: the guarded code never runs")
    if t == "LOOP":
        return "inverts the test"
    if t == "NOP":
        if before.startswith("return"):
            return (f"deletes the return: the function returns the stale word "
                    f"{_word(STALE_WORDS[0])}")
        if site.target:
            return (f"deletes the statement: {target} keeps the stale word "
                    f"{_word(STALE_WORDS[0])}")
        return "deletes the statement"
    if t == "INIT":
        return (f"deletes the first store to {target}: it keeps the stale word "
                f"{_word(STALE_WORDS[fault.where % len(STALE_WORDS)])} (the value is still "
                f"computed)")
    if t == "INTERFACE":
        return (f"parameter {site.target or count + 1} gets a stale value at entry instead of the "
                f"one passed")
    callee = site.callee or "the call"
    if t == "BCOPY":
        return f"{callee} copies {count} byte(s) too many, every call"
    if t == "ALLOC":
        every = "every call" if count <= 1 else f"every {ordinal(count)} call"
        return f"{callee} returns NULL on {every}"
    if t == "MEM_LEAK":
        return f"{callee} is skipped from its {ordinal(count)} call on (a memory leak)"
    if t == "FREE":
        from .injector import ALLOCATORS
        if callee in ALLOCATORS:
            return (f"from its {ordinal(count)} call on, every other block {callee} returns is "
                    f"freed at once and still used (use after free)")
        return (f"from its {ordinal(count)} call on, {callee} frees twice (double free), then "
                f"skips a free, alternately")
    if t == "SYNC":
        unlock = "unlock" in callee or callee == "up"
        return (f"drops the call {site.dropped[0] if site.dropped else callee}: the lock is "
                + ("never released" if unlock else "not taken"))
    if t == "IRQ":
        return f"{callee} no longer re-enables interrupts: they stay disabled"
    if t == "USERPTR":
        return "copies with a plain memcpy: the user address is no longer checked"
    return fault.doc


@lru_cache(maxsize=1024)
def _describe(fault, source: str) -> FaultChange:
    before = after = ""
    site = _Site()
    if isinstance(fault, Fault) and fault.function and source:
        try:
            before, after, site = _after(fault, _snippet(source, fault.line))
        except (SyntaxError, ValueError, IndexError, AttributeError):
            before, after, site = "", "", _Site()  # a description must never fail a view
    return FaultChange(title(fault), _what(fault, before, site), before, after)


def describe(fault, source: str = "") -> FaultChange:
    """``fault`` told for a reader; ``source`` is the driver's source text (without it, no
    before/after lines)."""
    return _describe(fault, source or "")


def describe_in(extension: str, fault) -> FaultChange:
    """:func:`describe` with the registered ``extension``'s own source."""
    return describe(fault, extension_source(extension))


@lru_cache(maxsize=32)
def extension_source(extension: str) -> str:
    """The source of a registered extension ("" if it has none we can read)."""
    from ..drivers import REGISTRY
    from ..kernel.module import driver_source
    try:
        return driver_source(REGISTRY[extension].source)
    except (KeyError, ValueError, OSError, AttributeError):
        return ""


def ran(fault, events) -> bool:
    """Whether ``fault`` ran: the hook recorded its first activation in ``events``."""
    head = f"{fault} activated"
    return any(e.kind == "fault" and e.detail.startswith(head) for e in events)
