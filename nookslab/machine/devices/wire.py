"""The wire between a NIC and the peer host, and the frame formats that travel on it.

A :class:`Wire` is a full-duplex point-to-point Ethernet link: each direction serialises frames
one after another at the link's bandwidth (preamble and inter-frame gap included) and delivers
each one a propagation delay after its last bit left, as a clock event. Each end keeps its
transmit backlog so a card can tell how full its on-board FIFO is (3c59x's ``TxFree``).

The header formats (Ethernet II, IPv4, ICMP, and the TCP-lite segment) live here, once, for the
kernel's stack and the peer host alike. Frames on the wire carry a 4-byte FCS (CRC-32) that the
sending card appends and the receiving card checks, as real Ethernet does.
"""
from __future__ import annotations

import struct
import zlib
from collections import deque
from typing import Callable

ETH_ALEN = 6
ETH_HLEN = 14
ETH_FCS = 4
ETH_ZLEN = 60                     # minimum frame without FCS
ETH_DATA_LEN = 1500
ETH_FRAME_LEN = ETH_HLEN + ETH_DATA_LEN
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
BROADCAST = b"\xff" * 6
WIRE_OVERHEAD = 20                # preamble + SFD (8) and inter-frame gap (12), in bytes

IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IP_HLEN = 20
ICMP_HLEN = 8
TCP_HLEN = 20
ICMP_ECHO = 8
ICMP_ECHOREPLY = 0

TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10
TCP_WSCALE = 3                    # the window field counts 8-byte units (a fixed window scale)

_ETH = struct.Struct("!6s6sH")
_IP = struct.Struct("!BBHHHBBHII")
_ICMP = struct.Struct("!BBHHH")
_TCP = struct.Struct("!HHIIHHHH")
_BE16 = struct.Struct("!H")
_LE32 = struct.Struct("<I")


def ip_aton(text: str) -> int:
    a, b, c, d = (int(x) for x in text.split("."))
    return a << 24 | b << 16 | c << 8 | d


def ip_ntoa(addr: int) -> str:
    return ".".join(str(addr >> s & 0xFF) for s in (24, 16, 8, 0))


def mac_str(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def ip_checksum(header: bytes) -> int:
    """The Internet checksum (RFC 1071) of an IP or ICMP header.

    The one's-complement sum of the big-endian 16-bit words, folded, is the header read as one
    big-endian integer modulo 0xFFFF (2**16 is 1 modulo 0xFFFF), except that a nonzero sum folds
    to 0xFFFF, not 0: the same value as summing word by word, in one C-level pass.
    """
    if len(header) & 1:
        header = bytes(header) + b"\0"
    total = int.from_bytes(header, "big")
    if total:
        total = total % 0xFFFF or 0xFFFF
    return ~total & 0xFFFF


def payload_checksum(data) -> int:
    """TCP-lite's segment checksum: a folded CRC-32 (cheaper to simulate than RFC 1071's sum)."""
    crc = zlib.crc32(data)
    return (crc ^ crc >> 16) & 0xFFFF


def fcs(frame) -> bytes:
    """The Ethernet frame check sequence of ``frame``."""
    return _LE32.pack(zlib.crc32(frame))


def eth_header(dst: bytes, src: bytes, proto: int = ETH_P_IP) -> bytes:
    return _ETH.pack(dst, src, proto)


def parse_eth(frame) -> tuple[bytes, bytes, int]:
    return _ETH.unpack_from(frame, 0)


def ip_header(src: int, dst: int, proto: int, payload_len: int, ident: int = 0) -> bytes:
    head = _IP.pack(0x45, 0, IP_HLEN + payload_len, ident & 0xFFFF, 0x4000, 64, proto, 0, src, dst)
    return head[:10] + _BE16.pack(ip_checksum(head)) + head[12:]


def parse_ip(packet, offset: int = 0):
    """(src, dst, proto, total_len, header_ok) of the IPv4 header at ``offset``."""
    ver, _, total, _, _, _, proto, _, src, dst = _IP.unpack_from(packet, offset)
    ok = ver == 0x45 and ip_checksum(bytes(packet[offset:offset + IP_HLEN])) == 0
    return src, dst, proto, total, ok


def icmp_message(kind: int, ident: int, seq: int, payload: bytes) -> bytes:
    head = _ICMP.pack(kind, 0, 0, ident & 0xFFFF, seq & 0xFFFF)
    csum = ip_checksum(head + payload)
    return head[:2] + _BE16.pack(csum) + head[4:] + payload


def parse_icmp(message):
    """(type, ident, seq, checksum_ok) of an ICMP echo message."""
    kind, _, _, ident, seq = _ICMP.unpack_from(message, 0)
    return kind, ident, seq, ip_checksum(bytes(message)) == 0


def tcp_header(sport: int, dport: int, seq: int, ack: int, flags: int, window: int,
               payload) -> bytes:
    wnd = min(window >> TCP_WSCALE, 0xFFFF)
    return _TCP.pack(sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 12 | flags, wnd,
                     payload_checksum(payload), 0)


def parse_tcp(segment, offset: int = 0):
    """(sport, dport, seq, ack, flags, window_bytes, checksum) of a TCP-lite header."""
    sport, dport, seq, ack, off_flags, wnd, csum, _ = _TCP.unpack_from(segment, offset)
    return sport, dport, seq, ack, off_flags & 0x3F, wnd << TCP_WSCALE, csum


class WireEnd:
    """One end of a wire: what a card transmits from here arrives at the other end."""

    def __init__(self, wire: "Wire", index: int):
        self.wire = wire
        self.index = index
        self.receiver: Callable[[bytes], None] | None = None
        self.busy_until = 0
        self._inflight: deque[tuple[int, int]] = deque()     # (finish time, bytes)
        self.frames = 0
        self.bytes = 0

    def connect(self, receiver: Callable[[bytes], None]) -> None:
        """``receiver(frame)`` is called for every frame arriving at this end."""
        self.receiver = receiver

    def transmit(self, frame: bytes) -> int:
        """Queue ``frame`` (with its FCS) for sending; return when its last bit leaves."""
        wire = self.wire
        clock = wire.clock
        start = max(clock.now, self.busy_until)
        size = max(len(frame), ETH_ZLEN + ETH_FCS)
        finish = start + (size + WIRE_OVERHEAD) * wire.cycles_per_byte_milli // 1000
        self.busy_until = finish
        self._inflight.append((finish, size))
        self.frames += 1
        self.bytes += size
        other = wire.ends[1 - self.index]
        clock.schedule_at(finish + wire.delay, lambda: other._arrive(frame), label="wire")
        return finish

    def _arrive(self, frame: bytes) -> None:
        if self.receiver is not None and self.wire.up:
            self.receiver(frame)

    def backlog(self) -> int:
        """Bytes queued at this end whose last bit has not yet left."""
        now = self.wire.clock.now
        q = self._inflight
        while q and q[0][0] <= now:
            q.popleft()
        return sum(n for _, n in q)

    def time_backlog_at_most(self, limit: int) -> int:
        """The earliest time at which the backlog will be at most ``limit`` bytes."""
        now = self.wire.clock.now
        total = self.backlog()
        for finish, n in self._inflight:
            if total <= limit:
                break
            total -= n
            now = finish
        return now


class Wire:
    """A full-duplex Ethernet link.

    Parameters
    ----------
    clock: the machine's clock. bandwidth: bits per second. delay: one-way propagation delay in
    seconds (cable plus a switch).
    """

    def __init__(self, clock, bandwidth: int, delay: float = 5e-6):
        self.clock = clock
        self.bandwidth = int(bandwidth)
        # cycles per byte, in thousandths, so a gigabit link at 1.7 GHz stays exact enough
        self.cycles_per_byte_milli = 8 * clock.hz * 1000 // self.bandwidth
        self.delay = clock.cycles(delay)
        self.up = True
        self.ends = (WireEnd(self, 0), WireEnd(self, 1))
