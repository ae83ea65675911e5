"""The es1371 driver: init/cleanup symmetry, unwinding, its ioctls and interrupt handler."""
import pytest

import nookslab
from nookslab.drivers.es1371 import ES1371_STATE as S
from nookslab.kernel import errno
from nookslab.kernel.chrdev import FileOperations
from nookslab.kernel.sound import (AFMT_QUERY, AFMT_S16_LE, AFMT_U8, SNDCTL_DSP_GETOSPACE,
                                   SNDCTL_DSP_SETFMT, SNDCTL_DSP_SPEED)
from nookslab.machine.devices import sound as sc


def kinds(held):
    return sorted(h.split(" ")[0] for h in held)


@pytest.fixture
def k():
    k = nookslab.boot(mode="native", seed=2)
    module = k.load("es1371")
    assert module.ok, module.error
    return k


def test_init_takes_memory_an_irq_a_ring_the_registers_and_dev_dsp(k):
    assert kinds(k.held_by("es1371")) == ["dma", "ioremap", "irq", "kmalloc", "sound"]
    assert "sound dsp minor 3 (/dev/dsp)" in k.held_by("es1371")
    card = k.machine.devices["es1371"]
    # the converter is enabled and set to 22,050 Hz; the codec unmuted; the chip idle
    assert card.rate() == 22050 and not card.muted() and card.ctrl == 0
    s = k.modules["es1371"].namespace["priv"]
    assert k.mmu.ld32(s + S.codec_id) == 0x83847600


def test_cleanup_returns_everything(k):
    assert k.unload("es1371").leaks == []
    assert k.held_by("es1371") == []


def test_a_missing_codec_fails_init_and_unwinds():
    k = nookslab.boot(mode="native", seed=2)
    module = k.load("es1371", codec_present=False)
    assert not module.ok and module.error == "init_module returned -ENODEV"
    assert k.held_by("es1371") == []


def test_a_full_sound_core_fails_init_and_unwinds():
    k = nookslab.boot(mode="native", seed=2)
    snd = k.subsystems["sound"]
    for _ in range(4):
        snd.register_sound_dsp(FileOperations(), -1, owner="squatter")
    module = k.load("es1371")
    assert not module.ok and module.error == "init_module returned -EBUSY"
    assert k.held_by("es1371") == []


def test_open_is_exclusive_and_starts_from_the_oss_defaults(k):
    snd = k.subsystems["sound"]
    a, b = k.spawn("a"), k.spawn("b")
    fd = k.syscall(a, snd.sys_open, "/dev/dsp")
    assert fd >= 0
    assert k.syscall(b, snd.sys_open, "/dev/dsp") == -errno.EBUSY
    assert k.syscall(a, snd.sys_ioctl_int, fd, SNDCTL_DSP_SETFMT, AFMT_QUERY) == (0, AFMT_U8)
    assert k.syscall(a, snd.sys_ioctl_int, fd, SNDCTL_DSP_SETFMT, AFMT_S16_LE) == (0, AFMT_S16_LE)
    assert k.syscall(a, snd.sys_ioctl_int, fd, SNDCTL_DSP_SPEED, 96000) == (0, 48000)
    assert k.machine.devices["es1371"].rate() == 48000
    ret, info = k.syscall(a, snd.sys_ioctl_struct, fd, SNDCTL_DSP_GETOSPACE, 16)
    assert ret == 0
    assert [int.from_bytes(info[i:i + 4], "little") for i in range(0, 16, 4)] == [4, 4, 4096,
                                                                                  16384]
    assert k.syscall(a, snd.sys_close, fd) == 0
    assert k.syscall(b, snd.sys_open, "/dev/dsp") >= 0


def test_a_scribbled_magic_makes_every_entry_refuse_with_enxio(k):
    snd = k.subsystems["sound"]
    s = k.modules["es1371"].namespace["priv"]
    proc = k.spawn("player")
    fd = k.syscall(proc, snd.sys_open, "/dev/dsp")
    k.mmu.st32(s + S.magic, 0)
    assert k.syscall(proc, snd.sys_write, fd, bytes(64)) == -errno.ENXIO
    assert k.syscall(proc, snd.sys_ioctl_int, fd, SNDCTL_DSP_SPEED, 8000)[0] == -errno.ENXIO


def test_an_interrupt_that_is_not_the_cards_is_ignored(k):
    s = k.modules["es1371"].namespace["priv"]
    before = k.mmu.read(s, S.size)
    k.machine.raise_irq(sc.ES_IRQ)
    assert k.mmu.read(s, S.size) == before and k.verdict is None


def test_the_driver_reaches_the_kernel_only_through_exported_symbols(k):
    module = k.modules["es1371"]
    from nookslab.kernel.api import INTRINSICS
    assert all(n in k.symbols or n in INTRINSICS for n in module.imports)
    assert {"register_sound_dsp", "unregister_sound_dsp", "copy_from_user", "request_irq",
            "pci_alloc_consistent", "sleep_on_timeout", "wake_up"} <= set(module.imports)
