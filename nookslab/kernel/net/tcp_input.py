"""TCP input (``net/ipv4/tcp_input.c``), on socks in memory.

``tcp_rcv`` processes one segment for its sock: the handshake, the ACK (which frees the
write-queue skbs it covers: ``_clean_acked``), in-order data (its skb, pulled to the payload,
joins the receive queue), the FIN. See :mod:`.tcp`.
"""
from __future__ import annotations

from ...machine.devices.wire import TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN
from .skbqueue import skb_dequeue, skb_queue_tail
from .sock import (CLOSE_WAIT, CLOSED, CLOSING, ESTABLISHED, FIN_ACKED, FIN_SENT, FIN_WAIT, MASK,
                   PEER_FIN, RTO_ARMED, SOCK, SYN_RCVD, SYN_SENT)
from .skbuff import SK_BUFF
from .tcp import ACK_EVERY, before, seq_sub

_ST, _UNA, _NXT, _SWND, _WSEQ = SOCK.state, SOCK.snd_una, SOCK.snd_nxt, SOCK.snd_wnd, SOCK.write_seq
_RNXT, _ISN, _FL, _RMEM, _WMEM = (SOCK.rcv_nxt, SOCK.snd_isn, SOCK.tcp_flags, SOCK.rmem_alloc,
                                  SOCK.wmem_queued)
_ACKP, _DUP, _RETR = SOCK.ack_pending, SOCK.dup_acks, SOCK.retransmits
_RQ, _WQ = SOCK.receive_queue, SOCK.write_queue
_SKB_DATA, _SKB_LEN, _SEQ, _END_SEQ = SK_BUFF.data, SK_BUFF.len, SK_BUFF.seq, SK_BUFF.end_seq
_HALF = 0x80000000


class TcpInputFunctions:
    """Mixin of the net subsystem: TCP's input path."""

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

