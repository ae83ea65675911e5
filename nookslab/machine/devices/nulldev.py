"""The "null device": the smallest device that still has registers, DMA and an interrupt.

Give it a buffer address and a length, write GO, and a little later it raises its interrupt with
the CRC-32 of the bytes it fetched by DMA in its RESULT register. It exists so the foundation's
example driver exercises the loader, an IRQ, a timer, a private struct and a lock end to end.
"""
from __future__ import annotations

import zlib

from .base import PciDevice

REG_CTRL = 0x00          # write CTRL_GO to start a transfer
REG_STATUS = 0x04        # STATUS_DONE | STATUS_ERROR; write 1s to clear (acknowledges the IRQ)
REG_DMA_ADDR = 0x08
REG_LEN = 0x0C
REG_RESULT = 0x10
REG_ID = 0x14
CTRL_GO = 1
STATUS_DONE = 1
STATUS_ERROR = 2
NULLDEV_ID = 0x4E554C4C  # "NULL"
MAX_LEN = 64 * 1024


class NullDevice(PciDevice):
    vendor_id = 0x1AF4
    device_id = 0x0001
    irq_line = 9
    mmio_size = 0x100
    name = "nulldev"

    def __init__(self, latency_cycles: int = 3_000):
        super().__init__()
        self.latency = latency_cycles
        self.transfers = 0

    def reset(self) -> None:
        self.status = 0
        self.dma_addr = 0
        self.length = 0
        self.result = 0
        self.busy = False

    def mmio_read(self, offset: int, size: int) -> int:
        return {REG_STATUS: self.status, REG_DMA_ADDR: self.dma_addr, REG_LEN: self.length,
                REG_RESULT: self.result, REG_ID: NULLDEV_ID}.get(offset, 0)

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        if offset == REG_DMA_ADDR:
            self.dma_addr = value
        elif offset == REG_LEN:
            self.length = value
        elif offset == REG_STATUS:
            self.status &= ~value
        elif offset == REG_CTRL and value & CTRL_GO and not self.busy:
            self.busy = True
            # Fetching the buffer takes time proportional to its length (about 1 byte/cycle).
            self.after(self.latency + min(self.length, MAX_LEN), self._complete, "nulldev done")

    def _complete(self) -> None:
        self.busy = False
        if not 0 < self.length <= MAX_LEN:
            self.status |= STATUS_ERROR | STATUS_DONE
        else:
            self.result = zlib.crc32(self.dma_read(self.dma_addr, self.length))
            self.status |= STATUS_DONE
            self.transfers += 1
        self.raise_irq()
