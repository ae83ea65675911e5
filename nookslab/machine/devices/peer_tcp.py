"""The peer host's own TCP-lite: the connection state machine of the machine at the far end.

The peer is another computer, outside our simulated machine, so its TCP keeps its state in Python
objects (our kernel's TCP keeps its control blocks and queues in simulated memory:
:mod:`nookslab.kernel.net.tcp`). Both speak the same protocol on the wire.

Enough of TCP for ping's neighbours, bulk streams and HTTP request/response: a three-way
handshake, sequence numbers and cumulative ACKs, a receive window advertised from free buffer
space, delayed ACKs (one ACK per ``ack_every`` segments, as Linux's quick-ack-every-second-segment
rule), go-back-N retransmission on a timeout or three duplicate ACKs, FIN close and RST abort.
No congestion control: the sender is limited by the receiver's window only (a LAN).

The state machine knows nothing of packets or memory: its owner supplies an ``io`` object that
emits segments (the peer builds a frame), schedules timers on the
simulated clock and hears events (``"connected"``, ``"data"``, ``"acked"``, ``"eof"``,
``"closed"``, ``"reset"``, ``"timeout"``). Sequence numbers are kept unwrapped (Python ints) and
wrapped to 32 bits only on the wire.
"""
from __future__ import annotations

from .wire import TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN

MSS = 1460
SYN_SENT, SYN_RCVD, ESTABLISHED = "SYN_SENT", "SYN_RCVD", "ESTABLISHED"
FIN_WAIT, CLOSE_WAIT, LAST_ACK, CLOSING, CLOSED = (
    "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "CLOSING", "CLOSED")
MAX_RETRIES = 12


def unwrap(wire: int, ref: int) -> int:
    """The unwrapped sequence number nearest ``ref`` whose low 32 bits are ``wire``."""
    d = (wire - ref) & 0xFFFFFFFF
    return ref + (d - (1 << 32) if d >= 1 << 31 else d)


class TcpConnection:
    """One TCP-lite connection endpoint.

    Parameters
    ----------
    io: emits segments and schedules timers (see the module docstring).
    lport, rport, raddr: local port, remote port and remote IPv4 address.
    iss: the initial send sequence number (drawn from a seeded generator by the owner).
    rcvbuf, sndbuf: buffer sizes in bytes. rto, delack: timeouts in cycles.
    """

    def __init__(self, io, lport: int, rport: int, raddr: int, iss: int, rto: int, delack: int,
                 rcvbuf: int = 256 * 1024, sndbuf: int = 256 * 1024, ack_every: int = 2,
                 mss: int = MSS):
        self.io = io
        self.lport, self.rport, self.raddr = lport, rport, raddr
        self.iss = iss
        self.rto, self.delack = rto, delack
        self.rcvbuf, self.sndbuf = rcvbuf, sndbuf
        self.ack_every, self.mss = ack_every, mss
        self.state = CLOSED
        self.snd_una = self.snd_nxt = iss
        self.snd_wnd = mss
        self.data0 = iss + 1               # sequence number of _sbuf[_shead]
        self._sbuf = bytearray()
        self._shead = 0
        self.fin_queued = self.fin_sent = self.fin_acked = False
        self.rcv_nxt = 0
        self._rbuf = bytearray()
        self._rhead = 0
        self.peer_fin = False
        self.unacked_segs = 0
        self.last_adv = 0
        self.dupacks = 0
        self.retries = 0
        self.retransmits = 0
        self.segments_out = 0
        self._rto_deadline = None
        self._rto_timer = None
        self._delack_timer = None
        self.owner = None                  # the kernel socket or peer application

    # -- opening ------------------------------------------------------------------------
    def connect(self) -> None:
        self.state = SYN_SENT
        self.snd_nxt = self.iss + 1
        self._send_ctl(TCP_SYN, self.iss)
        self._arm_rto()

    def accept_syn(self, seq: int, window: int) -> None:
        """A listener got SYN ``seq``: answer SYN|ACK (passive open)."""
        self.state = SYN_RCVD
        self.rcv_nxt = seq + 1
        self.snd_wnd = window
        self.snd_nxt = self.iss + 1
        self._send_ctl(TCP_SYN | TCP_ACK, self.iss)
        self._arm_rto()

    # -- the application side -------------------------------------------------------------
    @property
    def send_space(self) -> int:
        return self.sndbuf - (len(self._sbuf) - self._shead)

    @property
    def readable(self) -> int:
        return len(self._rbuf) - self._rhead

    @property
    def unacked(self) -> int:
        """Bytes queued or in flight that the peer has not acknowledged."""
        return len(self._sbuf) - self._shead

    def send(self, data) -> int:
        """Queue up to ``send_space`` bytes of ``data``; returns how many were taken."""
        if self.state not in (ESTABLISHED, CLOSE_WAIT) or self.fin_queued:
            return -1
        n = min(len(data), self.send_space)
        if n > 0:
            self._sbuf += data[:n]
            self.output()
        return n

    def read(self, n: int) -> bytes:
        """Take up to ``n`` bytes of in-order received data."""
        n = min(n, self.readable)
        out = bytes(self._rbuf[self._rhead:self._rhead + n])
        self._rhead += n
        if self._rhead > 65536 and self._rhead * 2 > len(self._rbuf):
            del self._rbuf[:self._rhead]
            self._rhead = 0
        if self.state in (ESTABLISHED, FIN_WAIT) and \
                self.window() - self.last_adv >= 2 * self.mss:
            self.send_ack()                        # window update
        return out

    def close(self) -> None:
        """Half-close: send FIN once every queued byte has gone."""
        if self.state in (ESTABLISHED, CLOSE_WAIT) and not self.fin_queued:
            self.fin_queued = True
            self.state = FIN_WAIT if self.state == ESTABLISHED else LAST_ACK
            self.output()
        elif self.state in (SYN_SENT, SYN_RCVD):
            self.abort()

    def abort(self) -> None:
        """Send RST and forget the connection (close with unread data, or a timeout)."""
        if self.state != CLOSED:
            self.io.emit(self, TCP_RST | TCP_ACK, self.snd_nxt, self.rcv_nxt, 0, b"")
        self._closed("closed")

    # -- output ---------------------------------------------------------------------------
    def window(self) -> int:
        wnd = self.rcvbuf - (len(self._rbuf) - self._rhead)      # rcvbuf - readable
        return wnd if wnd > 0 else 0

    def send_ack(self) -> None:
        self.unacked_segs = 0
        wnd = self.window()
        self.last_adv = wnd
        self.io.emit(self, TCP_ACK, self.snd_nxt, self.rcv_nxt, wnd, b"")

    def _send_ctl(self, flags: int, seq: int) -> None:
        wnd = self.window()
        self.last_adv = wnd
        self.io.emit(self, flags, seq, self.rcv_nxt, wnd, b"")

    def output(self) -> None:
        """Send what the window allows (the owner may say it cannot send more now)."""
        if self.state in (CLOSED, SYN_SENT, SYN_RCVD):
            return
        io = self.io
        end = self.data0 + len(self._sbuf) - self._shead
        limit = self.snd_una + self.snd_wnd
        mss = self.mss
        while self.snd_nxt < end and io.can_send(self):
            n = min(mss, end - self.snd_nxt, limit - self.snd_nxt)
            if n <= 0 or (n < mss and self.snd_nxt + n < end):
                break                              # silly-window avoidance: wait for room
            off = self._shead + self.snd_nxt - self.data0
            payload = bytes(self._sbuf[off:off + n])
            flags = TCP_ACK | (TCP_PSH if self.snd_nxt + n == end else 0)
            wnd = self.window()
            self.last_adv = wnd
            self.unacked_segs = 0
            io.emit(self, flags, self.snd_nxt, self.rcv_nxt, wnd, payload)
            self.segments_out += 1
            self.snd_nxt += n
        if self.fin_queued and not self.fin_sent and self.snd_nxt == end \
                and io.can_send(self):
            self.fin_sent = True
            self._send_ctl(TCP_FIN | TCP_ACK, end)
            self.snd_nxt = end + 1
        if self.snd_nxt > self.snd_una or self.snd_nxt < end:
            self._arm_rto()

    # -- input ----------------------------------------------------------------------------
    def input(self, seq: int, ack: int, flags: int, window: int, payload) -> None:
        """Process one arriving segment (header fields as on the wire, 32-bit)."""
        if self.state == CLOSED:
            return
        if flags & TCP_RST:
            self._closed("reset")
            return
        seq = unwrap(seq, self.rcv_nxt)
        ack = unwrap(ack, self.snd_una)
        if self.state == SYN_SENT:
            if flags & TCP_SYN and flags & TCP_ACK and ack == self.iss + 1:
                self.rcv_nxt = seq + 1
                self.snd_una = ack
                self.snd_wnd = window
                self.state = ESTABLISHED
                self.retries = 0
                self._rto_deadline = None
                self.send_ack()
                self.io.event(self, "connected")
                self.output()
            return
        if self.state == SYN_RCVD:
            if flags & TCP_SYN:
                self._send_ctl(TCP_SYN | TCP_ACK, self.iss)
                return
            if not flags & TCP_ACK or ack != self.iss + 1:
                return
            self.snd_una = ack
            self.state = ESTABLISHED
            self.retries = 0
            self._rto_deadline = None
            self.io.event(self, "connected")
        if flags & TCP_ACK:
            self._ack(ack, window, bool(payload) or bool(flags & (TCP_SYN | TCP_FIN)))
        if self.state == CLOSED:
            return
        n = len(payload)
        if n:
            if seq == self.rcv_nxt and not self.peer_fin and n <= self.window():
                self._rbuf += payload
                self.rcv_nxt += n
                self.unacked_segs += 1
                if self.unacked_segs >= self.ack_every:
                    self.send_ack()
                elif self._delack_timer is None:
                    self._delack_timer = self.io.schedule(self.delack, self._on_delack)
                self.io.event(self, "data")
            else:
                self.send_ack()                    # out of order or no room: duplicate ACK
        if flags & TCP_FIN:
            if seq + n == self.rcv_nxt and not self.peer_fin:
                self.rcv_nxt += 1
                self.peer_fin = True
                self.send_ack()
                if self.state == ESTABLISHED:
                    self.state = CLOSE_WAIT
                elif self.state == FIN_WAIT:
                    self.state = CLOSING
                self.io.event(self, "eof")
                self._maybe_closed()
            elif seq + n < self.rcv_nxt:
                self.send_ack()
        self.output()

    def _ack(self, ack: int, window: int, carries: bool) -> None:
        if self.snd_una < ack <= self.snd_nxt:
            data_end = self.data0 + len(self._sbuf) - self._shead
            acked = min(ack, data_end) - self.data0
            if acked > 0:
                self._shead += acked
                self.data0 += acked
                if self._shead > 65536 and self._shead * 2 > len(self._sbuf):
                    del self._sbuf[:self._shead]
                    self._shead = 0
            self.snd_una = ack
            self.dupacks = 0
            self.retries = 0
            self.snd_wnd = window
            if self.fin_sent and ack == data_end + 1:
                self.fin_acked = True
            if self.snd_nxt == self.snd_una and self.snd_nxt >= data_end:
                self._rto_deadline = None
            else:
                self._arm_rto()
            self.io.event(self, "acked")
            self._maybe_closed()
        elif ack == self.snd_una:
            if not carries and self.snd_nxt > self.snd_una and window == self.snd_wnd:
                self.dupacks += 1
                if self.dupacks == 3:              # fast retransmit, go-back-N
                    self.retransmits += 1
                    self._go_back()
            self.snd_wnd = window

    def _maybe_closed(self) -> None:
        if self.fin_acked and self.peer_fin:
            self._closed("closed")

    def _closed(self, why: str) -> None:
        self.state = CLOSED
        self._rto_deadline = None
        self.io.event(self, why)

    # -- timers -------------------------------------------------------------------------
    def _arm_rto(self) -> None:
        self._rto_deadline = self.io.now() + self.rto
        if self._rto_timer is None:
            self._rto_timer = self.io.schedule(self.rto, self._on_rto)

    def _on_rto(self) -> None:
        self._rto_timer = None
        if self._rto_deadline is None or self.state == CLOSED:
            return
        now = self.io.now()
        if now < self._rto_deadline:
            self._rto_timer = self.io.schedule(self._rto_deadline - now, self._on_rto)
            return
        self.retries += 1
        self.retransmits += 1
        if self.retries > MAX_RETRIES:
            self.io.emit(self, TCP_RST | TCP_ACK, self.snd_nxt, self.rcv_nxt, 0, b"")
            self._closed("timeout")
            return
        if self.state == SYN_SENT:
            self._send_ctl(TCP_SYN, self.iss)
        elif self.state == SYN_RCVD:
            self._send_ctl(TCP_SYN | TCP_ACK, self.iss)
        elif self.snd_nxt > self.snd_una:
            self._go_back()
        elif self.snd_nxt < self.data0 + self.unacked:  # window probe: an old byte draws an ACK
            self.io.emit(self, TCP_ACK, self.snd_una - 1, self.rcv_nxt, self.window(), b"")
        else:                                        # nothing outstanding: the timer stops
            self.retries = 0
            self._rto_deadline = None
            return
        self._arm_rto()

    def _go_back(self) -> None:
        self.snd_nxt = self.snd_una
        if self.fin_sent and not self.fin_acked:
            self.fin_sent = False
        self.output()

    def _on_delack(self) -> None:
        self._delack_timer = None
        if self.unacked_segs and self.state != CLOSED:
            self.send_ack()
