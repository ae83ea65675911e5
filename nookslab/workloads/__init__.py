"""Workloads: the user programs that drive each extension (SOSP'03 section 5's stress tests)."""
from __future__ import annotations

from .base import Measurement, WorkloadFailed, WorkloadResult, WorkloadSpec, run_workload
from .nullio import null_io

#: Every workload, including the foundation's example ``null-io``.
WORKLOAD_SPECS: dict[str, WorkloadSpec] = {
    "null-io": WorkloadSpec("null-io", ("null",), null_io,
                            "write blocks to the null device and check its CRC-32", "throughput"),
}

#: The paper's workloads: name -> the extensions it drives (the public ``nookslab.WORKLOADS``).
WORKLOADS: dict[str, tuple[str, ...]] = {
    name: spec.extensions for name, spec in WORKLOAD_SPECS.items()
    if all(e != "null" for e in spec.extensions)
}

__all__ = ["Measurement", "WORKLOADS", "WORKLOAD_SPECS", "WorkloadFailed", "WorkloadResult",
           "WorkloadSpec", "run_workload"]
