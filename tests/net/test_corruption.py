"""A wild store into the network stack's memory, natively and under Nooks (issue 15).

Natively a driver's wild store lands in the kernel's queues; the kernel's own later walk meets it:
a load through the wild link faults (in a process's socket call: that process dies and the kernel
runs on; with bottom halves off or in the NET_RX softirq: a panic, Linux 2.4's "killing interrupt
handler"), a wrong count misleads a limit. No rule decides it. Under Nooks the same store, made by
the driver, faults in its protection domain and the driver is recovered; the stack is untouched.
"""
from __future__ import annotations

import numpy as np
import pytest

from nookslab.kernel.errno import EIO, ENOBUFS
from nookslab.kernel.net.netdevice import NET_DEVICE, NET_STATICS, QDISC
from nookslab.kernel.net.skbqueue import SK_BUFF_HEAD, skb_queue_walk
from nookslab.kernel.net.sock import SOCK
from nookslab.kernel.panic import ProcessKilled
from nookslab.machine.devices.peer import StreamPattern, StreamSource
from nookslab.workloads.stream import net_setup

from .conftest import WILD, wild_store

PORT = 5002


def qdisc_head(k, owner="e1000"):
    nd = k.subsystems["net"].by_owner(owner)
    return k.mmu.ld32(nd.addr + NET_DEVICE.qdisc) + QDISC.q


def reader(k):
    """A process with a TCP connection to a stream source on the peer; (proc, fd, sk, pattern)."""
    proc = k.spawn("reader")
    net, nd, nic, peer = net_setup(k, proc, "e1000")
    pattern = StreamPattern(np.random.default_rng(7))
    peer.listen(PORT, lambda conn: StreamSource(pattern))
    fd = k.syscall(proc, net.sys_socket, 1)
    assert k.syscall(proc, net.sys_connect, fd, nic.peer_ip, PORT) == 0
    return proc, fd, net.sk_of(proc.files[fd][1]), pattern


def ping_once(k) -> bool:
    """One echo from a fresh process through the socket calls (no workload: its end-of-run
    integrity sweep would walk the corrupted queue too)."""
    from nookslab.machine.devices.wire import ICMP_ECHO, icmp_message
    net = k.subsystems["net"]
    nic = k.machine.devices["e1000"]
    proc = k.spawn("ping")
    fd = k.syscall(proc, net.sys_socket, 3)
    k.syscall(proc, net.sys_sendto, fd, icmp_message(ICMP_ECHO, 9, 1, b"alive?"), nic.peer_ip)
    reply = k.syscall(proc, net.sys_recvfrom, fd, 0.01)
    return not isinstance(reply, int) and reply[1].endswith(b"alive?")


def read_some(k, proc, fd, pattern, offset=0, n=20_000):
    net = k.subsystems["net"]
    got = b""
    while len(got) < n:
        data = k.syscall(proc, net.sys_recv, fd, n - len(got))
        assert isinstance(data, bytes) and data, data
        got += data
    assert pattern.matches(offset, got)
    return offset + len(got)


# -- a device's queue (its qdisc's sk_buff_head) ------------------------------------------------
def test_a_wild_link_in_a_device_queue_panics_natively_when_the_next_packet_is_queued(with_wild):
    k = with_wild("native")
    wild_store(k, qdisc_head(k) + SK_BUFF_HEAD.prev)
    assert k.verdict is None                             # nothing has walked it yet
    r = k.run("ping", seconds=0.0005)
    assert not r.ok
    assert k.verdict.kind == "panic"
    # dev_queue_xmit runs with bottom halves off: the oops is in interrupt context
    assert "killing interrupt handler" in k.verdict.cause
    assert f"paging request at {WILD:#010x}" in k.verdict.cause
    assert "dev_queue_xmit" in k.verdict.cause


def test_a_wild_queue_length_natively_makes_the_device_drop_every_packet(with_wild):
    k = with_wild("native")
    wild_store(k, qdisc_head(k) + SK_BUFF_HEAD.qlen)
    r = k.run("ping", seconds=0.0005)
    # the queue looks full: every packet is dropped (-ENOBUFS), and the system runs on
    assert not r.ok and r.failure == f"sendto failed: -{ENOBUFS} (echo 1)"
    assert k.verdict is None


def test_under_nooks_the_same_store_into_a_device_queue_faults_in_the_driver_and_is_recovered(
        with_wild):
    k = with_wild("nooks")
    head = qdisc_head(k)
    before = k.mmu.read(head, SK_BUFF_HEAD.size)
    assert wild_store(k, head + SK_BUFF_HEAD.prev) == -EIO
    rec = k.recoveries[-1]
    assert (rec.extension, rec.trigger, rec.ok) == ("wild", "fault", True)
    assert "paging request" in rec.cause
    assert k.mmu.read(head, SK_BUFF_HEAD.size) == before
    assert k.run("ping", seconds=0.0005).ok and k.verdict is None


# -- the dev_base chain --------------------------------------------------------------------------
def test_a_wild_dev_base_kills_the_process_whose_send_walks_it_and_the_kernel_runs_on(with_wild):
    k = with_wild("native")
    net = k.subsystems["net"]
    wild_store(k, net.statics + NET_STATICS.dev_base)
    r = k.run("ping", seconds=0.0005)
    # the workload's interface lookup walks the chain in process context: the process dies
    assert not r.ok and "killed by oops" in r.failure and "paging request" in r.failure
    assert k.verdict is None


def test_under_nooks_a_wild_store_into_dev_base_is_caught_and_the_chain_kept(with_wild):
    k = with_wild("nooks")
    net = k.subsystems["net"]
    chain = net.dev_list()
    assert wild_store(k, net.statics + NET_STATICS.dev_base) == -EIO
    assert net.dev_list() == chain
    assert k.run("ping", seconds=0.0005).ok


def test_under_nooks_a_driver_scribbling_on_its_copy_of_the_kernel_only_fields_changes_nothing():
    import nookslab
    k = nookslab.boot(mode="nooks", seed=3)
    assert k.load("e1000").ok
    assert k.run("ping", seconds=0.0005).ok
    net = k.subsystems["net"]
    dev = net.by_owner("e1000").addr
    copy = k.modules["e1000"].domain.tracker.objects[dev]["net_device"].copy
    assert copy and copy != dev
    qdisc = k.mmu.ld32(dev + NET_DEVICE.qdisc)
    for field in ("next", "qdisc", "ip_ptr"):
        k.mmu.st32(copy + getattr(NET_DEVICE, field), WILD)     # the driver's own copy
    assert k.run("ping", seconds=0.0005).ok                    # every xmit copies dev back
    assert k.mmu.ld32(dev + NET_DEVICE.next) == 0
    assert k.mmu.ld32(dev + NET_DEVICE.qdisc) == qdisc
    assert k.verdict is None


# -- a socket's receive queue -------------------------------------------------------------------
def test_a_wild_link_in_a_socket_queue_kills_the_reading_process_which_leaves_its_lock_held(
        with_wild):
    k = with_wild("native")
    proc, fd, sk, pattern = reader(k)
    read_some(k, proc, fd, pattern)
    k.idle(0.0002)                                         # more data waits on the queue
    rq = sk + SOCK.receive_queue
    assert k.mmu.ld32(rq + SK_BUFF_HEAD.qlen) > 0
    wild_store(k, rq + SK_BUFF_HEAD.next)
    with pytest.raises(ProcessKilled) as killed:
        k.syscall(proc, k.subsystems["net"].sys_recv, fd, 4096)
    assert "paging request" in killed.value.reason
    assert k.verdict is None
    # the victim held the socket lock: what arrives now waits on the backlog, unprocessed
    assert k.mmu.ld32(sk + SOCK.lock_users) == 1
    k.idle(0.01)
    assert k.mmu.ld32(sk + SOCK.backlog_tail) != 0
    assert k.verdict is None and ping_once(k)


def test_a_wild_tail_link_in_a_socket_queue_panics_in_the_receive_softirq(with_wild):
    k = with_wild("native")
    proc, fd, sk, pattern = reader(k)
    read_some(k, proc, fd, pattern)
    wild_store(k, sk + SOCK.receive_queue + SK_BUFF_HEAD.prev)
    k.idle(0.001)                                          # the next segment is queued there
    assert k.verdict is not None and k.verdict.kind == "panic"
    assert "killing interrupt handler" in k.verdict.cause and "softirq" in k.verdict.cause
    assert f"paging request at {WILD:#010x}" in k.verdict.cause


def test_under_nooks_the_same_store_into_a_socket_queue_is_caught_and_the_stream_goes_on(
        with_wild):
    k = with_wild("nooks")
    proc, fd, sk, pattern = reader(k)
    offset = read_some(k, proc, fd, pattern)
    assert wild_store(k, sk + SOCK.receive_queue + SK_BUFF_HEAD.prev) == -EIO
    assert k.recoveries[-1].extension == "wild" and k.recoveries[-1].ok
    k.idle(0.001)
    read_some(k, proc, fd, pattern, offset, n=100_000)
    assert k.verdict is None


def test_the_receive_queue_the_kernel_walks_holds_exactly_the_unread_bytes(with_wild):
    k = with_wild("native")
    proc, fd, sk, pattern = reader(k)
    read_some(k, proc, fd, pattern)
    k.idle(0.0003)
    m = k.mmu
    rq = sk + SOCK.receive_queue
    skbs = list(skb_queue_walk(m, k.cpu, rq))
    assert len(skbs) == m.ld32(rq + SK_BUFF_HEAD.qlen) > 0
    assert sum(m.ld32(s + 28) for s in skbs) == m.ld32(sk + SOCK.rmem_alloc)   # skb->len
    assert all(m.ld32(s + 44) == rq for s in skbs)                              # skb->list
