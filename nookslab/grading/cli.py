"""``nookslab grade``: grade one submission (table or ``--json``), or a folder into one CSV."""
from __future__ import annotations

import csv as _csv
import json as _json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .score import Report, grade


def grade_folder(folder: Path, out_csv: Path, workers: int = 2, **options) -> list[Report]:
    """Grade every ``*.ipynb`` in ``folder`` (each in its own nbval process) into ``out_csv``."""
    paths = sorted(p for p in Path(folder).glob("*.ipynb") if p.is_file())
    # Threads suffice: each grade runs nbval in a subprocess with its own kernel.
    with ThreadPoolExecutor(max_workers=workers) as pool:
        reports = list(pool.map(lambda p: grade(p, **options), paths))
    ids: list[str] = []
    for r in reports:
        ids += [e.id for e in r.exercises if e.id not in ids]
    with open(out_csv, "w", newline="") as fh:
        w = _csv.writer(fh)
        w.writerow(["submission", "notebook", *ids, "score", "max_score", "tampered", "message"])
        for r in reports:
            got = {e.id: e.points for e in r.exercises}
            w.writerow([r.submission, r.notebook, *(f"{got[i]:g}" if i in got else "" for i in ids),
                        f"{r.score:g}", f"{r.max_score:g}", "yes" if r.tampered else "no",
                        r.message])
    return reports


def main(submission=None, json: bool = False, batch=None, csv=None, workers=None) -> int:
    """Entry point of ``nookslab grade``; returns 0 when grading ran (whatever the score)."""
    if batch is not None:
        reports = grade_folder(Path(batch), Path(csv), workers or 2)
        for r in reports:
            flag = "  TAMPERED" if r.tampered else ""
            print(f"{r.submission}: {r.score:g}/{r.max_score:g}{flag}")
        print(f"wrote {csv} ({len(reports)} submissions)")
        return 0
    path = Path(submission)
    if not path.is_file():
        print(f"nookslab grade: no such file: {path}", file=sys.stderr)
        return 2
    report = grade(path)
    print(_json.dumps(report.gradescope(), indent=2) if json else report.table())
    return 0
