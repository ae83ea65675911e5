"""A Gradescope autograder for one graded notebook (one assignment):
``nookslab grade --gradescope-bundle DIR --notebook 02-isolation``.

:func:`write_bundle` writes into ``DIR`` what Gradescope's autograder contract asks for, and
``DIR/autograder.zip`` holding all of it (the one file an instructor uploads):

``setup.sh``        run once when Gradescope builds the image: installs bubblewrap with apt, makes a
                    venv in ``/autograder/venv`` and installs the package from the wheel beside it;
``run_autograder``  run for each submission: grades the one ``*.ipynb`` in
                    ``/autograder/submission`` (the one named after the assignment, or the only
                    one; several others score 0 with the reason) against the assignment's
                    solution, whatever the submission's metadata says, and writes
                    ``/autograder/results/results.json`` in Gradescope's format
                    (``python -m nookslab.grading.bundle``, this module's :func:`main`);
``nookslab-*.whl``  the package, built from this checkout; ``solutions/`` the assignment's solution.

The grading runs in the same sandbox as ``nookslab grade`` (``/autograder`` hidden from the
kernel). Where Gradescope's container cannot run bubblewrap, results.json says so and scores 0,
unless the bundle was written with ``--unsafe-no-sandbox``. ``NOOKSLAB_AUTOGRADER`` (default
``/autograder``) and ``NOOKSLAB_AUTOGRADER_PYTHON`` (default ``/autograder/venv/bin/python``) move
those paths, for testing the bundle outside Gradescope.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from .sandbox import checkout_root

SETUP = """#!/usr/bin/env bash
# Gradescope runs this once to build the autograder image (Ubuntu, as root).
set -euo pipefail
cd "$(dirname "${{BASH_SOURCE[0]}}")"
apt-get update -qq
apt-get install -y -qq bubblewrap python3 python3-venv python3-pip
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install --quiet --upgrade pip
/autograder/venv/bin/pip install --quiet ./{wheel}
# matplotlib's font cache, built once here instead of in every grading run
/autograder/venv/bin/python -c "import matplotlib.pyplot"
"""

RUN = """#!/usr/bin/env bash
# Gradescope runs this for each submission: grade /autograder/submission/*.ipynb into
# /autograder/results/results.json. NOOKSLAB_AUTOGRADER and NOOKSLAB_AUTOGRADER_PYTHON move the paths.
set -euo pipefail
root="${{NOOKSLAB_AUTOGRADER:-/autograder}}"
python="${{NOOKSLAB_AUTOGRADER_PYTHON:-$root/venv/bin/python}}"
export PYTHONHASHSEED=0
unset MPLBACKEND
exec "$python" -m nookslab.grading.bundle --root "$root" --solutions "$root/source/solutions" \
    --notebook {notebook}{unsafe}
"""


def write_bundle(folder: Path, notebook: str, *, unsafe: bool = False,
                 wheel: Path | None = None) -> Path:
    """Write the autograder for one assignment, the graded notebook ``notebook`` (``02-isolation``),
    into ``folder`` and return the zip to upload.

    ``wheel`` reuses a wheel already built (tests); otherwise one is built from the checkout with
    ``pip wheel``.
    """
    root = checkout_root()
    if root is None:
        raise RuntimeError("--gradescope-bundle needs a nookslab checkout (solutions/ and the "
                           "package's sources), not an installed copy")
    choices = sorted(p.stem for p in (root / "solutions").glob("*.ipynb"))
    if notebook not in choices:
        raise ValueError(f"no graded notebook {notebook!r}: one Gradescope assignment grades one "
                         f"of {', '.join(choices)}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("nookslab-*.whl"):
        old.unlink()
    if wheel is None:
        with tempfile.TemporaryDirectory(prefix="nookslab-wheel-") as tmp:
            source = Path(tmp) / "nookslab"  # a copy: building leaves build/ beside the sources
            shutil.copytree(root / "nookslab", source / "nookslab",
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            for name in ("pyproject.toml", "README.md", "LICENSE"):
                if (root / name).exists():
                    shutil.copy(root / name, source / name)
            for data in ("notebooks", "exercises"):    # the lessons the wheel ships (data-files)
                if (root / data).is_dir():
                    shutil.copytree(root / data, source / data,
                                    ignore=shutil.ignore_patterns(".*", "__pycache__"))
            subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                            "--wheel-dir", str(folder), str(source)], check=True)
        wheel = next(folder.glob("nookslab-*.whl"))
    else:
        wheel = Path(shutil.copy(wheel, folder))
    solutions = folder / "solutions"
    shutil.rmtree(solutions, ignore_errors=True)
    solutions.mkdir()
    shutil.copy(root / "solutions" / f"{notebook}.ipynb", solutions / f"{notebook}.ipynb")
    (folder / "setup.sh").write_text(SETUP.format(wheel=wheel.name))
    (folder / "run_autograder").write_text(RUN.format(
        notebook=notebook, unsafe=" --unsafe-no-sandbox" if unsafe else ""))
    for script in ("setup.sh", "run_autograder"):
        path = folder / script
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    zip_path = folder / "autograder.zip"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path != zip_path:
                info = zipfile.ZipInfo(str(path.relative_to(folder)))
                info.external_attr = (path.stat().st_mode & 0o777) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, path.read_bytes())
    return zip_path


def results_for(submission_dir: Path, solutions: Path, notebook: str, *, root: Path,
                unsafe: bool = False) -> dict:
    """Gradescope's results for the submission of the assignment ``notebook``: exactly one
    notebook is graded, always against ``notebook``'s solution (never the one the submission's
    metadata or file name names), so two copies or another assignment's notebook gain nothing."""
    from .sandbox import SandboxUnavailable
    from .score import grade

    found = sorted(p for p in submission_dir.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if not found:
        names = ", ".join(sorted(p.name for p in submission_dir.rglob("*") if p.is_file())) or "nothing"
        return {"score": 0, "output": "no .ipynb notebook in your submission (found: " + names
                + f"): upload your exercise notebook, {notebook}.ipynb", "tests": []}
    named = [p for p in found if p.name == f"{notebook}.ipynb"]
    if len(named) == 1 or len(found) == 1:
        path = named[0] if len(named) == 1 else found[0]
    else:
        return {"score": 0, "tests": [], "output": f"{len(found)} notebooks in your submission "
                f"({', '.join(p.name for p in found)}): upload one, {notebook}.ipynb; nothing "
                "was graded"}
    try:
        report = grade(path, solutions / f"{notebook}.ipynb", sandbox=not unsafe, hide=(root,))
    except SandboxUnavailable as exc:
        return {"score": 0, "output": f"the autograder cannot grade safely here: {exc}. "
                "Your instructor has to fix the autograder; nothing was graded.", "tests": []}
    data = report.gradescope()
    return {"score": data["score"], "tests": data["tests"], "output": data["output"]}


def main(argv: list[str] | None = None) -> int:
    import argparse
    parser = argparse.ArgumentParser(prog="python -m nookslab.grading.bundle")
    parser.add_argument("--root", type=Path, default=Path(os.environ.get("NOOKSLAB_AUTOGRADER", "/autograder")))
    parser.add_argument("--solutions", type=Path, required=True)
    parser.add_argument("--notebook", required=True, help="the assignment: a graded notebook's name")
    parser.add_argument("--unsafe-no-sandbox", action="store_true")
    args = parser.parse_args(argv)
    results = results_for(args.root / "submission", args.solutions, args.notebook, root=args.root,
                          unsafe=args.unsafe_no_sandbox)
    out = args.root / "results" / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"score {results['score']:g}; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
