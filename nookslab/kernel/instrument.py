"""What the module loader adds to a driver's code so that no driver, however faulty, can take the
host down: the simulated machine's bounds, counted in simulated steps and bytes.

A C driver runs on hardware that bounds it: a loop is instructions the watchdog can count, a
local array sits on an 8 KiB kernel stack, an integer is a 32-bit register. A Python driver runs
on the host, where an endless generator expression, a recursion or ``b" " * n`` with a corrupted
``n`` would hang the notebook or ask the host for gigabytes. So the loader rewrites the driver's
syntax tree (after the fault injector's rewrites) before compiling it:

* **every loop form steps the watchdog** (:meth:`~nookslab.machine.cpu.CPU.step`): ``while`` and
  ``for`` bodies (one step per back-edge, as before), every element a comprehension or generator
  expression draws, and every element a builtin draws from an iterable on the driver's behalf
  (``list(...)``, ``sum(...)``, ``any(...)``, ``iter(f, sentinel)``, ``map``, ``"".join(...)``,
  ``*args``...), so an endless poll written in any of these forms ends in the watchdog's verdict;
* **every driver function takes a frame on the simulated stack** (the kernel stack natively, the
  domain's stack under Nooks), so a recursion bomb is a kernel stack overflow, and ``alloca``
  (a C local array) takes room in that frame;
* **every sequence or integer the driver builds is checked before it is built**: repetition
  (``seq * n``), ``ljust``/``rjust``/``center``/``zfill``/``expandtabs``/``replace``, ``bytes(n)``,
  ``int.to_bytes``, ``numpy.zeros`` and friends, format widths, huge integer products and powers.
  Nothing a driver keeps on the host may outgrow the simulated machine's RAM; asking for more ends
  the run with a verdict of its own, ``Verdict(kind="limit")`` (:mod:`nookslab.kernel.bounds`).
  A shift by 64 or more (only a fault makes one) takes its count modulo 32, as the simulated
  x86's ``shl`` does, instead of building a 2**count-bit integer.

The rewrite is one pass over the tree; the helpers it calls are bound in the driver's namespace by
:func:`nookslab.kernel.bounds.bindings`. Code the driver imports from elsewhere (the kernel API,
``struct``) is not rewritten: it is the kernel's, or a library's, not the driver's.
"""
from __future__ import annotations

import ast

STEP = "_nl_step"          # one loop back-edge
TICK = "_nl_tick"          # one element of a comprehension (a step that returns True)
FRAME = "_nl_frame"        # push a driver function's frame; returns the stack pointer to restore
CPU = "_nl_cpu"            # the CPU (its ``sp`` is restored when a driver function returns)
FP = "_nl_fp"              # the local holding that stack pointer
MUL = "_nl_mul"            # a * b, checked
SHL = "_nl_shl"            # a << b by a computed count: x86's count masking past 63
POW = "_nl_pow"            # a ** b, checked
AUG = "_nl_aug"            # x *= n, x <<= n, x **= n: checks, returns the right operand
METHOD = "_nl_method"      # obj.name(...) for sized and consuming methods
BUILD = "_nl_build"        # builtin(...) for the builtins that build or consume
ITER = "_nl_iter"          # an iterable drawn from by C code: counted per element
FORMAT = "_nl_format"      # f"{value:{spec}}" with a computed spec

HELPERS = (STEP, TICK, FRAME, CPU, MUL, SHL, POW, AUG, METHOD, BUILD, ITER, FORMAT)

#: builtins whose calls are routed through :data:`BUILD` (they build a sized object or draw every
#: element of an iterable in C), and numpy's constructors, when called by bare name
BUILD_NAMES = frozenset({"list", "tuple", "set", "frozenset", "dict", "sorted", "sum", "min", "max",
                         "any", "all", "bytes", "bytearray", "iter", "map", "filter", "zip",
                         "enumerate", "format", "zeros", "ones", "empty", "full", "arange"})
#: methods whose calls are routed through :data:`METHOD`: sized constructions and consumers
METHOD_NAMES = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs", "replace",
                          "to_bytes", "join", "extend", "extendleft", "update", "fromkeys",
                          "union", "intersection", "difference", "symmetric_difference",
                          "issubset", "issuperset", "isdisjoint", "writelines",
                          "zeros", "ones", "empty", "full", "arange", "repeat", "tile",
                          "resize"})
_LITERALS = (ast.List, ast.Tuple, ast.Set)
_AUGMENTED = {ast.Mult: "*", ast.LShift: "<<", ast.Pow: "**"}


def _name(id_: str) -> ast.Name:
    return ast.Name(id_, ast.Load())


def _call(helper: str, *args: ast.expr, keywords=()) -> ast.Call:
    return ast.Call(_name(helper), list(args), list(keywords))


def _small_constant_product(left: ast.expr, right: ast.expr) -> bool:
    """Both operands literal, and the product small (Python folds it when compiling)."""
    if not (isinstance(left, ast.Constant) and isinstance(right, ast.Constant)):
        return False
    a, b = left.value, right.value
    if isinstance(a, (int, float, complex)) and isinstance(b, (int, float, complex)):
        return abs(a) < 1 << 64 and abs(b) < 1 << 64
    for seq, n in ((a, b), (b, a)):
        if isinstance(seq, (str, bytes)) and isinstance(n, int):
            return len(seq) * n <= 4096
    return False


def _static_call(call: ast.Call) -> bool:
    """A builtin call whose work is bounded by its literal arguments (left unrouted, for speed):
    ``min(a, b)``, ``max(a, b, c)``, ``bytes([x, y])``, ``tuple("abc")``."""
    if call.keywords and call.func.id not in ("min", "max"):
        return False
    if any(isinstance(a, ast.Starred) for a in call.args):
        return False
    if call.func.id in ("min", "max"):
        return len(call.args) >= 2
    if len(call.args) == 1 and call.func.id in ("list", "tuple", "set", "frozenset", "bytes",
                                                 "bytearray", "sorted", "sum", "any", "all"):
        arg = call.args[0]
        if isinstance(arg, _LITERALS):
            return not any(isinstance(e, ast.Starred) for e in arg.elts)
        return isinstance(arg, ast.Constant) and isinstance(arg.value, (str, bytes))
    return False


def _simple(node: ast.expr) -> bool:
    """An expression that can be evaluated twice with no side effect (a name, a constant, an
    attribute or subscript of such)."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        if isinstance(node, ast.Subscript) and not _simple(node.slice):
            return False
        node = node.value
    return isinstance(node, (ast.Name, ast.Constant))


def _load(target: ast.expr) -> ast.expr:
    """A Load-context copy of an assignment target."""
    copy = _copy(target)
    for node in ast.walk(copy):
        if hasattr(node, "ctx"):
            node.ctx = ast.Load()
    return copy


def _copy(node: ast.AST) -> ast.AST:
    fields = {}
    for field, value in ast.iter_fields(node):
        if isinstance(value, list):
            fields[field] = [_copy(v) if isinstance(v, ast.AST) else v for v in value]
        elif isinstance(value, ast.AST):
            fields[field] = _copy(value)
        else:
            fields[field] = value
    new = type(node)(**fields)
    return ast.copy_location(new, node) if hasattr(node, "lineno") else new


def _is_generator(fn: ast.FunctionDef) -> bool:
    todo = list(fn.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Yield, ast.YieldFrom, ast.Await)):
            return True
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            todo.extend(ast.iter_child_nodes(node))
    return False


def _dynamic_spec(spec: ast.AST | None) -> bool:
    return isinstance(spec, ast.JoinedStr) and any(isinstance(v, ast.FormattedValue)
                                                    for v in spec.values)


def _replace(node: ast.AST) -> ast.AST:
    """The expression to put where ``node`` was (``node`` itself if nothing changes)."""
    kind = type(node)
    if kind is ast.BinOp:
        op = type(node.op)
        if op is ast.Mult and not _small_constant_product(node.left, node.right):
            return _call(MUL, node.left, node.right)
        if op is ast.LShift and not (isinstance(node.right, ast.Constant)
                                     and type(node.right.value) is int
                                     and 0 <= node.right.value < 64):
            return _call(SHL, node.left, node.right)
        if op is ast.Pow:
            return _call(POW, node.left, node.right)
        return node
    if kind is ast.Call:
        func = node.func
        if type(func) is ast.Name and func.id in BUILD_NAMES and not _static_call(node):
            return ast.Call(_name(BUILD), [func, *node.args], node.keywords)
        if type(func) is ast.Attribute and func.attr in METHOD_NAMES:
            return ast.Call(_name(METHOD), [func.value, ast.Constant(func.attr), *node.args],
                            node.keywords)
        return node
    if kind is ast.Starred and isinstance(node.ctx, ast.Load):
        node.value = _call(ITER, node.value)
        return node
    if kind is ast.FormattedValue and _dynamic_spec(node.format_spec):
        return ast.FormattedValue(_call(FORMAT, node.value, node.format_spec,
                                        ast.Constant(node.conversion)), -1, None)
    return node


def _statement(node: ast.AST) -> None:
    """The statement-level additions for ``node`` (its children are rewritten separately)."""
    kind = type(node)
    if kind is ast.While or kind is ast.For or kind is ast.AsyncFor:
        node.body.insert(0, ast.Expr(_call(STEP)))
    elif kind is ast.comprehension:
        node.ifs.insert(0, _call(TICK))
    elif kind is ast.FunctionDef or kind is ast.AsyncFunctionDef:
        if not _is_generator(node):
            _add_frame(node)
    elif kind is ast.AugAssign:
        op = _AUGMENTED.get(type(node.op))
        if op is not None and _simple(node.target):
            # x *= n (in place for a list), x <<= n, x **= n: the helper checks the operands
            # and returns the right one
            node.value = _call(AUG, _load(node.target), node.value, ast.Constant(op))
    elif kind is ast.Assign:
        if any(isinstance(t, (ast.Tuple, ast.List))
               and any(isinstance(e, ast.Starred) for e in t.elts) for t in node.targets):
            node.value = _call(ITER, node.value)


def _add_frame(fn: ast.FunctionDef) -> None:
    """``def f(...): _nl_fp = _nl_frame(); try: <body> finally: _nl_cpu.sp = _nl_fp``."""
    body = fn.body
    head = []
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        head, body = body[:1], body[1:]
    restore = ast.Assign([ast.Attribute(_name(CPU), "sp", ast.Store())], _name(FP))
    fn.body = head + [ast.Assign([ast.Name(FP, ast.Store())], _call(FRAME)),
                      ast.Try(body or [ast.Pass()], [], [], [restore])]


def instrument(tree: ast.AST) -> ast.AST:
    """Rewrite ``tree`` in place (see the module docstring); returns it. One pass, no visitor
    call per node: a trial recompiles the functions its faults touch."""
    todo = [tree]
    pop, push = todo.pop, todo.append
    while todo:
        node = pop()
        for field, value in ast.iter_fields(node):
            if type(value) is list:
                for i, item in enumerate(value):
                    if isinstance(item, ast.AST):
                        new = _replace(item)
                        if new is not item:
                            value[i] = new
                        push(new)
            elif isinstance(value, ast.AST):
                new = _replace(value)
                if new is not value:
                    setattr(node, field, new)
                push(new)
        _statement(node)
    return tree
