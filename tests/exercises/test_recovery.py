"""Notebook 06's direct and live checks: every parameter of the policy matters (the cause, the
extension's limit, the restarts counted in the interval); a recurring bug comes back after
every restart until the policy disables the driver."""
from __future__ import annotations

import pytest

from nookslab.exercises import (explicit_recovery, next_failure, policy_causes, policy_limits,
                                recurring_bug, together)
from nookslab.nooks.hooks import NooksHooks

RIGHT = ("def policy(extension, restarts, cause):\n"
         "    if cause == 'explicit trigger':\n        return 'restart'\n"
         "    return 'restart' if restarts < RESTART_LIMITS.get(extension, MAX_RESTARTS) "
         "else 'disable'")
SETTINGS = ((2, {"e1000": 4}), (1, {"sb": 0, "vfat": 3}), (3, {}))


def _results(fn):
    hooks = NooksHooks.graded(policy=fn)
    found = []
    for max_restarts, limits in SETTINGS:
        fn.__globals__.update(MAX_RESTARTS=max_restarts, RESTART_LIMITS=limits)
        found.append(policy_limits(hooks, max_restarts, limits, seed=max_restarts))
    fn.__globals__.update(MAX_RESTARTS=2, RESTART_LIMITS={"e1000": 4})
    return {"limits": together(found), "causes": policy_causes(hooks, 2, {"e1000": 4}, seed=5)}


def test_the_right_policy_agrees_on_every_setting(cell):
    results = _results(cell(RIGHT, MAX_RESTARTS=2, RESTART_LIMITS={}))
    assert str(results["limits"]) == ("restart limits, 3 settings of the notebook's constants: "
                                      "100 of 100 cases agree")
    assert results["causes"].ok


@pytest.mark.parametrize("source, fails", [
    ("return 'restart' if restarts < MAX_RESTARTS else 'disable'", {"limits", "causes"}),
    ("return 'restart'", {"limits", "causes"}),
    ("if cause == 'explicit trigger':\n        return 'restart'\n"
     "    return 'restart' if restarts <= RESTART_LIMITS.get(extension, MAX_RESTARTS) "
     "else 'disable'", {"limits", "causes"}),
    ("if cause == 'explicit trigger':\n        return 'restart'\n"
     "    return 'restart' if restarts < (4 if extension == 'e1000' else 2) else 'disable'",
     {"limits"}),
    ("return 'restart' if restarts < RESTART_LIMITS.get(extension, MAX_RESTARTS) else 'disable'",
     {"causes"}),
])
def test_a_policy_ignoring_a_parameter_or_a_setting_fails(cell, source, fails):
    results = _results(cell("def policy(extension, restarts, cause):\n    " + source,
                            MAX_RESTARTS=2, RESTART_LIMITS={"e1000": 4}))
    assert {name for name, r in results.items() if not r.ok} == fails


def test_a_recurring_bug_comes_back_until_the_policy_disables_the_driver(cell):
    k = recurring_bug(NooksHooks.graded(policy=cell(RIGHT, MAX_RESTARTS=2, RESTART_LIMITS={})))
    lines = [next_failure(k), next_failure(k), explicit_recovery(k), next_failure(k),
             next_failure(k)]
    assert [line.rsplit(": ", 1)[-1] for line in lines[:4]] == [
        "policy restart, driver live", "policy restart, driver live",
        "policy restart, driver live", "policy disable, driver disabled"]
    assert "write returned -5 EIO" in lines[0] and "paging request" in lines[0]
    assert lines[4].startswith("no live driver (disabled)") and "-19 ENODEV" in lines[4]


def test_restarts_older_than_the_interval_stop_counting_and_a_counting_policy_is_caught(cell):
    right = cell(RIGHT, MAX_RESTARTS=2, RESTART_LIMITS={})
    counting = cell("seen = []\ndef policy(extension, restarts, cause):\n    seen.append(1)\n"
                    "    return 'restart' if len(seen) <= MAX_RESTARTS else 'disable'",
                    MAX_RESTARTS=2, RESTART_LIMITS={})
    for fn, last in ((right, "policy restart, driver live"),
                     (counting, "policy disable, driver disabled")):
        k = recurring_bug(NooksHooks.graded(policy=fn), seed=1, interval=0.001)
        for _ in range(3):
            k.idle(0.002)
            line = next_failure(k)
        assert line.endswith(last)


def test_a_policy_asking_the_package_is_switched_off(cell):
    k = recurring_bug()
    fn = cell("def policy(extension, restarts, cause):\n"
              "    return 'restart' if k.isolation.recovery._restart_allowed(extension) "
              "else 'disable'", k=k)
    assert "raised SwitchedOff" in str(policy_causes(NooksHooks.graded(policy=fn), 2, {}, seed=5))
