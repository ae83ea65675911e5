"""Campaign worker processes: capped address space, and a trial that eats all of it is a
simulator-limit verdict, never a dead worker (nookslab.faults.pool)."""
from nookslab.faults.campaign import TrialTask, run_batch
from nookslab.faults.pool import run_batches
from nookslab.faults.trial import TrialResult, run_trial

from ..kernel import testdrivers


def hoard_without_faults(tasks):
    """In the worker: the hoarding driver's trial with no fault injected (its bug is its own)."""
    return [run_trial(t.extension, t.mode, t.seed, faults=()).to_dict() for t in tasks]


def test_a_trial_that_hoards_host_memory_ends_in_a_simulator_limit_on_a_capped_worker(
        monkeypatch):
    testdrivers.install(monkeypatch)            # the forked worker inherits the registries
    deaths = []
    task = TrialTask("hoard", "native", 1, 0, 1, None)
    (chunk,) = list(run_batches([[task]], hoard_without_faults, 1, memory_cap=768 << 20,
                                deaths=deaths))
    (result,) = [TrialResult.from_dict(d) for d in chunk]
    assert deaths == []
    assert (result.outcome, result.verdict, result.error) == ("simulator-limit", "limit", None), \
        result.cause
    # where the host said no depends on how much the forked worker already holds
    assert result.cause.startswith("simulator limit: the host refused memory"), result.cause


def test_worker_pools_yield_every_batch_once():
    tasks = [TrialTask("null", "native", s, s, 1, None) for s in range(6)]
    chunks = list(run_batches([tasks[:3], tasks[3:]], run_batch, 2, memory_cap=None))
    assert sorted(d["seed"] for c in chunks for d in c) == list(range(6))
