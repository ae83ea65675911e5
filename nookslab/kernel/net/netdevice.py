"""``struct net_device``, the ``net_device_ops`` table, and the device layer (``net/core/dev.c``).

A driver allocates its net_device (with its private area behind it) with ``alloc_etherdev``,
fills in what Linux drivers fill in (``base_addr``, ``irq``, ``dev_addr``, ``watchdog_timeo``) and
registers it with its :class:`NetDeviceOps`. The kernel then calls ``ndo_open`` when the interface
is brought up, ``ndo_start_xmit`` for every packet (with bottom halves off: an oops there kills
the system, as in Linux 2.4), ``ndo_tx_timeout`` from its watchdog when a stopped queue does not
move, and ``ndo_stop`` when it goes down. Received packets come back through ``netif_rx``, which
queues them for the NET_RX softirq (run as a zero-delay clock event after the interrupt).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from .. import errno
from ..panic import KernelBug
from ..structs import Layout
from ..symbols import buf, export, obj, op, ops, ops_table, scalar
from .skbuff import PACKET_BROADCAST, PACKET_HOST, PACKET_OTHERHOST, SK_BUFF

NET_DEVICE = Layout("net_device", [
    ("name", 16), ("base_addr", "u32"), ("irq", "u32"), ("mtu", "u32"), ("flags", "u32"),
    ("state", "u32"), ("priv", "ptr"), ("dev_addr", 8), ("addr_len", "u32"),
    ("trans_start", "u32"), ("watchdog_timeo", "u32"), ("tx_queue_len", "u32"),
    ("ifindex", "u32"), ("magic", "u32"),
])
NET_DEVICE_STATS = Layout("net_device_stats", [
    ("rx_packets", "u32"), ("tx_packets", "u32"), ("rx_bytes", "u32"), ("tx_bytes", "u32"),
    ("rx_errors", "u32"), ("tx_errors", "u32"), ("rx_dropped", "u32"), ("tx_dropped", "u32"),
    ("multicast", "u32"), ("collisions", "u32"), ("rx_crc_errors", "u32"),
    ("rx_missed_errors", "u32"),
])
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


@dataclass
class NetDevice:
    """The kernel's own record of a registered interface (what ``dev_base`` links in Linux)."""

    addr: int
    name: str
    ops: NetDeviceOps
    owner: str
    qdisc: deque = field(default_factory=deque)
    up: bool = False
    ip: int = 0
    tx_timeouts: int = 0
    watchdog: object = None


class NetDeviceFunctions:
    """Mixin of the net subsystem: net_device registration, queues, receive and the watchdog."""

    def _dev_init(self, kernel) -> None:
        self.netdevs: dict[int, NetDevice] = {}         # by net_device address
        self.allocated: dict[int, str] = {}             # alloc_etherdev'd, by address
        self.backlog: deque = deque()                   # softnet_data's input queue
        self._rx_scheduled = False
        self._tx_scheduled = False
        self.tx_waiters: list[Callable[[], None]] = []
        for layout in (NET_DEVICE, NET_DEVICE_STATS):
            kernel.object_types[layout.name] = layout

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
        if dev in self.netdevs:
            raise KernelBug(f"free_netdev of registered device {dev:#010x}")
        if self.allocated.pop(dev, None) is None:
            raise KernelBug(f"free_netdev of bad net_device {dev:#010x}")
        self.k.heap.kfree(dev)

    @export(obj("dev", "net_device", "inout"), ops("ops", "net_device_ops"),
            returns=scalar("ret"), owned=True)
    def register_netdev(self, dev: int, ops: NetDeviceOps, owner: str = "kernel") -> int:
        """Name the device ``ethN`` and make it known; 0, or -EINVAL / -EEXIST."""
        self.k.charge(self.k.cost.kernel_call * 4)
        if dev not in self.allocated or ops is None or ops.ndo_start_xmit is None:
            return -errno.EINVAL
        if dev in self.netdevs:
            return -errno.EEXIST
        index = 0
        names = {d.name for d in self.netdevs.values()}
        while f"eth{index}" in names:
            index += 1
        name = f"eth{index}"
        m = self.k.mmu
        m.write(dev + NET_DEVICE.name, name.encode().ljust(16, b"\0"))
        m.st32(dev + NET_DEVICE.ifindex, index + 2)
        self.netdevs[dev] = NetDevice(dev, name, ops, owner)
        self.k.events.add("register", owner, f"netdev {name}")
        return 0

    @export(obj("dev", "net_device", "inout"))
    def unregister_netdev(self, dev: int) -> None:
        """Close the device if it is up and forget it."""
        nd = self.netdevs.get(dev)
        if nd is None:
            self.k.events.add("warning", "net", f"unregister_netdev of unknown {dev:#010x}")
            return
        if nd.up:
            self.dev_close(nd)
        del self.netdevs[dev]
        self._drop_qdisc(nd)

    def replace_ops(self, dev: int, ops: NetDeviceOps) -> None:
        """Used by Nooks when it substitutes a table of wrappers."""
        self.netdevs[dev].ops = ops

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
        nd.up = True
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
        nd.up = False
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
        while nd.qdisc:
            self.kfree_skb(nd.qdisc.popleft())

    # -- transmit --------------------------------------------------------------------------
    def dev_queue_xmit(self, nd: NetDevice, skb: int) -> int:
        """Queue ``skb`` on the device and run the queue; 0, or -ENOBUFS if it was dropped."""
        k = self.k
        k.charge(k.cost.net_xmit)
        if not nd.up or len(nd.qdisc) >= TX_QUEUE_LEN:
            self.kfree_skb(skb)
            return -errno.ENOBUFS
        nd.qdisc.append(skb)
        self.qdisc_run(nd)
        return 0

    def qdisc_run(self, nd: NetDevice) -> None:
        k = self.k
        cpu = k.cpu
        while nd.qdisc and nd.up and not self._state(nd.addr) & LINK_STATE_XOFF:
            skb = nd.qdisc.popleft()
            self.skb_owner[skb] = nd.owner
            # dev_queue_xmit holds dev->xmit_lock with bottom halves off: in_interrupt().
            cpu.in_interrupt += 1
            try:
                busy = nd.ops.ndo_start_xmit(skb, nd.addr)
            except Exception as exc:                       # noqa: BLE001 - the oops path
                k.oops(exc, f"{nd.name} hard_start_xmit")
            finally:
                cpu.in_interrupt -= 1
            if busy:
                self.skb_owner[skb] = "kernel"
                nd.qdisc.appendleft(skb)
                break

    def can_queue(self, nd: NetDevice) -> bool:
        return len(nd.qdisc) < TX_QUEUE_LEN // 2

    def _schedule_tx(self) -> None:
        if not self._tx_scheduled:
            self._tx_scheduled = True
            self.k.clock.schedule(0, self.net_tx_action, label="NET_TX softirq")

    def net_tx_action(self) -> None:
        self._tx_scheduled = False
        self._softirq(self._tx_work)

    def _tx_work(self) -> None:
        for nd in list(self.netdevs.values()):
            self.qdisc_run(nd)
        for wake in list(self.tx_waiters):
            wake()

    # -- receive ---------------------------------------------------------------------------
    @export(obj("skb", "sk_buff", "inout"), obj("dev", "net_device"), returns=scalar("protocol"))
    def eth_type_trans(self, skb: int, dev: int) -> int:
        """Set skb->dev, pkt_type and protocol from the Ethernet header and pull it off."""
        self.k.charge(self.k.cost.kernel_call)
        self.check_skb(skb)
        m = self.k.mmu
        data = m.ld32(skb + SK_BUFF.data)
        if m.ld32(skb + SK_BUFF.len) < 14:
            return 0
        header = m.read(data, 14)
        if header[0] & 1:
            kind = PACKET_BROADCAST
        elif header[:6] == m.read(dev + NET_DEVICE.dev_addr, 6):
            kind = PACKET_HOST
        else:
            kind = PACKET_OTHERHOST
        proto = header[12] << 8 | header[13]
        m.st32(skb + SK_BUFF.dev, dev)
        m.st16(skb + SK_BUFF.pkt_type, kind)
        m.st16(skb + SK_BUFF.protocol, proto)
        self.skb_pull(skb, 14)
        return proto

    @export(obj("skb", "sk_buff"), returns=scalar("ret"), releases="skb")
    def netif_rx(self, skb: int) -> int:
        """Hand a received packet to the kernel; the NET_RX softirq will process it. 0 = queued."""
        k = self.k
        k.charge(k.cost.net_rx // 2)
        self.check_skb(skb)
        self.skb_owner[skb] = "kernel"
        if len(self.backlog) >= 300:                    # netdev_max_backlog
            self.kfree_skb(skb)
            return 1
        self.backlog.append(skb)
        if not self._rx_scheduled:
            self._rx_scheduled = True
            k.clock.schedule(0, self.net_rx_action, label="NET_RX softirq")
        return 0

    def net_rx_action(self) -> None:
        self._rx_scheduled = False
        self._softirq(self._rx_work)

    def _rx_work(self) -> None:
        k = self.k
        while self.backlog:
            skb = self.backlog.popleft()
            k.charge(k.cost.net_rx // 2)
            self.packet_in(skb)                         # the protocol layer frees the skb
        self.after_rx_batch()

    def _softirq(self, work: Callable[[], None]) -> None:
        k = self.k
        if k.verdict is not None:
            return
        cpu = k.cpu
        cpu.in_interrupt += 1
        saved = cpu.arm()
        try:
            work()
        except Exception as exc:                           # noqa: BLE001 - the oops path
            k.oops(exc, "softirq")
        finally:
            cpu.disarm(saved)
            cpu.in_interrupt -= 1

    # -- the transmit watchdog (dev_watchdog) -----------------------------------------------
    def _arm_watchdog(self, nd: NetDevice) -> None:
        timeo = max(self.k.mmu.ld32(nd.addr + NET_DEVICE.watchdog_timeo), 1)
        cycles = min(timeo, 1000) * self.k.timers.cycles_per_jiffy
        nd.watchdog = self.k.clock.schedule(cycles, lambda: self._watchdog(nd), label="dev_watchdog")

    def _watchdog(self, nd: NetDevice) -> None:
        nd.watchdog = None
        if not nd.up or self.k.verdict is not None:
            return
        m = self.k.mmu
        timeo = m.ld32(nd.addr + NET_DEVICE.watchdog_timeo)
        state = self._state(nd.addr)
        stuck = self.k.timers.jiffies() - m.ld32(nd.addr + NET_DEVICE.trans_start) > timeo
        if state & LINK_STATE_XOFF and not state & LINK_STATE_NOCARRIER and stuck \
                and nd.ops.ndo_tx_timeout is not None:
            nd.tx_timeouts += 1
            self.k.events.add("net", nd.owner, f"NETDEV WATCHDOG: {nd.name}: transmit timed out")
            self._softirq(lambda: nd.ops.ndo_tx_timeout(nd.addr))
        if nd.up:
            self._arm_watchdog(nd)

    def netdev_held_by(self, owner: str) -> list[str]:
        held = [f"net_device {d.name}" for d in self.netdevs.values() if d.owner == owner]
        held += [f"alloc_etherdev at {a:#010x}" for a, o in sorted(self.allocated.items())
                 if o == owner]
        return held
