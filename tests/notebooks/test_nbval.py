"""nbval over every lesson and solution notebook: their stored outputs must still come out."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_lesson_and_solution_notebook_reproduces_its_stored_outputs_under_nbval():
    env = dict(os.environ, PYTHONHASHSEED="0")
    env.pop("MPLBACKEND", None)
    cmd = [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env",
           "--nbval-sanitize-with", "nookslab/sanitize.cfg", "-p", "no:cacheprovider",
           "--nbval-cell-timeout=120", "-q", "notebooks", "solutions"]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    tail = (done.stdout + done.stderr)[-4000:]
    assert done.returncode == 0, tail
    assert " passed" in tail and "failed" not in tail, tail
