"""``struct sk_buff`` in simulated memory, and the socket-buffer functions drivers call.

Every sk_buff lives alone on one page of a *dedicated* pool (its own page owner, "skb"): the
``sk_buff`` head at the start of the page, its data buffer in the rest. No other kernel object
shares those pages, so the Nooks page tracker can grant a driver's domain write access to exactly
the buffers it holds (SOSP'03 section 4.2: "kernel buffers it currently holds (socket buffers)").
The kernel remembers who holds each skb (a driver after ``dev_alloc_skb`` or ``ndo_start_xmit``,
the kernel after ``netif_rx``), so an unload can list the buffers a driver leaked.
"""
from __future__ import annotations

import struct

from ...machine.memory import PAGE_SIZE
from ..panic import KernelBug
from ..structs import Layout
from ..symbols import buf, export, obj, scalar

SK_BUFF = Layout("sk_buff", [
    ("next", "ptr"), ("prev", "ptr"), ("dev", "ptr"), ("head", "ptr"), ("data", "ptr"),
    ("tail", "ptr"), ("end", "ptr"), ("len", "u32"), ("protocol", "u16"), ("pkt_type", "u16"),
    ("users", "u32"), ("magic", "u32"),
    # the sk_buff_head the skb is queued on (NULL when on none), its socket, and TCP's
    # TCP_SKB_CB(skb)->seq / end_seq (kept in skb->cb[] in Linux)
    ("list", "ptr"), ("sk", "ptr"), ("seq", "u32"), ("end_seq", "u32"),
])
_HEAD = struct.Struct("<7IIHHII4I4x")
assert _HEAD.size == 64 and SK_BUFF.magic == 40 and SK_BUFF.size <= _HEAD.size
# field offsets as plain module constants (the skb functions below are on every packet's path)
_DATA, _TAIL, _END, _LEN, _MAGIC, _LIST = (SK_BUFF.data, SK_BUFF.tail, SK_BUFF.end, SK_BUFF.len,
                                           SK_BUFF.magic, SK_BUFF.list)
SKB_HEAD_ROOM = 64                   # the sk_buff head occupies the first 64 bytes of its page
SKB_MAX_ALLOC = PAGE_SIZE - SKB_HEAD_ROOM
SKB_MAGIC = 0x5CB0F00D               # checked by every skb function (like slab's red zones)
SKB_DEAD = 0xDEADB0F0
DEV_ALLOC_RESERVE = 16               # dev_alloc_skb's headroom, as in Linux 2.4
PACKET_HOST, PACKET_BROADCAST, PACKET_OTHERHOST = 0, 1, 3
PCI_DMA_TODEVICE, PCI_DMA_FROMDEVICE = 1, 2


class SkbPool:
    """Pages for sk_buffs, owned by their own page owner and reused through a free list."""

    def __init__(self, pages):
        self.pages = pages
        self.owner = pages.new_owner("skb")
        self.free: list[int] = []
        self.total = 0

    def get(self) -> int:
        if not self.free:
            self.free.append(self.pages.alloc(1, self.owner))
            self.total += 1
        return self.free.pop()

    def put(self, page: int) -> None:
        self.free.append(page)


class SkbFunctions:
    """Mixin of the net subsystem: the ``sk_buff`` functions (``net/core/skbuff.c``)."""

    def _skb_init(self, kernel) -> None:
        self.pool = SkbPool(kernel.machine.pages)
        self.skb_owner: dict[int, str] = {}
        kernel.object_types[SK_BUFF.name] = SK_BUFF

    # -- kernel-internal ------------------------------------------------------------------
    def alloc_skb(self, size: int, owner: str = "kernel", charge: bool = True) -> int:
        """An skb with ``size`` bytes of room; 0 if ``size`` is too large. ``charge=False``
        for socket-buffer skbs whose cost the per-segment TCP constants already include."""
        if size < 0 or size > SKB_MAX_ALLOC:
            return 0
        k = self.k
        if charge:
            cycles = k.cost.skb_alloc
            clock = k.clock                    # Kernel.charge, inlined (every skb comes here)
            clock.now += cycles
            clock.busy += cycles
        pool = self.pool
        page = pool.free.pop() if pool.free else pool.get()     # SkbPool.get, inlined
        skb = page
        head = page + SKB_HEAD_ROOM
        # the whole head in one store: next, prev, dev, head, data, tail, end, len,
        # protocol, pkt_type, users, magic, list, sk, seq, end_seq
        k.mmu.write(skb, _HEAD.pack(0, 0, 0, head, head, head, page + PAGE_SIZE, 0, 0, 0, 1,
                                    SKB_MAGIC, 0, 0, 0, 0))
        self.skb_owner[skb] = owner
        return skb

    # The kernel knows an skb by what its memory says: a pointer that is none (a wild one, one
    # read from a corrupted queue) faults on the first load through it, or fails the magic check
    # (a BUG, like slab's red zones). ``skb_owner`` is accounting (who holds what), not a check.
    def check_skb(self, skb: int) -> None:
        if self.k.mmu.ld32(skb + _MAGIC) != SKB_MAGIC:
            raise KernelBug(f"bad sk_buff {skb:#010x} (freed, corrupted or never allocated)")

    def kfree_skb(self, skb: int, charge: bool = True) -> None:
        skb &= 0xFFFFFFFF
        k = self.k
        m = k.mmu
        magic = m.ld32(skb + _MAGIC)
        if magic != SKB_MAGIC:
            what = "double free" if magic == SKB_DEAD else "freed, corrupted or never allocated"
            raise KernelBug(f"kfree_skb: {skb:#010x} is not a live sk_buff ({what})")
        if m.ld32(skb + _LIST):
            # Linux 2.4's __kfree_skb: "Warning: kfree_skb passed an skb still on a list", BUG()
            raise KernelBug(f"kfree_skb: {skb:#010x} is still on a list")
        if charge:
            k.charge(k.cost.skb_free)
        m.st32(skb + _MAGIC, SKB_DEAD)
        self.skb_owner.pop(skb, None)
        if k.isolation is not None:            # Nooks hook: tell the tracker it is gone
            k.isolation.object_freed("sk_buff", skb)
        self.pool.put(skb)

    def skb_push(self, skb: int, n: int) -> int:
        m = self.k.mmu
        data = m.ld32(skb + SK_BUFF.data) - n
        if data < m.ld32(skb + SK_BUFF.head):
            raise KernelBug(f"skb_under_panic: {skb:#010x} push {n}")
        m.st32(skb + SK_BUFF.data, data)
        m.st32(skb + SK_BUFF.len, m.ld32(skb + SK_BUFF.len) + n)
        return data

    def skb_pull(self, skb: int, n: int) -> int:
        m = self.k.mmu
        length = m.ld32(skb + SK_BUFF.len)
        if n > length:
            return 0
        data = m.ld32(skb + SK_BUFF.data) + n
        m.st32(skb + SK_BUFF.data, data)
        m.st32(skb + SK_BUFF.len, length - n)
        return data

    def skb_payload(self, skb: int) -> bytes:
        m = self.k.mmu
        return m.read(m.ld32(skb + SK_BUFF.data), m.ld32(skb + SK_BUFF.len))

    # -- exported to drivers --------------------------------------------------------------
    @export(scalar("length"), returns=obj("skb", "sk_buff", "out", nullable=True),
            creates="sk_buff", owned=True)
    def dev_alloc_skb(self, length: int, owner: str = "kernel") -> int:
        """An sk_buff with ``length`` bytes of room after 16 bytes of headroom; 0 if none."""
        k = self.k
        cycles = k.cost.kernel_call
        clock = k.clock                        # Kernel.charge, inlined
        clock.now += cycles
        clock.busy += cycles
        skb = self.alloc_skb(length + DEV_ALLOC_RESERVE, owner)
        if skb:
            self.skb_reserve(skb, DEV_ALLOC_RESERVE)
        return skb

    @export(obj("skb", "sk_buff"), releases="skb")
    def dev_kfree_skb(self, skb: int) -> None:
        """Free an sk_buff (process or softirq context)."""
        self.k.charge(self.k.cost.kernel_call)
        self.kfree_skb(skb)

    @export(obj("skb", "sk_buff"), releases="skb")
    def dev_kfree_skb_irq(self, skb: int) -> None:
        """Free an sk_buff from an interrupt handler (Linux queues it for the softirq)."""
        self.k.charge(self.k.cost.kernel_call)
        self.kfree_skb(skb)

    @export(obj("skb", "sk_buff"), releases="skb")
    def dev_kfree_skb_any(self, skb: int) -> None:
        """Free an sk_buff from any context."""
        self.k.charge(self.k.cost.kernel_call)
        self.kfree_skb(skb)

    # skb_put and skb_reserve are static inlines in Linux 2.4's <linux/skbuff.h>: a driver that
    # calls them makes no call into the kernel at all, so under Nooks they cost no XPC. They
    # touch only the skb (its own page, head and data), which the page tracker lends to the
    # domain while the extension holds it: linked straight into the domain (xpc=False), a call
    # on an skb the extension does not hold faults on its first store, inside the domain.
    @export(obj("skb", "sk_buff", "inout"), scalar("len"), returns=scalar("tail"), xpc=False)
    def skb_put(self, skb: int, len: int) -> int:
        """Extend the data area by ``len`` bytes at the tail; returns the old tail."""
        self.check_skb(skb)
        m = self.k.mmu
        ld32 = m.ld32
        st32 = m.st32
        tail = ld32(skb + _TAIL)
        if len < 0 or tail + len > ld32(skb + _END):
            raise KernelBug(f"skb_over_panic: {skb:#010x} put {len} at {tail:#010x}")
        st32(skb + _TAIL, tail + len)
        st32(skb + _LEN, ld32(skb + _LEN) + len)
        return tail

    @export(obj("skb", "sk_buff", "inout"), scalar("len"), xpc=False)
    def skb_reserve(self, skb: int, len: int) -> None:
        """Move an empty skb's data and tail ``len`` bytes on (headroom, e.g. to align IP)."""
        # check_skb, inlined: the same lookup and the same load, in the same order
        m = self.k.mmu
        ld32 = m.ld32
        if ld32(skb + _MAGIC) != SKB_MAGIC:
            raise KernelBug(f"bad sk_buff {skb:#010x} (freed, corrupted or never allocated)")
        data = ld32(skb + _DATA) + len
        if len < 0 or data > ld32(skb + _END):
            raise KernelBug(f"skb_over_panic: {skb:#010x} reserve {len}")
        st32 = m.st32
        st32(skb + _DATA, data)
        st32(skb + _TAIL, ld32(skb + _TAIL) + len)

    # pci_map_single/pci_unmap_single are static inlines on Linux 2.4/i386 (virt_to_bus): they
    # touch no memory, so Nooks can link them straight into a domain (no crossing).
    @export(obj("pdev", "pci_dev", nullable=True), buf("ptr", "size"), scalar("size"),
            scalar("direction"), returns=scalar("dma"), xpc=False)
    def pci_map_single(self, pdev: int, ptr: int, size: int, direction: int) -> int:
        """The bus address a device uses for ``ptr`` (identity: no IOMMU, as on the paper's PC)."""
        k = self.k
        cycles = k.cost.kernel_call
        clock = k.clock                        # Kernel.charge, inlined
        clock.now += cycles
        clock.busy += cycles
        return ptr & 0xFFFFFFFF

    @export(obj("pdev", "pci_dev", nullable=True), scalar("dma"), scalar("size"),
            scalar("direction"), xpc=False)
    def pci_unmap_single(self, pdev: int, dma: int, size: int, direction: int) -> None:
        """Undo pci_map_single (nothing to do without an IOMMU)."""
        self.k.charge(self.k.cost.kernel_call)

    def skb_held_by(self, owner: str) -> list[str]:
        return [f"sk_buff at {a:#010x}" for a, o in sorted(self.skb_owner.items()) if o == owner]
