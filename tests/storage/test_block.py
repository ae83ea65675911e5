"""The buffer cache and the in-kernel IDE driver (kernel/block.py)."""
import pytest

import nookslab as nl
from nookslab.kernel import block as blk
from nookslab.kernel.block import BH_DIRTY, BH_UPTODATE, BUFFER_HEAD, HDA
from nookslab.kernel.panic import ProcessKilled


@pytest.fixture
def k():
    return nl.boot(seed=2)


def in_process(k, fn, *args):
    return k.syscall(k.spawn("t"), fn, *args)


def test_bread_reads_the_platter_by_dma_and_caches_the_block(k):
    b = k.subsystems["block"]
    b.disk().platter[512 * 40:512 * 41] = b"\x5a" * 512
    bh = in_process(k, b.bread, HDA, 40, 512)
    data = k.mmu.ld32(bh + BUFFER_HEAD.b_data)
    assert k.mmu.read(data, 512) == b"\x5a" * 512
    assert k.mmu.ld32(bh + BUFFER_HEAD.b_state) == BH_UPTODATE
    assert k.mmu.ld32(bh + BUFFER_HEAD.b_count) == 1
    ios = b.ios
    b.brelse(bh)
    assert in_process(k, b.bread, HDA, 40, 512) == bh       # a cache hit: no disk I/O
    assert b.ios == ios


def test_buffer_data_lives_in_pages_of_its_own_owner(k):
    b = k.subsystems["block"]
    bhs = [in_process(k, b.getblk, HDA, n, 512) for n in range(20)]
    owners = k.machine.pages.owner
    data_pages = {k.mmu.ld32(bh + BUFFER_HEAD.b_data) >> 12 for bh in bhs}
    assert {int(owners[p]) for p in data_pages} == {b.pool_owner}
    assert sorted(data_pages) == sorted(p >> 12 for p in b.pool_pages_of())
    assert all(int(owners[bh >> 12]) != b.pool_owner for bh in bhs)   # heads are elsewhere


def test_dirty_buffers_reach_the_disk_on_fsync_dev_in_one_merged_request(k):
    b = k.subsystems["block"]
    proc = k.spawn("t")
    for n in range(8):
        bh = k.syscall(proc, b.getblk, HDA, 200 + n, 512)
        k.mmu.fill(k.mmu.ld32(bh + BUFFER_HEAD.b_data), 0x30 + n, 512)
        b.mark_buffer_dirty(bh)
        b.brelse(bh)
    assert b.dirty_count(HDA) == 8
    writes = b.disk().writes
    assert k.syscall(proc, b.fsync_dev, HDA) == 0
    assert b.disk().writes == writes + 1
    assert bytes(b.disk().platter[200 * 512:208 * 512]) == b"".join(
        bytes([0x30 + n]) * 512 for n in range(8))
    assert b.dirty_count(HDA) == 0


def test_a_full_cache_writes_back_and_evicts_old_buffers(k, monkeypatch):
    monkeypatch.setattr(blk, "MAX_BUFFERS", 16)
    b = k.subsystems["block"]
    proc = k.spawn("t")
    for n in range(40):
        bh = k.syscall(proc, b.getblk, HDA, 1000 + n, 512)
        assert bh
        k.mmu.fill(k.mmu.ld32(bh + BUFFER_HEAD.b_data), n, 512)
        b.mark_buffer_dirty(bh)
        b.brelse(bh)
    assert len(b.heads) == 16
    k.syscall(proc, b.fsync_dev, HDA)
    for n in range(40):
        assert bytes(b.disk().platter[(1000 + n) * 512:(1001 + n) * 512]) == bytes([n]) * 512


def test_buffer_references_are_counted_per_owner(k):
    b = k.subsystems["block"]
    bh = in_process(k, lambda: b.bread(HDA, 3, 512, owner="vfat"))
    assert b.held_by("vfat") == [f"buffer_head {bh:#010x} (block 3) x1"]
    b.brelse(bh, owner="vfat")
    assert b.held_by("vfat") == []


def test_brelse_of_a_wild_pointer_kills_the_calling_process(k):
    b = k.subsystems["block"]
    with pytest.raises(ProcessKilled, match="general protection"):
        in_process(k, b.brelse, 0x123456)
    assert k.verdict is None


def test_a_trampled_buffer_head_shows_in_the_integrity_sweep(k):
    b = k.subsystems["block"]
    bh = in_process(k, b.bread, HDA, 9, 512)
    k.mmu.st32(bh + BUFFER_HEAD.b_blocknr, 77)
    found = k.check_integrity()
    assert any("corrupted" in line for line in found), found
    assert k.verdict is None, "the sweep is a diagnostic: no kernel code met the corruption yet"


def test_only_512_byte_blocks_are_served(k):
    b = k.subsystems["block"]
    assert b.set_blocksize(HDA, 1024) == -22
    assert b.set_blocksize(HDA, 512) == 0
    assert in_process(k, b.getblk, HDA, 1, 1024) == 0
    assert in_process(k, b.getblk, HDA, b.disk().sectors, 512) == 0
    assert BH_DIRTY == 2
