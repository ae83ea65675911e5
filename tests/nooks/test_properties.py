"""Property tests: whatever point a recovery strikes at, the system comes back clean."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nookslab

from .conftest import ioctl
from .drivers.wild import CMD_BAD_KFREE, CMD_OK, CMD_RAISE, CMD_SPIN, CMD_STORE, WILD_IRQ

FAILURES = [CMD_STORE, CMD_RAISE, CMD_BAD_KFREE, CMD_SPIN, "explicit", "idle"]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=st.lists(st.tuples(st.integers(0, 3), st.sampled_from(FAILURES)),
                       min_size=1, max_size=4))
def test_any_sequence_of_failures_and_recoveries_leaves_the_system_clean(wild_registry, script):
    k = nookslab.boot(mode="nooks", seed=5, step_budget=2_000)
    assert k.load("wild").ok
    domains = []
    count = 0                                  # the driver's call counter (lost at a restart)
    for good, failure in script:
        for _ in range(good):
            count += 1
            assert ioctl(k, CMD_OK) == count
        domains.append(k.modules["wild"].domain)
        if failure == "idle":
            k.idle(0.002)
            continue
        if failure == "explicit":
            k.recover("wild")
        else:
            ioctl(k, failure, k.timers.head)
        k.idle(0.001)
        count = 0
        assert k.recoveries[-1].ok
    assert k.verdict is None
    live = k.modules["wild"].domain
    for d in domains:
        if d is not live:
            assert d.destroyed and len(d.tracker) == 0
            assert len(k.machine.pages.pages_of(d.owner)) == 0
    assert len(k.irqs.actions[WILD_IRQ]) == 1
    assert WILD_IRQ not in k.irqs.disabled
    assert not k.events.of("warning")
    assert k.run("wild-io", seconds=0.005).ok
    assert k.check_integrity() == [] and k.verdict is None
    assert k.unload("wild").leaks == []
