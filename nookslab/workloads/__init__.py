"""Workloads: the user programs that drive each extension (SOSP'03 section 5's stress tests)."""
from __future__ import annotations

from .base import (Measurement, Userland, WorkloadFailed, WorkloadResult, WorkloadSpec,
                   run_workload)
from .mp3 import play_mp3
from .compile import compile_local
from .nullio import null_io
from .ping import ping
from .stream import receive_stream, send_stream
from .web import serve_complex_web_page, serve_simple_web_page

#: Every workload, including the foundation's example ``null-io``.
WORKLOAD_SPECS: dict[str, WorkloadSpec] = {
    "null-io": WorkloadSpec("null-io", ("null",), null_io,
                            "write blocks to the null device and check its CRC-32", "throughput"),
    "compile-local": WorkloadSpec("compile-local", ("vfat",), compile_local,
                                  "untar and build a seeded source tree on VFAT; verify, fsck",
                                  "latency", "files/s"),
    "play-mp3": WorkloadSpec("play-mp3", ("sb", "es1371"), play_mp3,
                             "play a 128 kbit/s MP3 clip through /dev/dsp; check every sample",
                             "latency", "frames/s"),
    "ping": WorkloadSpec("ping", ("e1000", "pcnet32", "3c59x", "3c90x"), ping,
                         "ICMP echo to the peer host; check every reply's payload", "throughput",
                         "echoes/s"),
    "send-stream": WorkloadSpec("send-stream", ("e1000", "pcnet32", "3c59x", "3c90x"),
                                send_stream, "bulk TCP-lite transfer to the peer, byte-exact",
                                "throughput", "bytes/s"),
    "receive-stream": WorkloadSpec("receive-stream", ("e1000", "pcnet32", "3c59x", "3c90x"),
                                   receive_stream, "bulk TCP-lite transfer from the peer, "
                                   "byte-exact", "throughput", "bytes/s"),
    "serve-simple-web-page": WorkloadSpec("serve-simple-web-page", ("khttpd",),
                                          serve_simple_web_page, "httperf fetching a 1 KB page "
                                          "from kHTTPd; every body checked", "throughput",
                                          "ops/s"),
    "serve-complex-web-page": WorkloadSpec("serve-complex-web-page", ("e1000",),
                                           serve_complex_web_page, "SPECweb99-like files of "
                                           "mixed size from VFAT by a user-level server",
                                           "throughput", "ops/s"),
}

#: The paper's workloads: name -> the extensions it drives (the public ``nookslab.WORKLOADS``).
WORKLOADS: dict[str, tuple[str, ...]] = {
    name: spec.extensions for name, spec in WORKLOAD_SPECS.items()
    if all(e != "null" for e in spec.extensions)
}

__all__ = ["Measurement", "Userland", "WORKLOADS", "WORKLOAD_SPECS", "WorkloadFailed",
           "WorkloadResult", "WorkloadSpec", "run_workload"]
