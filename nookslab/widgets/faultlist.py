"""The faults of a trial, shown once above the configurations' results: for each fault its type and
site, what it does in words, the driver's statement before and after the edit with the change
highlighted, and, per configuration, whether the fault's code ever ran.

Read from :func:`nookslab.faults.describe.describe` (the injector's own rewrite, shown as plain
code) and the ``"fault ... activated"`` events each trial's kernel recorded.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from difflib import SequenceMatcher

from ..faults.describe import FaultChange, describe_in, ran

_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")
RAN_COLOUR = "#2e7d32"
NEVER_COLOUR = "#8a8a8a"


def highlight(before: str, after: str) -> tuple[str, str]:
    """HTML of ``before`` with the removed tokens in ``<del>`` and ``after`` with the inserted
    ones in ``<ins>`` (a token diff: names and numbers change whole, never letter by letter)."""
    a, b = _TOKEN.findall(before), _TOKEN.findall(after)
    out_a, out_b = [], []
    for op, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        left, right = html.escape("".join(a[i1:i2])), html.escape("".join(b[j1:j2]))
        if op == "equal":
            out_a.append(left)
            out_b.append(right)
            continue
        if left:
            out_a.append(f"<del>{left}</del>")
        if right:
            out_b.append(f"<ins>{right}</ins>")
    return "".join(out_a), "".join(out_b)


@dataclass(frozen=True)
class FaultRow:
    """One fault as the list shows it: its description and, per configuration, whether it ran
    (None: that configuration did not run)."""

    number: int
    change: FaultChange
    ran: dict[str, bool | None]

    @property
    def text(self) -> str:
        runs = ", ".join(f"{m}: {'ran' if r else 'never ran'}" for m, r in self.ran.items()
                         if r is not None)
        return f"{self.number}. {self.change}" + (f"\n  ({runs})" if runs else "")


def fault_rows(extension: str, faults, kernels: dict[str, object]) -> list[FaultRow]:
    """The rows for ``faults`` injected into ``extension``; ``kernels`` maps each configuration
    to the kernel its trial ran on (None when it did not run)."""
    rows = []
    for number, fault in enumerate(faults, 1):
        runs = {m: (None if k is None else ran(fault, k.events)) for m, k in kernels.items()}
        rows.append(FaultRow(number, describe_in(extension, fault), runs))
    return rows


def _ran_cell(value: bool | None) -> str:
    if value is None:
        return "<td>&ndash;</td>"
    if value:
        return f"<td style='color:{RAN_COLOUR}' data-ran='yes'>ran</td>"
    return (f"<td style='color:{NEVER_COLOUR}' data-ran='no' title='the fault&#39;s code was "
            f"never reached during the workload: this fault tested nothing'>"
            f"<b>never ran</b></td>")


def fault_table(rows: list[FaultRow], caption: str = "") -> str:
    """The fault list as HTML (one table, the configurations as the last columns)."""
    if not rows:
        return (f"<div class='nookslab-faults'><b>Faults injected</b>: none{caption}. Switch a "
                f"fault type on (or <i>random x5</i>) to inject one.</div>")
    modes = list(rows[0].ran)
    head = "".join(f"<th>{html.escape(m)}</th>" for m in modes)
    body = []
    for row in rows:
        c = row.change
        cell = f"<b>{html.escape(c.title)}</b>: {html.escape(c.what)}"
        if c.before or c.after:
            before, after = highlight(c.before, c.after)
            cell += (f"<span class='nookslab-code before' style='white-space:pre-wrap;"
                     f"overflow-wrap:anywhere'>before: {before}</span>"
                     f"<span class='nookslab-code after' style='white-space:pre-wrap;"
                     f"overflow-wrap:anywhere'>after:&nbsp; {after}</span>")
        ran_cells = "".join(_ran_cell(row.ran[m]) for m in modes)
        body.append(f"<tr class='nookslab-fault-row'><td>{row.number}</td><td>{cell}</td>"
                    f"{ran_cells}</tr>")
    note = (" (the same faults in every configuration; <i>ran</i>: the faulty code was "
            "reached)" if modes else "")
    return (f"<div class='nookslab-faults'><b>Faults injected</b>{caption}{note}"
            f"<table><tr><th>#</th><th>fault</th>{head}</tr>{''.join(body)}</table></div>")
