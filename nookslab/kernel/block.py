"""The block layer: ``buffer_head``, the buffer cache, and the in-kernel IDE driver.

Modelled on Linux 2.4's ``fs/buffer.c`` and ``drivers/ide``: a file system asks for a block with
``bread`` (or ``getblk`` when it will overwrite it whole), reads and writes the block's bytes at
``bh->b_data``, calls ``mark_buffer_dirty`` and drops its reference with ``brelse``. Dirty buffers
reach the disk later, in block order, when the file system is synced, unmounted, or the cache
needs room (what ``bdflush`` did).

The data buffers come from a *dedicated* page pool (its own page owner, never shared with other
kernel objects), so an isolation layer can grant a file system exactly the pages of the buffer
cache. ``buffer_head`` structs sit on the kernel heap. The IDE driver is part of the kernel, as in
the paper (VFAT is the extension; the disk driver is not): it merges adjacent requests, builds a
PRD table for the bus-master DMA engine and completes requests from its interrupt handler.
"""
from __future__ import annotations

from collections import OrderedDict

from ..machine.devices.disk import (CMD_READ, CMD_WRITE, IdeDisk, MAX_SECTORS, PRD_EOT,
                                    PRD_SIZE, REG_CMD, REG_COUNT, REG_LBA, REG_PRD, REG_STATUS,
                                    SECTOR_SIZE, STATUS_ERROR)
from ..machine.memory import PAGE_SIZE, OutOfMemory
from . import errno
from .panic import KernelBug
from .structs import Layout
from .symbols import Arg, export, obj, scalar

BH_MAGIC = 0x42484541                # "BHEA": lets the integrity sweep spot a trampled head
BH_UPTODATE = 1
BH_DIRTY = 2
BH_LOCK = 4
BH_REQ = 8

READ = 0
WRITE = 1

BUFFER_HEAD = Layout("buffer_head", [
    ("b_blocknr", "u32"), ("b_size", "u32"), ("b_dev", "u32"), ("b_state", "u32"),
    ("b_count", "u32"), ("b_data", "ptr"), ("b_magic", "u32"),
])

HDA = 0x0300                         # kdev_t of /dev/hda: major 3, minor 0
BLOCK_SIZE = 512                     # the only block size this cache serves (FAT's sector size)
MAX_BUFFERS = 2048                   # 1 MiB of buffer cache
FLUSH_BATCH = 128                    # dirty buffers bdflush writes per round
IDE_IRQ = 14
IO_TIMEOUT_S = 1.0                   # the IDE driver gives up on a request after this long


class BadBuffer(Exception):
    """A pointer passed as a ``buffer_head`` is not one (a wild or stale pointer)."""


class IdeDrive:
    """The kernel's view of one disk: its device, its request queue and the request in flight."""

    def __init__(self, dev: int, disk: IdeDisk, prd: int):
        self.dev = dev
        self.disk = disk
        self.prd = prd
        self.regs = disk.mmio_base
        self.queue: list[tuple[int, int, int]] = []     # (block, rw, bh)
        self.active: tuple[int, list[int]] | None = None
        self.errors = 0


class BlockSubsystem:
    """Block devices, the buffer cache and the IDE driver of one kernel."""

    def __init__(self, kernel):
        self.k = kernel
        self.mmu = kernel.mmu
        self.pool_owner = kernel.machine.pages.new_owner("buffer cache")
        self.pool_pages: list[int] = []
        self.free_slots: list[int] = []                  # (b_data, bh) of unhashed buffers
        self.hash: dict[tuple[int, int], int] = {}       # (dev, block) -> bh
        self.lru: OrderedDict[int, None] = OrderedDict()  # unreferenced hashed buffers, oldest first
        self.heads: dict[int, int] = {}                  # bh -> b_data (every head ever made)
        self.holds: dict[tuple[int, str], int] = {}      # (bh, owner) -> references held
        self.blocksize: dict[int, int] = {}
        self.drives: dict[int, IdeDrive] = {}
        self.ios = 0
        kernel.object_types[BUFFER_HEAD.name] = BUFFER_HEAD
        self._ide_probe(kernel)

    # -- the IDE driver (in the kernel, not an extension) --------------------------------------
    def _ide_probe(self, kernel) -> None:
        disk = kernel.machine.attach("hda", IdeDisk())
        prd = kernel.machine.pages.alloc(1, kernel.machine.pages.new_owner("ide dma"))
        drive = IdeDrive(HDA, disk, prd)
        self.drives[HDA] = drive
        self.blocksize[HDA] = BLOCK_SIZE
        kernel.irqs.request_irq(IDE_IRQ, self._ide_intr, 0, "ide0", HDA)

    def disk(self, dev: int = HDA) -> IdeDisk:
        """The disk device behind ``dev`` (for tools that work on the raw image)."""
        return self.drives[dev].disk

    def dev_of(self, name: str) -> int:
        """``kdev_t`` of a block device name (``"hda"`` or ``"/dev/hda"``); 0 if unknown."""
        name = str(name).removeprefix("/dev/")
        for dev, drive in self.drives.items():
            if drive.disk.name == name:
                return dev
        return 0

    def _ide_start(self, drive: IdeDrive) -> None:
        """Elevator: start the lowest queued block and every adjacent one with the same direction."""
        if drive.active is not None or not drive.queue:
            return
        drive.queue.sort()
        block, rw, bh = drive.queue.pop(0)
        batch = [bh]
        while drive.queue and len(batch) < MAX_SECTORS:
            nblock, nrw, nbh = drive.queue[0]
            if nblock != block + len(batch) or nrw != rw:
                break
            drive.queue.pop(0)
            batch.append(nbh)
        mmu = self.mmu
        for i, b in enumerate(batch):
            entry = drive.prd + i * PRD_SIZE
            mmu.st32(entry, mmu.ld32(b + BUFFER_HEAD.b_data))
            mmu.st16(entry + 4, BLOCK_SIZE)
            mmu.st16(entry + 6, PRD_EOT if i == len(batch) - 1 else 0)
        drive.active = (rw, batch)
        regs = drive.regs
        mmu.st32(regs + REG_LBA, block)
        mmu.st32(regs + REG_COUNT, len(batch))
        mmu.st32(regs + REG_PRD, drive.prd)
        mmu.st32(regs + REG_CMD, CMD_WRITE if rw == WRITE else CMD_READ)
        self.ios += 1

    def _ide_intr(self, irq: int, dev_id: int) -> None:
        drive = self.drives[dev_id]
        mmu = self.mmu
        status = mmu.ld32(drive.regs + REG_STATUS)
        mmu.st32(drive.regs + REG_STATUS, status)          # acknowledge
        if drive.active is None:
            return
        rw, batch = drive.active
        drive.active = None
        failed = bool(status & STATUS_ERROR)
        drive.errors += failed
        for bh in batch:
            state = mmu.ld32(bh + BUFFER_HEAD.b_state) & ~(BH_LOCK | BH_REQ)
            if rw == READ and not failed:
                state |= BH_UPTODATE
            if rw == WRITE and failed:
                state |= BH_DIRTY                           # keep it for another try
            mmu.st32(bh + BUFFER_HEAD.b_state, state)
        self._ide_start(drive)

    def unplug(self) -> None:
        """``run_task_queue(&tq_disk)``: start the queued requests of every idle drive."""
        for dev in sorted(self.drives):
            self._ide_start(self.drives[dev])

    # -- buffer heads ----------------------------------------------------------------------
    def _check_bh(self, bh: int) -> None:
        if bh not in self.heads:
            raise BadBuffer(f"{bh:#010x} is not a buffer_head")
        if self.mmu.ld32(bh + BUFFER_HEAD.b_magic) != BH_MAGIC:
            raise KernelBug(f"buffer_head at {bh:#010x}: bad magic")

    def _new_slots(self) -> bool:
        """Grow the pool by one page (eight buffers); False when it is at its limit."""
        if len(self.heads) >= MAX_BUFFERS:
            return False
        k = self.k
        try:
            page = k.machine.pages.alloc(1, self.pool_owner)
        except OutOfMemory:
            return False
        if k.isolation is not None and hasattr(k.isolation, "buffer_pages_added"):
            k.isolation.buffer_pages_added(page, 1)         # Nooks hook: grantable pages
        self.pool_pages.append(page)
        for i in range(PAGE_SIZE // BLOCK_SIZE):
            bh = k.heap.kmalloc(BUFFER_HEAD.size, "kernel")
            if not bh:
                return bool(self.free_slots)
            self.mmu.st32(bh + BUFFER_HEAD.b_data, page + i * BLOCK_SIZE)
            self.mmu.st32(bh + BUFFER_HEAD.b_magic, BH_MAGIC)
            self.mmu.st32(bh + BUFFER_HEAD.b_count, 0)
            self.heads[bh] = page + i * BLOCK_SIZE
            self.free_slots.append(bh)
        return True

    def _free_buffer(self) -> int:
        """An unhashed buffer: a free one, a new one, or the oldest clean unused one evicted."""
        if self.free_slots or self._new_slots():
            return self.free_slots.pop()
        for _ in range(2):
            for bh in self.lru:
                state = self.mmu.ld32(bh + BUFFER_HEAD.b_state)
                if not state & (BH_DIRTY | BH_LOCK):
                    del self.lru[bh]
                    key = (self.mmu.ld32(bh + BUFFER_HEAD.b_dev),
                           self.mmu.ld32(bh + BUFFER_HEAD.b_blocknr))
                    self.hash.pop(key, None)
                    return bh
            self._bdflush()
        raise KernelBug("buffer cache exhausted: every buffer is in use")

    def _bdflush(self) -> None:
        """Write back the oldest unreferenced dirty buffers and wait for them."""
        dirty = [bh for bh in self.lru
                 if self.mmu.ld32(bh + BUFFER_HEAD.b_state) & BH_DIRTY][:FLUSH_BATCH]
        for bh in dirty:
            self.submit_bh(WRITE, bh)
        for bh in dirty:
            self.wait_on_buffer(bh)

    def _hold(self, bh: int, owner: str, delta: int) -> None:
        key = (bh, owner)
        n = self.holds.get(key, 0) + delta
        if n > 0:
            self.holds[key] = n
        else:
            self.holds.pop(key, None)

    # -- exported: the buffer cache interface --------------------------------------------------
    @export(scalar("dev"), scalar("size"), returns=scalar("ret"))
    def set_blocksize(self, dev: int, size: int) -> int:
        """Set the block size of ``dev``; this cache serves 512-byte blocks only (else -EINVAL)."""
        self.k.charge(self.k.cost.kernel_call)
        if dev not in self.drives or size != BLOCK_SIZE:
            return -errno.EINVAL
        self.blocksize[dev] = size
        return 0

    @export(scalar("dev"), scalar("block"), scalar("size"),
            returns=Arg("bh", "object", "buffer_head", nullable=True), creates="buffer_head",
            owned=True)
    def getblk(self, dev: int, block: int, size: int, owner: str = "kernel") -> int:
        """The buffer for ``block`` of ``dev``, referenced, possibly not read yet; 0 on error."""
        self.k.charge(self.k.cost.kernel_call)
        drive = self.drives.get(dev)
        if drive is None or size != BLOCK_SIZE or not 0 <= block < drive.disk.sectors:
            return 0
        mmu = self.mmu
        bh = self.hash.get((dev, block))
        if bh is None:
            bh = self._free_buffer()
            mmu.st32(bh + BUFFER_HEAD.b_blocknr, block)
            mmu.st32(bh + BUFFER_HEAD.b_size, size)
            mmu.st32(bh + BUFFER_HEAD.b_dev, dev)
            mmu.st32(bh + BUFFER_HEAD.b_state, 0)
            mmu.st32(bh + BUFFER_HEAD.b_count, 0)
            self.hash[(dev, block)] = bh
        else:
            self._check_bh(bh)
            self.lru.pop(bh, None)
        mmu.st32(bh + BUFFER_HEAD.b_count, mmu.ld32(bh + BUFFER_HEAD.b_count) + 1)
        self._hold(bh, owner, 1)
        return bh

    @export(scalar("dev"), scalar("block"), scalar("size"),
            returns=Arg("bh", "object", "buffer_head", nullable=True), creates="buffer_head",
            owned=True)
    def bread(self, dev: int, block: int, size: int, owner: str = "kernel") -> int:
        """Read ``block`` of ``dev`` into the cache (if it is not there) and return its buffer
        referenced; 0 (NULL) on an I/O error or a bad block number."""
        bh = self.getblk(dev, block, size, owner)
        if not bh:
            return 0
        if self.mmu.ld32(bh + BUFFER_HEAD.b_state) & BH_UPTODATE:
            return bh
        self.submit_bh(READ, bh)
        self.wait_on_buffer(bh)
        if self.mmu.ld32(bh + BUFFER_HEAD.b_state) & BH_UPTODATE:
            return bh
        self.brelse(bh, owner)
        return 0

    @export(Arg("bh", "object", "buffer_head", nullable=True), releases="bh", owned=True)
    def brelse(self, bh: int, owner: str = "kernel") -> None:
        """Drop a reference to a buffer; NULL is ignored, as in Linux."""
        self.k.charge(self.k.cost.kernel_call)
        if not bh:
            return
        self._check_bh(bh)
        mmu = self.mmu
        count = mmu.ld32(bh + BUFFER_HEAD.b_count)
        if count == 0:
            self.k.events.add("warning", owner, "VFS: brelse: Trying to free free buffer")
            return
        mmu.st32(bh + BUFFER_HEAD.b_count, count - 1)
        self._hold(bh, owner, -1)
        if count == 1:
            self.lru[bh] = None
            self.lru.move_to_end(bh)

    @export(obj("bh", "buffer_head", "inout"))
    def mark_buffer_dirty(self, bh: int) -> None:
        """The caller changed the buffer's data: write it back later."""
        self.k.charge(self.k.cost.kernel_call)
        self._check_bh(bh)
        state = self.mmu.ld32(bh + BUFFER_HEAD.b_state)
        self.mmu.st32(bh + BUFFER_HEAD.b_state, state | BH_DIRTY | BH_UPTODATE)

    @export(obj("bh", "buffer_head", "inout"))
    def mark_buffer_uptodate(self, bh: int) -> None:
        """The caller filled the whole buffer (after getblk): its data is valid."""
        self.k.charge(self.k.cost.kernel_call)
        self._check_bh(bh)
        state = self.mmu.ld32(bh + BUFFER_HEAD.b_state)
        self.mmu.st32(bh + BUFFER_HEAD.b_state, state | BH_UPTODATE)

    @export(scalar("rw"), obj("bh", "buffer_head", "inout"))
    def submit_bh(self, rw: int, bh: int) -> None:
        """Queue a read or write of the buffer; the buffer is locked until the I/O completes."""
        self.k.charge(self.k.cost.kernel_call)
        self._check_bh(bh)
        mmu = self.mmu
        state = mmu.ld32(bh + BUFFER_HEAD.b_state)
        if state & BH_LOCK:
            self.wait_on_buffer(bh)
            state = mmu.ld32(bh + BUFFER_HEAD.b_state)
        if rw == WRITE:
            if not state & BH_DIRTY:
                return
            state &= ~BH_DIRTY
        elif state & BH_UPTODATE:
            return
        mmu.st32(bh + BUFFER_HEAD.b_state, state | BH_LOCK | BH_REQ)
        dev = mmu.ld32(bh + BUFFER_HEAD.b_dev)
        drive = self.drives[dev]
        # the queue stays plugged (so neighbours can merge) until someone waits: tq_disk
        drive.queue.append((mmu.ld32(bh + BUFFER_HEAD.b_blocknr), WRITE if rw else READ, bh))

    @export(obj("bh", "buffer_head", "inout"), returns=scalar("ret"))
    def wait_on_buffer(self, bh: int) -> int:
        """Sleep until the buffer's I/O completes; 0, or -EIO if the disk never answers."""
        self._check_bh(bh)
        k = self.k
        if not self.mmu.ld32(bh + BUFFER_HEAD.b_state) & BH_LOCK:
            return 0
        if k.cpu.in_interrupt:
            raise KernelBug("scheduling while atomic (wait_on_buffer in interrupt context)")
        self.unplug()
        saved = k.cpu.irq_enabled
        k.cpu.irq_enabled = True                 # schedule() runs others with interrupts on
        deadline = k.clock.now + k.clock.cycles(IO_TIMEOUT_S)
        done = k.run_until(deadline,
                           lambda: not self.mmu.ld32(bh + BUFFER_HEAD.b_state) & BH_LOCK)
        k.cpu.irq_enabled = saved
        return 0 if done else -errno.EIO

    @export(obj("bh", "buffer_head", "inout"), returns=scalar("ret"))
    def sync_dirty_buffer(self, bh: int) -> int:
        """Write the buffer now if it is dirty, and wait for it; 0 or -EIO."""
        self.submit_bh(WRITE, bh)
        ret = self.wait_on_buffer(bh)
        if ret == 0 and self.mmu.ld32(bh + BUFFER_HEAD.b_state) & BH_DIRTY:
            return -errno.EIO
        return ret

    @export(scalar("dev"), returns=scalar("ret"))
    def fsync_dev(self, dev: int) -> int:
        """Write every dirty buffer of ``dev`` to disk, in block order, and wait; 0 or -EIO."""
        self.k.charge(self.k.cost.kernel_call)
        mmu = self.mmu
        dirty = sorted((blk, bh) for (d, blk), bh in self.hash.items()
                       if d == dev and mmu.ld32(bh + BUFFER_HEAD.b_state) & BH_DIRTY)
        for _, bh in dirty:
            self.submit_bh(WRITE, bh)
        ret = 0
        for _, bh in dirty:
            ret = self.wait_on_buffer(bh) or ret
            if mmu.ld32(bh + BUFFER_HEAD.b_state) & BH_DIRTY:
                ret = -errno.EIO
        return ret

    # -- kernel-internal --------------------------------------------------------------------
    def dirty_count(self, dev: int | None = None) -> int:
        return sum(1 for (d, _), bh in self.hash.items() if (dev is None or d == dev)
                   and self.mmu.ld32(bh + BUFFER_HEAD.b_state) & BH_DIRTY)

    def invalidate_buffers(self, dev: int) -> list[int]:
        """Forget every unreferenced buffer of ``dev`` (dirty data is dropped, as in Linux);
        returns the blocks still referenced, which stay."""
        busy = []
        for (d, block), bh in sorted(self.hash.items()):
            if d != dev:
                continue
            if self.mmu.ld32(bh + BUFFER_HEAD.b_count):
                busy.append(block)
                continue
            del self.hash[(d, block)]
            self.lru.pop(bh, None)
            self.mmu.st32(bh + BUFFER_HEAD.b_state, 0)
            self.free_slots.append(bh)
        return busy

    def release_holds(self, owner: str) -> int:
        """Drop every buffer reference ``owner`` holds (recovery); returns how many."""
        dropped = 0
        for (bh, who), n in sorted(self.holds.items()):
            if who == owner:
                for _ in range(n):
                    self.brelse(bh, owner)
                    dropped += 1
        return dropped

    def pool_pages_of(self) -> list[int]:
        """Addresses of the buffer cache's data pages (what Nooks may grant a file system)."""
        return list(self.pool_pages)

    def held_by(self, owner: str) -> list[str]:
        out = []
        for (bh, who), n in sorted(self.holds.items()):
            if who == owner:
                block = self.mmu.ld32(bh + BUFFER_HEAD.b_blocknr)
                out.append(f"buffer_head {bh:#010x} (block {block}) x{n}")
        return out

    def check(self) -> None:
        """Integrity sweep: every hashed buffer's head is intact and matches its hash key."""
        mmu = self.mmu
        for (dev, block), bh in self.hash.items():
            if mmu.ld32(bh + BUFFER_HEAD.b_magic) != BH_MAGIC:
                raise KernelBug(f"buffer_head at {bh:#010x}: bad magic")
            if (mmu.ld32(bh + BUFFER_HEAD.b_blocknr) != block
                    or mmu.ld32(bh + BUFFER_HEAD.b_dev) != dev
                    or mmu.ld32(bh + BUFFER_HEAD.b_data) != self.heads[bh]):
                raise KernelBug(f"buffer_head at {bh:#010x}: corrupted (block {block})")
