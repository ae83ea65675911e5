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
from ...machine.devices.wire import TCP_ACK, TCP_RST, TCP_SYN
from .skbqueue import skb_dequeue, skb_peek, skb_queue_tail
from .skbuff import SK_BUFF
from .sock import (CLOSE_WAIT, CLOSED, ESTABLISHED, FIN_ACKED, FIN_QUEUED, FIN_WAIT, LAST_ACK,
                   MASK, PEER_FIN, RTO_ARMED, SOCK, SOCK_DEAD, SYN_RCVD, SYN_SENT)

MSS = 1460
ACK_EVERY = 2
MAX_RETRIES = 12
RCVBUF = SNDBUF = 256 * 1024

_ST, _UNA, _NXT, _SWND, _WSEQ = SOCK.state, SOCK.snd_una, SOCK.snd_nxt, SOCK.snd_wnd, SOCK.write_seq
_RNXT, _RWND, _ISN, _FL, _MSS = (SOCK.rcv_nxt, SOCK.rcv_wnd, SOCK.snd_isn, SOCK.tcp_flags,
                                 SOCK.mss_cache)
_RMEM, _SBUF, _WMEM, _SHEAD = SOCK.rmem_alloc, SOCK.sndbuf, SOCK.wmem_queued, SOCK.send_head
_RQ, _WQ = SOCK.receive_queue, SOCK.write_queue
_SKB_DATA, _SKB_LEN, _SKB_TAIL = SK_BUFF.data, SK_BUFF.len, SK_BUFF.tail
_SEQ, _END_SEQ = SK_BUFF.seq, SK_BUFF.end_seq
_HALF = 0x80000000


def before(a: int, b: int) -> bool:
    """``a`` comes before ``b`` in 32-bit sequence space (Linux's ``before()``)."""
    return (a - b) & MASK >= _HALF


def seq_sub(a: int, b: int) -> int:
    """``a - b`` as a signed 32-bit difference."""
    d = (a - b) & MASK
    return d - (1 << 32) if d >= _HALF else d


class TcpFunctions:
    """Mixin of the net subsystem: the TCP state machine on socks in memory (the input and
    output paths are in :mod:`.tcp_input` and :mod:`.tcp_output`)."""

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
    def _maybe_closed(self, sk: int) -> None:
        flags = self.k.mmu.ld32(sk + _FL)
        if flags & FIN_ACKED and flags & PEER_FIN:
            self._closed(sk, "closed")

    def _closed(self, sk: int, why: str) -> None:
        m = self.k.mmu
        m.st32(sk + _ST, CLOSED)
        m.st32(sk + _FL, m.ld32(sk + _FL) & ~RTO_ARMED)
        self.tcp_event(sk, why)
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
        if ended:
            self.sk_free_if_done(sk)            # an orphan nobody holds goes now

    def sk_data_ready(self, sk: int) -> None:
        fn = self.k.mmu.ld32(sk + SOCK.data_ready)
        if fn:
            self.k.text.lookup(fn)(sk)
