"""The web workloads: serve-simple-web-page (kHTTPd) and serve-complex-web-page (e1000)."""
from __future__ import annotations

import nookslab as nl
from nookslab.drivers.khttpd import KHTTPD_SERVER
from nookslab.kernel.vfs import O_TRUNC, O_WRONLY

SECONDS = 0.01


def run(workload, ext, seed=5, mode="native", seconds=SECONDS, preload=(), **params):
    k = nl.boot(mode=mode, seed=seed)
    for name in preload:
        assert k.load(name).ok
    assert k.load(ext).ok
    return k, k.run(workload, seconds=seconds, **params)


def test_serve_simple_web_page_runs_ok_and_loads_its_nic_and_file_system():
    k, r = run("serve-simple-web-page", "khttpd")
    assert r.ok, r.failure
    assert r.unit == "ops/s" and r.operations > 20
    assert r.nbytes == 1024 * r.operations
    assert "e1000" in k.modules and "vfat" in k.modules
    assert r.xpcs == 0 and k.verdict is None


def test_serve_simple_web_page_uses_the_nic_already_loaded():
    k, r = run("serve-simple-web-page", "khttpd", preload=("pcnet32",))
    assert r.ok, r.failure
    assert "e1000" not in k.modules


def test_serve_simple_web_page_is_deterministic_per_seed():
    _, a = run("serve-simple-web-page", "khttpd", seed=8)
    _, b = run("serve-simple-web-page", "khttpd", seed=8)
    _, c = run("serve-simple-web-page", "khttpd", seed=9)
    assert a.ok and c.ok
    assert a.to_dict() == b.to_dict()
    assert c.to_dict() != a.to_dict()


def test_serve_simple_web_page_counts_xpcs_under_nooks():
    k, r = run("serve-simple-web-page", "khttpd", mode="nooks")
    assert r.ok, r.failure
    assert r.xpcs > 10 * r.operations          # every request crosses into kHTTPd ~10 times
    assert k.recoveries == []


def test_corrupting_khttpd_listen_pointer_fails_the_workload_or_the_system():
    def corrupt(kernel):
        srv = kernel.modules["khttpd"].namespace["server"]
        kernel.mmu.st32(srv + KHTTPD_SERVER.listen, 0x00BAD000)

    k, r = run("serve-simple-web-page", "khttpd", after_start=corrupt)
    assert not r.ok
    assert r.failure


def test_a_wrong_byte_in_a_served_page_fails_the_workload():
    def rewrite(kernel):
        vfs = kernel.subsystems["vfs"]
        proc = kernel.spawn("vandal")
        fd = kernel.syscall(proc, vfs.sys_open, "/www/index.html", O_WRONLY | O_TRUNC, 0)
        kernel.syscall(proc, vfs.sys_write, fd, b"<html>defaced</html>".ljust(1024, b" "))
        kernel.syscall(proc, vfs.sys_close, fd)

    _, r = run("serve-simple-web-page", "khttpd", after_start=rewrite)
    assert not r.ok
    assert "body differs" in r.failure


def test_serve_complex_web_page_runs_ok_and_is_deterministic():
    _, a = run("serve-complex-web-page", "e1000", seed=4, seconds=0.05)
    _, b = run("serve-complex-web-page", "e1000", seed=4, seconds=0.05)
    _, c = run("serve-complex-web-page", "e1000", seed=6, seconds=0.05)
    assert a.ok, a.failure
    assert c.ok, c.failure
    assert a.unit == "ops/s" and a.operations >= 3
    assert a.to_dict() == b.to_dict()
    assert c.to_dict() != a.to_dict()
    # Apache's user time dominates: CPU-bound near the paper's 90.5% (SOSP'03 Table 4)
    assert 0.8 < a.cpu_util <= 1.0


def test_serve_complex_web_page_under_nooks_is_correct_with_crossings():
    k, r = run("serve-complex-web-page", "e1000", mode="nooks", seconds=0.03)
    assert r.ok, r.failure
    assert r.xpcs > 0 and k.recoveries == []
