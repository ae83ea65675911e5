"""The four NICs end to end: workloads correct and repeatable, checks with teeth, the 3c90x bug."""
from __future__ import annotations

import pytest

import nookslab
from nookslab.kernel.net import NET_DEVICE

NICS = ("e1000", "pcnet32", "3c59x", "3c90x")
WORKLOADS = ("ping", "send-stream", "receive-stream")


def booted(name, seed=5):
    k = nookslab.boot(mode="native", seed=seed)
    assert k.load(name).ok
    return k


def priv_of(k, name):
    nd = k.subsystems["net"].by_owner(name)
    return k.mmu.ld32(nd.addr + NET_DEVICE.priv)


@pytest.mark.parametrize("nic", NICS)
@pytest.mark.parametrize("workload", WORKLOADS)
def test_the_workload_is_correct_and_the_same_twice_for_a_seed(nic, workload):
    a = booted(nic).run(workload, seconds=0.004)
    b = booted(nic).run(workload, seconds=0.004)
    assert a.ok, a.failure
    assert a.to_dict() == b.to_dict()
    c = booted(nic, seed=99).run(workload, seconds=0.004)
    assert c.ok, c.failure
    if workload == "ping":    # a link-bound stream may take the same time for other content
        assert (c.seconds, c.throughput, c.latency) != (a.seconds, a.throughput, a.latency)


def test_the_gigabit_card_streams_about_ten_times_faster_than_the_fast_ethernet_ones():
    fast = {nic: booted(nic).run("receive-stream", seconds=0.01).throughput for nic in NICS}
    assert 100e6 < fast["e1000"] < 125e6               # 1 Gbit/s of payload, minus headers
    for nic in ("pcnet32", "3c59x", "3c90x"):
        assert 10e6 < fast[nic] < 12.5e6               # 100 Mbit/s


@pytest.mark.parametrize("nic", NICS)
def test_unloading_after_the_workloads_leaks_nothing(nic):
    k = booted(nic)
    for w in WORKLOADS:
        assert k.run(w, seconds=0.003).ok
    module = k.unload(nic)
    assert module.leaks == [] and module.error is None
    assert k.subsystems["net"].skb_owner == {}
    assert k.check_integrity() == [] and k.verdict is None


def _field(nic):
    """(offset of a private-struct field, bad value): a scribble the workload must notice."""
    from nookslab.drivers import c3c59x, c3c90x, e1000, pcnet32
    return {"e1000": (e1000.ADAPTER.tx_ring, 0x10),
            "pcnet32": (pcnet32.PRIV.ioaddr, 0),
            "3c59x": (c3c59x.VP.ioaddr, 0x40),
            "3c90x": (c3c90x.VP.rings, 0x20)}[nic]


@pytest.mark.parametrize("nic", NICS)
@pytest.mark.parametrize("workload", ("ping", "send-stream"))
def test_corrupting_one_driver_field_makes_the_workload_fail(nic, workload):
    k = booted(nic)
    assert k.run(workload, seconds=0.002).ok            # the interface is up and working
    offset, bad = _field(nic)
    k.mmu.st32(priv_of(k, nic) + offset, bad)
    r = k.run(workload, seconds=0.002)
    assert not r.ok and r.failure


def test_scribbling_the_e1000_receive_index_loses_packets_and_fails_the_stream():
    from nookslab.drivers.e1000 import ADAPTER
    k = booted("e1000")
    assert k.run("receive-stream", seconds=0.002).ok
    p = priv_of(k, "e1000")
    k.mmu.st32(p + ADAPTER.rx_next_to_clean, (k.mmu.ld32(p + ADAPTER.rx_next_to_clean) + 128) % 256)
    r = k.run("receive-stream", seconds=0.005)
    assert not r.ok


def test_the_3c90x_latent_bug_writes_freed_memory_silently_in_native():
    k = booted("3c90x")
    module = k.modules["3c90x"]
    freed = module.namespace["second_buf"]
    assert freed and k.machine.pages.owner[freed >> 12] == 0      # freed during init
    assert k.run("send-stream", seconds=0.003).ok
    k.mmu.write(freed, b"\x5a" * 64)          # leave a mark, to see the unload zero it
    unloaded = k.unload("3c90x")
    assert unloaded.leaks == [] and unloaded.error is None
    assert bytes(k.machine.memory.data[freed:freed + 4096]) == bytes(4096)   # it was zeroed
    assert k.check_integrity() == [] and k.verdict is None
    assert k.load("3c90x").ok and k.run("ping", seconds=0.002).ok
