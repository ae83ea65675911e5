"""Imports run one way (docs/architecture.md, "Layers and imports"): a static scan of every
module's imports, lazy ones inside functions and ``importlib`` calls by name included.

- machine/ imports no kernel (nor anything above it);
- kernel/ imports no nooks, workloads, drivers, faults or widgets (nor eval, grading, or the
  composition on top): ``nookslab.boot`` installs Nooks, the drivers and the workloads;
- drivers/ import no nooks or faults: a driver reaches the kernel through nookslab.kernel.api;
- nooks/ imports none of drivers, workloads, faults, eval, widgets, grading.
"""
import ast
from pathlib import Path

import pytest

import nookslab

PACKAGE = Path(nookslab.__file__).parent
ABOVE_ALL = {"eval", "widgets", "grading", "system", "extension", "exercises", "cli",
             "__main__", "tools"}
FORBIDDEN = {
    "machine": {"kernel", "nooks", "drivers", "workloads", "faults"} | ABOVE_ALL,
    "kernel": {"nooks", "workloads", "drivers", "faults"} | ABOVE_ALL,
    "drivers": {"nooks", "faults", "workloads"} | ABOVE_ALL,
    "nooks": {"drivers", "workloads", "faults"} | ABOVE_ALL,
}


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".")[:-node.level] if node.level else []
    return ".".join(parts + ([node.module] if node.module else []))


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, dotted name) of everything ``path`` imports from the package."""
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    module = ".".join(rel.parts)
    if path.name == "__init__.py":
        module += ".__init__"
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, node)
            out += [(node.lineno, f"{base}.{a.name}" if base else a.name) for a in node.names]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and str(node.args[0].value).startswith("nookslab"):
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name in ("import_module", "find_spec", "__import__"):
                out.append((node.lineno, node.args[0].value))
    return [(line, name) for line, name in out if name.split(".")[0] == "nookslab"]


def violations(layer: str, skip=()) -> list[str]:
    found = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel in skip:
            continue
        for line, name in imported(path):
            top = name.split(".")[1] if "." in name else ""
            if top in FORBIDDEN[layer]:
                found.append(f"{rel}:{line} imports {name}")
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_layer_imports_a_layer_above_it(layer):
    assert violations(layer) == []


def test_the_scan_sees_relative_lazy_and_by_name_imports(tmp_path, monkeypatch):
    fake = tmp_path / "nookslab" / "kernel"
    fake.mkdir(parents=True)
    (fake / "x.py").write_text("from ..nooks import install\n"
                               "def f():\n    from .. import workloads\n"
                               "    import importlib\n"
                               "    importlib.import_module('nookslab.drivers.null')\n"
                               "from . import heap\n")
    import sys
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "nookslab")
    assert violations("kernel") == ["kernel/x.py:1 imports nookslab.nooks.install",
                                    "kernel/x.py:3 imports nookslab.workloads",
                                    "kernel/x.py:5 imports nookslab.drivers.null"]
