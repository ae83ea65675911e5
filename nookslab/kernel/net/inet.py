"""IPv4, ICMP echo, TCP-lite sockets, and the socket system calls.

The protocol layer is kernel-internal Python (like Linux's ``net/ipv4``), but every packet it
sends or receives is an ``sk_buff`` in simulated memory that goes through the driver, and every
payload byte is copied between user memory, the socket buffers and the skbs (and charged).
Sockets are the kernel-internal API a later kHTTPd uses (``sock_create``, ``bind``, ``listen``,
``accept``, ``connect``, ``send``, ``recv``, ``close``); workloads reach the same calls as user
programs through ``kernel.syscall(proc, net.sys_...)``.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from .. import errno
from ...machine.devices.wire import (ETH_HLEN, ETH_P_IP, ICMP_ECHO, ICMP_ECHOREPLY, IP_HLEN,
                                     IPPROTO_ICMP, IPPROTO_TCP, TCP_HLEN, TCP_SYN, eth_header,
                                     icmp_message, ip_header, parse_icmp, parse_ip, parse_tcp,
                                     payload_checksum, tcp_header)
from ..structs import Layout
from .netdevice import IFF_UP, NET_DEVICE, NET_STATICS
from .skbuff import SK_BUFF
from ...machine.devices.peer_tcp import CLOSED, ESTABLISHED, TcpConnection

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

SOCK_STREAM, SOCK_RAW = 1, 3
HEADROOM = 64
RTO_SECONDS = 5e-3          # scaled down from Linux's 200 ms minimum: runs last 0.1 s
DELACK_SECONDS = 0.5e-3     # scaled down from Linux's 40 ms


@dataclass
class Socket:
    """A socket: a TCP-lite connection or listener, or a raw ICMP endpoint."""

    kind: int
    owner: str = "user"
    lport: int = 0
    conn: TcpConnection | None = None
    listening: bool = False
    accept_queue: deque = field(default_factory=deque)
    raw_queue: deque = field(default_factory=deque)
    error: int = 0


class _KernelTcpIO:
    """How the kernel's TCP connections emit segments (sk_buffs) and set timers."""

    def __init__(self, net):
        self.net = net

    def emit(self, conn, flags, seq, ack, window, payload) -> None:
        self.net.tcp_transmit(conn, flags, seq, ack, window, payload)

    def can_send(self, conn) -> bool:
        nd = self.net.route(conn.raddr)
        return nd is not None and self.net.can_queue(nd)

    def now(self) -> int:
        return self.net.k.clock.now

    def schedule(self, delay, fn):
        return self.net.k.clock.schedule(delay, lambda: self.net._softirq(fn), label="tcp timer")

    def event(self, conn, what: str) -> None:
        sock = conn.owner
        if what == "connected" and sock is not None \
                and getattr(conn, "listener", None) is sock:      # passive open: queue it
            conn.listener.accept_queue.append(conn)
        if what in ("closed", "reset", "timeout"):
            self.net.tcp_conns.pop((conn.lport, conn.raddr, conn.rport), None)
            if sock is not None and what != "closed":
                sock.error = -errno.ECONNRESET if what == "reset" else -errno.ETIMEDOUT


class InetFunctions:
    """Mixin of the net subsystem: routing, IP/ICMP/TCP input and output, sockets."""

    def _inet_init(self, kernel) -> None:
        import numpy as np
        self.rng = np.random.default_rng([int(kernel.seed) & 0xFFFFFFFF, 0x6E6574])
        self.neigh: dict[int, bytes] = {}              # the ARP table (static entries)
        self.tcp_conns: dict[tuple[int, int, int], TcpConnection] = {}
        self.listeners: dict[int, Socket] = {}
        self.raw_sockets: list[Socket] = []
        self.tcp_io = _KernelTcpIO(self)
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
        """The interface whose address and mask cover ``dst``: the dev_base chain walked in
        memory, each device that is up through its in_device's address list."""
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
                    if not (ld32(ifa + _IFA_LOCAL) ^ dst) & ld32(ifa + _IFA_MASK):
                        return self.nd_of(dev)
                    ifa = ld32(ifa + _IFA_NEXT)
            dev = ld32(dev + _DEV_NEXT)
        return None

    # -- output ----------------------------------------------------------------------------
    def ip_output(self, dst: int, proto: int, l4: bytes, payload=b"") -> int:
        nd = self.route(dst)
        mac = self.neigh.get(dst)
        if nd is None or mac is None:
            return -errno.EHOSTUNREACH
        body_len = len(l4) + len(payload)
        skb = self.alloc_skb(HEADROOM + IP_HLEN + body_len)
        if not skb:
            return -errno.ENOBUFS
        k = self.k
        m = k.mmu
        self.ip_ident += 1
        dev_mac = m.read(nd.addr + NET_DEVICE.dev_addr, 6)
        frame = eth_header(mac, dev_mac, ETH_P_IP) + \
            ip_header(nd.ip, dst, proto, body_len, self.ip_ident) + l4
        data = m.ld32(skb + SK_BUFF.data) + HEADROOM - ETH_HLEN
        m.write(data, frame)
        if payload:                # tcp_sendmsg charged the one copy from user memory
            m.write(data + len(frame), payload)
        m.st32(skb + SK_BUFF.data, data)
        m.st32(skb + SK_BUFF.tail, data + len(frame) + len(payload))
        m.st32(skb + SK_BUFF.len, len(frame) + len(payload))
        m.st16(skb + SK_BUFF.protocol, ETH_P_IP)
        m.st32(skb + SK_BUFF.dev, nd.addr)
        return self.dev_queue_xmit(nd, skb)

    def tcp_transmit(self, conn, flags, seq, ack, window, payload) -> None:
        k = self.k
        k.charge(k.cost.tcp_out)
        head = tcp_header(conn.lport, conn.rport, seq, ack, flags, window, payload)
        self.ip_output(conn.raddr, IPPROTO_TCP, head, payload)

    def _push_all(self) -> None:
        for conn in list(self.tcp_conns.values()):
            if conn.state != CLOSED:
                conn.output()

    # -- input (NET_RX softirq) ------------------------------------------------------------
    def packet_in(self, skb: int) -> None:
        k = self.k
        m = k.mmu
        try:
            if m.ld16(skb + SK_BUFF.protocol) != ETH_P_IP:
                return
            packet = self.skb_payload(skb)
        finally:
            self.kfree_skb(skb)
        if len(packet) < IP_HLEN:
            self.ip_in_errors += 1
            return
        src, dst, proto, total, ok = parse_ip(packet)
        if not ok or total > len(packet) or self.route(src) is None:
            self.ip_in_errors += 1
            return
        body = packet[IP_HLEN:total]
        if proto == IPPROTO_ICMP:
            k.charge(k.cost.icmp)
            self.icmp_in(src, body)
        elif proto == IPPROTO_TCP and len(body) >= TCP_HLEN:
            k.charge(k.cost.tcp_in)
            self.tcp_in(src, body)

    def icmp_in(self, src: int, body: bytes) -> None:
        kind, ident, seq, ok = parse_icmp(body)
        if not ok:
            self.ip_in_errors += 1
            return
        if kind == ICMP_ECHO:
            self.ip_output(src, IPPROTO_ICMP, icmp_message(ICMP_ECHOREPLY, ident, seq, body[8:]))
        elif kind == ICMP_ECHOREPLY:
            for sock in self.raw_sockets:
                if len(sock.raw_queue) < 64:
                    sock.raw_queue.append((src, body))

    def tcp_in(self, src: int, body: bytes) -> None:
        sport, dport, seq, ack, flags, window, csum = parse_tcp(body)
        payload = body[TCP_HLEN:]
        if payload_checksum(payload) != csum:
            self.ip_in_errors += 1
            return
        conn = self.tcp_conns.get((dport, src, sport))
        if conn is not None:
            conn.input(seq, ack, flags, window, payload)
            return
        lsock = self.listeners.get(dport)
        if lsock is not None and flags & TCP_SYN and len(lsock.accept_queue) < 16:
            conn = self._new_conn(dport, sport, src)
            conn.listener = lsock
            conn.owner = lsock
            self.tcp_conns[(dport, src, sport)] = conn
            conn.accept_syn(seq, window)

    def after_rx_batch(self) -> None:
        pass

    def _new_conn(self, lport: int, rport: int, raddr: int) -> TcpConnection:
        iss = int(self.rng.integers(0, 1 << 32))
        return TcpConnection(self.tcp_io, lport, rport, raddr, iss, self.rto, self.delack)

    # -- kernel socket API (kHTTPd will export these) ---------------------------------------
    def sock_create(self, kind: int, owner: str = "kernel") -> Socket:
        if kind not in (SOCK_STREAM, SOCK_RAW):
            raise ValueError(f"socket type must be SOCK_STREAM or SOCK_RAW, got {kind}")
        sock = Socket(kind, owner)
        if kind == SOCK_RAW:
            self.raw_sockets.append(sock)
        return sock

    def sock_bind(self, sock: Socket, port: int) -> int:
        if port in self.listeners or any(c[0] == port for c in self.tcp_conns):
            return -errno.EADDRINUSE
        sock.lport = port
        return 0

    def sock_listen(self, sock: Socket) -> int:
        if sock.kind != SOCK_STREAM or not sock.lport:
            return -errno.EINVAL
        sock.listening = True
        self.listeners[sock.lport] = sock
        return 0

    def _wait(self, cond, timeout: float) -> bool:
        """Sleep (interrupts on) until ``cond()`` or ``timeout`` simulated seconds pass."""
        k = self.k
        if cond():
            return True
        cpu = k.cpu
        saved = cpu.irq_enabled
        cpu.irq_enabled = True
        try:
            return k.run_until(k.clock.now + k.clock.cycles(timeout), cond)
        finally:
            cpu.irq_enabled = saved

    def sock_accept(self, sock: Socket, timeout: float = 1.0):
        """The next established connection on a listener, as a new Socket (or -errno)."""
        if not sock.listening:
            return -errno.EINVAL
        if not self._wait(lambda: bool(sock.accept_queue), timeout):
            return -errno.EAGAIN
        conn = sock.accept_queue.popleft()
        new = Socket(SOCK_STREAM, sock.owner, conn.lport, conn)
        conn.owner = new
        return new

    def sock_connect(self, sock: Socket, ip: int, port: int, timeout: float = 0.1) -> int:
        if sock.kind != SOCK_STREAM or sock.conn is not None:
            return -errno.EINVAL
        if self.route(ip) is None or ip not in self.neigh:
            return -errno.EHOSTUNREACH
        if not sock.lport:
            self.next_port += 1
            sock.lport = self.next_port
        conn = self._new_conn(sock.lport, port, ip)
        conn.owner = sock
        sock.conn = conn
        self.tcp_conns[(sock.lport, ip, port)] = conn
        conn.connect()
        if not self._wait(lambda: conn.state != "SYN_SENT", timeout):
            return -errno.ETIMEDOUT
        return 0 if conn.state == ESTABLISHED else (sock.error or -errno.ECONNREFUSED)

    def sock_send(self, sock: Socket, data: bytes, timeout: float = 0.1) -> int:
        """Queue all of ``data`` (blocking while the send buffer is full); bytes sent or -errno."""
        conn = sock.conn
        if conn is None:
            return -errno.ENOTCONN
        k = self.k
        k.charge(k.cost.sock_call)
        sent = 0
        view = memoryview(data)
        while sent < len(data):
            if conn.state == CLOSED:
                return sock.error or -errno.EPIPE
            n = conn.send(view[sent:])
            if n < 0:
                return -errno.EPIPE
            if n:
                k.charge(k.cost.copy_cost(n))
                sent += n
                continue
            if not self._wait(lambda: conn.send_space > 0 or conn.state == CLOSED, timeout):
                return sent or -errno.ETIMEDOUT
        return sent

    def sock_recv(self, sock: Socket, n: int, timeout: float = 0.1):
        """Up to ``n`` bytes (waiting for at least one); b"" at end of stream; or -errno."""
        conn = sock.conn
        if conn is None:
            return -errno.ENOTCONN
        k = self.k
        k.charge(k.cost.sock_call)
        if not self._wait(lambda: conn.readable > 0 or conn.peer_fin or conn.state == CLOSED,
                          timeout):
            return -errno.EAGAIN
        if conn.readable == 0:
            return b"" if conn.peer_fin else (sock.error or -errno.ECONNRESET)
        data = conn.read(n)
        k.charge(k.cost.copy_cost(len(data)))
        return data

    def sock_close(self, sock: Socket, timeout: float = 0.05) -> int:
        """Close: FIN after the queued data (and wait for it to be acknowledged), or RST when
        unread data is left, as Linux does."""
        if sock.kind == SOCK_RAW:
            if sock in self.raw_sockets:
                self.raw_sockets.remove(sock)
            return 0
        if sock.listening:
            self.listeners.pop(sock.lport, None)
            sock.listening = False
            while sock.accept_queue:
                sock.accept_queue.popleft().abort()
            return 0
        conn = sock.conn
        if conn is None or conn.state == CLOSED:
            return 0
        if conn.readable or (not conn.peer_fin and conn.state == ESTABLISHED and
                             getattr(sock, "abort_on_close", False)):
            conn.abort()
            return 0
        conn.close()
        if not self._wait(lambda: conn.fin_acked or conn.state == CLOSED, timeout):
            conn.abort()
            return -errno.ETIMEDOUT
        return 0

    def raw_send(self, dst: int, message: bytes) -> int:
        self.k.charge(self.k.cost.icmp)
        return self.ip_output(dst, IPPROTO_ICMP, message)

    def raw_recv(self, sock: Socket, timeout: float):
        if not self._wait(lambda: bool(sock.raw_queue), timeout):
            return -errno.EAGAIN
        return sock.raw_queue.popleft()
