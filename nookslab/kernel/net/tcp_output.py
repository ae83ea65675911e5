"""TCP output and timers (``net/ipv4/tcp_output.c``, ``tcp_timer.c``), on socks in memory.

``tcp_output`` sends what the peer's window and the device's queue allow: each segment's bytes
are taken from the write queue starting at ``send_head`` (and a copy transmitted: Linux sends a
clone); the retransmission timer (go-back-N from ``snd_una``, or a window probe) and the delayed
ACK timer are clock events whose state (armed, expiry) is in the sock. See :mod:`.tcp`.
"""
from __future__ import annotations

from ...machine.devices.wire import TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN
from .netdevice import NET_DEVICE, QDISC
from .skbqueue import SK_BUFF_HEAD, skb_peek
from .sock import (CLOSED, FIN_ACKED, FIN_QUEUED, FIN_SENT, MASK, RTO_ARMED, SOCK, SYN_RCVD,
                   SYN_SENT)
from .skbuff import SK_BUFF
from .tcp import MAX_RETRIES, before, seq_sub

_ST, _UNA, _NXT, _SWND, _WSEQ = SOCK.state, SOCK.snd_una, SOCK.snd_nxt, SOCK.snd_wnd, SOCK.write_seq
_RNXT, _RWND, _ISN, _FL, _MSS = (SOCK.rcv_nxt, SOCK.rcv_wnd, SOCK.snd_isn, SOCK.tcp_flags,
                                 SOCK.mss_cache)
_RBUF, _RMEM, _ACKP, _RETR, _SHEAD = (SOCK.rcvbuf, SOCK.rmem_alloc, SOCK.ack_pending,
                                      SOCK.retransmits, SOCK.send_head)
_WQ = SOCK.write_queue
_SKB_NEXT, _SKB_DATA, _SKB_LEN, _SEQ = SK_BUFF.next, SK_BUFF.data, SK_BUFF.len, SK_BUFF.seq
_HALF = 0x80000000
_DEV_QDISC, _DEV_TXQLEN = NET_DEVICE.qdisc, NET_DEVICE.tx_queue_len
_QDISC_QLEN = QDISC.q + SK_BUFF_HEAD.qlen


class TcpOutputFunctions:
    """Mixin of the net subsystem: TCP's output path and its two timers."""

    # -- output ---------------------------------------------------------------------------------
    def tcp_window(self, sk: int) -> int:
        m = self.k.mmu
        wnd = m.ld32(sk + _RBUF) - m.ld32(sk + _RMEM)
        return wnd if wnd > 0 else 0

    def tcp_send_ack(self, sk: int) -> None:
        m = self.k.mmu
        m.st32(sk + _ACKP, 0)
        wnd = self.tcp_window(sk)
        m.st32(sk + _RWND, wnd)
        self._emit(sk, TCP_ACK, m.ld32(sk + _NXT), m.ld32(sk + _RNXT), wnd, b"")

    def _send_ctl(self, sk: int, flags: int, seq: int) -> None:
        m = self.k.mmu
        wnd = self.tcp_window(sk)
        m.st32(sk + _RWND, wnd)
        self._emit(sk, flags, seq, m.ld32(sk + _RNXT), wnd, b"")

    def _emit(self, sk: int, flags: int, seq: int, ack: int, window: int, payload,
              rt=None) -> None:
        m = self.k.mmu
        ports = m.ld32(sk + SOCK.dport)                # dport, then num (the local port)
        self.tcp_transmit(ports >> 16, ports & 0xFFFF, m.ld32(sk + SOCK.daddr), flags, seq, ack,
                          window, payload, rt or self.sk_route(sk))

    def _room(self, rt) -> bool:
        """The route exists and its device's queue has room (``tcp_snd_test``'s device part)."""
        return rt is not None and self.can_queue(rt[0])

    def _take_segment(self, sk: int, seq: int, n: int):
        """``n`` bytes of queued data from sequence number ``seq``, read from ``send_head`` on,
        and the skb that holds the byte after them (the next ``send_head``; 0 if none)."""
        k = self.k
        m = k.mmu
        ld32 = m.ld32
        cpu = k.cpu
        wq = sk + _WQ
        skb = ld32(sk + _SHEAD)
        out = b""
        while skb and skb != wq:
            cpu.step()
            start = ld32(skb + _SEQ)
            off = (seq - start) & MASK                # seq_sub, inlined (the per-segment path)
            length = ld32(skb + _SKB_LEN)
            if n > 0 and off < length:
                take = length - off if length - off < n else n
                out += m.read(ld32(skb + _SKB_DATA) + off, take)
                seq = (seq + take) & MASK
                n -= take
            if (seq - start - length) & MASK >= _HALF:
                return out, skb                    # this skb still holds unsent bytes
            skb = ld32(skb + _SKB_NEXT)
            if n <= 0:                             # taken to this skb's end: the next one
                return out, (skb if skb != wq else 0)
        return out, 0

    def tcp_output(self, sk: int) -> None:
        """Send what the window allows (the device may say it cannot take more now)."""
        m = self.k.mmu
        ld32, st32 = m.ld32, m.st32
        state = ld32(sk + _ST)
        if state in (CLOSED, SYN_SENT, SYN_RCVD):
            return
        end = ld32(sk + _WSEQ)
        snd_nxt = ld32(sk + _NXT)
        flags = ld32(sk + _FL)
        fin_due = flags & FIN_QUEUED and not flags & FIN_SENT
        if not before(snd_nxt, end) and not fin_due:
            if before(ld32(sk + _UNA), snd_nxt):
                self._arm_rto(sk)
            return
        ports = ld32(sk + SOCK.dport)                  # dport, then num (the local port)
        lport, rport, daddr = ports >> 16, ports & 0xFFFF, ld32(sk + SOCK.daddr)
        rt = self.sk_route(sk)
        if rt is None:
            qlen_at, room = 0, -1                  # no route: nothing can go
        else:                                      # the device queue's length and TCP's share
            dev = rt[0].addr
            qlen_at = ld32(dev + _DEV_QDISC) + _QDISC_QLEN
            room = ld32(dev + _DEV_TXQLEN) // 2
        limit = (ld32(sk + _UNA) + ld32(sk + _SWND)) & MASK
        mss = ld32(sk + _MSS)
        transmit = self.tcp_transmit
        # before(snd_nxt, end), and the device queue below half full (inlined: per segment)
        while (snd_nxt - end) & MASK >= _HALF and qlen_at and ld32(qlen_at) < room:
            n = mss
            left = (end - snd_nxt) & MASK
            if left < n:
                n = left
            window = (limit - snd_nxt) & MASK
            if window >= _HALF:
                break                              # the window is shut (negative room)
            if window < n:
                n = window
            nxt = (snd_nxt + n) & MASK
            if n <= 0 or (n < mss and nxt != end):
                break                              # silly-window avoidance: wait for room
            payload, head = self._take_segment(sk, snd_nxt, n)
            if len(payload) != n:
                break                              # the write queue does not hold those bytes
            wnd = self.tcp_window(sk)
            st32(sk + _RWND, wnd)
            st32(sk + _ACKP, 0)
            transmit(lport, rport, daddr, TCP_ACK | TCP_PSH if nxt == end else TCP_ACK,
                     snd_nxt, ld32(sk + _RNXT), wnd, payload, rt)
            snd_nxt = nxt
            st32(sk + _NXT, snd_nxt)
            st32(sk + _SHEAD, head)
        flags = ld32(sk + _FL)
        if flags & FIN_QUEUED and not flags & FIN_SENT and snd_nxt == end and self._room(rt):
            st32(sk + _FL, flags | FIN_SENT)
            self._send_ctl(sk, TCP_FIN | TCP_ACK, end)
            snd_nxt = (end + 1) & MASK
            st32(sk + _NXT, snd_nxt)
        if before(ld32(sk + _UNA), snd_nxt) or before(snd_nxt, end):
            self._arm_rto(sk)

    # -- timers ---------------------------------------------------------------------------------
    def _tcp_timer(self, delay: int, sk: int, fn):
        return self.k.clock.schedule(delay, lambda: self._softirq(lambda: self._timer_run(sk, fn)),
                                     label="tcp timer")

    def _timer_run(self, sk: int, fn) -> None:
        """A TCP timer fires: run it holding the sock (its events are cancelled when it is freed)."""
        self.sock_hold(sk)
        fn(sk)
        self.sock_put(sk)

    def _arm_rto(self, sk: int) -> None:
        m = self.k.mmu
        rto = m.ld32(sk + SOCK.rto)
        m.st32(sk + SOCK.rto_expires, (self.k.clock.now + rto) & MASK)
        flags = m.ld32(sk + _FL)
        if not flags & RTO_ARMED:
            m.st32(sk + _FL, flags | RTO_ARMED)
        timers = self.timers.get(sk)
        if timers is not None and timers.rto is None:
            timers.rto = self._tcp_timer(rto, sk, self._on_rto)

    def _on_rto(self, sk: int) -> None:
        timers = self.timers.get(sk)
        if timers is None:
            return
        timers.rto = None
        m = self.k.mmu
        ld32, st32 = m.ld32, m.st32
        if not ld32(sk + _FL) & RTO_ARMED or ld32(sk + _ST) == CLOSED:
            return
        now = self.k.clock.now & MASK
        expires = ld32(sk + SOCK.rto_expires)
        if before(now, expires):
            timers.rto = self._tcp_timer(seq_sub(expires, now), sk, self._on_rto)
            return
        retries = ld32(sk + _RETR) + 1
        st32(sk + _RETR, retries)
        st32(sk + SOCK.total_retrans, ld32(sk + SOCK.total_retrans) + 1)
        state = ld32(sk + _ST)
        snd_una, snd_nxt = ld32(sk + _UNA), ld32(sk + _NXT)
        if retries > MAX_RETRIES:
            self._emit(sk, TCP_RST | TCP_ACK, snd_nxt, ld32(sk + _RNXT), 0, b"")
            self._closed(sk, "timeout")
            return
        if state == SYN_SENT:
            self._send_ctl(sk, TCP_SYN, ld32(sk + _ISN))
        elif state == SYN_RCVD:
            self._send_ctl(sk, TCP_SYN | TCP_ACK, ld32(sk + _ISN))
        elif before(snd_una, snd_nxt):
            self._go_back(sk)
        elif before(snd_nxt, ld32(sk + _WSEQ)):       # window probe: an old byte draws an ACK
            self._emit(sk, TCP_ACK, (snd_una - 1) & MASK, ld32(sk + _RNXT),
                       self.tcp_window(sk), b"")
        else:                                           # nothing outstanding: the timer stops
            st32(sk + _RETR, 0)
            st32(sk + _FL, ld32(sk + _FL) & ~RTO_ARMED)
            return
        self._arm_rto(sk)

    def _go_back(self, sk: int) -> None:
        m = self.k.mmu
        m.st32(sk + _NXT, m.ld32(sk + _UNA))
        m.st32(sk + _SHEAD, skb_peek(m, sk + _WQ))
        flags = m.ld32(sk + _FL)
        if flags & FIN_SENT and not flags & FIN_ACKED:
            m.st32(sk + _FL, flags & ~FIN_SENT)
        self.tcp_output(sk)

    def _on_delack(self, sk: int) -> None:
        timers = self.timers.get(sk)
        if timers is None:
            return
        timers.delack = None
        m = self.k.mmu
        if m.ld32(sk + _ACKP) and m.ld32(sk + _ST) != CLOSED:
            self.tcp_send_ack(sk)

