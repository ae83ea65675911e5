"""The sound-card models on a bare machine: timing, the record, underruns, the two register sets."""
import zlib

import pytest

from nookslab.machine import Machine
from nookslab.machine.devices import sound as sc


def run(machine, until):
    """Run the machine's device events up to cycle ``until`` (no kernel: a bare event loop)."""
    clock = machine.clock
    while True:
        t = clock.next_time()
        if t is None or t > until:
            clock.idle_to(until)
            return
        clock.idle_to(t)
        event = clock.pop_due()
        if event is not None:
            event.callback()


class Lines:
    def __init__(self):
        self.raised = []

    def __call__(self, line):
        self.raised.append(line)


@pytest.fixture
def es():
    m = Machine(memory=1 << 20)
    lines = Lines()
    m.irq_sink = lines
    card = m.attach("es1371", sc.Es1371())
    ring = m.pages.alloc(4, m.pages.new_owner("ring"))
    # 16 KiB ring of distinct bytes: byte i of the ring holds (i * 7) & 0xFF
    m.memory.data[ring:ring + 16384] = bytes((i * 7) & 0xFF for i in range(16384))
    return m, card, ring, lines


def program_es(card, ring, rate=44100, period_frames=1024):
    freq = ((rate << 15) + 1500) // 3000
    card.src_ram[sc.SRCREG_DAC2 + sc.SRCREG_INT_REGS] = (freq >> 5) & 0xFC00
    card.src_ram[sc.SRCREG_DAC2 + sc.SRCREG_VFREQ_FRAC] = freq & 0x7FFF
    card.src_ram[sc.SRCREG_VOL_DAC2] = 1 << 12
    card.mmio_write(sc.ES_REG_SRCONV, 4, 0)
    card.mmio_write(sc.ES_REG_CODEC, 4, sc.AC97_MASTER_VOL << 16)
    card.mmio_write(sc.ES_REG_CODEC, 4, sc.AC97_PCMOUT_VOL << 16 | 0x0808)
    card.mmio_write(sc.ES_REG_MEMPAGE, 4, sc.ES_PAGE_DAC)
    card.mmio_write(sc.ES_REG_DAC2_FRAMEADR, 4, ring)
    card.mmio_write(sc.ES_REG_DAC2_FRAMECNT, 4, 16384 // 4 - 1)
    card.mmio_write(sc.ES_REG_DAC2_SCOUNT, 4, period_frames - 1)
    card.mmio_write(sc.ES_REG_SERIAL_CONTROL, 4,
                    sc.SCTRL_P2INTEN | sc.SCTRL_P2SEB | sc.SCTRL_P2SMB)
    card.mmio_write(sc.ES_REG_CONTROL, 4, sc.CTRL_DAC2_EN)


def test_the_es1371_converter_reads_back_the_rate_linux_programs():
    card = sc.Es1371()
    for rate in (8000, 22050, 44100, 48000):
        freq = ((rate << 15) + 1500) // 3000
        card.src_ram[sc.SRCREG_DAC2 + sc.SRCREG_INT_REGS] = (freq >> 5) & 0xFC00
        card.src_ram[sc.SRCREG_DAC2 + sc.SRCREG_VFREQ_FRAC] = freq & 0x7FFF
        assert card.rate() == rate


def test_periods_end_on_the_exact_cycle_grid_of_the_sample_clock(es):
    m, card, ring, lines = es
    program_es(card, ring)
    # 1024 frames at 44.1 kHz on a 1.7 GHz clock: 39,473,922.9 cycles, remainder carried.
    run(m, 39_473_921)
    assert card.periods == 0 and lines.raised == []
    run(m, 39_473_922)
    assert card.periods == 1 and lines.raised == [sc.ES_IRQ]
    run(m, 78_947_844)
    assert card.periods == 1
    run(m, 78_947_845)
    assert card.periods == 2


def test_the_record_holds_the_ring_in_order_with_a_running_crc(es):
    m, card, ring, lines = es
    program_es(card, ring)
    run(m, 6 * 39_473_923)                       # six periods: wraps the 4-period ring once
    expected = bytes((i * 7) & 0xFF for i in range(16384))
    expected = expected + expected[:8192]
    assert card.played == 24576 and bytes(card.record) == expected
    assert card.crc == zlib.crc32(expected)
    assert [mode.setting for mode in card.modes] == [(44100, 2, 16, False)]
    # the frame-count register's high half is the position in longwords
    assert card.mmio_read(sc.ES_REG_DAC2_FRAMECNT, 4) >> 16 == 8192 // 4


def test_a_paused_period_is_an_underrun_and_fetches_nothing(es):
    m, card, ring, lines = es
    program_es(card, ring)
    run(m, 39_473_922)
    card.mmio_write(sc.ES_REG_SERIAL_CONTROL, 4, card.sctrl | sc.SCTRL_P2PAUSE)
    run(m, 3 * 39_473_923)
    assert (card.periods, card.underruns, card.played) == (1, 2, 4096)
    card.mmio_write(sc.ES_REG_SERIAL_CONTROL, 4, card.sctrl & ~sc.SCTRL_P2PAUSE)
    run(m, 4 * 39_473_923)
    assert (card.periods, card.underruns) == (2, 2)
    assert bytes(card.record[4096:]) == bytes((i * 7) & 0xFF for i in range(4096, 8192))


def test_clearing_the_es1371_interrupt_enable_acknowledges_it(es):
    m, card, ring, lines = es
    program_es(card, ring)
    run(m, 39_473_922)
    assert card.mmio_read(sc.ES_REG_STATUS, 4) == sc.STAT_INTR | sc.STAT_DAC2
    card.mmio_write(sc.ES_REG_SERIAL_CONTROL, 4, card.sctrl & ~sc.SCTRL_P2INTEN)
    assert card.mmio_read(sc.ES_REG_STATUS, 4) == 0


def test_the_ac97_codec_powers_up_muted_and_the_record_says_so(es):
    m, card, ring, lines = es
    program_es(card, ring)
    card.mmio_write(sc.ES_REG_CODEC, 4, sc.AC97_RESET << 16)
    run(m, 39_473_922)
    assert card.modes[-1].muted


def test_the_es1371_serial_interfaces_are_busy_after_a_write():
    card = sc.Es1371(src_polls=2)
    card.mmio_write(sc.ES_REG_SRCONV, 4, 0x75 << sc.SRC_RAMADDR_SHIFT | sc.SRC_WE | 0x1234)
    reads = [card.mmio_read(sc.ES_REG_SRCONV, 4) for _ in range(3)]
    assert [bool(r & sc.SRC_BUSY) for r in reads] == [True, True, False]
    assert reads[2] & sc.SRC_RAMDATA_MASK == 0x1234
    card.mmio_write(sc.ES_REG_CODEC, 4, sc.CODEC_PIRD | sc.AC97_VENDOR_ID1 << 16)
    assert card.mmio_read(sc.ES_REG_CODEC, 4) == sc.CODEC_WIP
    assert card.mmio_read(sc.ES_REG_CODEC, 4) == sc.CODEC_RDY | sc.AC97_VENDOR_ID1 << 16 | 0x8384


# -- SoundBlaster 16 --------------------------------------------------------------------------
@pytest.fixture
def sb():
    m = Machine(memory=1 << 20)
    lines = Lines()
    m.irq_sink = lines
    card = m.attach("sb16", sc.SoundBlaster16())
    ring = m.pages.alloc(4, m.pages.new_owner("ring"))
    m.memory.data[ring:ring + 16384] = bytes((i * 3) & 0xFF for i in range(16384))
    return m, card, ring, lines


def dsp(card, *values):
    for v in values:
        card.mmio_write(sc.SB_DSP_WRITE, 1, v)


def program_sb(card, ring, size=16384, block=4096):
    w = card.mmio_write
    w(sc.SB_DMA_MASK, 1, sc.DMA_MASK_SET | 1)
    w(sc.SB_DMA_CLEAR_FF, 1, 0)
    w(sc.SB_DMA_MODE, 1, sc.DMA_MODE_SINGLE | sc.DMA_MODE_AUTOINIT | sc.DMA_MODE_READ | 1)
    w(sc.SB_DMA_ADDR, 1, ring & 0xFF)
    w(sc.SB_DMA_ADDR, 1, (ring >> 8) & 0xFF)
    w(sc.SB_DMA_PAGE, 1, ring >> 16)
    w(sc.SB_DMA_COUNT, 1, (size - 1) & 0xFF)
    w(sc.SB_DMA_COUNT, 1, (size - 1) >> 8)
    w(sc.SB_DMA_MASK, 1, 1)
    dsp(card, sc.DSP_CMD_SPKON, sc.DSP_CMD_SPEED, 44100 >> 8, 44100 & 0xFF)
    length = block // 2 - 1
    dsp(card, sc.DSP_CMD_16BIT_AUTO, sc.DSP_MODE_STEREO | sc.DSP_MODE_SIGNED,
        length & 0xFF, length >> 8)


def test_a_dsp_reset_answers_0xaa_after_a_few_polls_then_the_version_is_4_05(sb):
    m, card, ring, lines = sb
    card.mmio_write(sc.SB_DSP_RESET, 1, 1)
    card.mmio_write(sc.SB_DSP_RESET, 1, 0)
    polls = [card.mmio_read(sc.SB_DSP_DATA_AVAIL, 1) & 0x80 for _ in range(3)]
    assert polls == [0, 0, 0x80]
    assert card.mmio_read(sc.SB_DSP_READ, 1) == sc.DSP_RESET_ACK
    dsp(card, sc.DSP_CMD_VERSION)
    assert [card.mmio_read(sc.SB_DSP_READ, 1) for _ in range(2)] == [4, 5]


def test_an_absent_soundblaster_floats_high():
    card = sc.SoundBlaster16(present=False)
    card.mmio_write(sc.SB_DSP_RESET, 1, 1)
    card.mmio_write(sc.SB_DSP_RESET, 1, 0)
    assert card.mmio_read(sc.SB_DSP_READ, 1) == 0xFF


def test_the_soundblaster_plays_its_8237_ring_in_blocks(sb):
    m, card, ring, lines = sb
    program_sb(card, ring)
    run(m, 5 * 39_473_923)
    expected = bytes((i * 3) & 0xFF for i in range(16384))
    assert card.played == 20480 and bytes(card.record) == expected + expected[:4096]
    assert card.modes[0].setting == (44100, 2, 16, False)


def test_the_8237_count_register_reads_back_the_residue_through_the_flip_flop(sb):
    m, card, ring, lines = sb
    program_sb(card, ring)
    run(m, 39_473_922)
    card.mmio_write(sc.SB_DMA_CLEAR_FF, 1, 0)
    lo = card.mmio_read(sc.SB_DMA_COUNT, 1)
    hi = card.mmio_read(sc.SB_DMA_COUNT, 1)
    assert (hi << 8 | lo) + 1 == 16384 - 4096


def test_the_soundblaster_raises_no_new_interrupt_until_port_0x0f_is_read(sb):
    m, card, ring, lines = sb
    program_sb(card, ring)
    run(m, 2 * 39_473_923)
    assert card.periods == 2 and lines.raised == [sc.SB_IRQ]
    card.mmio_write(sc.SB_MIXER_ADDR, 1, sc.MIXER_IRQ_STATUS)
    assert card.mmio_read(sc.SB_MIXER_DATA, 1) == sc.IRQ_STATUS_16
    card.mmio_read(sc.SB_DSP_ACK16, 1)
    assert card.mmio_read(sc.SB_MIXER_DATA, 1) == 0
    run(m, 3 * 39_473_923)
    assert lines.raised == [sc.SB_IRQ, sc.SB_IRQ]


def test_a_masked_dma_channel_starves_the_dsp(sb):
    m, card, ring, lines = sb
    program_sb(card, ring)
    card.mmio_write(sc.SB_DMA_MASK, 1, sc.DMA_MASK_SET | 1)
    run(m, 2 * 39_473_923)
    assert (card.played, card.underruns) == (0, 2)


def test_a_short_ring_wraps_many_times_within_one_period():
    m = Machine(memory=1 << 20)
    card = m.attach("es1371", sc.Es1371())
    ring = m.pages.alloc(1, m.pages.new_owner("ring"))
    m.memory.data[ring:ring + 8] = bytes(range(8))
    assert card.ring_read(ring, 8, 6, 20) == bytes([6, 7] + list(range(8)) * 2 + [0, 1])


def test_a_tiny_period_register_still_moves_a_fifo_burst_per_period(es):
    m, card, ring, lines = es
    program_es(card, ring, period_frames=1)
    # 32 frames at 44.1 kHz: 1,233,560.09 cycles
    run(m, 1_233_560)
    assert card.periods == 1 and card.played == 32 * 4
