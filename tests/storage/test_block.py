"""The buffer cache and the in-kernel IDE driver (kernel/block.py)."""
import pytest

import nookslab as nl
from nookslab.kernel import block as blk
from nookslab.kernel import buffer
from nookslab.kernel.block import BH_DIRTY, BH_UPTODATE, BUFFER_HEAD, HDA
from nookslab.kernel.panic import KernelBug, ProcessKilled


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
    monkeypatch.setattr(buffer, "MAX_BUFFERS", 16)
    b = k.subsystems["block"]
    proc = k.spawn("t")
    for n in range(40):
        bh = k.syscall(proc, b.getblk, HDA, 1000 + n, 512)
        assert bh
        k.mmu.fill(k.mmu.ld32(bh + BUFFER_HEAD.b_data), n, 512)
        b.mark_buffer_dirty(bh)
        b.brelse(bh)
    assert b.nr_buffers == 16
    k.syscall(proc, b.fsync_dev, HDA)
    for n in range(40):
        assert bytes(b.disk().platter[(1000 + n) * 512:(1001 + n) * 512]) == bytes([n]) * 512


def test_buffer_references_are_counted_per_owner(k):
    b = k.subsystems["block"]
    bh = in_process(k, lambda: b.bread(HDA, 3, 512, owner="vfat"))
    assert b.held_by("vfat") == [f"buffer_head {bh:#010x} (block 3) x1"]
    b.brelse(bh, owner="vfat")
    assert b.held_by("vfat") == []


def test_brelse_of_a_pointer_outside_ram_kills_the_calling_process(k):
    b = k.subsystems["block"]
    with pytest.raises(ProcessKilled, match="unable to handle kernel paging request"):
        in_process(k, b.brelse, 0x7FFF0000)
    assert k.verdict is None


def test_brelse_of_a_wild_pointer_into_ram_decrements_whatever_is_there_as_linux_does(k):
    b = k.subsystems["block"]
    word = k.heap.kmalloc(64, "kernel")
    k.mmu.st32(word + BUFFER_HEAD.b_count, 7)
    in_process(k, b.brelse, word)                  # atomic_dec(&bh->b_count), nothing checked
    assert k.mmu.ld32(word + BUFFER_HEAD.b_count) == 6 and k.verdict is None


def test_a_buffer_head_moved_off_its_hash_chain_shows_in_the_integrity_sweep(k):
    b = k.subsystems["block"]
    bh = in_process(k, b.bread, HDA, 9, 512)
    b.check()
    k.mmu.st32(bh + BUFFER_HEAD.b_blocknr, 77)
    found = k.check_integrity()
    assert any("not its own" in line for line in found), found
    assert k.verdict is None, "the sweep is a diagnostic: no kernel code met the corruption yet"


def test_the_cache_lives_in_memory_hash_chains_and_lru_rings(k):
    b = k.subsystems["block"]
    proc = k.spawn("t")
    same = [n for n in range(1, 40_000) if blk.bh_hashfn(HDA, n) == blk.bh_hashfn(HDA, 0)][:2]
    heads = [k.syscall(proc, b.getblk, HDA, n, 512) for n in [0] + same]
    bucket = b.hash_table + 4 * blk.bh_hashfn(HDA, 0)
    # the newest buffer is first on the chain, each b_pprev points at the link before it
    assert k.mmu.ld32(bucket) == heads[2]
    assert k.mmu.ld32(heads[2] + BUFFER_HEAD.b_next) == heads[1]
    assert k.mmu.ld32(heads[1] + BUFFER_HEAD.b_next) == heads[0]
    assert k.mmu.ld32(heads[0] + BUFFER_HEAD.b_pprev) == heads[1] + BUFFER_HEAD.b_next
    assert k.mmu.ld32(heads[2] + BUFFER_HEAD.b_pprev) == bucket
    # all three on the clean ring, oldest first; dirtying one moves it to the dirty ring
    assert list(b._lru_walk(blk.BUF_CLEAN)) == heads
    b.mark_buffer_dirty(heads[1])
    assert list(b._lru_walk(blk.BUF_CLEAN)) == [heads[0], heads[2]]
    assert list(b._lru_walk(blk.BUF_DIRTY)) == [heads[1]]
    assert k.mmu.ld16(heads[1] + BUFFER_HEAD.b_list) == blk.BUF_DIRTY
    b.check()


def test_a_wild_store_into_a_hash_link_faults_the_next_walk_of_that_chain(k):
    b = k.subsystems["block"]
    proc = k.spawn("t")
    bh = k.syscall(proc, b.bread, HDA, 0, 512)
    b.brelse(bh)
    k.mmu.st32(bh + BUFFER_HEAD.b_next, 0x7FFF0000)             # the wild store
    assert in_process(k, b.bread, HDA, 0, 512) == bh             # found before the bad link
    other = next(n for n in range(1, 40_000) if blk.bh_hashfn(HDA, n) == blk.bh_hashfn(HDA, 0))
    with pytest.raises(ProcessKilled, match="paging request at 0x7fff000"):
        in_process(k, b.bread, HDA, other, 512)                  # walks past it: a fault
    assert k.verdict is None                                     # the kernel runs on


def test_a_cut_hash_chain_gives_a_block_a_second_buffer_whose_data_is_stale(k):
    b = k.subsystems["block"]
    proc = k.spawn("t")
    bh = k.syscall(proc, b.getblk, HDA, 50, 512)
    k.mmu.fill(k.mmu.ld32(bh + BUFFER_HEAD.b_data), 0x77, 512)
    b.mark_buffer_uptodate(bh)
    b.mark_buffer_dirty(bh)                                      # not on the disk yet
    b.brelse(bh)
    k.mmu.st32(k.mmu.ld32(bh + BUFFER_HEAD.b_pprev), 0)          # the link to it is zeroed
    again = k.syscall(proc, b.bread, HDA, 50, 512)
    assert again and again != bh                                 # the cache lost it
    data = k.mmu.read(k.mmu.ld32(again + BUFFER_HEAD.b_data), 512)
    assert data == bytes(512) and k.verdict is None              # what the disk had: stale


def test_only_512_byte_blocks_are_served(k):
    b = k.subsystems["block"]
    assert b.set_blocksize(HDA, 1024) == -22
    assert b.set_blocksize(HDA, 512) == 0
    assert in_process(k, b.getblk, HDA, 1, 1024) == 0
    assert in_process(k, b.getblk, HDA, b.disk().sectors, 512) == 0
    assert BH_DIRTY == 2
