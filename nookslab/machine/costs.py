"""The cost model: how many cycles each kind of work charges to the simulated CPU.

This module is THE cost model of nookslab: every cycle the simulated machine charges comes from
a named constant here, and every constant says where its value comes from. The paper's machine
is the default: a 1.7 GHz Pentium 4 (SOSP'03 section 5). The paper gives no cycle counts for
native Linux 2.4 paths, so those are *estimates* of that era's code on a P4. The Nooks costs are
split into the parts the paper names (sections 4.3-4.4, figure 8): the domain switch, the TLB
flush and the misses that follow it, the wrapper checks, call-by-value-result copies, and object
tracker operations. Their sum is calibrated against the one end-to-end figure the paper allows:
the compile-local profile, from which ``shared/reference/nooks-facts.md`` section 3 derives about
8.9 us (~15k cycles at 1.7 GHz) per XPC all-inclusive, about 8 us of which is TLB-miss handling.
These are workload averages, not a null-XPC latency: treat the split as an estimate.

What-if knobs (use :meth:`CostModel.but` or :meth:`CostModel.what_if`):

``tagged_tlb``      a TLB with address-space tags (MIPS, Alpha): a domain switch flushes nothing,
                    so the flush and the misses that follow it (``xpc_tlb``) disappear, and only
                    they (SOSP'03 section 4.3 names this optimisation).
``domain_switch``   ``"page_table"`` (the paper: a CR3 load) or ``"pkey"`` (a modern protection-key
                    switch: one WRPKRU of ``pkey_switch`` cycles, no page-table load, no flush).
``batching``        deferred-call batching of calls with no visible result (netif_rx, the
                    interrupt handler's dev_kfree_skb_irq): on in the paper; off, every such
                    call is its own XPC.
``object_tracking`` off: no tracker operations and no call-by-value-result copies are charged
                    (the isolation alone; the paper: tracking roughly doubles XPC's cost).
``tlb_model``       ``"flat"`` (every crossing refills the whole TLB) or ``"working_set"`` (a
                    crossing refills only the pages touched since the previous one).
``cpu_hz``          the CPU clock. Device timings are in seconds, so a faster CPU only shrinks
                    the CPU's share of the work.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from ..graded import GradedPart, own, student_part

#: The paper's machine, SOSP'03 section 5: a Dell with a 1.7 GHz Pentium 4.
PAPER_CPU_HZ = 1_700_000_000
#: Derived in nooks-facts.md section 3 from figure 8 (compile-local): (165 - 29.5) s of extra
#: kernel time over 15.25 M XPCs = ~8.9 us per XPC all-inclusive; (127 - 5.5) s of extra TLB-miss
#: time over 15.25 M XPCs = ~8 us per XPC of TLB refills. In nanoseconds.
# CALIBRATION: xpc-cost (see nookslab/eval/calibration.py)
DERIVED_XPC_NS = 8_900
# CALIBRATION: xpc-cost (see nookslab/eval/calibration.py)
DERIVED_TLB_NS = 8_000

DOMAIN_SWITCHES = ("page_table", "pkey")
TLB_MODELS = ("working_set", "flat")


@dataclass(frozen=True)
class CostModel:
    """Cycle costs charged by the simulated machine. Frozen: use :meth:`but` for what-ifs.

    One term can be a student's function (the graded notebook 08): ``tlb_term(cost, work) ->
    cycles`` replaces :meth:`tlb_refill`, the TLB refill one crossing charges. ``cost`` is the
    model itself (read its fields: ``tagged_tlb``, ``domain_switch``, ``tlb_miss``,
    ``tlb_page_every``, ``xpc_tlb``); ``work`` the cycles of CPU work done since the previous
    crossing (an int, possibly 0 or negative); it returns an int number of cycles. Check cells
    build the model with :meth:`graded`, which refuses a term that is not the student's own and
    switches the package's own refill (:meth:`tlb_refill`, :attr:`tlb_cost`) off while it runs.
    """

    # ---- the machine -------------------------------------------------------------------------
    # The paper's test machine: Dell, 1.7 GHz Pentium 4 (SOSP'03 section 5).
    cpu_hz: int = PAPER_CPU_HZ

    # ---- native kernel work (estimates for Linux 2.4 on a P4; the paper gives none) -----------
    # Entering and leaving the kernel from user mode (int 0x80 path): estimate for a P4.
    syscall: int = 700
    # Taking and returning from a hardware interrupt, including the handler dispatch: estimate.
    irq_entry: int = 1_500
    # One kernel function call made by a driver (kmalloc, skb_put, ...): estimate.
    kernel_call: int = 60
    # A loop back-edge in driver code: a handful of instructions.
    step: int = 12
    # Copying memory: about 1 cycle per byte for cached memcpy on a P4 (estimate), x1000.
    copy_per_byte_milli: int = 1_000
    # Running one timer callback from the timer softirq: estimate.
    timer: int = 400
    # --- networking (kernel/net), estimates of Linux 2.4 paths on a P4; chosen so e1000 bulk
    # streams cost the CPU about what SOSP'03 Table 4 reports natively (15-21%) ---
    # alloc_skb: the sk_buff head and data from their caches.
    # CALIBRATION: network-path (see nookslab/eval/calibration.py)
    skb_alloc: int = 250
    # kfree_skb: destructor, return to the caches.
    # CALIBRATION: network-path (see nookslab/eval/calibration.py)
    skb_free: int = 200
    # dev_queue_xmit: qdisc enqueue/dequeue and the call into the driver.
    # CALIBRATION: network-path (see nookslab/eval/calibration.py)
    net_xmit: int = 350
    # netif_rx plus net_rx_action's per-packet share (backlog queue, protocol demux).
    # CALIBRATION: network-path (see nookslab/eval/calibration.py)
    net_rx: int = 400
    # tcp_sendmsg + tcp_transmit_skb + ip_queue_xmit for one segment (headers, timers).
    # CALIBRATION: network-path (see nookslab/eval/calibration.py)
    tcp_out: int = 1_100
    # ip_rcv + tcp_v4_rcv for one segment (lookup, ACK processing, queueing).
    # CALIBRATION: network-path (see nookslab/eval/calibration.py)
    tcp_in: int = 800
    # ICMP echo handling or a raw socket delivery.
    icmp: int = 600
    # the socket layer's per-call work in sys_send/sys_recv (locks, wakeups), beyond the syscall.
    # CALIBRATION: network-path (see nookslab/eval/calibration.py)
    sock_call: int = 400

    # ---- Nooks (SOSP'03 sections 4.3-4.4, figure 8) -------------------------------------------
    # The paper gives no per-XPC figure; the facts file derives ~8.9 us = ~15k cycles per XPC
    # all-inclusive, ~8 us of it TLB misses (DERIVED_* above). Our split of that total:
    # Saving the caller's context, finding a domain stack, loading the page-table base (CR3):
    # estimate (a CR3 write is a few hundred cycles on a P4; the stack and frame work ~ as much).
    # CALIBRATION: xpc-cost (see nookslab/eval/calibration.py)
    xpc_switch: int = 800
    # The TLB flush a CR3 load causes on the P4 plus the misses that refill it afterwards (figure
    # 8: 127 s of TLB handling, the dominant cost): a *full* refill. Estimate, ~7 us of the
    # derived ~8 us per crossing: the other ~1 us is the misses native code suffered anyway
    # (5.5 s natively). About the P4's 192 TLB entries (128 ITLB + 64 DTLB) x ~60 cycles a walk.
    # CALIBRATION: xpc-cost (see nookslab/eval/calibration.py)
    xpc_tlb: int = 12_000
    # How the refill is charged. "flat": every crossing pays ``xpc_tlb``. "working_set": the
    # misses after a flush are the pages touched before the next one, so a crossing pays for
    # the CPU work done since the previous crossing at ``tlb_miss`` cycles per page first touched
    # every ``tlb_page_every`` cycles of work, capped at a full refill (``xpc_tlb``). Back-to-back
    # crossings (a driver calling skb_reserve right after dev_alloc_skb) then refill little, a
    # crossing after a long compile step refills everything: the facts file's caveat that the
    # derived ~8 us is a compile-local average, not a per-crossing constant.
    # Default "flat": figure 8's profile (8 us of misses per crossing against ~2 us of native
    # kernel work per crossing) says the refill does not scale down with the work done.
    # Checked against Table 4 with one model for every row (no per-row fitting): "flat" puts
    # every row's relative performance within 0.10 of the paper's; "working_set" comes close to
    # the ~5k cycles per XPC that the paper's send-stream row implies (its extra CPU share times
    # the clock, over its XPC rate) but makes compile-local lose almost nothing, because our
    # VFAT's crossings come in tight bursts (sb_bread, mark_buffer_dirty, brelse...) a few
    # hundred cycles apart that refill little, while figure 8 shows a full refill's worth of
    # misses per crossing there. So "flat" stays the default; its cost is too much CPU on the
    # network rows (each crossing pays a full refill), which the "working-set-tlb" what-if shows.
    # CALIBRATION: tlb-model (see nookslab/eval/calibration.py)
    tlb_model: str = "flat"
    # One TLB miss: a hardware page walk hitting the cache on the P4, ~60 cycles (estimate;
    # 192 entries x 60 = ~11.5k cycles, about ``xpc_tlb``).
    tlb_miss: int = 60
    # Cycles of kernel or user work per newly touched page right after a flush: estimate (a
    # packet's path touches the skb, its data, the device struct, stack and code pages within a
    # few hundred instructions).
    tlb_page_every: int = 60
    # A wrapper's fixed work: parameter checks against the tracker and memory map: estimate.
    wrapper_check: int = 300
    # One object-tracker operation (hash lookup, insert or remove): estimate.
    tracker_op: int = 150
    # Copying an object between kernel and domain (call-by-value-result), per byte (x1000):
    # a memcpy plus the field-by-field pointer translation, about 1 cycle per byte (estimate).
    xpc_copy_per_byte_milli: int = 1_000
    # A protection-key domain switch (x86 MPK: one WRPKRU, ~20-30 cycles on recent cores, plus
    # the stack switch): estimate, for the "pkey" what-if only.
    pkey_switch: int = 60

    # ---- beyond Nooks (shadow drivers, Table 1's other approaches): all ESTIMATES -------------
    # A shadow driver's tap logging one call in passive mode (class knowledge picks a few
    # fields): a few dozen instructions. OSDI'04 reports "minimal" overhead, no cycle count.
    shadow_tap: int = 40
    # user-level: the extra kernel work of an IPC crossing beyond the address-space switch
    # (message send and receive, two scheduler passes): ~1.2 us on a P4 (estimate; MINIX 3 and
    # L4 report IPC round trips of a few hundred to a few thousand cycles on their hardware).
    ipc_kernel: int = 2_000
    # user-level: data buffers are copied into the driver process, not lent (x1000 per byte).
    ipc_copy_per_byte_milli: int = 1_000
    # sfi: a crossing is a checked call through a jump table and a stack switch (estimate).
    sfi_crossing: int = 100
    # sfi: the software check of one store (mask or compare and branch, ~4 instructions;
    # Wahbe et al. 1993 and XFI report a few instructions per store): estimate.
    sfi_store: int = 4
    # safe-language: a call across a typed interface (no switch of any kind): estimate.
    safe_crossing: int = 60
    # safe-language: one bounds check of a load or store (compare and branch): estimate.
    safe_check: int = 3

    # ---- what-if knobs (defaults: the paper's system) ------------------------------------------
    tagged_tlb: bool = False
    domain_switch: str = "page_table"
    batching: bool = True
    object_tracking: bool = True
    # ---- a student's term (the graded notebook 08): ``tlb_term(model, work) -> cycles`` replaces
    # :meth:`tlb_refill`, the TLB refill a crossing charges after ``work`` cycles of CPU work.
    tlb_term: Callable | None = None

    def __post_init__(self):
        if self.tlb_model not in TLB_MODELS:
            raise ValueError(f"tlb_model must be one of {TLB_MODELS}, got {self.tlb_model!r}")
        if self.domain_switch not in DOMAIN_SWITCHES:
            raise ValueError(f"domain_switch must be one of {DOMAIN_SWITCHES}, "
                             f"got {self.domain_switch!r}")
        if self.tlb_term is not None and not callable(self.tlb_term):
            raise ValueError(f"tlb_term must be a function (model, work) -> cycles or None, "
                             f"got {self.tlb_term!r}")
        if not isinstance(self.cpu_hz, int) or self.cpu_hz <= 0:
            raise ValueError(f"cpu_hz must be a positive int, got {self.cpu_hz!r}")

    @classmethod
    def graded(cls, tlb_term: Callable, **changes) -> "CostModel":
        """A model whose TLB refill is ``tlb_term``, in grading mode (for check cells).

        ``tlb_term(cost, work) -> cycles`` must be a function the student defined in the
        notebook (None, a package function, a builtin, a partial or a method raise
        :class:`~nookslab.graded.NotYourOwn`); while it runs, the package's own
        :meth:`tlb_refill` and :attr:`tlb_cost` raise :class:`~nookslab.graded.SwitchedOff`.
        What-ifs of the model (:meth:`but`, :meth:`what_if`) stay graded.
        """
        return cls(tlb_term=student_part("tlb_term", tlb_term, settle=int), **changes)

    @property
    def grading(self) -> bool:
        """True for a model built by :meth:`graded`."""
        return isinstance(self.tlb_term, GradedPart)

    def but(self, **changes) -> "CostModel":
        """A copy of this model with some constants changed (for what-if questions)."""
        return replace(self, **changes)

    def what_if(self, name: str) -> "CostModel":
        """A named what-if: one of :data:`WHAT_IFS` (``"paper"`` is this model unchanged)."""
        if name not in WHAT_IFS:
            raise ValueError(f"unknown what-if {name!r}; choose from {', '.join(WHAT_IFS)}")
        return self.but(**WHAT_IFS[name])

    # ---- what each kind of work costs -------------------------------------------------------
    def copy_cost(self, nbytes: int) -> int:
        return nbytes * self.copy_per_byte_milli // 1000

    def xpc_copy_cost(self, nbytes: int) -> int:
        """Call-by-value-result copying of ``nbytes`` (nothing with object tracking off)."""
        if not self.object_tracking:
            return 0
        return nbytes * self.xpc_copy_per_byte_milli // 1000

    @property
    def tracker_cost(self) -> int:
        """One object-tracker operation (nothing with object tracking off)."""
        return self.tracker_op if self.object_tracking else 0

    @property
    def switch_cost(self) -> int:
        """The domain switch proper: a page-table load, or a protection-key write."""
        return self.pkey_switch if self.domain_switch == "pkey" else self.xpc_switch

    @property
    def tlb_cost(self) -> int:
        """The TLB flush and refill misses one crossing causes (none with tags or keys)."""
        own("tlb_term")
        if self.tagged_tlb or self.domain_switch == "pkey":
            return 0
        return self.xpc_tlb

    def tlb_refill(self, work: int) -> int:
        """TLB misses after a flush, in cycles, for ``work`` cycles of CPU work done before the
        next crossing (the cost model's ``tlb_model``); none with a tagged TLB or keys."""
        own("tlb_term")
        if self.tlb_term is not None:
            return int(self.tlb_term(self, work))
        full = self.tlb_cost
        if self.tlb_model == "flat" or not full:
            return full
        return min(full, max(work, 0) * self.tlb_miss // self.tlb_page_every)

    @property
    def xpc_cost(self) -> int:
        """The most one crossing charges by itself (a full TLB refill), before wrapper checks,
        copies and tracking."""
        return self.switch_cost + self.tlb_cost

    def xpc_breakdown(self) -> dict[str, int]:
        """The per-crossing parts, in cycles (copies and tracking depend on the call)."""
        return {"switch": self.switch_cost, "tlb": self.tlb_cost,
                "wrapper_check": self.wrapper_check, "tracker_op": self.tracker_cost}

    def seconds(self, cycles: int) -> float:
        return cycles / self.cpu_hz


#: Named what-ifs: the knobs the lab asks about, each a set of changes to the paper's model.
WHAT_IFS: dict[str, dict] = {
    "paper": {},
    "tagged-tlb": {"tagged_tlb": True},
    "pkey": {"domain_switch": "pkey"},
    "no-batching": {"batching": False},
    "no-tracking": {"object_tracking": False},
    "3.4GHz": {"cpu_hz": 2 * PAPER_CPU_HZ},
    "working-set-tlb": {"tlb_model": "working_set"},
}
