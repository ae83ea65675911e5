"""Student pieces of the Nooks mechanism, plugged in through one explicit parameter.

The graded notebooks ask for real parts of Nooks (the house rule: student code enters through
an explicit parameter, never by patching the package). Each field of :class:`NooksHooks` names one
part; ``None`` (the default) keeps the package's own, so a kernel booted without hooks runs
exactly as before. Pass them at boot: ``boot("nooks", hooks=NooksHooks(write_check=fn))``.

``page_table(kernel_flags) -> flags``
    builds a new domain's page table from the kernel's (one uint8 of PRESENT/WRITE bits per page):
    SOSP'03 section 4.2, kernel pages mapped read-only. The domain's own pages are granted after.
``write_check(writable, addr, length) -> bool``
    the domain's write check (``ProtectionDomain.can_write``), asked by every wrapper that lets
    the kernel write into memory the extension named; ``writable`` is the per-page bool array.
``batch(queue) -> list of lists``
    splits a domain's queue of deferred kernel calls into batches; each batch is one XPC
    (SOSP'03 section 4.3, deferred calls).
``buffer_check(spec) -> check(args, domain) -> str | None``
    a wrapper generator's buffer checks, built once per kernel function from its interface
    description (``spec.args``: name, kind, mode, length); the check returns why a call is refused.
``collect(objects) -> (release, keep)``
    the object tracker's garbage collection at recovery: given the tracked objects oldest first,
    the ones to release now in release order, and the ones kept for the device until the reload.
``policy(extension, restarts, cause) -> "restart" | "disable"``
    the user-mode agent's recovery policy; ``restarts`` counts restarts in the agent's interval.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Callable

POLICIES = ("restart", "disable")


@dataclass(frozen=True)
class NooksHooks:
    """Replacement parts for the Nooks layer; every ``None`` keeps the package's own."""

    page_table: Callable | None = None
    write_check: Callable | None = None
    batch: Callable | None = None
    buffer_check: Callable | None = None
    collect: Callable | None = None
    policy: Callable | None = None

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and not callable(value):
                raise ValueError(f"hook {f.name} must be a function or None, got {value!r}")


NO_HOOKS = NooksHooks()

__all__ = ["NO_HOOKS", "NooksHooks", "POLICIES"]
