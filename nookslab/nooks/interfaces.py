"""The kernel<->extension interfaces, read from the kernel's own declarative specs (SOSP'03 4.3).

Nothing about an interface is written here twice: every exported function carries an
:class:`~nookslab.kernel.symbols.Export` (parameter kinds, ``creates=``, ``releases=``) and every
ops table is a frozen dataclass whose members carry ``op(...)`` specs. :class:`Catalog` reads them
all and derives what the wrapper generator and the object tracker need:

- the tracked object types (every ``object`` parameter type, every ``creates=`` type, every
  registration), each with its release routine;
- which types an extension works on through a *copy* (call-by-value-result): those an ops member
  may modify (mode ``inout``/``out``) and that have a struct Layout;
- registration pairs (``request_irq``/``free_irq``, ``register_X``/``unregister_X``).

The few facts no spec states (the paper's "hand-written wrapper bodies") are the small tables
below: which pairs do not follow the naming rule, which types are physical resources a device may
still use during recovery, which calls may be deferred and batched, which calls are served from
the domain itself, and which objects carry a buffer the page tracker lends out.
"""
from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass

from ..kernel.net.netdevice import NET_DEVICE_KERNEL_FIELDS
from ..kernel.symbols import Arg, Export, ops_members
from ..kernel.vfs import KERNEL_FIELDS as VFS_KERNEL_FIELDS
from .tracker import TrackedType

#: Registration -> the call that undoes it, where the name does not say so. A kernel thread
#: runs the extension's code until stopped: recovery stops it, as it frees an IRQ handler.
PAIRS = {"request_irq": "free_irq", "kernel_thread": "kthread_stop"}
#: Naming rules for the rest: register_X/unregister_X, request_X/release_X.
PAIR_PREFIXES = (("register_", "unregister_"), ("request_", "release_"), ("request_", "free_"))
#: Object types whose release is a call that does not declare ``releases=`` (Linux idiom).
TYPE_RELEASE = {"timer_list": "del_timer"}
#: Resources a device may still touch after a failure: freed only after the reload (step 8).
PHYSICAL = frozenset({"dma", "iomem"})
#: Objects that live in the domain's own memory: freed with the domain, never one by one.
DOMAIN_MEMORY = frozenset({"kmalloc"})
#: Blocks of memory an extension frees: the kernel must no longer reach anything inside one.
MEMORY = frozenset({"kmalloc", "dma"})
#: Calls served inside the isolation layer for the domain (the paper's nooks_w_kmalloc).
LOCAL = ("kmalloc", "kfree")
#: Kernel calls with no result the extension needs: queued and delivered in a batch when the
#: crossing back to the kernel returns (the network receive path, SOSP'03 4.3). Freeing a
#: transmitted skb from the interrupt handler is one: Linux's own ``dev_kfree_skb_irq`` only
#: queues the buffer for the softirq, so running it a little later changes nothing visible.
DEFERRABLE = frozenset({"netif_rx", "dev_kfree_skb_irq", "dev_kfree_skb_any"})
#: Kernel functions Nooks runs inside the extension's domain, without a crossing (our modelling
#: choice, in the spirit of the paper's shadow copies of performance-critical objects, SOSP'03
#: 4.2): they compute on an object the extension holds and only read other kernel data.
#: ``eth_type_trans`` reads the Ethernet header of the skb the driver holds and the device's
#: address, and writes three fields of that skb; a domain copy of the device passed to it is
#: translated to the kernel's object first, as a wrapper would.
IN_DOMAIN = frozenset({"eth_type_trans"})
#: Allocations served from a per-domain cache of objects allocated ahead, in batches, by one
#: crossing into the kernel: call -> batch size. The receive path allocates one skb per packet;
#: the paper keeps performance-critical kernel state in the extension's domain (the ``softnet``
#: shadow, SOSP'03 4.2), and a cache of buffers already lent to the domain is the same idea
#: applied to ``dev_alloc_skb``. Every skb of the cache is one page with the same layout, so a
#: cached buffer is exactly what ``dev_alloc_skb(length)`` returns for any valid ``length``.
PREALLOCATED = {"dev_alloc_skb": 32}
#: Objects that carry a data buffer the page tracker lends to the domain while it holds them:
#: type -> (field of the buffer start, field of its end), read from the object's Layout.
#: A second field named ``*size``/``*len`` holds the buffer's length instead of its end.
BUFFER_FIELDS = {"sk_buff": ("head", "end"), "buffer_head": ("b_data", "b_size")}
#: Fields of a copied object that only the kernel writes (the paper's wrapper writer knows
#: "which fields may be modified"): a driver's version of them is never copied back, so a
#: driver that scribbles on its copy of, say, its net_device's ``next`` or a dentry's hash link
#: breaks nothing. For the file system's objects: the super block's list links, device and ops,
#: the inode and dentry cache rings, reference counts and hashes (kernel/vfs.py's KERNEL_FIELDS).
KERNEL_ONLY_FIELDS = {"net_device": NET_DEVICE_KERNEL_FIELDS, **VFS_KERNEL_FIELDS}
#: Objects the kernel passes to an extension entry point that the extension keeps after the
#: call returns, until it gives them back (the paper: to write a wrapper body one must know
#: "whether it lives across calls"; C headers do not say): member -> parameter names.
#: Subsystem routines recovery uses on a failed extension without calling into it: write its
#: dirty data back (policy ``sync``), and detach what no release call can (mounts).
SYNC_ROUTINES = ("sync_fs_of",)
DETACH_ROUTINES = ("forget_fs_of",)
LIVES_ACROSS_CALLS = {"ndo_start_xmit": ("skb",)}


@dataclass(frozen=True)
class OpsInterface:
    """One ops table (an interface the extension exports to the kernel)."""

    c_name: str
    cls: type
    members: dict


class Catalog:
    """Every interface of one kernel, and the types the tracker must know.

    Attributes
    ----------
    exports: name -> Export spec. ops: ops-table name -> :class:`OpsInterface`.
    types: type name -> :class:`TrackedType`. pairs: registration -> undoing call.
    releases_of: undoing call -> registration type.
    """

    def __init__(self, kernel):
        self.kernel = kernel
        self.exports: dict[str, Export] = dict(kernel.symbols.specs)
        self.ops: dict[str, OpsInterface] = {}
        for cls in _ops_classes(kernel):
            self.ops[cls.c_name] = OpsInterface(cls.c_name, cls, ops_members(cls))
        self.pairs: dict[str, str] = {}
        for name in sorted(self.exports):
            undo = PAIRS.get(name) or next(
                (undo_p + name[len(p):] for p, undo_p in PAIR_PREFIXES
                 if name.startswith(p) and undo_p + name[len(p):] in self.exports), None)
            if undo in self.exports:
                self.pairs[name] = undo
        self.releases_of = {undo: _registration_type(reg) for reg, undo in self.pairs.items()}
        self.types = self._types()

    # -- derived facts -------------------------------------------------------------------
    def _types(self) -> dict[str, TrackedType]:
        names: set[str] = set()
        modified: set[str] = set()
        released: dict[str, str] = {}
        for spec in self.exports.values():
            for arg in spec.args + ((spec.returns,) if spec.returns else ()):
                if arg.kind == "object" and arg.type:
                    names.add(arg.type)
            if spec.creates:
                names.add(spec.creates)
            if spec.releases:
                arg = next((a for a in spec.args if a.name == spec.releases), None)
                if arg is not None and arg.type:
                    released.setdefault(arg.type, spec.name)
        for iface in self.ops.values():
            for member in iface.members.values():
                for arg in member["args"] + ((member["returns"],) if member["returns"] else ()):
                    if arg.kind == "object" and arg.type:
                        names.add(arg.type)
                        if arg.mode in ("inout", "out"):
                            modified.add(arg.type)
        layouts = self.kernel.object_types
        types: dict[str, TrackedType] = {}
        for name in sorted(names):
            layout = layouts.get(name)
            # Objects with a data buffer are mapped by the page tracker, not copied.
            copied = name in modified and layout is not None and name not in BUFFER_FIELDS
            release = None if name in DOMAIN_MEMORY else (released.get(name)
                                                         or TYPE_RELEASE.get(name))
            types[name] = TrackedType(name, release, name in PHYSICAL, copied,
                                      layout.size if layout is not None else 0)
        for reg, undo in sorted(self.pairs.items()):
            rtype = _registration_type(reg)
            types.setdefault(rtype, TrackedType(rtype, undo))
        return types

    def arg_names(self, spec: Export) -> tuple[str, ...]:
        return tuple(a.name for a in spec.args)

    # -- counts (the paper: 248 wrappers covering 463 functions, 43 object types) ----------
    @property
    def kernel_wrappers(self) -> int:
        """Exported functions reached through a generated kernel wrapper (xpc=True)."""
        return sum(1 for s in self.exports.values() if s.xpc)

    @property
    def driver_wrappers(self) -> int:
        """Extension entry points reached through a generated driver wrapper: every ops-table
        member, every callback parameter, and the module's init and cleanup."""
        callbacks = sum(1 for s in self.exports.values() for a in s.args if a.kind == "callback")
        return sum(len(i.members) for i in self.ops.values()) + callbacks + 2

    @property
    def wrappers(self) -> int:
        return self.kernel_wrappers + self.driver_wrappers

    @property
    def functions(self) -> int:
        """Imported and exported functions the interfaces cover (linked or wrapped)."""
        return len(self.exports) + sum(len(i.members) for i in self.ops.values()) + 2

    @property
    def interfaces(self) -> int:
        """Interfaces: each exporting subsystem (imported calls) plus each ops table."""
        subsystems = {s.subsystem for s in self.exports.values()}
        return len(subsystems) + len(self.ops)

    def summary(self) -> dict:
        return {"wrappers": self.wrappers, "kernel_wrappers": self.kernel_wrappers,
                "driver_wrappers": self.driver_wrappers, "functions": self.functions,
                "interfaces": self.interfaces, "tracked_types": len(self.types)}


def _registration_type(name: str) -> str:
    """A registration is tracked under the name of the call that made it (``request_irq``):
    ``request_dma`` (an ISA channel) must not be confused with the ``dma`` memory type."""
    return name


def _ops_classes(kernel) -> list[type]:
    """The ops-table classes defined by the kernel's subsystems (``@ops_table`` dataclasses)."""
    modules = sorted({type(sub).__module__ for sub in kernel.subsystems.values()})
    found: dict[str, type] = {}
    for modname in modules:
        module = sys.modules.get(modname)
        for value in vars(module).values() if module else ():
            if isinstance(value, type) and dataclasses.is_dataclass(value) \
                    and isinstance(getattr(value, "c_name", None), str):
                found.setdefault(value.c_name, value)
    return [found[n] for n in sorted(found)]


def object_args(args: tuple[Arg, ...]) -> list[tuple[int, Arg]]:
    return [(i, a) for i, a in enumerate(args) if a.kind != "scalar" and a.kind != "data"]
