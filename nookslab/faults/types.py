"""The fault types of the Nooks injector, and the :class:`Fault` value (SOSP'03 section 5.1).

The paper's injector (adapted from the Rio SWIFI tool) rewrote single x86 instructions of a loaded
module and hooked the allocator and copy routines. Our drivers are Python, so each type below is the
closest analogue on the driver's *syntax tree* (static faults, applied by the module loader before
compiling) or a hook in the kernel functions and memory the driver uses (dynamic faults, armed after
linking). The C fault each one stands for is given beside it; the numbers are the injector's own
type numbers (fault-model.c, swifi-user.h).

A :class:`Fault` is a plain value: its type, its site (the enclosing function, and the line, column
and node kind of the syntax node it hits) and its parameters (a bit index, a count, a selector).
It prints, converts to and from JSON, and replays exactly: the same fault on the same driver source
always rewrites the same node the same way.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Callable

from ..errors import choose
from ..graded import GradedPart, student_part

#: Every fault type, with the C fault it emulates and what ours does. Order is the campaign's.
FAULT_DOCS: dict[str, tuple[str, str]] = {
    "TEXT": ("TEXT (0): flip one random bit in an instruction word of .text",
             "flip one bit (0-31) of an immediate: an integer constant or a named constant "
             "(a register offset, a struct field offset) in the driver's code"),
    "STACK": ("STACK (1): flip a random bit in a live word of a task's nook stack",
              "flip one bit of a local variable's value at run time, once, on the count-th "
              "execution of its assignment (a transient corruption of a live local)"),
    "HEAP": ("HEAP (2): flip a random bit at a random 16-byte-aligned address of the domain's "
             "heap/page map",
             "at a random moment (a clock event) flip one bit at a random 16-byte-aligned offset "
             "of one of the driver's live kmalloc blocks or DMA buffers"),
    "INIT": ("INIT (3): NOP out the initialisation of a local (mov $imm, -disp(%ebp))",
             "remove a local's first assignment; the local keeps a stale value bound at function "
             "entry (0x6b6b6b6b slab poison, or another stale word), as in C, not a NameError"),
    "NOP": ("NOP (4): overwrite an instruction with NOPs (deleted instruction)",
            "remove one simple statement (an expression, assignment, return or raise)"),
    "DST": ("DST (5): flip a bit in the ModRM/SIB/disp/imm bytes of an instruction: wrong "
            "destination",
            "flip one bit (0-31) of the value an assignment stores, every time it runs"),
    "SRC": ("SRC (6): the same operand bit flip: wrong source operand",
            "flip one bit (0-31) of an operand: a variable read in an expression or passed to a "
            "call"),
    "BRANCH": ("BRANCH (7): NOP out a conditional jump (or a rep prefix): deleted branch",
               "force an if/while/conditional-expression test: bit 0 clear, the guarded code always "
               "runs (the jump around it is gone); bit 0 set, it never runs"),
    "PTR": ("PTR (8): flip a bit in the ModRM low bits or SIB/displacement of a non-stack memory "
            "access: corrupted address computation",
            "flip one bit (0-31) of the offset added to a pointer in a load/store (ld32, st32, "
            "readl, writel, ldbytes, memcpy...), or of the whole address if nothing is added"),
    "FREE": ("FREE (9): in the kfree wrapper, alternately free a live block prematurely and skip "
             "a free",
             "at a kmalloc/alloc_skb site: free the block at once and still return it (use after "
             "free); at a free site: free twice (double free) then skip, alternately"),
    "BCOPY": ("BCOPY (10): extend a copy's length: 50% by 1, 44% by 2-1023, 6% by pages",
              "add the same extension to the length of every call of one memcpy/memmove/"
              "copy_from_user/copy_to_user site"),
    "SYNC": ("SYNC (11): accepted by the injector, no logic in fault-model.c (lock faults)",
             "drop one lock or unlock call (spin_lock*, spin_unlock*, down, up); a dropped call "
             "that returns a value (saved flags) leaves a stale one"),
    "LOOP": ("LOOP (12): invert a Jcc condition or swap rep/repne: inverted loop/test condition",
             "invert an if/while/conditional-expression test (not test)"),
    "MEM_LEAK": ("MEM_LEAK (13): in the kfree wrapper, skip frees", "skip every call of one free "
                 "site (kfree, kfree_skb, pci_free_consistent...) from the count-th on"),
    "INTERFACE": ("INTERFACE (14): NOP a load of an incoming argument: the register keeps a stale "
                  "value instead of the passed parameter",
                  "rebind one parameter at function entry to a stale value: another parameter "
                  "of the call, or a stale word"),
    "IRQ": ("IRQ (26): NOP a push/popf pair restoring saved flags: interrupts left disabled",
            "drop the interrupt restore of spin_unlock_irqrestore/local_irq_restore/"
            "spin_unlock_irq (the lock is still released), or drop a local_irq_enable"),
    "ALLOC": ("ALLOC (27): kmalloc/vmalloc wrappers periodically return NULL",
              "one allocation site (kmalloc, alloc_skb, pci_alloc_consistent...) returns NULL "
              "on every count-th call"),
}

#: The random fault types of a campaign (the Nooks injector's, SOSP'03 section 5.1).
FAULT_TYPES: tuple[str, ...] = tuple(FAULT_DOCS)

#: One line per fault type, in plain words: the bug it plants in the driver (lesson 07's table).
#: :data:`FAULT_DOCS` says how, beside the paper's C fault.
FAULT_SUMMARIES: dict[str, str] = {
    "TEXT": "a constant in the driver's code is wrong (one bit flipped)",
    "STACK": "a local variable's value is corrupted once, while it is in use",
    "HEAP": "one bit of the driver's heap data or DMA buffer flips at a random moment",
    "INIT": "a local variable is never initialised and keeps a stale value",
    "NOP": "one statement of the driver is deleted",
    "DST": "an assignment stores a wrong value (one bit flipped), every time it runs",
    "SRC": "an expression reads a wrong value (one bit of an operand flipped)",
    "BRANCH": "an if or while test is lost: the code it guards always runs, or never",
    "PTR": "a load or store goes to a wrong address (one bit of the address flipped)",
    "FREE": "memory is freed while still in use, or freed twice",
    "BCOPY": "a copy (memcpy, copy_from_user...) copies too many bytes",
    "SYNC": "a lock or unlock call is dropped",
    "LOOP": "an if or while test is inverted",
    "MEM_LEAK": "a free is skipped, so memory leaks",
    "INTERFACE": "a function sees a stale value instead of one of its arguments",
    "IRQ": "interrupts are left disabled after a critical section",
    "ALLOC": "an allocation fails: it returns NULL",
}

#: Extra kinds used only by the manual-bug experiment (SOSP'03 section 5.1, "manually injected").
MANUAL_DOCS: dict[str, tuple[str, str]] = {
    "USERPTR": ("a driver dereferencing a user-level pointer instead of using copy_*_user",
                "replace one copy_from_user/copy_to_user call by a plain memcpy on the user "
                "address (the access is no longer checked)"),
}

ALL_TYPES: tuple[str, ...] = FAULT_TYPES + tuple(MANUAL_DOCS)

#: The stale words an INIT or INTERFACE fault may leave: slab poison, zero, a stale kernel text
#: address, all ones (``where`` picks one).
STALE_WORDS = (0x6B6B6B6B, 0x00000000, 0xC0100010, 0xFFFFFFFF)


@dataclass(frozen=True)
class Fault:
    """One injected fault: its type, its site in the driver's source, and its parameters.

    Attributes
    ----------
    type: one of :data:`FAULT_TYPES` (or a manual kind).
    function: the driver function the site is in (``""`` for dynamic faults with no code site).
    line, col, end_line, end_col: the source position of the syntax node hit.
    node: the node's kind (``"Constant"``, ``"Assign"``, ``"Call"``, ``"If"``...).
    bit: the bit flipped (TEXT, STACK, HEAP, DST, SRC, PTR) or the variant (BRANCH, FREE).
    count: when a dynamic fault fires (the count-th call or execution; HEAP: cycles after load),
        the extension of a BCOPY, or the parameter index of an INTERFACE fault.
    where: a selector (HEAP: which block and offset; INIT/INTERFACE/SYNC: which stale word).
    """

    type: str
    function: str = ""
    line: int = 0
    col: int = 0
    end_line: int = 0
    end_col: int = 0
    node: str = ""
    bit: int = 0
    count: int = 0
    where: int = 0

    def __post_init__(self):
        choose(self.type, ALL_TYPES, "fault type")
        for f in fields(self):
            if f.type == "int" and not isinstance(getattr(self, f.name), int):
                raise ValueError(f"fault {f.name} must be an int, got {getattr(self, f.name)!r}")

    # -- what the module loader calls ----------------------------------------------------------
    def rewrite(self, tree):
        """Apply this fault to the driver's syntax tree (static faults; others return it as is)."""
        from .injector import rewrite
        return rewrite(self, tree)

    def rewrite_scope(self) -> tuple[int, str] | None:
        """Where :meth:`rewrite` may edit the tree: (line, function), or None for no edit.

        The loader recompiles only the top-level statement holding ``line`` and the one holding
        the last def named ``function`` at or before it (what the rewrite looks up).
        """
        if self.type == "HEAP":
            return None
        return (self.line, self.function)

    def arm(self, kernel, module) -> None:
        """Bind this fault's hooks in the loaded module (dynamic faults, activation markers)."""
        from .hooks import arm
        arm(self, kernel, module)

    @classmethod
    def at(cls, type: str, site, **params) -> "Fault":
        """A fault of ``type`` at ``site`` (a :class:`~nookslab.faults.injector.Site`, from
        ``injector.sites(extension)[type]``), its parameters given by name:
        ``Fault.at("INTERFACE", site, count=site.count, where=1)``."""
        return cls(type, site.function, site.line, site.col, site.end_line, site.end_col,
                   site.node, **params)

    # -- plain data ------------------------------------------------------------------------------
    @property
    def hook(self) -> str:
        """The name of this fault's hook in the driver's namespace (stable, readable)."""
        return f"_nl_fault_{self.type.lower()}_{self.line}_{self.col}_{self.bit}_{self.count}"

    @property
    def doc(self) -> str:
        c_fault, ours = (FAULT_DOCS | MANUAL_DOCS)[self.type]
        return f"{c_fault}; here: {ours}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Fault":
        return cls(**data)

    def __str__(self) -> str:
        where = f"{self.function}:{self.line}:{self.col} {self.node}" if self.function else "heap"
        params = f"bit={self.bit} count={self.count} where={self.where}"
        return f"{self.type} at {where} ({params})"


@dataclass(frozen=True)
class FaultType:
    """A new fault type, defined outside the injector (the graded notebook 07).

    Parameters
    ----------
    name : str
        A new identifier, not one of the injector's types (``"WILD_COPY"``).
    arm : ``arm(kernel, module, hit) -> None``
        Called once each time the faulty driver is loaded, after its imports are linked.
        ``kernel`` is the Kernel; ``module.namespace`` is the driver's globals, where each
        imported kernel function is bound by name: rebinding one there (``module.namespace[
        "copy_from_user"] = mine``) changes what the driver calls, as the injector's call-site
        faults do. ``hit()`` records that the fault activated: call it whenever the fault changes
        what the driver does (only the first call is recorded; a trial counts faults that
        activated at least once, so never call it when nothing was changed). Keep any counter
        inside ``arm`` (a closure): each load starts afresh, as a reloaded binary would.
    doc : str
        One line saying what the fault does.

    Pass :meth:`fault` to ``kernel.load(name, faults=[...])`` or to a trial's ``faults``. Check
    cells build it with :meth:`graded`, which refuses an ``arm`` that is not the student's own and
    switches the package's own fault injector off while it runs.
    """

    name: str
    arm: Callable
    doc: str = ""

    @classmethod
    def graded(cls, name: str, arm: Callable, doc: str = "") -> "FaultType":
        """A fault type in grading mode: ``arm`` must be a function the student defined in the
        notebook (:class:`~nookslab.graded.NotYourOwn` otherwise), and while it arms the driver
        the package's own injector hooks raise :class:`~nookslab.graded.SwitchedOff`."""
        return cls(name, student_part("fault", arm, label=f"fault type {name}: arm"), doc)

    @property
    def grading(self) -> bool:
        """True for a fault type built by :meth:`graded`."""
        return isinstance(self.arm, GradedPart)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier() or self.name in ALL_TYPES:
            raise ValueError(f"a new fault type needs a new identifier name (not one of "
                             f"{', '.join(ALL_TYPES)}), got {self.name!r}")
        if not callable(self.arm):
            raise ValueError(f"fault type {self.name}: arm must be a function, got {self.arm!r}")

    def fault(self) -> "CustomFault":
        return CustomFault(self)


@dataclass(frozen=True)
class CustomFault:
    """One fault of a :class:`FaultType`: a dynamic fault (no rewrite of the driver's code)."""

    kind: FaultType
    function: str = ""

    @property
    def type(self) -> str:
        return self.kind.name

    def rewrite_scope(self) -> None:
        return None

    def arm(self, kernel, module) -> None:
        done = []

        def hit(detail: str = "") -> None:
            if not done:
                done.append(True)
                kernel.events.add("fault", module.name, f"{self} activated{detail}")

        self.kind.arm(kernel, module, hit)

    def to_dict(self) -> dict:
        return {"type": self.type}

    def __str__(self) -> str:
        return f"{self.type} (a new fault type)"


def faults_to_json(faults) -> str:
    """A list of faults as JSON text (see :func:`faults_from_json`)."""
    return json.dumps([f.to_dict() for f in faults], indent=1)


def faults_from_json(text: str) -> tuple[Fault, ...]:
    """The faults saved by :func:`faults_to_json`, ready to replay."""
    return tuple(Fault.from_dict(d) for d in json.loads(text))
