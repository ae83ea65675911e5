"""Small tables that print fixed-width and show as HTML in JupyterLab (no pandas).

A fixed-width table printed in a notebook wraps or is cut off when the browser window is narrow;
the same data as an HTML table reflows. Result objects build a :class:`Table` and return its
``_repr_html_`` (JupyterLab shows that when the object is a cell's last expression), and its
``str`` for ``print`` and the command line.

:func:`fault_type_table` is lesson 07's table of the injector's fault types, one line each, from
:data:`nookslab.faults.types.FAULT_SUMMARIES`.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field


@dataclass
class Table:
    """Rows of text cells under named columns, with an optional title and notes.

    ``align``: one letter per column, ``"l"`` or ``"r"`` (default: right for cells that look
    like numbers, left for the rest).
    """

    columns: list
    rows: list
    title: str = ""
    notes: list = field(default_factory=list)
    align: str = ""

    def __post_init__(self):
        self.rows = [[str(c) for c in row] for row in self.rows]
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(f"a row of {len(row)} cells under {len(self.columns)} columns: "
                                 f"{row}")
        if not self.align:
            self.align = "".join("r" if self.rows and all(_numeric(r[i]) for r in self.rows)
                                 else "l" for i in range(len(self.columns)))

    def __str__(self) -> str:
        widths = [max([len(str(c))] + [len(r[i]) for r in self.rows])
                  for i, c in enumerate(self.columns)]

        def line(cells):
            return "  ".join(c.rjust(w) if a == "r" else c.ljust(w)
                             for c, w, a in zip(cells, widths, self.align)).rstrip()
        head = line([str(c) for c in self.columns])
        out = ([self.title] if self.title else []) + [head, "-" * len(head)]
        out += [line(r) for r in self.rows] + list(self.notes)
        return "\n".join(out)

    def _repr_html_(self) -> str:
        return html_table(self.columns, self.rows, self.title, self.notes, self.align)

    def _repr_pretty_(self, printer, cycle) -> None:
        # IPython's text/plain: the fixed-width table, not the dataclass's field dump
        printer.text(str(self))


class ShownAsTable:
    """For a result whose ``table()`` is how it prints, in a notebook and with ``print``.

    A dataclass subclass must also say ``_repr_pretty_ = ShownAsTable._repr_pretty_`` in its own
    body: IPython takes a ``__repr__`` defined lower in the MRO over an inherited ``_repr_pretty_``.
    """

    def __str__(self) -> str:
        return str(self.table())

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()

    def _repr_pretty_(self, printer, cycle) -> None:
        # IPython's text/plain: what print shows, not a dataclass's field dump
        printer.text(str(self))


def html_table(columns, rows, title: str = "", notes=(), align: str = "") -> str:
    """An HTML table (escaped) with a caption and notes below it."""
    def cell(tag, text, a):
        style = " style='text-align:right'" if a == "r" else " style='text-align:left'"
        return f"<{tag}{style}>{html.escape(str(text))}</{tag}>"
    align = align or "l" * len(columns)
    head = "".join(cell("th", c, a) for c, a in zip(columns, align))
    body = "".join("<tr>" + "".join(cell("td", c, a) for c, a in zip(r, align)) + "</tr>"
                   for r in rows)
    caption = f"<caption style='text-align:left'><b>{html.escape(title)}</b></caption>" \
        if title else ""
    after = "".join(f"<div>{html.escape(n)}</div>" for n in notes)
    return (f"<table class='nookslab-table'>{caption}<thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>{after}")


def _numeric(text: str) -> bool:
    t = text.strip().rstrip("%*").replace(",", "").replace("+", "", 1)
    if t.startswith("-"):
        t = t[1:]
    return t.replace(".", "", 1).isdigit() or t == "-"


def fault_type_table() -> Table:
    """The injector's fault types, one line each: the bug each plants in a driver (from
    :data:`~nookslab.faults.types.FAULT_SUMMARIES`)."""
    from ..faults.types import FAULT_SUMMARIES, FAULT_TYPES
    rows = [[name, FAULT_SUMMARIES[name]] for name in FAULT_TYPES]
    return Table(["fault type", "the bug it plants in the driver"], rows,
                 title=f"The injector's {len(rows)} fault types",
                 notes=["How each is done, beside the paper's C fault: FAULT_DOCS[name] in "
                        "nookslab.faults.types."])
