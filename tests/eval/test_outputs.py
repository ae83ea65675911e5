"""`nookslab reproduce TARGET --out DIR`: tables as CSV and JSON, figures as PNG, an index.html
that shows them all; one folder for several targets; clear errors for a bad folder."""
from __future__ import annotations

import csv
import json
import re

import pytest

from nookslab.cli import main
from nookslab.eval.outputs import OutputFolder
from nookslab.eval.tables import Table


def read_csv(path):
    with path.open(newline="") as f:
        return list(csv.reader(f))


def test_a_small_fig6_and_vfat_fill_one_folder_with_csv_json_png_and_an_index(tmp_path, capsys):
    out = tmp_path / "results"
    assert main(["reproduce", "fig6", "--trials", "2", "--workers", "1", "--out", str(out)]) == 0
    assert main(["reproduce", "vfat", "--trials", "3", "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["fig6-bars.png", "fig6.csv", "fig6.json", "index.html", "index.json",
                     "vfat-bars.png", "vfat.csv", "vfat.json"]
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in ("fig6", "vfat"):
        rows = read_csv(out / f"{name}.csv")
        data = json.loads((out / f"{name}.json").read_text())
        assert rows[0] == data["columns"] and rows[1:] == data["rows"]
        assert data["data"]                              # the result's own numbers too
    fig6 = read_csv(out / "fig6.csv")
    assert fig6[-1][0] == "paper (all)" and fig6[-1][1:4] == ["2000", "317", "4"]
    index = (out / "index.html").read_text()
    linked = set(re.findall(r"(?:href|src)='([^']+)'", index))
    assert linked == {n for n in names if not n.startswith("index.")}
    assert "<h2>fig6</h2>" in index and "<h2>vfat</h2>" in index and "<table" in index
    assert not re.search(r"(src|href)=.(https?:)?//", index)   # nothing fetched from the net


def test_table4_marks_its_calibrated_cells_in_the_csv(tmp_path):
    out = OutputFolder(tmp_path / "t4")
    from nookslab.eval.reproduce import table4
    assert table4(out=out) == 0
    rows = read_csv(tmp_path / "t4" / "table4.csv")
    mp3 = next(r for r in rows if r[0] == "play-mp3")
    assert mp3[6].endswith("*") and mp3[4].endswith("~") and not mp3[2].endswith("*")
    data = json.loads((tmp_path / "t4" / "table4.json").read_text())
    assert any("calibrated" in n for n in data["notes"])
    assert (tmp_path / "t4" / "table4-receive-stream-xpcs.csv").exists()
    assert (tmp_path / "t4" / "table4-plot.png").exists()


def test_an_existing_file_or_an_impossible_folder_is_a_clear_error(tmp_path, capsys):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    assert main(["reproduce", "table2", "--out", str(a_file)]) == 2
    assert "that is a file, not a folder" in capsys.readouterr().err
    assert main(["reproduce", "table2", "--out", str(a_file / "below")]) == 2
    assert "cannot create the folder" in capsys.readouterr().err
    with pytest.raises(ValueError, match="is a file"):
        OutputFolder(a_file)


def test_the_index_lists_what_an_earlier_run_put_in_the_folder(tmp_path):
    first = OutputFolder(tmp_path)
    first.table("t", "one", Table(["a"], [["1"]], "first"))
    second = OutputFolder(tmp_path)
    second.table("t", "two", Table(["a"], [["2"]], "second"))
    index = (tmp_path / "index.html").read_text()
    assert "one.csv" in index and "two.csv" in index
