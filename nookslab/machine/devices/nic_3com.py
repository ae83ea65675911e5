"""3Com EtherLink XL models: the 3c59x "Vortex" and the 3c90x "Boomerang/Cyclone" (Table 3).

Both keep the EtherLink III register scheme of Linux 2.4's ``3c59x.c``: a 16-bit command register
at 0x0E (a command in the top five bits, an argument below) that also reads as the status
register (interrupt causes, the current window); registers 0x00-0x0D are *windowed*: which
register an offset means depends on the window last selected with ``SelectWindow``. Window 0
holds the EEPROM interface, window 2 the station address, window 4 the media status (link beat),
window 7 the Vortex's bus-master registers. Causes are acknowledged with ``AckIntr``; which ones
interrupt is set with ``SetIntrEnb``. 100 Mbit/s.

They differ the way the cards did. The **Vortex** keeps packets in on-board FIFOs: the driver
reads ``RxStatus`` for the packet at the head of the receive FIFO, moves it to memory with a
bus-master transfer (``StartDMAUp``) and pops it with ``RxDiscard``; to send, it checks ``TxFree``
and moves one packet at a time into the transmit FIFO (``StartDMADown``; ``DMADone`` when the copy
is finished). The **Boomerang** walks lists in memory by itself: download descriptors (DPDs) from
``DownListPtr`` (``DownComplete`` after a DPD asking for it) and upload descriptors (UPDs) from
``UpListPtr`` (``UpComplete``), with ``DownStall``/``DownUnstall`` around list changes.
"""
from __future__ import annotations

import struct
from collections import deque

from .nic import NicDevice
from .wire import ETH_FCS

EL3_CMD = 0x0E
TX_FIFO, RX_ERRORS, RX_STATUS, TX_STATUS, TX_FREE = 0x10, 0x14, 0x18, 0x1B, 0x1C
PKT_STATUS, DOWN_LIST_PTR, UP_PKT_STATUS, UP_LIST_PTR = 0x20, 0x24, 0x30, 0x38
WN0_EEPROM_CMD, WN0_EEPROM_DATA = 0x0A, 0x0C
WN4_MEDIA = 0x0A
WN7_MASTER_ADDR, WN7_MASTER_LEN, WN7_MASTER_STATUS = 0x00, 0x06, 0x0C
MEDIA_LNKBEAT = 0x0800
EEPROM_READ = 0x80
EEPROM_PHYS_ADDR = 10

# commands (value >> 11)
TOTAL_RESET, SELECT_WINDOW, RX_DISABLE, RX_ENABLE, RX_RESET = 0, 1, 3, 4, 5
STALL_CTL, RX_DISCARD, TX_ENABLE, TX_DISABLE, TX_RESET = 6, 8, 9, 10, 11
ACK_INTR, SET_INTR_ENB, SET_STATUS_ENB, SET_RX_FILTER, SET_TX_THRESHOLD, DMA_CTL = (
    13, 14, 15, 16, 18, 20)
UP_STALL, UP_UNSTALL, DOWN_STALL, DOWN_UNSTALL = 0, 1, 2, 3       # STALL_CTL arguments
START_DMA_UP, START_DMA_DOWN = 0, 1                               # DMA_CTL arguments

# status / interrupt bits
INT_LATCH, HOST_ERROR, TX_COMPLETE, TX_AVAILABLE, RX_COMPLETE = 0x1, 0x2, 0x4, 0x8, 0x10
INT_REQ, DMA_DONE, DOWN_COMPLETE, UP_COMPLETE = 0x40, 0x100, 0x200, 0x400
MASTER_BUSY, MASTER_DOWN_DONE = 0x8000, 0x1000
RX_INCOMPLETE, RX_ERROR = 0x8000, 0x4000

# Boomerang descriptors (3c59x.c's struct boom_tx_desc / boom_rx_desc)
DN_COMPLETE, TX_INTR_UPLOADED = 0x00010000, 0x80000000
UPD_COMPLETE, UPD_ERROR = 0x8000, 0x4000
LAST_FRAG = 0x80000000

FIFO_SIZE = 8192                   # on-board transmit and receive FIFOs
DMA_CYCLES = 400                   # a bus-master transfer's set-up

_DPD = struct.Struct("<IIII")


class EtherLinkDevice(NicDevice):
    """What the Vortex and the Boomerang share: windows, commands, status, EEPROM, media."""

    vendor_id = 0x10B7
    speed = 100_000_000
    mac_prefix = b"\x00\x60\x08"            # a 3Com OUI
    mmio_size = 0x40

    def reset(self) -> None:
        self.gen = getattr(self, "gen", 0) + 1     # work scheduled before a reset is dropped
        self.window = 0
        self.status = 0
        self.intr_enable = 0
        self.rx_enabled = self.tx_enabled = False
        self.station_regs = bytearray(6)
        self.station = b"\0" * 6
        self.eeprom_data = 0
        self.rx_fifo: deque[bytes] = deque()
        self.rx_fifo_bytes = 0
        self.tx_threshold = 0
        eeprom = [0] * 64
        for i in range(3):
            eeprom[EEPROM_PHYS_ADDR + i] = self.mac[2 * i] << 8 | self.mac[2 * i + 1]
        eeprom[3] = self.device_id
        self.eeprom = eeprom

    # -- registers --------------------------------------------------------------------------
    def mmio_read(self, offset: int, size: int) -> int:
        if offset == EL3_CMD:
            return self.status | self.window << 13
        if offset < EL3_CMD:
            return self.window_read(self.window, offset)
        return self.global_read(offset)

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        if offset == EL3_CMD:
            self.command(value >> 11, value & 0x7FF)
        elif offset < EL3_CMD:
            self.window_write(self.window, offset, value)
        else:
            self.global_write(offset, value)

    def window_read(self, window: int, offset: int) -> int:
        if window == 0 and offset == WN0_EEPROM_DATA:
            return self.eeprom_data
        if window == 2 and offset < 6:
            return self.station_regs[offset] | self.station_regs[offset + 1] << 8 \
                if offset < 5 else self.station_regs[offset]
        if window == 4 and offset == WN4_MEDIA:
            return MEDIA_LNKBEAT if self.link_up else 0
        return 0

    def window_write(self, window: int, offset: int, value: int) -> None:
        if window == 0 and offset == WN0_EEPROM_CMD and value & EEPROM_READ:
            self.eeprom_data = self.eeprom[value & 0x3F]
        elif window == 2 and offset < 6:
            self.station_regs[offset] = value & 0xFF
            if offset < 5:
                self.station_regs[offset + 1] = value >> 8 & 0xFF
            self.station = bytes(self.station_regs)

    def global_read(self, offset: int) -> int:
        return 0

    def global_write(self, offset: int, value: int) -> None:
        pass

    def command(self, cmd: int, arg: int) -> None:
        if cmd == ACK_INTR:                     # the commonest (every interrupt), tested first
            self.status &= ~(arg | INT_LATCH)
            self._update()
        elif cmd == SELECT_WINDOW:
            self.window = arg & 7
        elif cmd == TOTAL_RESET:
            self.reset()
        elif cmd == RX_ENABLE:
            self.rx_enabled = True
        elif cmd in (RX_DISABLE, RX_RESET):
            self.rx_enabled = False
            if cmd == RX_RESET:
                self.rx_fifo.clear()
                self.rx_fifo_bytes = 0
        elif cmd == TX_ENABLE:
            self.tx_enabled = True
        elif cmd in (TX_DISABLE, TX_RESET):
            self.tx_enabled = False
        elif cmd == SET_INTR_ENB:
            self.intr_enable = arg
            self._update()
        elif cmd == SET_RX_FILTER:
            self.promisc = bool(arg & 0x08)
        elif cmd == SET_TX_THRESHOLD:
            self.tx_threshold = arg << 2
            self._watch_tx_free()
        else:
            self.card_command(cmd, arg)

    def card_command(self, cmd: int, arg: int) -> None:
        """Commands only one of the two cards has."""

    def _watch_tx_free(self) -> None:
        if not self.tx_threshold:
            return
        if FIFO_SIZE - self.tx_backlog() >= self.tx_threshold:
            self.tx_threshold = 0
            self.set_cause(TX_AVAILABLE)
        else:
            when = self.wire.ends[0].time_backlog_at_most(FIFO_SIZE - self.tx_threshold)
            self.machine.clock.schedule_at(when, self._watch_tx_free, label=self.name)

    # -- interrupts ---------------------------------------------------------------------------
    def set_cause(self, bits: int) -> None:
        self.status |= bits
        self._update()

    def _update(self) -> None:
        if self.status & self.intr_enable & ~INT_LATCH:
            if not self.status & INT_LATCH:
                self.status |= INT_LATCH | INT_REQ
                self.interrupt()
        else:
            self.status &= ~INT_REQ

    def irq_pending(self) -> bool:
        return bool(self.status & self.intr_enable)

    def link_changed(self) -> None:
        self.set_cause(HOST_ERROR if not self.link_up else 0)


class VortexDevice(EtherLinkDevice):
    """3c595 "Vortex": FIFOs on the card, one bus-master transfer at a time."""

    device_id = 0x5950
    irq_line = 6
    name = "3c59x"
    subnet = 3

    def reset(self) -> None:
        super().reset()
        self.master_addr = self.master_len = 0
        self.master_status = 0
        self.tx_pkt_len = 0

    def global_write(self, offset: int, value: int) -> None:
        if offset == TX_FIFO:                   # the doubleword header: the packet's length
            self.tx_pkt_len = value & 0x7FF

    def window_read(self, window: int, offset: int) -> int:
        if window == 7:
            if offset == WN7_MASTER_ADDR:
                return self.master_addr
            if offset == WN7_MASTER_LEN:
                return self.master_len
            if offset == WN7_MASTER_STATUS:
                return self.master_status
        return super().window_read(window, offset)

    def window_write(self, window: int, offset: int, value: int) -> None:
        if window == 7:
            if offset == WN7_MASTER_ADDR:
                self.master_addr = value & 0xFFFFFFFF
            elif offset == WN7_MASTER_LEN:
                self.master_len = value & 0x1FFF
            elif offset == WN7_MASTER_STATUS:
                self.master_status &= ~(value & MASTER_DOWN_DONE)
                if not self.master_status & MASTER_DOWN_DONE:
                    self.status &= ~DMA_DONE
            return
        super().window_write(window, offset, value)

    def global_read(self, offset: int) -> int:
        if offset == RX_STATUS:
            if not self.rx_fifo:
                return RX_INCOMPLETE
            return len(self.rx_fifo[0]) & 0x1FFF
        if offset == TX_FREE:
            return max(FIFO_SIZE - self.tx_backlog(), 0)
        return 0

    def card_command(self, cmd: int, arg: int) -> None:
        if cmd == RX_DISCARD:
            if self.rx_fifo:
                self.rx_fifo_bytes -= len(self.rx_fifo.popleft())
            if self.rx_fifo:
                self.set_cause(RX_COMPLETE)
            else:
                self.status &= ~RX_COMPLETE
        elif cmd == DMA_CTL and arg == START_DMA_UP:
            # Receive: copy the head packet into memory now (the driver spins on the busy bit).
            if self.rx_fifo:
                self.dma_write(self.master_addr, self.rx_fifo[0][:self.master_len])
            self.master_status &= ~MASTER_BUSY
        elif cmd == DMA_CTL and arg == START_DMA_DOWN and self.tx_enabled:
            frame = self.dma_read(self.master_addr, self.master_len)
            if 0 < self.tx_pkt_len < len(frame):
                frame = frame[:self.tx_pkt_len]
            self.master_status |= MASTER_BUSY
            gen = self.gen
            self.after(DMA_CYCLES + len(frame) // 2, lambda: self._down_done(frame, gen),
                       "3c59x dma down")

    def _down_done(self, frame: bytes, gen: int) -> None:
        if gen != self.gen:
            return
        self.transmit(frame)
        self.master_status = (self.master_status & ~MASTER_BUSY) | MASTER_DOWN_DONE
        self.set_cause(DMA_DONE)

    def receive_frame(self, frame: bytes) -> None:
        if not self.rx_enabled:
            return
        data = frame[:-ETH_FCS]
        if self.rx_fifo_bytes + len(data) > FIFO_SIZE:
            self.rx_dropped += 1
            return
        self.rx_fifo.append(data)
        self.rx_fifo_bytes += len(data)
        self.set_cause(RX_COMPLETE)


class BoomerangDevice(EtherLinkDevice):
    """3c905 "Boomerang/Cyclone": download and upload lists in host memory."""

    device_id = 0x9050
    irq_line = 15
    name = "3c90x"
    subnet = 4

    def reset(self) -> None:
        super().reset()
        self.dn_list_ptr = 0
        self.up_list_ptr = 0
        self.dn_stalled = self.up_stalled = False
        self._dn_busy = False

    def global_read(self, offset: int) -> int:
        if offset == DOWN_LIST_PTR:
            return self.dn_list_ptr
        if offset == UP_LIST_PTR:
            return self.up_list_ptr
        if offset == TX_FREE:
            return max(FIFO_SIZE - self.tx_backlog(), 0)
        return 0

    def global_write(self, offset: int, value: int) -> None:
        if offset == DOWN_LIST_PTR:
            self.dn_list_ptr = value & 0xFFFFFFFF
            self._kick_down()
        elif offset == UP_LIST_PTR:
            self.up_list_ptr = value & 0xFFFFFFFF
            self._drain_up()

    def card_command(self, cmd: int, arg: int) -> None:
        if cmd != STALL_CTL:
            return
        if arg == DOWN_STALL:
            self.dn_stalled = True
        elif arg == DOWN_UNSTALL:
            self.dn_stalled = False
            self._kick_down()
        elif arg == UP_STALL:
            self.up_stalled = True
        elif arg == UP_UNSTALL:
            self.up_stalled = False
            self._drain_up()

    # -- download (transmit) ------------------------------------------------------------------
    def _kick_down(self) -> None:
        if not self._dn_busy and self.dn_list_ptr and not self.dn_stalled and self.tx_enabled:
            self._dn_busy = True
            gen = self.gen
            self.after(DMA_CYCLES, lambda: self._download(gen), "3c90x download")

    def _download(self, gen: int) -> None:
        if gen != self.gen:
            return
        self._dn_busy = False
        dpd = self.dn_list_ptr
        if not dpd or self.dn_stalled or not self.tx_enabled:
            return
        mem = self.machine.memory.data
        if dpd <= 0 or dpd + 16 > len(mem):
            self.set_cause(HOST_ERROR)
            return
        nxt, fsh, addr, length = _DPD.unpack_from(mem, dpd)
        frame = self.dma_read(addr, length & 0x1FFF)
        # The frame waits for room in the transmit FIFO before it is downloaded.
        when = self.wire.ends[0].time_backlog_at_most(FIFO_SIZE - len(frame))
        self._dn_busy = True
        gen = self.gen
        self.machine.clock.schedule_at(max(when, self.machine.clock.now),
                                       lambda: self._downloaded(dpd, nxt, fsh, frame, gen),
                                       label="3c90x download")

    def _downloaded(self, dpd: int, nxt: int, fsh: int, frame: bytes, gen: int) -> None:
        if gen != self.gen:
            return
        self._dn_busy = False
        self.transmit(frame)
        mem = self.machine.memory.data
        nxt = _DPD.unpack_from(mem, dpd)[0]          # linked while we were downloading
        struct.pack_into("<I", mem, dpd + 4, fsh | DN_COMPLETE)
        if self.dn_list_ptr == dpd:
            self.dn_list_ptr = nxt
        if fsh & TX_INTR_UPLOADED:
            self.set_cause(DOWN_COMPLETE)
        self._kick_down()

    # -- upload (receive) ----------------------------------------------------------------------
    def receive_frame(self, frame: bytes) -> None:
        if not self.rx_enabled:
            return
        data = frame[:-ETH_FCS]
        if self.rx_fifo_bytes + len(data) > FIFO_SIZE:
            self.rx_dropped += 1
            return
        self.rx_fifo.append(data)
        self.rx_fifo_bytes += len(data)
        self._drain_up()

    def _drain_up(self) -> None:
        mem = self.machine.memory.data
        uploaded = False
        while self.rx_fifo and self.up_list_ptr and not self.up_stalled:
            upd = self.up_list_ptr
            if upd <= 0 or upd + 16 > len(mem):
                self.set_cause(HOST_ERROR)
                return
            nxt, status, addr, length = _DPD.unpack_from(mem, upd)
            if status & UPD_COMPLETE:
                break                           # the driver has not emptied it yet: stall
            data = self.rx_fifo.popleft()
            self.rx_fifo_bytes -= len(data)
            room = length & 0x1FFF
            self.dma_write(addr, data[:room])
            err = UPD_ERROR if len(data) > room else 0
            struct.pack_into("<I", mem, upd + 4, (len(data[:room]) & 0x1FFF) | UPD_COMPLETE | err)
            self.up_list_ptr = nxt
            uploaded = True
        if uploaded:
            self.set_cause(UP_COMPLETE)
