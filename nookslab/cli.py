"""The ``nookslab`` command (also ``python -m nookslab``): DESIGN.md section 5.

This module only parses arguments and dispatches; the work lives in the subpackages. Each command
names its entry point as a ``"module:function"`` string that is imported only when that command
runs, so ``nookslab --help`` stays fast and a part that is not built yet is reported as such
instead of breaking every other command.

Entry-point contract: the function takes keyword arguments, named after the options below
(``seed``, ``trials``, ``workers``, ``json``, ``out`` for ``reproduce``; ``extension``, ``faults``, ``mode``,
``seed`` for ``trial``; ``submission``, ``json``, ``batch``, ``csv``, ``workers``,
``unsafe_no_sandbox``, ``gradescope_bundle`` for ``grade``).
It receives only the options the user gave and its signature accepts; it returns an exit status
(``int``) or ``None`` for success.
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import sys
import traceback
from pathlib import Path

# One entry per `reproduce` target, in the order `reproduce all` runs them.
REPRODUCE = {
    "fig6": "nookslab.eval.reproduce:fig6",
    "fig7": "nookslab.eval.reproduce:fig7",
    "manual": "nookslab.eval.reproduce:manual",
    "vfat": "nookslab.eval.reproduce:vfat",
    "table2": "nookslab.eval.reproduce:table2",
    "table4": "nookslab.eval.reproduce:table4",
    "shadow": "nookslab.eval.reproduce:shadow",
    "demo": "nookslab.demo:main",
}
TARGETS = (*REPRODUCE, "all")

TRIAL = "nookslab.faults.story:main"
GRADE = "nookslab.grading.cli:main"

NOT_BUILT = 2  # exit status of a command whose code does not exist yet


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be in 1..65535, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Return the parser for the ``nookslab`` command and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="nookslab",
        description="Nooks driver isolation (SOSP 2003), simulated: reproduce the paper's "
        "evaluation, replay one fault-injection trial, grade notebooks, open the lab.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    rep = sub.add_parser(
        "reproduce", help="reproduce a table or figure of the paper, ours beside the paper's",
        description="Reproduce a table or figure of the paper and print it beside the paper's.",
    )
    rep.add_argument("target", metavar="TARGET", choices=TARGETS,
                     help="one of: " + ", ".join(TARGETS))
    rep.add_argument("--trials", type=_positive, metavar="N", help="fault-injection trials per cell")
    rep.add_argument("--seed", type=int, metavar="S", help="root seed (default: the target's own)")
    rep.add_argument("--workers", type=_positive, metavar="W", help="worker processes")
    rep.add_argument("--json", type=Path, metavar="PATH",
                     help="also write the results as JSON; for 'all', a folder for TARGET.json files")
    rep.add_argument("--out", type=Path, metavar="DIR",
                     help="also write each table as CSV and JSON, each figure as PNG, and an "
                          "index.html showing them beside the paper's, into DIR (created if "
                          "missing; 'all' fills one folder)")

    trial = sub.add_parser(
        "trial", help="tell the story of one fault-injection trial",
        description="Run one fault-injection trial and tell what happened, step by step.",
    )
    trial.add_argument("--extension", required=True, metavar="E", help="extension, e.g. e1000")
    trial.add_argument("--fault", dest="faults", action="append", required=True, metavar="TYPE",
                       help="fault type to inject, e.g. PTR; repeat for several")
    trial.add_argument("--mode", default="nooks", metavar="M",
                       help="native, nooks, nooks+shadow, user-level, sfi or safe-language "
                            "(default: nooks)")
    trial.add_argument("--seed", type=int, default=0, metavar="S", help="seed (default: 0)")

    grade = sub.add_parser(
        "grade", help="grade one notebook, or a folder of them",
        usage="nookslab grade SUBMISSION [--json] [--unsafe-no-sandbox]\n"
              "       nookslab grade --batch FOLDER --csv OUT.csv [--workers W] [--unsafe-no-sandbox]\n"
              "       nookslab grade --gradescope-bundle DIR --notebook NAME",
        description="Grade a student's notebook against the solution, or a folder of them.",
    )
    grade.add_argument("submission", nargs="?", type=Path, metavar="SUBMISSION",
                       help="the student's .ipynb")
    grade.add_argument("--json", action="store_true", help="print the score as JSON")
    grade.add_argument("--batch", type=Path, metavar="FOLDER", help="grade every notebook in FOLDER")
    grade.add_argument("--csv", type=Path, metavar="OUT.csv", help="with --batch: write scores here")
    grade.add_argument("--workers", type=_positive, metavar="W", help="with --batch: parallel graders")
    grade.add_argument("--unsafe-no-sandbox", action="store_true",
                       help="run students' code without the bubblewrap sandbox (as you!)")
    grade.add_argument("--gradescope-bundle", type=Path, metavar="DIR",
                       help="write a Gradescope autograder (setup.sh, run_autograder) into DIR")
    grade.add_argument("--notebook", metavar="NAME",
                       help="with --gradescope-bundle: the assignment, a graded notebook "
                            "(e.g. 02-isolation)")
    # argparse cannot say "exactly one of" a positional and an option: checked after parsing.
    grade.set_defaults(check=lambda args: _check_grade_args(grade, args))

    lab = sub.add_parser(
        "lab", help="open JupyterLab on your workspace: the lessons and your own exercises",
        description="Open JupyterLab on a workspace holding the lessons (notebooks/) and your own "
        "copies of the exercises (exercises/). The workspace is created on first start and your "
        "files in it are never overwritten (a lesson you have not touched is brought up to "
        "date). Where it is: workspace/ in the nookslab checkout you run this in, else "
        "~/nookslab-lab (--workspace chooses another folder). The lessons and exercises are "
        "copied from that checkout, else from the notebooks installed with the package.",
    )
    lab.add_argument("--workspace", type=Path, metavar="DIR",
                     help="the workspace folder (default: workspace/ in a checkout, else "
                          "~/nookslab-lab)")
    lab.add_argument("--port", type=_port, metavar="P", help="port to listen on")
    lab.add_argument("--no-browser", action="store_true", help="do not open a browser")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``nookslab`` command with ``argv`` (default: ``sys.argv[1:]``); return its exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if hasattr(args, "check"):
            args.check(args)
    except SystemExit as exit_:  # --help, or a usage error already printed by argparse
        return exit_.code if isinstance(exit_.code, int) else 2
    return _COMMANDS[args.command](args)


def _check_grade_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.gradescope_bundle is not None:
        if args.submission is not None or args.batch is not None or args.json or args.csv:
            parser.error("--gradescope-bundle DIR goes alone")
        if args.notebook is None:
            parser.error("--gradescope-bundle DIR needs --notebook NAME: one Gradescope "
                         "assignment grades one notebook")
        return
    if args.notebook is not None:
        parser.error("--notebook goes with --gradescope-bundle")
    if (args.submission is None) == (args.batch is None):
        parser.error("give either SUBMISSION or --batch FOLDER --csv OUT.csv")
    if args.batch is not None and args.csv is None:
        parser.error("--batch needs --csv OUT.csv")
    if args.batch is None and (args.csv is not None or args.workers is not None):
        parser.error("--csv and --workers go with --batch")
    if args.batch is not None and args.json:
        parser.error("--json is for a single SUBMISSION")


def _resolve(spec: str):
    """Import ``"module:function"``; return the function, or None if that code does not exist yet."""
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # Only the target module (or a parent package) missing means "not built yet"; anything
        # else it imports that is missing is a real error and must show.
        parts = module_name.split(".")
        if exc.name in {".".join(parts[:i]) for i in range(1, len(parts) + 1)}:
            return None
        raise
    return getattr(module, attr, None)


def _fit(func, options: dict) -> tuple[dict, list[str]]:
    """Split ``options`` into those ``func`` accepts as keywords and the names of those it does not."""
    params = inspect.signature(func).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return dict(options), []
    names = {p.name for p in params
             if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)}
    return ({k: v for k, v in options.items() if k in names},
            [k for k in options if k not in names])


def _status(result) -> int:
    # Entry points return an exit status, or None (or a result object) for success.
    return result if isinstance(result, int) and not isinstance(result, bool) else 0


def _call(label: str, spec: str, options: dict) -> int:
    func = _resolve(spec)
    if func is None:
        print(f"{label}: not built yet", file=sys.stderr)
        return NOT_BUILT
    accepted, ignored = _fit(func, options)
    for name in ignored:
        print(f"{label}: ignores --{name}", file=sys.stderr)
    return _status(func(**accepted))


def _given(args: argparse.Namespace, names: tuple[str, ...]) -> dict:
    # Only what the user gave (seed 0 counts, an unset flag does not): entry points keep their defaults.
    return {n: v for n in names if (v := getattr(args, n)) is not None and v is not False}


def _reproduce(args: argparse.Namespace) -> int:
    options = _given(args, ("seed", "trials", "workers", "json", "out"))
    if "out" in options:
        from .eval.outputs import OutputFolder
        try:
            options["out"] = OutputFolder(options["out"])
        except ValueError as exc:
            print(f"nookslab reproduce: {exc}", file=sys.stderr)
            return 2
    if args.target != "all":
        return _call(f"reproduce {args.target}", REPRODUCE[args.target], options)

    if "json" in options:
        options["json"].mkdir(parents=True, exist_ok=True)
    ran, failed, missing = [], [], []
    for target, spec in REPRODUCE.items():
        label = f"reproduce {target}"
        per_target = dict(options)
        if "json" in options:
            per_target["json"] = options["json"] / f"{target}.json"
        try:
            if _resolve(spec) is None:
                missing.append(target)
                print(f"{label}: not built yet, skipped", file=sys.stderr)
                continue
            print(f"== {label} ==", flush=True)
            code = _call(label, spec, per_target)
        except Exception:  # keep going: one broken target should not hide the others' results
            traceback.print_exc()
            code = 1
        (ran if code == 0 else failed).append(target)
    print(f"reproduce all: {len(ran)} ran, {len(failed)} failed"
          + (f" ({', '.join(failed)})" if failed else "")
          + f", {len(missing)} not built yet"
          + (f" ({', '.join(missing)})" if missing else ""),
          file=sys.stderr)
    return 0 if ran and not failed else 1


def _trial(args: argparse.Namespace) -> int:
    return _call("trial", TRIAL, _given(args, ("extension", "faults", "mode", "seed")))


def _grade(args: argparse.Namespace) -> int:
    return _call("grade", GRADE, _given(args, ("submission", "json", "batch", "csv", "workers",
                                                "unsafe_no_sandbox", "gradescope_bundle", "notebook")))


def find_notebooks() -> Path | None:
    """The lesson folder of the checkout or installation the lab copies from (None if none)."""
    from .lab import find_source
    source = find_source()
    return None if source is None else source / "notebooks"


def _lab(args: argparse.Namespace) -> int:
    from .lab import main as lab_main
    return lab_main(workspace=args.workspace, port=args.port, no_browser=args.no_browser)


_COMMANDS = {"reproduce": _reproduce, "trial": _trial, "grade": _grade, "lab": _lab}


if __name__ == "__main__":  # python -m nookslab.cli
    raise SystemExit(main())
