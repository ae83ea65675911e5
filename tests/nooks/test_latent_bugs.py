"""The latent bugs Nooks found (SOSP'03 section 5): silent natively, caught under Nooks."""
import pytest

import nookslab
from nookslab.drivers import REGISTRY


def test_the_3c90x_write_to_a_freed_buffer_is_silent_natively_and_caught_in_nooks():
    if "3c90x" not in REGISTRY:
        pytest.skip("3c90x is not built yet")
    native = nookslab.boot(mode="native", seed=3)
    native.load("3c90x")
    gone = native.unload("3c90x")
    assert gone.error is None and native.verdict is None and not native.recoveries

    k = nookslab.boot(mode="nooks", seed=3)
    k.load("3c90x")
    gone = k.unload("3c90x")
    assert k.verdict is None
    faults = k.events.of("fault")
    assert len(faults) == 1 and "paging request" in faults[0].detail
    rec = k.recoveries[-1]
    assert rec.ok and rec.policy == "disable"          # rmmod finishes; nothing restarts
    assert "3c90x" not in k.modules
    assert gone.leaks == []


def test_a_freed_large_block_is_write_protected_until_reused(wild):
    domain = wild.modules["wild"].domain
    block = domain.kmalloc(8192)
    assert domain.can_write(block, 8192)
    domain.kfree(block)
    assert not domain.can_write(block, 1)
    again = domain.kmalloc(8192)
    assert domain.can_write(again, 8192)
