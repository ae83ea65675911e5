"""Every registered driver's every workload: the same correct results in nooks as in native,
with every crossing counted (DESIGN.md section 3; the acceptance suite's promise)."""
import pytest

import nookslab
from nookslab.drivers import REGISTRY
from nookslab.workloads import WORKLOAD_SPECS

PAIRS = sorted((w, e) for w, spec in WORKLOAD_SPECS.items() for e in spec.extensions
               if e in REGISTRY)
SECONDS = 0.03


@pytest.mark.parametrize("workload,extension", PAIRS)
def test_a_workload_gives_the_same_correct_result_in_nooks_as_in_native(workload, extension):
    results = {}
    for mode in ("native", "nooks"):
        k = nookslab.boot(mode=mode, seed=3)
        module = k.load(extension)
        results[mode] = (k.run(workload, seconds=SECONDS), module, k)
    native, _, _ = results["native"]
    if not native.ok:
        pytest.skip(f"{workload} on {extension} fails natively too: {native.failure}")
    nooks, module, k = results["nooks"]
    assert nooks.ok, nooks.failure
    assert k.verdict is None and not k.recoveries
    assert native.xpcs == 0 and nooks.xpcs > 0
    assert nooks.operations > 0
    # unloading returns everything, in nooks too, and the domain goes away
    domain = module.domain
    assert k.unload(extension).leaks == []
    assert domain.destroyed and len(k.machine.pages.pages_of(domain.owner)) == 0


@pytest.mark.parametrize("extension", sorted(e for e in REGISTRY if REGISTRY[e].paper or
                                             e == "null"))
def test_explicit_recovery_of_every_driver_leaves_it_working(extension):
    k = nookslab.boot(mode="nooks", seed=4)
    module = k.load(extension)
    if not module.ok:
        pytest.skip(f"{extension} does not load: {module.error}")
    old = module.domain
    rec = k.recover(extension)
    assert rec.ok, rec
    assert len(old.tracker) == 0 and old.destroyed
    assert k.held_by(extension) == k.held_by(extension)       # stable, no exception
    workloads = [w for w, spec in WORKLOAD_SPECS.items() if extension in spec.extensions]
    for workload in workloads:
        n = nookslab.boot(mode="native", seed=4)
        n.load(extension)
        if not n.run(workload, seconds=SECONDS).ok:
            continue
        r = k.run(workload, seconds=SECONDS)
        assert r.ok, f"{workload} after recovery: {r.failure}"


def test_pcnet32_answers_ping_after_an_explicit_recovery():
    if "pcnet32" not in REGISTRY:
        pytest.skip("pcnet32 is not built yet")
    k = nookslab.boot(mode="nooks", seed=4)
    k.load("pcnet32")
    k.recover("pcnet32")
    assert k.recoveries and k.recoveries[-1].ok
    assert k.run("ping", seconds=0.1).ok
