"""Calibration is labelled: every input set from the paper's numbers is declared in
nookslab.eval.calibration and tagged where it is defined, and Table 4 marks the cells it shapes."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from nookslab.eval.calibration import (CALIBRATIONS, COLUMNS, constant_value, provenance)
from nookslab.eval.performance import ROWS, Table4, Table4Row, paper_row
from nookslab.machine.costs import CostModel

PACKAGE = Path(__file__).resolve().parents[2] / "nookslab"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "calibration.md"


def tagged_in_code() -> set[tuple[str, str]]:
    """(key, "module:NAME" or "module:Class.field") for every ``# CALIBRATION: key`` comment,
    naming the assignment on the next line."""
    found = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = path.read_text().splitlines()
        tags = {i + 2: line.split("CALIBRATION:")[1].split()[0]          # the next line, 1-based
                for i, line in enumerate(lines) if line.strip().startswith("# CALIBRATION:")}
        if not tags:
            continue
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        tree = ast.parse("\n".join(lines))
        for node in ast.walk(tree):
            body = node.body if isinstance(node, (ast.Module, ast.ClassDef)) else ()
            for stmt in body:
                if stmt.lineno in tags and isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                    target = stmt.targets[0] if isinstance(stmt, ast.Assign) else stmt.target
                    name = target.id if isinstance(node, ast.Module) \
                        else f"{node.name}.{target.id}"
                    found.add((tags.pop(stmt.lineno), f"{module}:{name}"))
        assert not tags, f"{path}: a CALIBRATION tag not followed by an assignment: {tags}"
    return found


def declared() -> set[tuple[str, str]]:
    return {(c.key, k) for c in CALIBRATIONS for k in c.constants}


def test_every_calibrated_constant_in_the_code_is_declared_and_every_declared_one_is_tagged():
    assert tagged_in_code() == declared()


def test_every_declared_constant_exists_and_reads_its_value_from_the_code():
    for c in CALIBRATIONS:
        for constant, value in c.values().items():
            assert value is not None, constant
    assert constant_value("nookslab.machine.costs:CostModel.tlb_model") == CostModel().tlb_model
    with pytest.raises(AttributeError):
        constant_value("nookslab.workloads.mp3:NO_SUCH_CONSTANT")


def test_each_calibration_names_its_source_rows_and_cells():
    benchmarks = {b for b, _ in ROWS}
    for c in CALIBRATIONS:
        assert c.source and c.kind in ("calibrated", "fitted")
        assert set(c.rows) <= benchmarks and set(c.cells) <= set(COLUMNS), c.key


def test_a_rows_cells_are_calibrated_fitted_or_predicted_as_the_declarations_say():
    assert provenance("play-mp3") == {"xpc_rate": "predicted", "relative_performance": "fitted",
                                      "cpu_native": "calibrated", "cpu_nooks": "predicted"}
    assert provenance("compile-local")["xpc_rate"] == "calibrated"
    assert provenance("compile-local")["cpu_native"] == "predicted"
    for benchmark, _ in ROWS:
        assert provenance(benchmark)["cpu_nooks"] == "predicted"     # nothing set it


def _row(benchmark: str) -> Table4Row:
    return Table4Row(benchmark, "sb", "latency", 200.0, 0.99, 0.05, 0.05, 10, 1.0, 1.0,
                     paper_row(benchmark), provenance(benchmark))


def test_the_table_marks_calibrated_and_fitted_cells_and_names_each_calibration():
    table = Table4([_row("play-mp3"), _row("compile-local")], 0, CostModel())
    text = str(table)
    play = next(line for line in text.splitlines() if line.startswith("play-mp3"))
    assert "5.0%*" in play and "0.99~" in play and "200*" not in play
    compile_line = next(line for line in text.splitlines() if line.startswith("compile-local"))
    assert "200*" in compile_line
    assert "* calibrated:" in text and "~ fitted:" in text
    assert "mp3-cpu (DECODE_SHARE): calibrated against Table 4, play-mp3" in text
    assert "compile-crossings (COMPILE_CYCLES_PER_BYTE)" in text
    html = table._repr_html_()
    assert "class='nookslab-calibrated'" in html and "class='nookslab-fitted'" in html
    d = table.to_dict()["rows"][0]
    assert d["provenance"]["cpu_native"] == "calibrated" and "mp3-cpu" in d["calibrations"]


def test_the_docs_list_every_calibration_and_constant():
    text = DOCS.read_text()
    for c in CALIBRATIONS:
        assert f"`{c.key}`" in text, c.key
        for constant in c.constants:
            assert f"`{constant.split(':')[1].split('.')[-1]}`" in text or \
                constant.split(":")[1].split(".")[-1] in text, constant
