"""Checks of notebook 06 (recovery): the recovery agent's restart-or-disable policy.

The exercise's policy: an explicit trigger (a user or program asked for the recovery: not a
failure of the driver) always restarts; otherwise a driver is restarted while it was restarted
fewer times within the agent's interval than its limit (``RESTART_LIMITS.get(extension,
MAX_RESTARTS)``), and disabled after that. The direct checks try it on the causes the kernel
really reports; the live checks give the null driver a bug that comes back with every reload
(:func:`recurring_bug`), so only the policy stops the restarts.
"""
from __future__ import annotations

import numpy as np

from ..drivers import EXTENSIONS
from ..faults.types import CustomFault
from ..graded import own
from ..system import boot
from .cases import Agreement, Case, agree, graded_part
from .live import WILD_STORE, driver_state, errno_names

EXPLICIT = "explicit trigger"
#: Causes as the kernel words them (the addresses vary from case to case).
_CAUSES = ("unable to handle kernel paging request at {addr:#010x} (write, domain {ext})",
           "unable to handle kernel paging request at {addr:#010x} (read, domain {ext})",
           "unable to handle kernel NULL pointer dereference at {small:#010x}",
           "copy_from_user: to={addr:#010x}+{n} is not memory the extension may write",
           "copy_to_user: src length {n} runs past the end of its dma buffer",
           "no progress in {ext}_interrupt after {n} steps with interrupts on")


def _reference_policy(extension: str, restarts: int, cause: str, max_restarts: int,
                      limits: dict) -> str:
    own("policy")
    if cause == EXPLICIT:
        return "restart"
    return "restart" if restarts < limits.get(extension, max_restarts) else "disable"


def _cause(rng, extension: str) -> str:
    text = _CAUSES[int(rng.integers(0, len(_CAUSES)))]
    return text.format(addr=int(rng.integers(0x1000, 1 << 32)), small=int(rng.integers(0, 64)),
                       n=int(rng.integers(1, 4096)), ext=extension)


def _extensions(limits: dict) -> list[str]:
    return sorted(set(EXTENSIONS) | set(limits))


def _case(extension, restarts, cause, max_restarts, limits, about="") -> Case:
    shown = cause if len(cause) <= 48 else cause[:45] + "..."
    return Case(f"policy({extension!r}, {restarts}, {shown!r})", (extension, restarts, cause),
                _reference_policy(extension, restarts, cause, max_restarts, limits), about)


def policy_limits(hooks, max_restarts: int, limits: dict, seed: int = 0) -> Agreement:
    """Failures (never an explicit trigger) of every driver at restarts around its limit:
    ``limits.get(extension, max_restarts)`` (the notebook's RESTART_LIMITS and MAX_RESTARTS)."""
    fn = graded_part(hooks, "policy")
    rng = np.random.default_rng(seed)
    cases = []
    for ext in _extensions(limits):
        limit = limits.get(ext, max_restarts)
        about = f"limit {limit}" + (" from RESTART_LIMITS" if ext in limits else "")
        for restarts in sorted({0, max(limit - 1, 0), limit, limit + 1,
                                int(rng.integers(0, limit + 4))}):
            cases.append(_case(ext, restarts, _cause(rng, ext), max_restarts, limits, about))
    shown = ", ".join(f"{k}: {v}" for k, v in sorted(limits.items()))
    return agree("restart limits", fn, cases,
                 setting=f"MAX_RESTARTS {max_restarts}, RESTART_LIMITS {{{shown}}}")


def policy_causes(hooks, max_restarts: int, limits: dict, seed: int = 0,
                  count: int = 40) -> Agreement:
    """Random drivers, restart counts and causes, a third of them explicit triggers (which
    restart whatever the count)."""
    fn = graded_part(hooks, "policy")
    rng = np.random.default_rng(seed)
    exts = _extensions(limits)
    cases = []
    for i in range(count):
        ext = exts[int(rng.integers(0, len(exts)))]
        restarts = int(rng.integers(0, limits.get(ext, max_restarts) + 5))
        explicit = i % 3 == 0
        cause = EXPLICIT if explicit else _cause(rng, ext)
        cases.append(_case(ext, restarts, cause, max_restarts, limits,
                           "an explicit trigger" if explicit else "a failure"))
    return agree("causes and restart counts", fn, cases)


# -- the live system ------------------------------------------------------------------------------
def recurring_bug(hooks=None, seed: int = 0, interval: float | None = None):
    """A kernel under Nooks with the null driver loaded with a bug that comes back with every
    reload: :data:`~nookslab.exercises.live.WILD_STORE` (a store into a kernel object on its
    first write), also in the agent's reload options, as a deterministic bug in the driver's
    binary would be. ``interval``: the agent's interval in simulated seconds (default 10)."""
    k = boot("nooks", seed=seed, hooks=hooks)
    bug = [CustomFault(WILD_STORE, "null_write")]
    agent = k.isolation.recovery.agent
    agent.reload_options["null"] = {"faults": bug}
    if interval is not None:
        agent.interval = interval
    k.load("null", faults=bug)
    return k


def next_failure(kernel, name: str = "null", workload: str = "null-io") -> str:
    """Run the driver's workload until it fails (or 1 ms passes); what the agent decided, in
    one line: the workload's result, the recovery's cause, policy and the driver's state."""
    before = len(kernel.recoveries)
    if driver_state(kernel, name) != "live":
        r = kernel.run(workload, seconds=0.001)
        return f"no live driver ({driver_state(kernel, name)}); {_run(kernel, r)}"
    r = kernel.run(workload, seconds=0.001)
    recs = kernel.recoveries[before:]
    if not recs:
        return f"no failure; {_run(kernel, r)}"
    rec = recs[-1]
    cause = rec.cause.split(" at ")[0]
    return (f"{_run(kernel, r)} -> recovered ({cause}): policy {rec.policy}, driver "
            f"{driver_state(kernel, name)}")


def explicit_recovery(kernel, name: str = "null") -> str:
    """An explicit trigger (``kernel.isolation.recover``): the policy and the driver's state."""
    rec = kernel.isolation.recover(name)
    return f"explicit recovery: policy {rec.policy}, driver {driver_state(kernel, name)}"


def _run(kernel, result) -> str:
    return f"{result.workload} " + ("ok" if result.ok else
                                    f"FAILED ({errno_names(result.failure)})")


__all__ = ["EXPLICIT", "explicit_recovery", "next_failure", "policy_causes", "policy_limits",
           "recurring_bug"]
