"""kHTTPd: the in-kernel web server over kernel sockets, its unload, its latent bug."""
from __future__ import annotations

import nookslab as nl
from nookslab.drivers.khttpd import KHTTPD_SERVER
from nookslab.workloads import web


class Get:
    """A one-request HTTP client application for the peer host."""

    def __init__(self, path: str):
        self.path = path
        self.buf = bytearray()
        self.why = None

    def on_connected(self, conn):
        conn.send(f"GET {self.path} HTTP/1.0\r\n\r\n".encode())

    def on_data(self, conn):
        self.buf += conn.read(conn.readable)

    def on_eof(self, conn):
        conn.close()

    def on_closed(self, conn, why):
        self.why = why


def serving(mode="native", seed=1, pages=None):
    k = nl.boot(mode=mode, seed=seed)
    assert k.load("khttpd").ok
    proc = k.spawn("setup")
    web.make_docroot(k, proc, pages or {"/index.html": b"<html>hello</html>"})
    net, nic, peer = web.bring_up_nic(k, proc)
    return k, nic, peer


def fetch(k, nic, peer, path):
    g = Get(path)
    peer.connect(nic.host_ip, 80, g)
    k.run_until(k.clock.now + k.clock.cycles(0.005), lambda: g.why)
    return g


def server_field(k, name):
    srv = k.modules["khttpd"].namespace["server"]
    return k.mmu.ld32(srv + getattr(KHTTPD_SERVER, name))


def test_khttpd_loads_and_unloads_leaving_nothing_behind():
    k = nl.boot(seed=2)
    module = k.load("khttpd")
    assert module.ok and k.held_by("khttpd") != []
    assert k.unload("khttpd").leaks == []
    assert k.held_by("khttpd") == []
    assert 80 not in k.subsystems["net"].listeners


def test_khttpd_unload_after_serving_pages_leaks_nothing():
    k, nic, peer = serving()
    for _ in range(3):
        assert fetch(k, nic, peer, "/index.html").why == "closed"
    assert server_field(k, "requests") == 3
    k.idle(0.002)
    assert k.unload("khttpd").leaks == []
    assert k.verdict is None


def test_khttpd_serves_the_file_from_the_vfs_byte_exact():
    body = bytes(range(256)) * 9                    # 2304 bytes: header and body in one send
    k, nic, peer = serving(pages={"/index.html": b"x", "/data.bin": body})
    g = fetch(k, nic, peer, "/data.bin")
    head, _, got = bytes(g.buf).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200 OK")
    assert got == body
    assert server_field(k, "bytes_sent") == len(head) + 4 + len(body)


def test_khttpd_serves_a_file_larger_than_its_response_buffer():
    body = bytes(range(251)) * 40                   # 10040 bytes: several kernel_read calls
    k, nic, peer = serving(pages={"/big.html": body})
    g = fetch(k, nic, peer, "/big.html")
    assert bytes(g.buf).partition(b"\r\n\r\n")[2] == body


def test_khttpd_answers_a_malformed_request_with_400():
    k, nic, peer = serving()
    g = Get("/index.html")
    g.on_connected = lambda conn: conn.send(b"BREW /pot HTCPCP/1.0\r\n\r\n")
    peer.connect(nic.host_ip, 80, g)
    k.run_until(k.clock.now + k.clock.cycles(0.005), lambda: g.why)
    assert bytes(g.buf).startswith(b"HTTP/1.0 400 Bad Request")
    assert server_field(k, "bad") == 1


def test_the_latent_use_after_free_runs_silently_in_native():
    # SOSP'03 5.5: kHTTPd used an object after freeing it; native Linux never noticed.
    k, nic, peer = serving(mode="native")
    g = fetch(k, nic, peer, "/missing.html")
    assert bytes(g.buf).startswith(b"HTTP/1.0 404 Not Found")
    assert k.check_integrity() == []
    assert k.verdict is None and k.recoveries == []
    assert server_field(k, "not_found") == 1
    assert not [e for e in k.events if e.kind in ("oops", "fault")]
    assert fetch(k, nic, peer, "/index.html").buf.endswith(b"<html>hello</html>")


def test_nooks_catches_the_latent_use_after_free_and_restores_service():
    k, nic, peer = serving(mode="nooks")
    g = fetch(k, nic, peer, "/missing.html")
    assert bytes(g.buf).startswith(b"HTTP/1.0 404 Not Found")
    assert len(k.recoveries) == 1
    rec = k.recoveries[0]
    assert rec.extension == "khttpd" and rec.trigger == "fault" and rec.ok
    assert "write" in rec.cause
    assert k.verdict is None
    assert fetch(k, nic, peer, "/index.html").buf.endswith(b"<html>hello</html>")
