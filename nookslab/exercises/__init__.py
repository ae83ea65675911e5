"""The graded notebooks' helpers: the live simulation with a student's piece plugged in, and the
direct checks of each exercise.

Student code enters only through explicit parameters built in grading mode (:mod:`nookslab.graded`):
``NooksHooks.graded(...)`` given to :func:`nookslab.boot`, ``FaultType.graded(...)`` given to a
trial, ``CostModel.graded(tlb_term=...)``. Nothing here patches the package.

- :mod:`.live`: one-line results of the live system (:func:`workload_line`, :func:`trial_line`,
  :func:`recovery_lines`), and two explicit faults of the null driver, :data:`WILD_STORE` and
  :data:`BAD_COPY`, that natively corrupt kernel memory unchecked and that Nooks must catch.
- :mod:`.cases`: seeded cases and :func:`agree`, which prints ``N of N cases agree`` and the first
  disagreement.
- one module per graded notebook with its direct checks: :mod:`.isolation` (02), :mod:`.xpc` (03),
  :mod:`.wrappers` (04), :mod:`.tracking` (05), :mod:`.recovery` (06), :mod:`.faults` (07),
  :mod:`.performance` (08).
"""
from .cases import Agreement, Case, agree, together
from .faults import fault_copies, fault_hits
from .isolation import (domain_probe, page_table_cases, stack_end_line, write_check_limits,
                        write_check_pages)
from .live import (BAD_COPY, WILD_STORE, bad_copy, deferred_crossings, driver_state, errno_names,
                   null_domain, recovery_lines, run_trial_with, trial_line, wild_store,
                   workload_line)
from .performance import tlb_cap_and_tags, tlb_pages
from .recovery import (EXPLICIT, explicit_recovery, next_failure, policy_causes, policy_limits,
                       recurring_bug)
from .tracking import collect_keep, collect_release
from .wrappers import CheckDomain, buffer_interfaces, buffer_lengths, buffer_modes, describe
from .xpc import batch_edges, batch_random, largest_batch

__all__ = ["Agreement", "BAD_COPY", "Case", "CheckDomain", "EXPLICIT", "WILD_STORE", "agree",
           "bad_copy", "batch_edges", "batch_random", "buffer_interfaces", "buffer_lengths",
           "buffer_modes", "collect_keep", "collect_release", "deferred_crossings", "describe",
           "domain_probe", "driver_state", "errno_names", "explicit_recovery", "fault_copies",
           "fault_hits", "largest_batch", "next_failure", "null_domain", "page_table_cases",
           "policy_causes", "policy_limits", "recovery_lines", "recurring_bug", "run_trial_with",
           "stack_end_line", "tlb_cap_and_tags", "tlb_pages", "together", "trial_line", "wild_store",
           "workload_line", "write_check_limits", "write_check_pages"]
