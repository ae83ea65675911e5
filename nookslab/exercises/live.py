"""Running the live simulation with a student's piece of Nooks plugged in (the graded notebooks).

Student code enters only through explicit parameters (never by patching the package): a
:class:`~nookslab.nooks.hooks.NooksHooks` given to :func:`nookslab.boot`, a
:class:`~nookslab.faults.types.FaultType` given to a trial, a ``tlb_term`` given to a
:class:`~nookslab.machine.costs.CostModel`; the check cells build them in grading mode
(:mod:`nookslab.graded`). Nothing here patches the package, and nothing here knows the answers:
each helper runs the simulation with the student's piece in place and returns what happened as
stable lines of text (the grader compares them with the solution's, under nbval). A wrong piece
shows as a different line: a crash, a failed workload, a different count.

The checks replay two explicit faults of the null driver (:data:`WILD_STORE`, :data:`BAD_COPY`)
rather than random faults picked by a trial seed: what a seed's random fault does changes whenever
the fault model or the driver does, while these two always aim at a kernel page, one through the
MMU (a store the domain's page table must refuse) and one through a wrapper (a copy the write
check must refuse). Natively both corrupt kernel memory and nothing stops them: the stray store
is met later by the slab allocator's red-zone check (a failed BUG() that kills the program, as
Linux 2.4 does in process context), the copy hands the program wrong results. Under Nooks both are
caught at once and the driver recovered.
"""
from __future__ import annotations

import re
import sys
from collections import Counter

from ..faults.trial import execute, trial_faults
from ..faults.types import CustomFault, FaultType
from ..graded import own
from ..kernel.errno import NAMES as ERRNO_NAMES
from ..nooks.hooks import NooksHooks
from ..system import boot


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
    """A workload's result in one stable line, with the crossings it made under Nooks (error
    numbers carry their names: ``-19 ENODEV``)."""
    line = f"{result.workload} on {result.extension}: " + (
        "ok" if result.ok else f"FAILED ({_short(errno_names(result.failure))})")
    line += f", {result.operations} operations"
    if kernel.isolation is not None:
        x = kernel.isolation.xpc
        line += f", {x.count} XPCs in {x.batches} deferred batches"
    if kernel.verdict is not None:
        line += f", kernel {kernel.verdict.kind}"
    return line


_ERRNO = re.compile(r"(?<![\w.])-(\d+)\b(?! [A-Z]{2,})")


def errno_names(text) -> str:
    """``text`` with each negative error number followed by its name (``-19`` -> ``-19 ENODEV``)."""
    return _ERRNO.sub(lambda m: m.group(0) + (f" {ERRNO_NAMES[int(m.group(1))]}"
                                              if int(m.group(1)) in ERRNO_NAMES else ""), str(text))


def driver_state(kernel, name: str) -> str:
    """``live``, ``disabled`` (recovery left it unloaded by policy), ``failed`` (its init or a
    recovery failed), ``unloaded`` or ``not loaded``: one word for a driver's state."""
    module = kernel.modules.get(name)
    if module is None:
        return "not loaded"
    return module.state


def deferred_crossings(kernel) -> str:
    """The deferred-call crossings a kernel made, by batch size in numeric order:
    ``x1 (4 times), x3 (once), ...``."""
    sizes = Counter(int(e.detail.rsplit("x", 1)[1]) for e in kernel.events
                    if e.kind == "xpc" and "deferred x" in e.detail)
    return ", ".join(f"x{n} ({'once' if c == 1 else f'{c} times'})"
                     for n, c in sorted(sizes.items())) or "none"


def _short(text, width: int = 70) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width - 3] + "..."


__all__ = ["deferred_crossings", "driver_state", "errno_names", "null_domain", "run_trial_with",
           "trial_line", "workload_line"]


# -- explicit faults for the checks -------------------------------------------------------------
def _device_file(kernel, name: str = "null0") -> int:
    """The kernel's ``struct file`` for ``/dev/<name>`` opened by the current process (0 if none):
    a kernel heap object the driver's domain may read but never write."""
    proc = kernel.current
    if proc is None:
        return 0
    majors = {d.major for d in kernel.subsystems["chrdev"].devices.values() if d.name == name}
    return next((f for major, f in proc.files.values() if major in majors), 0)


def _arm_wild_store(kernel, module, hit):
    own("fault")
    ns = module.namespace
    real_copy, real_st32 = ns["copy_from_user"], ns["st32"]
    state = {"armed": False, "fired": False}

    def copy_from_user(to, from_user, n):
        state["armed"] = not state["fired"]
        return real_copy(to, from_user, n)

    def st32(addr, value):
        if state["armed"] and sys._getframe(1).f_code.co_name == "null_write":
            state["armed"] = False
            target = _device_file(kernel)
            if target:
                state["fired"] = True
                hit()
                return real_st32(target - 4, value)   # the slab red zone before struct file
        return real_st32(addr, value)

    ns["copy_from_user"], ns["st32"] = copy_from_user, st32


def _arm_bad_copy(kernel, module, hit):
    own("fault")
    ns = module.namespace
    real_copy = ns["copy_from_user"]
    state = {"fired": False}

    def copy_from_user(to, from_user, n):
        if not state["fired"]:
            target = _device_file(kernel)
            if target:
                state["fired"] = True
                hit()
                return real_copy(target, from_user, n)  # the user's bytes over struct file
        return real_copy(to, from_user, n)

    ns["copy_from_user"] = copy_from_user


#: A corrupted address computation aimed at a kernel page (a PTR fault made explicit): the first
#: store ``null_write`` makes after its user copy (``p->done = 0``) lands instead 4 bytes before
#: the kernel's ``struct file`` for the open ``/dev/null0``, in that object's slab red zone. It
#: goes through the MMU only: natively the kernel finds its heap corrupt when it frees the file
#: (a crash); under Nooks the domain's page table must make the store fault.
WILD_STORE = FaultType("WILD_STORE", _arm_wild_store,
                       "null_write's first store after its user copy lands in the red zone "
                       "before the kernel's struct file for /dev/null0")

#: A copy into a kernel object (a wrong destination, as a DST fault on an argument): the first
#: ``copy_from_user`` of ``null_write`` copies the user's block over the kernel's ``struct file``
#: for the open ``/dev/null0`` (and the kernel heap after it) instead of into the DMA buffer. The
#: kernel does the copy, so no page table stops it: natively the kernel's object is silently
#: overwritten and the program gets wrong results; under Nooks the copy_from_user wrapper's buffer check (``domain.can_write``) must
#: refuse it.
BAD_COPY = FaultType("BAD_COPY", _arm_bad_copy,
                     "null_write's copy_from_user writes over the kernel's struct file for "
                     "/dev/null0 instead of the DMA buffer")


def wild_store(hooks: NooksHooks | None = None, mode: str = "nooks", seed: int = 0):
    """A trial of the null driver with the :data:`WILD_STORE` fault, ``hooks`` plugged in."""
    return run_trial_with("null", seed, hooks, mode=mode,
                          faults=[CustomFault(WILD_STORE, "null_write")])


def bad_copy(hooks: NooksHooks | None = None, mode: str = "nooks", seed: int = 0):
    """A trial of the null driver with the :data:`BAD_COPY` fault, ``hooks`` plugged in."""
    return run_trial_with("null", seed, hooks, mode=mode,
                          faults=[CustomFault(BAD_COPY, "null_write")])


__all__ += ["BAD_COPY", "WILD_STORE", "bad_copy", "wild_store"]


def recovery_lines(record) -> list[str]:
    """A recovery in stable lines (object types and release routines, no addresses): what it
    released at once, in order, and what it kept for the device until the reload, then released
    (each as ``type (routine)``, or ``type (forgotten)`` when only the tracker forgets it)."""
    if record is None:
        return ["no recovery"]
    kept = list(record.kept)

    def shown(entry: str) -> str:
        what = entry.split()[0]
        return f"{what} ({entry.rsplit(' via ', 1)[1]})" if " via " in entry else \
            f"{what} (forgotten)"
    later = [e for e in record.released if any(e.startswith(k + " ") for k in kept)]
    now = [e for e in record.released if e not in later]
    return [f"recovery of {record.extension}: policy {record.policy}, "
            f"{'ok' if record.ok else 'FAILED'}, {len(record.errors)} error(s)",
            "released at once, in order: " + (", ".join(map(shown, now)) or "nothing"),
            "kept for the device until the reload: " + (", ".join(k.split()[0] for k in kept)
                                                         or "nothing"),
            "then released: " + (", ".join(map(shown, later)) or "nothing")]


__all__ += ["recovery_lines"]
