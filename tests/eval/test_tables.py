import pytest

from nookslab.eval.tables import Table, fault_type_table
from nookslab.faults.types import FAULT_SUMMARIES, FAULT_TYPES


def test_every_fault_type_has_a_one_line_summary_and_nothing_else_does():
    assert list(FAULT_SUMMARIES) == list(FAULT_TYPES)
    for name, line in FAULT_SUMMARIES.items():
        assert line and "\n" not in line and len(line) <= 80, name


def test_the_fault_type_table_lists_each_type_once_in_the_campaigns_order():
    t = fault_type_table()
    assert [r[0] for r in t.rows] == list(FAULT_TYPES)
    assert t.rows[FAULT_TYPES.index("PTR")][1] == FAULT_SUMMARIES["PTR"]
    html = t._repr_html_()
    assert html.count("<tr>") == len(FAULT_TYPES) + 1 and "ALLOC" in html


def test_a_table_prints_aligned_columns_and_shows_as_an_escaped_html_table():
    t = Table(["name", "count"], [["a<b", 3], ["cc", 12]], title="T", notes=["n"])
    lines = str(t).splitlines()
    assert lines[0] == "T" and lines[1] == "name  count"
    assert lines[3] == "a<b       3" and lines[4] == "cc       12" and lines[-1] == "n"
    html = t._repr_html_()
    assert "a&lt;b" in html and "<caption" in html and "text-align:right'>12<" in html


def test_a_row_of_the_wrong_width_is_refused_naming_it():
    with pytest.raises(ValueError, match="1 cells under 2 columns"):
        Table(["a", "b"], [["x"]])


def test_result_tables_show_their_printed_text_as_plain_text_in_jupyter():
    from IPython.lib.pretty import pretty

    from nookslab.eval.figures import FigureTable, FigureRow
    t = Table(["a"], [["1"]], title="T")
    assert pretty(t) == str(t)
    fig = FigureTable("crash", (FigureRow("null", 2, 1, 0),), 317, 4, 2000)
    assert pretty(fig) == str(fig)
