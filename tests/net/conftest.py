"""Fixtures for the net tests: the test-only ``wild`` driver (tests/nooks/drivers/wild.py), whose
ioctl stores 0xDEADBEEF wherever it is told, beside a NIC, in either configuration."""
import pytest

import nookslab

from ..nooks.conftest import ioctl, wild_registry  # noqa: F401  (a fixture, re-exported)
from ..nooks.drivers.wild import CMD_STORE

WILD = 0xDEADBEEF


@pytest.fixture
def with_wild(wild_registry):  # noqa: F811
    """``boot(mode)``: a kernel with e1000 (up, pinged once) and the wild driver loaded."""
    def boot(mode: str, seed: int = 3):
        k = nookslab.boot(mode=mode, seed=seed)
        assert k.load("e1000").ok and k.load("wild").ok
        assert k.run("ping", seconds=0.0005).ok
        return k
    return boot


def wild_store(k, addr: int):
    """The wild driver stores 0xDEADBEEF at ``addr``; returns the ioctl's result."""
    return ioctl(k, CMD_STORE, addr)
