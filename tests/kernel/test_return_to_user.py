"""Returning to user mode restores the interrupt flag (iret pops the user's EFLAGS, IF set)."""
import nookslab


def test_a_system_call_that_leaves_interrupts_off_gets_them_back_on_return_to_user():
    k = nookslab.boot(mode="native", seed=0)
    proc = k.spawn("t")
    seen = []

    def leave_them_off():
        k.symbols.functions["local_irq_disable"]()
        seen.append(k.cpu.irq_enabled)

    k.syscall(proc, leave_them_off)
    assert seen == [False]            # inside the kernel the flag stayed clear...
    assert k.cpu.irq_enabled          # ...and user mode runs with it set again


def test_a_nested_kernel_entry_does_not_restore_the_flag_early():
    k = nookslab.boot(mode="native", seed=0)
    proc = k.spawn("t")
    inner = []

    def outer():
        k.symbols.functions["local_irq_disable"]()
        k.syscall(proc, lambda: None)     # a kernel-internal entry: no return to user yet
        inner.append(k.cpu.irq_enabled)

    k.syscall(proc, outer)
    assert inner == [False] and k.cpu.irq_enabled
