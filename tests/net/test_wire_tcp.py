"""The wire's timing, TCP-lite under loss, the peer's checks and the skb pool, with small fakes."""
from __future__ import annotations

import numpy as np

import nookslab
from nookslab.machine.devices.peer_tcp import ESTABLISHED, TcpConnection
from nookslab.machine.clock import Clock
from nookslab.machine.devices.peer import StreamPattern
from nookslab.machine.devices.wire import Wire

HZ = 1_700_000_000


def test_a_frame_arrives_after_its_serialisation_and_the_propagation_delay():
    clock = Clock(HZ)
    wire = Wire(clock, 1_000_000_000, delay=5e-6)
    got = []
    wire.ends[1].connect(lambda f: got.append((clock.now, len(f))))
    finish = wire.ends[0].transmit(bytes(1000))
    second = wire.ends[0].transmit(bytes(1000))
    # (1000 + 20 bytes of preamble and gap) * 8 ns at 1 Gbit/s = 8.16 us = 13,872 cycles
    assert finish == 13_872 and second == 2 * 13_872
    assert wire.ends[0].backlog() == 2000
    while (t := clock.next_time()) is not None:
        clock.idle_to(t)
        clock.pop_due().callback()
    assert got == [(13_872 + 8_500, 1000), (2 * 13_872 + 8_500, 1000)]


class _Link:
    """Two TCP-lite endpoints joined by a clock, dropping the segments ``drop`` names."""

    def __init__(self, drop=()):
        self.clock = Clock(HZ)
        self.drop = set(drop)
        self.sent = 0
        self.events = []
        self.a = TcpConnection(self, 1, 2, 0, iss=0xFFFFF000, rto=50_000, delack=5_000)
        self.b = TcpConnection(self, 2, 1, 0, iss=77, rto=50_000, delack=5_000)

    def emit(self, conn, flags, seq, ack, window, payload):
        self.sent += 1
        if self.sent in self.drop:
            return
        other = self.b if conn is self.a else self.a
        self.clock.schedule(1_000, lambda: self._deliver(other, flags, seq, ack, window, payload))

    def _deliver(self, conn, flags, seq, ack, window, payload):
        if conn is self.b and conn.state == "CLOSED" and flags & 2:
            conn.accept_syn(seq, window)
            return
        conn.input(seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, flags, window, payload)

    def can_send(self, conn):
        return True

    def now(self):
        return self.clock.now

    def schedule(self, delay, fn):
        return self.clock.schedule(delay, fn)

    def event(self, conn, what):
        self.events.append((conn.lport, what))

    def run(self):
        while (t := self.clock.next_time()) is not None:
            self.clock.idle_to(t)
            self.clock.pop_due().callback()


def test_tcp_lite_delivers_a_stream_exactly_despite_losses_and_sequence_wrap():
    data = StreamPattern(np.random.default_rng(4)).chunk(0, 200_000)
    link = _Link(drop={5, 9, 10, 40, 41, 42, 90})
    link.a.connect()
    link.run()
    assert link.a.state == ESTABLISHED == link.b.state
    assert link.a.send(data) == len(data)
    link.run()
    assert link.b.read(len(data) + 1) == data
    assert link.a.retransmits >= 1 and link.a.unacked == 0
    assert link.a.snd_una > 1 << 32                    # the sequence space wrapped
    link.a.close()
    link.b.close()
    link.run()
    assert link.a.state == "CLOSED" and link.b.state == "CLOSED"


def test_the_receiver_acks_every_second_segment():
    link = _Link()
    link.a.connect()
    link.run()
    before = link.sent
    link.a.send(bytes(1460 * 20))
    link.run()
    # 20 data segments and 10 ACKs (one per two segments)
    assert link.sent - before == 30


def test_sk_buffs_live_alone_on_pages_of_their_own_owner():
    k = nookslab.boot(seed=1)
    net = k.subsystems["net"]
    a, b = net.alloc_skb(100), net.alloc_skb(1500)
    pages = k.machine.pages
    assert a & 0xFFF == 0 and b & 0xFFF == 0 and a != b
    assert pages.owner[a >> 12] == pages.owner[b >> 12] == net.pool.owner
    assert pages.owner_names[net.pool.owner] == "skb"
    net.kfree_skb(a)
    net.kfree_skb(b)
    assert net.skb_owner == {}


def test_a_corrupted_echo_reply_fails_ping():
    k = nookslab.boot(seed=2)
    assert k.load("pcnet32").ok
    peer = k.machine.devices["pcnet32"].peer
    original = peer._frame

    def corrupt(dst, proto, body):
        if proto == 1 and len(body) > 20:
            body = body[:-1] + bytes([body[-1] ^ 1])
        return original(dst, proto, body)

    peer._frame = corrupt
    r = k.run("ping", seconds=0.002)
    assert not r.ok and "echo 1" in r.failure


def test_a_wire_that_goes_down_stops_the_stream_and_the_carrier_follows_the_phy():
    k = nookslab.boot(seed=2)
    assert k.load("e1000").ok
    assert k.run("ping", seconds=0.001).ok
    nic = k.machine.devices["e1000"]
    net = k.subsystems["net"]
    nd = net.by_owner("e1000")
    nic.set_link(False)
    k.idle(2.1)                                   # the e1000 watchdog runs every 2 s
    assert net.netif_carrier_ok(nd.addr) == 0
    assert not k.run("ping", seconds=0.001).ok
    nic.set_link(True)
    k.idle(2.1)
    assert net.netif_carrier_ok(nd.addr) == 1
    assert k.run("ping", seconds=0.001).ok
