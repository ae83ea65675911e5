"""The hardware imports no kernel: nothing under nookslab/machine names nookslab.kernel.

A static scan of every import statement (absolute and relative), so an import inside a function
counts too. The peer host at the far end of the wire runs its own TCP (machine/devices/peer_tcp.py),
not our kernel's.
"""
from __future__ import annotations

import ast
from pathlib import Path

import nookslab

PACKAGE = Path(nookslab.__file__).parent
MACHINE = PACKAGE / "machine"


def imported_modules(source: str, package: tuple[str, ...]) -> list[str]:
    """Absolute names of the modules ``source`` (a module of ``package``) imports."""
    tree = ast.parse(source)
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                stem = ".".join(base + ((node.module,) if node.module else ()))
            else:
                stem = node.module or ""
            names.append(stem)
            names += [f"{stem}.{alias.name}" for alias in node.names]
    return names


def kernel_imports(path: Path) -> list[str]:
    package = ("nookslab",) + path.relative_to(PACKAGE).parent.parts
    return sorted({n for n in imported_modules(path.read_text(), package)
                   if n == "nookslab.kernel" or n.startswith("nookslab.kernel.")})


def test_the_scan_resolves_relative_imports_and_sees_imports_inside_functions():
    source = ("from .wire import fcs\nfrom ...kernel.net import tcp\n"
              "def f():\n    import nookslab.kernel.heap\n")
    names = imported_modules(source, ("nookslab", "machine", "devices"))
    assert "nookslab.machine.devices.wire.fcs" in names
    assert "nookslab.kernel.net.tcp" in names
    assert "nookslab.kernel.heap" in names


def test_nothing_under_machine_imports_the_kernel():
    offenders = {}
    for path in sorted(MACHINE.rglob("*.py")):
        bad = kernel_imports(path)
        if bad:
            offenders[str(path.relative_to(PACKAGE))] = bad
    assert offenders == {}
