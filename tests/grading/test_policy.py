"""The answer-cell policy: what an answer may hold, and the rule named when it holds more."""
from __future__ import annotations

import nbformat
import pytest

from nookslab.grading.make_exercises import SOLUTIONS
from nookslab.grading.merge import is_answer, lesson_modules, meta, reserved_names
from nookslab.grading.policy import bound_names, check_answer


def rules(source, **kw):
    return [(r.rule, r.line) for r in check_answer(source, **kw)]


def test_every_solution_answer_passes_the_policy():
    for path in sorted(SOLUTIONS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        reserved = reserved_names(nb)
        for cell in (c for c in nb.cells if is_answer(c)):
            ex = meta(cell).get("exercise")
            assert check_answer(cell.source, allow=meta(cell).get("allow", []),
                                reserved=reserved[ex], modules=lesson_modules(nb)) == [], \
                (path.name, ex)


def test_functions_classes_constants_and_numpy_or_math_imports_are_allowed():
    source = '''"""My answer."""
import math
import numpy as np
from numpy import uint32
PAGE = 4096
MASK, SHIFT = PAGE - 1, int(math.log2(PAGE))
LIMITS = tuple(range(4))
TABLE = np.arange(8) * 2

class Range:
    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi
        self.span = hi - lo

    def covers(self, addr):
        return self.lo <= addr < self.hi

def f(domain, args):
    seen = {}
    seen["a"] = args
    counter = [0]
    def inner():
        counter[0] += 1
        return getattr(domain, "can_write")(1, 2)
    r = Range(0, 4)
    r.lo = 1
    return [x for x in args if x], inner, uint32(MASK)
'''
    assert check_answer(source) == []


@pytest.mark.parametrize("source, rule", [
    ("import os", "import"),
    ("import subprocess", "import"),
    ("from importlib import import_module", "import"),
    ("from numpy import ctypeslib", "import"),
    ("import numpy.testing", "import"),
    ("from math import *", "import"),
    ("from . import x", "import"),
    ("from nookslab.nooks.domain import domain_page_table", "import"),
    ("import nookslab", "import"),
    ("def f():\n    return open('/etc/passwd').read()", "name"),
    ("def f():\n    return eval('1')", "name"),
    ("def f():\n    exec('x = 1')", "name"),
    ("def f():\n    return globals()", "name"),
    ("def f(x):\n    setattr(x, 'a', 1)", "name"),
    ("def f():\n    return get_ipython()", "name"),
    ("def f():\n    breakpoint()", "name"),
    ("def f():\n    return In[-1]", "name"),
    ("def f():\n    return _i3", "name"),
    ("def f(x):\n    return x.__class__", "dunder"),
    ("def f():\n    return __builtins__", "dunder"),
    ("def f():\n    return __import__('os')", "dunder"),
    ("def f(x):\n    return getattr(x, '__dict__')", "dunder"),
    ("def f(x):\n    return '{0.__class__.__init__.__globals__}'.format(x)", "dunder"),
    ("class Yes:\n    def __eq__(self, other):\n        return True", "dunder"),
    ("class Shows:\n    def __repr__(self):\n        return 'double(21) = 42'", "dunder"),
    ("def f():\n    return type('T', (), {})", "dunder"),
    ("def f(x, name):\n    return getattr(x, name)", "attribute"),
    ("import numpy as np\ndef f():\n    return np.load('x.npy')", "attribute"),
    ("import numpy as np\ndef f(a):\n    a.tofile('x')", "attribute"),
    ("import numpy as np\ndef f():\n    np.set_printoptions(precision=1)", "attribute"),
    ("def f():\n    g = (i for i in ())\n    return g.gi_frame.f_globals", "attribute"),
    ("def f(e):\n    return e.tb_frame", "attribute"),
    ("import numpy as np\ndef f():\n    return np.random.default_rng(0).bit_generator.state, np.DataSource", "attribute"),
    ("import numpy as np\ndef f():\n    return np._utils", "attribute"),
    ("def f():\n    return nl._cache", "attribute"),
    ("def f(x):\n    get = getattr\n    return get(x, 'a')", "attribute"),
    ("import numpy as np\ndef f():\n    return np.ma.core.operator.attrgetter('a')", "attribute"),
    ("print('hello')", "top level"),
    ("for i in range(3):\n    pass", "top level"),
    ("if True:\n    def f():\n        pass", "top level"),
    ("try:\n    pass\nexcept Exception:\n    pass", "top level"),
    ("X = compute()\ndef compute():\n    return 1", "top level"),
    ("x: int", "top level"),
    ("del x", "top level"),
    ("%timeit 1", "syntax"),
    ("!ls /", "syntax"),
    ("def print(*args):\n    pass", "redefines"),
    ("len = 3", "redefines"),
    ("def f():\n    global sorted\n    sorted = None", "redefines"),
    ("import numpy as np\ndef f():\n    np.sum = len", "changes"),
    ("import math\ndef f():\n    math.pi = 3", "changes"),
    ("def f():\n    LIMITS['e1000'] = 99", "changes"),
    ("def f():\n    nl.MODES = ()", "changes"),
])
def test_an_answer_breaking_a_rule_is_refused_with_that_rule(source, rule):
    found = {r for r, _ in rules(source)}
    assert rule in found, (source, found)


def test_names_the_notebook_defines_cannot_be_redefined():
    assert rules("NooksHooks = None", reserved={"NooksHooks"}) == [("redefines", 1)]
    assert rules("def run_checks():\n    pass", reserved={"run_checks"}) == [("redefines", 1)]
    assert rules("import numpy as nl", reserved={"nl"}) == [("redefines", 1)]


def test_the_allow_metadata_adds_whole_modules_or_single_names():
    assert rules("import nookslab.faults as f", allow=["nookslab.faults"]) == []
    assert rules("from nookslab.faults import FaultType", allow=["nookslab.faults"]) == []
    assert rules("from nookslab.faults import FaultType", allow=["nookslab.faults:FaultType"]) == []
    assert rules("from nookslab.faults import inject", allow=["nookslab.faults:FaultType"]) == [("import", 1)]
    assert rules("import nookslab.faults", allow=["nookslab.faults:FaultType"]) == [("import", 1)]


def test_a_refusal_names_its_line_and_what_to_change():
    (refusal,) = check_answer("def f():\n    pass\nimport os")
    assert str(refusal) == "line 3: `import os`: `os` is not allowed in an answer [rule: import]"
    (refusal,) = check_answer("X = 1\nprint(X)")
    assert str(refusal) == ("line 2: a top-level `expr` statement: at the top level an answer only "
                            "defines functions, classes and constants and imports [rule: top level]")


def test_bound_names_are_the_top_level_bindings_of_a_cell():
    assert bound_names("import numpy as np\nfrom x import y, z as w\nA = B = 1\n"
                       "def f(q):\n    local = 1\n    global g\nclass C:\n    attr = 1\n"
                       "for i in []: pass\n[k for k in ()]") == {"np", "y", "w", "A", "B", "f", "g",
                                                                  "C", "i"}
    assert bound_names("%matplotlib inline") == set()


# -- what a red-team review got through (each once gave full marks without the work) ----------

@pytest.mark.parametrize("source, rule", [
    # a module kept as a constant, then a private attribute of it (numpy._globals.enum.bltns);
    # since round four no private attribute at all
    ("import numpy\nN = numpy\nB = N._globals\n", "attribute"),
    ("import numpy\ndef f():\n    n = numpy\n    return n._globals\n", "attribute"),
    # a call hidden in a default value or a decorator runs when the cell runs
    ("import numpy as np\ndef f(x, _y=np.sum([1])):\n    return x\n", "top level"),
    ("import math\n@math.floor\ndef f(x):\n    return x\n", "top level"),
    ("def deco(fn):\n    return fn\n@deco\ndef f(x):\n    return x\n", "top level"),
    # getattr as an attribute (of a builtins module reached some other way)
    ("def f(b):\n    return b.getattr(b, 'ex' + 'ec')\n", "attribute"),
    # the lesson's module: switch the package's check off and back on, or start a thread
    ("def f(q):\n    x = nl.exercises.xpc\n    return x\n", "name"),
    ("def f(q):\n    t = nl.kernel.module.threading\n    return t\n", "name"),
    # a local holding a module, changed: x = np.random; x.seed = ...
    ("import numpy as np\ndef f():\n    x = np.random\n    x.default_rng = len\n", "changes"),
    ("import numpy as np\ndef f():\n    for m in (np.random,):\n        m.default_rng = len\n",
     "changes"),
    ("import numpy as np\ndef f():\n    x = np.random\n    y = x\n    y.default_rng = len\n",
     "changes"),
    ("import numpy as np\nR = np.random\ndef f():\n    R.default_rng = len\n", "changes"),
    ("def f(obj):\n    return obj.threading\n", "attribute"),
    # round two: match patterns read any attribute (object(__builtins__=...) gave exec)
    ("def f(x):\n    match x:\n        case object(real=r):\n            return r\n", "syntax"),
    # functools.update_wrapper swapped a check helper's code; operator.setitem changed items
    ("import numpy\ndef f(a, b):\n    numpy.ma.extras.functools.update_wrapper(a, b)\n",
     "attribute"),
    ("import numpy\ndef f(d):\n    numpy.polynomial.polyutils.operator.setitem(d, 1, 2)\n",
     "attribute"),
    # a notebook list rebuilt with its own methods (found.clear(); found.extend(...))
    ("def f():\n    found.clear()\n", "changes"),
    ("def f():\n    RESTART_LIMITS.update(sb=9)\n", "changes"),
    # ...or handed to the answer's own function, which changes its parameter
    ("def put(o, v):\n    o.seed = v\ndef f():\n    put(found, 3)\n", "changes"),
    ("import numpy\ndef put(o, v):\n    o.seed = v\ndef f():\n    put(numpy.random, 3)\n",
     "changes"),
    # class bodies run when the cell runs: only methods and constants
    ("class A:\n    for i in range(3):\n        pass\n", "top level"),
    ("class A:\n    print('hi')\n", "top level"),
    # round three: a string annotation that typing.get_type_hints evaluates (exec again), reached
    # through a private import path
    ("from numpy.lib._arraypad_impl import typing as tp\n", "import"),
    ("def probe(x: 'exec(P)'):\n    return x\n", "attribute"),
    ("def probe(x) -> 'exec(P)':\n    return x\n", "attribute"),
    ("def f(t):\n    return t.get_type_hints\n", "attribute"),
    # a module imported inside the function, a declared global, an except name: not made here
    ("def f():\n    import numpy as q\n    q.flatnonzero = len\n", "changes"),
    ("import numpy\nH = 1\ndef f():\n    global H\n    H = numpy.random\n    H.seed = 3\n",
     "changes"),
    ("E = 1\ndef f():\n    try:\n        pass\n    except Exception as E:\n        E.args = ()\n",
     "changes"),
    # laundering through a container, a class attribute or an own function's result
    ("import numpy\ndef f():\n    d = []\n    d.append(numpy.random)\n    d[0].seed = 3\n",
     "changes"),
    ("import numpy\ndef f():\n    d = []\n    d.append(numpy.random)\n    x = d[0]\n"
     "    x.seed = 3\n", "changes"),
    ("import numpy\nclass C:\n    pass\ndef f():\n    C.m = numpy.random\n    C.m.seed = 3\n",
     "changes"),
    ("import numpy\ndef g():\n    return numpy.random\ndef f():\n    x = g()\n    x.seed = 3\n",
     "changes"),
    ("def f():\n    d = [found]\n    d[0].clear()\n", "changes"),
    ("import numpy\nclass C:\n    m = numpy.random\ndef f():\n    C.m.seed = 3\n", "changes"),
    # round four: a private attribute through a parameter named self (reach(numpy)._core...)
    ("import numpy\ndef f():\n    def reach(self):\n        return self._core\n"
     "    return reach(numpy)\n", "attribute"),
    ("import numpy\nclass R:\n    def get(self):\n        return self._core\n"
     "def f():\n    return R.get(numpy)\n", "attribute"),
    # an outside thing handed to a callable the answer wrote, however wrapped
    ("import numpy\ndef r(o):\n    o.seed = 3\ndef f(a):\n    r(a or numpy.random)\n", "changes"),
    ("import numpy\ndef f(a):\n    g = lambda o: o.update(x=1)\n    g(numpy.random if a else a)\n",
     "changes"),
    ("def f():\n    (lambda o: o.clear())(found)\n", "changes"),
    ("import numpy\nclass R:\n    @staticmethod\n    def put(o):\n        o.seed = 3\n"
     "def f():\n    R.put(numpy.random)\n", "changes"),
    # type aliased to make a class with special methods
    ("def f():\n    t = type\n    return t\n", "dunder"),
    # round five: numpy's test modules hold pytest (importorskip loads timeit, which runs strings)
    # and pkgutil (resolve_name("builtins:exec")) under plain names
    ("def f():\n    from numpy.conftest import pytest\n    return pytest\n", "import"),
    ("from numpy.tests.test_public_api import pkgutil\n", "import"),
    ("import numpy.lib.tests\n", "import"),
    ("from numpy.polynomial.polyutils import warnings\n", "import"),
    ("from numpy import lib\n", "import"),
    ("from numpy.random import bit_generator\n", "import"),
    # round six: str.format reads attributes by a name built at run time, and AttributeError.obj
    # hands back the object one step before a made-up name (exec again)
    ("def f(g):\n    d = '_' * 2\n    return ('{0.' + d + 'globals' + d + '}').format(g)\n",
     "attribute"),
    ("def f(g):\n    return '{0.real}'.format(g)\n", "attribute"),
    ("def f(g):\n    s = '{}'\n    return s.format(g)\n", "attribute"),
    ("def f(g):\n    m = 'x'.format\n    return m\n", "attribute"),
    ("def f(g):\n    try:\n        return g.zz\n    except AttributeError as e:\n        return e.obj\n",
     "attribute"),
    # type(type(0)) is type: called with three arguments it made a class with special methods
    ("def f():\n    return type(type(0))\n", "dunder"),
    # round seven: a mutable default kept a driver namespace between calls
    ("def f(a, box=[]):\n    return box\n", "top level"),
    # round eight: numpy's as_strided over all memory, addresses from id(): any object, any write
    ("import numpy as np\ndef f():\n    return np.lib.stride_tricks.as_strided\n", "attribute"),
    ("import numpy as np\ndef f(b):\n    return np.lib.array_utils.byte_bounds(b)\n", "attribute"),
    ("def f(x):\n    return id(x)\n", "name"),
    ("def f(d):\n    m = d['k'](1)\n    m.seed = 3\n", "changes"),
    # round nine: a bit generator's cffi interface gave its state's address and callable C
    # functions; with MT19937.state written, an 8-byte increment anywhere; hash() leaks addresses
    ("import numpy as np\ndef f():\n    return np.random.MT19937(0).cffi.state_address\n",
     "attribute"),
    ("import numpy as np\ndef f():\n    return np.random.PCG64(0).capsule\n", "attribute"),
    ("def f(x):\n    return hash(x)\n", "name"),
])
def test_red_team_bypasses_are_refused(source, rule):
    got = rules(source, modules={"nl", "np"})
    assert rule in {r for r, _ in got}, got


def test_what_an_answer_makes_itself_it_may_still_change():
    source = """import numpy as np
class Box:
    def __init__(self):
        self.items = []

    def add(self, x):
        self.items.append(x)
        return Box.count_of(self)

    @staticmethod
    def count_of(box):
        return 0 if box is None else 1

def f(kernel, table, n=3, names=("a", -1)):
    out = np.zeros(n)
    out[0] = 1
    rows = [[0] * n for _ in range(n)]
    for row in rows:
        row[0] = 2
    table[0] = out[0]
    b = Box()
    b.extra = 1
    rows.append(out.tolist())
    helper(rows, kernel.heap, BATCH_LIMIT)
    return rows


def helper(rows, heap, limit):
    rows.sort()
    return heap, limit
"""
    assert rules(source, modules={"nl", "np"}) == []


def test_lesson_modules_are_found_from_the_notebooks_own_imports():
    nb = nbformat.read(SOLUTIONS / "02-isolation.ipynb", as_version=4)
    assert {"nl", "np"} <= lesson_modules(nb)
    assert "BATCH_LIMIT" not in lesson_modules(nbformat.read(SOLUTIONS / "03-xpc.ipynb", as_version=4))


def public_attributes(roots, depth):
    """(path, value) for every public attribute the policy lets through, walking from ``roots``
    (name -> module) into numpy's own modules, ``depth`` levels deep."""
    import collections
    import types

    from nookslab.grading.policy import FORBIDDEN_ATTRIBUTES
    seen = set()
    todo = collections.deque((module, name, 0) for name, module in roots.items())
    while todo:
        obj, path, level = todo.popleft()
        if id(obj) in seen or level > depth:
            continue
        seen.add(id(obj))
        for name in dir(obj):
            if name.startswith("_") or name in FORBIDDEN_ATTRIBUTES:
                continue
            try:
                value = getattr(obj, name)
            except Exception:  # noqa: BLE001 - a lazy attribute that cannot load here
                continue
            yield f"{path}.{name}", value
            if isinstance(value, types.ModuleType) and value.__name__.split(".")[0] == "numpy":
                todo.append((value, f"{path}.{name}", level + 1))


def test_public_attributes_of_numpy_and_math_reach_no_dangerous_module():
    """Walk every public attribute the policy lets through, from the modules an answer may import,
    four levels deep: no module that reaches the interpreter, threads, files or the package."""
    import math
    import types

    import numpy
    harmless = {"abc", "itertools", "numbers", "re", "textwrap", "math", "numpy"}
    reached = {value.__name__: path
               for path, value in public_attributes({"numpy": numpy, "math": math}, 4)
               if isinstance(value, types.ModuleType)
               and value.__name__.split(".")[0] not in harmless}
    assert reached == {}, reached


def test_a_student_can_check_answers_before_submitting_without_running_them(tmp_path, capsys):
    """python -m nookslab.grading.check: the rule a grader would apply, in the student's notebook
    (a student once defined BATCH_LIMIT again in 03 and learned it only from a 0)."""
    from nookslab.grading.check import main
    from nookslab.grading.make_exercises import EXERCISES
    nb = nbformat.read(EXERCISES / "03-xpc.ipynb", as_version=4)
    path = tmp_path / "03-xpc.ipynb"
    nbformat.write(nb, path)
    assert main([str(path)]) == 0
    assert "ex1: not answered yet" in capsys.readouterr().out
    solution = nbformat.read(SOLUTIONS / "03-xpc.ipynb", as_version=4)
    answer = next(c.source for c in solution.cells if is_answer(c))
    for cell in nb.cells:
        if is_answer(cell):
            cell.source = answer
    nbformat.write(nb, path)
    assert main([str(path)]) == 0 and "ex1: ok" in capsys.readouterr().out
    for cell in nb.cells:
        if is_answer(cell):
            cell.source = "BATCH_LIMIT = 8\n" + answer
    nbformat.write(nb, path)
    assert main([str(path)]) == 1
    out = capsys.readouterr().out
    assert "ex1: refused" in out and "`BATCH_LIMIT` is defined by the notebook's own cells" in out


def test_numpy_and_math_imports_an_answer_needs_still_pass():
    source = """import math
import numpy as np
import numpy.random as npr
from numpy import uint8, zeros, random, linalg
from numpy.random import default_rng
from math import floor
def f(n):
    return floor(n) + int(zeros(2).sum()) + int(default_rng(0).integers(1)) + int(npr.default_rng(1).integers(1))
"""
    assert rules(source) == []


def test_format_on_a_written_out_string_is_fine():
    assert rules("def f(a, b):\n    return '{} of {:>4} {{x}}'.format(a, b) + f'{a.real}'\n") == []


def test_the_lessons_own_objects_are_not_an_answers():
    """Round seven: the lesson's kernel `k` led to a driver namespace and its helpers. An answer
    may read the notebook's UPPER_CASE constants, not its other objects; its parameters may share
    their names."""
    reserved = {"k", "found", "BATCH_LIMIT", "kernel_flags"}
    assert ("name", 2) in rules("def f():\n    return k.loader\n", reserved=reserved)
    assert rules("def f(kernel_flags):\n    return kernel_flags, BATCH_LIMIT\n",
                 reserved=reserved) == []


def test_no_public_numpy_path_left_to_unchecked_strides():
    """Round eight: np.lib.stride_tricks.as_strided over all of memory (addresses from id and
    byte_bounds) read and wrote any object. Walk numpy's public attributes the policy lets through:
    neither function is reachable."""
    import numpy
    from numpy.lib.array_utils import byte_bounds
    from numpy.lib.stride_tricks import as_strided
    banned = {id(as_strided), id(byte_bounds)}
    assert [path for path, value in public_attributes({"numpy": numpy}, 5)
            if id(value) in banned] == []
