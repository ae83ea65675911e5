"""AMD PCnet-PCI II (Am79C970A) model: the pcnet32 of SOSP'03's Table 3.

As in AMD's data sheet and Linux 2.4's ``pcnet32.c`` (32-bit I/O mode): the station address is in
the APROM at offsets 0-5; control and status registers are reached *indirectly*, by writing the
register number to RAP and then reading or writing RDP (CSRs) or BDP (bus configuration
registers); the driver hands the card an *initialization block* (mode, ring sizes as log2, station
address, ring addresses) by putting its address in CSR1/CSR2 and setting CSR0.INIT; descriptors
(software style 2, 16 bytes) belong to the card while their OWN bit is set. CSR0 holds commands
(INIT, STRT, STOP, TDMD), the interrupt enable (IENA) and write-one-to-clear causes (TINT, RINT,
IDON, MISS). 100 Mbit/s; the PHY is reached through BCR33/BCR34.
"""
from __future__ import annotations

import struct

from .nic import NicDevice

APROM, RDP, RAP, RESET, BDP = 0x00, 0x10, 0x14, 0x18, 0x1C
CSR0_INIT, CSR0_STRT, CSR0_STOP, CSR0_TDMD = 0x0001, 0x0002, 0x0004, 0x0008
CSR0_TXON, CSR0_RXON, CSR0_IENA, CSR0_INTR = 0x0010, 0x0020, 0x0040, 0x0080
CSR0_IDON, CSR0_TINT, CSR0_RINT, CSR0_MERR, CSR0_MISS, CSR0_ERR = (
    0x0100, 0x0200, 0x0400, 0x0800, 0x1000, 0x8000)
CSR0_CAUSES = CSR0_IDON | CSR0_TINT | CSR0_RINT | CSR0_MERR | CSR0_MISS
DESC_OWN, DESC_ERR, DESC_STP, DESC_ENP = 0x8000, 0x4000, 0x0200, 0x0100
DESC_SIZE = 16
INIT_BLOCK_SIZE = 28
CHIP_ID = 0x2621003                         # CSR88/89 of the 79C970A
BCR_MIIADDR, BCR_MIIDATA = 33, 34

_INIT = struct.Struct("<HBB6sHIIII")
_DESC = struct.Struct("<IhHII")


class Pcnet32Device(NicDevice):
    vendor_id = 0x1022
    device_id = 0x2000
    irq_line = 10
    mmio_size = 0x20
    name = "pcnet32"
    speed = 100_000_000
    subnet = 2
    mac_prefix = b"\x00\x0c\x29"
    phy_id = (0x0022, 0x5610)

    def reset(self) -> None:
        self.gen = getattr(self, "gen", 0) + 1     # work scheduled before a reset is dropped
        self.rap = 0
        self.csr = {0: CSR0_STOP, 58: 0, 88: CHIP_ID & 0xFFFF, 89: CHIP_ID >> 16}
        self.bcr = {20: 0}
        self.station = b"\0" * 6
        self.rx_base = self.tx_base = 0
        self.rx_count = self.tx_count = 0
        self.rx_index = self.tx_index = 0
        self._tx_scheduled = False
        self._inflight: set[int] = set()

    # -- registers ------------------------------------------------------------------------
    def mmio_read(self, offset: int, size: int) -> int:
        if offset < 0x10:
            word = (self.mac + b"\0\0\0\0\0\0\x57\x57")[offset:offset + size]
            return int.from_bytes(word.ljust(size, b"\0"), "little")
        if offset == RAP:
            return self.rap
        if offset == RESET:
            self.reset()
            return 0
        if offset == RDP:
            return self._read_csr(self.rap)
        if offset == BDP:
            if self.rap == BCR_MIIDATA:
                return self.mii_read(self.bcr.get(BCR_MIIADDR, 0) & 0x1F)
            return self.bcr.get(self.rap, 0)
        return 0

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        if offset == RAP:
            self.rap = value & 0x7F
        elif offset == RDP:
            self._write_csr(self.rap, value & 0xFFFF)
        elif offset == BDP:
            self.bcr[self.rap] = value & 0xFFFF

    def _read_csr(self, n: int) -> int:
        if n == 0:
            c = self.csr[0] & ~(CSR0_INTR | CSR0_ERR)
            if c & CSR0_CAUSES:
                c |= CSR0_INTR
            if c & (CSR0_MERR | CSR0_MISS):
                c |= CSR0_ERR
            return c
        return self.csr.get(n, 0)

    def _write_csr(self, n: int, value: int) -> None:
        if n != 0:
            self.csr[n] = value
            return
        c = self.csr[0]
        c &= ~(value & CSR0_CAUSES)                 # write one to clear a cause
        c = (c & ~CSR0_IENA) | (value & CSR0_IENA)
        self.csr[0] = c
        if value & CSR0_STOP:
            self.csr[0] = (c | CSR0_STOP) & ~(CSR0_TXON | CSR0_RXON | CSR0_IENA)
            return
        if value & CSR0_INIT:
            self._init()
        if value & CSR0_STRT:
            self.csr[0] = (self.csr[0] | CSR0_STRT | CSR0_TXON | CSR0_RXON) & ~CSR0_STOP
        if value & CSR0_TDMD and not self._tx_scheduled:
            self._tx_scheduled = True
            self.soon(self._tx_poll)
        self._maybe_irq()

    def _init(self) -> None:
        iadr = self.csr.get(1, 0) | self.csr.get(2, 0) << 16
        block = self.dma_read(iadr, INIT_BLOCK_SIZE)
        mode, rlen, tlen, mac, _, _, _, rx_ring, tx_ring = _INIT.unpack(block)
        self.station = mac
        self.promisc = bool(mode & 0x8000)
        # the ring length codes go up to 512 entries (log2 9) on the 79C970A
        self.rx_count = 1 << min(rlen >> 4 & 0xF, 9)
        self.tx_count = 1 << min(tlen >> 4 & 0xF, 9)
        self.rx_base, self.tx_base = rx_ring, tx_ring
        self.rx_index = self.tx_index = 0
        self.csr[0] = (self.csr[0] | CSR0_IDON | CSR0_INIT) & ~CSR0_STOP

    # -- transmit: walk the ring while descriptors are OWNed by the card -------------------
    def _tx_poll(self) -> None:
        self._tx_scheduled = False
        if not self.csr[0] & CSR0_TXON or not self.tx_count:
            return
        mem = self.machine.memory.data
        frame = b""
        for _ in range(self.tx_count):
            desc = self.tx_base + self.tx_index * DESC_SIZE
            if desc <= 0 or desc + DESC_SIZE > len(mem):
                self.csr[0] |= CSR0_MERR
                break
            base, length, status, _, _ = _DESC.unpack_from(mem, desc)
            if not status & DESC_OWN or desc in self._inflight:
                break
            self._inflight.add(desc)
            frame += self.dma_read(base, min(-length & 0xFFF, 4096))
            self.tx_index = (self.tx_index + 1) % self.tx_count
            done = self.machine.clock.now
            if status & DESC_ENP:
                done = self.transmit(frame)
                frame = b""
            self.machine.clock.schedule_at(done, lambda d=desc, g=self.gen: self._tx_done(d, g),
                                           label="pcnet32 tx done")
        self._maybe_irq()

    def _tx_done(self, desc: int, gen: int) -> None:
        if gen != self.gen or not self.csr[0] & CSR0_TXON:
            return
        self._inflight.discard(desc)
        mem = self.machine.memory.data
        status = struct.unpack_from("<H", mem, desc + 6)[0]
        struct.pack_into("<H", mem, desc + 6, status & ~DESC_OWN)
        self.csr[0] |= CSR0_TINT
        self._maybe_irq()

    # -- receive ------------------------------------------------------------------------------
    def receive_frame(self, frame: bytes) -> None:
        if not self.csr[0] & CSR0_RXON or not self.rx_count:
            return
        mem = self.machine.memory.data
        desc = self.rx_base + self.rx_index * DESC_SIZE
        if desc <= 0 or desc + DESC_SIZE > len(mem):
            self.csr[0] |= CSR0_MERR
            self._maybe_irq()
            return
        base, length, status, _, _ = _DESC.unpack_from(mem, desc)
        if not status & DESC_OWN:                     # the driver has not given it back
            self.rx_dropped += 1
            self.csr[0] |= CSR0_MISS
            self._maybe_irq()
            return
        room = -length & 0xFFFF
        data = frame[:room]
        self.dma_write(base, data)
        err = DESC_ERR if len(frame) > room else 0
        _DESC.pack_into(mem, desc, base, length, DESC_STP | DESC_ENP | err, len(data) & 0xFFF, 0)
        self.rx_index = (self.rx_index + 1) % self.rx_count
        self.csr[0] |= CSR0_RINT
        self._maybe_irq()

    def _maybe_irq(self) -> None:
        if self.irq_pending():
            self.interrupt()

    def irq_pending(self) -> bool:
        return bool(self.csr[0] & CSR0_IENA and self.csr[0] & CSR0_CAUSES)
