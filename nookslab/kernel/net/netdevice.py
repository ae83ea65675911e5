"""``struct net_device``, its ``net_device_ops`` and device registration (``net/core/dev.c``).

A driver allocates its net_device (with its private area behind it) with ``alloc_etherdev``,
fills in what Linux drivers fill in (``base_addr``, ``irq``, ``dev_addr``, ``watchdog_timeo``) and
registers it with its :class:`NetDeviceOps`. The kernel then calls ``ndo_open`` when the interface
is brought up, ``ndo_start_xmit`` for every packet (see :mod:`.dev`), ``ndo_tx_timeout`` from its
watchdog when a stopped queue does not move, and ``ndo_stop`` when it goes down.

As in Linux 2.4, the registered devices are the ``dev_base`` chain in simulated memory, linked
through each net_device's ``next``; every lookup (by name, by route, the transmit softirq) walks
that chain, and a device's state (up or down, its queue, its address) is read from its
net_device. The kernel's Python-side :class:`NetDevice` records are caches keyed by address: the
device's ops table (our function pointers), who registered it (accounting), its watchdog event.
A corrupted ``next`` therefore sends the walk into whatever memory it names.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .. import errno
from ..panic import KernelBug
from ..structs import Layout
from ..symbols import buf, export, obj, op, ops, ops_table, scalar
from ...machine.mmu import PageFault
from .skbqueue import SK_BUFF_HEAD, SkbQueue, skb_dequeue

NET_DEVICE = Layout("net_device", [
    ("name", 16), ("base_addr", "u32"), ("irq", "u32"), ("mtu", "u32"), ("flags", "u32"),
    ("state", "u32"), ("priv", "ptr"), ("dev_addr", 8), ("addr_len", "u32"),
    ("trans_start", "u32"), ("watchdog_timeo", "u32"), ("tx_queue_len", "u32"),
    ("ifindex", "u32"), ("magic", "u32"),
    # the kernel's own fields: the dev_base chain, the device's queueing discipline, its IPv4
    # configuration (struct in_device) and its registration state
    ("next", "ptr"), ("qdisc", "ptr"), ("ip_ptr", "ptr"), ("reg_state", "u32"),
])
NET_DEVICE_STATS = Layout("net_device_stats", [
    ("rx_packets", "u32"), ("tx_packets", "u32"), ("rx_bytes", "u32"), ("tx_bytes", "u32"),
    ("rx_errors", "u32"), ("tx_errors", "u32"), ("rx_dropped", "u32"), ("tx_dropped", "u32"),
    ("multicast", "u32"), ("collisions", "u32"), ("rx_crc_errors", "u32"),
    ("rx_missed_errors", "u32"),
])
#: Fields of net_device only the kernel writes; Nooks' wrappers never copy a driver's version
#: of them back (the paper's wrapper bodies know "which fields may be modified").
NET_DEVICE_KERNEL_FIELDS = ("next", "qdisc", "ip_ptr", "reg_state", "magic")
NETREG_UNINITIALIZED, NETREG_REGISTERED, NETREG_UNREGISTERED = 0, 1, 2
#: ``struct Qdisc`` (net/pkt_sched.h), one band: its enqueue/dequeue function pointers and its
#: queue of packets waiting for the driver (pfifo, limited by the device's ``tx_queue_len``).
QDISC = Layout("Qdisc", [("enqueue", "ptr"), ("dequeue", "ptr"), ("flags", "u32"),
                         ("handle", "u32"), ("q", SK_BUFF_HEAD.size), ("dev", "ptr")])
#: ``struct softnet_data``: the NET_RX softirq's input queue (what netif_rx fills).
SOFTNET_DATA = Layout("softnet_data", [("throttle", "u32"), ("cng_level", "u32"),
                                       ("avg_blog", "u32"),
                                       ("input_pkt_queue", SK_BUFF_HEAD.size),
                                       ("completion_queue", "ptr"), ("output_queue", "ptr")])
#: The net stack's static data (Linux keeps it in .data/.bss): ``dev_base``, ``softnet_data``
#: and the raw-socket table's one chain (every raw socket here is ICMP).
NET_STATICS = Layout("net_statics", [("dev_base", "ptr"), ("softnet_data", SOFTNET_DATA.size),
                                     ("raw_v4_htable", "ptr")])
NET_STATICS_DEV_BASE = NET_STATICS.dev_base
NETDEV_MAGIC = 0x4E455444
NETDEV_ALIGN = 32
# dev->state bits (Linux 2.4 <linux/netdevice.h>)
LINK_STATE_XOFF, LINK_STATE_START, LINK_STATE_PRESENT, LINK_STATE_NOCARRIER = 1, 2, 4, 8
IFF_UP, IFF_BROADCAST, IFF_RUNNING, IFF_PROMISC, IFF_ALLMULTI, IFF_MULTICAST = (
    0x1, 0x2, 0x40, 0x100, 0x200, 0x1000)
ETH_P_IP = 0x0800
TX_QUEUE_LEN = 100
SIOCGMIIPHY, SIOCGMIIREG = 0x8947, 0x8948
IFREQ_SIZE = 32


@ops_table("net_device_ops")
@dataclass(frozen=True)
class NetDeviceOps:
    """``struct net_device``'s driver methods (Linux 2.4 keeps them in the net_device itself)."""

    ndo_open: Callable | None = op(obj("dev", "net_device", "inout"), returns=scalar("ret"))
    ndo_stop: Callable | None = op(obj("dev", "net_device", "inout"), returns=scalar("ret"))
    ndo_start_xmit: Callable | None = op(obj("skb", "sk_buff", "inout"),
                                         obj("dev", "net_device", "inout"),
                                         returns=scalar("busy"), context="interrupt")
    ndo_tx_timeout: Callable | None = op(obj("dev", "net_device", "inout"), context="interrupt")
    ndo_get_stats: Callable | None = op(obj("dev", "net_device"),
                                        returns=obj("stats", "net_device_stats"))
    ndo_set_multicast_list: Callable | None = op(obj("dev", "net_device", "inout"))
    ndo_set_mac_address: Callable | None = op(obj("dev", "net_device", "inout"),
                                              buf("addr", 16), returns=scalar("ret"))
    ndo_do_ioctl: Callable | None = op(obj("dev", "net_device", "inout"),
                                       buf("ifr", IFREQ_SIZE, "inout"), scalar("cmd"),
                                       returns=scalar("ret"))


class NetDevice:
    """The kernel's cache of one registered net_device: what C keeps as function pointers (the
    ops table), who registered it and the watchdog's clock event. Name, state, queue and address
    are properties that read the net_device in simulated memory."""

    __slots__ = ("net", "addr", "ops", "owner", "label", "tx_timeouts", "watchdog")

    def __init__(self, net, addr: int, ops: NetDeviceOps, owner: str, label: str):
        self.net = net
        self.addr = addr
        self.ops = ops
        self.owner = owner
        self.label = label          # its name when registered, for messages only
        self.tx_timeouts = 0
        self.watchdog = None

    @property
    def name(self) -> str:
        raw = self.net.k.mmu.read(self.addr + NET_DEVICE.name, 16)
        return raw.split(b"\0", 1)[0].decode("ascii", "replace")

    @name.setter
    def name(self, value: str) -> None:
        self.net.k.mmu.write(self.addr + NET_DEVICE.name, value.encode()[:15].ljust(16, b"\0"))
        self.label = value

    @property
    def up(self) -> bool:
        return bool(self.net.k.mmu.ld32(self.addr + NET_DEVICE.flags) & IFF_UP)

    @property
    def ip(self) -> int:
        """The interface's IPv4 address (its first ``in_ifaddr``), 0 if it has none."""
        return self.net.dev_ipaddr(self.addr)

    @property
    def qdisc(self) -> SkbQueue:
        """The device's transmit queue (its qdisc's ``sk_buff_head``)."""
        k = self.net.k
        return SkbQueue(k.mmu, k.cpu, k.mmu.ld32(self.addr + NET_DEVICE.qdisc) + QDISC.q)

    def __repr__(self) -> str:
        return f"<net_device {self.label} at {self.addr:#010x} ({self.owner})>"


class NetDeviceFunctions:
    """Mixin of the net subsystem: net_device allocation, the dev_base chain, queue state,
    open/close and the transmit watchdog."""

    def _dev_init(self, kernel) -> None:
        self.netdevs: dict[int, NetDevice] = {}         # cache: registered, by address
        self.allocated: dict[int, str] = {}             # accounting: alloc_etherdev'd, by whom
        for layout in (NET_DEVICE, NET_DEVICE_STATS):
            kernel.object_types[layout.name] = layout

    # -- the dev_base chain -----------------------------------------------------------------
    def dev_list(self) -> list[int]:
        """The addresses on the dev_base chain, walked in memory (one CPU step per device)."""
        m = self.k.mmu
        step = self.k.cpu.step
        out = []
        dev = m.ld32(self.statics + NET_STATICS_DEV_BASE)
        while dev:
            step()
            out.append(dev)
            dev = m.ld32(dev + NET_DEVICE.next)
        return out

    def nd_of(self, dev: int) -> NetDevice:
        """The cached record of the device at ``dev``. An address on the chain that no driver
        registered is not a net_device: calling its methods jumps through garbage (an oops)."""
        nd = self.netdevs.get(dev)
        if nd is None:
            raise PageFault(dev, "exec", self.k.mmu.domain)
        return nd

    def devices(self) -> list[NetDevice]:
        return [self.nd_of(dev) for dev in self.dev_list()]

    def by_name(self, name: str):
        m = self.k.mmu
        key = name.encode()[:15].ljust(16, b"\0")
        for dev in self.dev_list():
            if m.read(dev + NET_DEVICE.name, 16) == key:
                return self.nd_of(dev)
        return None

    def by_owner(self, owner: str):
        for dev in self.dev_list():
            nd = self.netdevs.get(dev)
            if nd is not None and nd.owner == owner:
                return nd
        return None

    # -- allocation and registration -------------------------------------------------------
    @export(scalar("sizeof_priv"), returns=obj("dev", "net_device", "out", nullable=True),
            creates="net_device", owned=True)
    def alloc_etherdev(self, sizeof_priv: int, owner: str = "kernel") -> int:
        """A zeroed net_device with ``sizeof_priv`` private bytes after it (``dev->priv``)."""
        k = self.k
        k.charge(k.cost.kernel_call * 3)
        if sizeof_priv < 0 or sizeof_priv > 64 * 1024:
            return 0
        total = NETDEV_ALIGN * ((NET_DEVICE.size + NETDEV_ALIGN - 1) // NETDEV_ALIGN) + sizeof_priv
        dev = k.heap.kmalloc(total, owner)
        if not dev:
            return 0
        m = k.mmu
        m.fill(dev, 0, total)
        m.st32(dev + NET_DEVICE.priv, dev + total - sizeof_priv)
        m.st32(dev + NET_DEVICE.mtu, 1500)
        m.st32(dev + NET_DEVICE.addr_len, 6)
        m.st32(dev + NET_DEVICE.flags, IFF_BROADCAST | IFF_MULTICAST)
        m.st32(dev + NET_DEVICE.tx_queue_len, TX_QUEUE_LEN)
        m.st32(dev + NET_DEVICE.state, LINK_STATE_PRESENT | LINK_STATE_XOFF)
        m.st32(dev + NET_DEVICE.magic, NETDEV_MAGIC)
        self.allocated[dev] = owner
        return dev

    @export(obj("dev", "net_device"), releases="dev")
    def free_netdev(self, dev: int) -> None:
        """Free a net_device from alloc_etherdev (after unregister_netdev)."""
        if self.k.isolation is not None:         # Nooks hook: the tracker knows registrations
            self.k.isolation.check_unregistered("net_device", dev)
        # BUG_ON(dev->reg_state == NETREG_REGISTERED), as Linux's free_netdev; a pointer that is
        # no net_device at all is the slab's to catch (kfree), as in Linux 2.4's kfree(dev)
        if self.k.mmu.ld32(dev + NET_DEVICE.reg_state) == NETREG_REGISTERED:
            raise KernelBug(f"free_netdev of registered device {dev:#010x}")
        self.allocated.pop(dev, None)
        self.k.heap.kfree(dev)

    @export(obj("dev", "net_device", "inout"), ops("ops", "net_device_ops"),
            returns=scalar("ret"), owned=True)
    def register_netdev(self, dev: int, ops: NetDeviceOps, owner: str = "kernel") -> int:
        """Name the device ``ethN``, give it a queue and link it at the tail of dev_base;
        0, or -EINVAL / -EEXIST / -ENOMEM."""
        k = self.k
        k.charge(k.cost.kernel_call * 4)
        m = k.mmu
        if ops is None or ops.ndo_start_xmit is None or \
                m.ld32(dev + NET_DEVICE.magic) != NETDEV_MAGIC:
            return -errno.EINVAL
        if m.ld32(dev + NET_DEVICE.reg_state) == NETREG_REGISTERED:
            return -errno.EEXIST
        names = set()
        link = self.statics + NET_STATICS_DEV_BASE     # register_netdevice: walk to the tail
        d = m.ld32(link)
        while d:
            k.cpu.step()
            names.add(m.read(d + NET_DEVICE.name, 16))
            link = d + NET_DEVICE.next
            d = m.ld32(link)
        index = 0
        while f"eth{index}".encode().ljust(16, b"\0") in names:
            index += 1
        name = f"eth{index}"
        q = self.qdisc_create(dev)
        if not q:
            return -errno.ENOMEM
        m.write(dev + NET_DEVICE.name, name.encode().ljust(16, b"\0"))
        m.st32(dev + NET_DEVICE.ifindex, index + 2)
        m.st32(dev + NET_DEVICE.qdisc, q)
        m.st32(dev + NET_DEVICE.next, 0)
        m.st32(dev + NET_DEVICE.reg_state, NETREG_REGISTERED)
        m.st32(link, dev)
        self.netdevs[dev] = NetDevice(self, dev, ops, owner, name)
        k.events.add("register", owner, f"netdev {name}")
        return 0

    @export(obj("dev", "net_device", "inout"))
    def unregister_netdev(self, dev: int) -> None:
        """Close the device if it is up, unlink it from dev_base and destroy its queue."""
        k = self.k
        m = k.mmu
        link = self.statics + NET_STATICS_DEV_BASE
        d = m.ld32(link)
        while d and d != dev:
            k.cpu.step()
            link = d + NET_DEVICE.next
            d = m.ld32(link)
        if not d:
            # Linux: "unregister_netdevice: device %s/%p never was registered"
            k.events.add("warning", "net", f"unregister_netdev of unknown {dev:#010x}")
            return
        nd = self.nd_of(dev)
        if nd.up:
            self.dev_close(nd)
        m.st32(link, m.ld32(dev + NET_DEVICE.next))
        m.st32(dev + NET_DEVICE.next, 0)
        m.st32(dev + NET_DEVICE.reg_state, NETREG_UNREGISTERED)
        del self.netdevs[dev]
        self.dst_ifdown(dev)
        self.dev_ip_release(dev)
        q = m.ld32(dev + NET_DEVICE.qdisc)
        m.st32(dev + NET_DEVICE.qdisc, 0)
        self.qdisc_destroy(q)

    def replace_ops(self, dev: int, ops: NetDeviceOps) -> None:
        """Used by Nooks when it substitutes a table of wrappers."""
        self.nd_of(dev).ops = ops

    # -- queue state (static inlines in Linux 2.4; the read-only ones need no crossing) ------
    def _state(self, dev: int) -> int:
        return self.k.mmu.ld32(dev + NET_DEVICE.state)

    def _set_state(self, dev: int, bits: int, on: bool) -> None:
        s = self._state(dev)
        self.k.mmu.st32(dev + NET_DEVICE.state, s | bits if on else s & ~bits)

    @export(obj("dev", "net_device", "inout"))
    def netif_start_queue(self, dev: int) -> None:
        """Allow the kernel to call ndo_start_xmit."""
        self._set_state(dev, LINK_STATE_XOFF, False)

    @export(obj("dev", "net_device", "inout"))
    def netif_stop_queue(self, dev: int) -> None:
        """Stop the kernel calling ndo_start_xmit (the ring is full)."""
        self._set_state(dev, LINK_STATE_XOFF, True)

    @export(obj("dev", "net_device", "inout"))
    def netif_wake_queue(self, dev: int) -> None:
        """Restart the queue and schedule the NET_TX softirq to send what waited."""
        self._set_state(dev, LINK_STATE_XOFF, False)
        self._schedule_tx()

    @export(obj("dev", "net_device"), returns=scalar("stopped"), xpc=False)
    def netif_queue_stopped(self, dev: int) -> int:
        """1 if the queue is stopped."""
        return 1 if self._state(dev) & LINK_STATE_XOFF else 0

    @export(obj("dev", "net_device", "inout"))
    def netif_carrier_on(self, dev: int) -> None:
        """The link is up."""
        if self._state(dev) & LINK_STATE_NOCARRIER:
            self._set_state(dev, LINK_STATE_NOCARRIER, False)
            self.k.events.add("net", "net", "carrier on")

    @export(obj("dev", "net_device", "inout"))
    def netif_carrier_off(self, dev: int) -> None:
        """The link is down."""
        if not self._state(dev) & LINK_STATE_NOCARRIER:
            self._set_state(dev, LINK_STATE_NOCARRIER, True)
            self.k.events.add("net", "net", "carrier off")

    @export(obj("dev", "net_device"), returns=scalar("ok"), xpc=False)
    def netif_carrier_ok(self, dev: int) -> int:
        """1 if the link is up."""
        return 0 if self._state(dev) & LINK_STATE_NOCARRIER else 1

    # -- open / close ----------------------------------------------------------------------
    def dev_open(self, nd: NetDevice) -> int:
        if nd.up:
            return 0
        ret = nd.ops.ndo_open(nd.addr) if nd.ops.ndo_open is not None else 0
        if ret:
            return ret
        m = self.k.mmu
        m.st32(nd.addr + NET_DEVICE.flags, m.ld32(nd.addr + NET_DEVICE.flags) | IFF_UP | IFF_RUNNING)
        self._set_state(nd.addr, LINK_STATE_START, True)
        if nd.ops.ndo_set_multicast_list is not None:
            nd.ops.ndo_set_multicast_list(nd.addr)
        self._arm_watchdog(nd)
        return 0

    def dev_close(self, nd: NetDevice) -> int:
        if not nd.up:
            return 0
        if nd.watchdog is not None:
            nd.watchdog.cancel()
            nd.watchdog = None
        self._set_state(nd.addr, LINK_STATE_START, False)
        m = self.k.mmu
        m.st32(nd.addr + NET_DEVICE.flags,
               m.ld32(nd.addr + NET_DEVICE.flags) & ~(IFF_UP | IFF_RUNNING))
        ret = nd.ops.ndo_stop(nd.addr) if nd.ops.ndo_stop is not None else 0
        self._drop_qdisc(nd)
        return ret

    def _drop_qdisc(self, nd: NetDevice) -> None:
        """qdisc_reset: free every packet still queued on the device."""
        m = self.k.mmu
        q = m.ld32(nd.addr + NET_DEVICE.qdisc) + QDISC.q
        while True:
            skb = skb_dequeue(m, q)
            if not skb:
                return
            self.k.cpu.step()
            self.kfree_skb(skb)

    # -- the transmit watchdog (dev_watchdog) -----------------------------------------------
    def _arm_watchdog(self, nd: NetDevice) -> None:
        timeo = max(self.k.mmu.ld32(nd.addr + NET_DEVICE.watchdog_timeo), 1)
        cycles = min(timeo, 1000) * self.k.timers.cycles_per_jiffy
        nd.watchdog = self.k.clock.schedule(cycles, lambda: self._watchdog(nd), label="dev_watchdog")

    def _watchdog(self, nd: NetDevice) -> None:
        nd.watchdog = None
        if self.k.verdict is not None or self.netdevs.get(nd.addr) is not nd or not nd.up:
            return
        m = self.k.mmu
        timeo = m.ld32(nd.addr + NET_DEVICE.watchdog_timeo)
        state = self._state(nd.addr)
        stuck = self.k.timers.jiffies() - m.ld32(nd.addr + NET_DEVICE.trans_start) > timeo
        if state & LINK_STATE_XOFF and not state & LINK_STATE_NOCARRIER and stuck \
                and nd.ops.ndo_tx_timeout is not None:
            nd.tx_timeouts += 1
            self.k.events.add("net", nd.owner, f"NETDEV WATCHDOG: {nd.label}: transmit timed out")
            self._softirq(lambda: nd.ops.ndo_tx_timeout(nd.addr))
        if nd.up:
            self._arm_watchdog(nd)

    def netdev_held_by(self, owner: str) -> list[str]:
        held = [f"net_device {d.label}" for d in self.netdevs.values() if d.owner == owner]
        held += [f"alloc_etherdev at {a:#010x}" for a, o in sorted(self.allocated.items())
                 if o == owner]
        return held
