"""The peer host at the far end of a NIC's wire: the other machine of the paper's network tests.

SOSP'03 section 5 ran its network benchmarks between two similar machines; our peer is that second
machine, reduced to what the workloads need. It answers ICMP echo, runs its own TCP-lite
(:mod:`.peer_tcp`), and hosts small *applications* on connections:
:class:`StreamSink` (netperf's receiver: ACKs and checks a byte stream), :class:`StreamSource`
(sends a seeded stream, for receive-stream), and, through :meth:`PeerHost.connect` and
:meth:`PeerHost.listen`, whatever a later workload needs (an HTTP client, say). The peer is
infinitely fast: it charges nothing to our CPU and replies after a fixed processing delay.

An application is any object with ``on_connected(conn)``, ``on_data(conn)`` and ``on_closed(conn,
why)``; it calls ``conn.send(bytes)``, ``conn.read(n)``, ``conn.close()`` and ``conn.abort()``.
"""
from __future__ import annotations

import numpy as np

from .peer_tcp import TcpConnection
from .wire import (ETH_FCS, ETH_ZLEN, ETH_HLEN, ETH_P_IP, ICMP_ECHO, ICMP_ECHOREPLY, IP_HLEN, IPPROTO_ICMP,
                   IPPROTO_TCP, TCP_HLEN, TCP_SYN, eth_header, fcs, icmp_message, ip_header,
                   parse_eth, parse_icmp, parse_ip, parse_tcp, payload_checksum, tcp_header)

PATTERN_PERIOD = 65521            # a prime: a segment sent from a wrong offset never matches


class StreamPattern:
    """A seeded, endless byte stream: byte ``i`` is ``table[i % PATTERN_PERIOD]``."""

    def __init__(self, rng: np.random.Generator):
        table = rng.integers(0, 256, size=PATTERN_PERIOD, dtype=np.uint8).tobytes()
        self._twice = table + table

    def chunk(self, offset: int, n: int) -> bytes:
        out = bytearray()
        while n > 0:
            start = offset % PATTERN_PERIOD
            take = min(n, PATTERN_PERIOD)
            out += self._twice[start:start + take]
            offset += take
            n -= take
        return bytes(out)

    def matches(self, offset: int, data: bytes) -> bool:
        return self.chunk(offset, len(data)) == data


class StreamSink:
    """Receives a stream and checks every byte against ``pattern`` (netperf's TCP_STREAM end)."""

    def __init__(self, pattern: StreamPattern):
        self.pattern = pattern
        self.received = 0
        self.mismatch_at: int | None = None
        self.eof = False
        self.closed: str | None = None

    def on_connected(self, conn) -> None:
        pass

    def on_data(self, conn) -> None:
        data = conn.read(conn.readable)
        if self.mismatch_at is None and not self.pattern.matches(self.received, data):
            self.mismatch_at = self.received
        self.received += len(data)

    def on_eof(self, conn) -> None:
        self.eof = True
        conn.close()

    def on_closed(self, conn, why: str) -> None:
        self.closed = why


class StreamSource:
    """Sends ``pattern`` as fast as the window lets it, until the other side closes."""

    def __init__(self, pattern: StreamPattern, chunk: int = 64 * 1024):
        self.pattern = pattern
        self.chunk = chunk
        self.sent = 0
        self.closed: str | None = None

    def on_connected(self, conn) -> None:
        self._fill(conn)

    def on_acked(self, conn) -> None:
        self._fill(conn)

    def _fill(self, conn) -> None:
        space = conn.send_space
        if space >= self.chunk // 2 and conn.state == "ESTABLISHED":
            n = conn.send(self.pattern.chunk(self.sent, min(space, self.chunk)))
            if n > 0:
                self.sent += n

    def on_data(self, conn) -> None:
        conn.read(conn.readable)

    def on_eof(self, conn) -> None:
        conn.abort()

    def on_closed(self, conn, why: str) -> None:
        self.closed = why


class _PeerIO:
    """How the peer's TCP connections emit segments and set timers."""

    def __init__(self, host: "PeerHost"):
        self.host = host

    def emit(self, conn, flags, seq, ack, window, payload) -> None:
        self.host.send_tcp(conn, flags, seq, ack, window, payload)

    def can_send(self, conn) -> bool:
        return True

    def now(self) -> int:
        return self.host.clock.now

    def schedule(self, delay, fn):
        return self.host.clock.schedule(delay, fn, label="peer tcp")

    def event(self, conn, what: str) -> None:
        app = conn.owner
        if app is None:
            return
        if what == "connected":
            app.on_connected(conn)
        elif what == "data":
            app.on_data(conn)
        elif what == "acked" and hasattr(app, "on_acked"):
            app.on_acked(conn)
        elif what == "eof" and hasattr(app, "on_eof"):
            app.on_eof(conn)
        elif what in ("closed", "reset", "timeout"):
            self.host.connections.pop((conn.lport, conn.raddr, conn.rport), None)
            app.on_closed(conn, what)


class PeerHost:
    """The remote machine: one MAC and IP on the far end of ``wire_end``.

    Parameters
    ----------
    clock: the shared simulated clock. wire_end: the peer's end of the wire.
    mac, ip: the peer's addresses. rng: seeds its TCP initial sequence numbers.
    reply_delay: seconds the peer takes to answer a packet (its stack and its card).
    """

    def __init__(self, clock, wire_end, mac: bytes, ip: int, rng: np.random.Generator,
                 reply_delay: float = 4e-6):
        self.clock = clock
        self.end = wire_end
        self.mac = mac
        self.ip = ip
        self.rng = rng
        self.reply_delay = clock.cycles(reply_delay)
        # the peer's own timing varies a little (its caches, its interrupts): seeded jitter
        self._jitter = [int(j) for j in rng.integers(0, clock.cycles(2e-6), size=1021)]
        self._jitter_i = 0
        self._last_send = 0
        self.rto = clock.cycles(5e-3)
        self.delack = clock.cycles(0.5e-3)
        self.io = _PeerIO(self)
        self.neighbours: dict[int, bytes] = {}          # ip -> mac, learned from frames
        self.listeners: dict[int, object] = {}
        self.connections: dict[tuple[int, int, int], TcpConnection] = {}
        self.echo_replies = 0
        self.bad_frames = 0
        self.frames_in = 0
        self._ident = 0
        self._next_port = 40000
        wire_end.connect(self.receive)

    # -- the application API ------------------------------------------------------------
    def listen(self, port: int, app_factory) -> None:
        """Accept connections to ``port``; ``app_factory(conn)`` makes each one's application."""
        self.listeners[port] = app_factory

    def unlisten(self, port: int) -> None:
        self.listeners.pop(port, None)

    def connect(self, ip: int, port: int, app) -> TcpConnection:
        """Open a connection to our host's ``ip:port``, driven by ``app``."""
        self._next_port += 1
        conn = self._new_conn(self._next_port, port, ip)
        conn.owner = app
        self.connections[(conn.lport, ip, port)] = conn
        conn.connect()
        return conn

    def _new_conn(self, lport: int, rport: int, raddr: int) -> TcpConnection:
        iss = int(self.rng.integers(0, 1 << 32))
        return TcpConnection(self.io, lport, rport, raddr, iss, self.rto, self.delack)

    # -- sending ----------------------------------------------------------------------------
    def _frame(self, dst_ip: int, proto: int, body: bytes) -> bytes | None:
        mac = self.neighbours.get(dst_ip)
        if mac is None:
            return None
        self._ident += 1
        frame = eth_header(mac, self.mac, ETH_P_IP) + \
            ip_header(self.ip, dst_ip, proto, len(body), self._ident) + body
        if len(frame) < ETH_ZLEN:
            frame += bytes(ETH_ZLEN - len(frame))
        return frame + fcs(frame)

    def _send_later(self, frame: bytes | None) -> None:
        if frame is not None:
            self._jitter_i = (self._jitter_i + 1) % len(self._jitter)
            # frames leave in the order they were made: jitter never reorders them
            when = max(self.clock.now + self.reply_delay + self._jitter[self._jitter_i],
                       self._last_send)
            self._last_send = when
            self.clock.schedule_at(when, lambda: self.end.transmit(frame), label="peer")

    def send_tcp(self, conn, flags, seq, ack, window, payload) -> None:
        body = tcp_header(conn.lport, conn.rport, seq, ack, flags, window, payload) + payload
        self._send_later(self._frame(conn.raddr, IPPROTO_TCP, body))

    # -- receiving --------------------------------------------------------------------------
    def receive(self, frame: bytes) -> None:
        """A frame arrived from the wire (with its FCS)."""
        self.frames_in += 1
        if len(frame) < ETH_HLEN + IP_HLEN + ETH_FCS or fcs(frame[:-ETH_FCS]) != frame[-ETH_FCS:]:
            self.bad_frames += 1
            return
        dst, src, proto = parse_eth(frame)
        if dst != self.mac or proto != ETH_P_IP:
            return
        sip, dip, l4, total, ok = parse_ip(frame, ETH_HLEN)
        if not ok or dip != self.ip or ETH_HLEN + total > len(frame) - ETH_FCS:
            self.bad_frames += 1
            return
        self.neighbours[sip] = src
        body = frame[ETH_HLEN + IP_HLEN:ETH_HLEN + total]
        if l4 == IPPROTO_ICMP:
            kind, ident, seq, csum_ok = parse_icmp(body)
            if not csum_ok:
                self.bad_frames += 1
            elif kind == ICMP_ECHO:
                self.echo_replies += 1
                reply = icmp_message(ICMP_ECHOREPLY, ident, seq, body[8:])
                self._send_later(self._frame(sip, IPPROTO_ICMP, reply))
        elif l4 == IPPROTO_TCP and len(body) >= TCP_HLEN:
            self._tcp_in(sip, body)

    def _tcp_in(self, sip: int, body: bytes) -> None:
        sport, dport, seq, ack, flags, window, csum = parse_tcp(body)
        payload = body[TCP_HLEN:]
        if payload_checksum(payload) != csum:
            self.bad_frames += 1
            return
        conn = self.connections.get((dport, sip, sport))
        if conn is None:
            factory = self.listeners.get(dport)
            if factory is None or not flags & TCP_SYN:
                return
            conn = self._new_conn(dport, sport, sip)
            conn.owner = factory(conn)
            self.connections[(dport, sip, sport)] = conn
            conn.accept_syn(seq, window)
            return
        conn.input(seq, ack, flags, window, payload)
