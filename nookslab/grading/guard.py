"""The hidden first and last cells of a graded notebook: a tamper check the student never sees.

The first cell imports every ``nookslab`` module and snapshots builtins, each module's globals and
each class's attributes (functions also by their code object). The last cell compares; anything
replaced -- ``builtins.print``, ``nookslab.nooks.xpc.xpc``, a method's ``__code__`` -- makes it
fail with the names, and the grader then flags the submission as tampered. This is not a sandbox
(student code runs in the same kernel), but faking a result by monkeypatching is caught.
"""

GUARD_SOURCE = '''\
# nookslab grader: integrity snapshot (hidden)
def _nookslab_grader_snapshot():
    import builtins, importlib, pkgutil, sys, types
    import nookslab
    skip = ("nookslab.grading", "nookslab.__main__", "nookslab.tools")
    todo = [nookslab]
    while todo:  # import every module (skipping the grader itself) so all can be snapshot
        package = todo.pop()
        for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
            if info.name.startswith(skip):
                continue
            try:
                module = importlib.import_module(info.name)
            except Exception:
                continue
            if info.ispkg:
                todo.append(module)

    def take():
        state = {}
        def note(key, value):
            state[key] = value
            if isinstance(value, types.FunctionType):
                state[key + ("__code__",)] = value.__code__
        for name, value in list(vars(builtins).items()):
            if name not in ("_", "__", "___", "input", "raw_input"):  # ipykernel rebinds input
                note(("builtins", name), value)
        for modname, module in list(sys.modules.items()):
            if modname == "nookslab" or (modname.startswith("nookslab.") and not modname.startswith(skip)):
                for name, value in list(vars(module).items()):
                    note((modname, name), value)
                    if isinstance(value, type) and value.__module__ == modname:
                        for attr, member in list(vars(value).items()):
                            note((modname, name, attr), member)
        return state

    holder = types.ModuleType("_nookslab_grader")
    holder.take, holder.before = take, take()
    sys.modules["_nookslab_grader"] = holder
_nookslab_grader_snapshot()
del _nookslab_grader_snapshot
'''

INTEGRITY_OUTPUT = "integrity check: ok\n"

INTEGRITY_SOURCE = '''\
# nookslab grader: integrity check (hidden)
import sys as _sys
_holder = _sys.modules["_nookslab_grader"]
_now = _holder.take()
_changed = sorted(".".join(k) for k, v in _holder.before.items() if k not in _now or _now[k] is not v)
if _changed:
    raise AssertionError("TAMPERED: replaced " + ", ".join(_changed[:10]))
_holder.before[("builtins", "print")]("integrity check: ok")
'''
