"""The network subsystem: sk_buffs, net_devices, the IP/ICMP/TCP-lite stack, sockets, MII.

One :class:`NetSubsystem` (installed as ``kernel.subsystems["net"]``) exports the functions the
four NIC drivers call. Its parts, each a mixin:

- :mod:`.skbuff` and :mod:`.skbqueue`: ``struct sk_buff`` and the ``sk_buff_head`` queues;
- :mod:`.netdevice` and :mod:`.dev`: ``struct net_device`` on the ``dev_base`` chain, its qdisc,
  ``dev_queue_xmit``, ``netif_rx`` and the NET_TX/NET_RX softirqs;
- :mod:`.inet`: IPv4 configuration and routing, IP/ICMP input and output, TCP demultiplexing;
- :mod:`.sock`, :mod:`.tcp`, :mod:`.tcp_input`, :mod:`.tcp_output`, :mod:`.af_inet`:
  ``struct socket``/``struct sock`` with their skb queues and TCP control block, the hash
  chains, the socket lock, TCP-lite and the socket calls; :mod:`.mii`: the MII helpers.

All of this state is in simulated memory, laid out after Linux 2.4 and walked through the MMU by
the kernel's own code (Python keeps caches of it, never a second copy: ops tables, who holds
what, clock events), so a driver's wild store into it is met as Linux would meet it.
This module adds the ring helper the drivers share and the socket system calls that workloads
(user programs) make through ``kernel.syscall``.
"""
from __future__ import annotations

from .. import errno
from ..structs import Layout
from ..symbols import export, scalar
from .af_inet import SOCK_RAW, SOCK_STREAM, AfInetFunctions
from .dev import DevQueueFunctions
from .inet import InetFunctions
from .mii import MiiFunctions
from .netdevice import NET_DEVICE, NET_DEVICE_STATS, NetDeviceFunctions, NetDeviceOps
from .skbqueue import SK_BUFF_HEAD
from .skbuff import SK_BUFF, SkbFunctions
from .sock import SOCK, SOCKET, SockFunctions
from .tcp import TcpFunctions
from .tcp_input import TcpInputFunctions
from .tcp_output import TcpOutputFunctions

#: A driver's per-descriptor bookkeeping (e1000's ``struct e1000_buffer``): the skb a descriptor
#: holds, its DMA address and length. Drivers keep an array of these beside each ring.
BUFFER_INFO = Layout("net_buffer_info", [("skb", "ptr"), ("dma", "u32"), ("length", "u32"),
                                         ("time_stamp", "u32")])

__all__ = ["BUFFER_INFO", "NET_DEVICE", "NET_DEVICE_STATS", "NetDeviceOps", "NetSubsystem",
           "SK_BUFF", "SK_BUFF_HEAD", "SOCK", "SOCKET", "SOCK_RAW", "SOCK_STREAM", "install_net"]


class NetSubsystem(SkbFunctions, NetDeviceFunctions, DevQueueFunctions, InetFunctions,
                   SockFunctions, TcpFunctions, TcpInputFunctions, TcpOutputFunctions,
                   AfInetFunctions, MiiFunctions):
    """``net/core`` + ``net/ipv4`` of our kernel."""

    def __init__(self, kernel):
        self.k = kernel
        self._skb_init(kernel)
        self._dev_init(kernel)
        self._devq_init(kernel)
        self._inet_init(kernel)
        self._sock_init(kernel)
        kernel.file_closers["socket"] = self.sys_close              # do_exit closes sockets

    @export(scalar("info"), scalar("count"), returns=scalar("freed"))
    def skb_ring_purge(self, info: int, count: int) -> int:
        """Free every skb held in a ``net_buffer_info`` array of ``count`` entries and clear
        the entries (the ring-cleaning loop every NIC driver's close path has)."""
        m = self.k.mmu
        freed = 0
        for i in range(max(0, min(count, 4096))):
            entry = info + i * BUFFER_INFO.size
            skb = m.ld32(entry + BUFFER_INFO.skb)
            if skb:
                if self.k.isolation is not None:     # Nooks hook: the tracker checks each one
                    self.k.isolation.check_release("sk_buff", skb)
                self.kfree_skb(skb)
                m.st32(entry + BUFFER_INFO.skb, 0)
                freed += 1
        return freed

    def held_by(self, owner: str) -> list[str]:
        return self.netdev_held_by(owner) + self.skb_held_by(owner)

    def check(self) -> None:
        """Walk every queue the stack keeps (a diagnostic sweep: each skb's magic checked)."""
        from .netdevice import QDISC
        from .skbqueue import skb_queue_walk
        m, cpu = self.k.mmu, self.k.cpu
        heads = [self.input_queue]
        heads += [m.ld32(dev + NET_DEVICE.qdisc) + QDISC.q for dev in self.dev_list()]
        for sk in self.all_established() + list(self.listeners.values()) + self.raw_socks():
            heads += [sk + SOCK.receive_queue, sk + SOCK.write_queue]
        for head in heads:
            for skb in skb_queue_walk(m, cpu, head):
                self.check_skb(skb)

    # -- system calls (run inside kernel.syscall) ------------------------------------------
    def _fd(self, sock: int) -> int:
        files = self.k.current.files
        fd = 3 + len(files)
        while fd in files:
            fd += 1
        files[fd] = ("socket", sock)
        return fd

    def _sock(self, fd: int) -> int:
        """The ``struct socket`` behind descriptor ``fd``, 0 if it is not a socket."""
        entry = self.k.current.files.get(fd)
        if entry is None or entry[0] != "socket":
            return 0
        return entry[1]

    def sys_ifconfig(self, name: str, ip: int) -> int:
        """``ifconfig NAME IP up``."""
        return self.ifup(name, ip)

    def sys_arp_add(self, ip: int, mac: bytes) -> int:
        """``arp -s IP MAC``."""
        self.arp_add(ip, mac)
        return 0

    def sys_socket(self, kind: int) -> int:
        if kind not in (SOCK_STREAM, SOCK_RAW):
            return -errno.EINVAL
        sock = self.sock_create(kind, self.k.current.name)
        return self._fd(sock) if sock else -errno.ENOMEM

    def sys_bind(self, fd: int, port: int) -> int:
        sock = self._sock(fd)
        return -errno.EBADF if not sock else self.sock_bind(sock, port)

    def sys_listen(self, fd: int) -> int:
        sock = self._sock(fd)
        return -errno.EBADF if not sock else self.sock_listen(sock)

    def sys_accept(self, fd: int, timeout: float = 1.0) -> int:
        sock = self._sock(fd)
        if not sock:
            return -errno.EBADF
        new = self.sock_accept(sock, timeout)
        return new if new < 0 else self._fd(new)

    def sys_connect(self, fd: int, ip: int, port: int, timeout: float = 0.1) -> int:
        sock = self._sock(fd)
        return -errno.EBADF if not sock else self.sock_connect(sock, ip, port, timeout)

    def sys_send(self, fd: int, payload: bytes, timeout: float = 0.1) -> int:
        """``send``: the bytes go to the process's user buffer first, then are copied in."""
        sock = self._sock(fd)
        if not sock:
            return -errno.EBADF
        proc = self.k.current
        n = min(len(payload), proc.usize)
        self.k.mmu.write(proc.ubuf, payload[:n])
        return self.sock_send(sock, self.k.mmu.read(proc.ubuf, n), timeout)

    def sys_recv(self, fd: int, count: int, timeout: float = 0.1):
        """``recv``: bytes (b"" at end of stream) copied out through user memory, or -errno."""
        sock = self._sock(fd)
        if not sock:
            return -errno.EBADF
        proc = self.k.current
        got = self.sock_recv(sock, min(count, proc.usize), timeout)
        if isinstance(got, int) or not got:
            return got
        self.k.mmu.write(proc.ubuf, got)
        return self.k.mmu.read(proc.ubuf, len(got))

    def sys_sendto(self, fd: int, message: bytes, dst: int) -> int:
        sock = self._sock(fd)
        if not sock or self.k.mmu.ld16(self.sk_of(sock) + SOCK.type) != SOCK_RAW:
            return -errno.EBADF
        ret = self.raw_send(dst, message)
        return len(message) if ret == 0 else ret

    def sys_recvfrom(self, fd: int, timeout: float = 0.1):
        sock = self._sock(fd)
        if not sock or self.k.mmu.ld16(self.sk_of(sock) + SOCK.type) != SOCK_RAW:
            return -errno.EBADF
        return self.raw_recv(sock, timeout)

    def sys_close(self, fd: int, abort: bool = False) -> int:
        sock = self._sock(fd)
        if not sock:
            return -errno.EBADF
        del self.k.current.files[fd]
        return self.sock_close(sock, abort=abort)


def install_net(kernel) -> None:
    """Install the network subsystem (called from ``kernel.subsystems.install_all``)."""
    kernel.add_subsystem("net", NetSubsystem(kernel))
