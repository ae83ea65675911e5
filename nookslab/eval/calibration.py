"""Which of the model's inputs were set from the paper's own numbers (calibration), and what that
makes of Table 4: every cell is *calibrated* (an input was set so that this cell comes out near
the paper's), *fitted* (the model's structure was chosen among alternatives because it lands
these cells near the paper's) or *predicted* (neither: it comes out of the runs).

The paper gives no cycle counts for Linux 2.4's paths and only one end-to-end profile of Nooks'
cost (figure 8), so some inputs had to be set against its published figures. They are listed
here, each with the constants it sets and the figure it was set against, and each of those
constants carries a ``# CALIBRATION: <key>`` comment where it is defined;
``tests/eval/test_calibration.py`` checks that the two lists agree, so a new calibration cannot go
unlabelled. ``docs/calibration.md`` explains them for readers.
"""
from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass

#: Table 4's columns that a row computes from the runs.
COLUMNS = ("xpc_rate", "relative_performance", "cpu_native", "cpu_nooks")
ALL_ROWS = ("play-mp3", "receive-stream", "send-stream", "compile-local",
            "serve-simple-web-page", "serve-complex-web-page")
#: One character per provenance, for fixed-width tables; an unmarked cell is predicted.
SYMBOLS = {"calibrated": "*", "fitted": "~", "predicted": ""}
LEGEND = ("* calibrated: an input of the model was set so that this cell comes out near the "
          "paper's; ~ fitted: the TLB model was chosen (of two) because it lands these cells "
          "within 0.10 of the paper's; unmarked: predicted (comes out of the runs)")


@dataclass(frozen=True)
class Calibration:
    """One calibration: the constants it sets, and the paper's figure they were set against.

    ``constants``: ``"module:NAME"`` for a module attribute, ``"module:Class.field"`` for a
    dataclass field's default. ``rows``: the Table 4 benchmarks whose figures depend on it.
    ``cells``: the columns (of those rows) whose paper value it was set to match: not predictions.
    ``kind``: ``"calibrated"`` (a value set from the paper) or ``"fitted"`` (a modelling choice
    made because it matches the paper).
    """

    key: str
    constants: tuple[str, ...]
    source: str
    rows: tuple[str, ...]
    cells: tuple[str, ...] = ()
    kind: str = "calibrated"

    def values(self) -> dict[str, object]:
        """Each constant's current value, read from the code."""
        return {c: constant_value(c) for c in self.constants}

    def footnote(self) -> str:
        names = ", ".join(c.split(":")[1] for c in self.constants)
        return f"{self.key} ({names}): {self.kind} against {self.source}"


_COSTS = "nookslab.machine.costs:CostModel."
CALIBRATIONS: tuple[Calibration, ...] = (
    Calibration("mp3-cpu", ("nookslab.workloads.mp3:DECODE_SHARE",),
                "Table 4, play-mp3: 4.8% CPU natively", ("play-mp3",), ("cpu_native",)),
    Calibration("compile-crossings", ("nookslab.workloads.compile:COMPILE_CYCLES_PER_BYTE",),
                "figure 8: 15.25 M XPCs over ~480 s of user time, compile-local's XPC rate",
                ("compile-local",), ("xpc_rate",)),
    Calibration("compile-kernel-share", ("nookslab.workloads.compile:EXEC_KERNEL_CYCLES",),
                "figure 8: 29.5 s of kernel time against ~480 s of user time, natively",
                ("compile-local",)),
    Calibration("khttpd-request",
                tuple(f"nookslab.kernel.net.ksocket:{n}" for n in (
                    "SOCK_ALLOC_CYCLES", "SOCK_RELEASE_CYCLES", "SOCK_MSG_CYCLES",
                    "CONTEXT_SWITCH_CYCLES", "FILE_OPEN_CYCLES")),
                "Table 4, serve-simple-web-page: >15,000 pages/s at 96.6% CPU natively",
                ("serve-simple-web-page",), ("cpu_native",)),
    Calibration("apache-request", ("nookslab.workloads.web:APACHE_USER_CYCLES",),
                "Table 4, serve-complex-web-page: 114 requests/s at 90.5% CPU natively",
                ("serve-complex-web-page",), ("cpu_native",)),
    Calibration("network-path",
                tuple(_COSTS + f for f in ("skb_alloc", "skb_free", "net_xmit", "net_rx",
                                           "tcp_out", "tcp_in", "sock_call")),
                "Table 4, receive-stream and send-stream: 15.2% and 21.4% CPU natively",
                ("receive-stream", "send-stream"), ("cpu_native",)),
    Calibration("xpc-cost", (_COSTS + "xpc_switch", _COSTS + "xpc_tlb",
                             "nookslab.machine.costs:DERIVED_XPC_NS",
                             "nookslab.machine.costs:DERIVED_TLB_NS"),
                "figure 8 (compile-local's profile): ~8.9 us per XPC all-inclusive, ~8 us of it "
                "TLB misses", ALL_ROWS),
    Calibration("tlb-model", (_COSTS + "tlb_model",),
                "Table 4's relative performance: 'flat' puts every row within 0.10 of the "
                "paper's, 'working_set' does not (compile-local)", ALL_ROWS,
                ("relative_performance",), kind="fitted"),
)


def constant_value(constant: str):
    """The current value of ``"module:NAME"`` or ``"module:Class.field"`` (a field's default)."""
    module_name, _, attr = constant.partition(":")
    module = importlib.import_module(module_name)
    if "." in attr:
        cls_name, field_name = attr.split(".", 1)
        fields = {f.name: f for f in dataclasses.fields(getattr(module, cls_name))}
        return fields[field_name].default
    return getattr(module, attr)


def provenance(benchmark: str) -> dict[str, str]:
    """Each Table 4 column of ``benchmark``: ``"calibrated"``, ``"fitted"`` or ``"predicted"``."""
    out = dict.fromkeys(COLUMNS, "predicted")
    for c in CALIBRATIONS:
        if benchmark in c.rows:
            for column in c.cells:
                if out[column] != "calibrated":
                    out[column] = c.kind
    return out


def calibrations_of(benchmark: str) -> tuple[Calibration, ...]:
    """The calibrations a row's figures depend on, in the order of :data:`CALIBRATIONS`."""
    return tuple(c for c in CALIBRATIONS if benchmark in c.rows)


__all__ = ["ALL_ROWS", "CALIBRATIONS", "COLUMNS", "Calibration", "LEGEND", "SYMBOLS",
           "calibrations_of", "constant_value", "provenance"]
