"""The parts one by one: domains, the page tracker, XPC, the interface catalog, the tracker."""
import pytest

import nookslab
from nookslab.machine.memory import PAGE_SIZE
from nookslab.machine.mmu import PRESENT, RW, PageFault
from nookslab.nooks.tracker import ObjectTracker, TrackedObject, TrackedType


@pytest.fixture
def k():
    return nookslab.boot(mode="nooks", seed=2)


def test_a_domain_sees_the_kernel_read_only_and_its_own_heap_writable(k):
    k.load("null")
    domain = k.modules["null"].domain
    block = domain.kmalloc(100)
    assert domain.can_write(block, 100)
    assert not domain.can_write(k.timers.head, 4) and domain.can_read(k.timers.head, 4)
    previous = k.mmu.switch(domain.pt)
    try:
        k.mmu.st32(block, 7)
        assert k.mmu.ld32(k.timers.head) == k.mmu.ld32(k.timers.head)
        with pytest.raises(PageFault):
            k.mmu.st32(k.timers.head, 0)
    finally:
        k.mmu.switch(previous)


def test_a_page_the_kernel_maps_later_reaches_every_domain_read_only(k):
    k.load("null")
    domain = k.modules["null"].domain
    addr = 0xE000_0000
    assert domain.pt.array[addr >> 12] == 0
    k.mmu.map_kernel(addr, PAGE_SIZE, RW)
    assert domain.pt.array[addr >> 12] == PRESENT
    domain.grant(addr, PAGE_SIZE)
    k.mmu.map_kernel(addr, PAGE_SIZE, RW)               # a remap keeps the domain's grant
    assert domain.pt.array[addr >> 12] == RW
    k.mmu.map_kernel(addr, PAGE_SIZE, 0)
    assert domain.pt.array[addr >> 12] == 0


def test_the_page_tracker_lends_a_page_until_its_last_holder_gives_it_back(k):
    k.load("null")
    domain = k.modules["null"].domain
    page = k.machine.pages.alloc(1, k.kernel_owner)
    domain.page_grant(page, 512)
    domain.page_grant(page + 512, 512)
    domain.page_revoke(page, 512)
    assert domain.can_write(page, PAGE_SIZE)
    domain.page_revoke(page + 512, 512)
    assert not domain.can_write(page, 1)


def test_xpcs_are_counted_per_direction_and_traced(k):
    k.load("null")
    x = k.isolation.xpc
    assert x.count == x.to_driver + x.to_kernel > 0
    traced = k.events.of("xpc")
    assert len(traced) == x.count
    assert traced[0].detail == "null.init_module ->"
    assert any(e.detail == "<- kmalloc" for e in traced)


def test_the_xpc_trace_can_be_switched_off_and_the_count_goes_on(k):
    k.isolation.trace_xpcs = False
    k.load("null")
    assert k.isolation.xpc_count > 0 and not k.events.of("xpc")


def test_an_xpc_charges_the_switch_and_the_tlb_refill(k):
    k.load("null")
    before, busy = k.isolation.xpc_count, k.clock.busy
    k.recover("null")
    spent = k.clock.busy - busy
    crossings = k.isolation.xpc_count - before
    assert spent >= crossings * (k.cost.xpc_switch + k.cost.xpc_tlb)


def test_driver_code_has_no_way_to_the_mmu_or_the_layer(k):
    module = k.load("null")
    reachable = {name for name, value in module.namespace.items()
                 if getattr(value, "__self__", None) is k.mmu or value is k.mmu.switch}
    # only the load/store intrinsics are bound to the MMU; never switch or the page tables
    assert "switch" not in module.namespace
    assert all(n in ("ld32", "st32", "readl", "writel", "stbytes", "ld8", "st8", "ldbytes",
                     "ld16", "st16", "readb", "writeb", "readw", "writew") for n in reachable)
    assert not any(type(v).__module__.startswith("nookslab.nooks")
                   for v in module.namespace.values() if not callable(v))


def test_init_and_cleanup_run_inside_the_domain(k):
    module = k.load("null")
    assert module.namespace["init_module"].__name__ == "nooks_dw_null.init_module"
    assert k.events.of("xpc")[0].subject == "null"


def test_the_catalog_is_generated_from_the_kernel_specs(k):
    cat = k.isolation.catalog
    assert cat.kernel_wrappers == sum(1 for s in k.symbols.specs.values() if s.xpc)
    assert cat.pairs["request_irq"] == "free_irq"
    assert cat.pairs["register_chrdev"] == "unregister_chrdev"
    assert cat.types["kmalloc"].release is None                  # domain memory
    assert cat.types["dma"].physical and cat.types["dma"].release == "pci_free_consistent"
    assert cat.types["file"].copied and not cat.types["pci_dev"].copied
    summary = k.isolation.summary()
    assert summary["wrappers"] == summary["kernel_wrappers"] + summary["driver_wrappers"]
    assert summary["tracked_types"] == len(cat.types)


def test_the_tracker_keeps_per_type_entries_and_releases_newest_first():
    t = ObjectTracker("d")
    a = t.add(TrackedObject(0x1000, TrackedType("kmalloc"), 64))
    b = t.add(TrackedObject(0x1000, TrackedType("timer_list", "del_timer"), 24))
    c = t.add(TrackedObject(0x2000, TrackedType("dma", physical=True), 4096, copy=0x9000))
    assert t.find(0x1000, "timer_list") is b and t.find(0x9000, "dma") is c
    assert t.find(0x1000, "dma") is None and t.known(0x1000) == ["kmalloc", "timer_list"]
    assert t.enumerate() == [c, b, a]
    assert t.containing(0x1010, "kmalloc") is a
    t.remove(b)
    assert len(t) == 2 and t.find(0x1000, "timer_list") is None


def test_two_extensions_can_share_one_domain(wild_registry):
    k = nookslab.boot(mode="nooks", seed=2)
    k.isolation.share("null", "shared")
    k.isolation.share("wild", "shared")
    assert k.load("null").ok and k.load("wild").ok
    assert k.modules["null"].domain is k.modules["wild"].domain
    assert k.modules["null"].domain.modules == ["null", "wild"]
    assert k.run("null-io", seconds=0.002).ok and k.run("wild-io", seconds=0.002).ok
