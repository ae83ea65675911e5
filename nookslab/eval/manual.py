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


def _null_checks(source: str) -> list[tuple[Fault, ...]]:
    """Every (allocation made to fail, the ``if not x`` that checks it removed) pair."""
    tree = ast.parse(source)
    out = []
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
                out.append((_fault("ALLOC", Site.of(fn.name, call), count=1),
                            _fault("BRANCH", Site.of(fn.name, test), bit=1)))
    return out


def _unzeroed_heaps(source: str) -> list[tuple[Fault, ...]]:
    """The memset that clears a freshly kmalloc'd struct, removed: it keeps the slab poison."""
    tree = ast.parse(source)
    out = []
    for fn in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
        for node in ast.walk(fn):
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) \
                    and isinstance(node.value.func, ast.Name) and node.value.func.id == "memset":
                out.append((_fault("NOP", Site.of(fn.name, node)),))
    return out


def _with_rmmod(extension: str, mode: str, seed: int, faults: tuple[Fault, ...]):
    """Run the trial, then ``rmmod`` the extension (cleanup paths run the frees); return
    (the trial's result, the kernel, the outcome string including any failure at rmmod)."""
    from ..faults.trial import execute
    result, kernel = execute(extension, mode, seed, faults)
    outcome = result.outcome
    if kernel is not None and kernel.verdict is None and extension in kernel.modules:
        module = None
        try:
            module = kernel.unload(extension)
        except Exception as exc:                     # noqa: BLE001 - reported, never raised
            outcome += f" (rmmod: {type(exc).__name__})"
        if kernel.verdict is not None:
            outcome = f"crash at rmmod ({kernel.verdict})"
        elif module is not None and module.error and "killed by oops" in module.error:
            outcome = f"oops at rmmod ({module.error})"   # rmmod died; the system runs on
    return result, kernel, outcome


def _probe(extension: str, faults: tuple[Fault, ...], seed: int) -> tuple[bool, int]:
    """(every one of ``faults`` ran, how native Linux suffered: 2 an oops or crash, 1 another
    failure, 0 none) in a native probe run."""
    result, kernel, outcome = _with_rmmod(extension, "native", seed, faults)
    if kernel is None:
        return False, 0
    ran = {e.detail.split(" activated")[0] for e in kernel.events
           if e.kind == "fault" and "activated" in e.detail}
    oopsed = kernel.verdict is not None or any(e.kind == "oops" for e in kernel.events)
    return all(str(f) in ran for f in faults), 2 if oopsed else int(outcome != "none")


def manual_bugs(extension: str, seed: int = 0) -> dict[str, tuple[Fault, ...]]:
    """The five manual bugs placed in ``extension``'s source (empty where it has no such site).

    Like the paper's bugs (taken from the Linux Kernel Mailing List and Chou et al., i.e. bugs
    that were seen to oops), each sits on code the workload or rmmod runs and does harm on
    native Linux: of a kind's candidate sites (in source order, the driver's setup functions
    last) the first whose bug runs and oopses in a *native* probe (workload, then rmmod) is
    taken; failing that, the first that makes it fail otherwise; then the first that runs;
    then the first. The nooks configuration never takes part in the choice: whether Nooks
    detects and recovers the bug is the experiment."""
    from ..drivers import REGISTRY
    source = driver_source(REGISTRY[extension].source)
    found = sites(extension)
    lines = source.splitlines()

    def ordered(kind, keep=lambda s: True):
        chosen = [s for s in found[kind] if keep(s)]
        return [s for s in chosen if s.function not in _SETUP] + \
            [s for s in chosen if s.function in _SETUP]

    def first_live(candidates):
        candidates = list(candidates)
        best, best_rank = (candidates[0] if candidates else ()), -1
        for faults in candidates:
            ran, harm = _probe(extension, faults, seed)
            rank = harm if ran else -1
            if rank == 2:
                return faults
            if rank > best_rank:
                best, best_rank = faults, rank
        return best

    return {
        "removed NULL check": first_live(_null_checks(source)),
        "uninitialised stack variable": first_live((_fault("INIT", s),) for s in ordered("INIT")),
        "uninitialised heap variable": first_live(_unzeroed_heaps(source)),
        "user-level pointer dereference": first_live((_fault("USERPTR", s),)
                                                     for s in ordered("USERPTR")),
        "double free": first_live((_fault("FREE", s, count=1),) for s in ordered(
            "FREE", lambda s: any(f + "(" in lines[s.line - 1] for f in FREES))),
    }


def run_manual(extension: str, bug: str, faults: tuple[Fault, ...], seed: int = 0) -> dict:
    """Run one manual bug natively and under Nooks (workload, then rmmod); what each saw."""
    row = dict(extension=extension, bug=bug, faults=[str(f) for f in faults])
    for mode in ("native", "nooks"):
        result, kernel, outcome = _with_rmmod(extension, mode, seed, faults)
        if mode == "nooks" and kernel is not None:
            row["detected"] = bool(kernel.recoveries)
            row["recovered"] = any(getattr(r, "ok", False) for r in kernel.recoveries)
        row[mode] = outcome
        row[f"{mode}_cause"] = result.cause
    return row


def vfat_available() -> str:
    """Empty if the VFAT experiment can run, else why not."""
    from ..drivers import REGISTRY
    from ..system import available_modes, boot
    if "vfat" not in REGISTRY:
        return "the vfat driver is not built"
    if "nooks" not in available_modes():
        return "the nooks configuration is not built"
    kernel = boot(mode="nooks", seed=0)
    if not hasattr(kernel.isolation, "sync_before_release"):
        return "the recovery manager has no sync_before_release policy switch"
    return ""


def vfat_recovery_damage(trials: int, seed: int, sync: bool, progress: bool = False) -> dict:
    """What VFAT recoveries leave on the disk, over ``trials`` VFAT trials under Nooks.

    The disk is judged at the moment recovery releases the failed file system (its mount is
    dropped then; later work, such as the trial's follow-up run, which mkfs-es the disk
    again, must not hide what recovery left). The paper counted "lost or corrupt files or
    directories" (SOSP'03 section 5.3), so a recovery damages the disk when fsck finds errors
    on it, *or* when updates the file system had accepted (dirty buffers) were dropped instead
    of written: files and directories the workload created are then missing from the disk.

    Returns ``recoveries``, ``damaged`` (either), ``fsck_errors`` and ``lost_updates`` counts.
    ``progress``: show a progress bar (tqdm) over the trials.
    """
    import zlib

    import numpy as np

    from ..faults.trial import execute, trial_faults
    from ..tools.fsck_vfat import fsck_vfat

    seen: dict = {}

    def policy(kernel):
        kernel.isolation.sync_before_release = sync
        vfs, block = kernel.subsystems["vfs"], kernel.subsystems["block"]
        forget = vfs.forget_fs_of

        def judged_forget(owner):                 # recovery's release of the file system
            devs = [m.dev for m in vfs.mounts_of(owner)]
            dropped = sum(block.dirty_count(d) for d in devs)
            forget(owner)
            disks = [d for _, d in sorted(kernel.machine.devices.items())
                     if hasattr(d, "image")]
            if devs and disks and "image" not in seen:
                seen["image"] = bytes(disks[0].image())
                seen["dropped"] = dropped

        vfs.forget_fs_of = judged_forget          # instance attribute: this kernel only

    counts = dict(recoveries=0, damaged=0, fsck_errors=0, lost_updates=0)
    indices = range(trials)
    if progress:
        from tqdm.auto import tqdm
        indices = tqdm(indices, desc=f"vfat trials ({'with' if sync else 'without'} sync)",
                       unit="trial")
    for index in indices:
        ss = np.random.SeedSequence([seed, zlib.crc32(b"vfat"), index])
        trial_seed = int(ss.generate_state(1)[0])
        seen.clear()
        result, kernel = execute("vfat", "nooks", trial_seed, trial_faults("vfat", trial_seed),
                                 setup=policy)
        if not result.recovered or kernel is None or "image" not in seen:
            continue
        counts["recoveries"] += 1
        errors = bool(fsck_vfat(seen["image"]))
        lost = seen["dropped"] > 0
        counts["fsck_errors"] += errors
        counts["lost_updates"] += lost
        counts["damaged"] += errors or lost
    return counts


def vfat_recovery_errors(trials: int, seed: int, sync: bool) -> tuple[int, int]:
    """(recoveries, recoveries that left lost or corrupt files on disk): see
    :func:`vfat_recovery_damage`."""
    counts = vfat_recovery_damage(trials, seed, sync)
    return counts["recoveries"], counts["damaged"]
