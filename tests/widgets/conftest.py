"""Shared cases for the widget tests.

CRASH_CASE: one PTR fault in the example null driver, placed by seed 65: the interrupt handler's
status write goes to ``regs + (REG_STATUS ^ 0x800000)``, an address no page maps. Natively the
store faults in interrupt context and the kernel panics ("Aiee, killing interrupt handler!");
under Nooks the same store faults in domain null and recovery restarts the driver. The browser
test's notebook (tests/browser/dashboard.ipynb) uses the same case.

``nooks_crash_run``: the PTR fault seed 14 places, under Nooks: a store into a kernel heap page
(page 1) that the domain may only read, caught and recovered; the memory map marks that page.
(Natively the same store lands in slab free-list state nothing walks before the trial ends.)
"""
from __future__ import annotations

import pytest

CRASH_CASE = dict(extension="null", seed=65, fault="PTR")


@pytest.fixture
def crash_case():
    return dict(CRASH_CASE)


@pytest.fixture(scope="module")
def nooks_crash_run():
    """The crash case's nooks trial as the panel runs it (shared: it only reads)."""
    from nookslab.widgets import FaultPanel
    panel = FaultPanel(extension="null", mode="nooks", seed=14, faults=("PTR",))
    return panel.runs[0]
