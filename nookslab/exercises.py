"""Running the live simulation with a student's piece of Nooks plugged in (the graded notebooks).

Student code enters only through explicit parameters (STYLE.md, "Notebooks"): a
:class:`~nookslab.nooks.hooks.NooksHooks` given to :func:`nookslab.boot`, a
:class:`~nookslab.faults.types.FaultType` given to a trial, a ``tlb_term`` given to a
:class:`~nookslab.machine.costs.CostModel`. Nothing here patches the package, and nothing here
knows the answers: each helper runs the simulation with the student's piece in place and returns
what happened as one stable line of text (the grader compares it with the solution's, under nbval).
A wrong piece shows as a different line: a crash, a failed workload, a different count.
"""
from __future__ import annotations

from .faults.trial import execute, trial_faults
from .kernel import boot
from .nooks.hooks import NooksHooks


def null_domain(seed: int = 0, hooks: NooksHooks | None = None):
    """A kernel booted under Nooks (with ``hooks``) and the null driver loaded; its domain."""
    k = boot("nooks", seed=seed, hooks=hooks)
    k.load("null")
    return k, k.isolation.domains.get("null")


def run_trial_with(extension: str, seed: int, hooks: NooksHooks | None = None,
                   mode: str = "nooks", faults=None, faults_per_trial: int = 1):
    """One fault-injection trial with ``hooks`` plugged into Nooks; returns its TrialResult.

    The faults are the campaign's for (extension, seed) unless ``faults`` are given (for example
    ``[fault_type.fault()]`` for a new fault type).
    """
    if faults is None:
        faults = trial_faults(extension, seed, faults_per_trial)

    def setup(kernel):
        if hooks is not None and kernel.isolation is not None:
            kernel.isolation.hooks = hooks        # before the load: domains and wrappers see it
    return execute(extension, mode, seed, tuple(faults), setup=setup)[0]


def trial_line(result) -> str:
    """A trial in one stable line: its faults, its outcome, what Nooks did."""
    faults = ", ".join(f"{f.type} in {f.function}" if f.function else f.type
                       for f in result.faults)
    line = f"{result.extension} seed {result.seed} [{faults}] {result.mode}: {result.outcome}"
    if result.mode != "native":
        line += (f", detected {'yes' if result.detected else 'no'}"
                 f", recovered {'yes' if result.recovered else 'no'}")
    line += f", activated {result.activated}"
    if result.outcome != "none" and result.cause:
        line += f" ({_short(result.cause)})"
    return line


def workload_line(kernel, result) -> str:
    """A workload's result in one stable line, with the crossings it made under Nooks."""
    line = f"{result.workload} on {result.extension}: " + ("ok" if result.ok else
                                                            f"FAILED ({_short(result.failure)})")
    line += f", {result.operations} operations"
    if kernel.isolation is not None:
        x = kernel.isolation.xpc
        line += f", {x.count} XPCs in {x.batches} deferred batches"
    if kernel.verdict is not None:
        line += f", kernel {kernel.verdict.kind}"
    return line


def _short(text, width: int = 70) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width - 3] + "..."


__all__ = ["null_domain", "run_trial_with", "trial_line", "workload_line"]


def recovery_lines(record) -> list[str]:
    """A recovery in stable lines: what it released, in order, and what it kept for the device
    (routine names and object types, no addresses)."""
    if record is None:
        return ["no recovery"]
    released = [s.rsplit(" via ", 1)[1] if " via " in s else s.split()[0] + " (forgotten)"
                for s in record.released]
    kept = [s.split()[0] for s in record.kept]
    return [f"recovery of {record.extension}: policy {record.policy}, "
            f"{'ok' if record.ok else 'FAILED'}, {len(record.errors)} error(s)",
            "released in order: " + (", ".join(released) or "nothing"),
            "kept for the device: " + (", ".join(kept) or "nothing")]


__all__ += ["recovery_lines"]
