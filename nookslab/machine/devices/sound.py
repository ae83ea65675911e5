"""Sound cards: a DMA ring read behind the CPU's back at the playback rate, period interrupts.

Two cards of the paper's Table 3 (the sb and es1371 extensions), sharing one playback engine:

* :class:`SoundBlaster16` — an ISA card. A DSP reached through byte ports (reset, write command,
  write-buffer status, read data, read-buffer status), a mixer (index/data ports; its register
  0x82 tells which DMA width interrupted), an 8237-style DMA channel programmed with page,
  address and count registers through a flip-flop, and a 16-bit interrupt acknowledged by
  *reading* port 0x0F. ISA simplifications: the card hangs off :class:`PciDevice` so the kernel's
  PCI table can find it (a real SB16 is probed at port 0x220); the channel-5 registers of the
  8237 sit in the card's own window at 0x80, count bytes rather than 16-bit words, and ignore
  the 128 KiB boundary a real 16-bit channel cannot cross.
* :class:`Es1371` — a PCI card (Ensoniq AudioPCI 97). Its own bus-master DMA engine (frame
  address and frame size registers behind a memory-page register), a sample-rate converter and
  an AC'97 codec written through serial interfaces with a busy bit, and interrupt status/control
  registers; an interrupt is acknowledged by clearing and re-setting its enable bit.

The engine plays one *period* (the driver's fragment) at a time. At each period boundary it
fetches the period's bytes from the ring at its hardware position, appends them to
:attr:`SoundCard.record` (what reached the speaker, in order, with a running CRC-32), advances the
position and raises the interrupt. A boundary that passes while the driver has paused the engine
(it had nothing new to play) is an *underrun*: nothing is fetched, :attr:`SoundCard.underruns`
counts it. How each stretch of the record was played (rate, channels, bits, muted) is kept in
:attr:`SoundCard.modes`, so a player can tell chipmunk audio from the real thing.

Timing is exact: boundaries sit on the grid ``start + k * frames * hz / rate`` (integer cycles,
with the remainder carried), so no drift accumulates over a long clip.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

from .base import PciDevice

#: CD audio: 44.1 kHz, 16-bit stereo = 176,400 bytes/s (the paper's play-mp3 stream, Table 4).
CD_RATE = 44_100
MIN_RATE = 4_000                 # both cards clamp their converters to 4-48 kHz
MAX_RATE = 48_000
MAX_RECORD = 64 << 20            # host safety: the record keeps at most this many bytes
#: The engine moves at least this many frames per period (a FIFO burst). Real drivers use far
#: longer periods; the floor keeps a corrupted period register from flooding the event queue.
MIN_PERIOD_FRAMES = 32


@dataclass(frozen=True)
class PlayMode:
    """How a stretch of the record was played: from byte ``offset`` on, at ``rate`` Hz."""

    offset: int
    rate: int
    channels: int
    bits: int
    muted: bool

    @property
    def setting(self) -> tuple[int, int, int, bool]:
        return (self.rate, self.channels, self.bits, self.muted)


class SoundCard(PciDevice):
    """The playback engine both cards share; subclasses supply registers and the DMA source.

    Attributes
    ----------
    record: every byte played, in order. crc: CRC-32 of ``record``. played: its length.
    periods: periods played. underruns: period boundaries that passed while paused.
    modes: :class:`PlayMode` entries, one per change of how the record was played.
    irqs_raised: interrupts asserted.
    """

    name = "soundcard"

    def __init__(self):
        super().__init__()
        self.record = bytearray()
        self.crc = 0
        self.played = 0
        self.periods = 0
        self.underruns = 0
        self.irqs_raised = 0
        self.modes: list[PlayMode] = []
        self._timer = None
        self._carry = 0

    # -- what a card supplies ------------------------------------------------------------------
    def rate(self) -> int:
        return CD_RATE

    def frame_bytes(self) -> tuple[int, int]:
        """(channels, bits per sample) of the stream being played."""
        return 2, 16

    def period_bytes(self) -> int:
        raise NotImplementedError

    def muted(self) -> bool:
        return False

    def paused(self) -> bool:
        return False

    def fetch(self, n: int) -> bytes | None:
        """Read the next ``n`` bytes of the ring by DMA (None: the DMA request was not served)."""
        raise NotImplementedError

    def period_elapsed(self) -> None:
        """Set the card's interrupt status and raise the line (if the card is set to)."""
        raise NotImplementedError

    # -- the engine ----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._timer is not None

    def start_engine(self) -> None:
        """Start the sample clock now (a new period begins)."""
        if self._timer is None:
            self._carry = 0
            self._schedule(self.machine.clock.now)

    def stop_engine(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _period(self) -> int:
        """Bytes the engine moves per period: the card's period, at least one FIFO burst."""
        channels, bits = self.frame_bytes()
        return max(self.period_bytes(), MIN_PERIOD_FRAMES * channels * bits // 8)

    def _schedule(self, base: int) -> None:
        channels, bits = self.frame_bytes()
        frames = self._period() // (channels * bits // 8)
        rate = min(max(self.rate(), MIN_RATE), MAX_RATE)
        hz = self.machine.clock.hz
        total = frames * hz + self._carry
        delta, self._carry = divmod(total, rate)
        when = base + delta
        self._timer = self.machine.clock.schedule_at(when, lambda: self._boundary(when),
                                                     label=f"{self.name} period")

    def _boundary(self, when: int) -> None:
        self._timer = None
        self._schedule(when)                  # the sample clock runs on, whatever the driver does
        if self.paused():
            self.underruns += 1
            return
        n = self._period()
        data = self.fetch(n)
        if data is None:                      # DMA request never served: the DAC starved
            self.underruns += 1
            return
        self._play(data)
        self.periods += 1
        self.period_elapsed()

    def _play(self, data: bytes) -> None:
        channels, bits = self.frame_bytes()
        setting = (min(max(self.rate(), MIN_RATE), MAX_RATE), channels, bits, self.muted())
        if not self.modes or self.modes[-1].setting != setting:
            self.modes.append(PlayMode(self.played, *setting))
        if len(self.record) + len(data) <= MAX_RECORD:
            self.record += data
        self.crc = zlib.crc32(data, self.crc)
        self.played += len(data)

    def modes_between(self, start: int, end: int) -> list[PlayMode]:
        """The :class:`PlayMode` entries covering record bytes ``[start, end)``, in order."""
        covering = [m for m in self.modes if m.offset < end]
        first = max((i for i, m in enumerate(covering) if m.offset <= start), default=0)
        return covering[first:] if end > start else []

    def raise_irq(self) -> None:
        self.irqs_raised += 1
        super().raise_irq()

    def ring_read(self, base: int, size: int, pos: int, n: int) -> bytes:
        """``n`` bytes of the ring ``[base, base + size)`` from offset ``pos``, wrapping."""
        if n <= 0 or size <= 0:
            return b""
        pos %= size
        if pos + n <= size:
            return self.dma_read(base + pos, n)
        ring = self.dma_read(base, size)
        head = ring[pos:]
        laps, rest = divmod(n - len(head), size)
        return head + ring * laps + ring[:rest]


# ---------------------------------------------------------------------------------------------
# SoundBlaster 16 (ISA)
# ---------------------------------------------------------------------------------------------
SB_MIXER_ADDR = 0x04
SB_MIXER_DATA = 0x05
SB_DSP_RESET = 0x06
SB_DSP_READ = 0x0A
SB_DSP_WRITE = 0x0C              # write: command or parameter byte
SB_DSP_STATUS = 0x0C             # read: bit 7 set while the DSP cannot take a byte
SB_DSP_DATA_AVAIL = 0x0E         # read: bit 7 set when a byte waits; also acks the 8-bit IRQ
SB_DSP_ACK16 = 0x0F              # read: acknowledges the 16-bit DMA interrupt
# The 8237 channel the card uses (channel 5 of the second controller), in the card's window.
SB_DMA_ADDR = 0x80               # address bits 0-15, low byte then high byte (flip-flop)
SB_DMA_COUNT = 0x81              # transfer length - 1, low then high; reads the current count
SB_DMA_PAGE = 0x82               # address bits 16-23 (ISA DMA reaches the low 16 MiB only)
SB_DMA_MASK = 0x83               # single-channel mask: DMA_MASK_SET | (channel & 3)
SB_DMA_MODE = 0x84
SB_DMA_CLEAR_FF = 0x85           # any write resets the byte flip-flop

DMA_MASK_SET = 0x04
DMA_MODE_READ = 0x08             # memory -> device (Linux's DMA_MODE_WRITE to the card is 0x48)
DMA_MODE_AUTOINIT = 0x10
DMA_MODE_SINGLE = 0x40

# DSP commands (Creative's SB16 programming guide).
DSP_CMD_SPEED = 0x41             # output sample rate: high byte, low byte
DSP_CMD_16BIT_AUTO = 0xB6        # 16-bit output, auto-init, FIFO on: mode, len-1 low, high
DSP_CMD_8BIT_AUTO = 0xC6         # 8-bit output, auto-init, FIFO on: mode, len-1 low, high
DSP_CMD_PAUSE16 = 0xD5
DSP_CMD_CONT16 = 0xD6
DSP_CMD_EXIT16 = 0xD9            # leave auto-init 16-bit mode
DSP_CMD_PAUSE8 = 0xD0
DSP_CMD_CONT8 = 0xD4
DSP_CMD_EXIT8 = 0xDA
DSP_CMD_SPKON = 0xD1
DSP_CMD_SPKOFF = 0xD3
DSP_CMD_VERSION = 0xE1
DSP_MODE_STEREO = 0x20
DSP_MODE_SIGNED = 0x10
DSP_RESET_ACK = 0xAA
SB16_VERSION = (4, 5)            # DSP 4.05: a SoundBlaster 16

# Mixer registers.
MIXER_RESET = 0x00
MIXER_MASTER_L = 0x30
MIXER_MASTER_R = 0x31
MIXER_VOICE_L = 0x32
MIXER_VOICE_R = 0x33
MIXER_IRQ_SELECT = 0x80          # bit 1: IRQ 5
MIXER_DMA_SELECT = 0x81          # bit 1: DMA 1 (8-bit), bit 5: DMA 5 (16-bit)
MIXER_IRQ_STATUS = 0x82          # bit 0: 8-bit DMA interrupt, bit 1: 16-bit DMA interrupt
IRQ_STATUS_8 = 0x01
IRQ_STATUS_16 = 0x02
SB_IRQ = 5
SB_DMA16 = 5
SB_VENDOR, SB_DEVICE = 0x1102, 0x0016      # Creative; the "PCI id" is our ISA simplification
_PARAMS = {DSP_CMD_SPEED: 2, 0x42: 2, DSP_CMD_16BIT_AUTO: 3, DSP_CMD_8BIT_AUTO: 3}


class Isa8237Channel:
    """One channel of an 8237 DMA controller: base address/count, auto-init, mask, flip-flop."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.addr = 0
        self.page = 0
        self.count = 0
        self.mode = 0
        self.masked = True
        self.flip = 0
        self.pos = 0

    @property
    def base(self) -> int:
        return (self.page & 0xFF) << 16 | self.addr

    @property
    def size(self) -> int:
        return self.count + 1

    def write_word(self, which: str, value: int) -> None:
        old = getattr(self, which)
        if self.flip == 0:
            setattr(self, which, (old & 0xFF00) | (value & 0xFF))
        else:
            setattr(self, which, (old & 0x00FF) | (value & 0xFF) << 8)
        self.flip ^= 1
        self.pos = 0                           # programming the channel reloads it

    def read_count(self) -> int:
        """Current count register (bytes left - 1), one byte per read through the flip-flop."""
        current = (self.size - self.pos - 1) & 0xFFFF
        byte = current & 0xFF if self.flip == 0 else current >> 8
        self.flip ^= 1
        return byte

    def transfer(self, card: SoundCard, n: int) -> bytes | None:
        """Serve the card's DMA requests for ``n`` bytes, or None if the channel will not."""
        if self.masked or not self.mode & DMA_MODE_READ:
            return None
        if self.mode & DMA_MODE_AUTOINIT:
            data = card.ring_read(self.base, self.size, self.pos, n)
            self.pos = (self.pos + n) % self.size
            return data
        n = min(n, self.size - self.pos)       # single-cycle: stop at terminal count
        data = card.dma_read(self.base + self.pos, n)
        self.pos += n
        if self.pos >= self.size:
            self.masked = True
        return data


class SoundBlaster16(SoundCard):
    """Creative SoundBlaster 16 (DSP 4.05) on IRQ 5, 16-bit DMA channel 5."""

    vendor_id = SB_VENDOR
    device_id = SB_DEVICE
    irq_line = SB_IRQ
    mmio_size = 0x100
    name = "sb16"

    def __init__(self, reset_polls: int = 2, present: bool = True):
        self.reset_polls = reset_polls
        self.present = present
        self.dma = Isa8237Channel()
        super().__init__()
        self.reset()

    def reset(self) -> None:
        self.stop_engine()
        self.dma.reset()
        self._dsp_reset()
        self.mixer_index = 0
        self.mixer = {MIXER_MASTER_L: 0xC0, MIXER_MASTER_R: 0xC0, MIXER_VOICE_L: 0xC0,
                      MIXER_VOICE_R: 0xC0}
        self.irq_status = 0
        self.reset_line = 0

    def _dsp_reset(self) -> None:
        self.stop_engine()
        self.outq: list[int] = []
        self.cmd: list[int] = []
        self.busy = 0
        self.ready_in = 0
        self.sample_rate = 11_025
        self.bits = 8
        self.channels = 1
        self.block = 0
        self.pause = False
        self.speaker = False

    # -- registers -----------------------------------------------------------------------------
    def mmio_read(self, offset: int, size: int) -> int:
        if not self.present:
            return 0xFF                          # nobody answers at these ports
        if offset == SB_DSP_STATUS:
            if self.busy:
                self.busy -= 1
                return 0xFF
            return 0x7F
        if offset == SB_DSP_DATA_AVAIL:
            self.irq_status &= ~IRQ_STATUS_8
            if self.ready_in:
                self.ready_in -= 1
                return 0x7F
            return 0xFF if self.outq else 0x7F
        if offset == SB_DSP_READ:
            return self.outq.pop(0) if self.outq and not self.ready_in else 0xFF
        if offset == SB_DSP_ACK16:
            self.irq_status &= ~IRQ_STATUS_16
            return 0xFF
        if offset == SB_MIXER_ADDR:
            return self.mixer_index
        if offset == SB_MIXER_DATA:
            return self._mixer_read(self.mixer_index)
        if offset == SB_DMA_COUNT:
            return self.dma.read_count()
        if offset == SB_DMA_PAGE:
            return self.dma.page
        return 0xFF                              # an empty ISA port floats high

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        if not self.present:
            return
        value &= 0xFF
        if offset == SB_DSP_RESET:
            if value & 1:
                self.reset_line = 1
            elif self.reset_line:
                self.reset_line = 0
                self._dsp_reset()
                self.outq.append(DSP_RESET_ACK)
                self.ready_in = self.reset_polls  # the DSP takes a moment to come back
        elif offset == SB_DSP_WRITE:
            self.busy = 1
            self._dsp_byte(value)
        elif offset == SB_MIXER_ADDR:
            self.mixer_index = value
        elif offset == SB_MIXER_DATA:
            if self.mixer_index == MIXER_RESET:
                self.mixer.update({MIXER_MASTER_L: 0xC0, MIXER_MASTER_R: 0xC0,
                                   MIXER_VOICE_L: 0xC0, MIXER_VOICE_R: 0xC0})
            elif self.mixer_index in self.mixer:
                self.mixer[self.mixer_index] = value
        elif offset == SB_DMA_ADDR:
            self.dma.write_word("addr", value)
        elif offset == SB_DMA_COUNT:
            self.dma.write_word("count", value)
        elif offset == SB_DMA_PAGE:
            self.dma.page = value
        elif offset == SB_DMA_MASK:
            if value & 3 == SB_DMA16 & 3:
                self.dma.masked = bool(value & DMA_MASK_SET)
        elif offset == SB_DMA_MODE:
            if value & 3 == SB_DMA16 & 3:
                self.dma.mode = value
        elif offset == SB_DMA_CLEAR_FF:
            self.dma.flip = 0

    def _mixer_read(self, index: int) -> int:
        if index == MIXER_IRQ_SELECT:
            return 0x02                          # IRQ 5
        if index == MIXER_DMA_SELECT:
            return 0x22                          # DMA 1 and DMA 5
        if index == MIXER_IRQ_STATUS:
            return self.irq_status
        return self.mixer.get(index, 0)

    # -- the DSP -------------------------------------------------------------------------------
    def _dsp_byte(self, value: int) -> None:
        self.cmd.append(value)
        op = self.cmd[0]
        if len(self.cmd) <= _PARAMS.get(op, 0):
            return                               # waiting for parameter bytes
        args, self.cmd = self.cmd[1:], []
        if op in (DSP_CMD_SPEED, 0x42):
            self.sample_rate = args[0] << 8 | args[1]
        elif op in (DSP_CMD_16BIT_AUTO, DSP_CMD_8BIT_AUTO):
            self.bits = 16 if op == DSP_CMD_16BIT_AUTO else 8
            self.channels = 2 if args[0] & DSP_MODE_STEREO else 1
            length = (args[1] | args[2] << 8) + 1
            self.block = length * (self.bits // 8)
            self.pause = False
            self.stop_engine()
            self.start_engine()
        elif op in (DSP_CMD_PAUSE16, DSP_CMD_PAUSE8):
            self.pause = True
        elif op in (DSP_CMD_CONT16, DSP_CMD_CONT8):
            self.pause = False
        elif op in (DSP_CMD_EXIT16, DSP_CMD_EXIT8):
            self.stop_engine()
        elif op == DSP_CMD_SPKON:
            self.speaker = True
        elif op == DSP_CMD_SPKOFF:
            self.speaker = False
        elif op == DSP_CMD_VERSION:
            self.outq.extend(SB16_VERSION)

    # -- the engine's questions ----------------------------------------------------------------
    def rate(self) -> int:
        return self.sample_rate

    def frame_bytes(self) -> tuple[int, int]:
        return self.channels, self.bits

    def period_bytes(self) -> int:
        return max(self.block, 1)

    def paused(self) -> bool:
        return self.pause

    def muted(self) -> bool:
        return (not self.speaker or self.mixer[MIXER_MASTER_L] < 8
                or self.mixer[MIXER_VOICE_L] < 8)

    def fetch(self, n: int) -> bytes | None:
        return self.dma.transfer(self, n)

    def period_elapsed(self) -> None:
        flag = IRQ_STATUS_16 if self.bits == 16 else IRQ_STATUS_8
        # An ISA interrupt is an edge: until the driver acknowledges the last one, the DSP does
        # not raise another (a driver that forgets the ack gets no more interrupts).
        if not self.irq_status & flag:
            self.irq_status |= flag
            self.raise_irq()


# ---------------------------------------------------------------------------------------------
# Ensoniq ES1371 (PCI)
# ---------------------------------------------------------------------------------------------
ES_REG_CONTROL = 0x00
ES_REG_STATUS = 0x04
ES_REG_UART_DATA = 0x08
ES_REG_MEMPAGE = 0x0C
ES_REG_SRCONV = 0x10
ES_REG_CODEC = 0x14
ES_REG_LEGACY = 0x18
ES_REG_SERIAL_CONTROL = 0x20
ES_REG_DAC1_SCOUNT = 0x24
ES_REG_DAC2_SCOUNT = 0x28        # frames per period - 1 (low 16 bits), current count (high)
ES_REG_DAC1_FRAMEADR = 0x30      # page 0x0C
ES_REG_DAC1_FRAMECNT = 0x34      # page 0x0C
ES_REG_DAC2_FRAMEADR = 0x38      # page 0x0C: bus address of the ring
ES_REG_DAC2_FRAMECNT = 0x3C      # page 0x0C: ring longwords - 1 (low), current longword (high)
ES_PAGE_DAC = 0x0C

CTRL_DAC2_EN = 0x00000020
CTRL_DAC1_EN = 0x00000040
STAT_INTR = 0x80000000
STAT_DAC1 = 0x00000004
STAT_DAC2 = 0x00000002
SCTRL_P2ENDINC = 0x00380000
SCTRL_P2STINC = 0x00070000
SCTRL_P2LOOPSEL = 0x00004000
SCTRL_P2PAUSE = 0x00001000
SCTRL_P2INTEN = 0x00000200
SCTRL_P2DACSEN = 0x00000040
SCTRL_P2SEB = 0x00000008         # 16-bit samples
SCTRL_P2SMB = 0x00000004         # stereo
SCTRL_SH_P2ENDINC = 19

SRC_RAMADDR_SHIFT = 25
SRC_WE = 0x01000000
SRC_BUSY = 0x00800000
SRC_DIS = 0x00400000
SRC_DDAC1 = 0x00200000
SRC_DDAC2 = 0x00100000
SRC_DADC = 0x00080000
SRC_CTLMASK = SRC_DIS | SRC_DDAC1 | SRC_DDAC2 | SRC_DADC
SRC_RAMDATA_MASK = 0x0000FFFF
SRCREG_DAC1 = 0x70
SRCREG_DAC2 = 0x74
SRCREG_ADC = 0x78
SRCREG_VOL_ADC = 0x6C
SRCREG_VOL_DAC1 = 0x7C
SRCREG_VOL_DAC2 = 0x7E
SRCREG_TRUNC_N = 0x00
SRCREG_INT_REGS = 0x01
SRCREG_ACCUM_FRAC = 0x02
SRCREG_VFREQ_FRAC = 0x03

CODEC_RDY = 0x80000000
CODEC_WIP = 0x40000000
CODEC_PIRD = 0x00800000
CODEC_PIADD_SHIFT = 16
CODEC_PIADD_MASK = 0x007F0000
CODEC_PIDAT_MASK = 0x0000FFFF

# AC'97 codec registers (AC'97 2.1): power-on defaults mute the outputs.
AC97_RESET = 0x00
AC97_MASTER_VOL = 0x02
AC97_PCMOUT_VOL = 0x18
AC97_POWERDOWN = 0x26
AC97_VENDOR_ID1 = 0x7C
AC97_VENDOR_ID2 = 0x7E
AC97_MUTE = 0x8000
AC97_DEFAULTS = {AC97_RESET: 0x0000, AC97_MASTER_VOL: 0x8000, AC97_PCMOUT_VOL: 0x8808,
                 AC97_POWERDOWN: 0x000F, AC97_VENDOR_ID1: 0x8384, AC97_VENDOR_ID2: 0x7600}

ES_VENDOR, ES_DEVICE = 0x1274, 0x1371
ES_IRQ = 11


class Es1371(SoundCard):
    """Ensoniq AudioPCI 97 (ES1371) with a SigmaTel AC'97 codec, playing on DAC2."""

    vendor_id = ES_VENDOR
    device_id = ES_DEVICE
    irq_line = ES_IRQ
    mmio_size = 0x40
    name = "es1371"

    def __init__(self, src_polls: int = 2, codec_polls: int = 1, codec_present: bool = True):
        self.src_polls = src_polls
        self.codec_polls = codec_polls
        self.codec_present = codec_present
        super().__init__()
        self.reset()

    def reset(self) -> None:
        self.stop_engine()
        self.ctrl = 0
        self.status = 0
        self.mempage = 0
        self.sctrl = 0
        self.dac2_scount = 0
        self.dac1_frame = [0, 0]
        self.frame_addr = 0
        self.frame_cnt = 0
        self.pos = 0                               # bytes into the ring
        self.src_ram = [0] * 128
        self.src_ctl = SRC_DIS
        self.src_busy = 0
        self.src_data = 0
        self.codec_regs = dict(AC97_DEFAULTS)
        self.codec_busy = 0
        self.codec_data = 0
        self.legacy = 0

    # -- registers -----------------------------------------------------------------------------
    def mmio_read(self, offset: int, size: int) -> int:
        if offset == ES_REG_CONTROL:
            return self.ctrl
        if offset == ES_REG_STATUS:
            return self.status | (STAT_INTR if self.status else 0)
        if offset == ES_REG_MEMPAGE:
            return self.mempage
        if offset == ES_REG_SRCONV:
            if self.src_busy:
                self.src_busy -= 1
                return self.src_ctl | SRC_BUSY
            return self.src_ctl | self.src_data
        if offset == ES_REG_CODEC:
            if self.codec_busy:
                self.codec_busy -= 1
                return CODEC_WIP
            return self.codec_data
        if offset == ES_REG_LEGACY:
            return self.legacy
        if offset == ES_REG_SERIAL_CONTROL:
            return self.sctrl
        if offset == ES_REG_DAC2_SCOUNT:
            return self.dac2_scount
        if offset >= 0x30 and self.mempage == ES_PAGE_DAC:
            if offset == ES_REG_DAC2_FRAMEADR:
                return self.frame_addr
            if offset == ES_REG_DAC2_FRAMECNT:
                return ((self.pos >> 2) & 0xFFFF) << 16 | self.frame_cnt
            return self.dac1_frame[(offset - 0x30) >> 2]
        return 0

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        if offset == ES_REG_CONTROL:
            was = self.ctrl & CTRL_DAC2_EN
            self.ctrl = value
            if value & CTRL_DAC2_EN and not was:
                self.start_engine()
            elif was and not value & CTRL_DAC2_EN:
                self.stop_engine()
        elif offset == ES_REG_MEMPAGE:
            self.mempage = value & 0xF
        elif offset == ES_REG_SRCONV:
            self._src_write(value)
        elif offset == ES_REG_CODEC:
            self._codec_write(value)
        elif offset == ES_REG_LEGACY:
            self.legacy = value
        elif offset == ES_REG_SERIAL_CONTROL:
            self.sctrl = value
            if not value & SCTRL_P2INTEN:
                self.status &= ~STAT_DAC2          # dropping the enable acknowledges
        elif offset == ES_REG_DAC2_SCOUNT:
            self.dac2_scount = value & 0xFFFF
        elif offset >= 0x30 and self.mempage == ES_PAGE_DAC:
            if offset == ES_REG_DAC2_FRAMEADR:
                self.frame_addr = value
                self.pos = 0
            elif offset == ES_REG_DAC2_FRAMECNT:
                self.frame_cnt = value & 0xFFFF
                self.pos = 0
            else:
                self.dac1_frame[(offset - 0x30) >> 2] = value

    def _src_write(self, value: int) -> None:
        self.src_ctl = value & SRC_CTLMASK
        addr = (value >> SRC_RAMADDR_SHIFT) & 0x7F
        if value & SRC_WE:
            self.src_ram[addr] = value & SRC_RAMDATA_MASK
        self.src_data = self.src_ram[addr] | addr << SRC_RAMADDR_SHIFT
        self.src_busy = self.src_polls

    def _codec_write(self, value: int) -> None:
        addr = (value & CODEC_PIADD_MASK) >> CODEC_PIADD_SHIFT
        if value & CODEC_PIRD:
            # An empty AC-link reads as all ones.
            reg = self.codec_regs.get(addr, 0) if self.codec_present else CODEC_PIDAT_MASK
            self.codec_data = CODEC_RDY | addr << CODEC_PIADD_SHIFT | reg
        else:
            if addr == AC97_RESET:
                self.codec_regs = dict(AC97_DEFAULTS)
            elif addr not in (AC97_VENDOR_ID1, AC97_VENDOR_ID2, AC97_POWERDOWN):
                self.codec_regs[addr] = value & CODEC_PIDAT_MASK
            self.codec_data = 0
        self.codec_busy = self.codec_polls

    # -- the engine's questions ----------------------------------------------------------------
    def rate(self) -> int:
        """The DAC2 rate the converter is set to: Linux's ``(freq * 3000 + 16384) >> 15``."""
        ram = self.src_ram
        freq = (ram[SRCREG_DAC2 + SRCREG_INT_REGS] & 0xFC00) << 5 \
            | ram[SRCREG_DAC2 + SRCREG_VFREQ_FRAC] & 0x7FFF
        return (freq * 3000 + 16384) >> 15

    def frame_bytes(self) -> tuple[int, int]:
        return (2 if self.sctrl & SCTRL_P2SMB else 1), (16 if self.sctrl & SCTRL_P2SEB else 8)

    def period_bytes(self) -> int:
        channels, bits = self.frame_bytes()
        return ((self.dac2_scount & 0xFFFF) + 1) * channels * bits // 8

    def paused(self) -> bool:
        return bool(self.sctrl & SCTRL_P2PAUSE)

    def muted(self) -> bool:
        regs = self.codec_regs
        return bool(self.src_ctl & SRC_DIS or regs[AC97_MASTER_VOL] & AC97_MUTE
                    or regs[AC97_PCMOUT_VOL] & AC97_MUTE
                    or self.src_ram[SRCREG_VOL_DAC2] == 0)

    def fetch(self, n: int) -> bytes:
        size = ((self.frame_cnt & 0xFFFF) + 1) * 4
        data = self.ring_read(self.frame_addr, size, self.pos, n)
        self.pos = (self.pos + n) % size
        return data

    def period_elapsed(self) -> None:
        if self.sctrl & SCTRL_P2INTEN:
            # PCI interrupts are levels: the line stays asserted (and is raised again at the
            # next period) until the driver clears the status through the enable bit.
            self.status |= STAT_DAC2
            self.raise_irq()


def sb16_device(kernel, **options) -> SoundBlaster16:
    """Registry factory for the sb extension's card."""
    return SoundBlaster16(**options)


def es1371_device(kernel, **options) -> Es1371:
    """Registry factory for the es1371 extension's card."""
    return Es1371(**options)
