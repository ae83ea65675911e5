import pytest

import nookslab

from . import testdrivers


@pytest.fixture
def test_drivers(monkeypatch):
    """The test-only drivers of tests/kernel/baddrivers, loadable for this test."""
    testdrivers.install(monkeypatch)


@pytest.fixture
def bell(test_drivers):
    """A native kernel (small step budget, so hangs are found fast) with the bell driver loaded."""
    k = nookslab.boot(mode="native", seed=5, step_budget=2_000)
    module = k.load("bell")
    assert module.ok, module.error
    return k
