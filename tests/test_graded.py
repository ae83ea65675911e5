"""Grading mode: only a function defined in the notebook is taken, and while it runs the package's
own version of its part raises SwitchedOff (and only of that part, and only while it runs)."""
from __future__ import annotations

import functools

import numpy as np
import pytest

from nookslab.graded import NotYourOwn, SwitchedOff, own, student_part, switched_off, why_not_own
from nookslab.nooks.domain import may_write

from .exercises.conftest import notebook


def test_a_function_defined_in_the_notebook_is_the_students_own():
    fn = notebook("def f(x):\n    return x + 1")["f"]
    assert why_not_own(fn) is None
    assert why_not_own(notebook("g = lambda x: x")["g"]) is None
    assert student_part("batch", fn)(1) == 2


@pytest.mark.parametrize("thing, says", [
    (None, "it is None"),
    (len, "builtin_function_or_method"),
    (may_write, "nookslab.nooks.domain.may_write, not a function defined in the notebook"),
    (functools.partial(may_write, np.zeros(4, bool)), "partial"),
    (object().__str__, "method-wrapper"),
    (np.zeros, "not a function defined with def"),
])
def test_anything_else_is_refused_with_the_reason(thing, says):
    with pytest.raises(NotYourOwn, match="the write_check hook") as err:
        student_part("write_check", thing)
    assert says in str(err.value) and "switched off" in str(err.value)


def test_package_code_dressed_as_a_notebook_function_is_refused():
    import types
    fake = types.FunctionType(may_write.__code__, {"__name__": "__main__"})
    assert "comes from the nookslab package" in why_not_own(fake)


def test_the_packages_own_part_raises_while_the_students_runs_and_only_then():
    seen = []
    fn = notebook("def f(part):\n    seen.append(switched_off(part))\n    own(part)",
                  seen=seen, switched_off=switched_off, own=own)["f"]
    with pytest.raises(SwitchedOff, match="the package's own write check is switched off while "
                                          "grading"):
        student_part("write_check", fn)("write_check")
    student_part("batch", fn)("write_check")          # another part stays on
    assert seen == [True, False] and not switched_off("write_check")
    own("write_check")                                 # and it is on again afterwards


def test_a_thread_the_students_function_starts_cannot_call_the_packages_own_part():
    """A new thread starts with an empty context: the switch must hold there too (red team)."""
    import threading
    box = []

    def in_thread(part):
        try:
            own(part)
            box.append("ran the package's own part")
        except SwitchedOff:
            box.append("switched off")

    fn = notebook("def f(part):\n    t = threading.Thread(target=in_thread, args=(part,))\n"
                  "    t.start()\n    t.join()\n    return box[-1]",
                  threading=threading, in_thread=in_thread, box=box)["f"]
    assert student_part("collect", fn)("collect") == "switched off"
    in_thread("collect")
    assert box[-1] == "ran the package's own part"    # on again once the student's function returned


def test_prints_of_the_students_function_do_not_show(capsys):
    fn = notebook("def f():\n    print('debug')\n    return 3")["f"]
    assert student_part("batch", fn)() == 3
    assert capsys.readouterr().out == ""


def test_a_graded_part_is_taken_as_is_and_unknown_parts_are_refused():
    part = student_part("batch", notebook("def f(q):\n    return [q]")["f"])
    assert student_part("batch", part) is part
    with pytest.raises(ValueError, match="choose one of"):
        student_part("xpc", part.fn)


def test_a_result_is_settled_into_plain_data_while_the_package_is_still_off():
    # an answer handing back an object whose __bool__ asks the package later is caught anyway
    from nookslab.nooks.hooks import NooksHooks
    ns = notebook("class Lazy:\n    def __init__(self, w, a, n):\n        self.args = (w, a, n)\n"
                  "    def __bool__(self):\n        return may_write(*self.args)\n"
                  "def can_write(writable, addr, length):\n    return Lazy(writable, addr, length)",
                  may_write=may_write)
    hooks = NooksHooks.graded(write_check=ns["can_write"])
    with pytest.raises(SwitchedOff):
        hooks.write_check(np.ones(4, bool), 16, 4)
    batch = NooksHooks.graded(batch=notebook("def b(q):\n    return (c for c in [q])")["b"]).batch
    assert batch([1, 2]) == [[1, 2]]
    collect = NooksHooks.graded(collect=notebook("def c(objs):\n    return objs")["c"]).collect
    with pytest.raises(TypeError, match="a pair"):
        collect([1, 2, 3])
