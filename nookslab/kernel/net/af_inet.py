"""The socket calls of the inet family (``net/ipv4/af_inet.c``, the user side of ``tcp.c``).

Each call takes a ``struct socket`` address (what a process's descriptor or an extension holds),
reads ``sock->sk`` from it and works on the sock in memory (:mod:`.sock`, :mod:`.tcp`). Calls a
process makes hold the socket lock (``lock_sock``/``release_sock``) and give it up while they
sleep, as Linux's do. Sleeping is letting simulated time pass with interrupts on until a
condition read from the sock holds, or the call's timeout passes.

``inet_release`` is what ``sock->ops->release`` names: it detaches the sock from its socket
(an orphan), closes it without waiting (FIN after the queued data; RST if data is unread) and
frees it once the connection has ended.
"""
from __future__ import annotations

from .. import errno
from .sock import (CLOSED, ESTABLISHED, LISTEN, PEER_FIN, SOCK, SOCK_DEAD, SOCKET,
                   SS_CONNECTED, SS_UNCONNECTED, SYN_RCVD, SYN_SENT)
from .skbqueue import skb_dequeue, skb_peek
from .skbuff import SK_BUFF
from .inet import SOCK_RAW, SOCK_STREAM
from .tcp import RCVBUF, SNDBUF
_ST, _FLAGS = SOCK.state, SOCK.flags


class AfInetFunctions:
    """Mixin of the net subsystem: socket creation, bind/listen/accept/connect, send/recv,
    close and release, raw (ICMP) sockets."""

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

    def _sleep(self, sk: int, cond, timeout: float) -> bool:
        """``sk_wait_event``: give the socket lock up while sleeping, take it back after."""
        self.release_sock(sk)
        woken = self._wait(cond, timeout)
        self.k.mmu.st32(sk + SOCK.lock_users, 1)
        return woken

    # A socket call releases the lock on its way out, never on an oops: a process killed
    # inside one leaves the lock held (no try/finally), as Linux's do_exit does.

    # -- creation ---------------------------------------------------------------------------
    def sock_create(self, kind: int, owner: str = "kernel") -> int:
        """A new socket of ``kind`` (``SOCK_STREAM`` or ``SOCK_RAW``): its ``struct socket``,
        or 0 if the kernel heap is out of memory."""
        if kind not in (SOCK_STREAM, SOCK_RAW):
            raise ValueError(f"socket type must be SOCK_STREAM or SOCK_RAW, got {kind}")
        sk = self.sk_alloc(kind, RCVBUF, SNDBUF)
        if not sk:
            return 0
        sock = self.socket_alloc(sk, kind, SS_UNCONNECTED)
        if not sock:
            self.sk_destroy(sk)
            return 0
        if kind == SOCK_RAW:
            self.raw_add(sk)
        return sock

    def sock_bind(self, sock: int, port: int) -> int:
        sk = self.sk_of(sock)
        m = self.k.mmu
        if self.listener_lookup(port) or any(m.ld16(s + SOCK.num) == port
                                             for s in self.all_established()):
            return -errno.EADDRINUSE
        m.st16(sk + SOCK.num, port)
        return 0

    def sock_listen(self, sock: int) -> int:
        sk = self.sk_of(sock)
        m = self.k.mmu
        if m.ld16(sk + SOCK.type) != SOCK_STREAM or not m.ld16(sk + SOCK.num) \
                or m.ld32(sk + _ST) not in (CLOSED, LISTEN):
            return -errno.EINVAL
        if m.ld32(sk + _ST) != LISTEN:
            m.st32(sk + _ST, LISTEN)
            self.lhash_add(sk)
        return 0

    # -- the accept queue -------------------------------------------------------------------
    def accept_enqueue(self, parent: int, child: int) -> None:
        """An established child joins its listener's accept queue (through ``dl_next``)."""
        m = self.k.mmu
        tail = m.ld32(parent + SOCK.accept_queue_tail)
        m.st32(child + SOCK.dl_next, 0)
        if tail:
            m.st32(tail + SOCK.dl_next, child)
        else:
            m.st32(parent + SOCK.accept_queue, child)
        m.st32(parent + SOCK.accept_queue_tail, child)
        m.st32(parent + SOCK.ack_backlog, m.ld32(parent + SOCK.ack_backlog) + 1)
        m.st32(child + _FLAGS, m.ld32(child + _FLAGS) & ~SOCK_DEAD)    # the queue holds it

    def accept_dequeue(self, parent: int) -> int:
        m = self.k.mmu
        child = m.ld32(parent + SOCK.accept_queue)
        if not child:
            return 0
        nxt = m.ld32(child + SOCK.dl_next)
        m.st32(parent + SOCK.accept_queue, nxt)
        if not nxt:
            m.st32(parent + SOCK.accept_queue_tail, 0)
        m.st32(parent + SOCK.ack_backlog, (m.ld32(parent + SOCK.ack_backlog) - 1) & 0xFFFFFFFF)
        m.st32(child + SOCK.dl_next, 0)
        m.st32(child + SOCK.listener, 0)
        return child

    def accept_pending(self, sock: int) -> bool:
        sk = self.sk_of(sock)
        m = self.k.mmu
        return m.ld32(sk + _ST) == LISTEN and m.ld32(sk + SOCK.accept_queue) != 0

    def sock_accept(self, sock: int, timeout: float = 1.0):
        """The next established connection on a listener, as a new socket (or -errno)."""
        sk = self.sk_of(sock)
        m = self.k.mmu
        if m.ld32(sk + _ST) != LISTEN:
            return -errno.EINVAL
        if not self._wait(lambda: m.ld32(sk + SOCK.accept_queue) != 0, timeout):
            return -errno.EAGAIN
        child = self.accept_dequeue(sk)
        new = self.socket_alloc(child, SOCK_STREAM, SS_CONNECTED)
        if not new:
            m.st32(child + _FLAGS, m.ld32(child + _FLAGS) | SOCK_DEAD)
            self.tcp_abort(child)
            return -errno.ENOMEM
        return new

    # -- connecting, sending, receiving -------------------------------------------------------
    def sock_connect(self, sock: int, ip: int, port: int, timeout: float = 0.1) -> int:
        sk = self.sk_of(sock)
        m = self.k.mmu
        if m.ld16(sk + SOCK.type) != SOCK_STREAM or m.ld32(sk + _ST) != CLOSED \
                or m.ld32(sk + SOCK.daddr):
            return -errno.EINVAL
        if self.route(ip) is None or ip not in self.neigh:
            return -errno.EHOSTUNREACH
        if not self.lock_sock(sk, timeout):
            return -errno.ETIMEDOUT
        ret = self._connect_locked(sk, ip, port, timeout)
        self.release_sock(sk)
        return ret

    def _connect_locked(self, sk: int, ip: int, port: int, timeout: float) -> int:
        m = self.k.mmu
        lport = m.ld16(sk + SOCK.num)
        if not lport:
            self.next_port += 1
            lport = self.next_port
        self.tcp_init(sk, lport, port, ip)
        self.ehash_add(sk)
        self.tcp_connect(sk)
        if not self._sleep(sk, lambda: m.ld32(sk + _ST) != SYN_SENT, timeout):
            return -errno.ETIMEDOUT
        if m.ld32(sk + _ST) == ESTABLISHED:
            return 0
        return -m.ld32(sk + SOCK.err) or -errno.ECONNREFUSED

    def sock_send(self, sock: int, data: bytes, timeout: float = 0.1) -> int:
        """Queue all of ``data`` (sleeping while the send buffer is full); bytes sent or -errno."""
        return self._locked(sock, timeout, errno.ETIMEDOUT, self._send_locked, data)

    def _locked(self, sock: int, timeout: float, busy: int, body, arg):
        """``body(sk, arg, timeout)`` on a connected socket, holding its lock (-``busy`` if it
        stays held past ``timeout``)."""
        sk = self.sk_of(sock)
        k = self.k
        if not k.mmu.ld32(sk + SOCK.daddr):
            return -errno.ENOTCONN
        k.charge(k.cost.sock_call)
        if not self.lock_sock(sk, timeout):
            return -busy
        ret = body(sk, arg, timeout)
        self.release_sock(sk)
        return ret

    def _send_locked(self, sk: int, data: bytes, timeout: float) -> int:
        k = self.k
        m = k.mmu
        sent = 0
        view = memoryview(data)
        while sent < len(data):
            if m.ld32(sk + _ST) == CLOSED:
                return -m.ld32(sk + SOCK.err) or -errno.EPIPE
            n = self.tcp_send(sk, view[sent:])
            if n < 0:
                return -errno.EPIPE
            if n:
                k.charge(k.cost.copy_cost(n))
                sent += n
                continue
            ld32 = m.ld32
            if not self._sleep(sk, lambda: ld32(sk + SOCK.sndbuf) > ld32(sk + SOCK.wmem_queued)
                               or ld32(sk + _ST) == CLOSED, timeout):
                return sent or -errno.ETIMEDOUT
        return sent

    def sock_recv(self, sock: int, n: int, timeout: float = 0.1):
        """Up to ``n`` bytes (sleeping for at least one); b"" at end of stream; or -errno."""
        return self._locked(sock, timeout, errno.EAGAIN, self._recv_locked, n)

    def _recv_locked(self, sk: int, n: int, timeout: float):
        k = self.k
        m = k.mmu
        ld32 = m.ld32
        if not self._sleep(sk, lambda: ld32(sk + SOCK.rmem_alloc) or
                           ld32(sk + SOCK.tcp_flags) & PEER_FIN or ld32(sk + _ST) == CLOSED,
                           timeout):
            return -errno.EAGAIN
        if self.tcp_readable(sk) == 0:
            return b"" if self.tcp_peer_fin(sk) else \
                (-m.ld32(sk + SOCK.err) or -errno.ECONNRESET)
        data = self.tcp_read(sk, n)
        k.charge(k.cost.copy_cost(len(data)))
        return data

    # -- closing ------------------------------------------------------------------------------
    def sock_close(self, sock: int, timeout: float = 0.05, abort: bool = False) -> int:
        """A process closes its socket: for a connection, FIN after the queued data and wait for
        it to be acknowledged (RST at once if unread data is left, or if ``abort``), as Linux's
        close does; then release the socket."""
        sk = self.sk_of(sock)
        m = self.k.mmu
        ret = 0
        if m.ld16(sk + SOCK.type) == SOCK_STREAM and m.ld32(sk + SOCK.daddr):
            state = m.ld32(sk + _ST)
            if state != CLOSED:
                if abort or self.tcp_readable(sk):
                    self.tcp_abort(sk)
                elif self.lock_sock(sk, timeout):
                    self.tcp_close(sk)
                    if not self._sleep(sk, lambda: self.tcp_fin_acked(sk)
                                       or m.ld32(sk + _ST) == CLOSED, timeout):
                        self.tcp_abort(sk)
                        ret = -errno.ETIMEDOUT
                    self.release_sock(sk)
                else:
                    ret = -errno.ETIMEDOUT
        self.inet_release(sock)
        self.k.heap.kfree(sock)
        return ret

    def inet_release(self, sock: int) -> None:
        """``sock->ops->release``: orphan the sock and close it without waiting."""
        m = self.k.mmu
        sk = m.ld32(sock + SOCKET.sk)
        m.st32(sock + SOCKET.sk, 0)
        if not sk:
            return
        m.st32(sk + SOCK.socket, 0)
        m.st32(sk + SOCK.data_ready, 0)
        m.st32(sk + _FLAGS, m.ld32(sk + _FLAGS) | SOCK_DEAD)
        state = m.ld32(sk + _ST)
        if m.ld16(sk + SOCK.type) == SOCK_RAW or state == CLOSED:
            self.sk_destroy(sk)
        elif state == LISTEN:
            self.listen_stop(sk)
            self.sk_destroy(sk)
        elif state in (SYN_SENT, SYN_RCVD) or self.tcp_readable(sk):
            self.tcp_abort(sk)                  # ends it: the orphan is freed
        else:
            self.tcp_close(sk)                  # lingers until the peer's FIN, then is freed

    def listen_stop(self, sk: int) -> None:
        """A listener closes: reset the connections waiting for accept and the handshakes in
        progress (``tcp_listen_stop``)."""
        m = self.k.mmu
        self.sk_unhash(sk)
        m.st32(sk + _ST, CLOSED)
        while True:
            child = self.accept_dequeue(sk)
            if not child:
                break
            self.k.cpu.step()
            m.st32(child + _FLAGS, m.ld32(child + _FLAGS) | SOCK_DEAD)
            self.tcp_abort(child)
        for child in self.all_established():
            if m.ld32(child + SOCK.listener) == sk:
                m.st32(child + SOCK.listener, 0)
                self.tcp_abort(child)

    # -- raw (ICMP) sockets -----------------------------------------------------------------------
    def raw_send(self, dst: int, message: bytes) -> int:
        self.k.charge(self.k.cost.icmp)
        from ...machine.devices.wire import IPPROTO_ICMP
        return self.ip_output(dst, IPPROTO_ICMP, message)

    def raw_recv(self, sock: int, timeout: float):
        """(source address, ICMP message) of the next queued echo reply, or -EAGAIN."""
        sk = self.sk_of(sock)
        m = self.k.mmu
        rq = sk + SOCK.receive_queue
        if not self._wait(lambda: skb_peek(m, rq) != 0, timeout):
            return -errno.EAGAIN
        skb = skb_dequeue(m, rq)
        data = m.ld32(skb + SK_BUFF.data)
        message = m.read(data, m.ld32(skb + SK_BUFF.len))
        src = int.from_bytes(m.read(data - 8, 4), "big")     # the IP header's source address
        self.kfree_skb(skb)
        return src, message
