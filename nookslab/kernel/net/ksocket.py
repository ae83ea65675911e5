"""Kernel sockets, kernel threads and kernel file reads: what an in-kernel server (kHTTPd) calls.

Linux 2.4's ``net/khttpd`` is a module that opens sockets from inside the kernel (``sock_create``,
``sock->ops->bind/listen/accept``, ``sock_sendmsg``, ``sock_recvmsg``, ``sock_release``), runs its
daemon loop in kernel threads (``kernel_thread``), and reads the files it serves through the VFS
with ``filp_open``/``kernel_read``/``filp_close`` (set_fs(KERNEL_DS)). This subsystem exports those
calls, with specs, delegating to the inet stack (:mod:`.inet`) and the VFS (:mod:`..vfs`).

- A socket is the inet stack's ``struct socket`` in kernel memory (type ``socket``), pointing at
  its ``struct sock`` (:mod:`.sock`); every call reads ``sock->sk`` from it, so a bad socket
  pointer is met as Linux meets one (a fault, or a call through a garbage ``sock->ops``). Every
  call here is *non-blocking*, as kHTTPd's sockets were: ``sock_accept`` returns NULL and
  ``sock_recvmsg`` ``-EAGAIN`` when there is nothing yet; ``sock_release`` sends FIN and returns
  (the connection lingers in the stack). A sock owned by a kernel thread wakes it on news
  through ``sk->data_ready``.
- A kernel thread is a process-context function the kernel schedules from its event loop: the
  thread's function is one pass of its daemon loop; it returns > 0 (did work: run again at once),
  0 (idle: sleep until a socket it owns has news) or < 0 (exit). A wake-up is one context switch.
  An oops in a kernel thread kills that thread only (Linux 2.4, process context).
- ``filp_open`` / ``kernel_read`` run the VFS read path on behalf of the kernel thread (its
  ``current``), through the thread's bounce buffer, as ``set_fs(KERNEL_DS)`` lets Linux do.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .. import errno
from ..panic import KernelPanic, ProcessKilled
from ..symbols import Arg, buf, callback, export, obj, scalar
from .af_inet import SOCK_STREAM
from .sock import CLOSED, SOCK, SOCKET, SS_LISTENING

# Costs (cycles) of the Linux 2.4 kernel work our TCP-lite and VFS do not charge, estimates chosen
# so that one kHTTPd request costs ~110 k cycles natively: the paper's >15,000 pages/s at 96.6%
# CPU on a 1.7 GHz Pentium 4 (SOSP'03 Table 4). Accept: tcp_v4_syn_recv_sock, sk_alloc, the
# socket's inode and the SYN queue work; release: tcp_close, the TIME_WAIT bucket, freeing the
# sock; send/recv: lock_sock, iovec and skb accounting, checksumming; open: the path walk and
# dentry-cache lookup; a kernel thread's context switch.
# CALIBRATION: khttpd-request (see nookslab/eval/calibration.py)
SOCK_ALLOC_CYCLES = 20_000
# CALIBRATION: khttpd-request (see nookslab/eval/calibration.py)
SOCK_RELEASE_CYCLES = 14_000
# CALIBRATION: khttpd-request (see nookslab/eval/calibration.py)
SOCK_MSG_CYCLES = 8_000
# CALIBRATION: khttpd-request (see nookslab/eval/calibration.py)
CONTEXT_SWITCH_CYCLES = 3_000
# CALIBRATION: khttpd-request (see nookslab/eval/calibration.py)
FILE_OPEN_CYCLES = 12_000


@dataclass
class KernelThread:
    """One kernel thread: its function, argument, process record and scheduling state."""

    tid: int
    name: str
    owner: str
    fn: object
    arg: int
    proc: object
    sockets: set = field(default_factory=set)
    pending: object = None          # the clock event that will run it next
    exited: str | None = None
    runs: int = 0


class KernelSocketSubsystem:
    """``ksocket``: kernel sockets, kernel threads and kernel file reads for extensions."""

    def __init__(self, kernel):
        self.k = kernel
        self.socks: dict[int, str] = {}                      # accounting: struct socket -> owner
        self.threads: dict[int, KernelThread] = {}
        self.files: dict[int, tuple[object, int, str]] = {}  # struct file -> (proc, fd, owner)
        self.next_tid = 1
        self.wakeups = 0
        self._data_ready = self.sk_data_ready                 # sk->data_ready, bound once
        self.data_ready_op = kernel.text.address_of(self._data_ready)

    @property
    def net(self):
        return self.k.subsystems["net"]

    # -- struct socket ----------------------------------------------------------------------
    def _own(self, sock: int, owner: str) -> int:
        """Record who holds ``sock`` and let news on its sock wake that owner's thread."""
        if sock:
            self.socks[sock] = owner
            self.k.mmu.st32(self.net.sk_of(sock) + SOCK.data_ready, self.data_ready_op)
        return sock

    def sk_data_ready(self, sk: int) -> None:
        """A sock held by an extension has news: wake the extension's kernel thread."""
        owner = self.socks.get(self.k.mmu.ld32(sk + SOCK.socket))
        if owner is not None:
            t = self._thread_of(owner)
            if t is not None:
                self._wake(t)

    def _thread_of(self, owner: str):
        for t in self.threads.values():
            if t.owner == owner and t.exited is None:
                return t
        return None

    @export(scalar("kind"), returns=obj("sock", "socket"), creates="socket", owned=True)
    def sock_create(self, kind: int, owner: str = "kernel") -> int:
        """Create a kernel socket (``SOCK_STREAM``); NULL on failure."""
        if kind != SOCK_STREAM:
            return 0
        self.k.charge(SOCK_ALLOC_CYCLES)
        return self._own(self.net.sock_create(kind, owner), owner)

    @export(obj("sock", "socket"), scalar("port"), returns=scalar("ret"))
    def sock_bind(self, sock: int, port: int) -> int:
        """Bind a kernel socket to a local port; 0 or -errno."""
        if not 0 < port < 65536:
            return -errno.EINVAL
        # Kernel servers set SO_REUSEADDR: connections still closing on the port do not stop a
        # restarted server from binding it; only another listener does.
        net = self.net
        sk = net.sk_of(sock)
        if net.listener_lookup(port):
            return -errno.EADDRINUSE
        self.k.mmu.st16(sk + SOCK.num, port)
        return 0

    @export(obj("sock", "socket"), scalar("backlog"), returns=scalar("ret"))
    def sock_listen(self, sock: int, backlog: int) -> int:
        """Start listening; connections then queue for :meth:`sock_accept`."""
        ret = self.net.sock_listen(sock)
        if not ret:
            self.k.mmu.st32(sock + SOCKET.state, SS_LISTENING)
        return ret

    @export(obj("sock", "socket"), returns=obj("newsock", "socket"), creates="socket",
            owned=True)
    def sock_accept(self, sock: int, owner: str = "kernel") -> int:
        """The next established connection as a new socket, or NULL if none is waiting."""
        net = self.net
        if not net.accept_pending(sock):
            return 0
        self.k.charge(SOCK_ALLOC_CYCLES)
        new = net.sock_accept(sock, 0.0)
        if new < 0:
            return 0
        return self._own(new, owner)

    @export(obj("sock", "socket"), buf("kbuf", "size", "out"), scalar("size"),
            returns=scalar("ret"))
    def sock_recvmsg(self, sock: int, kbuf: int, size: int) -> int:
        """Copy up to ``size`` received bytes into ``kbuf``: bytes copied, 0 at end of stream,
        -EAGAIN when nothing has arrived yet, or -errno."""
        net = self.net
        sk = net.sk_of(sock)
        m = self.k.mmu
        if not m.ld32(sk + SOCK.daddr) or size <= 0:
            return -errno.EINVAL
        k = self.k
        k.charge(SOCK_MSG_CYCLES)
        if not net.lock_sock(sk, 0.0):          # MSG_DONTWAIT: a held lock is "nothing yet"
            return -errno.EAGAIN
        if net.tcp_readable(sk) == 0:
            ret = 0 if net.tcp_peer_fin(sk) else \
                -errno.ECONNRESET if net.tcp_state(sk) == CLOSED else -errno.EAGAIN
            net.release_sock(sk)
            return ret
        data = net.tcp_read(sk, min(size, 1 << 16))
        net.release_sock(sk)
        k.charge(k.cost.copy_cost(len(data)))
        k.mmu.write(kbuf, data)
        return len(data)

    @export(obj("sock", "socket"), buf("kbuf", "size"), scalar("size"), returns=scalar("ret"))
    def sock_sendmsg(self, sock: int, kbuf: int, size: int) -> int:
        """Send ``size`` bytes from kernel memory: bytes queued, or -errno."""
        if size <= 0 or size > 1 << 20:
            return -errno.EINVAL
        k = self.k
        k.charge(SOCK_MSG_CYCLES)
        return self.net.sock_send(sock, k.mmu.read(kbuf, size), 0.01)

    @export(obj("sock", "socket"), releases="sock")
    def sock_release(self, sock: int) -> None:
        """Close and free a kernel socket (FIN after the queued data; RST if data is unread):
        ``sock->ops->release``, then the socket itself."""
        k = self.k
        k.charge(SOCK_RELEASE_CYCLES)
        release = k.mmu.ld32(sock + SOCKET.ops)
        if release:
            k.text.lookup(release)(sock)
        self.socks.pop(sock & 0xFFFFFFFF, None)
        k.heap.kfree(sock)

    # -- kernel threads ---------------------------------------------------------------------
    @export(callback("fn"), scalar("arg"), Arg("name", "data"), returns=scalar("tid"),
            owned=True)
    def kernel_thread(self, fn, arg: int, name: str, owner: str = "kernel") -> int:
        """Start a kernel thread running ``fn(arg)`` passes (see the module docstring)."""
        proc = self.k.spawn(f"[{name}]")
        t = KernelThread(self.next_tid, str(name), owner, fn, arg, proc)
        self.next_tid += 1
        self.threads[t.tid] = t
        self._wake(t)
        return t.tid

    @export(scalar("tid"), returns=scalar("ret"))
    def kthread_stop(self, tid: int) -> int:
        """Stop kernel thread ``tid`` (it runs no more passes); 0 or -ESRCH."""
        t = self.threads.pop(tid, None)
        if t is None:
            return -errno.ESRCH
        if t.pending is not None:
            t.pending.cancel()
            t.pending = None
        t.exited = t.exited or "stopped"
        if t.proc is not self.k.current:      # a thread stopping itself exits when it returns
            self.k.exit_process(t.proc)
        return 0

    def _wake(self, t: KernelThread) -> None:
        if t.pending is not None or t.exited is not None:
            return
        self.wakeups += 1
        t.pending = self.k.clock.schedule(CONTEXT_SWITCH_CYCLES, lambda: self._run(t),
                                          label=f"kthread {t.name}")

    def _run(self, t: KernelThread) -> None:
        t.pending = None
        k = self.k
        if t.exited is not None or k.verdict is not None:
            return
        t.runs += 1
        k.charge(CONTEXT_SWITCH_CYCLES)
        try:
            ret = k.syscall(t.proc, t.fn, t.arg)
        except ProcessKilled as exc:
            t.exited = exc.reason
            self.threads.pop(t.tid, None)
            k.events.add("kthread", t.owner, f"{t.name} died: {exc.reason}")
            k.exit_process(t.proc)
            return
        except KernelPanic:
            raise
        if not isinstance(ret, int) or ret < 0:
            t.exited = f"exited with {ret!r}"
            self.threads.pop(t.tid, None)           # the thread is gone (do_exit)
            k.events.add("kthread", t.owner, f"{t.name} {t.exited}")
            k.exit_process(t.proc)
        elif t.exited is not None:                  # it stopped itself (kthread_stop)
            k.exit_process(t.proc)
        elif ret > 0:
            self._wake(t)

    # -- kernel file reads --------------------------------------------------------------------
    @export(buf("path", "pathlen"), scalar("pathlen"), returns=obj("file", "file"),
            creates="file", owned=True)
    def filp_open(self, path: int, pathlen: int, owner: str = "kernel") -> int:
        """Open the file named by the ``pathlen`` bytes at ``path`` for reading (from a kernel
        thread); the ``struct file``, or NULL if it does not exist."""
        k = self.k
        proc = k.current
        if proc is None or not 0 < pathlen <= 255:
            return 0
        k.charge(FILE_OPEN_CYCLES)
        try:
            name = k.mmu.read(path, pathlen).decode("ascii")
        except UnicodeDecodeError:
            return 0
        vfs = k.subsystems["vfs"]
        fd = vfs.sys_open(name, 0, 0)
        if not isinstance(fd, int) or fd < 0:
            return 0
        f = proc.files[fd][1]
        self.files[f] = (proc, fd, owner)
        return f

    @export(obj("file", "file"), buf("kbuf", "count", "out"), scalar("count"),
            returns=scalar("ret"))
    def kernel_read(self, file: int, kbuf: int, count: int) -> int:
        """Read up to ``count`` bytes at the file position into kernel memory: bytes read
        (0 at end of file) or -errno."""
        entry = self.files.get(file)
        k = self.k
        if entry is None or entry[0] is not k.current:
            return -errno.EBADF
        if count <= 0:
            return 0
        got = k.subsystems["vfs"].sys_read(entry[1], min(count, 1 << 16))
        if isinstance(got, int):
            return got
        k.mmu.write(kbuf, got)
        return len(got)

    @export(obj("file", "file"), releases="file")
    def filp_close(self, file: int) -> None:
        """Close a file from :meth:`filp_open`."""
        entry = self.files.pop(file, None)
        if entry is None:
            return
        proc, fd, _ = entry
        k = self.k
        previous, k.current = k.current, proc
        try:
            k.subsystems["vfs"].sys_close(fd)
        finally:
            k.current = previous

    # -- accounting ---------------------------------------------------------------------------
    def held_by(self, owner: str) -> list[str]:
        held = [f"socket {a:#010x}" for a, o in sorted(self.socks.items()) if o == owner]
        held += [f"kernel thread {t.name}" for _, t in sorted(self.threads.items())
                 if t.owner == owner]
        held += [f"file {a:#010x}" for a, (_, _, o) in sorted(self.files.items()) if o == owner]
        return held
