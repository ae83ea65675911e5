"""Shared cases for the widget tests.

CRASH_CASE: one PTR fault in the example null driver, placed by seed 14. Natively the corrupted
pointer writes into the kernel heap and the heap's integrity check panics the system; under Nooks
the same store hits a read-only kernel page in domain null, a page fault, and recovery restarts
the driver. The browser test's notebook (tests/browser/dashboard.ipynb) uses the same case.
"""
from __future__ import annotations

import pytest

CRASH_CASE = dict(extension="null", seed=14, fault="PTR")


@pytest.fixture
def crash_case():
    return dict(CRASH_CASE)


@pytest.fixture(scope="module")
def nooks_crash_run():
    """The crash case's nooks trial as the panel runs it (shared: it only reads)."""
    from nookslab.widgets import FaultPanel
    panel = FaultPanel(extension="null", mode="nooks", seed=14, faults=("PTR",))
    return panel.runs[0]
