"""The block layer: the buffer cache's interface, and the in-kernel IDE driver.

Modelled on Linux 2.4's ``fs/buffer.c`` and ``drivers/ide``: a file system asks for a block with
``bread`` (or ``getblk`` when it will overwrite it whole), reads and writes the block's bytes at
``bh->b_data``, calls ``mark_buffer_dirty`` and drops its reference with ``brelse``. Dirty buffers
reach the disk later, in block order, when the file system is synced, unmounted, or the cache
needs room (what ``bdflush`` did). The cache's hash chains, lru rings and free list are kernel
data in simulated memory (:mod:`.buffer`); Python keeps the IDE request queue and which module
holds which reference (for recovery).

The data buffers come from a *dedicated* page pool (its own page owner, never shared with other
kernel objects), so an isolation layer can grant a file system exactly the pages of the buffer
cache. ``buffer_head`` structs sit on the kernel heap. The IDE driver is part of the kernel, as in
the paper (VFAT is the extension; the disk driver is not): it merges adjacent requests, builds a
PRD table for the bus-master DMA engine and completes requests from its interrupt handler.
"""
from __future__ import annotations

from ..machine.devices.disk import (CMD_READ, CMD_WRITE, IdeDisk, MAX_SECTORS, PRD_EOT,
                                    PRD_SIZE, REG_CMD, REG_COUNT, REG_LBA, REG_PRD, REG_STATUS,
                                    STATUS_ERROR)
from . import errno
from .buffer import (_BLOCKNR, _COUNT, _DATA, _DEV, _FRESH, _NEXT, _PPREV, _STATE, BH_DIRTY,
                     BH_LOCK, BH_REQ, BH_TOUCHED, BH_UPTODATE, BLOCK_SIZE, BUF_CLEAN, BUF_DIRTY,
                     BUFFER_HEAD, BUFFER_LISTS, FLUSH_BATCH, MAX_BUFFERS, READ, WRITE,
                     BufferLists, bh_hashfn)
from .panic import KernelBug
from .symbols import Arg, export, obj, scalar

__all__ = ["BH_DIRTY", "BH_LOCK", "BH_REQ", "BH_TOUCHED", "BH_UPTODATE", "BLOCK_SIZE",
           "BUF_CLEAN", "BUF_DIRTY", "BUFFER_HEAD", "BUFFER_LISTS", "BlockSubsystem",
           "FLUSH_BATCH", "HDA", "MAX_BUFFERS", "READ", "WRITE", "bh_hashfn"]

HDA = 0x0300                         # kdev_t of /dev/hda: major 3, minor 0
IDE_IRQ = 14
IO_TIMEOUT_S = 1.0                   # the IDE driver gives up on a request after this long


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


class BlockSubsystem(BufferLists):
    """Block devices, the buffer cache and the IDE driver of one kernel."""

    def __init__(self, kernel):
        self.k = kernel
        self.mmu = kernel.mmu
        self._init_lists(kernel)
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
            mmu.st32(entry, mmu.ld32(b + _DATA))
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
            # end_buffer_io_sync: unlock it (a written buffer goes back to the clean ring when
            # a walk of the dirty ring passes it, as write_some_buffers refiles it)
            state = mmu.ld32(bh + _STATE) & ~(BH_LOCK | BH_REQ)
            if rw == READ and not failed:
                state |= BH_UPTODATE
            if rw == WRITE and failed:
                state |= BH_DIRTY                           # keep it for another try
            mmu.st32(bh + _STATE, state)
        self._ide_start(drive)

    def unplug(self) -> None:
        """``run_task_queue(&tq_disk)``: start the queued requests of every idle drive."""
        for dev in sorted(self.drives):
            self._ide_start(self.drives[dev])

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
        bh = self._get_hash_table(dev, block, size)
        if not bh:
            bh = self._free_buffer()
            # its fields and __hash_link: b_next .. b_state in one store, then the back-links
            head = self.hash_table + 4 * bh_hashfn(dev, block)
            nxt = mmu.ld32(head)
            mmu.write(bh, _FRESH.pack(nxt, block, size, BUF_CLEAN, dev, 1, 0))
            if nxt:
                mmu.st32(nxt + _PPREV, bh + _NEXT)
            mmu.st32(head, bh)
            mmu.st32(bh + _PPREV, head)
            self._lru_insert(bh, BUF_CLEAN)
        else:
            state = mmu.ld32(bh + _STATE)
            if not state & BH_TOUCHED:                  # touch_buffer
                mmu.st32(bh + _STATE, state | BH_TOUCHED)
            mmu.st32(bh + _COUNT, mmu.ld32(bh + _COUNT) + 1)
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
        if self.mmu.ld32(bh + _STATE) & BH_UPTODATE:
            return bh
        self.submit_bh(READ, bh)
        self.wait_on_buffer(bh)
        if self.mmu.ld32(bh + _STATE) & BH_UPTODATE:
            return bh
        self.brelse(bh, owner)
        return 0

    @export(Arg("bh", "object", "buffer_head", nullable=True), releases="bh", owned=True)
    def brelse(self, bh: int, owner: str = "kernel") -> None:
        """Drop a reference to a buffer; NULL is ignored, as in Linux."""
        self.k.charge(self.k.cost.kernel_call)
        if not bh:
            return
        mmu = self.mmu
        count = mmu.ld32(bh + _COUNT)
        if count == 0:
            self.k.events.add("warning", owner, "VFS: brelse: Trying to free free buffer")
            return
        mmu.st32(bh + _COUNT, count - 1)
        self._hold(bh, owner, -1)

    @export(obj("bh", "buffer_head", "inout"))
    def mark_buffer_dirty(self, bh: int) -> None:
        """The caller changed the buffer's data: write it back later."""
        self.k.charge(self.k.cost.kernel_call)
        state = self.mmu.ld32(bh + _STATE)
        self.mmu.st32(bh + _STATE, state | BH_DIRTY | BH_UPTODATE)
        if not state & BH_DIRTY:
            self._refile(bh, state | BH_DIRTY)

    @export(obj("bh", "buffer_head", "inout"))
    def mark_buffer_uptodate(self, bh: int) -> None:
        """The caller filled the whole buffer (after getblk): its data is valid."""
        self.k.charge(self.k.cost.kernel_call)
        state = self.mmu.ld32(bh + _STATE)
        self.mmu.st32(bh + _STATE, state | BH_UPTODATE)

    @export(scalar("rw"), obj("bh", "buffer_head", "inout"))
    def submit_bh(self, rw: int, bh: int) -> None:
        """Queue a read or write of the buffer; the buffer is locked until the I/O completes."""
        self.k.charge(self.k.cost.kernel_call)
        mmu = self.mmu
        state = mmu.ld32(bh + _STATE)
        if state & BH_LOCK:
            self.wait_on_buffer(bh)
            state = mmu.ld32(bh + _STATE)
        if rw == WRITE:
            if not state & BH_DIRTY:
                return
            state &= ~BH_DIRTY
        elif state & BH_UPTODATE:
            return
        drive = self.drives.get(mmu.ld16(bh + _DEV))
        if drive is None:                    # a trampled b_dev: no such device (ll_rw_block)
            self.k.events.add("warning", "kernel", f"ll_rw_block: bad device in buffer_head "
                                                   f"{bh:#010x}")
            return
        mmu.st32(bh + _STATE, state | BH_LOCK | BH_REQ)
        # the queue stays plugged (so neighbours can merge) until someone waits: tq_disk
        drive.queue.append((mmu.ld32(bh + _BLOCKNR), WRITE if rw else READ, bh))

    @export(obj("bh", "buffer_head", "inout"), returns=scalar("ret"))
    def wait_on_buffer(self, bh: int) -> int:
        """Sleep until the buffer's I/O completes; 0, or -EIO if the disk never answers."""
        k = self.k
        if not self.mmu.ld32(bh + _STATE) & BH_LOCK:
            return 0
        if k.cpu.in_interrupt:
            raise KernelBug("scheduling while atomic (wait_on_buffer in interrupt context)")
        self.unplug()
        saved = k.cpu.irq_enabled
        k.cpu.irq_enabled = True                 # schedule() runs others with interrupts on
        deadline = k.clock.now + k.clock.cycles(IO_TIMEOUT_S)
        done = k.run_until(deadline, lambda: not self.mmu.ld32(bh + _STATE) & BH_LOCK)
        k.cpu.irq_enabled = saved
        return 0 if done else -errno.EIO

    @export(obj("bh", "buffer_head", "inout"), returns=scalar("ret"))
    def sync_dirty_buffer(self, bh: int) -> int:
        """Write the buffer now if it is dirty, and wait for it; 0 or -EIO."""
        self.submit_bh(WRITE, bh)
        ret = self.wait_on_buffer(bh)
        if ret == 0 and self.mmu.ld32(bh + _STATE) & BH_DIRTY:
            return -errno.EIO
        return ret

    @export(scalar("dev"), returns=scalar("ret"))
    def fsync_dev(self, dev: int) -> int:
        """Write every dirty buffer of ``dev`` to disk, in block order, and wait; 0 or -EIO."""
        self.k.charge(self.k.cost.kernel_call)
        dirty = self._dirty_of(dev)
        for _, bh in dirty:
            self.submit_bh(WRITE, bh)
        ret = 0
        ld32 = self.mmu.ld32
        for _, bh in dirty:
            ret = self.wait_on_buffer(bh) or ret
            if ld32(bh + _STATE) & BH_DIRTY:
                ret = -errno.EIO
        return ret

    # -- kernel-internal --------------------------------------------------------------------
    def release_holds(self, owner: str) -> int:
        """Drop every buffer reference ``owner`` holds (recovery); returns how many."""
        dropped = 0
        for (bh, who), n in sorted(self.holds.items()):
            if who == owner:
                for _ in range(n):
                    self.brelse(bh, owner)
                    dropped += 1
        return dropped

    def held_by(self, owner: str) -> list[str]:
        out = []
        for (bh, who), n in sorted(self.holds.items()):
            if who == owner:
                block = self.mmu.ld32(bh + _BLOCKNR)
                out.append(f"buffer_head {bh:#010x} (block {block}) x{n}")
        return out
