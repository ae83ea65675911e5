"""Student parts plugged into Nooks through NooksHooks: no hook changes nothing, each hook is really
used (a wrong one changes what the simulation does), and bad hooks are refused with a ValueError."""
from __future__ import annotations

import numpy as np
import pytest

import nookslab as nl
from nookslab.exercises import bad_copy, recovery_lines, run_trial_with, wild_store
from nookslab.faults.types import FaultType
from nookslab.machine.costs import CostModel
from nookslab.machine.mmu import PRESENT
from nookslab.nooks.hooks import NooksHooks


def null_io(hooks=None, seed=0, cost=None):
    k = nl.boot("nooks", seed=seed, hooks=hooks, cost=cost)
    k.load("null")
    return k, k.run("null-io", seconds=0.002)


def test_hooks_that_copy_the_package_change_nothing():
    k0, r0 = null_io()
    hooks = NooksHooks(page_table=lambda f: f & PRESENT,
                       batch=lambda q: [q],
                       collect=lambda objs: ([o for o in objs[::-1] if not o.type.physical],
                                             [o for o in objs[::-1] if o.type.physical]))
    k1, r1 = null_io(hooks)
    assert (r1.ok, r1.operations, k1.isolation.xpc.count, k1.clock.now) == \
           (r0.ok, r0.operations, k0.isolation.xpc.count, k0.clock.now)
    assert recovery_lines(k1.isolation.recover("null")) == recovery_lines(k0.isolation.recover("null"))


def test_a_page_table_with_kernel_pages_writable_misses_a_wild_store():
    # an explicit store into a kernel page (exercises.WILD_STORE), not a seed's random fault
    good = wild_store(NooksHooks(page_table=lambda f: f & PRESENT))
    bad = wild_store(NooksHooks(page_table=lambda f: f))
    native = wild_store(mode="native")
    assert (good.outcome, good.detected, good.recovered, good.activated) == ("none", True, True, 1)
    # natively the store tramples the red zone before the kernel's struct file; kfree finds
    # it when the file is closed: a failed BUG() check, which kills the process (Linux 2.4)
    assert (bad.outcome, bad.detected, bad.activated) == ("nonfatal", False, 1)
    assert native.outcome == "nonfatal" and "kernel BUG: kernel: red zone before" in native.cause
    assert bad.cause == native.cause                  # no isolation: exactly what native Linux does
    # the store goes through the MMU only: a write check that allows everything still catches it
    assert wild_store(NooksHooks(write_check=lambda w, a, n: True)).outcome == "none"


def test_a_page_table_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match="page flags"):
        null_io(NooksHooks(page_table=lambda f: f[:10]))


def test_a_write_check_that_allows_everything_lets_a_bad_copy_through():
    # an explicit copy_from_user into a kernel object (exercises.BAD_COPY), not a seed's fault
    allowed = bad_copy(NooksHooks(write_check=lambda w, a, n: True))
    assert (allowed.outcome, allowed.detected, allowed.activated) == ("nonfatal", False, 1)
    assert "expected crc32" in allowed.cause          # the user's bytes went to the kernel
    assert allowed.cause == bad_copy(mode="native").cause
    caught = bad_copy()
    assert (caught.outcome, caught.detected, caught.recovered) == ("none", True, True)
    # the kernel does the copy, so the page table cannot stop it: only the wrappers' checks
    assert bad_copy(NooksHooks(page_table=lambda f: f)).outcome == "none"
    assert bad_copy(NooksHooks(buffer_check=lambda spec: (lambda a, d: None))).outcome == \
        "nonfatal"


def test_batching_decides_how_many_deferred_crossings_run():
    def rx(hooks):
        k = nl.boot("nooks", seed=0, hooks=hooks)
        k.load("e1000")
        r = k.run("receive-stream", seconds=0.001)
        return r.ok, k.isolation.xpc.batches
    one = rx(None)
    singles = rx(NooksHooks(batch=lambda q: [[c] for c in q]))
    assert one[0] and singles[0] and singles[1] > one[1]


def test_a_buffer_check_that_refuses_everything_fails_the_workload():
    k, r = null_io(NooksHooks(buffer_check=lambda spec: (lambda args, domain: "refused")))
    assert not r.ok and k.isolation.recovery.check_failures > 0


def test_the_policy_hook_decides_restart_or_disable_and_bad_answers_disable():
    k = nl.boot("nooks", seed=0, hooks=NooksHooks(policy=lambda e, restarts, cause: "restart"
                                                  if restarts < 1 else "maybe"))
    k.load("null")
    assert k.isolation.recover("null").policy == "restart"
    second = k.isolation.recover("null")
    assert second.policy == "disable" and k.modules["null"].state == "disabled"
    assert any("policy returned 'maybe'" in s.detail for s in second.steps)


def test_hooks_must_be_functions_and_need_nooks():
    with pytest.raises(ValueError, match="write_check"):
        NooksHooks(write_check=3)
    with pytest.raises(ValueError, match="nooks"):
        nl.boot("native", hooks=NooksHooks())


def test_a_new_fault_type_runs_in_a_trial_and_counts_its_activation():
    def arm(kernel, module, hit):
        real = module.namespace["copy_from_user"]

        def copy_from_user(to, from_user, n):
            hit()
            return real(to ^ (1 << 20), from_user, n)
        module.namespace["copy_from_user"] = copy_from_user
    wild = FaultType("WILD", arm)
    native = run_trial_with("null", 0, mode="native", faults=[wild.fault()])
    nooks = run_trial_with("null", 0, faults=[wild.fault()])
    assert native.activated == 1 and native.outcome != "none"
    assert (nooks.activated, nooks.detected, nooks.recovered) == (1, True, True)


def test_a_fault_type_needs_a_new_name_and_a_function():
    with pytest.raises(ValueError, match="new identifier"):
        FaultType("PTR", lambda k, m, h: None)
    with pytest.raises(ValueError, match="arm"):
        FaultType("MINE", None)


def test_the_tlb_term_replaces_the_refill_charge():
    _, r0 = null_io()
    k, r = null_io(cost=CostModel(tlb_term=lambda cost, work: 0))
    assert k.isolation.xpc.tlb_cycles == 0 and r.cpu_util < r0.cpu_util
    assert CostModel(tlb_term=lambda c, w: 1) != CostModel()
    assert np.isclose(CostModel().tlb_refill(10), CostModel().xpc_tlb)


def test_a_tlb_term_must_be_a_function():
    import pytest
    with pytest.raises(ValueError, match="tlb_term"):
        CostModel(tlb_term=5)


# -- grading mode (nookslab.graded) ----------------------------------------------------------------
def _notebook(source: str) -> dict:
    ns = {"__name__": "__main__", "nl": nl, "PRESENT": PRESENT}
    exec(compile(source, "<notebook cell>", "exec"), ns)
    return ns


def test_graded_hooks_take_only_notebook_functions_and_name_the_missing_part():
    own = _notebook("def table(kernel_flags):\n    return kernel_flags & PRESENT")["table"]
    hooks = NooksHooks.graded(page_table=own)
    assert hooks.grading and hooks.parts() == ("page_table",) and not NooksHooks().grading
    with pytest.raises(ValueError, match="write_check hook: it is None"):
        NooksHooks.graded(write_check=None)
    from nookslab.nooks.domain import may_write
    with pytest.raises(ValueError, match="nookslab.nooks.domain.may_write, not a function defined"):
        NooksHooks.graded(write_check=may_write)
    with pytest.raises(ValueError, match="unknown hook"):
        NooksHooks.graded(xpc=own)
    with pytest.raises(ValueError, match="name the graded part"):
        NooksHooks.graded()


def test_a_graded_hook_calling_the_packages_own_part_fails_the_live_run_with_the_reason():
    ns = _notebook("def table(kernel_flags):\n"
                   "    return nl.nooks.domain.domain_page_table(kernel_flags)\n"
                   "def check(writable, addr, length):\n"
                   "    return nl.nooks.domain.may_write(writable, addr, length)\n"
                   "def build(spec):\n    return None")
    from nookslab.graded import NotYourOwn, SwitchedOff
    with pytest.raises(SwitchedOff, match="page-table build is switched off while grading"):
        null_io(NooksHooks.graded(page_table=ns["table"]))
    k, r = null_io(NooksHooks.graded(write_check=ns["check"]))
    assert not r.ok and "write check is switched off" in k.modules["null"].error
    with pytest.raises(NotYourOwn, match="the check your buffer_check returned: it is None"):
        null_io(NooksHooks.graded(buffer_check=ns["build"]))
    # ungraded, the same hooks are plain functions: the package's own parts answer as usual
    assert null_io(NooksHooks(write_check=ns["check"]))[1].ok


def test_graded_parts_run_the_live_system_exactly_as_the_same_plain_hooks():
    ns = _notebook("def table(kernel_flags):\n    return kernel_flags & PRESENT\n"
                   "def collect(objects):\n    new = objects[::-1]\n"
                   "    return ([o for o in new if not o.type.physical],\n"
                   "            [o for o in new if o.type.physical])")
    plain = NooksHooks(page_table=ns["table"], collect=ns["collect"])
    graded = NooksHooks.graded(page_table=ns["table"], collect=ns["collect"])
    (k0, r0), (k1, r1) = null_io(plain), null_io(graded)
    assert (r1.operations, k1.clock.now) == (r0.operations, k0.clock.now)
    assert recovery_lines(k1.isolation.recover("null")) == recovery_lines(k0.isolation.recover("null"))
