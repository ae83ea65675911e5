"""IPv4 and ICMP, and the receive side of TCP and raw sockets (``net/ipv4``).

The protocol layer is kernel-internal Python, but every packet it sends or receives is an
``sk_buff`` in simulated memory that goes through the driver. Routing walks the ``dev_base``
chain and each device's ``in_device`` address list in memory; an arriving packet's headers are
read from its skb; a TCP segment is matched to its sock by walking the established hash's chain
(:mod:`.sock`); its skb, pulled to the payload, is what the sock's receive queue holds; an ICMP
echo reply's skb is what a raw socket's receive queue holds. The socket calls are in
:mod:`.af_inet`.
"""
from __future__ import annotations

from .. import errno
from ...machine.devices.wire import (ETH_HLEN, ETH_P_IP, ICMP_ECHO, ICMP_ECHOREPLY, IP_HLEN,
                                     IPPROTO_ICMP, IPPROTO_TCP, TCP_HLEN, TCP_SYN, eth_header,
                                     icmp_message, ip_header, parse_icmp, parse_ip, parse_tcp,
                                     payload_checksum, tcp_header)
from ..structs import Layout
from .netdevice import IFF_UP, NET_DEVICE, NET_STATICS
from .skbqueue import skb_queue_len, skb_queue_tail
from .skbuff import SK_BUFF
from .sock import CLOSED, SOCK, SOCK_DEAD

#: ``struct in_device`` and ``struct in_ifaddr`` (linux/inetdevice.h): a device's IPv4
#: configuration, reached from ``dev->ip_ptr``; routing reads the address and mask from here.
IN_DEVICE = Layout("in_device", [("dev", "ptr"), ("refcnt", "u32"), ("ifa_list", "ptr")])
IN_IFADDR = Layout("in_ifaddr", [("ifa_next", "ptr"), ("ifa_dev", "ptr"), ("ifa_local", "u32"),
                                 ("ifa_mask", "u32")])
NETMASK_24 = 0xFFFFFF00      # our networks are 10.0.N.0/24, one per card
_IP_PTR, _IFA_LIST, _IFA_NEXT, _IFA_LOCAL, _IFA_MASK = (
    NET_DEVICE.ip_ptr, IN_DEVICE.ifa_list, IN_IFADDR.ifa_next, IN_IFADDR.ifa_local,
    IN_IFADDR.ifa_mask)
_DEV_NEXT, _DEV_FLAGS = NET_DEVICE.next, NET_DEVICE.flags
_SKB_DATA, _SKB_LEN, _SKB_TAIL = SK_BUFF.data, SK_BUFF.len, SK_BUFF.tail

SOCK_STREAM, SOCK_RAW = 1, 3    # socket types (linux/net.h); kHTTPd imports them from here
HEADROOM = 64
RTO_SECONDS = 5e-3          # scaled down from Linux's 200 ms minimum: runs last 0.1 s
DELACK_SECONDS = 0.5e-3     # scaled down from Linux's 40 ms
ACCEPT_BACKLOG = 16         # established connections a listener queues before it drops SYNs
RAW_QUEUE_LIMIT = 64        # echo replies a raw socket queues before it drops them


class InetFunctions:
    """Mixin of the net subsystem: IPv4 configuration, routing, IP/ICMP/TCP input and output."""

    def _inet_init(self, kernel) -> None:
        import numpy as np
        self.rng = np.random.default_rng([int(kernel.seed) & 0xFFFFFFFF, 0x6E6574])
        self.neigh: dict[int, bytes] = {}              # the ARP table (static entries)
        self.ip_ident = 0
        self.next_port = 32768
        self.rto = kernel.clock.cycles(RTO_SECONDS)
        self.delack = kernel.clock.cycles(DELACK_SECONDS)
        self.ip_in_errors = 0
        self.tx_waiters.append(self._push_all)

    # -- configuration (ifconfig, arp -s) --------------------------------------------------
    def ifup(self, name: str, ip: int) -> int:
        nd = self.by_name(name)
        if nd is None:
            return -errno.ENODEV
        if not self.dev_set_ipaddr(nd.addr, ip):
            return -errno.ENOMEM
        return self.dev_open(nd)

    def dev_set_ipaddr(self, dev: int, ip: int) -> bool:
        """``ifconfig DEV IP``: the device's in_device and its one address (made if missing)."""
        k = self.k
        m = k.mmu
        ind = m.ld32(dev + _IP_PTR)
        if not ind:
            ind = k.heap.kmalloc(IN_DEVICE.size, "kernel")
            ifa = k.heap.kmalloc(IN_IFADDR.size, "kernel")
            if not ind or not ifa:
                k.heap.kfree(ind)
                k.heap.kfree(ifa)
                return False
            m.fill(ind, 0, IN_DEVICE.size)
            m.fill(ifa, 0, IN_IFADDR.size)
            m.st32(ind + IN_DEVICE.dev, dev)
            m.st32(ind + IN_DEVICE.refcnt, 1)
            m.st32(ind + _IFA_LIST, ifa)
            m.st32(ifa + IN_IFADDR.ifa_dev, ind)
            m.st32(dev + _IP_PTR, ind)
        ifa = m.ld32(ind + _IFA_LIST)
        m.st32(ifa + _IFA_LOCAL, ip)
        m.st32(ifa + _IFA_MASK, NETMASK_24)
        return True

    def dev_ipaddr(self, dev: int) -> int:
        """The device's first IPv4 address, 0 if it has none."""
        m = self.k.mmu
        ind = m.ld32(dev + _IP_PTR)
        ifa = m.ld32(ind + _IFA_LIST) if ind else 0
        return m.ld32(ifa + _IFA_LOCAL) if ifa else 0

    def dev_ip_release(self, dev: int) -> None:
        """Free the device's IPv4 configuration (it is unregistered)."""
        k = self.k
        m = k.mmu
        ind = m.ld32(dev + _IP_PTR)
        if not ind:
            return
        m.st32(dev + _IP_PTR, 0)
        ifa = m.ld32(ind + _IFA_LIST)
        while ifa:
            k.cpu.step()
            nxt = m.ld32(ifa + _IFA_NEXT)
            k.heap.kfree(ifa)
            ifa = nxt
        k.heap.kfree(ind)

    def ifdown(self, name: str) -> int:
        nd = self.by_name(name)
        return -errno.ENODEV if nd is None else self.dev_close(nd)

    def arp_add(self, ip: int, mac: bytes) -> None:
        self.neigh[ip] = bytes(mac)

    def route(self, dst: int):
        """The interface (its :class:`NetDevice`) that reaches ``dst``, or None."""
        rt = self.ip_route(dst)
        return rt[0] if rt is not None else None

    def ip_route(self, dst: int):
        """(interface, its address) of the device whose address and mask cover ``dst``, or None:
        the dev_base chain walked in memory, each device that is up through its in_device's
        address list."""
        m = self.k.mmu
        ld32 = m.ld32
        step = self.k.cpu.step
        dev = ld32(self.statics + NET_STATICS.dev_base)
        while dev:
            step()
            if ld32(dev + _DEV_FLAGS) & IFF_UP:
                ind = ld32(dev + _IP_PTR)
                ifa = ld32(ind + _IFA_LIST) if ind else 0
                while ifa:
                    local = ld32(ifa + _IFA_LOCAL)
                    if not (local ^ dst) & ld32(ifa + _IFA_MASK):
                        return self.nd_of(dev), local
                    ifa = ld32(ifa + _IFA_NEXT)
            dev = ld32(dev + _DEV_NEXT)
        return None

    def sk_route(self, sk: int):
        """The route of a connected sock: its cached device (``sk->dst_cache``) while that is
        up, else a fresh lookup, remembered with the source address it gives."""
        m = self.k.mmu
        ld32 = m.ld32
        dev = ld32(sk + SOCK.dst_cache)
        if dev and ld32(dev + _DEV_FLAGS) & IFF_UP:               # __sk_dst_check
            return self.nd_of(dev), ld32(sk + SOCK.rcv_saddr)
        rt = self.ip_route(ld32(sk + SOCK.daddr))
        m.st32(sk + SOCK.dst_cache, rt[0].addr if rt is not None else 0)
        if rt is not None:
            m.st32(sk + SOCK.rcv_saddr, rt[1])
        return rt

    def dst_ifdown(self, dev: int) -> None:
        """A device goes away: no sock may keep it as its route (``dst_ifdown``)."""
        m = self.k.mmu
        for sk in self.all_established():
            if m.ld32(sk + SOCK.dst_cache) == dev:
                m.st32(sk + SOCK.dst_cache, 0)

    # -- output ----------------------------------------------------------------------------
    def ip_output(self, dst: int, proto: int, l4: bytes, payload=b"", rt=None) -> int:
        """Send one IP packet to ``dst`` (``rt``: the route, if the caller has it already)."""
        if rt is None:
            rt = self.ip_route(dst)
        mac = self.neigh.get(dst)
        if rt is None or mac is None:
            return -errno.EHOSTUNREACH
        nd, saddr = rt
        body_len = len(l4) + len(payload)
        skb = self.alloc_skb(HEADROOM + IP_HLEN + body_len)
        if not skb:
            return -errno.ENOBUFS
        k = self.k
        m = k.mmu
        self.ip_ident += 1
        dev = nd.addr
        dev_mac = m.read(dev + NET_DEVICE.dev_addr, 6)
        frame = eth_header(mac, dev_mac, ETH_P_IP) + \
            ip_header(saddr, dst, proto, body_len, self.ip_ident) + l4
        data = m.ld32(skb + _SKB_DATA) + HEADROOM - ETH_HLEN
        m.write(data, frame)
        if payload:                # tcp_sendmsg charged the one copy from user memory
            m.write(data + len(frame), payload)
        m.st32(skb + _SKB_DATA, data)
        m.st32(skb + _SKB_TAIL, data + len(frame) + len(payload))
        m.st32(skb + _SKB_LEN, len(frame) + len(payload))
        m.st16(skb + SK_BUFF.protocol, ETH_P_IP)
        m.st32(skb + SK_BUFF.dev, dev)
        return self.dev_queue_xmit(nd, skb)

    def tcp_transmit(self, lport: int, rport: int, raddr: int, flags: int, seq: int, ack: int,
                     window: int, payload, rt=None) -> None:
        k = self.k
        k.charge(k.cost.tcp_out)
        head = tcp_header(lport, rport, seq, ack, flags, window, payload)
        self.ip_output(raddr, IPPROTO_TCP, head, payload, rt)

    def _push_all(self) -> None:
        """The device took packets again: let every connection send what it holds."""
        m = self.k.mmu
        for sk in self.all_established():
            if m.ld32(sk + SOCK.state) != CLOSED:
                self.tcp_output(sk)

    # -- input (NET_RX softirq) ------------------------------------------------------------
    def packet_in(self, skb: int) -> None:
        """One received packet (data at its IP header): to ICMP or TCP, which free or keep it."""
        k = self.k
        m = k.mmu
        if m.ld16(skb + SK_BUFF.protocol) != ETH_P_IP:
            self.kfree_skb(skb)
            return
        data = m.ld32(skb + _SKB_DATA)
        length = m.ld32(skb + _SKB_LEN)
        if length < IP_HLEN:
            self.kfree_skb(skb)
            self.ip_in_errors += 1
            return
        src, dst, proto, total, ok = parse_ip(m.read(data, IP_HLEN))
        if not ok or total > length or self.route(src) is None:
            self.kfree_skb(skb)
            self.ip_in_errors += 1
            return
        body, body_len = data + IP_HLEN, total - IP_HLEN
        if proto == IPPROTO_ICMP:
            k.charge(k.cost.icmp)
            self.icmp_rcv(skb, src, body, body_len)
        elif proto == IPPROTO_TCP and body_len >= TCP_HLEN:
            k.charge(k.cost.tcp_in)
            self.tcp_v4_rcv(skb, src, dst, body, body_len)
        else:
            self.kfree_skb(skb)

    def icmp_rcv(self, skb: int, src: int, body_addr: int, body_len: int) -> None:
        m = self.k.mmu
        body = m.read(body_addr, body_len)
        kind, ident, seq, ok = parse_icmp(body)
        if not ok:
            self.kfree_skb(skb)
            self.ip_in_errors += 1
            return
        if kind == ICMP_ECHOREPLY:
            self.raw_deliver(skb, body_addr, body_len)
            return
        self.kfree_skb(skb)
        if kind == ICMP_ECHO:
            self.ip_output(src, IPPROTO_ICMP, icmp_message(ICMP_ECHOREPLY, ident, seq, body[8:]))

    def raw_deliver(self, skb: int, body_addr: int, body_len: int) -> None:
        """Queue the ICMP message on every raw socket with room (the first gets the skb
        itself, the others a copy); the IP header stays in the skb, before its data."""
        m = self.k.mmu
        for sk in self.raw_socks():
            rq = sk + SOCK.receive_queue
            if skb_queue_len(m, rq) >= RAW_QUEUE_LIMIT:
                continue
            if skb:
                mine, skb = skb, 0
            else:
                mine = self.alloc_skb(IP_HLEN + body_len)
                if not mine:
                    continue
                m.copy(m.ld32(mine + _SKB_DATA), body_addr - IP_HLEN, IP_HLEN + body_len)
                body_addr = m.ld32(mine + _SKB_DATA) + IP_HLEN
            m.st32(mine + _SKB_DATA, body_addr)
            m.st32(mine + _SKB_LEN, body_len)
            m.st32(mine + _SKB_TAIL, body_addr + body_len)
            skb_queue_tail(m, rq, mine)
        if skb:
            self.kfree_skb(skb)

    def tcp_v4_rcv(self, skb: int, src: int, dst: int, seg: int, seglen: int) -> None:
        """A TCP segment: check it, find its sock on the established hash (or a listener for
        a SYN) and process it, or queue it on the sock's backlog if a process holds the lock."""
        m = self.k.mmu
        sport, dport, seq, ack, flags, window, csum = parse_tcp(m.read(seg, TCP_HLEN))
        n = seglen - TCP_HLEN
        payload = seg + TCP_HLEN
        if payload_checksum(m.read(payload, n) if n else b"") != csum:
            self.kfree_skb(skb)
            self.ip_in_errors += 1
            return
        sk = self.tcp_lookup(dport, src, sport)
        if sk:
            if m.ld32(sk + SOCK.lock_users):
                m.st32(skb + _SKB_DATA, seg)           # the backlog keeps the whole segment
                m.st32(skb + _SKB_LEN, seglen)
                m.st32(skb + _SKB_TAIL, seg + seglen)
                self.sk_add_backlog(sk, skb)
                return
            self.sock_hold(sk)
            self._tcp_deliver(sk, skb, seq, ack, flags, window, payload, n)
            self.sock_put(sk)
            return
        self.kfree_skb(skb)
        lsk = self.listener_lookup(dport)
        if lsk and flags & TCP_SYN and m.ld32(lsk + SOCK.ack_backlog) < ACCEPT_BACKLOG:
            child = self.tcp_sock(dport, sport, src, dst)
            if not child:
                return
            m.st32(child + SOCK.listener, lsk)
            m.st32(child + SOCK.flags, SOCK_DEAD)      # embryonic: only the listener knows it
            self.ehash_add(child)
            self.sock_hold(child)
            self.tcp_accept_syn(child, seq, window)
            self.sock_put(child)

    def tcp_backlog_rcv(self, sk: int, skb: int) -> None:
        """A segment that waited on the backlog (data at its TCP header)."""
        m = self.k.mmu
        seg = m.ld32(skb + _SKB_DATA)
        seglen = m.ld32(skb + _SKB_LEN)
        sport, dport, seq, ack, flags, window, csum = parse_tcp(m.read(seg, TCP_HLEN))
        self._tcp_deliver(sk, skb, seq, ack, flags, window, seg + TCP_HLEN, seglen - TCP_HLEN)

    def _tcp_deliver(self, sk: int, skb: int, seq: int, ack: int, flags: int, window: int,
                     payload: int, n: int) -> None:
        if n:
            m = self.k.mmu
            m.st32(skb + _SKB_DATA, payload)
            m.st32(skb + _SKB_LEN, n)
            m.st32(skb + _SKB_TAIL, payload + n)
        if not self.tcp_rcv(sk, seq, ack, flags, window, skb if n else 0, n):
            self.kfree_skb(skb)

    def after_rx_batch(self) -> None:
        pass
