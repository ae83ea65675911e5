"""``struct sock`` and ``struct socket`` in simulated memory, their hash tables and their lock.

Every socket is a ``struct socket`` (what a file descriptor or a kernel extension holds) pointing
at a ``struct sock`` (the protocol's state), both kmalloc'd on the kernel heap, laid out after
Linux 2.4's: the sock's addresses and ports, its state, its socket lock, its buffer accounting
(``rcvbuf``/``rmem_alloc``, ``sndbuf``/``wmem_queued``), its three skb queues (``receive_queue``
and ``write_queue`` are ``sk_buff_head``s; ``backlog`` is the head/tail pair of packets that
arrived while a process held the socket lock) and, embedded, TCP's control block (``tcp_opt``:
``snd_una``, ``snd_nxt``, ``rcv_nxt``, the windows, the timers' expiry, the accept queue).

Socks are found the way Linux finds them: TCP's established hash (``tcp_ehash``) and listening
hash (``tcp_listening_hash``) are arrays of chain heads in memory, chained through ``sk->next``
and ``sk->pprev``; raw sockets sit on ``raw_v4_htable``'s chain. Every incoming segment walks its
chain, so a corrupted link sends the walk into whatever memory it names.

The softirq and the TCP timers hold a reference (``refcnt``) while they work on a sock, so an
orphan whose connection ends meanwhile is freed when they let go (``sock_put``), never under
them. The socket lock is Linux's ``lock_sock``/``release_sock``: a process inside a socket call holds
it (``lock.users``); a softirq that finds it held queues the packet on the backlog, and
``release_sock`` processes the backlog. A process killed inside a socket call leaves the lock
held: later packets pile up on the backlog and the next process that wants the lock sleeps.

Python keeps, per sock, only the clock events of its TCP timers (:class:`SockTimers`, cancelled
when the sock is freed): the timers' state (armed, expiry) is in the sock.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from ..structs import Layout
from .skbqueue import SK_BUFF_HEAD, skb_dequeue, skb_queue_head_init
from .skbuff import SK_BUFF

SOCK = Layout("sock", [
    ("daddr", "u32"), ("rcv_saddr", "u32"), ("dport", "u16"), ("num", "u16"),
    ("next", "ptr"), ("pprev", "ptr"),                  # the hash chain
    ("state", "u32"), ("type", "u16"), ("protocol", "u16"), ("flags", "u32"),
    ("refcnt", "u32"),                                  # held while the softirq works on it
    ("lock_users", "u32"),                              # socket_lock_t.users
    ("rcvbuf", "u32"), ("sndbuf", "u32"), ("rmem_alloc", "u32"), ("wmem_queued", "u32"),
    ("err", "u32"),
    ("receive_queue", SK_BUFF_HEAD.size), ("write_queue", SK_BUFF_HEAD.size),
    ("backlog_head", "ptr"), ("backlog_tail", "ptr"),
    ("socket", "ptr"), ("dst_cache", "ptr"),            # the device its packets leave by
    ("ack_backlog", "u32"), ("max_ack_backlog", "u32"),
    ("data_ready", "ptr"),                              # sk->data_ready: wakes a sleeper
    # struct tcp_opt (sk->tp_pinfo.af_tcp)
    ("snd_isn", "u32"), ("snd_una", "u32"), ("snd_nxt", "u32"), ("snd_wnd", "u32"),
    ("write_seq", "u32"), ("rcv_nxt", "u32"), ("rcv_wnd", "u32"), ("copied_seq", "u32"),
    ("mss_cache", "u32"), ("rto", "u32"), ("ato", "u32"), ("rto_expires", "u32"),
    ("retransmits", "u32"), ("dup_acks", "u32"), ("ack_pending", "u32"), ("tcp_flags", "u32"),
    ("total_retrans", "u32"), ("send_head", "ptr"),
    ("accept_queue", "ptr"), ("accept_queue_tail", "ptr"), ("dl_next", "ptr"),
    ("listener", "ptr"),
])

#: ``struct socket``: what a descriptor or an extension holds. ``ops`` is the protocol's
#: ``release`` method (all of ``proto_ops`` our kernel calls through memory).
SOCKET = Layout("socket", [("state", "u32"), ("flags", "u32"), ("ops", "ptr"), ("inode", "ptr"),
                           ("file", "ptr"), ("sk", "ptr"), ("type", "u16"), ("pad", "u16")])
SS_UNCONNECTED, SS_LISTENING, SS_CONNECTED, SS_DISCONNECTING = 1, 2, 3, 4

EHASH_SIZE = 64
LHASH_SIZE = 32
#: ``tcp_hashinfo``: the established and listening hash tables' chain heads.
TCP_HASHINFO = Layout("tcp_hashinfo", [("ehash", 4 * EHASH_SIZE), ("lhash", 4 * LHASH_SIZE)])

# sk->state (Linux's TCP_* numbering); SYN_RCVD is Linux's TCP_SYN_RECV, FIN_WAIT its FIN_WAIT1
ESTABLISHED, SYN_SENT, SYN_RCVD, FIN_WAIT, CLOSED, CLOSE_WAIT, LAST_ACK, LISTEN, CLOSING = (
    1, 2, 3, 4, 7, 8, 9, 10, 11)
STATE_NAMES = {ESTABLISHED: "ESTABLISHED", SYN_SENT: "SYN_SENT", SYN_RCVD: "SYN_RCVD",
               FIN_WAIT: "FIN_WAIT", CLOSED: "CLOSED", CLOSE_WAIT: "CLOSE_WAIT",
               LAST_ACK: "LAST_ACK", LISTEN: "LISTEN", CLOSING: "CLOSING"}
# sk->flags
SOCK_DEAD = 1                 # orphaned: no socket, no accept queue; freed once CLOSED
# tcp_opt.tcp_flags
FIN_QUEUED, FIN_SENT, FIN_ACKED, PEER_FIN, RTO_ARMED = 1, 2, 4, 8, 16

MASK = 0xFFFFFFFF
_EHASH_WORDS = struct.Struct(f"<{EHASH_SIZE}I")
_LHASH_WORDS = struct.Struct(f"<{LHASH_SIZE}I")
_RQ, _WQ = SOCK.receive_queue, SOCK.write_queue
_NEXT, _PPREV = SOCK.next, SOCK.pprev
_SKB_NEXT = SK_BUFF.next


def ehash_slot(lport: int, raddr: int, rport: int) -> int:
    """The established-hash bucket of a connection (Linux's tcp_hashfn, folded to 6 bits)."""
    h = (lport ^ (raddr ^ raddr >> 16 ^ raddr >> 24) ^ rport) & MASK
    h ^= h >> 8
    return h & (EHASH_SIZE - 1)


@dataclass
class SockTimers:
    """The clock events of one sock's TCP timers (their expiry and whether they are armed is
    in the sock); cancelled when the sock is freed."""

    rto: object = None
    delack: object = None

    def cancel(self) -> None:
        for ev in (self.rto, self.delack):
            if ev is not None:
                ev.cancel()
        self.rto = self.delack = None


class SockFunctions:
    """Mixin of the net subsystem: sock and socket allocation, hashing, locking, freeing."""

    def _sock_init(self, kernel) -> None:
        k = kernel
        self.hashinfo = k.heap.kmalloc(TCP_HASHINFO.size, "kernel")
        k.mmu.fill(self.hashinfo, 0, TCP_HASHINFO.size)
        self.timers: dict[int, SockTimers] = {}        # sock -> its timer events
        self.sock_count = 0
        self._inet_release = self.inet_release          # socket->ops, bound once
        self.release_op = k.text.address_of(self._inet_release)
        for layout in (SOCKET,):
            kernel.object_types[layout.name] = layout

    # -- allocation -------------------------------------------------------------------------
    def sk_alloc(self, kind: int, rcvbuf: int, sndbuf: int) -> int:
        """A zeroed sock with empty queues; 0 if the heap is out of memory."""
        k = self.k
        sk = k.heap.kmalloc(SOCK.size, "kernel")
        if not sk:
            return 0
        m = k.mmu
        m.fill(sk, 0, SOCK.size)
        m.st32(sk + SOCK.state, CLOSED)
        m.st16(sk + SOCK.type, kind)
        m.st32(sk + SOCK.rcvbuf, rcvbuf)
        m.st32(sk + SOCK.sndbuf, sndbuf)
        skb_queue_head_init(m, sk + _RQ)
        skb_queue_head_init(m, sk + _WQ)
        self.timers[sk] = SockTimers()
        self.sock_count += 1
        return sk

    def socket_alloc(self, sk: int, kind: int, state: int) -> int:
        """A struct socket for ``sk`` (``sock_graft``); 0 if out of memory."""
        k = self.k
        sock = k.heap.kmalloc(SOCKET.size, "kernel")
        if not sock:
            return 0
        m = k.mmu
        m.fill(sock, 0, SOCKET.size)
        m.st32(sock + SOCKET.state, state)
        m.st32(sock + SOCKET.ops, self.release_op)
        m.st32(sock + SOCKET.sk, sk)
        m.st16(sock + SOCKET.type, kind)
        m.st32(sk + SOCK.socket, sock)
        return sock

    def sk_of(self, sock: int) -> int:
        """``sock->sk``."""
        return self.k.mmu.ld32(sock + SOCKET.sk)

    def sk_destroy(self, sk: int) -> None:
        """Unhash the sock, drop every skb it holds, stop its timers and free it."""
        k = self.k
        m = k.mmu
        timers = self.timers.pop(sk, None)
        if timers is not None:
            timers.cancel()
        self.sk_unhash(sk)
        for q in (sk + _RQ, sk + _WQ):
            while True:
                skb = skb_dequeue(m, q)
                if not skb:
                    break
                k.cpu.step()
                self.kfree_skb(skb)
        skb = m.ld32(sk + SOCK.backlog_head)
        m.st32(sk + SOCK.backlog_head, 0)
        m.st32(sk + SOCK.backlog_tail, 0)
        while skb:
            k.cpu.step()
            nxt = m.ld32(skb + _SKB_NEXT)
            m.st32(skb + _SKB_NEXT, 0)
            self.kfree_skb(skb)
            skb = nxt
        self.sock_count -= 1
        k.heap.kfree(sk)

    def sock_hold(self, sk: int) -> None:
        m = self.k.mmu
        m.st32(sk + SOCK.refcnt, m.ld32(sk + SOCK.refcnt) + 1)

    def sock_put(self, sk: int) -> None:
        """Drop a reference; the last one frees an orphan whose connection has ended."""
        m = self.k.mmu
        refs = (m.ld32(sk + SOCK.refcnt) - 1) & MASK
        m.st32(sk + SOCK.refcnt, refs)
        if not refs:
            self.sk_free_if_done(sk)

    def sk_free_if_done(self, sk: int) -> None:
        """Free an orphan (``SOCK_DEAD``) that is ``CLOSED`` and that nobody works on."""
        m = self.k.mmu
        if m.ld32(sk + SOCK.flags) & SOCK_DEAD and m.ld32(sk + SOCK.state) == CLOSED \
                and not m.ld32(sk + SOCK.refcnt):
            self.sk_destroy(sk)

    # -- the hash chains ----------------------------------------------------------------------
    def _chain_add(self, head: int, sk: int) -> None:
        m = self.k.mmu
        first = m.ld32(head)
        m.st32(sk + _NEXT, first)
        if first:
            m.st32(first + _PPREV, sk + _NEXT)
        m.st32(head, sk)
        m.st32(sk + _PPREV, head)

    def sk_unhash(self, sk: int) -> None:
        """Take the sock off whatever chain it is on (``*pprev = next``)."""
        m = self.k.mmu
        pprev = m.ld32(sk + _PPREV)
        if not pprev:
            return
        nxt = m.ld32(sk + _NEXT)
        m.st32(pprev, nxt)
        if nxt:
            m.st32(nxt + _PPREV, pprev)
        m.st32(sk + _NEXT, 0)
        m.st32(sk + _PPREV, 0)

    def ehash_add(self, sk: int) -> None:
        m = self.k.mmu
        slot = ehash_slot(m.ld16(sk + SOCK.num), m.ld32(sk + SOCK.daddr),
                          m.ld16(sk + SOCK.dport))
        self._chain_add(self.hashinfo + TCP_HASHINFO.ehash + 4 * slot, sk)

    def lhash_add(self, sk: int) -> None:
        slot = self.k.mmu.ld16(sk + SOCK.num) & (LHASH_SIZE - 1)
        self._chain_add(self.hashinfo + TCP_HASHINFO.lhash + 4 * slot, sk)

    def raw_add(self, sk: int) -> None:
        from .netdevice import NET_STATICS
        self._chain_add(self.statics + NET_STATICS.raw_v4_htable, sk)

    def _chain(self, head: int):
        """The socks on one chain, walked in memory (one CPU step each)."""
        m = self.k.mmu
        step = self.k.cpu.step
        sk = m.ld32(head)
        while sk:
            step()
            yield sk
            sk = m.ld32(sk + _NEXT)

    def tcp_lookup(self, lport: int, raddr: int, rport: int) -> int:
        """The established (or connecting) sock of a connection, 0 if none: its ehash chain
        walked, each sock's ports and address compared (``__tcp_v4_lookup_established``)."""
        m = self.k.mmu
        ld32 = m.ld32
        step = self.k.cpu.step
        sk = ld32(self.hashinfo + TCP_HASHINFO.ehash + 4 * ehash_slot(lport, raddr, rport))
        want = lport << 16 | rport
        while sk:
            step()
            # dport and num share one word: dport in the low half, num in the high half
            if ld32(sk + SOCK.dport) == want and ld32(sk + SOCK.daddr) == raddr:
                return sk
            sk = ld32(sk + _NEXT)
        return 0

    def listener_lookup(self, lport: int) -> int:
        m = self.k.mmu
        for sk in self._chain(self.hashinfo + TCP_HASHINFO.lhash + 4 * (lport & (LHASH_SIZE - 1))):
            if m.ld16(sk + SOCK.num) == lport:
                return sk
        return 0

    def all_established(self) -> list[int]:
        """Every sock on the established hash, bucket by bucket (the table read in one go,
        then each non-empty chain walked)."""
        base = self.hashinfo + TCP_HASHINFO.ehash
        heads = _EHASH_WORDS.unpack(self.k.mmu.read(base, 4 * EHASH_SIZE))
        out = []
        for slot, head in enumerate(heads):
            if head:
                out.extend(self._chain(base + 4 * slot))
        return out

    def raw_socks(self) -> list[int]:
        from .netdevice import NET_STATICS
        return list(self._chain(self.statics + NET_STATICS.raw_v4_htable))

    @property
    def listeners(self) -> dict[int, int]:
        """Listening port -> sock, read from the listening hash."""
        m = self.k.mmu
        base = self.hashinfo + TCP_HASHINFO.lhash
        heads = _LHASH_WORDS.unpack(m.read(base, 4 * LHASH_SIZE))
        return {m.ld16(sk + SOCK.num): sk for slot, head in enumerate(heads) if head
                for sk in self._chain(base + 4 * slot)}

    # -- the socket lock ----------------------------------------------------------------------
    def lock_sock(self, sk: int, timeout: float) -> bool:
        """Take the socket lock for a process; if another holder never released it (it was
        killed holding it), sleep until it is free, for at most ``timeout`` simulated seconds
        (Linux sleeps without end; our callers' own timeouts bound every sleep)."""
        m = self.k.mmu
        users = sk + SOCK.lock_users
        if m.ld32(users) and not self._wait(lambda: not m.ld32(users), timeout):
            return False
        m.st32(users, 1)
        return True

    def release_sock(self, sk: int) -> None:
        """Process what the softirq put on the backlog meanwhile, then drop the lock."""
        m = self.k.mmu
        while m.ld32(sk + SOCK.backlog_tail) and self.k.verdict is None:
            skb = m.ld32(sk + SOCK.backlog_head)
            m.st32(sk + SOCK.backlog_head, 0)
            m.st32(sk + SOCK.backlog_tail, 0)
            while skb:
                self.k.cpu.step()
                nxt = m.ld32(skb + _SKB_NEXT)
                m.st32(skb + _SKB_NEXT, 0)
                self.tcp_backlog_rcv(sk, skb)
                skb = nxt
        m.st32(sk + SOCK.lock_users, 0)

    def sk_add_backlog(self, sk: int, skb: int) -> None:
        m = self.k.mmu
        tail = m.ld32(sk + SOCK.backlog_tail)
        m.st32(skb + _SKB_NEXT, 0)
        if tail:
            m.st32(tail + _SKB_NEXT, skb)
        else:
            m.st32(sk + SOCK.backlog_head, skb)
        m.st32(sk + SOCK.backlog_tail, skb)
