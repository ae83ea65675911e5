"""Each fault type does to the code what its documentation says (nookslab.faults.types)."""
import ast
import json

import numpy as np
import pytest

import nookslab
from nookslab.drivers import REGISTRY
from nookslab.faults import FAULT_TYPES, Fault, faults_from_json, faults_to_json
from nookslab.faults.hooks import allocation_log, flip, make_hook, writable_blocks
from nookslab.faults.injector import generate, sites, sites_of_source
from nookslab.faults.trial import injectable_extensions
from nookslab.faults.types import STALE_WORDS
from nookslab.kernel.module import driver_source

SRC = '''
def f(a, b):
    x = 5
    y = a + 1
    if a > 0:
        x = x + 1
    while y < 3:
        y = y + 1
    return x + y


def g(p):
    flags = spin_lock_irqsave(p)
    v = ld32(p + OFF.field)
    spin_unlock_irqrestore(p, flags)
    q = kmalloc(64, 0)
    memcpy(q, p, 8)
    kfree(q)
    return v
'''

def built_drivers():
    return injectable_extensions()


def fault_at(kind, node_kind, line, **params):
    site = next(s for s in sites_of_source(SRC)[kind] if s.node == node_kind and s.line == line)
    return Fault(kind, site.function, site.line, site.col, site.end_line, site.end_col,
                 site.node, **params)


class Calls:
    """A fake kernel namespace that records the calls the test code makes."""

    def __init__(self):
        self.log = []

    def ns(self, **extra):
        def rec(name, ret=None):
            def fn(*args):
                self.log.append((name, *args))
                return ret
            return fn
        ns = {"spin_lock_irqsave": rec("lock", 1), "spin_unlock_irqrestore": rec("unlock"),
              "ld32": lambda a: a, "kmalloc": rec("kmalloc", 0x1000), "kfree": rec("kfree"),
              "memcpy": rec("memcpy"), "OFF": type("Off", (), {"field": 8})}
        ns.update(extra)
        return ns


def build(faults, calls=None):
    """Compile SRC with ``faults`` applied and their hooks bound; return (namespace, hits)."""
    tree = ast.parse(SRC)
    for fault in faults:
        tree = fault.rewrite(tree)
    ns = (calls or Calls()).ns()
    hits = []
    exec(compile(ast.fix_missing_locations(tree), "<test>", "exec"), ns)
    for fault in faults:
        ns[fault.hook] = make_hook(fault, lambda detail="", f=fault: hits.append(f.type), ns,
                                   ns.__getitem__)
    return ns, hits


def test_there_are_at_least_sixteen_fault_types_each_documented():
    assert len(FAULT_TYPES) >= 16
    for kind in FAULT_TYPES:
        assert Fault(kind).doc.count(";") >= 1


def test_the_unfaulted_test_code_computes_its_reference_values():
    ns, hits = build([])
    assert ns["f"](1, 0) == 6 + 3 and ns["f"](0, 0) == 5 + 3 and hits == []


def test_text_flips_one_bit_of_an_immediate():
    ns, hits = build([fault_at("TEXT", "Constant", 3, bit=1)])   # x = 5 -> x = 7
    assert ns["f"](0, 0) == 7 + 3 and hits == ["TEXT"]


def test_init_leaves_the_local_holding_a_stale_word_not_a_name_error():
    ns, _ = build([fault_at("INIT", "Assign", 3, where=0)])
    assert ns["f"](0, 0) == STALE_WORDS[0] + 3 == 0x6B6B6B6B + 3


def test_nop_removes_one_statement():
    ns, _ = build([fault_at("NOP", "Assign", 6)])                 # x = x + 1 never happens
    assert ns["f"](1, 0) == 5 + 3


def test_dst_flips_the_stored_value_every_time():
    ns, _ = build([fault_at("DST", "Assign", 4, bit=4)])          # y = (a + 1) ^ 16
    assert ns["f"](0, 0) == 5 + 17


def test_src_flips_an_operand():
    site = next(s for s in sites_of_source(SRC)["SRC"] if s.line == 4)
    fault = Fault("SRC", site.function, site.line, site.col, site.end_line, site.end_col,
                  site.node, bit=3)                               # y = (a ^ 8) + 1
    ns, _ = build([fault])
    assert ns["f"](0, 0) == 5 + 9


def test_stack_flips_a_local_once_on_the_counted_execution():
    ns, hits = build([fault_at("STACK", "Assign", 8, bit=5, count=2)])   # 2nd y = y + 1
    # y: 1 -> 2 -> (3 ^ 32 = 35): loop ends; x = 5
    assert ns["f"](0, 0) == 5 + 35 and hits == ["STACK"]


def test_branch_forces_the_guarded_code_to_run_or_not():
    taken, _ = build([fault_at("BRANCH", "Compare", 5, bit=0)])
    skipped, _ = build([fault_at("BRANCH", "Compare", 5, bit=1)])
    assert taken["f"](0, 0) == 6 + 3 and skipped["f"](1, 0) == 5 + 3


def test_loop_inverts_a_test():
    ns, _ = build([fault_at("LOOP", "Compare", 5)])
    assert ns["f"](0, 0) == 6 + 3 and ns["f"](1, 0) == 5 + 3


def test_an_inverted_loop_condition_that_never_ends_is_seen_by_the_watchdog():
    # while y < 3 inverted runs while y >= 3; from y = 5 it never stops: the loader counts it.
    k = nookslab.boot(seed=1, step_budget=1000)
    site = next(s for s in sites("null")["LOOP"] if s.function == "null_write" and s.node == "UnaryOp")
    fault = Fault("LOOP", site.function, site.line, site.col, site.end_line, site.end_col, site.node)
    k.load("null", faults=[fault])
    r = k.run("null-io", seconds=0.002)
    assert not r.ok


def test_interface_replaces_a_parameter_with_another_ones_value():
    site = next(s for s in sites_of_source(SRC)["INTERFACE"] if s.function == "f" and s.count == 0)
    fault = Fault("INTERFACE", site.function, site.line, site.col, site.end_line, site.end_col,
                  site.node, count=0, where=0)               # a = b
    ns, _ = build([fault])
    assert ns["f"](1, 0) == ns["f"](0, 0) == 5 + 3


def test_ptr_flips_a_bit_of_the_offset_added_to_the_pointer():
    ns, _ = build([fault_at("PTR", "BinOp", 14, bit=2)])          # OFF.field 8 -> 12
    assert ns["g"](0x100) == 0x100 + 12


def call_fault(kind, line, **params):
    site = next(s for s in sites_of_source(SRC)[kind] if s.line == line and s.node == "Call")
    return Fault(kind, site.function, site.line, site.col, site.end_line, site.end_col, site.node,
                 **params)


def test_irq_keeps_the_unlock_but_drops_the_restore_of_interrupts():
    calls = Calls()
    ns, _ = build([call_fault("IRQ", 15)], calls)
    ns["g"](0x100)
    assert ("unlock", 0x100, 0) in calls.log


def test_sync_drops_a_lock_leaving_a_stale_flags_word():
    calls = Calls()
    ns, _ = build([call_fault("SYNC", 13, where=0)], calls)
    ns["g"](0x100)
    assert not any(c[0] == "lock" for c in calls.log)
    assert ("unlock", 0x100, STALE_WORDS[0]) in calls.log


def test_alloc_returns_null_on_the_counted_calls():
    calls = Calls()
    ns, _ = build([call_fault("ALLOC", 16, count=1)], calls)
    ns["g"](0x100)
    assert not any(c[0] == "kmalloc" for c in calls.log) and ("kfree", 0) in calls.log


def test_bcopy_extends_the_length_of_a_copy():
    calls = Calls()
    ns, _ = build([call_fault("BCOPY", 17, count=1023)], calls)
    ns["g"](0x100)
    assert ("memcpy", 0x1000, 0x100, 8 + 1023) in calls.log


def test_free_frees_twice_at_a_free_site():
    calls = Calls()
    ns, _ = build([call_fault("FREE", 18, count=1)], calls)
    ns["g"](0x100)
    assert calls.log.count(("kfree", 0x1000)) == 2


def test_free_at_an_allocation_site_frees_the_block_at_once():
    calls = Calls()
    ns, _ = build([call_fault("FREE", 16, count=1)], calls)
    ns["g"](0x100)
    assert calls.log.index(("kfree", 0x1000)) < calls.log.index(("memcpy", 0x1000, 0x100, 8))


def test_mem_leak_skips_the_free():
    calls = Calls()
    ns, _ = build([call_fault("MEM_LEAK", 18, count=1)], calls)
    ns["g"](0x100)
    assert not any(c[0] == "kfree" for c in calls.log)


def test_flip_works_on_words_and_bytes_and_leaves_other_values():
    assert flip(0, 31) == 0x80000000 and flip(-22, 0) == -21
    assert flip(b"\x00\x01", 9) == b"\x00\x03"
    assert flip(None, 3) is None


def test_heap_flips_one_bit_of_the_drivers_memory_at_its_moment():
    k = nookslab.boot(seed=2)
    fault = Fault("HEAP", bit=9, count=100, where=12345)
    k.load("null", faults=[fault])
    blocks = writable_blocks(k, k.modules["null"])
    assert blocks
    before = bytes(k.machine.memory.data)
    k.idle(0.001)
    after = bytes(k.machine.memory.data)
    changed = [i for i in range(len(before)) if before[i] != after[i]
               and any(a <= i < a + s for a, s in blocks)]
    assert len(changed) >= 1
    assert any(e.kind == "fault" and "HEAP" in e.detail for e in k.events)


@pytest.mark.parametrize("kind", FAULT_TYPES)
def test_every_fault_type_applies_to_every_built_driver_and_changes_its_code(kind):
    for extension in built_drivers():
        found = sites(extension)
        if kind != "HEAP" and not found[kind]:
            continue
        fault = generate(extension, 1, np.random.default_rng(7), types=(kind,))[0]
        assert fault.type == kind
        source = driver_source(REGISTRY[extension].source)
        before = ast.dump(ast.parse(source))
        after = ast.dump(fault.rewrite(ast.parse(source)))
        assert (before == after) == (kind == "HEAP"), f"{kind} on {extension}"
        if extension == "null":                   # one load per type keeps this test quick
            k = nookslab.boot(seed=3)
            module = k.load(extension, faults=[fault])
            assert kind == "HEAP" or fault.hook in module.namespace


def test_null_has_a_site_for_every_fault_type():
    found = sites("null")
    assert all(found[k] for k in FAULT_TYPES if k != "HEAP")


def test_faults_print_save_and_load_exactly():
    faults = generate("null", 5, np.random.default_rng(11))
    text = faults_to_json(faults)
    assert faults_from_json(text) == faults
    assert json.loads(text)[0]["type"] == faults[0].type
    assert str(faults[0]).startswith(faults[0].type)


def test_the_same_generator_seed_gives_the_same_faults():
    a = generate("null", 5, np.random.default_rng(5))
    b = generate("null", 5, np.random.default_rng(5))
    assert a == b and a != generate("null", 5, np.random.default_rng(6))


@pytest.mark.parametrize("bad", ["PTRX", "", "ptr"])
def test_an_unknown_fault_type_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="TEXT"):
        Fault(bad)


def test_a_fault_is_built_at_a_named_site_with_its_parameters_by_name():
    site = next(s for s in sites("e1000")["INTERFACE"] if s.function == "e1000_xmit_frame")
    fault = Fault.at("INTERFACE", site, count=site.count, where=1)
    assert (fault.type, fault.function, fault.line, fault.node, fault.count, fault.where) == \
        ("INTERFACE", "e1000_xmit_frame", site.line, site.node, site.count, 1)


@pytest.mark.parametrize("extension,workload", [("null", None), ("e1000", "ping"),
                                                ("sb", "play-mp3")])
def test_heap_faults_draw_from_the_drivers_own_allocations_the_same_natively_and_under_nooks(
        extension, workload):
    # the candidates are what the driver's kmalloc/pci_alloc_consistent calls returned, in
    # order: never Nooks' tracker copies or the kernel's own structures
    faults = [Fault("HEAP", bit=b, count=4000 + 50 * i, where=w)
              for i, (b, w) in enumerate([(9, 12345), (30, 777), (3, 2024)])]
    seen = {}
    for mode in ("native", "nooks"):
        k = nookslab.boot(mode=mode, seed=2)
        module = k.load(extension, faults=faults)
        if workload:
            k.run(workload, seconds=0.006)
        else:
            k.idle(0.006)
        candidates = [(size, routine) for _, size, routine in allocation_log(module)]
        hits = [e.detail.split("; at ")[0] for e in k.events
                if e.kind == "fault" and e.detail.startswith("HEAP")]
        seen[mode] = (candidates, hits)
    assert seen["native"] == seen["nooks"]
    candidates, hits = seen["native"]
    assert candidates and all(r in ("kmalloc", "pci_alloc_consistent") for _, r in candidates)
    assert len(hits) == 3 and all(" of allocation " in h for h in hits)
