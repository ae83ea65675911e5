"""The kernel's TCP-lite, on control blocks and skb queues in simulated memory.

The same protocol as the peer's (:mod:`nookslab.machine.devices.peer_tcp`): a three-way handshake,
cumulative ACKs, a receive window advertised from free buffer space, delayed ACKs (one per
``ACK_EVERY`` segments), go-back-N retransmission on a timeout or three duplicate ACKs, FIN close
and RST abort; no congestion control (a LAN). But every field lives in the sock
(:mod:`.sock`), read and written through the MMU, with Linux's 32-bit sequence arithmetic
(``before``/``after``), and the data lives in skbs:

- **send**: ``tcp_sendmsg`` copies the user's bytes into skbs of up to one MSS on the sock's
  ``write_queue`` (each skb's ``seq``/``end_seq`` are its bytes' sequence numbers); output sends
  from ``send_head`` (the skb holding ``snd_nxt``) a copy of each segment (Linux transmits a
  clone) and an ACK frees the skbs it covers from the head of the queue.
- **receive**: an in-order segment's skb itself, pulled to its payload, is queued on the
  ``receive_queue``; ``tcp_read`` copies from the skbs at the front and frees the ones it
  emptied. ``rmem_alloc`` counts the unread bytes (the advertised window is ``rcvbuf`` minus it).

A corrupted link or count in any of these is met by this code as Linux's would meet it: a load
through a wild pointer faults (in the NET_RX softirq: a panic; in a process's socket call: that
process dies), a wrong count misleads the windows and limits.

Costs: segments are charged as before (``tcp_out``, ``tcp_in``, the transmitted skb's
allocation and free, one copy from and to user memory): the constants were estimated for Linux's
whole per-segment path, socket-buffer management included, so the write-queue skbs and the
clone copy are not charged again. The loads and stores of these walks are not charged either
(the cost model charges per operation, not per memory access, everywhere in the kernel).
"""
from __future__ import annotations

from .. import errno
from ...machine.devices.wire import TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN
from .netdevice import NET_DEVICE, QDISC
from .skbqueue import SK_BUFF_HEAD, skb_dequeue, skb_peek, skb_queue_tail
from .skbuff import SK_BUFF
from .sock import (CLOSE_WAIT, CLOSED, CLOSING, ESTABLISHED, FIN_ACKED, FIN_QUEUED, FIN_SENT,
                   FIN_WAIT, LAST_ACK, MASK, PEER_FIN, RTO_ARMED, SOCK, SOCK_DEAD, SYN_RCVD,
                   SYN_SENT)

MSS = 1460
ACK_EVERY = 2
MAX_RETRIES = 12
RCVBUF = SNDBUF = 256 * 1024

_ST, _UNA, _NXT, _SWND, _WSEQ = SOCK.state, SOCK.snd_una, SOCK.snd_nxt, SOCK.snd_wnd, SOCK.write_seq
_RNXT, _RWND, _ISN, _FL, _MSS = SOCK.rcv_nxt, SOCK.rcv_wnd, SOCK.snd_isn, SOCK.tcp_flags, \
    SOCK.mss_cache
_RBUF, _RMEM, _SBUF, _WMEM = SOCK.rcvbuf, SOCK.rmem_alloc, SOCK.sndbuf, SOCK.wmem_queued
_ACKP, _DUP, _RETR, _SHEAD = SOCK.ack_pending, SOCK.dup_acks, SOCK.retransmits, SOCK.send_head
_RQ, _WQ = SOCK.receive_queue, SOCK.write_queue
_SKB_NEXT, _SKB_DATA, _SKB_LEN, _SKB_TAIL = SK_BUFF.next, SK_BUFF.data, SK_BUFF.len, SK_BUFF.tail
_SEQ, _END_SEQ = SK_BUFF.seq, SK_BUFF.end_seq
_HALF = 0x80000000
_DEV_QDISC, _DEV_TXQLEN = NET_DEVICE.qdisc, NET_DEVICE.tx_queue_len
_QDISC_QLEN = QDISC.q + SK_BUFF_HEAD.qlen


def before(a: int, b: int) -> bool:
    """``a`` comes before ``b`` in 32-bit sequence space (Linux's ``before()``)."""
    return (a - b) & MASK >= _HALF


def seq_sub(a: int, b: int) -> int:
    """``a - b`` as a signed 32-bit difference."""
    d = (a - b) & MASK
    return d - (1 << 32) if d >= _HALF else d


class TcpFunctions:
    """Mixin of the net subsystem: the TCP state machine on socks in memory."""

    # -- making connections -------------------------------------------------------------------
    def tcp_sock(self, lport: int, rport: int, raddr: int, laddr: int = 0) -> int:
        """A TCP sock for one connection endpoint, not yet hashed; 0 if out of memory."""
        sk = self.sk_alloc(1, RCVBUF, SNDBUF)
        if sk:
            self.tcp_init(sk, lport, rport, raddr, laddr)
        return sk

    def tcp_init(self, sk: int, lport: int, rport: int, raddr: int, laddr: int = 0) -> None:
        """Set a sock up for one connection: ports, addresses, a seeded initial sequence
        number, the MSS and the timeouts."""
        iss = int(self.rng.integers(0, 1 << 32))
        m = self.k.mmu
        st32 = m.st32
        m.st16(sk + SOCK.num, lport)
        m.st16(sk + SOCK.dport, rport)
        st32(sk + SOCK.daddr, raddr)
        st32(sk + SOCK.rcv_saddr, laddr)
        st32(sk + _ISN, iss)
        st32(sk + _UNA, iss)
        st32(sk + _NXT, iss)
        st32(sk + _WSEQ, (iss + 1) & MASK)
        st32(sk + _SWND, MSS)
        st32(sk + _MSS, MSS)
        st32(sk + SOCK.rto, self.rto)
        st32(sk + SOCK.ato, self.delack)

    def tcp_connect(self, sk: int) -> None:
        m = self.k.mmu
        iss = m.ld32(sk + _ISN)
        m.st32(sk + _ST, SYN_SENT)
        m.st32(sk + _NXT, (iss + 1) & MASK)
        self._send_ctl(sk, TCP_SYN, iss)
        self._arm_rto(sk)

    def tcp_accept_syn(self, sk: int, seq: int, window: int) -> None:
        """A listener got SYN ``seq``: answer SYN|ACK (passive open)."""
        m = self.k.mmu
        iss = m.ld32(sk + _ISN)
        m.st32(sk + _ST, SYN_RCVD)
        m.st32(sk + _RNXT, (seq + 1) & MASK)
        m.st32(sk + _SWND, window)
        m.st32(sk + _NXT, (iss + 1) & MASK)
        self._send_ctl(sk, TCP_SYN | TCP_ACK, iss)
        self._arm_rto(sk)

    # -- the application side -------------------------------------------------------------------
    def tcp_state(self, sk: int) -> int:
        return self.k.mmu.ld32(sk + _ST)

    def tcp_readable(self, sk: int) -> int:
        return self.k.mmu.ld32(sk + _RMEM)

    def tcp_send_space(self, sk: int) -> int:
        m = self.k.mmu
        return m.ld32(sk + _SBUF) - m.ld32(sk + _WMEM)

    def tcp_peer_fin(self, sk: int) -> bool:
        return bool(self.k.mmu.ld32(sk + _FL) & PEER_FIN)

    def tcp_fin_acked(self, sk: int) -> bool:
        return bool(self.k.mmu.ld32(sk + _FL) & FIN_ACKED)

    def tcp_send(self, sk: int, data) -> int:
        """Queue up to the free send space of ``data`` on the write queue and send what the
        window allows; bytes taken, or -1 if the connection cannot send."""
        m = self.k.mmu
        state = m.ld32(sk + _ST)
        if state not in (ESTABLISHED, CLOSE_WAIT) or m.ld32(sk + _FL) & FIN_QUEUED:
            return -1
        n = min(len(data), m.ld32(sk + _SBUF) - m.ld32(sk + _WMEM))
        if n > 0:
            n = self._queue_data(sk, data, n)
            self.tcp_output(sk)
        return n

    def _queue_data(self, sk: int, data, n: int) -> int:
        """tcp_sendmsg's copy into write-queue skbs: fill the unsent tail skb to one MSS, then
        new skbs; ``seq``/``end_seq`` and ``write_seq``/``wmem_queued`` follow."""
        m = self.k.mmu
        ld32, st32, write = m.ld32, m.st32, m.write
        wq = sk + _WQ
        mss = ld32(sk + _MSS)
        snd_nxt = ld32(sk + _NXT)
        write_seq = ld32(sk + _WSEQ)
        off = 0
        tail = ld32(wq + 4)
        if tail != wq and not before(ld32(tail + _SEQ), snd_nxt):      # an unsent tail
            length = ld32(tail + _SKB_LEN)
            take = min(mss - length, n)
            if take > 0:
                end = ld32(tail + _SKB_TAIL)
                write(end, data[:take])
                st32(tail + _SKB_TAIL, end + take)
                st32(tail + _SKB_LEN, length + take)
                write_seq = (write_seq + take) & MASK
                st32(tail + _END_SEQ, write_seq)
                off = take
        while off < n:
            skb = self.alloc_skb(mss, charge=False)
            if not skb:
                break
            take = min(mss, n - off)
            data_at = ld32(skb + _SKB_DATA)
            write(data_at, data[off:off + take])
            st32(skb + _SKB_TAIL, data_at + take)
            st32(skb + _SKB_LEN, take)
            st32(skb + _SEQ, write_seq)
            write_seq = (write_seq + take) & MASK
            st32(skb + _END_SEQ, write_seq)
            skb_queue_tail(m, wq, skb)
            if not ld32(sk + _SHEAD):
                st32(sk + _SHEAD, skb)
            off += take
        st32(sk + _WSEQ, write_seq)
        st32(sk + _WMEM, ld32(sk + _WMEM) + off)
        return off

    def tcp_read(self, sk: int, n: int) -> bytes:
        """Take up to ``n`` bytes of in-order received data off the receive queue."""
        k = self.k
        m = k.mmu
        ld32, st32 = m.ld32, m.st32
        n = min(n, ld32(sk + _RMEM))
        rq = sk + _RQ
        out = bytearray()
        while len(out) < n:
            skb = skb_peek(m, rq)
            if not skb:
                break
            k.cpu.step()
            avail = ld32(skb + _SKB_LEN)
            take = min(avail, n - len(out))
            data = ld32(skb + _SKB_DATA)
            out += m.read(data, take)
            if take >= avail:
                skb_dequeue(m, rq)
                self.kfree_skb(skb)
            else:
                st32(skb + _SKB_DATA, data + take)
                st32(skb + _SKB_LEN, avail - take)
        got = len(out)
        st32(sk + _RMEM, (ld32(sk + _RMEM) - got) & MASK)
        st32(sk + SOCK.copied_seq, (ld32(sk + SOCK.copied_seq) + got) & MASK)
        if ld32(sk + _ST) in (ESTABLISHED, FIN_WAIT) and \
                self.tcp_window(sk) - ld32(sk + _RWND) >= 2 * ld32(sk + _MSS):
            self.tcp_send_ack(sk)                          # window update
        return bytes(out)

    def tcp_close(self, sk: int) -> None:
        """Half-close: send FIN once every queued byte has gone."""
        m = self.k.mmu
        state = m.ld32(sk + _ST)
        flags = m.ld32(sk + _FL)
        if state in (ESTABLISHED, CLOSE_WAIT) and not flags & FIN_QUEUED:
            m.st32(sk + _FL, flags | FIN_QUEUED)
            m.st32(sk + _ST, FIN_WAIT if state == ESTABLISHED else LAST_ACK)
            self.tcp_output(sk)
        elif state in (SYN_SENT, SYN_RCVD):
            self.tcp_abort(sk)

    def tcp_abort(self, sk: int) -> None:
        """Send RST and end the connection (close with unread data, or a timeout)."""
        m = self.k.mmu
        if m.ld32(sk + _ST) != CLOSED:
            self._emit(sk, TCP_RST | TCP_ACK, m.ld32(sk + _NXT), m.ld32(sk + _RNXT), 0, b"")
        self._closed(sk, "closed")

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
        self.tcp_transmit(m.ld16(sk + SOCK.num), m.ld16(sk + SOCK.dport), m.ld32(sk + SOCK.daddr),
                          flags, seq, ack, window, payload, rt)

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
        rt = self.ip_route(daddr)
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

    # -- input ----------------------------------------------------------------------------------
    def tcp_rcv(self, sk: int, seq: int, ack: int, flags: int, window: int, skb: int,
                n: int) -> bool:
        """Process one segment for ``sk`` (``skb`` pulled to its ``n`` payload bytes, or 0).
        Returns whether the skb was queued (else the caller frees it)."""
        m = self.k.mmu
        ld32, st32 = m.ld32, m.st32
        state = ld32(sk + _ST)
        if state == CLOSED:
            return False
        if flags & TCP_RST:
            self._closed(sk, "reset")
            return False
        iss = ld32(sk + _ISN)
        if state == SYN_SENT:
            if flags & TCP_SYN and flags & TCP_ACK and ack == (iss + 1) & MASK:
                st32(sk + _RNXT, (seq + 1) & MASK)
                st32(sk + _UNA, ack)
                st32(sk + _SWND, window)
                st32(sk + _ST, ESTABLISHED)
                st32(sk + _RETR, 0)
                st32(sk + _FL, ld32(sk + _FL) & ~RTO_ARMED)
                self.tcp_send_ack(sk)
                self.tcp_event(sk, "connected")
                self.tcp_output(sk)
            return False
        if state == SYN_RCVD:
            if flags & TCP_SYN:
                self._send_ctl(sk, TCP_SYN | TCP_ACK, iss)
                return False
            if not flags & TCP_ACK or ack != (iss + 1) & MASK:
                return False
            st32(sk + _UNA, ack)
            st32(sk + _ST, ESTABLISHED)
            st32(sk + _RETR, 0)
            st32(sk + _FL, ld32(sk + _FL) & ~RTO_ARMED)
            self.tcp_event(sk, "connected")
        if flags & TCP_ACK:
            self._ack(sk, ack, window, bool(n) or bool(flags & (TCP_SYN | TCP_FIN)))
        if ld32(sk + _ST) == CLOSED:
            return False
        queued = False
        if n:
            rcv_nxt = ld32(sk + _RNXT)
            if seq == rcv_nxt and not ld32(sk + _FL) & PEER_FIN and n <= self.tcp_window(sk):
                skb_queue_tail(m, sk + _RQ, skb)
                queued = True
                st32(sk + _RMEM, ld32(sk + _RMEM) + n)
                st32(sk + _RNXT, (rcv_nxt + n) & MASK)
                pending = ld32(sk + _ACKP) + 1
                st32(sk + _ACKP, pending)
                timers = self.timers.get(sk)
                if pending >= ACK_EVERY:
                    self.tcp_send_ack(sk)
                elif timers is not None and timers.delack is None:
                    timers.delack = self._tcp_timer(ld32(sk + SOCK.ato), sk, self._on_delack)
                self.tcp_event(sk, "data")
            else:
                self.tcp_send_ack(sk)                # out of order or no room: duplicate ACK
        if flags & TCP_FIN:
            rcv_nxt = ld32(sk + _RNXT)
            fin_at = (seq + n) & MASK
            tflags = ld32(sk + _FL)
            if fin_at == rcv_nxt and not tflags & PEER_FIN:
                st32(sk + _RNXT, (rcv_nxt + 1) & MASK)
                st32(sk + _FL, tflags | PEER_FIN)
                self.tcp_send_ack(sk)
                state = ld32(sk + _ST)
                if state == ESTABLISHED:
                    st32(sk + _ST, CLOSE_WAIT)
                elif state == FIN_WAIT:
                    st32(sk + _ST, CLOSING)
                self.tcp_event(sk, "eof")
                self._maybe_closed(sk)
            elif before(fin_at, rcv_nxt):
                self.tcp_send_ack(sk)
        self.tcp_output(sk)
        return queued

    def _ack(self, sk: int, ack: int, window: int, carries: bool) -> None:
        k = self.k
        m = k.mmu
        ld32, st32 = m.ld32, m.st32
        snd_una = ld32(sk + _UNA)
        snd_nxt = ld32(sk + _NXT)
        # snd_una < ack <= snd_nxt (before() inlined: every ACK comes here)
        if (snd_una - ack) & MASK >= _HALF and (snd_nxt - ack) & MASK < _HALF:
            data_end = ld32(sk + _WSEQ)
            upto = data_end if (data_end - ack) & MASK >= _HALF else ack
            self._clean_acked(sk, upto)
            st32(sk + _UNA, ack)
            st32(sk + _DUP, 0)
            st32(sk + _RETR, 0)
            st32(sk + _SWND, window)
            flags = ld32(sk + _FL)
            if flags & FIN_SENT and ack == (data_end + 1) & MASK:
                flags |= FIN_ACKED
                st32(sk + _FL, flags)
            if snd_nxt == ack and not before(snd_nxt, data_end):
                st32(sk + _FL, flags & ~RTO_ARMED)
            else:
                self._arm_rto(sk)
            if flags & FIN_ACKED and flags & PEER_FIN:             # _maybe_closed
                self._closed(sk, "closed")
        elif ack == snd_una:
            if not carries and before(snd_una, snd_nxt) and window == ld32(sk + _SWND):
                dup = ld32(sk + _DUP) + 1
                st32(sk + _DUP, dup)
                if dup == 3:                           # fast retransmit, go-back-N
                    st32(sk + SOCK.total_retrans, ld32(sk + SOCK.total_retrans) + 1)
                    self._go_back(sk)
            st32(sk + _SWND, window)

    def _clean_acked(self, sk: int, upto: int) -> None:
        """Free the write-queue skbs wholly before ``upto``; trim one it cuts."""
        k = self.k
        m = k.mmu
        ld32, st32 = m.ld32, m.st32
        wq = sk + _WQ
        freed = 0
        cpu = k.cpu
        while True:
            skb = ld32(wq)                                  # skb_peek
            if skb == wq:
                break
            cpu.step()
            seq = ld32(skb + _SEQ)
            if (seq - upto) & MASK < _HALF:                 # not before(seq, upto)
                break
            length = ld32(skb + _SKB_LEN)
            if before(upto, ld32(skb + _END_SEQ)):         # partly acknowledged: trim its head
                cut = seq_sub(upto, seq)
                st32(skb + _SKB_DATA, ld32(skb + _SKB_DATA) + cut)
                st32(skb + _SKB_LEN, length - cut)
                st32(skb + _SEQ, upto)
                freed += cut
                break
            # never send_head: that holds snd_nxt, and an ACK never passes snd_nxt
            skb_dequeue(m, wq)
            self.kfree_skb(skb, charge=False)
            freed += length
        st32(sk + _WMEM, (ld32(sk + _WMEM) - freed) & MASK)

    def _maybe_closed(self, sk: int) -> None:
        flags = self.k.mmu.ld32(sk + _FL)
        if flags & FIN_ACKED and flags & PEER_FIN:
            self._closed(sk, "closed")

    def _closed(self, sk: int, why: str) -> None:
        m = self.k.mmu
        m.st32(sk + _ST, CLOSED)
        m.st32(sk + _FL, m.ld32(sk + _FL) & ~RTO_ARMED)
        self.tcp_event(sk, why)

    # -- timers ---------------------------------------------------------------------------------
    def _tcp_timer(self, delay: int, sk: int, fn):
        return self.k.clock.schedule(delay, lambda: self._softirq(lambda: fn(sk)),
                                     label="tcp timer")

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

    # -- events -----------------------------------------------------------------------------------
    def tcp_event(self, sk: int, what: str) -> None:
        """What Linux does with sk->state_change / sk->data_ready: a passive open joins its
        listener's accept queue; an ended connection leaves the hash (and, orphaned, is
        freed); news wakes whoever sleeps on the sock."""
        m = self.k.mmu
        if what == "connected":
            parent = m.ld32(sk + SOCK.listener)
            if parent:
                self.accept_enqueue(parent, sk)
                self.sk_data_ready(parent)
            return
        ended = what in ("closed", "reset", "timeout")
        if ended:
            self.sk_unhash(sk)
            if what != "closed":
                m.st32(sk + SOCK.err, errno.ECONNRESET if what == "reset" else errno.ETIMEDOUT)
        self.sk_data_ready(sk)
        if ended and m.ld32(sk + SOCK.flags) & SOCK_DEAD:
            self.sk_destroy(sk)

    def sk_data_ready(self, sk: int) -> None:
        fn = self.k.mmu.ld32(sk + SOCK.data_ready)
        if fn:
            self.k.text.lookup(fn)(sk)
