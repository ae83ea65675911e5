"""``ping``: ICMP echo through a NIC, one request at a time (``ping -i`` with a short interval).

Each echo request carries a seeded payload of seeded length; the reply must come back with the
same identifier, sequence number and payload. Latency is per echo, in simulated time.
"""
from __future__ import annotations

from ..machine.devices.wire import ICMP_ECHO, ICMP_ECHOREPLY, icmp_message, parse_icmp
from .base import Measurement, WorkloadFailed
from .stream import net_setup

INTERVAL = 50e-6                  # seconds between echoes
TIMEOUT = 0.01                    # seconds to wait for each reply


def ping(kernel, proc, extension, duration, rng, interval=INTERVAL):
    net, nd, nic, peer = net_setup(kernel, proc, extension)
    fd = kernel.syscall(proc, net.sys_socket, 3)
    if fd < 0:
        raise WorkloadFailed(f"raw socket failed: {fd}")
    ident = int(rng.integers(1, 0xFFFF))
    think = kernel.clock.cycles(interval)
    deadline = kernel.clock.now + duration
    m = Measurement()
    seq = 0
    while kernel.clock.now < deadline:
        seq += 1
        size = int(rng.integers(16, 1024))
        payload = rng.integers(0, 256, size=size, dtype="uint8").tobytes()
        t0 = kernel.clock.now
        sent = kernel.syscall(proc, net.sys_sendto, fd,
                              icmp_message(ICMP_ECHO, ident, seq, payload), nic.peer_ip)
        if sent < 0:
            raise WorkloadFailed(f"sendto failed: {sent} (echo {seq})")
        reply = kernel.syscall(proc, net.sys_recvfrom, fd, TIMEOUT)
        if isinstance(reply, int):
            raise WorkloadFailed(f"no reply to echo {seq} ({reply})")
        src, message = reply
        kind, rid, rseq, ok = parse_icmp(message)
        if src != nic.peer_ip or kind != ICMP_ECHOREPLY or not ok or rid != ident \
                or rseq != seq & 0xFFFF or message[8:] != payload:
            raise WorkloadFailed(f"bad reply to echo {seq}: type {kind} id {rid} seq {rseq}, "
                                 f"{len(message) - 8} payload bytes")
        m.latencies.append(kernel.clock.now - t0)
        m.operations += 1
        m.nbytes += size
        kernel.run_until(kernel.clock.now + think)
    kernel.syscall(proc, net.sys_close, fd)
    return m
