"""The kernel the grader runs (inside the sandbox): IPython's kernel, plus a reset and a tamper check.

Started as ``python -m nookslab.grading.inkernel -f CONNECTION_FILE``. Before the first cell runs --
so before any notebook code -- it imports every ``nookslab`` module and records what check cells
rely on: the builtins, ``sys.stdout``/``sys.stderr`` and the other ``sys`` hooks, IPython's input
transformers, AST transformers and event callbacks, the methods of the shell and kernel classes,
and every global, class attribute and code object of the package. That record is held only by two
closures kept on the kernel object; nothing in the notebook's namespace or ``sys.modules`` refers to
it, so notebook code cannot name it (and the answer-cell policy refuses everything that could reach
it: ``get_ipython``, ``sys``, ``gc``, dunder attributes).

The grader adds two kinds of hidden cells, which run no code at all (the kernel answers them
itself, before IPython's transformers and hooks could see them):

``# nookslab grader: reset``      before each check cell: everything recorded is put back (a
                                  redefined ``print``, a wrapped ``sys.stdout``, an added input
                                  transformer, a ``pre_run_cell`` hook...), and what had to be put
                                  back is kept as evidence. Globals of the notebook that shadow a
                                  builtin are removed (silently: that is not tampering, and the
                                  policy refuses them anyway).
``# nookslab grader: integrity``  the last cell: the kernel puts everything back once more and
                                  prints ``integrity check: ok`` or ``TAMPERED: replaced ...`` with
                                  the evidence, sent by the kernel's own session, not through
                                  ``print``/``sys.stdout``.

This is defence in depth: code in the same interpreter can in principle reach anything, which is
why answer cells pass a static policy first and the kernel runs in a sandbox.
"""
from __future__ import annotations

import builtins
import importlib
import pkgutil
import sys
import types

from ipykernel.ipkernel import IPythonKernel
from ipykernel.kernelapp import IPKernelApp

from .markers import INTEGRITY_MARK, INTEGRITY_OK, RESET_MARK, TAMPERED

#: Modules whose additions (event callbacks, import hooks) are legitimate, not the notebook's.
LIBRARIES = ("IPython", "ipykernel", "matplotlib", "matplotlib_inline", "ipywidgets", "comm",
             "jupyter_client", "traitlets", "zmq", "tornado", "asyncio", "nookslab", "numpy",
             "_frozen_importlib", "importlib", "zipimport", "__editable__", "_distutils_hack",
             "six", "pkg_resources", "setuptools")
#: Builtins IPython and ipykernel rebind on their own while cells run.
VOLATILE_BUILTINS = {"_", "__", "___", "display", "get_ipython", "__IPYTHON__", "__IPYTHON__active",
                     "input", "raw_input", "getpass"}
SKIP = ("nookslab.grading", "nookslab.__main__", "nookslab.tools")
#: Modules outside the package whose globals are recorded too (answers may import them).
ALSO_WATCHED = ("numpy", "numpy.linalg", "numpy.random", "math")


def import_package() -> None:
    """Import every nookslab module but the grader's, so all of them are recorded."""
    import math  # noqa: F401  (recorded too)

    import numpy  # noqa: F401

    import nookslab
    todo = [nookslab]
    while todo:
        package = todo.pop()
        for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
            if info.name.startswith(SKIP):
                continue
            try:
                module = importlib.import_module(info.name)
            except Exception:  # an optional part that cannot load here: nothing to record
                continue
            if info.ispkg:
                todo.append(module)


def _from_library(obj) -> bool:
    module = getattr(obj, "__module__", None) or type(obj).__module__ or ""
    return str(module).split(".")[0] in LIBRARIES


def _own_method(obj, attr: str) -> bool:
    """``obj.attr`` is the class's own method bound to ``obj`` (an instance attribute IPython sets)."""
    value = vars(obj)[attr]
    return (isinstance(value, types.MethodType) and value.__self__ is obj
            and value.__func__ is getattr(type(obj), attr, None))


def _package_state() -> dict:
    """Every global of every nookslab module, each class's attributes, each function's code."""
    state = {}

    def note(key, value):
        state[key] = value
        if isinstance(value, types.FunctionType):
            state[key + ("__code__",)] = value.__code__

    for modname in ALSO_WATCHED:
        if modname in sys.modules:
            note(("sys.modules", modname), sys.modules[modname])
            for name, value in list(vars(sys.modules[modname]).items()):
                note((modname, name), value)
    for modname, module in list(sys.modules.items()):
        if modname == "nookslab" or (modname.startswith("nookslab.") and not modname.startswith(SKIP)):
            note(("sys.modules", modname), module)
            for name, value in list(vars(module).items()):
                note((modname, name), value)
                if isinstance(value, type) and value.__module__ == modname:
                    for attr, member in list(vars(value).items()):
                        note((modname, name, attr), member)
    return state


def _watched_classes(kernel) -> list[type]:
    shell = kernel.shell
    roots = [type(shell), type(kernel), type(sys.stdout), type(sys.stderr), type(shell.compile),
             type(shell.displayhook), type(shell.display_pub), type(shell.events),
             type(shell.input_transformer_manager), type(shell.display_formatter),
             type(kernel.session)]
    seen: list[type] = []
    for root in roots:
        for cls in root.__mro__:
            if cls not in seen and _from_library(cls) and cls.__module__ != "builtins":
                seen.append(cls)
    return seen


def watch(kernel):
    """Record the state check cells rely on; return ``(reset, report)`` closures over it."""
    shell = kernel.shell
    import_package()
    builtins_before = dict(vars(builtins))
    streams = {"sys.stdout": sys.stdout, "sys.stderr": sys.stderr,
               "sys.displayhook": sys.displayhook, "sys.excepthook": sys.excepthook}
    manager = shell.input_transformer_manager
    lists = {  # name -> (the list object, its items now)
        "input transformers (cleanup)": manager.cleanup_transforms,
        "input transformers (line)": manager.line_transforms,
        "input transformers (token)": manager.token_transformers,
        "input transformers (post)": shell.input_transformers_post,
        "AST transformers": shell.ast_transformers,
        "sys.meta_path": sys.meta_path,
        "sys.path_hooks": sys.path_hooks,
    }
    lists = {name: (obj, list(obj)) for name, obj in lists.items()}
    shell_attrs = {name: getattr(shell, name) for name in (
        "compile", "input_transformer_manager", "events", "displayhook", "display_pub",
        "display_formatter", "builtin_trap", "display_trap", "user_ns", "user_module")}
    shell_keys = set(vars(shell))
    events = {name: list(callbacks) for name, callbacks in shell.events.callbacks.items()}
    classes = {cls: dict(vars(cls)) for cls in _watched_classes(kernel)}
    user_ns_before = {k: v for k, v in shell.user_ns.items() if hasattr(builtins, k) or k.startswith("__")}
    package = _package_state()
    found: list[str] = []

    def put_back_list(name, obj, before):
        keep = list(before) + [x for x in obj if x not in before and _from_library(x)]
        if [x for x in obj] != keep:
            if any(x not in before and not _from_library(x) for x in obj) or any(x not in obj for x in before):
                found.append(name)
            obj[:] = keep

    def reset() -> None:
        for name, value in builtins_before.items():
            if name not in VOLATILE_BUILTINS and vars(builtins).get(name, _MISSING) is not value:
                found.append(f"builtins.{name}")
                setattr(builtins, name, value)
        for name in [n for n in vars(builtins) if n not in builtins_before and n not in VOLATILE_BUILTINS]:
            found.append(f"builtins.{name}")
            delattr(builtins, name)
        for name, value in streams.items():
            if getattr(sys, name[4:]) is not value:
                found.append(name)
                setattr(sys, name[4:], value)
        for stream in (streams["sys.stdout"], streams["sys.stderr"]):
            for attr in [a for a in vars(stream) if callable(getattr(type(stream), a, None))]:
                if not _own_method(stream, attr):  # IPython leaves write as a bound method
                    found.append(f"sys.{stream.name}.{attr}")
                    delattr(stream, attr)
        if sys.gettrace() is not None or sys.getprofile() is not None:
            found.append("sys.settrace/setprofile")
            sys.settrace(None)
            sys.setprofile(None)
        for name, (obj, before) in lists.items():
            put_back_list(name, obj, before)
        for name, value in shell_attrs.items():
            if getattr(shell, name) is not value:
                found.append(f"the shell's {name}")
                setattr(shell, name, value)
        for key in [k for k in vars(shell) if k not in shell_keys]:
            if callable(getattr(type(shell), key, None)):
                found.append(f"the shell's {key}")
                delattr(shell, key)
        for event, callbacks in shell.events.callbacks.items():
            put_back_list(f"{event} event callbacks", callbacks, events.get(event, []))
        for cls, attrs in classes.items():
            now = vars(cls)
            for attr in set(now) | set(attrs):
                if now.get(attr, _MISSING) is not attrs.get(attr, _MISSING) and attr != "__weakref__":
                    found.append(f"{cls.__module__}.{cls.__qualname__}.{attr}")
                    if attr in attrs:
                        setattr(cls, attr, attrs[attr])
                    else:
                        delattr(cls, attr)
        ns = shell.user_ns
        for name in [n for n in ns if hasattr(builtins, n)]:
            if name in user_ns_before:
                if ns[name] is not user_ns_before[name]:
                    if name == "__builtins__":
                        found.append("the notebook's __builtins__")
                    ns[name] = user_ns_before[name]
            elif not name.startswith("_"):
                del ns[name]  # a notebook global shadowing a builtin: not tampering, just removed
        _put_back_package(package, found)

    ok, tampered = INTEGRITY_OK, TAMPERED  # this closure's own copies

    def report() -> str:
        reset()
        return (tampered + ", ".join(sorted(set(found))) + "\n") if found else ok

    return reset, report


class _Missing:
    pass


_MISSING = _Missing()


def _put_back_package(before: dict, found: list) -> None:
    now = _package_state()
    for key, value in before.items():
        if now.get(key, _MISSING) is value:
            continue
        found.append(".".join(key[1:]) if key[0] == "sys.modules" else ".".join(key))
        if key[0] == "sys.modules":
            sys.modules[key[1]] = value
        elif len(key) == 2:
            setattr(sys.modules[key[0]], key[1], value)
        elif len(key) == 3 and key[2] == "__code__":
            sys.modules[key[0]].__dict__[key[1]].__code__ = value
        elif len(key) == 3:
            cls = vars(sys.modules[key[0]]).get(key[1])
            if isinstance(cls, type):
                setattr(cls, key[2], value)
        elif key[-1] == "__code__":
            member = vars(vars(sys.modules[key[0]])[key[1]]).get(key[2])
            if isinstance(member, types.FunctionType):
                member.__code__ = value


class GradingKernel(IPythonKernel):
    """IPython's kernel; the grader's hidden cells run the reset or the integrity report."""

    implementation = "nookslab-grading"

    def start_watching(self) -> None:
        self._nookslab_reset, self._nookslab_report = watch(self)

    async def do_execute(self, code, silent, store_history=True, user_expressions=None,
                         allow_stdin=False, *, cell_meta=None, cell_id=None):
        if code in (RESET_MARK, INTEGRITY_MARK):
            if code == RESET_MARK:
                self._nookslab_reset()
            else:
                self.session.send(self.iopub_socket, "stream",
                                  {"name": "stdout", "text": self._nookslab_report()},
                                  parent=self.get_parent("shell"), ident=self._topic("stream"))
            return {"status": "ok", "execution_count": self.execution_count, "payload": [],
                    "user_expressions": {}}
        return await super().do_execute(code, silent, store_history, user_expressions, allow_stdin,
                                        cell_meta=cell_meta, cell_id=cell_id)


class GradingKernelApp(IPKernelApp):
    """The kernel application; records the state right after the kernel exists, before any cell."""

    def initialize(self, argv=None):
        super().initialize(argv)
        self.kernel.start_watching()


def main() -> None:
    GradingKernelApp.launch_instance(kernel_class=GradingKernel)


if __name__ == "__main__":
    main()
