"""The MMU benchmark's functions run and measure what they say (no timing assertions)."""
import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_mmu.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_mmu", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module                  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def test_the_benchmark_stores_loads_and_copies_what_it_claims(bench):
    mmu = bench.make_mmu()
    assert bench.checked_store(mmu, 1) > 0
    assert mmu.ld32(bench.FIELD) == 0x5A5A5A5A
    assert bench.checked_load(mmu, 1) > 0
    assert bench.bulk_copy(mmu, 1) > 0
    assert mmu.read(bench.DST, bench.FRAME) == mmu.read(bench.SRC, bench.FRAME)
    assert mmu.read(bench.SRC, 3) == b"\x00\x01\x02"
    assert mmu.page_table is mmu.kernel_pt and mmu.page_table.writable(bench.FIELD)
    assert bench.kmalloc_kfree(1) > 0


def test_the_benchmark_prints_its_table_with_targets(bench):
    figures = bench.measure(number=20)
    text = bench.table(figures)
    assert figures.ratio == figures.store_ns / figures.plain_ns
    for row in ("checked store mmu.st32", "checked load mmu.ld32", "plain attribute store",
                "ratio checked / plain", "bulk copy 1500 B mmu.copy", "target <= 20x",
                "target >= 500 MB/s", "kmalloc(64) + kfree"):
        assert row in text
