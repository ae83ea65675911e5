"""The CPU's step-counting watchdog and its interrupt flag."""
import pytest

from nookslab.machine import Machine, Watchdog


def test_the_watchdog_fires_on_the_first_step_past_the_budget():
    cpu = Machine(memory=64 * 4096, step_budget=100).cpu
    cpu.arm()
    for _ in range(100):
        cpu.step()
    with pytest.raises(Watchdog) as err:
        cpu.step()
    assert cpu.steps == 101
    assert (err.value.steps, err.value.irq_enabled, err.value.where) == (100, True, "kernel")
    assert "after 100 steps with interrupts on" in str(err.value)


def test_unarmed_code_is_never_stopped_and_disarm_restores_the_outer_budget():
    cpu = Machine(memory=64 * 4096, step_budget=10).cpu
    for _ in range(50):
        cpu.step()                      # no kernel entry armed: no limit
    outer = cpu.arm()                   # a system call: limit 60
    for _ in range(5):
        cpu.step()
    inner = cpu.arm()                   # an interrupt nests: limit 65
    assert cpu.step_limit == 65
    cpu.disarm(inner)
    assert cpu.step_limit == 60
    cpu.disarm(outer)
    assert cpu.step_limit == outer


def test_a_spin_fires_at_once_and_reports_the_interrupt_flag():
    cpu = Machine(memory=64 * 4096, step_budget=10).cpu
    cpu.irq_enabled = False
    cpu.arm()
    with pytest.raises(Watchdog) as err:
        cpu.spin("deadlock on spinlock 0x1000")
    assert err.value.irq_enabled is False and err.value.reason == "deadlock on spinlock 0x1000"
    assert "interrupts off" in str(err.value)


def test_the_cpu_starts_in_process_context_with_interrupts_on():
    cpu = Machine(memory=64 * 4096).cpu
    assert cpu.irq_enabled and cpu.in_process_context and cpu.steps == 0
    cpu.in_interrupt = 1
    assert not cpu.in_process_context
