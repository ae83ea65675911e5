"""Check answer cells against the answer-cell policy before submitting, running nothing:
``python -m nookslab.grading.check 03-xpc.ipynb`` (no root, no sandbox; exit 1 if one is refused).
"""
from __future__ import annotations


def main(argv=None) -> int:
    """``python -m nookslab.grading.check NOTEBOOK...``: each answer cell ok, or why not."""
    import argparse
    from .merge import policy_report
    parser = argparse.ArgumentParser(prog="python -m nookslab.grading.check",
                                     description="Check your answer cells against the grader's "
                                     "answer-cell policy (runs nothing; exercises/README.md).")
    parser.add_argument("notebooks", nargs="+", metavar="NOTEBOOK")
    args = parser.parse_args(argv)
    refused = False
    for path in args.notebooks:
        try:
            lines = policy_report(path)
        except (OSError, ValueError) as exc:
            print(f"{path}: cannot read it as a notebook: {exc}")
            return 2
        print(f"{path}:")
        for line in lines:
            print("  " + line.replace("\n", "\n  "))
            refused = refused or "refused" in line
    return 1 if refused else 0


if __name__ == "__main__":
    raise SystemExit(main())
