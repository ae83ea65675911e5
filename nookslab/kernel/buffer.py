"""The buffer cache's bookkeeping: Linux 2.4's ``fs/buffer.c`` lists, in simulated memory.

Kernel data laid out as ``fs/buffer.c`` lays it out, which the kernel walks through the MMU:

- ``hash_table``: one page of bucket pointers; each bucket is a chain of ``buffer_head`` linked
  through ``b_next``, each head's ``b_pprev`` pointing at the link that points to it
  (``__hash_link``/``__hash_unlink``); ``getblk`` finds a block by walking its chain
  (``__get_hash_table``);
- ``lru_list[BUF_CLEAN|BUF_DIRTY]``: rings through ``b_next_free``/``b_prev_free``, with
  ``nr_buffers_type`` counting each and ``b_list`` naming a buffer's ring. A new buffer joins
  the clean ring; ``__refile_buffer`` moves it to the dirty ring when it is dirtied, and back
  once written when ``bdflush`` passes it (2.4's third ring, ``BUF_LOCKED``, is left out: a
  buffer under I/O stays where it was). ``bdflush``, ``sync`` and ``fsync_dev`` walk the dirty
  ring, bounded by its count, as Linux's loops are. Eviction walks the clean ring from its
  oldest end as a clock: a buffer in use, under I/O or touched since the hand last passed
  (``BH_Touched``, set by ``getblk``, as 2.2 aged its buffers; 2.4 ages the page beneath) is
  passed over to the newest end by moving the ring's head; the first other one goes;
- ``free_list``: unhashed buffers, a chain through ``b_next_free``; ``nr_buffers``.

So a wild store into a ``b_next``, a ``b_pprev`` or a list head corrupts the cache as it would in
Linux: the next walk follows the bad link (a load through a pointer outside RAM faults; a link
into other memory scribbles there or loses buffers, so a block gets two buffers and one of them
goes stale; a chain bent into a loop hangs the walk). Python keeps only which pages the pool
holds (page facts). :class:`BufferLists` is the part of the block subsystem
(:mod:`.block`) that keeps these lists.
"""
from __future__ import annotations

import struct

import numpy as np

from ..machine.memory import PAGE_SHIFT, PAGE_SIZE, OutOfMemory
from .panic import KernelBug
from .structs import Layout

BH_UPTODATE = 1
BH_DIRTY = 2
BH_LOCK = 4
BH_REQ = 8
BH_TOUCHED = 16                      # accessed since the eviction clock last passed

READ = 0
WRITE = 1

#: ``struct buffer_head`` (include/linux/fs.h, 2.4), the fields this cache uses, in its order.
#: ``b_size`` is an unsigned short in Linux; a u32 here, so the page tracker reads it whole.
BUFFER_HEAD = Layout("buffer_head", [
    ("b_next", "ptr"),                             # hash queue list
    ("b_blocknr", "u32"), ("b_size", "u32"),
    ("b_list", "u16"),                             # which lru list it is on
    ("b_dev", "u16"),                              # kdev_t
    ("b_count", "u32"), ("b_state", "u32"),
    ("b_next_free", "ptr"), ("b_prev_free", "ptr"),  # lru ring / free list
    ("b_pprev", "ptr"),                            # the hash link that points here
    ("b_data", "ptr"),
])
BUF_CLEAN, BUF_DIRTY = 0, 1                        # the lru lists
NR_LIST = 2
#: fs/buffer.c's globals: ``lru_list[NR_LIST]``, ``nr_buffers_type[NR_LIST]``, the free list of
#: 512-byte buffers, how many buffers exist, and where the hash table is.
BUFFER_LISTS = Layout("buffer_lists", [
    ("lru_clean", "ptr"), ("lru_dirty", "ptr"),
    ("nr_clean", "u32"), ("nr_dirty", "u32"),
    ("free_list", "ptr"), ("nr_free", "u32"), ("nr_buffers", "u32"), ("hash_table", "ptr"),
])
BH_HASH_BITS = 10
BH_HASH_SIZE = 1 << BH_HASH_BITS                   # one page of bucket pointers

BLOCK_SIZE = 512                     # the only block size this cache serves (FAT's sector size)
MAX_BUFFERS = 2048                   # 1 MiB of buffer cache
FLUSH_BATCH = 128                    # dirty buffers bdflush writes per round

_NEXT = BUFFER_HEAD.b_next
_BLOCKNR = BUFFER_HEAD.b_blocknr
_SIZE = BUFFER_HEAD.b_size
_LIST = BUFFER_HEAD.b_list
_DEV = BUFFER_HEAD.b_dev
_COUNT = BUFFER_HEAD.b_count
_STATE = BUFFER_HEAD.b_state
_NEXT_FREE = BUFFER_HEAD.b_next_free
_PREV_FREE = BUFFER_HEAD.b_prev_free
_PPREV = BUFFER_HEAD.b_pprev
_DATA = BUFFER_HEAD.b_data
_LRU = (BUFFER_LISTS.lru_clean, BUFFER_LISTS.lru_dirty)
_NR = (BUFFER_LISTS.nr_clean, BUFFER_LISTS.nr_dirty)
_HASH_MASK = BH_HASH_SIZE - 1
assert _DEV == _LIST + 2 and not _LIST & 3        # b_list | b_dev << 16: one aligned word
#: b_next, b_blocknr, b_size, b_list, b_dev, b_count, b_state: a fresh head's first 24 bytes
_FRESH = struct.Struct("<IIIHHII")
assert (_NEXT, _BLOCKNR, _SIZE, _LIST, _DEV, _COUNT, _STATE) == (0, 4, 8, 12, 14, 16, 20)
MASK = 0xFFFFFFFF


def bh_hashfn(dev: int, block: int) -> int:
    """The bucket of ``(dev, block)``: Linux 2.4's ``_hashfn`` mixes shifted device and block
    bits the same way; these shifts suit a 1024-bucket table (neighbouring blocks land in
    neighbouring buckets, so a FAT's blocks share no chain)."""
    return ((dev << 4) ^ (dev << 1) ^ block ^ (block >> 10) ^ (block >> 13)) \
        & (BH_HASH_SIZE - 1)


def dispose_of(state: int) -> int:
    """The lru list a buffer in ``state`` belongs on (``__refile_buffer``)."""
    return BUF_DIRTY if state & BH_DIRTY else BUF_CLEAN


class BufferLists:
    """The buffer cache's lists, mixed into the block subsystem (which provides ``k``,
    ``mmu``, ``submit_bh`` and ``wait_on_buffer``)."""

    def _init_lists(self, kernel) -> None:
        """``buffer_init``: the globals (kmalloc'd) and the hash table (a page, as
        ``__get_free_pages`` gave it at boot), both empty; the pool's page owner."""
        pages = kernel.machine.pages
        self.pool_owner = pages.new_owner("buffer cache")
        self.pool_pages: list[int] = []
        self.lists = kernel.heap.kmalloc(BUFFER_LISTS.size, "kernel")
        self.mmu.fill(self.lists, 0, BUFFER_LISTS.size)
        self.hash_table = pages.alloc(1, pages.new_owner("buffer hash"))
        self.mmu.fill(self.hash_table, 0, PAGE_SIZE)
        self.mmu.st32(self.lists + BUFFER_LISTS.hash_table, self.hash_table)

    # -- the hash chains ------------------------------------------------------------------
    def _get_hash_table(self, dev: int, block: int, size: int) -> int:
        """``__get_hash_table``: walk the block's chain; its buffer_head, or 0."""
        ld32 = self.mmu.ld32
        cpu = self.k.cpu
        step = cpu.step
        bh = ld32(self.hash_table + 4 * (((dev << 4) ^ (dev << 1) ^ block ^ (block >> 10)
                                          ^ (block >> 13)) & _HASH_MASK))   # bh_hashfn
        n = 0
        while bh:
            if ld32(bh + _BLOCKNR) == block and ld32(bh + _LIST) >> 16 == dev \
                    and ld32(bh + _SIZE) == size:       # b_dev: the high half of that word
                return bh
            bh = ld32(bh + _NEXT)
            step()                       # a back-edge: a chain bent into a loop hangs here,
            n += 1                       # as in Linux, and where no watchdog is armed too
            if n > MAX_BUFFERS:
                cpu.spin("a buffer hash chain that never ends")
        return 0

    def _hash_unlink(self, bh: int) -> None:
        """``__hash_unlink``: take ``bh`` off its chain (through ``b_pprev``)."""
        mmu = self.mmu
        pprev = mmu.ld32(bh + _PPREV)
        if pprev:
            nxt = mmu.ld32(bh + _NEXT)
            if nxt:
                mmu.st32(nxt + _PPREV, pprev)
            mmu.st32(pprev, nxt)
            mmu.st32(bh + _PPREV, 0)

    # -- the lru rings and the free list ------------------------------------------------------
    def _lru_insert(self, bh: int, blist: int) -> None:
        """``__insert_into_lru_list``: at the ring's tail (its newest end)."""
        mmu = self.mmu
        ld32, st32 = mmu.ld32, mmu.st32
        head_p = self.lists + _LRU[blist]
        first = ld32(head_p)
        if not first:
            st32(head_p, bh)
            first = bh
            st32(bh + _PREV_FREE, bh)
        last = ld32(first + _PREV_FREE)
        st32(bh + _NEXT_FREE, first)
        st32(bh + _PREV_FREE, last)
        st32(last + _NEXT_FREE, bh)
        st32(first + _PREV_FREE, bh)
        mmu.st16(bh + _LIST, blist)
        nr_p = self.lists + _NR[blist]
        st32(nr_p, ld32(nr_p) + 1)

    def _lru_remove(self, bh: int) -> None:
        """``__remove_from_lru_list``: off the ring ``b_list`` names (if it is on one)."""
        mmu = self.mmu
        ld32, st32 = mmu.ld32, mmu.st32
        nxt = ld32(bh + _NEXT_FREE)
        if not nxt:
            return
        prev = ld32(bh + _PREV_FREE)
        blist = ld32(bh + _LIST) & 0xFFFF
        st32(prev + _NEXT_FREE, nxt)
        st32(nxt + _PREV_FREE, prev)
        head_p = self.lists + 4 * blist            # &lru_list[b_list], as C indexes it
        if ld32(head_p) == bh:
            st32(head_p, 0 if nxt == bh else nxt)
        st32(bh + _NEXT_FREE, 0)
        st32(bh + _PREV_FREE, 0)
        nr_p = self.lists + BUFFER_LISTS.nr_clean + 4 * blist    # &nr_buffers_type[b_list]
        st32(nr_p, (ld32(nr_p) - 1) & MASK)

    def _refile(self, bh: int, state: int) -> None:
        """``__refile_buffer``: move ``bh`` to the ring its ``state`` belongs on."""
        dispose = dispose_of(state)
        if dispose != self.mmu.ld32(bh + _LIST) & 0xFFFF:         # b_list
            self._lru_remove(bh)
            self._lru_insert(bh, dispose)

    def _lru_walk(self, blist: int):
        """The buffers on ring ``blist``, oldest first, one at a time: ``nr_buffers_type[blist]``
        of them from ``lru_list[blist]`` on, as Linux's loops count them (so a broken ring
        misleads the walk, and cannot make it endless), never more than the cache can hold."""
        ld32 = self.mmu.ld32
        first = bh = ld32(self.lists + _LRU[blist])
        if not bh:
            return
        for _ in range(min(ld32(self.lists + _NR[blist]), MAX_BUFFERS)):
            yield bh
            bh = ld32(bh + _NEXT_FREE)
            if bh == first:
                return

    def _push_free(self, bh: int) -> None:
        mmu = self.mmu
        mmu.st32(bh + _NEXT_FREE, mmu.ld32(self.lists + BUFFER_LISTS.free_list))
        mmu.st32(self.lists + BUFFER_LISTS.free_list, bh)
        nr_p = self.lists + BUFFER_LISTS.nr_free
        mmu.st32(nr_p, mmu.ld32(nr_p) + 1)

    def _pop_free(self) -> int:
        """Off the free list (its ``b_next_free`` is left for the caller to overwrite)."""
        mmu = self.mmu
        bh = mmu.ld32(self.lists + BUFFER_LISTS.free_list)
        if bh:
            mmu.st32(self.lists + BUFFER_LISTS.free_list, mmu.ld32(bh + _NEXT_FREE))
            nr_p = self.lists + BUFFER_LISTS.nr_free
            mmu.st32(nr_p, (mmu.ld32(nr_p) - 1) & MASK)
        return bh

    def _new_slots(self) -> bool:
        """Grow the pool by one page (eight buffers); False when it is at its limit."""
        k = self.k
        mmu = self.mmu
        nr_p = self.lists + BUFFER_LISTS.nr_buffers
        if mmu.ld32(nr_p) >= MAX_BUFFERS:
            return False
        try:
            page = k.machine.pages.alloc(1, self.pool_owner)
        except OutOfMemory:
            return False
        if k.isolation is not None and hasattr(k.isolation, "buffer_pages_added"):
            k.isolation.buffer_pages_added(page, 1)         # Nooks hook: grantable pages
        self.pool_pages.append(page)
        # eight heads, each written whole (b_data, b_size, and b_next_free: the free list as
        # it will be once this one is pushed), then the list head and the counts once
        free_p = self.lists + BUFFER_LISTS.free_list
        head = mmu.ld32(free_p)
        made = 0
        for i in range(PAGE_SIZE // BLOCK_SIZE):
            bh = k.heap.kmalloc(BUFFER_HEAD.size, "kernel")
            if not bh:
                break
            image = bytearray(BUFFER_HEAD.size)
            image[_DATA:_DATA + 4] = (page + i * BLOCK_SIZE).to_bytes(4, "little")
            image[_SIZE:_SIZE + 4] = BLOCK_SIZE.to_bytes(4, "little")
            image[_NEXT_FREE:_NEXT_FREE + 4] = head.to_bytes(4, "little")
            mmu.write(bh, bytes(image))
            head = bh
            made += 1
        if made:
            mmu.st32(free_p, head)
            for off in (BUFFER_LISTS.nr_free, BUFFER_LISTS.nr_buffers):
                mmu.st32(self.lists + off, mmu.ld32(self.lists + off) + made)
        return bool(made) or bool(mmu.ld32(free_p))

    def _free_buffer(self) -> int:
        """An unhashed buffer: a free one, a new one, or the oldest clean unused one evicted."""
        bh = self._pop_free()
        if bh or (self._new_slots() and (bh := self._pop_free())):
            return bh
        for _ in range(2):
            bh = self._clock()
            if bh:
                return bh
            self._bdflush()
        raise KernelBug("buffer cache exhausted: every buffer is in use")

    def _clock(self) -> int:
        """Evict a clean buffer: the hand is the clean ring's head (its oldest end); one in use,
        under I/O or touched since the hand last passed is passed over (its touch cleared) by
        moving the head past it, so it becomes the newest; the first other one is taken off
        the hash and the ring. Two turns at most (by ``nr_buffers_type``); 0 if none."""
        mmu = self.mmu
        ld32, st32 = mmu.ld32, mmu.st32
        head_p = self.lists + BUFFER_LISTS.lru_clean
        for _ in range(2 * min(ld32(self.lists + BUFFER_LISTS.nr_clean), MAX_BUFFERS)):
            bh = ld32(head_p)
            if not bh:
                return 0
            state = ld32(bh + _STATE)
            if not ld32(bh + _COUNT) and not state & (BH_DIRTY | BH_LOCK | BH_TOUCHED):
                self._hash_unlink(bh)
                self._lru_remove(bh)
                return bh
            if state & BH_TOUCHED:
                st32(bh + _STATE, state & ~BH_TOUCHED)
            st32(head_p, ld32(bh + _NEXT_FREE))
        return 0

    def _bdflush(self) -> None:
        """``write_some_buffers``: write back the oldest unreferenced dirty buffers and wait
        for them; clean ones it passes, and those it wrote, go back to the clean ring."""
        ld32 = self.mmu.ld32
        dirty = [bh for bh in self._sweep_dirty_ring() if not ld32(bh + _COUNT)][:FLUSH_BATCH]
        for bh in dirty:
            self.submit_bh(WRITE, bh)
        for bh in dirty:
            self.wait_on_buffer(bh)
            state = ld32(bh + _STATE)
            if not state & (BH_DIRTY | BH_LOCK):
                self._refile(bh, state)

    # -- walks for sync, bdflush and umount -------------------------------------------------
    def _sweep_dirty_ring(self) -> list[int]:
        """The dirty buffers on the dirty ring, oldest first; the written ones it passes (clean
        and unlocked) are refiled to the clean ring on the way (``write_some_buffers``)."""
        ld32 = self.mmu.ld32
        dirty = []
        for bh in list(self._lru_walk(BUF_DIRTY)):
            state = ld32(bh + _STATE)
            if state & BH_DIRTY:
                dirty.append(bh)
            elif not state & BH_LOCK:
                self._refile(bh, state)
        return dirty

    def _dirty_of(self, dev: int | None) -> list[tuple[int, int]]:
        """(block, bh) of the dirty buffers of ``dev`` (any if None) on the dirty ring, by
        block."""
        ld32, ld16 = self.mmu.ld32, self.mmu.ld16
        return sorted((ld32(bh + _BLOCKNR), bh) for bh in self._lru_walk(BUF_DIRTY)
                      if (dev is None or ld16(bh + _DEV) == dev)
                      and ld32(bh + _STATE) & BH_DIRTY)

    def dirty_count(self, dev: int | None = None) -> int:
        return len(self._dirty_of(dev))

    def invalidate_buffers(self, dev: int) -> list[int]:
        """Forget every unreferenced buffer of ``dev`` (dirty data is dropped, as in Linux);
        returns the blocks still referenced, which stay."""
        mmu = self.mmu
        ld32, ld16, st32 = mmu.ld32, mmu.ld16, mmu.st32
        busy = []
        dropped = []
        for blist in (BUF_CLEAN, BUF_DIRTY):
            ring = list(self._lru_walk(blist))
            gone = []
            for bh in ring:
                if ld16(bh + _DEV) != dev:
                    continue
                if ld32(bh + _COUNT):
                    busy.append(ld32(bh + _BLOCKNR))
                else:
                    gone.append(bh)
            if gone and len(gone) == len(ring):         # the whole ring goes (an umount)
                st32(self.lists + _LRU[blist], 0)
                st32(self.lists + _NR[blist], 0)
                for bh in gone:
                    st32(bh + _PREV_FREE, 0)
            else:
                for bh in gone:
                    self._lru_remove(bh)
            for bh in gone:
                self._hash_unlink(bh)
                st32(bh + _STATE, 0)
            dropped += gone
        if dropped:                                     # onto the free list, in that order
            free_p = self.lists + BUFFER_LISTS.free_list
            head = ld32(free_p)
            for bh in dropped:
                st32(bh + _NEXT_FREE, head)
                head = bh
            st32(free_p, head)
            nr_p = self.lists + BUFFER_LISTS.nr_free
            st32(nr_p, ld32(nr_p) + len(dropped))
        return sorted(busy)

    @property
    def nr_buffers(self) -> int:
        """How many buffer heads the cache has made (``nr_buffers``, read from memory)."""
        return self.mmu.ld32(self.lists + BUFFER_LISTS.nr_buffers)

    def pool_pages_of(self) -> list[int]:
        """Addresses of the buffer cache's data pages (what Nooks may grant a file system)."""
        return list(self.pool_pages)

    def check(self) -> None:
        """Integrity sweep (a diagnostic, never run by the kernel on its own): every hash chain
        links back through ``b_pprev`` and holds only blocks that hash to it, every buffer's
        data lies in the pool, and every lru ring closes after ``nr_buffers_type`` buffers,
        each on the ring ``b_list`` names. Raises :class:`KernelBug` at the first break."""
        mmu = self.mmu
        ld32, ld16 = mmu.ld32, mmu.ld16
        pool = {p >> PAGE_SHIFT for p in self.pool_pages}
        limit = ld32(self.lists + BUFFER_LISTS.nr_buffers)
        buckets = mmu.read(self.hash_table, 4 * BH_HASH_SIZE)       # one bulk read of the table
        for i in np.flatnonzero(np.frombuffer(buckets, dtype="<u4")).tolist():
            link = self.hash_table + 4 * i
            bh = ld32(link)
            seen = 0
            while bh:
                seen += 1
                if seen > limit:
                    raise KernelBug(f"buffer hash chain {i} does not end")
                if ld32(bh + _PPREV) != link:
                    raise KernelBug(f"buffer_head at {bh:#010x}: b_pprev does not point back "
                                    f"(hash chain {i})")
                dev, block = ld16(bh + _DEV), ld32(bh + _BLOCKNR)
                if bh_hashfn(dev, block) != i:
                    raise KernelBug(f"buffer_head at {bh:#010x}: block {block} on hash chain "
                                    f"{i}, not its own")
                if ld32(bh + _DATA) >> PAGE_SHIFT not in pool:
                    raise KernelBug(f"buffer_head at {bh:#010x}: b_data outside the pool")
                link = bh + _NEXT
                bh = ld32(link)
        for blist in (BUF_CLEAN, BUF_DIRTY):
            first = ld32(self.lists + _LRU[blist])
            n = ld32(self.lists + _NR[blist])
            if not first:
                if n:
                    raise KernelBug(f"lru list {blist} is empty but counts {n}")
                continue
            bh = first
            for _ in range(min(n, limit)):
                if ld16(bh + _LIST) != blist:
                    raise KernelBug(f"buffer_head at {bh:#010x} on lru list {blist} says "
                                    f"{ld16(bh + _LIST)}")
                nxt = ld32(bh + _NEXT_FREE)
                if ld32(nxt + _PREV_FREE) != bh:
                    raise KernelBug(f"lru list {blist} broken after {bh:#010x}")
                bh = nxt
            if bh != first:
                raise KernelBug(f"lru list {blist} does not close after {n} buffers")
