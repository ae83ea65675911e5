"""Table 2 of SOSP'03 for nookslab: lines of code per Nooks component, and figure 5's sharing.

Lines are counted from our own source as the paper counted its C: non-blank lines that are not
comments (docstrings count as comments). Components:

memory management   ``nooks/domain.py`` (protection domains, their page tables and heaps)
object tracking     ``nooks/tracker.py``
XPC                 ``nooks/xpc.py``
wrappers            ``nooks/wrappers.py`` (generator), ``nooks/interfaces.py`` and the interface
                    specs the generator reads: ``kernel/symbols.py`` and every ``@export``/``op``
                    spec line in the kernel
recovery            ``nooks/recovery.py``
kernel changes      the lines of the kernel marked ``# Nooks hook``
miscellaneous       the rest of ``nooks/`` (the isolation manager, the package)

Figure 5: the wrappers each driver uses, computed from its source: kernel-side wrappers are the
exported kernel functions it imports from ``nookslab.kernel.api`` (intrinsics are not wrapped),
extension-side wrappers are the members of the ops tables it fills in plus the callbacks it hands
to the kernel. Then the wrappers shared by all four NIC drivers and by the two sound drivers.
"""
from __future__ import annotations

import ast
import html
import io
import tokenize
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from . import paper

PACKAGE = Path(__file__).resolve().parent.parent
NOOKS = PACKAGE / "nooks"
KERNEL = PACKAGE / "kernel"
COMPONENTS = {
    "memory management": ("nooks/domain.py",),
    "object tracking": ("nooks/tracker.py",),
    "XPC": ("nooks/xpc.py",),
    "wrappers": ("nooks/wrappers.py", "nooks/interfaces.py", "kernel/symbols.py"),
    "recovery": ("nooks/recovery.py",),
}
HOOK_MARK = "# Nooks hook"
NICS = ("e1000", "pcnet32", "3c59x", "3c90x")
SOUND = ("sb", "es1371")


def code_lines(source: str) -> set[int]:
    """Line numbers of ``source`` that hold code: not blank, not comment, not docstring."""
    doc: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(
                    getattr(body[0], "value", None), ast.Constant) and isinstance(
                    body[0].value.value, str):
                doc.update(range(body[0].lineno, body[0].end_lineno + 1))
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENCODING, tokenize.ENDMARKER}
    lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type not in skip:
            lines.update(range(tok.start[0], tok.end[0] + 1))
    return lines - doc


def count_file(path: Path) -> int:
    return len(code_lines(path.read_text()))


def spec_lines(path: Path) -> int:
    """Code lines of ``@export(...)`` decorators and ``op(...)`` members in one kernel file."""
    source = path.read_text()
    code = code_lines(source)
    lines: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for d in node.decorator_list:
                f = d.func if isinstance(d, ast.Call) else d
                if getattr(f, "id", getattr(f, "attr", None)) == "export":
                    lines.update(range(d.lineno, d.end_lineno + 1))
        elif isinstance(node, (ast.AnnAssign, ast.Assign)) and isinstance(node.value, ast.Call):
            f = node.value.func
            if getattr(f, "id", getattr(f, "attr", None)) == "op":
                lines.update(range(node.lineno, node.end_lineno + 1))
    return len(lines & code)


def hook_lines(path: Path) -> int:
    """Kernel lines marked ``# Nooks hook``: a marked line, or the statement a marker comment
    line introduces (the next code line)."""
    text = path.read_text().splitlines()
    code = code_lines(path.read_text())
    n = 0
    for i, line in enumerate(text, 1):
        if HOOK_MARK not in line:
            continue
        if i in code:
            n += 1
        else:
            nxt = next((j for j in range(i + 1, len(text) + 1) if j in code), None)
            n += nxt is not None
    return n


@dataclass
class Table2:
    """Lines of code per component, ours beside the paper's; figure 5's wrapper sharing."""

    rows: dict                     # component -> our count
    files: dict                    # component -> files counted
    sharing: dict = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.rows.values())

    def to_dict(self) -> dict:
        return {"rows": {c: {"ours": n, "paper": paper.TABLE2.get(c)} for c, n in
                         self.rows.items()}, "total": self.total,
                "paper_total": paper.TABLE2_TOTAL, "files": self.files,
                "sharing": self.sharing}

    def __str__(self) -> str:
        lines = ["Table 2: non-comment lines of code per Nooks component",
                 f"{'component':<20}{'nookslab':>9}{'paper':>9}{'share':>8}{'paper':>7}"]
        for c, n in self.rows.items():
            p = paper.TABLE2[c]
            lines.append(f"{c:<20}{n:>9,}{p:>9,}{n / self.total:>8.1%}"
                         f"{p / paper.TABLE2_TOTAL:>7.1%}")
        lines.append(f"{'total':<20}{self.total:>9,}{paper.TABLE2_TOTAL:>9,}")
        s = self.sharing
        if s:
            f5 = paper.FIG5
            lines.append("Figure 5: wrapper sharing (nookslab / paper)")
            p = s["per_driver"].get("pcnet32", {})
            lines.append(f"  pcnet32 uses {p.get('total', 0)} wrappers ({p.get('kernel', 0)} "
                         f"kernel-side, {p.get('extension', 0)} extension-side) / "
                         f"{f5['pcnet32_wrappers']} ({f5['pcnet32_kernel_side']}, "
                         f"{f5['pcnet32_extension_side']})")
            lines.append(f"  shared by all four NIC drivers: {len(s['shared_by_nics'])} / "
                         f"{f5['shared_by_nics']}")
            lines.append(f"  shared by the two sound drivers: {len(s['shared_by_sound'])} / "
                         f"{f5['shared_by_sound']}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        body = "".join(f"<tr><td>{html.escape(c)}</td><td>{n:,}</td><td>{paper.TABLE2[c]:,}"
                       f"</td></tr>" for c, n in self.rows.items())
        body += (f"<tr><th>total</th><th>{self.total:,}</th><th>{paper.TABLE2_TOTAL:,}</th>"
                 f"</tr>")
        return ("<table class='nookslab-table2'><caption>Table 2: non-comment lines of code"
                "</caption><tr><th>component</th><th>nookslab</th><th>paper</th></tr>"
                f"{body}</table>")


def measure() -> tuple[dict, dict]:
    rows: dict[str, int] = {}
    files: dict[str, list] = {}
    for comp, paths in COMPONENTS.items():
        rows[comp] = sum(count_file(PACKAGE / p) for p in paths)
        files[comp] = list(paths)
    kernel_files = sorted(p for p in KERNEL.rglob("*.py") if p.name != "symbols.py")
    specs = sum(spec_lines(p) for p in kernel_files)
    rows["wrappers"] += specs
    files["wrappers"].append(f"@export/op spec lines in kernel/ ({specs})")
    hooked = [p for p in kernel_files if HOOK_MARK in p.read_text()]
    rows["kernel changes"] = sum(hook_lines(p) for p in hooked)
    files["kernel changes"] = [str(p.relative_to(PACKAGE)) for p in hooked]
    counted = {PACKAGE / p for paths in COMPONENTS.values() for p in paths}
    rest = sorted(p for p in NOOKS.rglob("*.py") if p not in counted)
    rows["miscellaneous"] = sum(count_file(p) for p in rest)
    files["miscellaneous"] = [str(p.relative_to(PACKAGE)) for p in rest]
    return rows, files


# ---- figure 5 -------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _interfaces():
    """Exported kernel function names and ops-table classes by name (from a booted kernel)."""
    from .. import boot
    from ..nooks.interfaces import Catalog
    catalog = Catalog(boot(mode="native", seed=0))
    classes = {iface.cls.__name__: iface for iface in catalog.ops.values()}
    return catalog.exports, classes


def driver_wrappers(name: str) -> dict[str, set]:
    """The wrappers driver ``name`` uses: {"kernel": {...}, "extension": {...}}."""
    import importlib.util
    from ..drivers import REGISTRY
    exports, classes = _interfaces()
    source = Path(importlib.util.find_spec(REGISTRY[name].source).origin).read_text()
    tree = ast.parse(source)
    kernel: set[str] = set()
    extension: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "nookslab.kernel.api":
            kernel.update(a.name for a in node.names if a.name in exports)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        fname = getattr(node.func, "id", getattr(node.func, "attr", None))
        if fname in classes:                       # an ops table the driver fills in
            iface = classes[fname]
            for kw in node.keywords:
                if kw.arg in iface.members and not (isinstance(kw.value, ast.Constant)
                                                     and kw.value.value is None):
                    extension.add(f"{iface.c_name}.{kw.arg}")
        elif fname in kernel:                      # callbacks handed to the kernel
            spec = exports[fname]
            for arg in spec.args:
                if arg.kind == "callback":
                    extension.add(f"{fname}.{arg.name}")
    return {"kernel": kernel, "extension": extension}


def sharing() -> dict:
    from ..drivers import REGISTRY
    per: dict[str, dict] = {}
    sets: dict[str, set] = {}
    for name in NICS + SOUND:
        if name not in REGISTRY:
            continue
        w = driver_wrappers(name)
        sets[name] = w["kernel"] | w["extension"]
        per[name] = {"kernel": len(w["kernel"]), "extension": len(w["extension"]),
                     "total": len(sets[name])}

    def common(names):
        present = [sets[n] for n in names if n in sets]
        return sorted(set.intersection(*present)) if len(present) == len(names) else []
    return {"per_driver": per, "shared_by_nics": common(NICS),
            "shared_by_sound": common(SOUND)}


def table2() -> Table2:
    """Table 2 and figure 5 for nookslab, measured from the source."""
    rows, files = measure()
    order = list(paper.TABLE2)
    return Table2({c: rows[c] for c in order}, {c: files[c] for c in order}, sharing())
