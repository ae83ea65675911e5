"""The module loader: linking, init and exit; a driver exception never escapes as a traceback."""
import ast

import pytest

import nookslab
from nookslab.kernel import KernelPanic
from nookslab.kernel.bounds import bindings
from nookslab.kernel.module import STEP_NAME, compile_driver, imported_names

from .baddrivers.belldev import BELL_IRQ


def boot():
    return nookslab.boot(mode="native", seed=2, step_budget=2_000)


def test_a_driver_is_linked_against_the_running_kernels_functions(bell):
    module = bell.modules["bell"]
    ns = module.namespace
    assert ns["kmalloc"].func == bell.symbols.functions["kmalloc"]    # owned: bound with owner=
    assert ns["kmalloc"].keywords == {"owner": "bell"}
    assert ns["jiffies"] == bell.symbols.functions["jiffies"]
    assert ns["st32"] == bell.mmu.st32
    assert ns[STEP_NAME] == bell.cpu.step
    assert module.imports[:3] == ("del_timer", "disable_irq", "down")
    assert module.generation == 1 and module.state == "live"


def test_the_loader_counts_every_loop_back_edge():
    k = boot()
    code, _ = compile_driver("def f(n):\n    for i in range(n):\n        pass\n"
                             "    while n:\n        n -= 1\n", "t")
    ns = bindings(k, "t")
    exec(code, ns)
    before = k.cpu.steps
    ns["f"](4)
    assert k.cpu.steps - before == 8


def test_imported_names_are_read_from_the_source_in_order():
    tree = ast.parse("from nookslab.kernel.api import b, a\nfrom os import path\n"
                     "from nookslab.kernel.api import b, c\n")
    assert imported_names(tree) == ("b", "a", "c")


def test_an_oops_in_init_fails_the_load_and_kills_only_insmod(test_drivers):
    k = boot()
    module = k.load("init_raises")
    assert module.state == "failed" and k.verdict is None
    assert module.error == ("insmod killed by oops: divide error "
                            "(ZeroDivisionError: integer division or modulo by zero)")
    assert [e.detail for e in k.events.of("load")][-1] == f"init failed: {module.error}"


def test_a_hang_in_init_is_a_hang_verdict_and_the_load_returns(test_drivers):
    k = boot()
    module = k.load("init_hangs")
    assert module.state == "failed" and k.verdict.kind == "hang"
    assert module.error == str(k.verdict)


def test_a_driver_whose_module_code_raises_fails_to_load_without_a_traceback(test_drivers):
    k = boot()
    module = k.load("toplevel_raises")
    assert module.state == "failed" and k.verdict is None
    assert module.error.startswith("invalid module: general protection fault (KeyError")


def test_an_unresolved_symbol_fails_the_load(test_drivers):
    module = boot().load("unresolved")
    assert module.state == "failed"
    assert module.error == "unresolved: unresolved symbol no_such_kernel_symbol"


@pytest.mark.parametrize("name,error", [("init_fails", "init_module returned -ENODEV"),
                                        ("no_init", "no init_module")])
def test_a_refusing_or_incomplete_driver_fails_cleanly(test_drivers, name, error):
    module = boot().load(name)
    assert (module.state, module.error, module.ok) == ("failed", error, False)


def test_an_oops_in_cleanup_is_recorded_and_the_leak_is_reported(test_drivers):
    k = boot()
    assert k.load("cleanup_raises").ok
    module = k.unload("cleanup_raises")
    assert module.state == "unloaded" and k.verdict is None
    assert module.error.startswith("rmmod killed by oops: unable to handle kernel NULL pointer")
    assert len(module.leaks) == 1 and module.leaks[0].startswith("kmalloc 48 bytes at 0x")
    assert "cleanup_raises" not in k.modules


def test_loading_on_a_dead_system_fails_without_running_anything(test_drivers):
    k = boot()
    k.load("init_hangs")
    module = k.load("bell")
    assert module.state == "failed" and module.error == f"system is down ({k.verdict})"


def test_a_module_cannot_be_loaded_twice_but_can_be_reloaded_after_unload(bell):
    with pytest.raises(ValueError, match="already loaded"):
        bell.load("bell")
    assert bell.unload("bell").leaks == []
    again = bell.load("bell")
    assert again.ok
    assert bell.held_by("bell") == [f"kmalloc {again.namespace['BELL_PRIV'].size} bytes at "
                                    f"{again.namespace['priv']:#010x}",
                                    f"irq {BELL_IRQ} (bell)",
                                    f"ioremap {bell.machine.devices['belldev'].mmio_base:#010x}"]


def test_unload_of_a_module_that_is_not_loaded_is_a_clear_error(bell):
    with pytest.raises(ValueError, match=r"'nope' is not loaded; loaded: \['bell'\]"):
        bell.unload("nope")


def test_a_panic_during_a_load_leaves_the_load_call_returning(test_drivers):
    k = boot()
    k.load("bell")
    k.syscall(k.spawn("t"), k.modules["bell"].function("ring"), 1, 10)
    try:
        k.idle(0.001)
    except KernelPanic:                                  # pragma: no cover - the contract
        pytest.fail("a verdict escaped kernel.idle")
    assert k.verdict.kind == "panic"
