"""The network fast path under Nooks: inline skb helpers, deferred frees, the skb cache."""
from __future__ import annotations

import collections

import pytest

import nookslab as nl
from nookslab.kernel.net import SK_BUFF
from nookslab.nooks.interfaces import PREALLOCATED
from nookslab.nooks.xpc import ABORTED


@pytest.fixture
def e1000():
    k = nl.boot(mode="nooks", seed=0)
    assert k.load("e1000").ok
    return k


def crossings_by_name(k):
    return collections.Counter(e.detail for e in k.events if e.kind == "xpc")


def test_receive_stream_makes_no_crossing_for_skb_put_reserve_or_eth_type_trans(e1000):
    r = e1000.run("receive-stream", seconds=0.005)
    assert r.ok, r.failure
    names = crossings_by_name(e1000)
    for fn in ("skb_put", "skb_reserve", "eth_type_trans", "dev_kfree_skb_irq", "netif_rx"):
        assert f"<- {fn}" not in names
    assert e1000.isolation.xpc.batches > 0
    batch = PREALLOCATED["dev_alloc_skb"]
    assert names[f"<- dev_alloc_skb x{batch}"] > 0
    # fewer than one crossing per packet: the ACK transmits and the interrupts remain
    nic = e1000.machine.devices["e1000"]
    assert r.xpcs < nic.rx_frames


def test_an_inline_skb_helper_on_a_buffer_the_extension_does_not_hold_faults_in_the_domain(
        e1000):
    net = e1000.subsystems["net"]
    skb = net.alloc_skb(200)                       # the kernel's, never lent to the domain
    module = e1000.modules["e1000"]
    domain = module.domain
    skb_put = module.namespace["skb_put"]
    tail = e1000.mmu.ld32(skb + SK_BUFF.tail)
    ret = e1000.isolation.xpc.nooks_driver_call(domain, "test", skb_put, (skb, 10))
    assert ret is ABORTED
    assert domain.failed
    assert e1000.verdict is None                   # the kernel lives on
    assert e1000.mmu.ld32(skb + SK_BUFF.tail) == tail     # nothing was written
    net.kfree_skb(skb)


def test_the_skb_cache_goes_back_to_the_kernel_at_unload_and_nothing_leaks(e1000):
    assert e1000.run("ping", seconds=0.002).ok
    domain = e1000.modules["e1000"].domain
    assert any(domain.caches)                       # buffers allocated ahead, not yet used
    net = e1000.subsystems["net"]
    module = e1000.unload("e1000")
    assert module.leaks == []
    assert net.skb_held_by("e1000") == []


def test_recovery_releases_cached_and_held_skbs_exactly_once(e1000):
    assert e1000.run("ping", seconds=0.002).ok
    net = e1000.subsystems["net"]
    rec = e1000.recover("e1000")
    assert rec.ok, rec
    assert rec.errors == []                         # no double free of a cached skb
    assert any("sk_buff" in r for r in rec.released)
    assert e1000.verdict is None
    live = set(net.skb_owner)
    assert all(owner in ("e1000", "kernel") for owner in net.skb_owner.values()), live
    assert e1000.run("ping", seconds=0.002).ok


def test_without_batching_every_deferred_call_is_its_own_crossing():
    from nookslab.machine.costs import CostModel
    k = nl.boot(mode="nooks", seed=0, cost=CostModel(batching=False))
    assert k.load("e1000").ok
    assert k.run("receive-stream", seconds=0.003).ok
    names = crossings_by_name(k)
    assert names["<- netif_rx"] > 0 and names["<- dev_kfree_skb_irq"] >= 0
    assert k.isolation.xpc.batches == 0


def test_a_request_the_kernel_would_refuse_is_refused_and_the_cache_keeps_working(e1000):
    module = e1000.modules["e1000"]
    domain = module.domain
    alloc = module.namespace["dev_alloc_skb"]

    def body():
        big = alloc(1 << 20)                       # larger than any skb: NULL, as natively
        small = alloc(1500)
        return big, small

    big, small = e1000.isolation.xpc.nooks_driver_call(domain, "test", body, ())
    assert big == 0 and small != 0
    # the refused size did not spoil the cache: the small request refilled it
    assert sum(len(c) for c in domain.caches) == PREALLOCATED["dev_alloc_skb"] - 1
    assert domain.can_write(small, SK_BUFF.size)   # lent to the domain with its head
    assert e1000.subsystems["net"].skb_owner[small] == "e1000"
