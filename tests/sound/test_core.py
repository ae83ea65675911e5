"""The sound core: /dev/dsp registration, the system calls, ISA DMA channels."""
import pytest

import nookslab
from nookslab.kernel import errno
from nookslab.kernel.chrdev import FILE, FileOperations
from nookslab.kernel.sound import (CONFIGURATION_IOCTLS, SNDCTL_DSP_SPEED, SOUND_MAJOR,
                                   dsp_path)


@pytest.fixture
def k():
    return nookslab.boot(mode="native", seed=0)


class Recorder:
    """A fake sound driver's file_operations: it records what the kernel hands it."""

    def __init__(self, kernel):
        self.k = kernel
        self.calls = []

    def fops(self):
        return FileOperations(open=self.open, release=self.release, write=self.write,
                              ioctl=self.ioctl)

    def open(self, inode, file):
        self.calls.append(("open", self.k.mmu.ld32(file + FILE.f_rdev)))
        return 0

    def release(self, inode, file):
        self.calls.append(("release",))
        return 0

    def write(self, file, buf, count):
        self.calls.append(("write", self.k.mmu.read(buf, count)))
        return count

    def ioctl(self, inode, file, cmd, arg):
        value = self.k.mmu.ld32(arg)
        self.calls.append(("ioctl", cmd, value))
        self.k.mmu.st32(arg, value // 2)
        return 0


def test_register_sound_dsp_hands_out_minors_3_19_35(k):
    snd = k.subsystems["sound"]
    fops = FileOperations()
    assert [snd.register_sound_dsp(fops, -1, owner="a") for _ in range(3)] == [3, 19, 35]
    assert snd.register_sound_dsp(fops, 1, owner="b") == -errno.EBUSY
    assert snd.register_sound_dsp(fops, 9, owner="b") == -errno.EINVAL
    assert [dsp_path(m) for m in (3, 19, 35)] == ["/dev/dsp", "/dev/dsp1", "/dev/dsp2"]
    assert k.held_by("a") == ["sound dsp minor 3 (/dev/dsp)", "sound dsp minor 19 (/dev/dsp1)",
                              "sound dsp minor 35 (/dev/dsp2)"]


def test_unregister_sound_dsp_frees_the_units_inode(k):
    snd = k.subsystems["sound"]
    live = len(k.heap.live)
    minor = snd.register_sound_dsp(FileOperations(), -1, owner="a")
    assert len(k.heap.live) == live + 1
    snd.unregister_sound_dsp(minor)
    assert len(k.heap.live) == live and k.held_by("a") == []
    snd.unregister_sound_dsp(minor)                  # a second time: a warning, no crash
    assert k.events.of("warning")[-1].detail == "unregister of unknown dsp minor 3"


def test_the_system_calls_reach_the_drivers_file_operations(k):
    snd = k.subsystems["sound"]
    fake = Recorder(k)
    snd.register_sound_dsp(fake.fops(), -1, owner="fake")
    proc = k.spawn("player")
    fd = k.syscall(proc, snd.sys_open, "/dev/dsp")
    assert fd == 3 and proc.files[fd][0] == SOUND_MAJOR
    assert k.syscall(proc, snd.sys_write, fd, b"abcd") == 4
    assert k.syscall(proc, snd.sys_ioctl_int, fd, SNDCTL_DSP_SPEED, 44100) == (0, 22050)
    assert k.syscall(proc, snd.sys_close, fd) == 0
    assert fake.calls == [("open", SOUND_MAJOR << 8 | 3), ("write", b"abcd"),
                          ("ioctl", SNDCTL_DSP_SPEED, 44100), ("release",)]
    assert k.syscall(proc, snd.sys_write, fd, b"x") == -errno.EBADF


def test_opening_a_dsp_nobody_registered_is_enodev(k):
    proc = k.spawn("player")
    assert k.syscall(proc, k.subsystems["sound"].sys_open, "/dev/dsp") == -errno.ENODEV


def test_the_speed_ioctl_is_a_configuration_call():
    assert SNDCTL_DSP_SPEED in CONFIGURATION_IOCTLS


def test_isa_dma_channels_are_claimed_once_and_the_cascade_never(k):
    dma = k.subsystems["dma"]
    assert dma.request_dma(5, "sb16", owner="sb") == 0
    assert dma.request_dma(5, "other", owner="x") == -errno.EBUSY
    assert dma.request_dma(4, "x", owner="x") == -errno.EBUSY
    assert dma.request_dma(8, "x", owner="x") == -errno.EINVAL
    assert k.held_by("sb") == ["dma channel 5 (sb16)"]
    dma.free_dma(5)
    assert k.held_by("sb") == []
    dma.free_dma(5)
    assert k.events.of("warning")[-1].detail == "Trying to free free DMA5"


def test_the_sound_interface_is_exported_with_specs(k):
    specs = k.symbols.specs
    assert specs["register_sound_dsp"].args[0].kind == "ops"
    assert specs["register_sound_dsp"].owned and specs["request_dma"].owned
    assert specs["unregister_sound_dsp"].subsystem == "sound"
    assert specs["free_dma"].subsystem == "dma"
