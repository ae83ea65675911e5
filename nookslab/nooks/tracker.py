"""The object tracker (SOSP'03 section 4.4): every kernel object an extension holds, and how to free it.

It has the paper's two tables: objects that live only for one XPC sit in a *per-call table* (the
paper attaches it to the current task; here it hangs on the XPC frame, which plays the task's
Nooks state on our uniprocessor), long-lived ones in a *per-domain hash table* keyed by address.
For objects the extension may write it records the association between the kernel's copy and the
extension's copy, so wrappers can translate pointers both ways (call-by-value-result).

Each object type has a release routine (the name of an exported kernel function, bound by
parameter name to the arguments recorded when the object was created); the recovery manager
enumerates the table and garbage-collects with them (section 4.5).
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TrackedType:
    """One kind of object the tracker knows (the paper supports 43).

    ``release``: the exported function that frees it (None: forget it, e.g. domain memory freed
    with the domain, or a kernel object the extension only borrows). ``physical``: a resource a
    device may still use (DMA memory, I/O mappings), released only after the reload.
    ``copied``: the extension works on a copy in its domain (call-by-value-result).
    """

    name: str
    release: str | None = None
    physical: bool = False
    copied: bool = False
    size: int = 0                  # bytes of the object (its Layout), 0 if not a struct


@dataclass
class TrackedObject:
    """One object in use by an extension.

    ``addr``: the kernel's address (or the registration's key for registrations); ``copy``: the
    domain copy's address, if the extension works on a copy; ``args``: the creating call's
    arguments by parameter name (what the release routine is called with).
    """

    addr: int
    type: TrackedType
    size: int = 0
    args: dict = field(default_factory=dict)
    copy: int = 0
    key: tuple = ()
    seq: int = 0
    per_call: bool = False
    refs: int = 0                  # references the extension holds (0: only seen in a call)
    snap_kernel: bytes = b""       # the kernel object and the copy at the last synchronisation
    snap_copy: bytes = b""

    def describe(self) -> str:
        where = f" copy {self.copy:#010x}" if self.copy else ""
        return f"{self.type.name} {self.addr:#010x}{where}"


class ObjectTracker:
    """The per-domain table of tracked objects."""

    def __init__(self, domain_name: str):
        self.domain_name = domain_name
        self.objects: dict[int, dict[str, TrackedObject]] = {}     # kernel addr -> type -> obj
        self.copies: dict[int, TrackedObject] = {}                 # domain copy addr -> obj
        self.registrations: dict[tuple, TrackedObject] = {}        # (type, key) -> obj
        self._seq = 0
        self.operations = 0                                          # adds + removes + lookups

    # -- adding and removing ------------------------------------------------------------
    def add(self, obj: TrackedObject) -> TrackedObject:
        self._seq += 1
        self.operations += 1
        obj.seq = self._seq
        if obj.key:
            self.registrations[(obj.type.name, obj.key)] = obj
        else:
            self.objects.setdefault(obj.addr, {})[obj.type.name] = obj
            if obj.copy:
                self.copies[obj.copy] = obj
        return obj

    def remove(self, obj: TrackedObject) -> None:
        self.operations += 1
        if obj.key:
            self.registrations.pop((obj.type.name, obj.key), None)
            return
        by_type = self.objects.get(obj.addr)
        if by_type is not None and by_type.get(obj.type.name) is obj:
            del by_type[obj.type.name]
            if not by_type:
                del self.objects[obj.addr]
        if obj.copy:
            self.copies.pop(obj.copy, None)

    def remove_within(self, start: int, size: int) -> list[TrackedObject]:
        """Forget the objects embedded in ``[start, start + size)`` (their memory was freed)."""
        gone = [o for addr, by_type in self.objects.items() if start <= addr < start + size
                for o in by_type.values()]
        for o in gone:
            self.remove(o)
        return gone

    def unregister(self, type_name: str, key: tuple) -> TrackedObject | None:
        obj = self.registrations.get((type_name, key))
        if obj is not None:
            self.remove(obj)
        return obj

    # -- lookups ---------------------------------------------------------------------------
    def find(self, addr: int, type_name: str) -> TrackedObject | None:
        """The object of ``type_name`` known at ``addr`` (a kernel address or a domain copy)."""
        self.operations += 1
        by_type = self.objects.get(addr)
        if by_type is not None:
            obj = by_type.get(type_name)
            if obj is not None:
                return obj
        obj = self.copies.get(addr)
        if obj is not None and obj.type.name == type_name:
            return obj
        return None

    def registered_with(self, addr: int) -> list[str]:
        """The live registrations (``register_netdev``...) that name ``addr`` in their key:
        the kernel still reaches the object through them."""
        return [kind for (kind, key) in self.registrations if addr in key]

    def known(self, addr: int) -> list[str]:
        """Type names tracked at ``addr`` (to tell 'wrong type' from 'unknown pointer')."""
        names = list(self.objects.get(addr, {}))
        if addr in self.copies:
            names.append(self.copies[addr].type.name)
        return names

    def containing(self, addr: int, type_name: str) -> TrackedObject | None:
        """A tracked object of ``type_name`` whose extent contains ``addr``."""
        for by_type in self.objects.values():
            obj = by_type.get(type_name)
            if obj is not None and obj.size and obj.addr <= addr < obj.addr + obj.size:
                return obj
        return None

    # -- recovery -----------------------------------------------------------------------------
    def enumerate(self) -> list[TrackedObject]:
        """Every tracked object, newest first (release order: the reverse of creation)."""
        everything = [o for by_type in self.objects.values() for o in by_type.values()]
        everything += list(self.registrations.values())
        return sorted(everything, key=lambda o: -o.seq)

    def clear(self) -> None:
        self.objects.clear()
        self.copies.clear()
        self.registrations.clear()

    def __len__(self) -> int:
        return sum(len(t) for t in self.objects.values()) + len(self.registrations)
