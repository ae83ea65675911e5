"""Student pieces of the Nooks mechanism, plugged in through one explicit parameter.

The graded notebooks ask for real parts of Nooks (the house rule: student code enters through
an explicit parameter, never by patching the package). Each field of :class:`NooksHooks` names one
part; ``None`` (the default) keeps the package's own, so a kernel booted without hooks runs
exactly as before. Pass them at boot: ``boot("nooks", hooks=NooksHooks(write_check=fn))``.

The check cells of the graded notebooks build them with :meth:`NooksHooks.graded` instead: every
part named must then be the student's own function, and while it runs the package's own version
of that part is switched off (:mod:`nookslab.graded`).

Each part's signature is a :class:`typing.Protocol` below (``help(WriteCheck)``).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Protocol, Sequence

import numpy as np

from ..graded import GradedPart, student_part

POLICIES = ("restart", "disable")


class PageTableBuild(Protocol):
    """``page_table(kernel_flags) -> flags``: a new domain's page table (SOSP'03 section 4.2)."""

    def __call__(self, kernel_flags):
        """Build a protection domain's page-table flags from the kernel's.

        Parameters
        ----------
        kernel_flags : numpy.ndarray of uint8, shape (ADDRESS_PAGES,)
            A copy of the kernel's page table, one entry per 4 KiB page of the 32-bit address
            space, each a combination of the bits ``PRESENT`` (1: mapped, may be read) and
            ``WRITE`` (2: may be written), from ``nookslab.machine.mmu``.

        Returns
        -------
        numpy.ndarray, same shape
            The domain's flags: a page is present exactly when the kernel maps it, and no page
            is writable. Nooks then grants the domain its own heap, stacks, device registers and
            DMA buffers, and unmaps the processes' user pages.
        """


class WriteCheck(Protocol):
    """``write_check(writable, addr, length) -> bool``: may the domain write this range?"""

    def __call__(self, writable, addr: int, length: int) -> bool:
        """The domain's write check (``ProtectionDomain.can_write``), asked by every wrapper
        before the kernel writes into memory the driver named (``copy_from_user``...).

        Parameters
        ----------
        writable : numpy.ndarray of bool, shape (ADDRESS_PAGES,), read-only
            ``writable[page]``: the domain may write that page (``page = address >> 12``).
        addr : int
            The first byte written (any int: a driver's bad pointer may be 0 or negative).
        length : int
            How many bytes (may be 0 or negative).

        Returns
        -------
        bool
            True when ``length <= 0`` (nothing is written); otherwise False for ``addr <= 0`` or
            a range running past the last address ``0xffffffff``, else whether every page from
            ``addr``'s to ``addr + length - 1``'s is writable.
        """


class Batching(Protocol):
    """``batch(queue) -> list of lists``: split the deferred calls into crossings."""

    def __call__(self, queue: list) -> list:
        """Split a domain's queue of deferred kernel calls into batches (SOSP'03 section 4.3).

        Parameters
        ----------
        queue : list
            The deferred calls in the order they were queued (each a ``(function, args)``
            pair; treat them as opaque items).

        Returns
        -------
        list of lists
            Consecutive batches covering the queue in order, each item exactly once; each batch
            runs in one crossing back into the kernel. An empty queue gives no batch.
        """


class BufferCheck(Protocol):
    """``check(args, domain) -> str | None``: one wrapper's buffer checks, built from a spec."""

    def __call__(self, args: tuple, domain) -> str | None:
        """Return None to let the call through, or a short message saying why it is refused.

        Parameters
        ----------
        args : tuple
            The call's arguments in the order of ``spec.args`` (trailing ones may be absent).
        domain : ProtectionDomain
            The calling driver's domain: ask ``domain.can_read(addr, n)`` and
            ``domain.can_write(addr, n)``.
        """


class BufferCheckBuilder(Protocol):
    """``buffer_check(spec) -> check``: a wrapper generator's buffer checks (SOSP'03 4.4)."""

    def __call__(self, spec) -> BufferCheck:
        """Build the buffer checks of one kernel function from its interface description.

        Parameters
        ----------
        spec : nookslab.kernel.symbols.Export
            ``spec.name`` and ``spec.args``, each an ``Arg`` with ``name``, ``kind``
            (``"scalar"``, ``"object"``, ``"buffer"``, ``"callback"``, ``"ops"``), ``mode``
            (``"in"``: the kernel reads it; ``"out"``/``"inout"``: the kernel writes it) and,
            for a buffer, ``length``: a byte count (int) or the name of the argument holding it.

        Returns
        -------
        BufferCheck
            ``check(args, domain)``, called before every call of that function.
        """


class Collect(Protocol):
    """``collect(objects) -> (release, keep)``: the object tracker's garbage collection."""

    def __call__(self, objects: Sequence) -> tuple[list, list]:
        """Choose what recovery releases now, in which order, and what waits for the device.

        Parameters
        ----------
        objects : list of TrackedObject
            The failed domain's tracked objects, oldest first; each has ``type.name``,
            ``type.physical`` (a device may still use it: DMA memory, I/O mappings) and ``seq``
            (larger is newer).

        Returns
        -------
        (release, keep) : two lists of those objects
            ``release``: released now, in this order; ``keep``: kept for the device and
            released, in this order, after the device is reset and the driver reloaded.
        """


class RecoveryPolicy(Protocol):
    """``policy(extension, restarts, cause) -> "restart" | "disable"``: the agent's choice."""

    def __call__(self, extension: str, restarts: int, cause: str) -> str:
        """The user-mode recovery agent's policy (SOSP'03 section 4.5).

        Parameters
        ----------
        extension : str
            The failed driver's name (``"null"``, ``"e1000"``...).
        restarts : int
            How many times it was restarted within the agent's interval (``agent.interval``
            simulated seconds) before this failure; older restarts are not counted.
        cause : str
            Why it is being recovered, as the kernel reported it (``"unable to handle kernel
            paging request at ..."``, a refused wrapper check, or ``"explicit trigger"`` when a
            user or program asked for the recovery).

        Returns
        -------
        str
            ``"restart"`` (reload it into a fresh domain) or ``"disable"`` (leave it unloaded).
            Anything else disables it, and the recovery record says why.
        """


@dataclass(frozen=True)
class NooksHooks:
    """Replacement parts for the Nooks layer; every ``None`` keeps the package's own.

    Parameters
    ----------
    page_table : ``page_table(kernel_flags) -> flags``, see :class:`PageTableBuild`
        Builds each new domain's page table from a copy of the kernel's (one uint8 of
        PRESENT/WRITE bits per page).
    write_check : ``write_check(writable, addr, length) -> bool``, see :class:`WriteCheck`
        The domain's write check, asked by every wrapper before the kernel writes memory the
        driver named.
    batch : ``batch(queue) -> list of lists``, see :class:`Batching`
        Splits a domain's deferred kernel calls into batches, one crossing each.
    buffer_check : ``buffer_check(spec) -> check``; ``check(args, domain) -> str | None``
        Builds, once per kernel function, the buffer checks its wrapper runs before each call
        (:class:`BufferCheckBuilder`, :class:`BufferCheck`); replaces the package's own.
    collect : ``collect(objects) -> (release, keep)``, see :class:`Collect`
        The tracker's garbage collection at recovery (objects oldest first).
    policy : ``policy(extension, restarts, cause) -> "restart" | "disable"``
        The recovery agent's policy, see :class:`RecoveryPolicy`.

    Use :meth:`graded` in check cells: it refuses parts that are not the student's own and
    switches the package's own versions off while they run.
    """

    page_table: PageTableBuild | None = None
    write_check: WriteCheck | None = None
    batch: Batching | None = None
    buffer_check: BufferCheckBuilder | None = None
    collect: Collect | None = None
    policy: RecoveryPolicy | None = None

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and not callable(value):
                raise ValueError(f"hook {f.name} must be a function or None, got {value!r}")

    @classmethod
    def graded(cls, **parts) -> "NooksHooks":
        """Hooks in grading mode, for check cells: ``NooksHooks.graded(write_check=can_write)``.

        Every part named must be a function the student defined in the notebook (None, a
        package function, a builtin, a partial or a method raise
        :class:`~nookslab.graded.NotYourOwn` with the reason), and while it runs the package's
        own version of that part raises :class:`~nookslab.graded.SwitchedOff`. Parts not named
        keep the package's own.
        """
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(parts) - set(names))
        if unknown:
            raise ValueError(f"unknown hook(s) {', '.join(unknown)}: choose from "
                             f"{', '.join(names)}")
        if not parts:
            raise ValueError(f"name the graded part(s): one or more of {', '.join(names)}")
        return cls(**{name: student_part(name, fn, settle=_SETTLE[name])
                      for name, fn in parts.items()})

    @property
    def grading(self) -> bool:
        """True for hooks built by :meth:`graded` (the package's own parts are switched off
        while theirs run)."""
        return any(isinstance(getattr(self, f.name), GradedPart) for f in fields(self))

    def parts(self) -> tuple[str, ...]:
        """The names of the parts plugged in (not None)."""
        return tuple(f.name for f in fields(self) if getattr(self, f.name) is not None)


# -- grading mode: each part's result as plain data, read while the package's own is off --------
def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _settle_table(value):
    table = np.asarray(value)
    if table.dtype == object:
        raise TypeError(f"page_table must return an array of page flags, got {_short(value)}")
    return table.copy()


def _settle_batches(value) -> list[list]:
    try:
        return [list(batch) for batch in value]
    except TypeError:
        raise TypeError(f"batch must return a list of batches (lists), got {_short(value)}") \
            from None


def _settle_refusal(value) -> str | None:
    """None lets the call through; anything true refuses it, with its text as the reason."""
    return str(value) if value else None


def _settle_check(value):
    return student_part("buffer_check", value, label="the check your buffer_check returned",
                        settle=_settle_refusal)


def _settle_collection(value) -> tuple[list, list]:
    try:
        release, keep = value
        return list(release), list(keep)
    except (TypeError, ValueError):
        raise TypeError(f"collect must return a pair (release, keep) of lists, got "
                        f"{_short(value)}") from None


def _settle_policy(value) -> str:
    return value if type(value) is str else repr(value)


_SETTLE = {"page_table": _settle_table, "write_check": bool, "batch": _settle_batches,
           "buffer_check": _settle_check, "collect": _settle_collection,
           "policy": _settle_policy}


NO_HOOKS = NooksHooks()

__all__ = ["Batching", "BufferCheck", "BufferCheckBuilder", "Collect", "NO_HOOKS", "NooksHooks",
           "POLICIES", "PageTableBuild", "RecoveryPolicy", "WriteCheck"]
