"""``nookslab trial``: tell the story of one fault-injection trial, step by step.

Where each fault landed (function, line, the source line before and after the injector's edit),
what the trial did (which faults ran, the oops or event that caught the failure, the kernel's
verdict), what recovery did, and whether the workload worked again afterwards.
"""
from __future__ import annotations

import ast
import sys

from ..kernel.module import parse
from .types import ALL_TYPES, FAULT_DOCS, MANUAL_DOCS, Fault

_SHOWN_EVENTS = ("fault", "oops", "panic", "hang", "recovery", "warning")


def before_after(fault: Fault, source: str) -> tuple[str, str]:
    """The source line a fault hits, and the same statement after the injector's edit."""
    if not fault.function:
        return "", ""
    lines = source.splitlines()
    before = lines[fault.line - 1].strip() if 0 < fault.line <= len(lines) else ""
    tree = ast.fix_missing_locations(fault.rewrite(parse(source)))
    if fault.type in ("INTERFACE", "INIT"):      # the edit includes a line at function entry
        fn = next((n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)
                   and n.name == fault.function), None)
        entry = ast.unparse(fn.body[0]) if fn is not None else ""
        if fault.type == "INTERFACE":
            return f"def {fault.function}(...):", f"def {fault.function}(...): {entry}"
    stmts = [n for n in ast.walk(tree) if isinstance(n, ast.stmt)
             and getattr(n, "lineno", None) == fault.line
             and not isinstance(n, (ast.FunctionDef, ast.If, ast.While, ast.For))]
    after = ast.unparse(stmts[0]) if stmts else ""
    if not after:   # a test of an if/while: show its header
        heads = [n for n in ast.walk(tree) if isinstance(n, (ast.If, ast.While))
                 and getattr(n, "lineno", None) == fault.line]
        after = (("while " if isinstance(heads[0], ast.While) else "if ")
                 + ast.unparse(heads[0].test) + ":") if heads else ""
    if fault.type == "INIT":
        after = f"{entry}  ...  {after}"
    return before, after


def tell(extension: str, faults: tuple[Fault, ...], mode: str, seed: int, out=None) -> int:
    """Run the trial and print its story to ``out`` (stdout); return 0."""
    from ..drivers import REGISTRY
    from ..kernel.module import driver_source
    from .describe import describe
    from .trial import execute
    out = out or sys.stdout
    source = driver_source(REGISTRY[extension].source)
    print(f"Trial: {len(faults)} fault(s) in {extension}, {mode} configuration, seed {seed}",
          file=out)
    for number, fault in enumerate(faults, 1):
        c_fault, ours = (FAULT_DOCS | MANUAL_DOCS)[fault.type]
        print(f"\n[{number}] {fault}", file=out)
        print(f"    stands for: {c_fault}", file=out)
        print(f"    here:       {ours}", file=out)
        change = describe(fault, source)          # the edit as plain code, not hook names
        if change.before or change.after:
            print(f"    {fault.function}, line {fault.line}: {change.what}", file=out)
            print(f"      before: {change.before}", file=out)
            print(f"      after:  {change.after}", file=out)
        else:
            print(f"    lands {fault.count} us after load, in one of the driver's own live "
                  "allocations", file=out)
    result, kernel = execute(extension, mode, seed, tuple(faults))
    print(f"\nWorkload {result.workload or '?'}:", file=out)
    if kernel is not None:
        shown = [e for e in kernel.events if e.kind in _SHOWN_EVENTS]
        for event in shown:
            print(f"  t={event.time / kernel.clock.hz * 1e3:9.3f} ms  {event.kind:<9} "
                  f"{event.subject:<8} {event.detail}", file=out)
        if not shown:
            print("  (no fault ran, nothing was caught)", file=out)
    print(f"  first run: {'ok' if result.first_failure is None else result.first_failure}",
          file=out)
    print(f"\nOutcome: {result.outcome}" + (f": {result.cause}" if result.cause else ""), file=out)
    print(f"  faults that ran: {result.activated} of {len(faults)}", file=out)
    if mode != "native":
        print(f"  recovery: {'started' if result.detected else 'not started'}"
              + (f", {'succeeded' if result.recovered else 'failed'}" if result.detected else ""),
              file=out)
        if kernel is not None:
            for record in kernel.recoveries:
                print(f"    {record}", file=out)
    if result.verdict is None:
        resumed = result.followup_failure is None
        print(f"  workload afterwards: {'works' if resumed else 'fails: ' + str(result.followup_failure)}",
              file=out)
    if result.sweep:
        print(f"  integrity sweep (a diagnostic, not the verdict): {len(result.sweep)} "
              f"problem(s) no kernel code had met yet", file=out)
        for line in result.sweep[:3]:
            print(f"    {line}", file=out)
    if result.error:
        print(f"  (simulator error: {result.error})", file=out)
    return 0


def main(extension: str, faults, mode: str = "nooks", seed: int = 0) -> int:
    """The ``nookslab trial`` command: one fault of each named type, placed at random by ``seed``."""
    from ..errors import choose
    from ..system import available_modes
    from .injector import generate
    from .trial import check_extension, fault_rng
    try:
        check_extension(extension)
        choose(mode, available_modes(), "mode")
        kinds = [choose(str(k).upper(), ALL_TYPES, "fault type") for k in faults]
    except ValueError as exc:
        print(f"trial: {exc}", file=sys.stderr)
        return 2
    rng = fault_rng(extension, seed)
    chosen = []
    for kind in kinds:
        try:
            chosen.extend(generate(extension, 1, rng, types=(kind,)))
        except ValueError:
            print(f"trial: {extension} has no site for a {kind} fault", file=sys.stderr)
            return 2
    return tell(extension, tuple(chosen), mode, seed)
