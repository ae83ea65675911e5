"""The manual-bug experiment and the VFAT recovery-error experiment (SOSP'03 sections 5.1, 5.3).

Manual bugs are specific :class:`~nookslab.faults.Fault` values placed on specific sites of a
driver, found in its source by pattern: a NULL check removed after an allocation that fails, a
local left uninitialised, a kmalloc'd struct left unzeroed, a user pointer dereferenced directly,
a block freed twice. Each runs natively and under Nooks; the paper reports all detected and
recovered under Nooks. Nothing here decides an outcome: the runs do.
"""
from __future__ import annotations

import ast

from ..faults.injector import ALLOCATORS, FREES, Site, sites
from ..faults.types import Fault
from ..kernel.module import driver_source

_SETUP = ("init_module", "cleanup_module")


def _fault(kind: str, site: Site, **params) -> Fault:
    return Fault(kind, site.function, site.line, site.col, site.end_line, site.end_col, site.node,
                 **params)


def _null_check(source: str) -> tuple[Fault, ...]:
    """An allocation made to fail, and the ``if not x`` that checks it removed."""
    tree = ast.parse(source)
    for fn in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
        allocated: dict[str, ast.Call] = {}
        for node in ast.walk(fn):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                    and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.Call) \
                    and isinstance(node.value.func, ast.Name) and node.value.func.id in ALLOCATORS:
                allocated.setdefault(node.targets[0].id, node.value)
        for node in ast.walk(fn):
            test = getattr(node, "test", None)
            if isinstance(node, ast.If) and isinstance(test, ast.UnaryOp) \
                    and isinstance(test.op, ast.Not) and isinstance(test.operand, ast.Name) \
                    and test.operand.id in allocated:
                call = allocated[test.operand.id]
                return (_fault("ALLOC", Site.of(fn.name, call), count=1),
                        _fault("BRANCH", Site.of(fn.name, test), bit=1))
    return ()


def _unzeroed_heap(source: str) -> tuple[Fault, ...]:
    """The memset that clears a freshly kmalloc'd struct, removed: it keeps the slab poison."""
    tree = ast.parse(source)
    for fn in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
        for node in ast.walk(fn):
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) \
                    and isinstance(node.value.func, ast.Name) and node.value.func.id == "memset":
                return (_fault("NOP", Site.of(fn.name, node)),)
    return ()


def manual_bugs(extension: str) -> dict[str, tuple[Fault, ...]]:
    """The five manual bugs placed in ``extension``'s source (empty where it has no such site)."""
    from ..drivers import REGISTRY
    source = driver_source(REGISTRY[extension].source)
    found = sites(extension)

    def first(kind, keep=lambda s: True):
        choices = [s for s in found[kind] if s.function not in _SETUP and keep(s)] \
            or [s for s in found[kind] if keep(s)]
        return choices[0] if choices else None

    init = first("INIT")
    user = first("USERPTR")
    lines = source.splitlines()
    free = first("FREE", lambda s: any(f + "(" in lines[s.line - 1] for f in FREES))
    return {
        "removed NULL check": _null_check(source),
        "uninitialised stack variable": (_fault("INIT", init),) if init else (),
        "uninitialised heap variable": _unzeroed_heap(source),
        "user-level pointer dereference": (_fault("USERPTR", user),) if user else (),
        "double free": (_fault("FREE", free, count=1),) if free else (),
    }


def run_manual(extension: str, bug: str, faults: tuple[Fault, ...], seed: int = 0) -> dict:
    """Run one manual bug natively and under Nooks (workload, then rmmod); what each saw."""
    from ..faults.trial import execute
    row = dict(extension=extension, bug=bug, faults=[str(f) for f in faults])
    for mode in ("native", "nooks"):
        result, kernel = execute(extension, mode, seed, faults)
        outcome = result.outcome
        if kernel is not None and kernel.verdict is None and extension in kernel.modules:
            try:
                kernel.unload(extension)             # cleanup paths run the frees
            except Exception as exc:                 # noqa: BLE001 - reported, never raised
                outcome += f" (rmmod: {type(exc).__name__})"
            if kernel.verdict is not None:
                outcome = f"crash at rmmod ({kernel.verdict})"
        if mode == "nooks" and kernel is not None:
            row["detected"] = bool(kernel.recoveries)
            row["recovered"] = any(getattr(r, "ok", False) for r in kernel.recoveries)
        row[mode] = outcome
        row[f"{mode}_cause"] = result.cause
    return row


def vfat_available() -> str:
    """Empty if the VFAT experiment can run, else why not."""
    from ..drivers import REGISTRY
    from ..kernel import available_modes, boot
    if "vfat" not in REGISTRY:
        return "the vfat driver is not built"
    if "nooks" not in available_modes():
        return "the nooks configuration is not built"
    kernel = boot(mode="nooks", seed=0)
    if not hasattr(kernel.isolation, "sync_before_release"):
        return "the recovery manager has no sync_before_release policy switch"
    return ""


def vfat_recovery_errors(trials: int, seed: int, sync: bool) -> tuple[int, int]:
    """(recoveries, recoveries after which fsck finds errors) over ``trials`` VFAT trials."""
    import zlib

    import numpy as np

    from ..faults.trial import execute, trial_faults
    from ..tools.fsck_vfat import fsck_vfat

    def policy(kernel):
        kernel.isolation.sync_before_release = sync

    recoveries = damaged = 0
    for index in range(trials):
        ss = np.random.SeedSequence([seed, zlib.crc32(b"vfat"), index])
        trial_seed = int(ss.generate_state(1)[0])
        result, kernel = execute("vfat", "nooks", trial_seed, trial_faults("vfat", trial_seed),
                                 setup=policy)
        if not result.recovered or kernel is None:
            continue
        recoveries += 1
        disks = [d for _, d in sorted(kernel.machine.devices.items()) if hasattr(d, "image")]
        if disks and fsck_vfat(disks[0].image()):
            damaged += 1
    return recoveries, damaged
