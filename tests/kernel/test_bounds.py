"""A driver that tries to take the host down ends in a verdict, natively and under Nooks, within
the step budget: a huge Python buffer from a corrupted length is a simulator limit, an endless
poll in any loop form is the watchdog's, a recursion bomb is a kernel stack overflow."""
import pytest

import nookslab

from .baddrivers import hostbomb as hb

BUDGET = 2_000
MODES = ("native", "nooks")


def boot(mode):
    k = nookslab.boot(mode=mode, seed=3, step_budget=BUDGET)
    module = k.load("hostbomb")
    assert module.ok, module.error
    return k


def ioctl(k, cmd):
    """One ioctl on /dev/hostbomb0 from a fresh process: its result, or the ProcessKilled."""
    cd = k.subsystems["chrdev"]
    proc = k.spawn("tester")
    fd = k.syscall(proc, cd.sys_open, "/dev/hostbomb0")
    assert fd >= 0, fd
    try:
        return k.syscall(proc, cd.sys_ioctl, fd, cmd, 0)
    except BaseException as exc:           # noqa: BLE001 - the verdict is what we look at
        return exc


def corrupt_length(k, bit=31):
    """Flip one bit of the name length in the driver's private struct (a HEAP fault's work)."""
    p = k.modules["hostbomb"].namespace["priv"]
    k.mmu.st32(p + hb.PRIV.name_len, k.mmu.ld32(p + hb.PRIV.name_len) ^ (1 << bit))


@pytest.mark.parametrize("mode", MODES)
def test_a_sound_length_builds_its_buffer(test_drivers, mode):
    k = boot(mode)
    assert ioctl(k, hb.CMD_OK) == 26 and k.verdict is None


BUFFERS = {hb.CMD_LJUST: "2,147,483,674-byte str (ljust)",
           hb.CMD_REPEAT: "2,147,483,674-byte bytes (repetition x2,147,483,674)",
           hb.CMD_BYTES: "2,147,483,674-byte bytes object",
           hb.CMD_LIST: "17,179,869,392-byte list (repetition x2,147,483,674)"}


@pytest.mark.parametrize("cmd", sorted(BUFFERS))
@pytest.mark.parametrize("mode", MODES)
def test_a_huge_python_buffer_from_a_corrupted_length_is_a_simulator_limit(test_drivers, mode,
                                                                            cmd):
    k = boot(mode)
    corrupt_length(k)                     # 26 with bit 31 flipped: 2,147,483,674
    steps = k.cpu.steps
    ioctl(k, cmd)
    assert k.verdict.kind == "limit"
    assert k.verdict.cause == (f"simulator limit: hostbomb asked the host for a {BUFFERS[cmd]}; "
                               f"the simulated machine has 16,777,216 bytes of RAM")
    assert k.cpu.steps - steps <= BUDGET
    assert not [e for e in k.events if e.kind == "oops"]       # never passed off as an oops


@pytest.mark.parametrize("cmd", [hb.CMD_GENPOLL, hb.CMD_LISTPOLL, hb.CMD_COMPPOLL,
                                 hb.CMD_SUMPOLL])
def test_an_endless_poll_in_any_loop_form_is_a_hang_natively(test_drivers, cmd):
    k = boot("native")
    steps = k.cpu.steps
    ioctl(k, cmd)
    assert k.verdict.kind == "hang"
    assert f"no progress in kernel after {BUDGET} steps with interrupts on" in k.verdict.cause
    assert k.cpu.steps - steps <= BUDGET + 1


@pytest.mark.parametrize("cmd", [hb.CMD_GENPOLL, hb.CMD_LISTPOLL, hb.CMD_COMPPOLL,
                                 hb.CMD_SUMPOLL])
def test_an_endless_poll_in_any_loop_form_is_a_timeout_recovery_under_nooks(test_drivers, cmd):
    k = boot("nooks")
    steps = k.cpu.steps
    ioctl(k, cmd)
    assert k.verdict is None
    (record,) = k.recoveries
    assert record.trigger == "timeout" and record.ok
    assert f"after {BUDGET} steps with interrupts on" in record.cause
    assert k.cpu.steps - steps <= BUDGET + 1


def test_a_recursion_bomb_is_a_kernel_stack_overflow_that_kills_the_caller_natively(test_drivers):
    k = boot("native")
    killed = ioctl(k, hb.CMD_RECURSE)
    assert k.verdict is None
    assert "kernel stack overflow: a 256-byte frame does not fit" in killed.reason
    p = k.modules["hostbomb"].namespace["priv"]
    # 8 KiB of stack holds 32 frames: the ioctl's, then deeper's at depths 0 to 30
    assert k.mmu.ld32(p + hb.PRIV.depth) == 8192 // 256 - 2
    assert k.cpu.sp == k.cpu.stack_top                 # every frame popped on the way out


def test_a_recursion_bomb_under_nooks_fails_the_domain_and_recovers(test_drivers):
    k = boot("nooks")
    ioctl(k, hb.CMD_RECURSE)
    assert k.verdict is None
    (record,) = k.recoveries
    assert record.trigger == "fault" and "kernel stack overflow" in record.cause and record.ok
    assert ioctl(k, hb.CMD_OK) == 26                   # the reloaded driver works


@pytest.mark.parametrize("mode", MODES)
def test_a_local_array_sized_by_a_corrupted_length_overflows_the_stack(test_drivers, mode):
    k = boot(mode)
    corrupt_length(k, bit=20)
    result = ioctl(k, hb.CMD_ALLOCA)
    assert k.verdict is None
    cause = result.reason if mode == "native" else k.recoveries[0].cause
    assert "kernel stack overflow: a 1,048,604-byte local array does not fit" in cause
