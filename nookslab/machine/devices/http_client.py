"""An httperf-like HTTP/1.0 load generator that runs on the peer host (SOSP'03 Table 4's web rows).

The paper drove kHTTPd with httperf and Apache with SPECweb99 from a second machine. Our client
keeps ``concurrency`` connections open at once; on each it sends one ``GET path HTTP/1.0``, reads
the response until the server closes, checks the status line and that the body is byte-exact
against what the workload stored, and at once opens the next connection (back-to-back
requests). It runs entirely on the peer (:class:`~nookslab.machine.devices.peer.PeerHost`'s
``connect`` and application callbacks), costing our CPU nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class HttpStats:
    """What the client saw: completed and failed requests, latencies in cycles, bytes of body."""

    completed: int = 0
    body_bytes: int = 0
    latencies: list = field(default_factory=list)
    failures: list = field(default_factory=list)
    started: int = 0


class _Request:
    """One connection's application: send the request, collect and check the response."""

    def __init__(self, client: "HttpClient", path: str, expected: bytes):
        self.client = client
        self.path = path
        self.expected = expected
        self.buf = bytearray()
        self.t0 = client.peer.clock.now
        self.done = False

    def on_connected(self, conn) -> None:
        conn.send(f"GET {self.path} HTTP/1.0\r\nUser-Agent: httperf/0.8\r\n\r\n".encode())

    def on_data(self, conn) -> None:
        self.buf += conn.read(conn.readable)

    def on_eof(self, conn) -> None:
        self.buf += conn.read(conn.readable)
        conn.close()
        self._finish(conn, None)

    def on_closed(self, conn, why: str) -> None:
        if not self.done:
            self._finish(conn, f"connection {why} after {len(self.buf)} bytes")

    def _finish(self, conn, error: str | None) -> None:
        if self.done:
            return
        self.done = True
        self.client._done(self, error)


class HttpClient:
    """An httperf-like client on ``peer`` against ``ip:port``.

    Parameters
    ----------
    peer: the peer host. ip, port: the server. pages: path -> expected body bytes.
    rng: picks which page each request asks for. concurrency: connections kept open at once.
    """

    def __init__(self, peer, ip: int, port: int, pages: dict[str, bytes],
                 rng: np.random.Generator, concurrency: int = 4):
        self.peer = peer
        self.ip, self.port = ip, port
        self.paths = sorted(pages)
        self.pages = pages
        self.rng = rng
        self.concurrency = concurrency
        self.stats = HttpStats()
        self.running = False
        self.outstanding = 0

    def start(self) -> None:
        self.running = True
        for _ in range(self.concurrency):
            self._issue()

    def stop(self) -> None:
        """Open no new connections; those in flight finish."""
        self.running = False

    @property
    def idle(self) -> bool:
        return self.outstanding == 0

    def _issue(self) -> None:
        if not self.running or self.stats.failures:
            return
        path = self.paths[int(self.rng.integers(0, len(self.paths)))] \
            if len(self.paths) > 1 else self.paths[0]
        app = _Request(self, path, self.pages[path])
        self.outstanding += 1
        self.stats.started += 1
        self.peer.connect(self.ip, self.port, app)

    def _done(self, req: _Request, error: str | None) -> None:
        self.outstanding -= 1
        st = self.stats
        if error is None:
            head, sep, body = bytes(req.buf).partition(b"\r\n\r\n")
            status = head.split(b"\r\n", 1)[0]
            if not sep or not status.startswith(b"HTTP/1.") or b" 200 " not in status + b" ":
                error = f"bad response to GET {req.path}: {status[:60]!r}"
            elif body != req.expected:
                where = next((i for i, (a, b) in enumerate(zip(body, req.expected)) if a != b),
                             min(len(body), len(req.expected)))
                error = (f"GET {req.path}: body differs at byte {where} "
                         f"({len(body)} bytes, expected {len(req.expected)})")
        if error is not None:
            st.failures.append(error)
            return
        st.completed += 1
        st.body_bytes += len(req.expected)
        st.latencies.append(self.peer.clock.now - req.t0)
        self._issue()
