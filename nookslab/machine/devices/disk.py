"""An IDE disk with a bus-master DMA controller: 512-byte sectors, a spinning platter, an interrupt.

The paper's test machine had one 7200 RPM 41 GB IDE disk (SOSP'03 section 5); ours spins at the
same speed but holds only a few MiB, enough for the compile-local workload. The platter is a byte
array held by the device (not RAM): the CPU never sees it, only DMA moves sectors between it and
RAM buffers.

Programming model (a simplified ATA task file plus a PIIX-style bus-master engine):

* write the first sector's LBA to ``REG_LBA``, the sector count to ``REG_COUNT`` and the address
  of a PRD table (physical region descriptors: ``u32 addr, u16 bytes, u16 flags`` with
  ``PRD_EOT`` on the last) to ``REG_PRD``, then ``CMD_READ`` or ``CMD_WRITE`` to ``REG_CMD``;
* the disk seeks, waits for the sector to come round, transfers, and raises its interrupt with
  ``STATUS_DONE`` (and ``STATUS_ERROR`` for a bad request) in ``REG_STATUS``; write the bits back
  to acknowledge.

Timing: seek + rotation + transfer, all from simulated time, so a run is exactly repeatable.
"""
from __future__ import annotations

import mmap
import struct

import numpy as np

from .base import PciDevice

SECTOR_SIZE = 512
DEFAULT_SECTORS = 32 * 1024          # 16 MiB: small, but FAT16 (more than 4084 clusters)

REG_CMD = 0x00
REG_STATUS = 0x04
REG_LBA = 0x08
REG_COUNT = 0x0C
REG_PRD = 0x10
REG_CAPACITY = 0x14                  # sectors (read-only)
REG_ID = 0x18
CMD_READ = 0xC8                      # ATA READ DMA
CMD_WRITE = 0xCA                     # ATA WRITE DMA
STATUS_DONE = 1
STATUS_ERROR = 2
STATUS_BUSY = 0x80
DISK_ID = 0x49444530                 # "IDE0"
PRD_EOT = 0x8000
PRD_SIZE = 8
MAX_SECTORS = 256                    # one ATA command moves at most 256 sectors

# Mechanics of a 7200 RPM IDE disk of the paper's era (the RPM is the paper's; the rest are
# estimates from data sheets of such drives): ~0.8 ms track-to-track and ~18 ms full-stroke seeks
# across the 41 GB platter, ~500 sectors per track (about 30 MB/s off the media), a track buffer
# for read-ahead and a write-back cache (on by default on IDE drives of the time).
RPM = 7200
SECTORS_PER_TRACK = 500
PAPER_DISK_BYTES = 41_000_000_000
TRACK_TO_TRACK_S = 0.0008
FULL_STROKE_S = 0.018
CONTROLLER_S = 0.00005               # command decode and DMA set-up
BUS_BYTES_PER_S = 33_000_000         # UDMA/33: transfers to and from the drive's buffer


class IdeDisk(PciDevice):
    """A PCI IDE controller with one disk on its primary channel (IRQ 14, as on a PC).

    Parameters
    ----------
    sectors: capacity in 512-byte sectors.
    """

    vendor_id = 0x8086               # Intel PIIX4 IDE
    device_id = 0x7111
    irq_line = 14
    mmio_size = 0x100
    name = "hda"

    def __init__(self, sectors: int = DEFAULT_SECTORS):
        super().__init__()
        self.sectors = int(sectors)
        # An anonymous mapping: the pages of a fresh platter are zero and cost nothing until
        # written (np.zeros may instead memset 16 MiB of recycled heap on every boot).
        self._store = np.frombuffer(mmap.mmap(-1, self.sectors * SECTOR_SIZE), dtype=np.uint8)
        self.platter = memoryview(self._store)
        self.track = 0
        self.buffered = -1
        self.reads = 0
        self.writes = 0
        self.sectors_moved = 0

    # -- timing ------------------------------------------------------------------------------
    def service_cycles(self, lba: int, count: int, now: int, read: bool = False) -> int:
        """Cycles from a command at ``now`` to its completion: seek, rotation, transfer.

        A read leaves its last track in the drive's buffer; a later read within that track is
        served from the buffer at bus speed, with no seek or rotation (drive read-ahead). A
        write completes at bus speed into the drive's write-back cache."""
        hz = self.machine.clock.hz
        rev = hz * 60 // RPM
        per_sector = rev // SECTORS_PER_TRACK
        tracks = PAPER_DISK_BYTES // (SECTORS_PER_TRACK * SECTOR_SIZE)
        target = lba // SECTORS_PER_TRACK
        bus = int(CONTROLLER_S * hz) + count * SECTOR_SIZE * hz // BUS_BYTES_PER_S
        if not read:
            # write-back cache: the command completes once the data is in the drive's buffer
            self.buffered = -1
            return bus
        if target == self.buffered and (lba + count - 1) // SECTORS_PER_TRACK == target:
            # the drive read the whole track into its buffer last time (read-ahead)
            return bus
        distance = abs(target - self.track)
        t = int(CONTROLLER_S * hz)
        if distance:
            # seek time grows with the square root of the distance (arm acceleration)
            t += int((TRACK_TO_TRACK_S + (FULL_STROKE_S - TRACK_TO_TRACK_S)
                      * (distance / tracks) ** 0.5) * hz)
        angle_now = (now + t) % rev
        angle_sector = (lba % SECTORS_PER_TRACK) * per_sector
        t += (angle_sector - angle_now) % rev
        t += count * per_sector
        self.track = (lba + count - 1) // SECTORS_PER_TRACK
        self.buffered = self.track
        return t

    # -- registers ---------------------------------------------------------------------------
    def reset(self) -> None:
        self.status = 0
        self.lba = 0
        self.count = 0
        self.prd = 0
        self.busy = False

    def mmio_read(self, offset: int, size: int) -> int:
        if offset == REG_STATUS:
            return self.status | (STATUS_BUSY if self.busy else 0)
        return {REG_LBA: self.lba, REG_COUNT: self.count, REG_PRD: self.prd,
                REG_CAPACITY: self.sectors, REG_ID: DISK_ID}.get(offset, 0)

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        if offset == REG_LBA:
            self.lba = value
        elif offset == REG_COUNT:
            self.count = value
        elif offset == REG_PRD:
            self.prd = value
        elif offset == REG_STATUS:
            self.status &= ~value
        elif offset == REG_CMD and value in (CMD_READ, CMD_WRITE) and not self.busy:
            self._start(value)

    # -- the transfer --------------------------------------------------------------------------
    def _regions(self) -> list[tuple[int, int]] | None:
        """The PRD table, read by DMA: (address, bytes) pairs, or None if it is malformed."""
        regions: list[tuple[int, int]] = []
        addr = self.prd
        for _ in range(MAX_SECTORS):
            base, nbytes, flags = struct.unpack("<IHH", self.dma_read(addr, PRD_SIZE))
            nbytes = nbytes or 0x10000
            regions.append((base, nbytes))
            if flags & PRD_EOT:
                return regions
            addr += PRD_SIZE
        return None

    def _start(self, cmd: int) -> None:
        self.busy = True
        lba, count = self.lba, self.count
        regions = self._regions()
        ok = (regions is not None and 0 < count <= MAX_SECTORS and lba + count <= self.sectors
              and sum(n for _, n in regions) == count * SECTOR_SIZE)
        delay = (self.service_cycles(lba, count, self.machine.clock.now, cmd == CMD_READ)
                 if ok else 1000)
        payload = None
        if ok and cmd == CMD_WRITE:
            # the controller streams the buffers out as the transfer starts
            payload = b"".join(self.dma_read(a, n) for a, n in regions)
        self.after(delay, lambda: self._complete(cmd, lba, count, regions if ok else None,
                                                 payload), "disk done")

    def _complete(self, cmd: int, lba: int, count: int, regions, payload) -> None:
        self.busy = False
        if regions is None:
            self.status |= STATUS_ERROR | STATUS_DONE
            self.raise_irq()
            return
        start = lba * SECTOR_SIZE
        if cmd == CMD_WRITE:
            self.platter[start:start + len(payload)] = payload
            self.writes += 1
        else:
            pos = start
            for addr, n in regions:
                if not self.dma_write(addr, bytes(self.platter[pos:pos + n])):
                    self.status |= STATUS_ERROR
                pos += n
            self.reads += 1
        self.sectors_moved += count
        self.status |= STATUS_DONE
        self.raise_irq()

    # -- for tools and tests (the disk image, as `dd` would see it) --------------------------
    def image(self) -> memoryview:
        """The platter's bytes (writable): what mkfs/fsck operate on while nothing is mounted."""
        return self.platter
