"""Intel PRO/1000 (82540EM) model: the e1000 of SOSP'03's Table 3 and its network benchmarks.

Register interface as in Intel's 8254x manual and Linux 2.4's ``e1000_hw.h``: memory-mapped
registers; legacy 16-byte descriptors in two rings whose base and length the driver programs
(TDBAL/TDLEN, RDBAL/RDLEN) and which the card and driver share through head and tail registers
(the card owns [head, tail)); the cause register ICR is cleared by reading it; IMS/IMC set and
clear the interrupt mask; ITR throttles interrupts (in 256 ns units); the MAC address comes from
the EEPROM through EERD; the PHY is reached through MDIC. 1 Gbit/s.
"""
from __future__ import annotations

import struct

from .nic import NicDevice

CTRL, STATUS, EERD, MDIC = 0x0000, 0x0008, 0x0014, 0x0020
ICR, ITR, ICS, IMS, IMC = 0x00C0, 0x00C4, 0x00C8, 0x00D0, 0x00D8
RCTL, TCTL = 0x0100, 0x0400
RDBAL, RDBAH, RDLEN, RDH, RDT = 0x2800, 0x2804, 0x2808, 0x2810, 0x2818
TDBAL, TDBAH, TDLEN, TDH, TDT = 0x3800, 0x3804, 0x3808, 0x3810, 0x3818
MTA, RAL0, RAH0 = 0x5200, 0x5400, 0x5404
MPC = 0x4010                               # missed packets count (read to clear)

CTRL_RST = 0x04000000
STATUS_FD, STATUS_LU, STATUS_SPEED_1000 = 0x01, 0x02, 0x80
EERD_START, EERD_DONE = 0x01, 0x10
MDIC_OP_WRITE, MDIC_OP_READ, MDIC_READY = 0x04000000, 0x08000000, 0x10000000
ICR_TXDW, ICR_TXQE, ICR_LSC, ICR_RXO, ICR_RXT0 = 0x01, 0x02, 0x04, 0x40, 0x80
RCTL_EN, RCTL_UPE, RCTL_MPE, RCTL_BAM = 0x02, 0x08, 0x10, 0x8000
TCTL_EN, TCTL_PSP = 0x02, 0x08
RAH_AV = 0x80000000
TXD_CMD_EOP, TXD_CMD_IFCS, TXD_CMD_RS = 0x01, 0x02, 0x08
TXD_STAT_DD = 0x01
RXD_STAT_DD, RXD_STAT_EOP = 0x01, 0x02
RXD_ERR_CE = 0x01
DESC_SIZE = 16
RX_BUFFER = 2048                           # RCTL.BSIZE's default
MAX_RING_BYTES = 4096 * DESC_SIZE          # the 8254x's largest ring: 4096 descriptors

_TXD = struct.Struct("<QHBBBBH")
_RXD = struct.Struct("<QHHBBH")


class E1000Device(NicDevice):
    vendor_id = 0x8086
    device_id = 0x100E
    irq_line = 12
    mmio_size = 0x6000
    name = "e1000"
    speed = 1_000_000_000
    subnet = 1
    mac_prefix = b"\x00\x0e\x0c"               # an Intel OUI
    phy_id = (0x0141, 0x0C20)                  # Marvell 88E1011, the 82540's PHY

    def reset(self) -> None:
        self.gen = getattr(self, "gen", 0) + 1     # work scheduled before a reset is dropped
        self.regs: dict[int, int] = {}
        self.station = b"\0" * 6
        self.promisc = False
        self.eeprom = [0] * 64
        for i in range(3):
            self.eeprom[i] = self.mac[2 * i] | self.mac[2 * i + 1] << 8
        self.eeprom[63] = (0xBABA - sum(self.eeprom[:63])) & 0xFFFF
        self._tx_scheduled = False

    # -- registers --------------------------------------------------------------------------
    def mmio_read(self, offset: int, size: int) -> int:
        r = self.regs
        if offset == ICR:                      # read to clear
            value = r.get(ICR, 0)
            r[ICR] = 0
            return value
        if offset == STATUS:
            return STATUS_FD | STATUS_SPEED_1000 | (STATUS_LU if self.link_up else 0)
        if offset == MPC:
            value = r.get(MPC, 0)
            r[MPC] = 0
            return value
        return r.get(offset, 0)

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        r = self.regs
        if offset == CTRL:
            if value & CTRL_RST:
                self.reset()
                return
            r[CTRL] = value
        elif offset == EERD:
            if value & EERD_START:
                word = self.eeprom[(value >> 8) & 0x3F]
                r[EERD] = (value & 0xFF00) | EERD_DONE | word << 16
        elif offset == MDIC:
            reg = (value >> 16) & 0x1F
            if value & MDIC_OP_READ:
                r[MDIC] = (value & 0xFFFF0000 | self.mii_read(reg)) | MDIC_READY
            else:
                self.mii_write(reg, value & 0xFFFF)
                r[MDIC] = value | MDIC_READY
        elif offset == IMS:
            r[IMS] = r.get(IMS, 0) | value
            self._maybe_irq()
        elif offset == IMC:
            r[IMS] = r.get(IMS, 0) & ~value
        elif offset == ICS:
            r[ICR] = r.get(ICR, 0) | value
            self._maybe_irq()
        elif offset == ICR:
            r[ICR] = r.get(ICR, 0) & ~value
        elif offset == RCTL:
            r[RCTL] = value
            self.promisc = bool(value & RCTL_UPE)
        elif offset == RAH0:
            r[RAH0] = value
            ral = r.get(RAL0, 0)
            self.station = struct.pack("<IH", ral, value & 0xFFFF) if value & RAH_AV else b"\0" * 6
        elif offset == TDT:
            r[TDT] = value
            if not self._tx_scheduled:
                self._tx_scheduled = True
                self.soon(self._tx_fetch)
        else:
            r[offset] = value & 0xFFFFFFFF

    # -- transmit ---------------------------------------------------------------------------
    def _tx_fetch(self) -> None:
        """Fetch the descriptors between head and tail and put their frames on the wire."""
        self._tx_scheduled = False
        r = self.regs
        if not r.get(TCTL, 0) & TCTL_EN:
            return
        count = min(r.get(TDLEN, 0), MAX_RING_BYTES) // DESC_SIZE
        base = r.get(TDBAL, 0)
        if count == 0:
            return
        head = r.get(TDH, 0) % count
        tail = r.get(TDT, 0) % count
        mem = self.machine.memory.data
        frame = b""
        while head != tail:
            desc = base + head * DESC_SIZE
            if desc <= 0 or desc + DESC_SIZE > len(mem):
                break                              # a master abort: the card stops
            addr, length, _, cmd, _, _, _ = _TXD.unpack_from(mem, desc)
            frame += self.dma_read(addr, min(length, 16384))
            head = (head + 1) % count
            done = self.machine.clock.now
            if cmd & TXD_CMD_EOP:
                done = self.transmit(frame)
                frame = b""
            self.machine.clock.schedule_at(done, lambda d=desc, c=cmd, g=self.gen:
                                           self._tx_done(d, c, g), label="e1000 tx done")
        r[TDH] = head

    def _tx_done(self, desc: int, cmd: int, gen: int) -> None:
        if gen != self.gen or not self.regs.get(TCTL, 0) & TCTL_EN:
            return
        if cmd & TXD_CMD_RS:
            mem = self.machine.memory.data
            if 0 < desc and desc + DESC_SIZE <= len(mem):
                mem[desc + 12] |= TXD_STAT_DD
        self._cause(ICR_TXDW)

    # -- receive ----------------------------------------------------------------------------
    def receive_frame(self, frame: bytes) -> None:
        r = self.regs
        if not r.get(RCTL, 0) & RCTL_EN:
            return
        count = min(r.get(RDLEN, 0), MAX_RING_BYTES) // DESC_SIZE
        if count == 0:
            return
        head = r.get(RDH, 0) % count
        if head == r.get(RDT, 0) % count:          # no descriptor for us: the frame is missed
            self.rx_dropped += 1
            r[MPC] = r.get(MPC, 0) + 1
            self._cause(ICR_RXO)
            return
        desc = r.get(RDBAL, 0) + head * DESC_SIZE
        mem = self.machine.memory.data
        if desc <= 0 or desc + DESC_SIZE > len(mem):
            return
        addr = _RXD.unpack_from(mem, desc)[0]
        data = frame[:RX_BUFFER]
        self.dma_write(addr, data)
        _RXD.pack_into(mem, desc, addr, len(data), 0, RXD_STAT_DD | RXD_STAT_EOP, 0, 0)
        r[RDH] = (head + 1) % count
        self._cause(ICR_RXT0)

    def link_changed(self) -> None:
        self._cause(ICR_LSC)

    # -- interrupts -------------------------------------------------------------------------
    def _cause(self, bits: int) -> None:
        self.regs[ICR] = self.regs.get(ICR, 0) | bits
        self._maybe_irq()

    def _maybe_irq(self) -> None:
        if self.irq_pending():
            itr = self.regs.get(ITR, 0) * 256 * self.machine.clock.hz // 1_000_000_000
            self.interrupt(itr)

    def irq_pending(self) -> bool:
        return bool(self.regs.get(ICR, 0) & self.regs.get(IMS, 0))
