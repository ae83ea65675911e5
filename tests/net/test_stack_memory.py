"""The network stack's state is in simulated memory and the kernel reads it from there.

Devices on the dev_base chain, their IPv4 addresses, sockets on the hash chains, TCP's control
block and its write queue: each test changes or reads memory directly and sees the kernel agree.
"""
from __future__ import annotations

import numpy as np
import pytest

import nookslab
from nookslab.kernel.net.inet import IN_DEVICE, IN_IFADDR
from nookslab.kernel.net.netdevice import (NET_DEVICE, NET_STATICS, NETREG_REGISTERED,
                                           NETREG_UNREGISTERED)
from nookslab.kernel.net.skbqueue import skb_queue_walk
from nookslab.kernel.net.skbuff import SK_BUFF
from nookslab.kernel.net.sock import (ESTABLISHED, SOCK, SOCKET, TCP_HASHINFO,
                                      ehash_slot)
from nookslab.kernel.panic import KernelBug
from nookslab.machine.devices.peer import StreamPattern, StreamSink, StreamSource
from nookslab.machine.mmu import PageFault
from nookslab.workloads.stream import net_setup


def booted(*nics, seed=4):
    k = nookslab.boot(seed=seed)
    for nic in nics:
        assert k.load(nic).ok
    return k


def test_registered_devices_are_the_dev_base_chain_in_memory_in_registration_order():
    k = booted("e1000", "pcnet32", "3c59x")
    net = k.subsystems["net"]
    m = k.mmu
    chain, dev = [], m.ld32(net.statics + NET_STATICS.dev_base)
    while dev:
        chain.append(dev)
        dev = m.ld32(dev + NET_DEVICE.next)
    assert [net.netdevs[d].owner for d in chain] == ["e1000", "pcnet32", "3c59x"]
    assert [net.netdevs[d].name for d in chain] == ["eth0", "eth1", "eth2"]
    k.unload("pcnet32")
    assert m.ld32(chain[0] + NET_DEVICE.next) == chain[2]
    assert net.dev_list() == [chain[0], chain[2]]
    assert net.by_name("eth1") is None


def test_a_device_is_up_and_addressed_as_its_memory_says():
    k = booted("e1000")
    assert k.run("ping", seconds=0.0005).ok
    net = k.subsystems["net"]
    m = k.mmu
    nic = k.machine.devices["e1000"]
    nd = net.by_owner("e1000")
    ifa = m.ld32(m.ld32(nd.addr + NET_DEVICE.ip_ptr) + IN_DEVICE.ifa_list)
    assert nd.up and nd.ip == m.ld32(ifa + IN_IFADDR.ifa_local) == nic.host_ip
    assert net.route(nic.peer_ip) is nd
    m.st32(ifa + IN_IFADDR.ifa_local, 0x0A00FF01)     # another subnet: no route to the peer
    assert net.route(nic.peer_ip) is None
    r = k.run("ping", seconds=0.0005)
    assert not r.ok and "sendto failed" in r.failure
    m.st32(ifa + IN_IFADDR.ifa_local, nic.host_ip)
    m.st32(nd.addr + NET_DEVICE.flags, m.ld32(nd.addr + NET_DEVICE.flags) & ~1)   # IFF_UP off
    assert not nd.up and net.route(nic.peer_ip) is None


def test_free_netdev_checks_the_registration_state_the_net_device_holds():
    k = booted("e1000")
    net = k.subsystems["net"]
    m = k.mmu
    dev = net.by_owner("e1000").addr
    assert m.ld32(dev + NET_DEVICE.reg_state) == NETREG_REGISTERED
    with pytest.raises(KernelBug, match="free_netdev of registered device"):
        net.free_netdev(dev)
    net.unregister_netdev(dev)
    assert m.ld32(dev + NET_DEVICE.reg_state) == NETREG_UNREGISTERED
    assert net.dev_list() == [] and dev not in net.netdevs
    unloaded = k.unload("e1000")                 # its own unregister finds nothing: a warning
    assert unloaded.error is None
    assert any("unregister_netdev of unknown" in e.detail for e in k.events)


def connection(k, app, port):
    """A user process connected to ``app`` on the peer: (proc, fd, sk)."""
    proc = k.spawn("client")
    net, nd, nic, peer = net_setup(k, proc, "e1000")
    peer.listen(port, lambda conn: app)
    fd = k.syscall(proc, net.sys_socket, 1)
    assert k.syscall(proc, net.sys_connect, fd, nic.peer_ip, port) == 0
    return proc, fd, net.sk_of(proc.files[fd][1])


def test_a_connection_is_found_on_its_established_hash_chain_and_its_tcb_is_memory():
    k = booted("e1000")
    sink = StreamSink(StreamPattern(np.random.default_rng(2)))
    proc, fd, sk = connection(k, sink, 5001)
    net = k.subsystems["net"]
    m = k.mmu
    nic = k.machine.devices["e1000"]
    lport, rport = m.ld16(sk + SOCK.num), m.ld16(sk + SOCK.dport)
    slot = ehash_slot(lport, nic.peer_ip, rport)
    assert m.ld32(net.hashinfo + TCP_HASHINFO.ehash + 4 * slot) == sk
    assert net.tcp_lookup(lport, nic.peer_ip, rport) == sk
    assert m.ld32(sk + SOCK.state) == ESTABLISHED
    data = sink.pattern.chunk(0, 50_000)
    assert k.syscall(proc, net.sys_send, fd, data) == len(data)
    k.idle(0.002)
    peer_conn = next(iter(nic.peer.connections.values()))
    assert sink.received == len(data)
    # our send sequence is the peer's receive sequence, and the other way round
    assert m.ld32(sk + SOCK.snd_nxt) == m.ld32(sk + SOCK.snd_una) == peer_conn.rcv_nxt & 0xFFFFFFFF
    assert m.ld32(sk + SOCK.rcv_nxt) == peer_conn.snd_nxt & 0xFFFFFFFF
    assert m.ld32(sk + SOCK.wmem_queued) == 0                  # all acknowledged and freed
    assert k.syscall(proc, net.sys_close, fd) == 0


def test_unacknowledged_data_waits_on_the_write_queue_in_sequence():
    k = booted("e1000")
    sink = StreamSink(StreamPattern(np.random.default_rng(2)))
    proc, fd, sk = connection(k, sink, 5001)
    net = k.subsystems["net"]
    m = k.mmu
    nic = k.machine.devices["e1000"]
    nic.peer.end.connect(lambda frame: None)                   # the peer hears nothing now
    data = sink.pattern.chunk(0, 30_000)
    assert k.syscall(proc, net.sys_send, fd, data) == len(data)
    skbs = list(skb_queue_walk(m, k.cpu, sk + SOCK.write_queue))
    seqs = [(m.ld32(s + SK_BUFF.seq), m.ld32(s + SK_BUFF.end_seq)) for s in skbs]
    assert all(end == nxt for (_, end), (nxt, _) in zip(seqs, seqs[1:]))     # contiguous
    assert seqs[0][0] == m.ld32(sk + SOCK.snd_una) and seqs[-1][1] == m.ld32(sk + SOCK.write_seq)
    assert b"".join(m.read(m.ld32(s + SK_BUFF.data), m.ld32(s + SK_BUFF.len))
                    for s in skbs) == data
    assert m.ld32(sk + SOCK.wmem_queued) == len(data)


def test_the_kernel_tcp_delivers_a_stream_exactly_across_losses_and_the_sequence_wrap():
    k = booted("e1000")
    net = k.subsystems["net"]

    class NearWrap:                                            # the next ISS: just below 2**32
        def integers(self, low, high):
            return 0xFFFFF000
    net.rng = NearWrap()
    nic = k.machine.devices["e1000"]
    receive = nic.peer.receive
    seen = []

    def lossy(frame):                                          # lose some of our segments
        seen.append(1)
        if len(seen) in (6, 9, 10, 40, 41, 42, 90):
            return
        receive(frame)
    nic.peer.end.connect(lossy)
    sink = StreamSink(StreamPattern(np.random.default_rng(3)))
    proc, fd, sk = connection(k, sink, 5001)
    data = sink.pattern.chunk(0, 200_000)
    assert k.syscall(proc, net.sys_send, fd, data) == len(data)
    k.idle(0.05)
    m = k.mmu
    assert sink.received == len(data) and sink.mismatch_at is None
    assert m.ld32(sk + SOCK.total_retrans) >= 1                 # go-back-N did the work
    assert m.ld32(sk + SOCK.snd_una) == (0xFFFFF000 + 1 + len(data)) & 0xFFFFFFFF   # wrapped
    assert k.syscall(proc, net.sys_close, fd) == 0
    k.idle(0.01)
    assert sink.eof and sk not in net.timers                   # closed, then freed


def test_a_segment_that_arrives_while_a_process_holds_the_lock_waits_on_the_backlog():
    k = booted("e1000")
    pattern = StreamPattern(np.random.default_rng(5))
    proc, fd, sk = connection(k, StreamSource(pattern), 5002)
    net = k.subsystems["net"]
    m = k.mmu
    m.st32(sk + SOCK.lock_users, 1)                            # as if a process held it
    before = m.ld32(sk + SOCK.rmem_alloc)
    k.idle(0.0005)
    assert m.ld32(sk + SOCK.backlog_tail) != 0
    assert m.ld32(sk + SOCK.rmem_alloc) == before              # nothing processed yet
    net.release_sock(sk)                                       # release_sock processes it
    assert m.ld32(sk + SOCK.backlog_tail) == 0 and m.ld32(sk + SOCK.lock_users) == 0
    assert m.ld32(sk + SOCK.rmem_alloc) > before
    got = k.syscall(proc, net.sys_recv, fd, 100_000)
    assert pattern.matches(0, got)


def test_releasing_a_kernel_socket_twice_calls_through_the_freed_sockets_ops():
    k = booted()
    ks = k.subsystems["ksocket"]
    sock = ks.sock_create(1, owner="test")
    assert k.mmu.ld32(sock + SOCKET.sk)
    ks.sock_release(sock)
    try:
        ks.sock_release(sock)                  # sock->ops->release read from freed memory
    except PageFault as fault:
        assert fault.access == "exec"
    else:  # pragma: no cover
        raise AssertionError("a second release went through")


def test_a_socks_cached_route_is_its_device_and_is_dropped_when_the_device_goes():
    k = booted("e1000")
    sink = StreamSink(StreamPattern(np.random.default_rng(2)))
    proc, fd, sk = connection(k, sink, 5001)
    net = k.subsystems["net"]
    m = k.mmu
    dev = net.by_owner("e1000").addr
    assert m.ld32(sk + SOCK.dst_cache) == dev
    assert m.ld32(sk + SOCK.rcv_saddr) == k.machine.devices["e1000"].host_ip
    net.unregister_netdev(dev)
    assert m.ld32(sk + SOCK.dst_cache) == 0                   # dst_ifdown
    r = k.syscall(proc, net.sys_send, fd, b"x" * 100)
    assert r == 100 and net.sk_route(sk) is None             # queued; nowhere to go now
