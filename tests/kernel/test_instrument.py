"""The loader's rewrite of driver code (nookslab.kernel.instrument) and its helpers
(nookslab.kernel.bounds): every loop form steps the watchdog, every function takes a frame, every
size is checked before anything is built; sound code computes what it computed before."""
import builtins

import pytest

import nookslab
from nookslab.kernel.bounds import bindings
from nookslab.kernel.module import compile_driver
from nookslab.kernel.panic import KernelPanic
from nookslab.machine import StackOverflow, Watchdog

BUDGET = 1_000


def driver(source: str):
    """``source`` compiled as a driver, on a fresh native kernel with an armed budget."""
    k = nookslab.boot(mode="native", seed=0, step_budget=BUDGET)
    code, _ = compile_driver(source, "t")
    ns = {"__builtins__": builtins, **bindings(k, "t"), "alloca": k.cpu.alloca}
    exec(code, ns)
    k.cpu.arm()
    return k, ns


def test_sound_code_computes_what_plain_python_computes():
    source = '''
import numpy as np

def f(xs, n):
    """a docstring stays"""
    out = [x * 2 for x in xs if x]
    out.extend(range(n))
    s = {x: x * x for x in range(n)}
    total = sum(x for x in xs) + max(xs) + min(3, n) + len(list(iter(xs)))
    pad = b"ab".ljust(5, b".") + bytes(3) + bytes([1, 2]) + b"-" * n
    text = ",".join(str(x) for x in xs) + f"{n:>{4}}" + "x".zfill(4)
    acc = 3
    acc *= n
    acc <<= 2
    acc **= 2
    return (out, s, total, pad, text, acc, 1 << n, 2 ** n, [*xs, *range(2)],
            sorted(map(abs, xs)), list(zip(xs, xs)), dict(zip(xs, xs)), np.zeros(n).size,
            (np.arange(n) * 2).tolist(), int(np.uint32(n) * 5),
            (255).to_bytes(2, "little"), "a\\tb".expandtabs(2), "aXb".replace("X", "yy"))
'''
    k, ns = driver(source)
    plain = {}
    exec(compile(source, "plain", "exec"), plain)
    assert ns["f"]([3, -1, 0, 2], 3) == plain["f"]([3, -1, 0, 2], 3)
    assert ns["f"].__doc__ == "a docstring stays"
    assert k.verdict is None and k.cpu.sp == k.cpu.stack_top


@pytest.mark.parametrize("loop", [
    "any(x for x in iter(int, 1))",
    "[x for x in iter(int, 1)]",
    "{x: 1 for x in iter(int, 1)}",
    "list(iter(int, 1))",
    "sum(range(1 << 62))",
    "max(iter(int, 1))",
    "sorted(iter(int, 1))",
    "''.join(map(str, iter(int, 1)))",
    "[].extend(iter(int, 1))",
    "set().update(iter(int, 1))",
    "[*iter(int, 1)]",
    "print(*iter(int, 1))",
    "bytes(iter(int, 1))",
    "dict(zip(iter(int, 1), iter(int, 1)))",
])
def test_an_endless_loop_in_any_form_meets_the_watchdog_within_the_budget(loop):
    k, ns = driver(f"def f():\n    return {loop}\n")
    with pytest.raises(Watchdog, match=f"no progress in kernel after {BUDGET} steps"):
        ns["f"]()
    assert k.cpu.steps == BUDGET + 1


def test_each_element_a_comprehension_draws_is_one_step():
    k, ns = driver("def f(n):\n    return [i for i in range(n) if i % 2]\n")
    before = k.cpu.steps
    assert ns["f"](10) == [1, 3, 5, 7, 9]
    assert k.cpu.steps - before == 10


def test_small_containers_are_drawn_from_without_steps_and_big_ones_one_step_each():
    k, ns = driver("def f(xs):\n    return sum(xs)\n")
    before = k.cpu.steps
    assert ns["f"](list(range(64))) == 2016 and k.cpu.steps == before
    assert ns["f"](list(range(65))) == 2080 and k.cpu.steps - before == 65 + 1


@pytest.mark.parametrize("build, what", [
    ("b'x'.ljust(n)", "bytes (ljust)"),
    ("'x'.rjust(n)", "str (rjust)"),
    ("'x'.center(n)", "str (center)"),
    ("'x'.zfill(n)", "str (zfill)"),
    ("b' ' * n", "bytes (repetition x"),
    ("n * [0]", "list (repetition x"),
    ("bytearray(n)", "bytearray object"),
    ("n.to_bytes(n, 'little')", "int (to_bytes)"),
    ("f'{0:{n}}'", "formatted string"),
    ("format(0, str(n))", "formatted string"),
    ("__import__('numpy').zeros(n)", "numpy array (zeros)"),
    ("('x' * 1_000_000).replace('', 'y' * 100)", "str (replace)"),
    ("'-'.join(['x' * 1_000_000] * 64)", "str (join)"),
])
def test_a_huge_construction_is_refused_before_it_is_built(build, what):
    k, ns = driver(f"def f(n):\n    return {build}\n")
    with pytest.raises(KernelPanic):
        ns["f"](1 << 33)
    assert k.verdict.kind == "limit" and what in k.verdict.cause
    assert k.verdict.cause.startswith("simulator limit: t asked the host for a ")


def test_an_in_place_repetition_is_checked_and_still_in_place():
    k, ns = driver("def f(xs, n):\n    ys = xs\n    ys *= n\n    return ys is xs\n")
    assert ns["f"]([1], 3) is True
    with pytest.raises(KernelPanic):
        ns["f"]([1], 1 << 40)
    assert "list (repetition x1,099,511,627,776)" in k.verdict.cause


@pytest.mark.parametrize("compute", ["a * a", "a ** 3", "3 ** (1 << 40)"])
def test_huge_integer_products_and_powers_are_refused(compute):
    k, ns = driver(f"def f(a):\n    return {compute}\n")
    with pytest.raises(KernelPanic):
        ns["f"](1 << 2_000_000)
    assert k.verdict.kind == "limit" and "computed a" in k.verdict.cause


def test_a_shift_by_a_faulty_count_takes_it_modulo_32_as_x86_does():
    k, ns = driver("def f(x, n):\n    y = x\n    y <<= n\n    return x << n, y\n")
    assert ns["f"](1, 12) == (4096, 4096)
    assert ns["f"](1, 40) == (1 << 40, 1 << 40)              # a 64-bit shift stays one
    assert ns["f"](1, 12 ^ 1 << 30) == (4096, 4096)           # not a 2**30-bit integer
    assert k.verdict is None


def test_every_function_takes_a_frame_and_gives_it_back_even_when_it_raises():
    k, ns = driver("def inner():\n    return 1 // 0\n\ndef outer():\n    return inner()\n")
    top = k.cpu.sp
    with pytest.raises(ZeroDivisionError):
        ns["outer"]()
    assert k.cpu.sp == top


def test_a_local_array_lives_in_the_frame_and_is_freed_on_return():
    k, ns = driver("def f(n):\n    buf = alloca(n)\n    return buf\n")
    top = k.cpu.sp
    assert ns["f"](100) == top - 256 - 100 and k.cpu.sp == top
    with pytest.raises(StackOverflow, match="a 8,192-byte local array does not fit"):
        ns["f"](8192)
    with pytest.raises(StackOverflow, match="a 4,294,967,296-byte local array"):
        ns["f"](-1)                          # a machine word: -1 is 0xFFFFFFFF, rounded up
    assert k.cpu.sp == top


def test_generator_functions_take_no_frame():
    k, ns = driver("def gen(n):\n    for i in range(n):\n        yield i\n")
    top = k.cpu.sp
    it = ns["gen"](3)
    next(it)
    assert k.cpu.sp == top and list(it) == [1, 2]


def test_module_level_code_runs_with_the_helpers_bound_and_a_budget(test_drivers):
    k = nookslab.boot(mode="native", seed=0, step_budget=BUDGET)
    from nookslab.kernel.module import ModuleLoader
    assert isinstance(k.loader, ModuleLoader)
    module = k.load("toplevel_raises")
    assert module.state == "failed" and "KeyError" in module.error and k.verdict is None
