"""``nookslab reproduce TARGET --out DIR``: each table as CSV and JSON, each figure as PNG, and an
``index.html`` that shows them all, ours beside the paper's.

Targets add what they computed to one :class:`OutputFolder`; the folder keeps a manifest
(``index.json``) so ``reproduce all`` fills one folder target after target and the index always
lists everything in it. Plain files only: the HTML fetches nothing from the network.
"""
from __future__ import annotations

import csv
import html
import json
import os
from pathlib import Path

from .tables import Table

MANIFEST = "index.json"


class OutputFolder:
    """A folder that collects a reproduction's tables and figures.

    Parameters
    ----------
    path: the folder; created if missing. An existing file, or a folder that cannot be created or
        written, is a :class:`ValueError` that says so.
    """

    def __init__(self, path):
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise ValueError(f"--out {path}: that is a file, not a folder; give a folder "
                             f"(created if missing)")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"--out {path}: cannot create the folder "
                             f"({exc.strerror or exc})") from None
        if not os.access(path, os.W_OK | os.X_OK):
            raise ValueError(f"--out {path}: the folder is not writable")
        self.path = path
        manifest = path / MANIFEST
        self.entries: list[dict] = []
        if manifest.exists():
            try:
                self.entries = json.loads(manifest.read_text())["entries"]
            except (ValueError, KeyError, TypeError):
                self.entries = []                  # not ours, or broken: start a new index

    # -- adding results ------------------------------------------------------------------------
    def table(self, target: str, name: str, table: Table, data=None) -> list[Path]:
        """Write ``table`` as ``name.csv`` (its columns and rows) and ``name.json`` (title,
        columns, rows, notes, and ``data``: the result's own ``to_dict()`` if given)."""
        csv_path, json_path = self.path / f"{name}.csv", self.path / f"{name}.json"
        with csv_path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(table.columns)
            writer.writerows(table.rows)
        json_path.write_text(json.dumps({"title": table.title, "columns": list(table.columns),
                                         "rows": table.rows, "notes": list(table.notes),
                                         "data": data}, indent=1, default=str))
        self._add(target, "table", name, table.title, [csv_path.name, json_path.name])
        return [csv_path, json_path]

    def figure(self, target: str, name: str, fig, title: str) -> Path:
        """Save a matplotlib figure (made outside pyplot) as ``name.png``."""
        png = self.path / f"{name}.png"
        fig.savefig(png, dpi=100, bbox_inches="tight")
        self._add(target, "figure", name, title, [png.name])
        return png

    def _add(self, target: str, kind: str, name: str, title: str, files: list[str]) -> None:
        self.entries = [e for e in self.entries if e["name"] != name]
        self.entries.append({"target": target, "kind": kind, "name": name, "title": title,
                             "files": files})
        self.write_index()

    # -- the index -------------------------------------------------------------------------------
    def write_index(self) -> Path:
        """Write ``index.json`` (the manifest) and ``index.html`` (every table and figure)."""
        (self.path / MANIFEST).write_text(json.dumps({"entries": self.entries}, indent=1))
        parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'>",
                 "<title>nookslab: the paper's evaluation reproduced</title>",
                 "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto;"
                 "padding:0 1em}table{border-collapse:collapse;margin:.5em 0}"
                 "td,th{border:1px solid #ccc;padding:2px 6px;font-size:90%}"
                 "img{max-width:100%}.notes{font-size:85%;color:#444}</style></head><body>",
                 "<h1>nookslab: SOSP'03 (Nooks) evaluation, ours beside the paper's</h1>",
                 "<p>Every number of ours comes from simulated runs; the paper's sit beside them "
                 "(<code>nookslab/eval/paper.py</code>). Tables are also here as CSV and JSON, "
                 "figures as PNG.</p>"]
        for target in dict.fromkeys(e["target"] for e in self.entries):
            parts.append(f"<h2>{html.escape(target)}</h2>")
            for e in (e for e in self.entries if e["target"] == target):
                links = ", ".join(f"<a href='{html.escape(f)}'>{html.escape(f)}</a>"
                                  for f in e["files"])
                parts.append(f"<h3>{html.escape(e['title'] or e['name'])}</h3>")
                if e["kind"] == "figure":
                    parts.append(f"<img src='{html.escape(e['files'][0])}' "
                                 f"alt='{html.escape(e['title'])}'>")
                else:
                    parts.append(self._html_table(e["files"][1]))
                parts.append(f"<p class='notes'>files: {links}</p>")
        parts.append("</body></html>")
        index = self.path / "index.html"
        index.write_text("\n".join(parts))
        return index

    def _html_table(self, json_name: str) -> str:
        from .tables import html_table
        try:
            data = json.loads((self.path / json_name).read_text())
        except (OSError, ValueError):
            return "<p>(table file missing)</p>"
        notes = "".join(f"<div class='notes'>{html.escape(n)}</div>" for n in data["notes"])
        return html_table(data["columns"], data["rows"]) + notes


__all__ = ["MANIFEST", "OutputFolder"]
