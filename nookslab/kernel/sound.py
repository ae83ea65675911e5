"""The sound core: ``/dev/dsp`` and its drivers, modelled on Linux 2.4's soundcore and OSS.

A sound driver registers a ``file_operations`` table with :meth:`SoundSubsystem.register_sound_dsp`
(``sound_core.c``); the kernel gives it a minor number (3 for ``/dev/dsp``, 19 for ``/dev/dsp1``,
...) under the sound major 14. A user process opens ``/dev/dsp``, configures the stream with the
OSS ``SNDCTL_DSP_*`` ioctls (format, channels, speed, fragments: the *configuration calls* a shadow
driver must log and replay, OSDI'04) and writes PCM samples; the driver copies them into its DMA
ring and sleeps while the ring is full. Its interrupt handler wakes it as the card drains the ring.

ISA DMA channels (``request_dma``/``free_dma``, Linux's ``kernel/dma.c``) live here too, since only
the SoundBlaster uses one; the channel's registers are programmed by the driver itself, as the
inline ``set_dma_addr``/``set_dma_count`` helpers of ``<asm/dma.h>`` do.

The sound interface of the paper (SOSP'03 section 5.2, figure 5: "one interface with 8 functions")
is this module's exports plus the ``file_operations`` members a sound driver fills in.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import errno
from .chrdev import FILE, INODE, FileOperations
from .symbols import data, export, ops, scalar

SOUND_MAJOR = 14
SND_DEV_DSP = 3                     # minor of /dev/dsp; /dev/dspN is 16 * N + 3
MAX_DSP_UNITS = 4
O_NONBLOCK = 0o4000

# <linux/soundcard.h>: ioctl numbers (_IOWR('P', n, int) and friends).
SNDCTL_DSP_RESET = 0x00005000
SNDCTL_DSP_SYNC = 0x00005001
SNDCTL_DSP_SPEED = 0xC0045002
SNDCTL_DSP_STEREO = 0xC0045003
SNDCTL_DSP_GETBLKSIZE = 0xC0045004
SNDCTL_DSP_SETFMT = 0xC0045005
SNDCTL_DSP_CHANNELS = 0xC0045006
SNDCTL_DSP_GETFMTS = 0x8004500B
SNDCTL_DSP_SETFRAGMENT = 0xC004500A
SNDCTL_DSP_GETOSPACE = 0x8010500C   # struct audio_buf_info: fragments, fragstotal, fragsize, bytes
#: The ioctls that configure a stream (what a shadow sound driver records and replays).
CONFIGURATION_IOCTLS = (SNDCTL_DSP_SPEED, SNDCTL_DSP_STEREO, SNDCTL_DSP_SETFMT,
                        SNDCTL_DSP_CHANNELS, SNDCTL_DSP_SETFRAGMENT)
AFMT_QUERY = 0x00000000
AFMT_U8 = 0x00000008
AFMT_S16_LE = 0x00000010
AUDIO_BUF_INFO_SIZE = 16

ISA_DMA_CHANNELS = 8
ISA_DMA_CASCADE = 4                 # channel 4 links the two 8237s: never available


@dataclass
class DspUnit:
    """One registered ``/dev/dsp`` unit (``struct sound_unit`` of sound_core.c)."""

    minor: int
    fops: FileOperations
    owner: str
    inode: int


def dsp_path(minor: int) -> str:
    unit = (minor - SND_DEV_DSP) // 16
    return "/dev/dsp" if unit == 0 else f"/dev/dsp{unit}"


class SoundSubsystem:
    """``/dev/dsp`` registration and the system calls on it.

    Parameters
    ----------
    kernel: the kernel it serves (its heap holds each unit's inode and each open ``struct file``).
    """

    def __init__(self, kernel):
        self.k = kernel
        self.units: dict[int, DspUnit] = {}             # minor -> unit
        self._open: dict[int, int] = {}                 # struct file -> minor (kernel's record)
        kernel.file_closers[SOUND_MAJOR] = self.sys_close        # do_exit closes /dev/dsp
        for layout in (FILE, INODE):                     # what crosses the file_operations
            kernel.object_types.setdefault(layout.name, layout)

    # -- the driver interface -------------------------------------------------------------------
    @export(ops("fops", "file_operations"), scalar("dev"), returns=scalar("minor"), owned=True)
    def register_sound_dsp(self, fops: FileOperations, dev: int, owner: str = "kernel") -> int:
        """Register ``fops`` as a ``/dev/dsp`` unit (``dev`` = -1 for the first free one);
        returns the minor number, or ``-EBUSY``/``-EINVAL``/``-ENOMEM``."""
        if not isinstance(fops, FileOperations):
            return -errno.EINVAL
        if dev == -1 or dev == 0xFFFFFFFF:
            free = [u for u in range(MAX_DSP_UNITS) if 16 * u + SND_DEV_DSP not in self.units]
            if not free:
                return -errno.EBUSY
            dev = free[0]
        if not 0 <= dev < MAX_DSP_UNITS:
            return -errno.EINVAL
        minor = 16 * dev + SND_DEV_DSP
        if minor in self.units:
            return -errno.EBUSY
        inode = self.k.heap.kmalloc(INODE.size, "kernel")
        if not inode:
            return -errno.ENOMEM
        self.k.mmu.st32(inode + INODE.i_rdev, SOUND_MAJOR << 8 | minor)
        self.units[minor] = DspUnit(minor, fops, owner, inode)
        self.k.events.add("register", owner, f"sound dsp minor {minor} {dsp_path(minor)}")
        return minor

    @export(scalar("unit"))
    def unregister_sound_dsp(self, unit: int) -> None:
        """Remove the ``/dev/dsp`` unit with minor number ``unit``."""
        entry = self.units.pop(unit, None)
        if entry is None:
            # sound_core.c's __sound_remove_unit: "Sound device ... went away?" and carries on.
            self.k.events.add("warning", "sound", f"unregister of unknown dsp minor {unit}")
            return
        self.k.heap.kfree(entry.inode)
        self.k.events.add("unregister", entry.owner, f"sound dsp minor {unit}")

    def replace_fops(self, minor: int, fops: FileOperations) -> None:
        """Used by Nooks when it substitutes a table of wrappers for a driver's table."""
        unit = self.units[minor]
        self.units[minor] = DspUnit(unit.minor, fops, unit.owner, unit.inode)

    def unit_of(self, owner: str) -> DspUnit | None:
        """The unit registered by module ``owner`` (first by minor), if any."""
        return next((u for _, u in sorted(self.units.items()) if u.owner == owner), None)

    # -- system calls (run inside kernel.syscall) -----------------------------------------------
    def sys_open(self, path: str = "/dev/dsp", flags: int = 0) -> int:
        """``open("/dev/dspN")``: a file descriptor, or ``-ENODEV``/the driver's error."""
        name = path.removeprefix("/dev/")
        unit = None
        for minor, u in sorted(self.units.items()):
            if dsp_path(minor) == f"/dev/{name}":
                unit = u
        if unit is None:
            return -errno.ENODEV
        k = self.k
        f = k.heap.kmalloc(FILE.size, "kernel")
        if not f:
            return -errno.ENOMEM
        k.mmu.st32(f + FILE.f_flags, flags)
        k.mmu.st32(f + FILE.f_pos, 0)
        k.mmu.st32(f + FILE.f_count, 1)
        k.mmu.st32(f + FILE.private_data, 0)
        k.mmu.st32(f + FILE.f_rdev, SOUND_MAJOR << 8 | unit.minor)
        if unit.fops.open is not None:
            ret = unit.fops.open(unit.inode, f)
            if ret:
                k.heap.kfree(f)
                return ret
        proc = k.current
        fd = 3
        while fd in proc.files:
            fd += 1
        proc.files[fd] = (SOUND_MAJOR, f)
        self._open[f] = unit.minor
        return fd

    def _file(self, fd: int) -> tuple[DspUnit | None, int | None]:
        entry = self.k.current.files.get(fd)
        if entry is None or entry[0] != SOUND_MAJOR:
            return None, None
        f = entry[1]
        return self.units.get(self._open.get(f, -1)), f

    def sys_write(self, fd: int, payload: bytes) -> int:
        """``write(fd, payload)``: the bytes go to the process's user buffer, then to the driver."""
        unit, f = self._file(fd)
        if f is None:
            return -errno.EBADF
        if unit is None:
            return -errno.ENODEV
        if unit.fops.write is None:
            return -errno.EINVAL
        proc = self.k.current
        n = min(len(payload), proc.usize - AUDIO_BUF_INFO_SIZE)
        self.k.mmu.write(proc.ubuf, payload[:n])
        return unit.fops.write(f, proc.ubuf, n)

    def sys_ioctl(self, fd: int, cmd: int, arg: int) -> int:
        """``ioctl(fd, cmd, arg)`` with ``arg`` a user address (or a plain value)."""
        unit, f = self._file(fd)
        if f is None:
            return -errno.EBADF
        if unit is None:
            return -errno.ENODEV
        if unit.fops.ioctl is None:
            return -errno.ENOTTY
        return unit.fops.ioctl(unit.inode, f, cmd, arg)

    def sys_ioctl_int(self, fd: int, cmd: int, value: int = 0) -> tuple[int, int]:
        """``ioctl(fd, cmd, &value)`` as libc callers write it: returns (ret, value after)."""
        proc = self.k.current
        slot = proc.ubuf + proc.usize - AUDIO_BUF_INFO_SIZE
        self.k.mmu.st32(slot, value)
        ret = self.sys_ioctl(fd, cmd, slot)
        out = self.k.mmu.ld32(slot)
        return ret, out - (1 << 32) if out & 0x80000000 else out

    def sys_ioctl_struct(self, fd: int, cmd: int, size: int) -> tuple[int, bytes]:
        """``ioctl(fd, cmd, &struct)`` for a result struct of ``size`` bytes (GETOSPACE)."""
        proc = self.k.current
        size = min(size, AUDIO_BUF_INFO_SIZE)
        slot = proc.ubuf + proc.usize - AUDIO_BUF_INFO_SIZE
        self.k.mmu.fill(slot, 0, size)
        ret = self.sys_ioctl(fd, cmd, slot)
        return ret, self.k.mmu.read(slot, size)

    def sys_close(self, fd: int) -> int:
        """``close(fd)``: the driver's release (a sound driver drains its ring there)."""
        entry = self.k.current.files.get(fd)
        if entry is None or entry[0] != SOUND_MAJOR:
            return -errno.EBADF
        unit, f = self._file(fd)
        del self.k.current.files[fd]
        self._open.pop(f, None)
        ret = 0
        try:
            if unit is not None and unit.fops.release is not None:
                ret = unit.fops.release(unit.inode, f)
        finally:
            self.k.heap.kfree(f)
        return ret

    # -- bookkeeping ----------------------------------------------------------------------------
    def held_by(self, owner: str) -> list[str]:
        return [f"sound dsp minor {m} ({dsp_path(m)})" for m, u in sorted(self.units.items())
                if u.owner == owner]


class IsaDmaSubsystem:
    """ISA DMA channels of the two 8237 controllers (Linux's ``kernel/dma.c``)."""

    def __init__(self, kernel):
        self.k = kernel
        self.channels: dict[int, tuple[str, str]] = {ISA_DMA_CASCADE: ("cascade", "kernel")}

    @export(scalar("dmanr"), data("device_id"), returns=scalar("ret"), owned=True)
    def request_dma(self, dmanr: int, device_id: str, owner: str = "kernel") -> int:
        """Claim ISA DMA channel ``dmanr``; 0, ``-EINVAL`` or ``-EBUSY``."""
        if not 0 <= dmanr < ISA_DMA_CHANNELS:
            return -errno.EINVAL
        if dmanr in self.channels:
            return -errno.EBUSY
        self.channels[dmanr] = (str(device_id), owner)
        return 0

    @export(scalar("dmanr"))
    def free_dma(self, dmanr: int) -> None:
        """Give ISA DMA channel ``dmanr`` back."""
        if dmanr == ISA_DMA_CASCADE or not 0 <= dmanr < ISA_DMA_CHANNELS:
            self.k.events.add("warning", "dma", f"Trying to free DMA{dmanr}")
            return
        if self.channels.pop(dmanr, None) is None:
            self.k.events.add("warning", "dma", f"Trying to free free DMA{dmanr}")

    def held_by(self, owner: str) -> list[str]:
        return [f"dma channel {n} ({name})" for n, (name, o) in sorted(self.channels.items())
                if o == owner]


def install(kernel) -> None:
    """Install the sound core and the ISA DMA channels (called from ``install_all``)."""
    kernel.add_subsystem("sound", SoundSubsystem(kernel))
    kernel.add_subsystem("dma", IsaDmaSubsystem(kernel))
