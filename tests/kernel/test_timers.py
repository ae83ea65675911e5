"""Kernel timers: a list of timer_list structs in simulated memory, run by the timer interrupt."""
import pytest

import nookslab
from nookslab.kernel.timer import HZ, TIMER_LIST, TIMER_MAGIC

from .baddrivers import bell as B


def call(k, entry, *args):
    return k.syscall(k.spawn(entry), k.modules["bell"].function(entry), *args)


@pytest.mark.parametrize("delay", [1, 3, 10])
def test_a_timer_fires_once_at_exactly_the_jiffy_it_was_set_for(bell, delay):
    k = bell
    expires = call(k, "start_timer", B.ACT_NOTHING, delay)
    per_jiffy = k.clock.hz // HZ
    k.run_until(per_jiffy * (expires - 1) + per_jiffy - 1)
    assert call(k, "counters")[1:] == (0, 0), "not yet: one cycle before the jiffy"
    k.idle(0.5)
    assert call(k, "counters")[1:] == (1, expires)
    assert k.timers.fired == 1


def test_the_timer_tick_stops_when_no_timer_is_pending(bell):
    k = bell
    call(k, "start_timer", B.ACT_NOTHING, 2)
    k.idle(1.0)
    assert k.irqs.counts[0] == 2           # one tick per jiffy until it fired, then silence


def test_del_timer_stops_a_pending_timer(bell):
    k = bell
    call(k, "start_timer", B.ACT_NOTHING, 2)
    k.unload("bell")                           # cleanup_module calls del_timer
    k.idle(0.1)
    assert k.timers.fired == 0 and k.verdict is None


@pytest.mark.parametrize("field,value,cause", [
    (TIMER_LIST.magic, 0, "bad magic"),
    (TIMER_LIST.next, 0x0F00_0000, "paging request at 0x0f000014"),   # its magic field
    (TIMER_LIST.next, 0, "NULL pointer dereference"),
])
def test_a_corrupted_timer_list_entry_panics_at_the_next_tick(bell, field, value, cause):
    k = bell
    call(k, "corrupt_timer", field, value, 5)
    assert k.verdict is None
    k.idle(0.05)
    assert k.verdict.kind == "panic" and cause in k.verdict.cause
    assert k.verdict.cause.endswith("(irq 0)")
    # the first tick after the corruption finds it
    assert k.verdict.time == k.clock.hz // HZ + k.cost.irq_entry


def test_freeing_a_pending_timer_corrupts_the_list_and_panics(bell):
    k = bell
    call(k, "free_pending_timer")
    k.idle(0.05)
    assert k.verdict.kind == "panic" and "timer_list" in k.verdict.cause


def test_the_integrity_sweep_walks_the_timer_list(bell):
    k = bell
    call(k, "corrupt_timer", TIMER_LIST.magic, 0x1234, 50)
    found = k.check_integrity()
    assert any(line.startswith("timer: timer_list at") and "bad magic" in line for line in found)
    assert k.verdict is None, "a diagnostic: the timer interrupt has not walked into it yet"


def test_the_timer_list_head_lives_in_simulated_memory():
    k = nookslab.boot(seed=0)
    head = k.timers.head
    assert k.mmu.ld32(head + TIMER_LIST.magic) == TIMER_MAGIC
    assert k.mmu.ld32(head + TIMER_LIST.next) == head == k.mmu.ld32(head + TIMER_LIST.prev)
    assert k.timers.jiffies() == 0
    k.idle(0.25)
    assert k.timers.jiffies() == 25
