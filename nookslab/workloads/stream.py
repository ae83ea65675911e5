"""``send-stream`` and ``receive-stream``: netperf-like bulk TCP transfers (SOSP'03 Table 4).

The paper measured netperf's TCP stream test between two machines over the e1000 (32 KB messages,
256 KB socket buffers). Here a user process streams a seeded byte pattern through the NIC to the
peer host's :class:`~nookslab.machine.devices.peer.StreamSink` (send-stream), or reads one from
its :class:`~nookslab.machine.devices.peer.StreamSource` (receive-stream); every byte is checked
against the pattern at the receiving end, so a lost, duplicated or corrupted segment that slips
past TCP-lite fails the run. Throughput is payload bytes per simulated second.
"""
from __future__ import annotations

from ..machine.devices.peer import StreamPattern, StreamSink, StreamSource
from ..machine.devices.wire import ip_ntoa
from .base import Measurement, WorkloadFailed

MESSAGE = 32 * 1024               # netperf's send/receive size in the paper's runs
SINK_PORT = 5001
SOURCE_PORT = 5002


def net_setup(kernel, proc, extension):
    """``ifconfig`` the extension's interface and add the peer to the ARP table.

    Returns (net subsystem, its NetDevice record, the card, the peer host)."""
    net = kernel.subsystems["net"]
    nic = kernel.machine.devices[kernel.drivers[extension].device_name]
    # The lookup walks the kernel's device chain, so it runs in a system call (as `ip link`
    # would): the one that brings the interface up, or else the one that adds the ARP entry.
    found = kernel.syscall(proc, _ifup_or_arp, net, extension, nic)
    if found is None:
        raise WorkloadFailed(f"{extension} registered no network interface")
    nd, name, ret, arp_done = found
    if ret:
        raise WorkloadFailed(f"ifconfig {name} {ip_ntoa(nic.host_ip)} up failed: {ret}")
    if not arp_done:
        kernel.syscall(proc, net.sys_arp_add, nic.peer_ip, nic.peer.mac)
    return net, nd, nic, nic.peer


def _ifup_or_arp(net, extension, nic):
    """In a system call: find ``extension``'s interface; bring it up if it is down, else add
    the peer's ARP entry. (record, name, ifconfig's result, whether the ARP entry was added),
    or None if the extension registered no interface."""
    nd = net.by_owner(extension)
    if nd is None:
        return None
    name = nd.name
    if not nd.up:
        return nd, name, net.sys_ifconfig(name, nic.host_ip), False
    net.sys_arp_add(nic.peer_ip, nic.peer.mac)
    return nd, name, 0, True


def _connect(kernel, proc, net, nic, port):
    fd = kernel.syscall(proc, net.sys_socket, 1)
    if fd < 0:
        raise WorkloadFailed(f"socket failed: {fd}")
    ret = kernel.syscall(proc, net.sys_connect, fd, nic.peer_ip, port)
    if ret:
        raise WorkloadFailed(f"connect to {ip_ntoa(nic.peer_ip)}:{port} failed: {ret}")
    return fd


def send_stream(kernel, proc, extension, duration, rng, message=MESSAGE):
    net, nd, nic, peer = net_setup(kernel, proc, extension)
    pattern = StreamPattern(rng)
    sinks = []
    peer.listen(SINK_PORT, lambda conn: sinks.append(StreamSink(pattern)) or sinks[-1])
    fd = _connect(kernel, proc, net, nic, SINK_PORT)
    start = kernel.clock.now
    deadline = start + duration
    sent = 0
    m = Measurement()
    while kernel.clock.now < deadline:
        n = kernel.syscall(proc, net.sys_send, fd, pattern.chunk(sent, message))
        if n != message:
            raise WorkloadFailed(f"send returned {n} after {sent} bytes, expected {message}")
        sent += n
        m.operations += 1
    ret = kernel.syscall(proc, net.sys_close, fd)
    peer.unlisten(SINK_PORT)
    sink = sinks[0] if sinks else None
    if ret:
        raise WorkloadFailed(f"close did not complete ({ret}): "
                             f"peer got {sink.received if sink else 0} of {sent} bytes")
    if sink is None or sink.mismatch_at is not None:
        where = "no connection" if sink is None else f"byte {sink.mismatch_at}"
        raise WorkloadFailed(f"stream corrupted at the peer: {where}")
    if sink.received != sent or not sink.eof:
        raise WorkloadFailed(f"peer received {sink.received} of {sent} bytes")
    m.nbytes = sent
    m.notes = f"{nd.name}: {sent} bytes in {m.operations} sends"
    return m


def receive_stream(kernel, proc, extension, duration, rng, message=MESSAGE):
    net, nd, nic, peer = net_setup(kernel, proc, extension)
    pattern = StreamPattern(rng)
    sources = []
    peer.listen(SOURCE_PORT, lambda conn: sources.append(StreamSource(pattern)) or sources[-1])
    fd = _connect(kernel, proc, net, nic, SOURCE_PORT)
    deadline = kernel.clock.now + duration
    got = 0
    m = Measurement()
    while kernel.clock.now < deadline:
        data = kernel.syscall(proc, net.sys_recv, fd, message)
        if isinstance(data, int) or not data:
            raise WorkloadFailed(f"recv returned {data!r} after {got} bytes")
        if not pattern.matches(got, data):
            raise WorkloadFailed(f"stream corrupted: {len(data)} bytes at offset {got} do not "
                                 "match what the peer sent")
        got += len(data)
        m.operations += 1
    kernel.syscall(proc, net.sys_close, fd, True)       # netperf stops: reset the stream
    peer.unlisten(SOURCE_PORT)
    kernel.run_until(kernel.clock.now + kernel.clock.cycles(200e-6))   # let the RST go out
    if got == 0:
        raise WorkloadFailed("no data received")
    m.nbytes = got
    m.notes = f"{nd.name}: {got} bytes in {m.operations} receives"
    return m
