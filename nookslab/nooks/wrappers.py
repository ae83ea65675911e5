"""Wrappers, generated from the interface specs (SOSP'03 section 4.3).

A *kernel wrapper* stands in for an exported kernel function on the extension's side: it crosses
into the kernel (XPC), checks each argument against the object tracker and the domain's memory
map (an unknown pointer, a pointer of the wrong type, a buffer the extension may not write, a
length past the end of a buffer), translates the extension's copies back into the kernel's objects
(call-by-value-result), runs the real function, records what it created or released, and wraps
every callback and ops table the extension hands over ("interposition by linking"). A *driver
wrapper* stands in for an extension entry point on the kernel's side: it copies the kernel's
objects into the domain, crosses in, and copies the results back.

Nothing here is written per function: :class:`WrapperFactory` builds each wrapper as a closure from
the function's :class:`~nookslab.kernel.symbols.Export` or ops-member spec.
"""
from __future__ import annotations

import dataclasses
from functools import partial

from ..graded import own
from ..kernel import errno
from ..kernel.panic import KernelBug, KernelPanic, ProcessKilled
from ..machine.cpu import Watchdog
from ..machine.mmu import CpuFault
from .interfaces import (BUFFER_FIELDS, DEFERRABLE, IN_DOMAIN, KERNEL_ONLY_FIELDS,
                         LIVES_ACROSS_CALLS, LOCAL, MEMORY, PREALLOCATED)
from .tracker import TrackedObject
from .xpc import ABORTED, DomainFault, KernelFault, Unwind

_PASS = (KernelPanic, ProcessKilled, Unwind, DomainFault, KernelFault, Watchdog)


class CheckFailed(Exception):
    """A kernel wrapper refused an argument (a software fault; the policy decides)."""


class WrapperFactory:
    """Builds the wrappers of one kernel, and does the tracker bookkeeping they share."""

    def __init__(self, manager):
        self.manager = manager
        k = manager.kernel
        self.kernel = k
        self.data = k.machine.memory.data
        self.catalog = manager.catalog
        self.types = self.catalog.types
        self.xpc = manager.xpc
        self.cost = k.cost
        self.clock = k.clock
        self.generated = 0
        self._field_cache: dict[str, tuple] = {}
        self._buffer_cache: dict[str, tuple | None] = {}

    # -- helpers shared by both directions ------------------------------------------------
    def _fields(self, tname: str) -> tuple:
        """(offset, size, is_pointer, kernel_only) of each field of ``tname``'s Layout;
        ``kernel_only``: the extension may not modify it (never copied back to the kernel)."""
        fields = self._field_cache.get(tname)
        if fields is None:
            layout = self.kernel.object_types.get(tname)
            only = KERNEL_ONLY_FIELDS.get(tname, ())
            fields = tuple((off, ft if isinstance(ft, int) else (2 if ft == "u16" else
                                                                1 if ft == "u8" else 4),
                            ft == "ptr", name in only)
                           for name, (off, ft) in layout.fields.items()) if layout else ()
            self._field_cache[tname] = fields
        return fields

    def _translate(self, domain, obj: TrackedObject, value: int, to_copy: bool) -> int:
        """An embedded pointer seen from the other side: interior pointers move with the
        object; pointers to other objects with copies follow the association."""
        if to_copy:
            if obj.addr <= value < obj.addr + obj.size:
                return obj.copy + value - obj.addr
            by_type = domain.tracker.objects.get(value)
            if by_type:
                for target in by_type.values():
                    if target.copy:
                        return target.copy
            return value
        if obj.copy <= value < obj.copy + obj.size:
            return obj.addr + value - obj.copy
        target = domain.tracker.copies.get(value)
        return target.addr if target is not None else value

    def _merge(self, domain, obj: TrackedObject, to_copy: bool, initial: bool = False) -> None:
        """Call-by-value-result for one object: copy the fields that changed on one side since
        the last synchronisation to the other side (translating pointers)."""
        n = obj.type.size
        data = self.data
        k, c = obj.addr, obj.copy
        if to_copy:
            src, dst, snap = k, c, obj.snap_kernel
        else:
            src, dst, snap = c, k, obj.snap_copy
        now = bytes(data[src:src + n])
        if now == snap and not initial:
            return
        for off, size, is_ptr, kernel_only in self._fields(obj.type.name):
            piece = now[off:off + size]
            if not initial and piece == snap[off:off + size]:
                continue
            if kernel_only and not to_copy:
                continue
            if is_ptr:
                value = self._translate(domain, obj, int.from_bytes(piece, "little"), to_copy)
                piece = value.to_bytes(4, "little")
            data[dst + off:dst + off + size] = piece
        obj.snap_kernel = bytes(data[k:k + n])
        obj.snap_copy = bytes(data[c:c + n])
        self.clock.charge(self.cost.xpc_copy_cost(n))

    def copy_back_all(self, domain) -> None:
        data = self.data
        for obj in list(domain.tracker.copies.values()):
            c = obj.copy
            if data[c:c + obj.type.size] != obj.snap_copy:
                self._merge(domain, obj, False)

    def to_copy(self, domain, obj: TrackedObject) -> None:
        self._merge(domain, obj, True)

    def to_kernel(self, domain, obj: TrackedObject) -> None:
        self._merge(domain, obj, False)

    def track(self, domain, addr: int, tname: str, args: dict | None = None, size: int = 0,
              held: bool = False) -> TrackedObject:
        """Record ``addr`` as an object of ``tname`` used by ``domain``: a new reference if
        ``held``. The first time, make the domain copy (if the extension works on copies of
        that type) or lend its buffer pages (if it carries a buffer)."""
        tracker = domain.tracker
        existing = tracker.objects.get(addr, {}).get(tname)
        if existing is not None:
            if held:
                existing.refs += 1
            self.clock.charge(self.cost.tracker_cost)
            return existing
        ttype = self.types[tname]
        obj = TrackedObject(addr, ttype, max(size, ttype.size), dict(args or {}),
                            refs=1 if held else 0)
        if ttype.copied and not domain.can_write(addr, ttype.size):
            copy = domain.heap.kmalloc(obj.size, "nooks copy")
            if copy:
                obj.copy = copy
                domain.copies_made += 1
                # The whole allocation the first time (a private area after the struct comes
                # along, e.g. net_device's priv); afterwards only the struct is synchronised.
                self.data[copy:copy + obj.size] = self.data[addr:addr + obj.size]
                self.clock.charge(self.cost.xpc_copy_cost(obj.size))
                self._merge(domain, obj, True, initial=True)
        buffer = self._buffer_fields(tname)
        if buffer is not None:
            o1, o2, is_length = buffer
            o1 += addr
            o2 += addr
            head = int.from_bytes(self.data[o1:o1 + 4], "little")
            second = int.from_bytes(self.data[o2:o2 + 4], "little")
            length = second if is_length else second - head
            if head > 0 and 0 < length <= 1 << 20:
                domain.page_grant(head, length)
                obj.args["_buffer"] = (head, length)
        if tname == "iomem" and obj.size:
            domain.grant(addr, obj.size)          # the device's register window
        self.clock.charge(self.cost.tracker_cost)
        return tracker.add(obj)

    def _buffer_fields(self, tname: str):
        """(offset of the buffer start, offset of its end or length, is it a length) for a
        type in BUFFER_FIELDS with a Layout, else None; worked out once per type."""
        if tname in self._buffer_cache:
            return self._buffer_cache[tname]
        fields = BUFFER_FIELDS.get(tname)
        layout = self.kernel.object_types.get(tname) if fields is not None else None
        if fields is None:
            self._buffer_cache[tname] = None
            return None
        if layout is None or not all(f in layout.fields for f in fields):
            return None                    # (a Layout registered later is still found)
        found = (getattr(layout, fields[0]), getattr(layout, fields[1]),
                 fields[1].endswith(("size", "len")))
        self._buffer_cache[tname] = found
        return found

    def check_unreached(self, domain, call: str, obj: TrackedObject) -> None:
        """Refuse (:class:`CheckFailed`) to free a block the kernel still reaches: one holding a
        pending timer or another kernel object the kernel walks (``kernel.reaching``), or one a
        live registration of the extension names (an IRQ's ``dev_id``, a registered device).

        Linux would free it and meet the freed memory later (a timer list walked through the
        poison, in the timer interrupt); the wrapper knows better, as Nooks' wrappers check
        what the object tracker recorded, so the free is a software fault and the policy decides.
        """
        start, end = obj.addr, obj.addr + max(obj.size, 1)
        reached = self.kernel.reaching(start, end - start)
        for (kind, key) in domain.tracker.registrations:
            inside = next((v for v in key if type(v) is int and start <= v < end), None)
            if inside is not None:
                reached.append(f"{kind} registered with {inside:#010x}")
        if reached:
            raise CheckFailed(f"{call}: {obj.describe()} is still reached by the kernel "
                              f"({'; '.join(reached)})")

    def drop(self, domain, obj: TrackedObject) -> None:
        """One reference given back; the last one forgets the object (and what is inside)."""
        obj.refs -= 1
        if obj.refs > 0:
            return
        self.forget(domain, obj)
        if obj.type.name in ("kmalloc", "dma"):
            for inner in domain.tracker.remove_within(obj.addr, obj.size):
                self.forget(domain, inner)

    def forget(self, domain, obj: TrackedObject) -> None:
        """Drop ``obj`` from the tracker: free its copy, take back lent pages. An object still
        in a preallocation cache goes back to the kernel (unless the kernel freed it itself)."""
        domain.tracker.remove(obj)
        cache = obj.args.pop("_cached", None) if obj.args else None
        if cache is not None:
            if obj.addr in cache:
                cache.remove(obj.addr)
            self._release_cached(obj)
        if obj.copy and not domain.destroyed and domain.heap.owns(obj.copy):
            try:
                domain.heap.kfree(obj.copy)
            except (KernelBug, CpuFault):
                # The extension trampled its own heap: that is its business (the domain's
                # heap goes away whole at recovery), never the kernel's.
                pass
        lent = obj.args.pop("_buffer", None)
        if lent is not None and not domain.destroyed:
            domain.page_revoke(*lent)
        if obj.type.name == "iomem" and obj.size and not domain.destroyed:
            domain.revoke(obj.addr, obj.size)
        self.clock.charge(self.cost.tracker_cost)

    def _release_cached(self, obj: TrackedObject) -> None:
        """Free a cached object the extension never took, through its release routine, in the
        kernel's page table; nothing if the kernel already freed it (recovery's release step)."""
        undo = obj.type.release
        k = self.kernel
        if undo is None or undo not in k.symbols.functions or k.verdict is not None:
            return
        spec = self.catalog.exports[undo]
        param = spec.releases or next((a.name for a in spec.args if a.kind == "object"), None)
        saved = k.mmu.switch(k.mmu.kernel_pt)
        try:
            k.symbols.functions[undo](*self.release_args(undo, obj, param))
        except KernelBug:
            pass            # already freed by the kernel (the call that brought us here)
        finally:
            k.mmu.switch(saved)

    def release_args(self, undo: str, obj: TrackedObject, released_param: str | None):
        """Arguments for ``undo`` bound by parameter name from the recorded creation call."""
        spec = self.catalog.exports[undo]
        values = []
        for arg in spec.args:
            if arg.name == released_param:
                values.append(obj.addr)
            else:
                values.append(obj.args.get(arg.name, 0))
        return values

    # -- kernel wrappers (extension -> kernel) ---------------------------------------------
    def kernel_wrapper(self, domain, module, name: str):
        """The wrapper the loader links into ``module`` for exported function ``name``."""
        spec = self.catalog.exports[name]
        k = self.kernel
        if name in LOCAL:
            fn = getattr(domain, name)
        else:
            fn = k.symbols.functions[name]
            if spec.owned:
                fn = partial(fn, owner=module.name)
        xpc = self.xpc
        types = self.types
        tracker = domain.tracker
        manager = self.manager
        kheap = k.heap
        check_cost = self.cost.wrapper_check
        clock = self.clock
        names = tuple(a.name for a in spec.args)
        plan = [(i, a) for i, a in enumerate(spec.args) if a.kind in ("object", "buffer",
                                                                       "callback", "ops")]
        undo = self.catalog.pairs.get(name)                 # this call registers something
        unregisters = self.catalog.releases_of.get(name)    # this call undoes a registration
        undo_names = tuple(a.name for a in self.catalog.exports[undo].args) if undo else ()
        my_names = names
        released = spec.releases
        released_type = (types[_arg_type(spec, released)].name
                         if released and _arg_type(spec, released) in types else None)
        ret_arg = spec.returns
        created = spec.creates or (ret_arg.type if ret_arg is not None
                                   and ret_arg.kind == "object" else None)
        error = _error_value(ret_arg)
        frees_memory = released_type in MEMORY               # kfree, pci_free_consistent
        deferred = name in DEFERRABLE and self.cost.batching     # cost-model knob
        local = name in LOCAL
        self.generated += 1
        build = manager.hooks.buffer_check
        student = build(spec) if build is not None else None       # nooks/hooks.py

        def check_and_translate(args: list, copied: list) -> None:
            for i, a in plan:
                if i >= len(args):
                    continue
                v = args[i]
                if a.kind == "object":
                    if not v:
                        if a.nullable:
                            continue
                        raise CheckFailed(f"{name}: NULL {a.type} for {a.name}")
                    v &= 0xFFFFFFFF
                    obj = tracker.find(v, a.type)
                    if obj is not None:
                        if obj.copy and v == obj.copy:
                            self.to_kernel(domain, obj)
                            args[i] = obj.addr
                            copied.append(obj)
                        if frees_memory and a.name == released:
                            self.check_unreached(domain, name, obj)
                        continue
                    ttype = types[a.type]
                    if a.mode == "out" and domain.can_write(v, max(ttype.size, 1)):
                        track_(v, a.type, held=True)            # kernel initialises it
                        continue
                    known = tracker.known(v)
                    if known:
                        raise CheckFailed(f"{name}: {a.name}={v:#010x} is a {known[0]}, "
                                          f"not a {a.type}")
                    raise CheckFailed(f"{name}: unknown {a.type} pointer {v:#010x}")
                elif a.kind == "buffer":
                    if student is not None:
                        continue
                    own("buffer_check")             # off while a student's check runs
                    n = a.length if isinstance(a.length, int) else (
                        args[names.index(a.length)] if a.length in names
                        and names.index(a.length) < len(args) else 0)
                    if not isinstance(n, int) or n <= 0:
                        continue
                    for holder in ("dma", "kmalloc"):
                        obj = tracker.containing(v, holder)
                        if obj is not None and v + n > obj.addr + obj.size:
                            raise CheckFailed(f"{name}: {a.name} length {n} runs past the end "
                                              f"of its {holder} buffer")
                    ok = domain.can_write(v, n) if a.mode != "in" else domain.can_read(v, n)
                    if not ok:
                        what = "write" if a.mode != "in" else "read"
                        raise CheckFailed(f"{name}: {a.name}={v:#010x}+{n} is not memory the "
                                          f"extension may {what}")
                elif a.kind == "callback":
                    if v is not None:
                        args[i] = manager.callback_wrapper(domain, v)
                elif a.kind == "ops":
                    if v is not None:
                        args[i] = manager.ops_wrapper(domain, v)
            if student is not None:
                refused = student(tuple(args), domain)
                if refused:
                    raise CheckFailed(str(refused))

        def track_(addr, tname, args=None, size=0, held=True):
            return self.track(domain, addr, tname, args, size, held)

        def after(args: list, ret, copied: list):
            bound = dict(zip(my_names, args))
            if ret_arg is not None:
                bound[ret_arg.name] = ret
            if released_type is not None and released in bound and bound[released]:
                obj = tracker.find(bound[released], released_type)
                if obj is not None:
                    self.drop(domain, obj)
                    if obj.refs <= 0 and obj in copied:
                        copied.remove(obj)
            if unregisters is not None:
                key = tuple(bound.get(n, 0) for n in my_names if n != "owner")
                obj = tracker.unregister(unregisters, key)
            if undo is not None and (ret is None or (isinstance(ret, int) and ret >= 0)):
                # The undoing call's parameters, by name; one the registration did not take
                # is what it returned (register_sound_dsp -> minor; unregister_sound_dsp(unit)).
                if ret_arg is not None:
                    for n in undo_names:
                        bound.setdefault(n, ret)
                key = tuple(bound.get(n, 0) for n in undo_names)
                reg = TrackedObject(0, types[_registration(name, self.catalog)], 0, bound,
                                    key=key, refs=1)
                tracker.add(reg)
            for obj in copied:
                if tracker.find(obj.copy, obj.type.name) is obj:
                    self.to_copy(domain, obj)
            if created and ret:
                size = bound.get("size", 0)
                if not isinstance(size, int) or size <= 0:
                    size = kheap.ksize(ret) if kheap.owns(ret) else 0
                obj = track_(ret, created, bound, size=size)
                if obj.copy:
                    return obj.copy
            return ret

        def wrapper(*args, **kwargs):
            if kwargs:
                args = _bind(names, args, kwargs)
            if deferred and xpc.frames:
                return defer(list(args))
            previous = xpc.enter_kernel(domain, name)
            try:
                clock.charge(check_cost)
                copied: list = []
                if plan:
                    args = list(args)
                    check_and_translate(args, copied)
                ret = fn(*args)
                if plan or created or undo or unregisters:
                    ret = after(list(args), ret, copied)
                return ret
            except CheckFailed as failure:
                return manager.recovery.check_failed(domain, str(failure), error)
            except _PASS:
                raise
            except (KernelBug, CpuFault) as exc:
                if local:                  # the domain's own heap is corrupt: its failure
                    raise DomainFault("fault", str(exc)) from None
                raise KernelFault(exc) from None
            except Exception as exc:                               # noqa: BLE001
                raise KernelFault(exc) from None
            finally:
                xpc.leave_kernel(domain, previous)

        def defer(args: list):
            copied: list = []
            try:
                check_and_translate(args, copied)
            except CheckFailed as failure:
                return manager.recovery.check_failed(domain, str(failure), error)
            after(args, None, copied)
            xpc.defer_kernel_call(domain, fn, tuple(args))
            return 0

        wrapper.__name__ = f"nooks_w_{name}"
        wrapper.__qualname__ = wrapper.__name__
        if name in IN_DOMAIN:
            return self._in_domain(domain, name, fn, spec)
        if name in PREALLOCATED:
            return self._preallocated(domain, name, fn, wrapper, PREALLOCATED[name],
                                      check_cost, created)
        return wrapper

    def _in_domain(self, domain, name: str, fn, spec):
        """A kernel function run in the caller's domain (interfaces.IN_DOMAIN): no crossing; an
        argument that is a domain copy is replaced by the kernel's object, as a wrapper would.
        Its stores are checked against the domain's page table like the extension's own."""
        copies = domain.tracker.copies
        objects = tuple((i, a.type) for i, a in enumerate(spec.args) if a.kind == "object")

        def in_domain(*args):
            for i, tname in objects:
                v = args[i] if i < len(args) else None
                obj = copies.get(v) if type(v) is int else None
                if obj is not None and obj.type.name == tname:
                    args = args[:i] + (obj.addr,) + args[i + 1:]
            return fn(*args)

        in_domain.__name__ = f"nooks_inline_{name}"
        in_domain.__qualname__ = in_domain.__name__
        return in_domain

    def _preallocated(self, domain, name: str, fn, wrapper, batch: int, check_cost: int,
                      created: str):
        """``name`` served from a cache of objects allocated ``batch`` at a time by one crossing
        (interfaces.PREALLOCATED). The cached objects are tracked and lent to the domain when
        they are allocated (the page tracker's grant needs the kernel, so it happens during the
        refill's crossing); handing one out is the extension's own bookkeeping. A request the
        cache cannot serve (larger than the cached objects) takes the ordinary wrapper."""
        xpc = self.xpc
        clock = self.clock
        cache: list[int] = []
        state = {"length": 0}                 # the size the cached objects were made for
        domain.caches.append(cache)

        def refill(length: int) -> None:
            previous = xpc.enter_kernel(domain, f"{name} x{batch}")
            try:
                clock.charge(check_cost)
                for _ in range(batch):
                    obj = fn(length)
                    if not obj:
                        break
                    tracked = self.track(domain, obj, created, {"length": length}, held=True)
                    tracked.args["_cached"] = cache
                    cache.append(obj)
                if cache:
                    state["length"] = length
                cache.reverse()               # hand out in allocation order
            except _PASS:
                raise
            except Exception as exc:                               # noqa: BLE001
                raise KernelFault(exc) from None
            finally:
                xpc.leave_kernel(domain, previous)

        def preallocated(length, *rest, **kwargs):
            if rest or kwargs or type(length) is not int or length <= 0:
                return wrapper(length, *rest, **kwargs)
            if not cache or length > state["length"]:
                if length > state["length"]:
                    self.drain(domain, cache)
                refill(max(length, state["length"]))
                if not cache:
                    return wrapper(length)
            obj = cache.pop()
            tracked = domain.tracker.find(obj, created)
            if tracked is not None:
                tracked.args.pop("_cached", None)
            return obj

        preallocated.__name__ = f"nooks_w_{name}"
        preallocated.__qualname__ = preallocated.__name__
        return preallocated

    def drain(self, domain, cache: list) -> None:
        """Give every object still in ``cache`` back to the kernel (the extension never saw it)."""
        for obj in list(cache):
            tracked = None
            for candidate in domain.tracker.objects.get(obj, {}).values():
                if candidate.args.get("_cached") is cache:
                    tracked = candidate
            if tracked is not None:
                self.forget(domain, tracked)
            elif obj in cache:
                cache.remove(obj)

    # -- driver wrappers (kernel -> extension) ---------------------------------------------
    def driver_wrapper(self, domain, name: str, fn, member: dict | None):
        """The wrapper the kernel calls instead of extension function ``fn``."""
        xpc = self.xpc
        types = self.types
        tracker = domain.tracker
        clock = self.clock
        check_cost = self.cost.wrapper_check
        args_spec = member["args"] if member else ()
        ret_arg = member["returns"] if member else None
        error = _error_value(ret_arg)
        names = tuple(a.name for a in args_spec)
        plan = [(i, a) for i, a in enumerate(args_spec) if a.kind in ("object", "buffer")]
        keeps = LIVES_ACROSS_CALLS.get(name.rsplit(".", 1)[-1], ())
        untyped = member is None
        self.generated += 1

        def wrapper(*args):
            if domain.failed:
                return error
            clock.charge(check_cost)
            per_call: list = []
            back: list = []
            lent: list = []
            if plan:
                args = list(args)
                for i, a in plan:
                    if i >= len(args) or not args[i]:
                        continue
                    v = args[i] & 0xFFFFFFFF
                    if a.kind == "buffer":
                        n = a.length if isinstance(a.length, int) else (
                            args[names.index(a.length)] if a.length in names else 0)
                        if a.mode != "in" and isinstance(n, int) and n > 0 \
                                and not domain.can_write(v, n):
                            domain.page_grant(v, n)
                            lent.append((v, n))
                        continue
                    ttype = types[a.type]
                    if domain.can_write(v, max(ttype.size, 1)):
                        continue                   # the extension's own memory
                    held = a.name in keeps
                    obj = tracker.find(v, a.type)
                    if obj is None:
                        obj = self.track(domain, v, a.type, held=held)
                        if not held and not obj.copy:
                            per_call.append(obj)   # the per-call table: gone at return
                    else:
                        if held and obj.addr == v:
                            obj.refs += 1
                        if obj.copy:
                            self.to_copy(domain, obj)
                    if obj.copy:
                        args[i] = obj.copy
                        if a.mode != "in":
                            back.append(obj)
            elif untyped and args:
                # A callback has no spec: an argument that is a kernel object the domain
                # works on through a copy is handed over as that copy.
                objects = tracker.objects
                for i, v in enumerate(args):
                    by_type = objects.get(v) if type(v) is int else None
                    if by_type:
                        obj = next((o for o in by_type.values() if o.copy), None)
                        if obj is not None:
                            if type(args) is not list:
                                args = list(args)
                            self.to_copy(domain, obj)
                            args[i] = obj.copy
                            back.append(obj)
            try:
                ret = xpc.nooks_driver_call(domain, name, fn, args, per_call)
            finally:
                if domain.frames == 0 and not domain.destroyed:
                    # Leaving the domain: the deferred copy-back of every copy the extension
                    # changed since the last synchronisation (SOSP'03 4.2).
                    self.copy_back_all(domain)
                else:
                    for obj in back:
                        if not domain.destroyed and tracker.find(obj.copy, obj.type.name) is obj:
                            self.to_kernel(domain, obj)
                for obj in per_call:
                    if not domain.destroyed and obj.refs <= 0:
                        self.forget(domain, obj)
                for v, n in lent:
                    if not domain.destroyed:
                        domain.page_revoke(v, n)
            if ret is ABORTED:
                return error
            if ret and ret_arg is not None and ret_arg.kind == "object":
                obj = tracker.find(ret, ret_arg.type)
                if obj is not None and obj.copy == ret:
                    return obj.addr
            return ret

        wrapper.__name__ = f"nooks_dw_{name}"
        wrapper.__qualname__ = wrapper.__name__
        wrapper.__wrapped__ = fn
        return wrapper

    def ops_table(self, domain, table):
        """A copy of ops table ``table`` whose members are driver wrappers (dataclasses.replace)."""
        iface = self.catalog.ops.get(getattr(type(table), "c_name", ""))
        members = iface.members if iface is not None else {
            f.name: dict(f.metadata) for f in dataclasses.fields(table)}
        changes = {}
        for field_name, member in members.items():
            fn = getattr(table, field_name)
            if fn is not None:
                changes[field_name] = self.driver_wrapper(
                    domain, f"{type(table).c_name}.{field_name}" if iface else field_name,
                    fn, member if member.get("args") is not None else None)
        return dataclasses.replace(table, **changes)


def _error_value(ret_arg):
    """What an aborted or refused call returns: -EIO for a status, NULL for a pointer."""
    if ret_arg is None:
        return None
    if ret_arg.kind == "object":
        return 0
    return -errno.EIO if ret_arg.name in ("ret", "status", "err") else -errno.EINVAL


def _arg_type(spec, name: str) -> str:
    arg = next(a for a in spec.args if a.name == name)
    return arg.type


def _registration(name: str, catalog) -> str:
    from .interfaces import _registration_type
    return _registration_type(name)


def _bind(names: tuple, args: tuple, kwargs: dict) -> tuple:
    values = list(args)
    for n in names[len(args):]:
        if n in kwargs:
            values.append(kwargs.pop(n))
        else:
            break
    if kwargs:
        raise TypeError(f"unexpected arguments {sorted(kwargs)}")
    return tuple(values)
