"""Processes end: ``do_exit`` frees a process's pages, closes its files and forgets it, so
``run()``, ``load()`` and ``unload()`` leave kernel memory as they found it (issue 16)."""
import pytest

import nookslab as nl
from nookslab.kernel import KernelPanic, ProcessKilled


@pytest.mark.parametrize("mode", ["native", "nooks"])
def test_a_thousand_runs_on_one_kernel_leave_its_free_pages_where_they_started(mode):
    k = nl.boot(mode, seed=1)
    k.load("null")
    kernel_objects = len(k.heap.live)
    if mode == "nooks":
        # one run first: the first copy of a struct file gives the domain's heap a slab page
        # of that size class, which it keeps for reuse as Linux's slab caches do
        assert k.run("null-io", seconds=0.00002).ok
    free = k.machine.pages.free_pages
    for _ in range(1000):
        r = k.run("null-io", seconds=0.00002)
        assert r.ok, r.failure
    assert k.machine.pages.free_pages == free
    assert len(k.heap.live) == kernel_objects
    assert k.processes == []


def test_a_native_run_leaves_every_page_where_it_was_before_the_first_run():
    k = nl.boot("native", seed=1)
    k.load("null")
    before = k.machine.pages.owner.copy()
    for _ in range(100):
        assert k.run("null-io", seconds=0.00002).ok
    assert (k.machine.pages.owner == before).all()


def test_loading_and_unloading_a_driver_a_hundred_times_leaks_no_page():
    for mode in ("native", "nooks"):
        k = nl.boot(mode, seed=1)
        k.load("null")
        k.unload("null")
        free = k.machine.pages.free_pages
        for _ in range(100):
            assert k.load("null").ok
            assert k.unload("null").leaks == []
        assert k.machine.pages.free_pages == free, mode


def test_an_exiting_process_closes_the_files_it_left_open():
    k = nl.boot("native", seed=1)
    k.load("null")
    cd = k.subsystems["chrdev"]
    objects = len(k.heap.live)
    proc = k.spawn("forgetful")
    assert len(k.heap.live) == objects + 1                       # its mm_struct
    fd = k.syscall(proc, cd.sys_open, "/dev/null0")
    assert fd >= 0 and len(k.heap.live) == objects + 2          # and its struct file
    k.exit_process(proc)
    assert len(k.heap.live) == objects                           # closed and freed
    assert proc.files == {} and not proc.alive and proc not in k.processes
    with pytest.raises(ProcessKilled, match="has exited"):
        k.syscall(proc, cd.sys_open, "/dev/null0")
    k.exit_process(proc)                                          # a second exit does nothing


def test_an_exited_process_gives_its_pages_back_zeroed_for_the_next():
    k = nl.boot("native", seed=1)
    a = k.spawn("a")
    k.mmu.write(a.ubuf, b"secret")
    k.exit_process(a)
    b = k.spawn("b")
    assert b.ubuf == a.ubuf and b.pid == a.pid + 1
    assert k.mmu.read(b.ubuf, 6) == bytes(6)


def test_under_nooks_a_domain_reads_the_pages_of_an_exited_process_again():
    k = nl.boot("nooks", seed=1)
    k.load("null")
    domain = k.isolation.domains["null"]
    proc = k.spawn("p")
    assert not domain.can_read(proc.ubuf, 1)         # a process's pages are in no domain
    k.exit_process(proc)
    assert domain.can_read(proc.ubuf, 1) and not domain.can_write(proc.ubuf, 1)


def _exhaust(k):
    """Give every free page to someone else (what a driver that leaks does, in one step)."""
    pages = k.machine.pages
    hog = pages.new_owner("hog")
    while pages.free_pages:
        pages.alloc(1, hog)


def test_run_records_a_panic_when_no_memory_is_left_for_its_process():
    k = nl.boot("native", seed=1)
    k.load("null")
    _exhaust(k)
    r = k.run("null-io", seconds=0.001)
    assert not r.ok and "out of memory spawning null-io" in r.failure
    assert k.verdict is not None and k.verdict.kind == "panic"


def test_load_and_unload_record_a_panic_when_no_memory_is_left_for_insmod():
    k = nl.boot("native", seed=1)
    _exhaust(k)
    module = k.load("null")
    assert not module.ok and "out of memory spawning insmod null" in module.error
    k2 = nl.boot("native", seed=1)
    k2.load("null")
    _exhaust(k2)
    gone = k2.unload("null")
    assert "out of memory spawning rmmod null" in gone.error
    with pytest.raises(KernelPanic):
        k2.syscall(k2.spawn("late"), lambda: 0)
