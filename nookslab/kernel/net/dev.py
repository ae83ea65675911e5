"""The device layer's packet paths (``net/core/dev.c``, ``net/sched/sch_generic.c``).

Transmit: ``dev_queue_xmit`` takes the device's queue lock with bottom halves off (so an oops
anywhere in it, in the qdisc or in the driver's ``hard_start_xmit``, is an oops in interrupt
context: a panic, as in Linux 2.4), enqueues the packet on the device's qdisc through the qdisc's
``enqueue`` function pointer, and runs the queue: each packet the qdisc's ``dequeue`` gives back
goes to the driver until the driver stops the queue; a busy driver gets it requeued at the front.
The NET_TX softirq runs every device's queue again when a driver wakes it.

Receive: ``netif_rx`` (from the driver's interrupt handler) queues the skb on ``softnet_data``'s
input queue, dropping it when ``qlen`` says the backlog is full, and raises the NET_RX softirq
(a zero-delay clock event after the interrupt), which hands each packet to the protocols.

Every queue here is an ``sk_buff_head`` in simulated memory (:mod:`.skbqueue`); every pointer
the code follows (``dev->qdisc``, ``q->enqueue``, the skbs' links) is read from memory.
"""
from __future__ import annotations

from typing import Callable

from .. import errno
from ..symbols import export, obj, scalar
from .netdevice import (IFF_UP, LINK_STATE_XOFF, NET_DEVICE, NET_STATICS, QDISC, SOFTNET_DATA,
                        NetDevice)
from .skbqueue import (skb_dequeue, skb_queue_head, skb_queue_head_init, skb_queue_len,
                       skb_queue_tail, SkbQueue)
from .skbuff import PACKET_BROADCAST, PACKET_HOST, PACKET_OTHERHOST, SK_BUFF

NETDEV_MAX_BACKLOG = 300
_FLAGS, _STATE, _QDISC, _TXQLEN = (NET_DEVICE.flags, NET_DEVICE.state, NET_DEVICE.qdisc,
                                   NET_DEVICE.tx_queue_len)
_Q, _ENQUEUE, _DEQUEUE, _QDEV = QDISC.q, QDISC.enqueue, QDISC.dequeue, QDISC.dev
_INPUT_QUEUE = NET_STATICS.softnet_data + SOFTNET_DATA.input_pkt_queue


class DevQueueFunctions:
    """Mixin of the net subsystem: qdiscs, dev_queue_xmit, netif_rx and the net softirqs."""

    def _devq_init(self, kernel) -> None:
        k = kernel
        self.statics = k.heap.kmalloc(NET_STATICS.size, "kernel")
        k.mmu.fill(self.statics, 0, NET_STATICS.size)
        skb_queue_head_init(k.mmu, self.statics + _INPUT_QUEUE)
        self.input_queue = self.statics + _INPUT_QUEUE
        # pfifo's methods, as function pointers the qdisc holds in memory (bound once: the
        # text table knows a function by identity)
        self._pfifo_enqueue = self.pfifo_enqueue
        self._pfifo_dequeue = self.pfifo_dequeue
        self.pfifo_ops = (k.text.address_of(self._pfifo_enqueue),
                          k.text.address_of(self._pfifo_dequeue))
        self._rx_scheduled = False        # the CPU's pending-softirq bits
        self._tx_scheduled = False
        self.tx_waiters: list[Callable[[], None]] = []

    @property
    def backlog(self) -> SkbQueue:
        """softnet_data's input queue (the NET_RX backlog)."""
        return SkbQueue(self.k.mmu, self.k.cpu, self.input_queue)

    # -- the queueing discipline (pfifo) ------------------------------------------------------
    def qdisc_create(self, dev: int) -> int:
        """A pfifo qdisc for ``dev`` on the kernel heap (qdisc_create_dflt); 0 if no memory."""
        k = self.k
        q = k.heap.kmalloc(QDISC.size, "kernel")
        if not q:
            return 0
        m = k.mmu
        m.fill(q, 0, QDISC.size)
        m.st32(q + _ENQUEUE, self.pfifo_ops[0])
        m.st32(q + _DEQUEUE, self.pfifo_ops[1])
        m.st32(q + _QDEV, dev)
        skb_queue_head_init(m, q + _Q)
        return q

    def qdisc_destroy(self, q: int) -> None:
        """Free every queued packet, then the qdisc."""
        m = self.k.mmu
        while True:
            skb = skb_dequeue(m, q + _Q)
            if not skb:
                break
            self.k.cpu.step()
            self.kfree_skb(skb)
        self.k.heap.kfree(q)

    def pfifo_enqueue(self, skb: int, q: int) -> int:
        """Queue at the tail while ``qlen`` is below the device's ``tx_queue_len``, else drop."""
        m = self.k.mmu
        if skb_queue_len(m, q + _Q) < m.ld32(m.ld32(q + _QDEV) + _TXQLEN):
            skb_queue_tail(m, q + _Q, skb)
            return 0
        self.kfree_skb(skb)
        return 1                                           # NET_XMIT_DROP

    def pfifo_dequeue(self, q: int) -> int:
        return skb_dequeue(self.k.mmu, q + _Q)

    # -- transmit --------------------------------------------------------------------------
    def dev_queue_xmit(self, nd: NetDevice, skb: int) -> int:
        """Queue ``skb`` on the device and run the queue; 0, or -ENOBUFS if it was dropped."""
        k = self.k
        cycles = k.cost.net_xmit
        clock = k.clock                        # Kernel.charge, inlined (every packet)
        clock.now += cycles
        clock.busy += cycles
        m = k.mmu
        dev = nd.addr
        cpu = k.cpu
        cpu.in_interrupt += 1                  # spin_lock_bh(&dev->queue_lock)
        try:
            if not m.ld32(dev + _FLAGS) & IFF_UP:
                self.kfree_skb(skb)
                return -errno.ENOBUFS
            q = m.ld32(dev + _QDISC)
            if k.text.lookup(m.ld32(q + _ENQUEUE))(skb, q):
                return -errno.ENOBUFS
            self.qdisc_run(nd, q)
            return 0
        except Exception as exc:                           # noqa: BLE001 - the oops path
            k.oops(exc, "dev_queue_xmit")
        finally:
            cpu.in_interrupt -= 1

    def qdisc_run(self, nd: NetDevice, q: int = 0) -> None:
        """Hand queued packets to the driver while the device is up and its queue not stopped
        (``q``: the device's qdisc, when dev_queue_xmit has just read it)."""
        k = self.k
        cpu = k.cpu
        m = k.mmu
        ld32 = m.ld32
        dev = nd.addr
        if not q:
            if not ld32(dev + _FLAGS) & IFF_UP:
                return
            q = ld32(dev + _QDISC)
        dequeue = k.text.lookup(ld32(q + _DEQUEUE))
        while not ld32(dev + _STATE) & LINK_STATE_XOFF:
            skb = dequeue(q)
            if not skb:
                break
            self.skb_owner[skb] = nd.owner
            # dev_queue_xmit holds dev->xmit_lock with bottom halves off: in_interrupt().
            cpu.in_interrupt += 1
            try:
                busy = nd.ops.ndo_start_xmit(skb, dev)
            except Exception as exc:                       # noqa: BLE001 - the oops path
                k.oops(exc, f"{nd.label} hard_start_xmit")
            finally:
                cpu.in_interrupt -= 1
            if busy:
                self.skb_owner[skb] = "kernel"
                skb_queue_head(m, q + _Q, skb)                 # q->ops->requeue
                break

    def can_queue(self, nd: NetDevice) -> bool:
        """Room for more on the device's queue (TCP holds back at half its length)."""
        m = self.k.mmu
        dev = nd.addr
        return skb_queue_len(m, m.ld32(dev + _QDISC) + _Q) < m.ld32(dev + _TXQLEN) // 2

    def _schedule_tx(self) -> None:
        if not self._tx_scheduled:
            self._tx_scheduled = True
            self.k.clock.schedule(0, self.net_tx_action, label="NET_TX softirq")

    def net_tx_action(self) -> None:
        self._tx_scheduled = False
        self._softirq(self._tx_work)

    def _tx_work(self) -> None:
        for dev in self.dev_list():
            self.qdisc_run(self.nd_of(dev))
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
        m = k.mmu
        queue = self.input_queue
        if skb_queue_len(m, queue) >= NETDEV_MAX_BACKLOG:
            self.kfree_skb(skb)
            return 1                                       # NET_RX_DROP
        skb_queue_tail(m, queue, skb)
        if not self._rx_scheduled:
            self._rx_scheduled = True
            k.clock.schedule(0, self.net_rx_action, label="NET_RX softirq")
        return 0

    def net_rx_action(self) -> None:
        self._rx_scheduled = False
        self._softirq(self._rx_work)

    def _rx_work(self) -> None:
        k = self.k
        m = k.mmu
        queue = self.input_queue
        clock = k.clock
        half = k.cost.net_rx // 2
        while True:
            skb = skb_dequeue(m, queue)
            if not skb:
                break
            clock.now += half                              # Kernel.charge, inlined
            clock.busy += half
            self.packet_in(skb)                            # the protocol layer frees the skb
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
