"""The sb driver: init/cleanup symmetry, unwinding, its DSP, DMA channel and interrupt handler."""
import pytest

import nookslab
from nookslab.drivers.sb import SB_DEVC as D
from nookslab.kernel import errno
from nookslab.kernel.sound import AFMT_QUERY, AFMT_U8, SNDCTL_DSP_SETFMT, SNDCTL_DSP_SPEED
from nookslab.machine.devices import sound as sc


def kinds(held):
    return sorted(h.split(" ")[0] for h in held)


@pytest.fixture
def k():
    k = nookslab.boot(mode="native", seed=2)
    module = k.load("sb")
    assert module.ok, module.error
    return k


def test_init_finds_a_dsp_4_05_on_irq_5_and_dma_5(k):
    devc = k.modules["sb"].namespace["devc_ptr"]
    m = k.mmu
    assert (m.ld32(devc + D.major), m.ld32(devc + D.minor)) == (4, 5)
    assert (m.ld32(devc + D.irq), m.ld32(devc + D.dma16)) == (5, 5)
    assert kinds(k.held_by("sb")) == ["dma", "dma", "ioremap", "irq", "kmalloc", "sound"]
    assert "dma channel 5 (sb16)" in k.held_by("sb")
    card = k.machine.devices["sb16"]
    assert card.speaker and not card.muted()


def test_cleanup_returns_everything_including_the_dma_channel(k):
    assert k.unload("sb").leaks == []
    assert k.held_by("sb") == []
    assert 5 not in k.subsystems["dma"].channels


def test_no_card_at_the_port_fails_init_and_unwinds():
    k = nookslab.boot(mode="native", seed=2)
    module = k.load("sb", present=False)
    assert not module.ok and module.error == "init_module returned -ENODEV"
    assert k.held_by("sb") == []


def test_a_taken_dma_channel_fails_init_and_unwinds():
    k = nookslab.boot(mode="native", seed=2)
    assert k.subsystems["dma"].request_dma(5, "other", owner="other") == 0
    module = k.load("sb")
    assert not module.ok and module.error == "init_module returned -EBUSY"
    assert k.held_by("sb") == []


def test_the_speed_is_clamped_to_the_sb16s_range(k):
    snd = k.subsystems["sound"]
    proc = k.spawn("player")
    fd = k.syscall(proc, snd.sys_open, "/dev/dsp")
    assert k.syscall(proc, snd.sys_ioctl_int, fd, SNDCTL_DSP_SETFMT, AFMT_QUERY) == (0, AFMT_U8)
    assert k.syscall(proc, snd.sys_ioctl_int, fd, SNDCTL_DSP_SPEED, 96000) == (0, 44100)
    assert k.syscall(proc, snd.sys_ioctl_int, fd, SNDCTL_DSP_SPEED, 1000) == (0, 5000)


def test_an_unknown_ioctl_is_einval(k):
    snd = k.subsystems["sound"]
    proc = k.spawn("player")
    fd = k.syscall(proc, snd.sys_open, "/dev/dsp")
    assert k.syscall(proc, snd.sys_ioctl_int, fd, 0x1234, 0)[0] == -errno.EINVAL


def test_the_handler_acknowledges_the_16_bit_interrupt_by_reading_port_0x0f(k):
    card = k.machine.devices["sb16"]
    assert k.run("play-mp3", seconds=0.05).ok
    devc = k.modules["sb"].namespace["devc_ptr"]
    assert k.mmu.ld32(devc + D.intr_count) == card.irqs_raised == 3
    assert card.irq_status == 0


def test_an_interrupt_that_is_not_the_cards_is_ignored(k):
    devc = k.modules["sb"].namespace["devc_ptr"]
    k.machine.raise_irq(sc.SB_IRQ)
    assert k.mmu.ld32(devc + D.intr_count) == 0 and k.verdict is None


def test_a_handler_that_forgets_the_ack_gets_no_more_interrupts_and_the_player_fails(k):
    card = k.machine.devices["sb16"]
    # the DSP keeps the 16-bit status set: as if the handler never read port 0x0F
    original = card.mmio_read
    card.mmio_read = lambda off, size: 0xFF if off == sc.SB_DSP_ACK16 else original(off, size)
    r = k.run("play-mp3", seconds=0.3)
    assert not r.ok and card.irqs_raised == 1
