"""The run-time half of each fault: the hook bound in the loaded driver's namespace.

The module loader calls :func:`arm` for each fault after it has linked the driver's imports. The
hook does what the fault's type says (see :mod:`nookslab.faults.types`) and records the fault's
first activation as a ``"fault"`` event in ``kernel.events``. Counters live in the hook's closure,
so each load of a module starts them afresh, as a reloaded binary would.
"""
from __future__ import annotations

import numpy as np

from ..graded import own
from .injector import ALLOCATORS
from .types import STALE_WORDS, Fault

_RETURNS_VALUE = ("spin_lock_irqsave", "down_interruptible")
_RESTORE_WITH_FLAGS = ("spin_unlock_irqrestore", "read_unlock_irqrestore",
                       "write_unlock_irqrestore")


def flip(value, bit: int):
    """``value`` with bit ``bit`` flipped: ints as two's-complement words, bytes bytewise.

    Other values (None, a function) pass unchanged: there is no bit of them to flip in our model.
    """
    if isinstance(value, int):
        return int(value) ^ (1 << bit)
    if isinstance(value, (bytes, bytearray)) and value:
        data = bytearray(value)
        data[(bit // 8) % len(data)] ^= 1 << (bit % 8)
        return bytes(data)
    return value


def arm(fault: Fault, kernel, module) -> None:
    """Bind ``fault``'s hook in ``module``'s namespace (and, for HEAP, schedule the flip).
    Switched off while a student's fault type arms a driver (:mod:`nookslab.graded`)."""
    own("fault")
    ns = module.namespace
    active = []

    def hit(detail: str = "") -> None:
        if not active:
            active.append(True)
            kernel.events.add("fault", module.name, f"{fault} activated{detail}")

    def kernel_function(name: str):
        fn = ns.get(name)
        if fn is None:
            fn = kernel.linker.resolve(module, name)
        return fn

    if fault.type == "HEAP":
        allocation_log(module)                   # from load on: init's blocks count too
        delay = kernel.clock.cycles(fault.count * 1e-6)
        kernel.clock.schedule(delay, lambda: _heap_flip(fault, kernel, module, hit),
                              label=f"fault {fault.type}")
        return
    ns[fault.hook] = make_hook(fault, hit, ns, kernel_function)


def make_hook(fault: Fault, hit, ns: dict, kernel_function):
    kind, bit, count = fault.type, fault.bit, fault.count
    calls = [0]

    if kind in ("TEXT", "SRC", "DST", "PTR"):
        def hook(value):
            hit()
            return flip(value, bit)
    elif kind == "STACK":
        def hook(value):
            calls[0] += 1
            if calls[0] != count:
                return value
            hit(f" (execution {count})")
            return flip(value, bit)
    elif kind == "BRANCH":
        def hook(test):
            hit()
            return bit == 0
    elif kind == "LOOP":
        def hook(test):
            hit()
            return not test
    elif kind in ("NOP", "INIT"):
        def hook(*values):
            hit()
    elif kind == "INTERFACE":
        def hook(stale):
            hit()
            return stale
    elif kind == "IRQ":
        def hook(callee, *args):
            hit()
            if callee in _RESTORE_WITH_FLAGS:
                return ns[callee](args[0], 0)            # released, interrupts not restored
            if callee == "spin_unlock_irq":
                return kernel_function("spin_unlock")(args[0])
            return None                                  # the restore/enable itself is gone
    elif kind == "SYNC":
        def hook(callee, *args):
            hit()
            return STALE_WORDS[fault.where % len(STALE_WORDS)] if callee in _RETURNS_VALUE \
                else None
    elif kind == "ALLOC":
        def hook(callee, *args):
            calls[0] += 1
            if calls[0] % max(count, 1) == 0:
                hit(f" (call {calls[0]})")
                return 0
            return ns[callee](*args)
    elif kind == "FREE":
        def hook(callee, *args):
            calls[0] += 1
            due = calls[0] >= count and (calls[0] - count) % 2 == 0
            if callee in ALLOCATORS:
                block = ns[callee](*args)
                if due and block:
                    hit(" (early free)")
                    kernel_function(ALLOCATORS[callee])(block)
                return block
            if calls[0] < count:
                return ns[callee](*args)
            if due:
                hit(" (double free)")
                ns[callee](*args)
                return ns[callee](*args)
            return None                                  # the alternate: a skipped free
    elif kind == "MEM_LEAK":
        def hook(callee, *args):
            calls[0] += 1
            if calls[0] < count:
                return ns[callee](*args)
            hit()
            return None
    elif kind == "BCOPY":
        from .injector import COPY_LENGTH_ARG

        def hook(callee, *args):
            args = list(args)
            index = COPY_LENGTH_ARG[callee]
            if isinstance(args[index], int):
                hit()
                args[index] += count
            return ns[callee](*args)
    elif kind == "USERPTR":
        def hook(callee, to, src, n):
            hit()
            kernel_function("memcpy")(to, src, n)        # a plain dereference: nothing checked
            return 0
    else:                                                # pragma: no cover - types are checked
        raise ValueError(f"no hook for fault type {kind}")
    return hook


#: The driver's own allocation routines whose blocks HEAP faults may hit (argument index of the
#: size), and the routines that give them back (argument index of the address). The net_device
#: alloc_etherdev makes is the kernel's structure, and skbs are the network stack's: neither is
#: a target, so the candidates are the same in every configuration.
ALLOCATION_CALLS = {"kmalloc": 0, "pci_alloc_consistent": 1}
RELEASE_CALLS = {"kfree": 0, "pci_free_consistent": 2}
_LOG = "__nookslab_allocations__"


def allocation_log(module) -> list[list]:
    """The driver's live allocations, ``[address, size, routine]`` in the order it made them.

    Recorded by hooking the allocation routines bound in the driver's namespace (as the paper's
    injector hooked the allocator), so the list is what the driver itself asked for: the same
    blocks, in the same order, natively (kernel heap) and under Nooks (its domain's heap).
    """
    ns = module.namespace
    log = ns.get(_LOG)
    if log is not None:
        return log
    log = []
    ns[_LOG] = log
    for name, index in ALLOCATION_CALLS.items():
        if callable(ns.get(name)):
            ns[name] = _recording_alloc(ns[name], name, index, log)
    for name, index in RELEASE_CALLS.items():
        if callable(ns.get(name)):
            ns[name] = _recording_free(ns[name], index, log)
    return log


def _recording_alloc(fn, name: str, index: int, log: list):
    def alloc(*args, **kwargs):
        addr = fn(*args, **kwargs)
        size = args[index] if index < len(args) else None
        if type(addr) is int and addr and type(size) is int and size > 0:
            log.append([addr & 0xFFFFFFFF, size, name])
        return addr
    alloc.__name__ = name
    return alloc


def _recording_free(fn, index: int, log: list):
    def release(*args, **kwargs):
        if index < len(args) and type(args[index]) is int:
            addr = args[index] & 0xFFFFFFFF
            for i, entry in enumerate(log):
                if entry[0] == addr:
                    del log[i]
                    break
        return fn(*args, **kwargs)
    release.__name__ = getattr(fn, "__name__", "free")
    return release


def _heap_flip(fault: Fault, kernel, module, hit) -> None:
    """Flip one bit at a random 16-byte-aligned offset of one of the driver's live blocks."""
    if kernel.verdict is not None:
        return
    blocks = allocation_log(module)
    if not blocks:
        kernel.events.add("fault", module.name, f"{fault}: no allocation of the driver to corrupt")
        return
    rng = np.random.default_rng(fault.where)
    index = int(rng.integers(len(blocks)))
    addr, size, routine = blocks[index]
    offset = min((int(rng.integers(size)) & ~15) + fault.bit // 8, size - 1)
    byte = addr + offset
    memory = kernel.machine.memory
    if byte < memory.size:
        memory.data[byte] ^= 1 << (fault.bit % 8)
    hit(f" (bit {fault.bit % 8} of byte {offset:#x} of allocation {index + 1} of {len(blocks)}: "
        f"{routine} {size} bytes; at {byte:#010x})")


def writable_blocks(kernel, module) -> list[tuple[int, int]]:
    """The driver's own live allocations (kmalloc blocks and DMA buffers), (address, size) in
    the order it made them: what a HEAP fault may hit."""
    return [(a, s) for a, s, _ in allocation_log(module)]
