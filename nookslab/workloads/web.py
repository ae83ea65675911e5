"""The two web workloads of SOSP'03 Table 4: serve-simple-web-page and serve-complex-web-page.

``serve-simple-web-page`` (kHTTPd): httperf on the other machine fetching a 1 KB page from the
in-kernel server as fast as it can (the paper: >15,000 pages/s natively, ~6,000 under Nooks, with
61,183 XPCs/s; CPU-bound). Our workload formats the disk as VFAT and mounts it on ``/www`` (loading
``vfat`` if it is not loaded), writes a seeded 1 KB ``index.html``, brings up the first loaded NIC
(loading ``e1000`` if none is: the workload needs two extensions beside kHTTPd, and loads them
itself), and runs the peer's :class:`~nookslab.machine.devices.http_client.HttpClient` with several
concurrent connections, back to back, checking every response body byte for byte.

``serve-complex-web-page`` (e1000): SPECweb99 against Apache (114 -> 110 requests/s, 90% CPU).
Here the workload process *is* the user-level server: it serves a seeded file set of mixed sizes
(SPECweb99's four size classes) from VFAT through its own socket system calls over the e1000,
spending Apache's user-level time per request; the peer's client checks every body.

Throughput is requests per simulated second (unit ``ops/s``).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..kernel import errno
from ..kernel.vfs import O_CREAT, O_RDONLY, O_TRUNC, O_WRONLY
from ..machine.devices.http_client import HttpClient
from ..machine.devices.wire import ICMP_ECHO, icmp_message
from ..tools import mkfs_vfat
from .base import Measurement, WorkloadFailed
from .stream import net_setup

DOCROOT = "/www"
NICS = ("e1000", "pcnet32", "3c59x", "3c90x")
HTTP_PORT = 80
APACHE_PORT = 8080
PAGE_SIZE = 1024                  # httperf's page in the paper's kHTTPd run
CONCURRENCY = 16                  # httperf connections kept open at once (within the
#                                   listen backlog of 16 our stack keeps, so no SYN is dropped)
DRAIN_SECONDS = 0.01              # after the deadline: let the requests in flight finish
# Apache 2.0's user-level time per SPECweb99 request: the paper's 114 requests/s at 90.5% CPU on
# a 1.7 GHz machine is ~13.5 M cycles per request, nearly all of it in user mode (estimate).
# CALIBRATION: apache-request (see nookslab/eval/calibration.py)
APACHE_USER_CYCLES = 13_000_000
# SPECweb99's file-size classes (0.1-0.9 KB, 1-9 KB, 10-90 KB, 100-900 KB) and how often each
# is requested (35%, 50%, 14%, 1%); we keep the largest class to its smallest file.
SIZE_CLASSES = ((102, 0.35), (1024, 0.50), (10 * 1024, 0.14), (100 * 1024, 0.01))


def _page(rng: np.random.Generator, size: int, title: str) -> bytes:
    head = f"<html><head><title>{title}</title></head><body>\n".encode()
    tail = b"\n</body></html>\n"
    n = max(size - len(head) - len(tail), 0)
    text = rng.integers(32, 127, size=n, dtype=np.uint8)
    text[text == 60] = 46                                  # no stray '<'
    return (head + text.tobytes() + tail)[:max(size, len(head) + len(tail))]


def _call(kernel, proc, fn, *args):
    return kernel.syscall(proc, fn, *args)


def _check(ret, what: str) -> None:
    if isinstance(ret, int) and ret < 0:
        raise WorkloadFailed(f"{what} failed: -{errno.name(ret)}")


def make_docroot(kernel, proc, pages: dict[str, bytes]) -> None:
    """Load vfat if needed, ``mkfs.vfat`` the disk, mount it on /www and write ``pages``."""
    if "vfat" not in kernel.modules:
        if not kernel.load("vfat").ok:
            raise WorkloadFailed("cannot load vfat for the document root")
    vfs = kernel.subsystems["vfs"]
    for m in _call(kernel, proc, vfs.sys_mounts):
        if m.dev == kernel.subsystems["block"].dev_of("/dev/hda"):
            _check(_call(kernel, proc, vfs.sys_umount, m.path), f"umount {m.path}")
    mkfs_vfat(kernel.subsystems["block"].disk().image())
    _check(_call(kernel, proc, vfs.sys_mount, "vfat", "/dev/hda", DOCROOT), f"mount {DOCROOT}")
    for name in sorted(pages):
        path = DOCROOT + name
        fd = _call(kernel, proc, vfs.sys_open, path, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
        _check(fd, f"creat {path}")
        n = _call(kernel, proc, vfs.sys_write, fd, pages[name])
        _check(n, f"write {path}")
        if n != len(pages[name]):
            raise WorkloadFailed(f"write {path} wrote {n} of {len(pages[name])} bytes")
        _check(_call(kernel, proc, vfs.sys_close, fd), f"close {path}")


def bring_up_nic(kernel, proc):
    """The first loaded NIC (loading e1000 if there is none), configured, with the peer's ARP
    entry for us primed by one echo. Returns (net, nic device, peer)."""
    nic_ext = next((n for n in NICS if n in kernel.modules and kernel.modules[n].ok), None)
    if nic_ext is None:
        if not kernel.load("e1000").ok:
            raise WorkloadFailed("cannot load e1000 for the web server")
        nic_ext = "e1000"
    net, nd, nic, peer = net_setup(kernel, proc, nic_ext)
    bring_up_nic_arp(kernel, proc, net, nic, peer)
    return net, nic, peer


def _drive(kernel, client: HttpClient, deadline: int) -> None:
    clock = kernel.clock
    st = client.stats
    client.start()
    kernel.run_until(deadline, lambda: bool(st.failures))
    client.stop()
    kernel.run_until(clock.now + clock.cycles(DRAIN_SECONDS), lambda: client.idle or st.failures)


def _result(client: HttpClient, what: str) -> Measurement:
    st = client.stats
    if st.failures:
        raise WorkloadFailed(st.failures[0])
    if not client.idle:
        raise WorkloadFailed(f"{client.outstanding} requests to {what} never completed "
                             f"({st.completed} did)")
    if st.completed == 0:
        raise WorkloadFailed(f"{what} served no page")
    return Measurement(operations=st.completed, nbytes=st.body_bytes, latencies=st.latencies,
                       notes=f"{st.completed} pages, {st.body_bytes} body bytes")


def serve_simple_web_page(kernel, proc, extension, duration, rng, page_size: int = PAGE_SIZE,
                          concurrency: int = CONCURRENCY,
                          after_start: Callable | None = None) -> Measurement:
    """httperf against kHTTPd for ``duration`` cycles. ``after_start(kernel)``: a test-only hook
    run once the server is ready (tests corrupt kHTTPd's state there)."""
    pages = {"/index.html": _page(rng, page_size, "kHTTPd")}
    make_docroot(kernel, proc, pages)
    net, nic, peer = bring_up_nic(kernel, proc)
    if after_start is not None:
        after_start(kernel)
    client = HttpClient(peer, nic.host_ip, HTTP_PORT, pages, rng, concurrency)
    _drive(kernel, client, kernel.clock.now + duration)
    return _result(client, f"kHTTPd on {kernel.drivers[extension].name}")


def serve_complex_web_page(kernel, proc, extension, duration, rng,
                           user_cycles: int = APACHE_USER_CYCLES,
                           concurrency: int = 2) -> Measurement:
    """A user-level server (the workload process) serving SPECweb99-like files over
    ``extension`` (a NIC) for ``duration`` cycles."""
    pages: dict[str, bytes] = {}
    weights = []
    for c, (base, share) in enumerate(SIZE_CLASSES):
        count = 1 if c == 3 else 3
        for i in range(count):
            pages[f"/class{c}_{i}.html"] = _page(rng, base * (i + 1), f"class {c} {i}")
            weights.append(share / count)
    make_docroot(kernel, proc, pages)
    net, nd, nic, peer = net_setup(kernel, proc, extension)
    vfs = kernel.subsystems["vfs"]
    clock = kernel.clock
    lfd = _call(kernel, proc, net.sys_socket, 1)
    _check(lfd, "socket")
    _check(_call(kernel, proc, net.sys_bind, lfd, APACHE_PORT), f"bind :{APACHE_PORT}")
    _check(_call(kernel, proc, net.sys_listen, lfd), "listen")
    bring_up_nic_arp(kernel, proc, net, nic, peer)
    client = HttpClient(peer, nic.host_ip, APACHE_PORT, pages, _Weighted(rng, pages, weights),
                        concurrency)
    deadline = clock.now + duration
    client.start()
    served = 0
    drain_until = None
    while not client.stats.failures:
        now = clock.now
        if drain_until is None and now >= deadline:
            client.stop()
            drain_until = now + clock.cycles(DRAIN_SECONDS)
        if drain_until is not None and (client.idle or now >= drain_until):
            break
        limit = (drain_until if drain_until is not None else deadline) - now
        fd = _call(kernel, proc, net.sys_accept, lfd, max(limit, 1) / clock.hz)
        if fd == -errno.EAGAIN:
            continue
        _check(fd, "accept")
        _serve_one(kernel, proc, net, vfs, fd, user_cycles)
        served += 1
    _call(kernel, proc, net.sys_close, lfd)
    m = _result(client, f"the user-level server on {extension}")
    if m.operations != served:
        raise WorkloadFailed(f"server handled {served} connections, client completed "
                             f"{m.operations}")
    return m


def bring_up_nic_arp(kernel, proc, net, nic, peer) -> None:
    """Prime the peer's ARP entry for us with one echo (the peer learns us from our frames)."""
    if nic.host_ip in peer.neighbours:
        return
    fd = _call(kernel, proc, net.sys_socket, 3)
    _check(fd, "raw socket")
    _call(kernel, proc, net.sys_sendto, fd, icmp_message(ICMP_ECHO, 1, 1, b"arp"), nic.peer_ip)
    _call(kernel, proc, net.sys_recvfrom, fd, 0.01)
    _call(kernel, proc, net.sys_close, fd)


class _Weighted:
    """Adapts the client's page choice to SPECweb99's class frequencies."""

    def __init__(self, rng: np.random.Generator, pages: dict, weights: list):
        self.rng = rng
        p = np.array(weights, dtype=float)
        self.cdf = np.cumsum(p / p.sum())

    def integers(self, low: int, high: int) -> int:
        i = int(np.searchsorted(self.cdf, self.rng.random(), side="right"))
        return min(low + i, high - 1)


def _serve_one(kernel, proc, net, vfs, fd: int, user_cycles: int) -> None:
    """Apache's request cycle on one accepted connection: read, parse, open, read, send, close."""
    request = b""
    while b"\r\n\r\n" not in request:
        data = _call(kernel, proc, net.sys_recv, fd, 4096, 0.01)
        if isinstance(data, int) or not data:
            raise WorkloadFailed(f"recv of the request returned {data!r}")
        request += data
        if len(request) > 8192:
            raise WorkloadFailed("request header too long")
    parts = request.split(b"\r\n", 1)[0].split(b" ")
    if len(parts) != 3 or parts[0] != b"GET":
        raise WorkloadFailed(f"bad request line {request[:40]!r}")
    path = DOCROOT + parts[1].decode()
    kernel.charge(user_cycles)                                  # Apache's user-level work
    f = _call(kernel, proc, vfs.sys_open, path, O_RDONLY, 0)
    _check(f, f"open {path}")
    body = _call(kernel, proc, vfs.sys_read, f, 1 << 20)
    _check(body, f"read {path}")
    _check(_call(kernel, proc, vfs.sys_close, f), f"close {path}")
    out = b"HTTP/1.0 200 OK\r\nServer: Apache/2.0\r\nContent-Type: text/html\r\n\r\n" + body
    sent = 0
    while sent < len(out):
        n = _call(kernel, proc, net.sys_send, fd, out[sent:sent + 64 * 1024])
        if not isinstance(n, int) or n <= 0:
            raise WorkloadFailed(f"send returned {n!r} after {sent} of {len(out)} bytes")
        sent += n
    ret = _call(kernel, proc, net.sys_close, fd)
    if ret:
        raise WorkloadFailed(f"close of a served connection failed: {ret}")
