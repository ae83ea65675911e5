"""The paper's published numbers: the only place they are written down (DESIGN.md section 4).

Everything here is from Swift, Bershad and Levy, "Improving the Reliability of Commodity Operating
Systems", SOSP 2003 (see ``shared/reference/nooks-facts.md`` sections 7 and 8). They are shown
beside our results, never used to compute them.
"""
from __future__ import annotations

#: Section 5.1: 400 trials per extension, 5 random faults per trial.
TRIALS_PER_EXTENSION = 400
FAULTS_PER_TRIAL = 5
#: The five extensions of the fault-injection experiments (section 5.1, figures 6 and 7).
FAULT_EXTENSIONS = ("sb", "e1000", "pcnet32", "vfat", "khttpd")

#: Figure 6: system crashes over the 2000 trials: 317 native, 4 with Nooks (all deadlocks).
#: Per-extension counts appear only in the figure's bars and are not confirmed, so not given.
FIG6_TOTALS = {"native": 317, "nooks": 4}
#: Figure 7: non-fatal extension failures: 512 native, 212 with Nooks ("nearly 60%" fewer).
FIG7_TOTALS = {"native": 512, "nooks": 212}
#: Shape stated in the text: extensions with many native crashes and those with few (figure 6).
FIG6_MANY_CRASHES = ("e1000", "pcnet32", "khttpd")
FIG6_FEW_CRASHES = ("vfat", "sb")

#: Section 5.3: share of VFAT recoveries that left on-disk corruption, without and with syncing
#: the disks with the in-memory cache before releasing resources.
VFAT_CORRUPTION = {"without_sync": 0.90, "with_sync": 0.10}

#: Section 5.1, manually injected bugs (from LKML and Chou et al.): all detected and recovered.
MANUAL_BUGS = ("removed NULL check", "uninitialised stack variable", "uninitialised heap variable",
               "user-level pointer dereference", "double free")

#: Table 4 (SOSP'03 section 5.2; nooks-facts.md section 8): benchmark -> (extension, XPCs per
#: second, relative performance, native CPU share, Nooks CPU share, metric). Relative performance
#: is Nooks/native, from latency for play-mp3 and compile-local, from throughput for the rest.
TABLE4 = {
    "play-mp3": ("sb", 150, 1.00, 0.048, 0.046, "latency"),
    "receive-stream": ("e1000", 8_923, 0.92, 0.152, 0.155, "throughput"),
    "send-stream": ("e1000", 60_352, 0.91, 0.214, 0.393, "throughput"),
    "compile-local": ("vfat", 22_653, 0.78, 0.975, 0.968, "latency"),
    "serve-simple-web-page": ("khttpd", 61_183, 0.44, 0.966, 0.968, "throughput"),
    "serve-complex-web-page": ("e1000", 1_960, 0.97, 0.905, 0.926, "throughput"),
}

#: Table 2 (SOSP'03 section 4): non-comment lines of code per Nooks component.
TABLE2 = {
    "memory management": 1_882,
    "object tracking": 1_454,
    "XPC": 770,
    "wrappers": 14_396,
    "recovery": 1_136,
    "kernel changes": 924,
    "miscellaneous": 2_074,
}
TABLE2_TOTAL = 22_266

#: Figure 5 (SOSP'03 section 4.3): wrapper sharing. pcnet32 uses 44 wrappers (31 kernel-side,
#: 13 extension-side), 27 of them shared by all four NIC drivers; 39 shared by the two sound
#: drivers.
FIG5 = {"pcnet32_wrappers": 44, "pcnet32_kernel_side": 31, "pcnet32_extension_side": 13,
        "shared_by_nics": 27, "shared_by_sound": 39}

#: Shadow drivers (OSDI'04 abstract and the patent's summary; nooks-facts.md section 6). Only
#: qualitative claims are confirmed: no per-driver recovery counts, times or overheads. (A
#: third-party reimplementation's "paper" outcome counts exist but are unverified: not used.)
SHADOW = {
    "drivers_tested": "over a dozen",
    "applications": "applications and the OS survived failures of a variety of drivers",
    "overhead": "minimal performance overhead",
    "changes": "modest kernel changes and no driver changes",
    "limits": "fail-stop, transient failures only: a deterministic bug recurs after replay",
}
