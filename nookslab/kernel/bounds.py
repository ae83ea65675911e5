"""The helpers :mod:`nookslab.kernel.instrument` routes a driver's code through, bound per module.

Each is bound to one kernel (its CPU and RAM size) and one module (named in verdicts). Loops step
the CPU's watchdog; driver functions push frames on the simulated stack; sizes are checked before
anything is built. The bound on a size is the simulated machine's RAM: no object a driver keeps
on the host may be bigger than the whole machine it runs on (a corrupted count asking for 56 GB
is refused before the host is asked), and no integer wider than the RAM's bits; nor may two
integers of more than :data:`MAX_FACTOR_BITS` each be multiplied (the machine's words are 32 bits,
and a product of two 16 MiB integers would take the host minutes). Refusing
ends the run with ``Verdict(kind="limit", cause="simulator limit: ...")``: a bound of the
simulator, never mistaken for something the simulated kernel met.
"""
from __future__ import annotations

import builtins
import collections
import operator
import re

import numpy as np

from . import instrument as names

#: Widest factors of a product or power a driver may compute (bits): the host's multiplication
#: time grows faster than linearly with them (a C driver's registers are 32 bits wide).
MAX_FACTOR_BITS = 1 << 20
#: Sized containers this small are drawn from without counting each element (bounded work).
FREE_ELEMENTS = 64
_WORD = 1 << 64
_SIZED = frozenset({list, tuple, str, bytes, bytearray, dict, set, frozenset, range})
_TEXT = (str, bytes, bytearray)
_SEQUENCES = (str, bytes, bytearray, list, tuple)
_RECEIVERS = frozenset({list, set, frozenset, dict, bytearray, bytes, str, collections.deque})
_CONSUMING = frozenset({"extend", "extendleft", "update", "fromkeys", "union", "intersection",
                        "difference", "symmetric_difference", "issubset", "issuperset",
                        "isdisjoint", "writelines"})
_NUMPY = {np.zeros: "zeros", np.ones: "ones", np.empty: "empty", np.full: "full",
          np.arange: "arange"}
_NUMBERS = re.compile(r"\d+")


class _Counted:
    """An iterator drawn from on the driver's behalf: one watchdog step per element."""

    __slots__ = ("_it", "_step")

    def __init__(self, it, step):
        self._it = it
        self._step = step

    def __iter__(self):
        return self

    def __next__(self):
        self._step()
        return next(self._it)


def _itemsize(seq) -> int:
    return 8 if isinstance(seq, (list, tuple)) else 1


def _numpy_bytes(kind: str, args: tuple, kw: dict) -> int:
    """Bytes a numpy constructor would allocate (an upper bound)."""
    try:
        if kind == "arange":
            nums = [a for a in args if isinstance(a, (int, float))]
            if not nums:
                return 0
            start, stop, step = (0, nums[0], 1) if len(nums) == 1 else \
                (nums[0], nums[1], nums[2] if len(nums) > 2 else 1)
            return int(abs((stop - start) / step)) * 8 if step else 0
        shape = args[0] if args else kw.get("shape", 0)
        count = 1
        for n in (shape if isinstance(shape, (tuple, list)) else (shape,)):
            count *= max(operator.index(n), 0)
        dtype = kw.get("dtype", args[1] if kind != "full" and len(args) > 1 else None)
        return count * np.dtype(dtype if dtype is not None else float).itemsize
    except (TypeError, ValueError, IndexError, OverflowError):
        return 0                    # not a size we understand: numpy will say what is wrong


def bindings(kernel, module: str) -> dict:
    """The helpers for ``module``'s namespace on ``kernel`` (see :mod:`.instrument`)."""
    cpu = kernel.cpu
    step = cpu.step
    ram = kernel.machine.memory.size

    def refuse(what: str, size: int):
        raise kernel.limit(f"simulator limit: {module} asked the host for a {size:,}-byte "
                           f"{what}; the simulated machine has {ram:,} bytes of RAM")

    def check_int(bits: int, factors: int = 0) -> None:
        """An integer of ``bits`` bits, from factors of at most ``factors`` bits, is in bounds."""
        if bits > 8 * ram or factors > MAX_FACTOR_BITS:
            what = f"a {bits:,}-bit integer" if bits > 8 * ram else \
                f"a product of two integers of over {MAX_FACTOR_BITS:,} bits"
            raise kernel.limit(f"simulator limit: {module} computed {what}; the simulated "
                               f"machine has {ram:,} bytes of RAM and 32-bit registers")

    def counted(x):
        if type(x) in _SIZED:
            try:
                if len(x) <= FREE_ELEMENTS:
                    return x
            except OverflowError:
                pass
        return _Counted(iter(x), step)

    def tick():
        step()
        return True

    # -- arithmetic ---------------------------------------------------------------------------
    def mul(a, b, low=-_WORD, high=_WORD):
        try:
            if low < a < high and low < b < high:       # numbers that fit a register pair
                return a * b
        except (TypeError, ValueError):                 # a sequence, an array, another object
            pass
        return _mul_slow(a, b)

    def _mul_slow(a, b):
        if isinstance(a, int) and isinstance(b, int):
            bits_a, bits_b = a.bit_length(), b.bit_length()
            check_int(bits_a + bits_b, min(bits_a, bits_b))
            return a * b
        for seq, n in ((a, b), (b, a)):
            if isinstance(seq, _SEQUENCES):
                try:
                    count = operator.index(n)
                except TypeError:
                    continue
                size = len(seq) * count * _itemsize(seq)
                if size > ram:
                    refuse(f"{type(seq).__name__} (repetition x{count:,})", size)
                break
        return a * b

    def shl(a, b):
        if b.__class__ is int and 0 <= b < 64:
            return a << b
        if isinstance(a, int) and isinstance(b, int) and b >= 64:
            # only a fault makes such a count; the simulated machine is an x86, whose shl
            # takes the count modulo 32 (a Python shift would build a 2**b-bit integer)
            return a << (b & 31)
        return a << b

    def pow_(a, b):
        if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1:
            check_int(a.bit_length() * b, a.bit_length() * b)
        return a ** b

    def aug(x, n, op: str):
        if op == "*":
            mul_check(x, n)
        elif not (isinstance(x, int) and isinstance(n, int)):
            pass
        elif op == "<<":
            if n >= 64:
                return n & 31
        elif n > 0 and abs(x) > 1:
            check_int(x.bit_length() * n, x.bit_length() * n)
        return n

    def mul_check(a, b):
        if isinstance(a, int) and isinstance(b, int):
            if not (-_WORD < a < _WORD and -_WORD < b < _WORD):
                bits_a, bits_b = a.bit_length(), b.bit_length()
                check_int(bits_a + bits_b, min(bits_a, bits_b))
        elif isinstance(a, _SEQUENCES):
            try:
                count = operator.index(b)
            except TypeError:
                return
            if len(a) * count * _itemsize(a) > ram:
                refuse(f"{type(a).__name__} (repetition x{count:,})",
                       len(a) * count * _itemsize(a))

    # -- builtins -----------------------------------------------------------------------------
    def build(f, *args, **kw):
        rule = _RULES.get(f)
        if rule is None:
            return f(*args, **kw)
        return rule(f, args, kw)

    def first(f, args, kw):                      # list(it), sum(it, 0), enumerate(it, 1)...
        if args:
            args = (counted(args[0]),) + args[1:]
        return f(*args, **kw)

    def single(f, args, kw):                     # min(it) / max(it), not min(a, b)
        if len(args) == 1:
            args = (counted(args[0]),)
        return f(*args, **kw)

    def rest(f, args, kw):                       # map(fn, *its), filter(fn, it)
        return f(args[0], *map(counted, args[1:]), **kw) if args else f(**kw)

    def every(f, args, kw):                      # zip(*its)
        return f(*map(counted, args), **kw)

    def iter_(f, args, kw):                      # iter(x), iter(callable, sentinel)
        return _Counted(f(*args, **kw), step)

    def dict_(f, args, kw):
        if args and not hasattr(args[0], "keys"):
            args = (counted(args[0]),) + args[1:]
        return f(*args, **kw)

    def bytes_(f, args, kw):
        if args:
            x = args[0]
            if isinstance(x, int) or hasattr(x, "__index__") and not hasattr(x, "__iter__"):
                if operator.index(x) > ram:                 # bytes(n): n zero bytes
                    refuse(f"{f.__name__} object", operator.index(x))
            elif not isinstance(x, (str, bytes, bytearray, memoryview)):
                args = (counted(x),) + args[1:]
        return f(*args, **kw)

    def format_(f, args, kw):
        if len(args) > 1:
            spec_check(args[1])
        return f(*args, **kw)

    def numpy_(f, args, kw):
        size = _numpy_bytes(_NUMPY[f], args, kw)
        if size > ram:
            refuse(f"numpy array ({_NUMPY[f]})", size)
        return f(*args, **kw)

    _RULES = {list: first, tuple: first, set: first, frozenset: first, sorted: first, sum: first,
              any: first, all: first, enumerate: first, min: single, max: single, map: rest,
              filter: rest, zip: every, iter: iter_, dict: dict_, bytes: bytes_,
              bytearray: bytes_, format: format_}
    _RULES.update(dict.fromkeys(_NUMPY, numpy_))

    def spec_check(spec) -> None:
        if isinstance(spec, str):
            widest = max((int(n) for n in _NUMBERS.findall(spec)), default=0)
            if widest > ram:
                refuse(f"formatted string (spec {spec[:40]!r})", widest)

    def fmt(value, spec, conversion: int):
        if conversion == 115:
            value = str(value)
        elif conversion == 114:
            value = repr(value)
        elif conversion == 97:
            value = ascii(value)
        spec_check(spec)
        return builtins.format(value, spec)

    # -- methods ------------------------------------------------------------------------------
    def method(obj, name: str, *args, **kw):
        if name not in names.METHOD_NAMES:   # the loader only ever writes these: never a way to
            raise TypeError(f"{names.METHOD}: not a routed method: {name!r}")  # getattr by string
        fn = getattr(obj, name)
        kind = type(obj)
        if name in _CONSUMING:
            if kind in _RECEIVERS or obj in _RECEIVERS:          # dict.fromkeys(...)
                args = tuple(a if name == "update" and hasattr(a, "keys") else counted(a)
                             for a in args)
            return fn(*args, **kw)
        size = 0
        if isinstance(obj, _TEXT):
            if name in ("ljust", "rjust", "center", "zfill"):
                width = args[0] if args else kw.get("width", 0)
                size = width if isinstance(width, int) else 0
            elif name == "expandtabs":
                tab = args[0] if args else kw.get("tabsize", 8)
                size = len(obj) * tab if isinstance(tab, int) else 0
            elif name == "replace" and len(args) >= 2:
                old, new = args[0], args[1]
                if isinstance(old, _TEXT) and isinstance(new, _TEXT):
                    count = len(obj) + 1 if not old else len(obj) // len(old)
                    size = len(obj) + count * len(new)
            elif name == "join" and args:
                items = list(counted(args[0]))
                size = sum(len(i) for i in items if isinstance(i, _TEXT)) \
                    + len(obj) * max(len(items) - 1, 0)
                if size > ram:
                    refuse(f"{kind.__name__} (join)", size)
                return fn(items, *args[1:], **kw)
        elif kind is int and name == "to_bytes":
            length = args[0] if args else kw.get("length", 1)
            size = length if isinstance(length, int) else 0
        elif obj is np and name in ("zeros", "ones", "empty", "full", "arange"):
            size = _numpy_bytes(name, args, kw)
        elif name in ("repeat", "tile", "resize") and (obj is np or isinstance(obj, np.ndarray)):
            size = _numpy_repeat_bytes(obj, name, args, kw)
        if size > ram:
            refuse(f"{kind.__name__ if obj is not np else 'numpy array'} ({name})", size)
        return fn(*args, **kw)

    helpers = {
        names.STEP: step, names.TICK: tick, names.FRAME: cpu.frame, names.CPU: cpu,
        names.MUL: mul, names.SHL: shl, names.POW: pow_, names.AUG: aug,
        names.METHOD: method, names.BUILD: build, names.ITER: counted, names.FORMAT: fmt,
    }
    assert set(helpers) == set(names.HELPERS)
    return helpers


def _numpy_repeat_bytes(obj, name: str, args: tuple, kw: dict) -> int:
    """Bytes ``numpy.repeat``/``tile``/``resize`` (or the array methods) would allocate."""
    try:
        if obj is np:
            array, args = np.asarray(args[0]), args[1:]
        else:
            array = obj
        count = args[0] if args else kw.get("repeats", kw.get("reps", kw.get("new_shape", 1)))
        if name == "repeat":
            total = int(np.sum(count)) * (array.size if np.ndim(count) == 0 else 1)
        else:
            total = int(np.prod(count)) * (array.size if name == "tile" else 1)
        return max(total, 0) * array.itemsize
    except (TypeError, ValueError, IndexError, OverflowError):
        return 0
