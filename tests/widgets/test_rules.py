"""House rules for the views: widgets stay in nookslab/widgets, importing nookslab pulls in no
widget library, the PNG the memory map draws decodes, and the benchmark runs."""
from __future__ import annotations

import ast
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np

import nookslab

PACKAGE = Path(nookslab.__file__).parent
DISPLAY_MODULES = ("ipywidgets", "IPython.display", "IPython", "matplotlib.pyplot")


def _top_level_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names.extend(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_only_the_widgets_package_imports_display_libraries_at_module_level():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "widgets" in path.relative_to(PACKAGE).parts:
            continue
        hits = [n for n in _top_level_imports(path) if n in DISPLAY_MODULES]
        if hits:
            offenders.append(f"{path.relative_to(PACKAGE)}: {hits}")
    assert offenders == []


def test_importing_nookslab_loads_no_widget_library():
    code = ("import sys, nookslab, nookslab.faults; "
            "print(sorted(m for m in ('ipywidgets', 'IPython', 'matplotlib.pyplot') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_memory_map_png_decodes_to_the_pixels_drawn():
    from nookslab.widgets.data import png_bytes
    img = np.zeros((3, 2, 3), dtype=np.uint8)
    img[1, 1] = (10, 20, 30)
    data = png_bytes(img)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(data[16:20], "big") == 2 and int.from_bytes(data[20:24], "big") == 3
    start = data.index(b"IDAT") + 4
    length = int.from_bytes(data[start - 8:start - 4], "big")
    raw = zlib.decompress(data[start:start + length])
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(3, 1 + 2 * 3)
    assert (rows[:, 0] == 0).all()                      # filter type 0 on every row
    assert tuple(rows[1, 4:7]) == (10, 20, 30)


def test_the_widget_benchmark_runs_and_reports_each_target():
    sys.path.insert(0, str(PACKAGE.parent / "benchmarks"))
    try:
        import bench_widgets
    finally:
        sys.path.pop(0)
    rows = bench_widgets.measure(repeat=1, extensions=())
    names = [r[0] for r in rows]
    assert "memory map 16 MiB, pages in use (fault marked)" in names
    assert "dashboard next seed null/nooks + all views" in names
    assert "panel seed typed null/both (stale, re-run)" in names
    assert "campaign explorer, 60 trials x 2 configurations" in names
    assert all(best > 0 and med >= best for _, best, med, _ in rows)
