"""Simulated time: the event queue and busy-versus-idle accounting."""
from nookslab.machine import Clock


def test_events_run_in_time_order_then_priority_then_scheduling_order():
    clock = Clock(1000)
    ran = []
    for label, when, prio in [("c", 20, 0), ("a", 10, 0), ("tie2", 15, 0), ("tie3", 15, 0),
                              ("urgent", 15, -1), ("b", 10, 0)]:
        clock.schedule_at(when, lambda label=label: ran.append(label), priority=prio)
    while (t := clock.next_time()) is not None:
        clock.idle_to(t)
        clock.pop_due().callback()
    assert ran == ["a", "b", "urgent", "tie2", "tie3", "c"]
    assert clock.now == 20 and clock.busy == 0


def test_a_cancelled_event_never_runs_and_is_not_counted():
    clock = Clock(1000)
    ran = []
    first = clock.schedule(5, lambda: ran.append(1))
    clock.schedule(7, lambda: ran.append(2))
    first.cancel()
    assert len(clock) == 1 and clock.next_time() == 7
    clock.idle_to(7)
    clock.pop_due().callback()
    assert ran == [2] and clock.pop_due() is None and clock.next_time() is None


def test_an_event_is_not_due_before_its_time():
    clock = Clock(1000)
    clock.schedule(10, lambda: None)
    clock.idle_to(9)
    assert clock.pop_due() is None
    clock.charge(1)
    assert clock.pop_due() is not None


def test_an_event_scheduled_in_the_past_runs_now():
    clock = Clock(1000)
    clock.charge(50)
    timer = clock.schedule_at(10, lambda: None)
    assert timer.time == 50
    assert clock.schedule(-5, lambda: None).time == 50


def test_charging_is_busy_time_and_idling_is_not():
    clock = Clock(1_000_000)
    clock.charge(300)
    clock.idle_to(1000)
    clock.charge(200)
    clock.idle_to(900)                  # never backwards
    assert (clock.now, clock.busy) == (1200, 500)
    assert clock.seconds() == 0.0012
    assert clock.cycles(0.25) == 250_000 and clock.seconds(250_000) == 0.25


def test_pop_next_skips_cancelled_events_and_moves_the_clock_only_to_a_due_one():
    clock = Clock(1000)
    dropped = clock.schedule(5, lambda: None, label="dropped")
    clock.schedule(7, lambda: None, label="kept")
    dropped.cancel()
    assert clock.pop_next(6) is None and clock.now == 0
    event = clock.pop_next(10)
    assert event.label == "kept" and clock.now == 7 and clock.busy == 0
    assert clock.pop_next(10) is None
