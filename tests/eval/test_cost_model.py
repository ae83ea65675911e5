"""The cost model itself: what an XPC costs, and what each what-if knob removes."""
from __future__ import annotations

import pytest

import nookslab as nl
from nookslab.machine.costs import WHAT_IFS, CostModel

FREE_NOOKS = CostModel(xpc_switch=0, xpc_tlb=0, wrapper_check=0, tracker_op=0,
                       xpc_copy_per_byte_milli=0)


def busy(mode, cost, workload="play-mp3", ext="sb", seconds=0.1):
    k = nl.boot(mode=mode, seed=0, cost=cost)
    assert k.load(ext).ok
    b0 = k.clock.busy
    r = k.run(workload, seconds=seconds)
    assert r.ok, r.failure
    return k.clock.busy - b0, r


def test_the_default_is_the_papers_machine_with_the_derived_xpc_cost():
    c = CostModel()
    assert c.cpu_hz == 1_700_000_000
    # all-inclusive per XPC (switch + TLB + wrapper check) within the derived ~8-9 us
    us = (c.xpc_cost + c.wrapper_check) / c.cpu_hz * 1e6
    assert 7.0 < us < 9.5
    assert c.xpc_breakdown() == {"switch": 800, "tlb": 12_000, "wrapper_check": 300,
                                 "tracker_op": 150}


def test_nooks_with_all_its_costs_zero_charges_exactly_what_native_does():
    native, _ = busy("native", None, "null-io", "null", 0.01)
    nooks, r = busy("nooks", FREE_NOOKS, "null-io", "null", 0.01)
    assert r.xpcs > 0
    assert nooks == native


def test_zero_xpcs_cost_nothing_and_the_extra_cost_is_linear_in_the_xpc_count():
    base_short, short = busy("nooks", FREE_NOOKS, seconds=0.1)
    full_short, short2 = busy("nooks", None, seconds=0.1)
    base_long, long_ = busy("nooks", FREE_NOOKS, seconds=0.3)
    full_long, long2 = busy("nooks", None, seconds=0.3)
    assert short.xpcs == short2.xpcs and long_.xpcs == long2.xpcs
    assert long_.xpcs > short.xpcs > 0
    per_short = (full_short - base_short) / short.xpcs
    per_long = (full_long - base_long) / long_.xpcs
    assert per_short == pytest.approx(per_long, rel=0.02)
    assert per_short >= CostModel().xpc_cost
    # scaling one part of the crossing scales the total by exactly count x change
    doubled, r = busy("nooks", CostModel().but(xpc_tlb=24_000), seconds=0.1)
    assert r.xpcs == short.xpcs
    assert doubled - full_short == short.xpcs * 12_000


def test_a_tagged_tlb_removes_the_flush_share_and_only_that():
    k = nl.boot(mode="nooks", seed=0)
    assert k.load("sb").ok
    b0, t0 = k.clock.busy, k.isolation.xpc.tlb_cycles
    r = k.run("play-mp3", seconds=0.1)
    default, tlb = k.clock.busy - b0, k.isolation.xpc.tlb_cycles - t0
    tagged, t = busy("nooks", CostModel(tagged_tlb=True))
    assert r.xpcs == t.xpcs > 0
    assert tlb == r.xpcs * CostModel().xpc_tlb
    assert default - tagged == tlb
    assert CostModel(tagged_tlb=True).xpc_cost == CostModel().xpc_switch


def test_a_protection_key_switch_costs_tens_of_cycles_and_flushes_nothing():
    c = CostModel(domain_switch="pkey")
    assert c.tlb_cost == 0 and 10 <= c.xpc_cost < 100
    with pytest.raises(ValueError):
        CostModel(domain_switch="segments")


def test_object_tracking_off_charges_no_tracker_operations_or_copies():
    c = CostModel(object_tracking=False)
    assert c.tracker_cost == 0 and c.xpc_copy_cost(4096) == 0
    assert CostModel().xpc_copy_cost(4096) == 4096
    on, r = busy("nooks", None, "null-io", "null", 0.01)
    off, s = busy("nooks", c, "null-io", "null", 0.01)
    assert r.xpcs > 0 and s.xpcs > 0
    assert off / s.operations < on / r.operations


def test_batching_lowers_the_xpc_count_of_receive_stream():
    per_byte = {}
    for batching in (True, False):
        k = nl.boot(mode="nooks", seed=0, cost=CostModel(batching=batching))
        assert k.load("e1000").ok
        r = k.run("receive-stream", seconds=0.01)
        assert r.ok, r.failure
        per_byte[batching] = r.xpcs / r.nbytes
        assert (k.isolation.xpc.batches > 0) == batching
    assert per_byte[True] < per_byte[False]


def test_a_faster_clock_shrinks_the_cpu_share_of_a_device_bound_workload():
    _, slow = busy("nooks", None)
    _, fast = busy("nooks", CostModel().what_if("3.4GHz"))
    assert fast.xpcs == slow.xpcs
    assert fast.cpu_util < slow.cpu_util


def test_every_named_what_if_builds_a_valid_model():
    for name in WHAT_IFS:
        assert isinstance(CostModel().what_if(name), CostModel)
    with pytest.raises(ValueError):
        CostModel().what_if("quantum")


def test_the_working_set_tlb_model_refills_only_what_was_touched_since_the_last_crossing():
    c = CostModel(tlb_model="working_set")
    assert c.tlb_refill(0) == 0
    assert c.tlb_refill(600) == 600 * c.tlb_miss // c.tlb_page_every
    assert c.tlb_refill(10**9) == c.xpc_tlb                   # capped at a full refill
    assert CostModel().tlb_refill(0) == CostModel().xpc_tlb   # flat: every crossing refills all
    assert CostModel(tlb_model="working_set", tagged_tlb=True).tlb_refill(10**9) == 0
    flat, r = busy("nooks", None)
    ws, w = busy("nooks", c)
    assert r.xpcs == w.xpcs and ws < flat
    with pytest.raises(ValueError):
        CostModel(tlb_model="psychic")
