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


def test_frames_and_local_arrays_take_room_below_the_stack_pointer_until_the_stack_ends():
    from nookslab.machine import StackOverflow
    from nookslab.machine.cpu import FRAME_BYTES
    cpu = Machine(memory=64 * 4096).cpu
    saved = cpu.use_stack(0x8000, 0x2000)
    assert (cpu.sp, cpu.stack_base, cpu.stack_top) == (0xA000, 0x8000, 0xA000)
    ret = cpu.frame()
    assert ret == 0xA000 and cpu.sp == 0xA000 - FRAME_BYTES
    assert cpu.alloca(10) == 0xA000 - FRAME_BYTES - 12           # rounded to words
    with pytest.raises(StackOverflow, match="a 8,192-byte local array does not fit"):
        cpu.alloca(0x2000)
    cpu.sp = ret                                                  # the function returns
    for _ in range(0x2000 // FRAME_BYTES):
        cpu.frame()
    with pytest.raises(StackOverflow, match="a 256-byte frame does not fit below sp 0x00008000"):
        cpu.frame()
    cpu.restore_stack(saved)
    assert (cpu.sp, cpu.stack_base, cpu.stack_top) == (0, 0, 0)


def test_a_booted_kernel_keeps_its_stack_in_low_memory_with_its_first_pages():
    import nookslab
    from nookslab.kernel.kernel import KERNEL_STACK_PAGES
    from nookslab.machine.memory import PAGE_SIZE
    k = nookslab.boot(mode="native", seed=0)
    base, top = k.cpu.stack_base, k.cpu.stack_top
    assert top - base == KERNEL_STACK_PAGES * PAGE_SIZE and k.cpu.sp == top
    assert top <= k.machine.memory.size // 4  # beside the kernel's first pages, not at the top of RAM
    page = base // PAGE_SIZE
    assert k.machine.pages.owner_names[int(k.machine.pages.owner[page])] == "kernel stack"
