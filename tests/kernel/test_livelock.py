"""The kernel's livelock watchdog: interrupts and device events counted per jiffy of simulated
time (an interrupt storm leaves nothing else to run: Linux's soft-lockup detector's territory)."""
import nookslab
from nookslab.kernel.irq import STORM_LIMIT


def stuck_device(k, irq, every):
    """A device that asserts ``irq`` every ``every`` cycles, for ever (nobody acknowledges it)."""
    k.irqs.request_irq(irq, lambda line, dev: None, 0, "stuck", 0)

    def fire():
        k.machine.raise_irq(irq)
        k.clock.schedule(every, fire)
    k.clock.schedule(every, fire)


def test_an_interrupt_storm_hangs_the_system_within_its_first_jiffy():
    k = nookslab.boot(seed=0)
    stuck_device(k, 9, every=100)
    k.idle(0.1)
    jiffy = k.clock.hz // 100
    assert k.verdict.kind == "hang" and k.verdict.time < jiffy
    assert k.verdict.cause.startswith(f"livelock: {STORM_LIMIT + 1} interrupts and device events "
                                      "within one jiffy, nothing else can run (interrupt storm; "
                                      "irq 9: 2000)")


def test_a_busy_but_healthy_device_is_not_a_storm():
    # 850 interrupts (and as many device events) per jiffy: a gigabit NIC's packet rate
    k = nookslab.boot(seed=0)
    stuck_device(k, 9, every=k.clock.hz // 85_000)
    k.idle(0.1)
    assert k.verdict is None and k.irqs.counts[9] >= 7_500


def test_the_count_is_per_jiffy_not_per_run():
    k = nookslab.boot(seed=0)
    stuck_device(k, 9, every=k.clock.hz // 150_000)      # 1,500 + 1,500 per jiffy
    k.idle(1.0)
    assert k.verdict is None and k.irqs.counts[9] > 10 * STORM_LIMIT


def test_the_storm_detector_is_the_kernels_own_in_every_configuration():
    k = nookslab.boot(mode="nooks", seed=0)
    stuck_device(k, 9, every=100)
    k.idle(0.1)
    assert k.verdict.kind == "hang" and "interrupt storm" in k.verdict.cause
