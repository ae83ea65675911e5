import re

import pytest

import nookslab as nl
from nookslab.kernel.calltrace import format_arg, trace_calls


def traced_null_run(seed=1, seconds=0.002):
    k = nl.boot("native", seed=seed)
    trace_calls(k)
    k.load("null")
    return k, k.run("null-io", seconds=seconds)


def test_the_trace_records_init_its_kernel_calls_and_the_registrations_in_order():
    k, _ = traced_null_run()
    details = [e.detail for e in k.events.of("call")]
    assert details[0] == "-> init_module()"
    assert details[1] == "  <- pci_find_device(0x00001af4, 1, 0)"
    assert any(re.fullmatch(r"  <- request_irq\(9, null_interrupt, 0, 'null', 0x[0-9a-f]{8}\)", d)
               for d in details)
    assert "  <- register_chrdev(240, 'null0', file_operations)" in details


def test_the_kernel_calling_the_driver_through_its_ops_table_is_recorded_with_its_calls_nested():
    k, r = traced_null_run()
    details = [e.detail for e in k.events.of("call")]
    first_write = next(i for i, d in enumerate(details)
                       if d.startswith("-> file_operations.write("))
    call = re.fullmatch(r"-> file_operations\.write\(0x[0-9a-f]{8}, (0x[0-9a-f]{8}), 1024\)",
                        details[first_write])
    assert call, details[first_write]
    # the driver copies the user's block (the write's buffer argument) into its DMA buffer
    assert re.fullmatch(rf"  <- copy_from_user\(0x[0-9a-f]{{8}}, {call.group(1)}, 1024\)",
                        details[first_write + 1]), details[first_write + 1]
    writes = [d for d in details if d.startswith("-> file_operations.write")]
    assert len(writes) == r.operations


def test_each_interrupt_the_driver_handles_is_recorded_as_in_interrupt_context():
    k, r = traced_null_run()
    handled = [e.detail.strip() for e in k.events.of("call") if "null_interrupt" in e.detail
               and "->" in e.detail]
    assert handled and all(d.endswith("[interrupt]") for d in handled)
    assert len(handled) == r.operations          # one device interrupt per write


def test_tracing_changes_nothing_the_simulation_computes():
    traced, r1 = traced_null_run(seed=3)
    plain = nl.boot("native", seed=3)
    plain.load("null")
    r2 = plain.run("null-io", seconds=0.002)
    assert (r1.operations, r1.seconds, traced.clock.now) == (r2.operations, r2.seconds,
                                                             plain.clock.now)
    assert not plain.events.of("call")


def test_loads_and_stores_are_not_calls_and_are_not_recorded():
    k, _ = traced_null_run()
    names = {e.detail.strip().split("(")[0].split(" ", 1)[1] for e in k.events.of("call")}
    assert not names & {"ld32", "st32", "readl", "writel"}


def test_a_fault_still_crashes_a_traced_kernel_and_the_trace_shows_where():
    from nookslab.faults import run_trial
    crash = run_trial("null", "native", seed=14, faults_per_trial=1)
    k = nl.boot("native", seed=crash.seed)
    trace_calls(k)
    k.load("null", faults=crash.faults)
    k.run("null-io", seconds=0.002)
    assert k.verdict is not None and k.verdict.kind == "panic"
    assert any("null_interrupt" in e.detail for e in k.events.of("call"))


def test_tracing_a_nooks_kernel_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="XPC"):
        trace_calls(nl.boot("nooks", seed=0))


def test_arguments_print_short_and_stable():
    assert format_arg(7) == "7"
    assert format_arg(-22) == "-22"
    assert format_arg(0x8000_0000) == "0x80000000"
    assert format_arg(b"abc") == "<3 bytes>"
    assert format_arg(format_arg) == "format_arg"
