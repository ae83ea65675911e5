"""Figures 6 and 7 of SOSP'03 as tables and bar charts: our counts beside the paper's totals.

The paper gives only totals over its 2000 trials (400 per extension for five extensions); its
per-extension bars are not confirmed, so ours are shown per extension and compared with the paper
on totals and on rates (failures per trial), which stay comparable when we run fewer trials.
"""
from __future__ import annotations

import html
from dataclasses import asdict, dataclass

from . import paper

_TITLES = {"crash": "Figure 6: system crashes", "nonfatal": "Figure 7: non-fatal extension failures"}


@dataclass(frozen=True)
class FigureRow:
    extension: str
    trials: int
    native: int | None
    nooks: int | None


@dataclass(frozen=True)
class FigureTable:
    """One figure: per-extension counts of one outcome, native and Nooks, and the paper's totals."""

    outcome: str
    rows: tuple[FigureRow, ...]
    paper_native: int
    paper_nooks: int
    paper_trials: int
    #: trials left out (simulator errors and limits): "extension/mode" -> {outcome: n}
    excluded: tuple[tuple[str, str, int], ...] = ()

    @classmethod
    def from_result(cls, result, outcome: str) -> "FigureTable":
        counts = result.counts()
        modes = result.config["modes"]
        rows = []
        for e in result.config["extensions"]:
            get = (lambda m: counts[(e, m)][outcome] if m in modes else None)
            rows.append(FigureRow(e, result.config["trials"], get("native"), get("nooks")))
        totals = paper.FIG6_TOTALS if outcome == "crash" else paper.FIG7_TOTALS
        excluded = tuple((f"{e}/{m}", o, n) for (e, m), c in result.excluded().items()
                         for o, n in c.items())
        return cls(outcome, tuple(rows), totals["native"], totals["nooks"],
                   paper.TRIALS_PER_EXTENSION * len(paper.FAULT_EXTENSIONS), excluded)

    @property
    def title(self) -> str:
        return _TITLES.get(self.outcome, self.outcome)

    @property
    def trials(self) -> int:
        return sum(r.trials for r in self.rows)

    def total(self, mode: str) -> int | None:
        values = [getattr(r, mode) for r in self.rows]
        return None if any(v is None for v in values) else sum(values)

    @staticmethod
    def reduction(native: int | None, nooks: int | None) -> float | None:
        if native is None or nooks is None or native == 0:
            return None
        return 1 - nooks / native

    def lines(self) -> list[str]:
        fmt = (lambda v: "-" if v is None else str(v))
        out = [self.title, f"  {'extension':<10}{'trials':>7}{'native':>8}{'nooks':>8}"]
        for r in self.rows:
            out.append(f"  {r.extension:<10}{r.trials:>7}{fmt(r.native):>8}{fmt(r.nooks):>8}")
        n, k = self.total("native"), self.total("nooks")
        out.append(f"  {'ours':<10}{self.trials:>7}{fmt(n):>8}{fmt(k):>8}"
                   + _rates(n, k, self.trials))
        out.append(f"  {'paper':<10}{self.paper_trials:>7}{self.paper_native:>8}"
                   f"{self.paper_nooks:>8}" + _rates(self.paper_native, self.paper_nooks,
                                                      self.paper_trials))
        if self.excluded:
            out.append("  note: not counted (the simulator's, not the extension's): "
                       + ", ".join(f"{where} {n} {o}" for where, o, n in self.excluded))
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def table(self):
        """The figure's numbers as a :class:`~nookslab.eval.tables.Table` (for CSV and JSON):
        per extension, our totals, the paper's totals, each with its share of trials."""
        from .tables import Table

        def cells(label, trials, native, nooks):
            pct = (lambda v: "-" if v is None or not trials else f"{100 * v / trials:.1f}")
            fmt = (lambda v: "-" if v is None else str(v))
            return [label, trials, fmt(native), fmt(nooks), pct(native), pct(nooks)]
        rows = [cells(r.extension, r.trials, r.native, r.nooks) for r in self.rows]
        rows.append(cells("ours (all)", self.trials, self.total("native"), self.total("nooks")))
        rows.append(cells("paper (all)", self.paper_trials, self.paper_native, self.paper_nooks))
        notes = [line.strip() for line in self.lines() if line.strip().startswith("note:")]
        return Table(["extension", "trials", "native", "nooks", "native %", "nooks %"], rows,
                     self.title, notes)

    def to_dict(self) -> dict:
        return {"outcome": self.outcome, "rows": [asdict(r) for r in self.rows],
                "ours": {"trials": self.trials, "native": self.total("native"),
                         "nooks": self.total("nooks"),
                         "reduction": self.reduction(self.total("native"), self.total("nooks"))},
                "paper": {"trials": self.paper_trials, "native": self.paper_native,
                          "nooks": self.paper_nooks,
                          "reduction": self.reduction(self.paper_native, self.paper_nooks)},
                "excluded": [{"where": w, "outcome": o, "trials": n}
                             for w, o, n in self.excluded]}

    def _repr_html_(self) -> str:
        def cell(v):
            return "-" if v is None else html.escape(str(v))
        body = "".join(f"<tr><td>{html.escape(r.extension)}</td><td>{r.trials}</td>"
                       f"<td>{cell(r.native)}</td><td>{cell(r.nooks)}</td></tr>" for r in self.rows)
        n, k = self.total("native"), self.total("nooks")
        body += (f"<tr><th>ours</th><td>{self.trials}</td><td>{cell(n)}</td><td>{cell(k)}</td></tr>"
                 f"<tr><th>paper</th><td>{self.paper_trials}</td><td>{self.paper_native}</td>"
                 f"<td>{self.paper_nooks}</td></tr>")
        if self.excluded:
            note = ", ".join(f"{where} {n} {o}" for where, o, n in self.excluded)
            body += (f"<tr><td colspan='4'>not in the figure: {html.escape(note)} (runs stopped "
                     f"by the simulator)</td></tr>")
        return (f"<table class='nookslab-figure'><caption>{html.escape(self.title)}</caption>"
                "<tr><th>extension</th><th>trials</th><th>native</th><th>nooks</th></tr>"
                f"{body}</table>")

    def _repr_pretty_(self, printer, cycle) -> None:
        # IPython's text/plain: what print shows, not the dataclass's field dump
        printer.text(str(self))

    def plot(self, ax=None):
        """Bars per extension (native, Nooks), then our totals and the paper's, as % of trials."""
        import matplotlib.pyplot as plt
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        labels = [r.extension for r in self.rows] + ["ours (all)", "paper (all)"]
        n, k = self.total("native"), self.total("nooks")

        def pct(v, trials):
            return 0.0 if v is None or not trials else 100.0 * v / trials
        native = [pct(r.native, r.trials) for r in self.rows] + [
            pct(n, self.trials), pct(self.paper_native, self.paper_trials)]
        nooks = [pct(r.nooks, r.trials) for r in self.rows] + [
            pct(k, self.trials), pct(self.paper_nooks, self.paper_trials)]
        xs = range(len(labels))
        ax.bar([x - 0.2 for x in xs], native, width=0.4, label="native")
        ax.bar([x + 0.2 for x in xs], nooks, width=0.4, label="nooks")
        ax.set_xticks(list(xs))
        ax.set_xticklabels(labels, rotation=30, ha="right")
        ax.set_ylabel("% of trials")
        ax.set_title(self.title)
        ax.legend()
        return ax


def _rates(native, nooks, trials) -> str:
    if native is None or not trials:
        return ""
    text = f"   {100 * native / trials:5.1f}%"
    if nooks is not None:
        text += f" -> {100 * nooks / trials:5.1f}%"
        if native:
            text += f"  ({100 * (1 - nooks / native):.0f}% fewer)"
    return text


#: The kinds of non-fatal failure, in the order they are shown (see :func:`nonfatal_kind`).
NONFATAL_KINDS = (
    "an oops killed the process (Linux 2.4 kills only the process)",
    "the driver did not load (its init returned an error)",
    "an operation failed or returned wrong data",
)


def nonfatal_kind(cause: str) -> str:
    """Which of :data:`NONFATAL_KINDS` a non-fatal trial's cause is."""
    if "killed by oops" in cause and "is not running" not in cause:
        return NONFATAL_KINDS[0]
    if "is not running" in cause or "did not load" in cause:
        return NONFATAL_KINDS[1]
    return NONFATAL_KINDS[2]


def nonfatal_kinds(result, mode: str = "native") -> dict[str, int]:
    """The non-fatal trials of ``mode`` in a campaign, counted by kind (every kind listed)."""
    counts = dict.fromkeys(NONFATAL_KINDS, 0)
    for t in result.trials:
        if t.mode == mode and t.outcome == "nonfatal" and t.error is None:
            counts[nonfatal_kind(t.cause or "")] += 1
    return counts

