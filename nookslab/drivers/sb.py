"""sb: the SoundBlaster 16 driver (Linux 2.4 ``drivers/sound/sb_common.c`` + ``sb_audio.c``).

The paper's sound extension for fault injection (SOSP'03 Table 3, section 5.2: process-oriented).
``init_module`` finds the card, resets its DSP (write 1 then 0 to the reset port, wait for 0xAA),
reads the DSP version (4.xx: an SB16), learns its IRQ and 16-bit DMA channel from the mixer's
configuration registers, claims the ISA DMA channel, allocates the ``sb_devc`` and the DMA ring
(``pci_alloc_consistent`` with a NULL device: ISA-reachable memory, as in Linux 2.4), installs the
interrupt handler, sets the mixer, turns the speaker on and registers ``/dev/dsp``.

Playback programs the 8237 channel (mask, clear the flip-flop, auto-init mode, address and page,
count - 1, unmask: ``<asm/dma.h>``'s inline helpers) and then the DSP (0x41 output rate, 0xB6
16-bit auto-init output with the block length = one fragment). Every block ends with an interrupt
that the handler identifies through mixer register 0x82 and acknowledges by *reading* port 0x0F;
it reads the channel's residue to find the hardware pointer and accounts the bytes played. When
fewer than a fragment of new samples is left it pauses the DSP (0xD5) until ``write`` brings a
fragment (0xD6). The Linux SB16 driver does its buffering in the OSS core (``dmabuf.c``); this one
keeps the ring itself, like es1371, so that all of its state is the extension's own.
"""
from nookslab.kernel.api import (copy_from_user, copy_to_user, free_dma, free_irq,
                                 init_waitqueue_head, iounmap, ioremap, kfree, kmalloc, ld32,
                                 memset, pci_alloc_consistent, pci_enable_device,
                                 pci_find_device, pci_free_consistent, readb, register_sound_dsp,
                                 request_dma, request_irq, sleep_on_timeout, spin_lock,
                                 spin_lock_init, spin_lock_irqsave, spin_unlock,
                                 spin_unlock_irqrestore, st32, unregister_sound_dsp, wake_up,
                                 writeb)
from nookslab.kernel.chrdev import FILE, FileOperations
from nookslab.kernel.errno import EAGAIN, EBUSY, EFAULT, EINVAL, EIO, ENODEV, ENOMEM
from nookslab.kernel.mm import GFP_KERNEL
from nookslab.kernel.pci import PCI_DEV
from nookslab.kernel.sound import (AFMT_QUERY, AFMT_S16_LE, AFMT_U8, O_NONBLOCK,
                                   SNDCTL_DSP_CHANNELS, SNDCTL_DSP_GETBLKSIZE, SNDCTL_DSP_GETFMTS,
                                   SNDCTL_DSP_GETOSPACE, SNDCTL_DSP_RESET, SNDCTL_DSP_SETFMT,
                                   SNDCTL_DSP_SETFRAGMENT, SNDCTL_DSP_SPEED, SNDCTL_DSP_STEREO,
                                   SNDCTL_DSP_SYNC)
from nookslab.kernel.structs import Layout
from nookslab.kernel.sync import SPINLOCK, WAIT_QUEUE_HEAD
from nookslab.machine.devices.sound import (DMA_MASK_SET, DMA_MODE_AUTOINIT, DMA_MODE_READ,
                                            DMA_MODE_SINGLE, DSP_CMD_16BIT_AUTO,
                                            DSP_CMD_8BIT_AUTO, DSP_CMD_CONT16, DSP_CMD_CONT8,
                                            DSP_CMD_EXIT16, DSP_CMD_EXIT8, DSP_CMD_PAUSE16,
                                            DSP_CMD_PAUSE8, DSP_CMD_SPEED, DSP_CMD_SPKOFF,
                                            DSP_CMD_SPKON, DSP_CMD_VERSION, DSP_MODE_SIGNED,
                                            DSP_MODE_STEREO, DSP_RESET_ACK, MIXER_DMA_SELECT,
                                            MIXER_IRQ_SELECT, MIXER_IRQ_STATUS, MIXER_MASTER_L,
                                            MIXER_MASTER_R, MIXER_RESET, MIXER_VOICE_L,
                                            MIXER_VOICE_R, SB_DEVICE, SB_DMA_ADDR,
                                            SB_DMA_CLEAR_FF, SB_DMA_COUNT, SB_DMA_MASK,
                                            SB_DMA_MODE, SB_DMA_PAGE, SB_DSP_ACK16,
                                            SB_DSP_DATA_AVAIL, SB_DSP_READ, SB_DSP_RESET,
                                            SB_DSP_STATUS, SB_DSP_WRITE, SB_MIXER_ADDR,
                                            SB_MIXER_DATA, SB_VENDOR)

DMABUF_BYTES = 16 * 1024          # the ring: 4 pages of ISA-reachable DMA memory
DEFAULT_FRAGSHIFT = 12
MIN_FRAGSHIFT = 8
MAX_FRAGSHIFT = 12
DSP_TRIES = 1000                  # polls of the DSP's status before "DSP command timeout"
RESET_TRIES = 1000
WRITE_TIMEOUT = 5                 # jiffies
WRITE_TRIES = 4
DRAIN_TIMEOUT = 5
DRAIN_TRIES = 4
SB16_MIN_SPEED = 5000             # the SB16's DSP 4.xx output range
SB16_MAX_SPEED = 44100

SB_DEVC = Layout("sb_devc", [
    ("base", "ptr"), ("pdev", "ptr"), ("irq", "u32"), ("dma16", "u32"),
    ("major", "u32"), ("minor", "u32"), ("dev_audio", "s32"), ("opened", "u32"),
    ("bits", "u32"), ("channels", "u32"), ("speed", "u32"),
    ("ossfragshift", "u32"), ("ossmaxfrags", "u32"),
    ("dmabuf", "ptr"), ("dmasize", "u32"), ("fragsize", "u32"), ("fragshift", "u32"),
    ("numfrag", "u32"), ("hwptr", "u32"), ("swptr", "u32"), ("count", "s32"),
    ("total_bytes", "u32"), ("underruns", "u32"), ("ready", "u32"), ("running", "u32"),
    ("paused", "u32"), ("intr_count", "u32"),
    ("lock", SPINLOCK.size), ("wait", WAIT_QUEUE_HEAD.size), ("scratch", 16),
])
D = SB_DEVC

devc_ptr = 0       # the driver's one static pointer (Linux: detected_devc / the audio_devs table)


def _s32(value):
    return value - 0x100000000 if value & 0x80000000 else value


# -- the DSP and the mixer ----------------------------------------------------------------------
def sb_dsp_command(devc, val):
    base = ld32(devc + D.base)
    i = 0
    while i < DSP_TRIES:
        if not readb(base + SB_DSP_STATUS) & 0x80:
            writeb(val, base + SB_DSP_WRITE)
            return 1
        i += 1
    return 0                      # "sb: DSP command(%x) timeout"


def sb_dsp_get_byte(devc):
    base = ld32(devc + D.base)
    i = 0
    while i < DSP_TRIES:
        if readb(base + SB_DSP_DATA_AVAIL) & 0x80:
            return readb(base + SB_DSP_READ)
        i += 1
    return 0xFFFF


def sb_dsp_reset(devc):
    base = ld32(devc + D.base)
    writeb(1, base + SB_DSP_RESET)
    writeb(0, base + SB_DSP_RESET)          # (Linux waits 10 us in between)
    loopc = 0
    while loopc < RESET_TRIES:
        if readb(base + SB_DSP_DATA_AVAIL) & 0x80:
            break
        loopc += 1
    if readb(base + SB_DSP_READ) != DSP_RESET_ACK:
        return 0
    return 1


def sb_setmixer(devc, port, value):
    base = ld32(devc + D.base)
    writeb(port, base + SB_MIXER_ADDR)
    writeb(value, base + SB_MIXER_DATA)


def sb_getmixer(devc, port):
    base = ld32(devc + D.base)
    writeb(port, base + SB_MIXER_ADDR)
    return readb(base + SB_MIXER_DATA)


# -- the 8237 channel and the DSP's DMA modes -----------------------------------------------------
def sb_program_dma(devc):
    """disable_dma, clear_dma_ff, set_dma_mode, set_dma_addr, set_dma_count, enable_dma."""
    base = ld32(devc + D.base)
    chan = ld32(devc + D.dma16) & 3
    addr = ld32(devc + D.dmabuf)
    count = ld32(devc + D.dmasize) - 1
    writeb(DMA_MASK_SET | chan, base + SB_DMA_MASK)
    writeb(0, base + SB_DMA_CLEAR_FF)
    writeb(DMA_MODE_SINGLE | DMA_MODE_AUTOINIT | DMA_MODE_READ | chan, base + SB_DMA_MODE)
    writeb(addr & 0xFF, base + SB_DMA_ADDR)
    writeb((addr >> 8) & 0xFF, base + SB_DMA_ADDR)
    writeb((addr >> 16) & 0xFF, base + SB_DMA_PAGE)
    writeb(count & 0xFF, base + SB_DMA_COUNT)
    writeb((count >> 8) & 0xFF, base + SB_DMA_COUNT)
    writeb(chan, base + SB_DMA_MASK)


def sb_start(devc):
    """Start the DSP once a fragment is ready, or continue it if it was paused; lock held."""
    count = _s32(ld32(devc + D.count))
    if count < ld32(devc + D.fragsize) or not ld32(devc + D.ready):
        return
    sixteen = ld32(devc + D.bits) == 16
    if ld32(devc + D.running):
        if ld32(devc + D.paused):
            sb_dsp_command(devc, DSP_CMD_CONT16 if sixteen else DSP_CMD_CONT8)
            st32(devc + D.paused, 0)
        return
    sb_program_dma(devc)
    speed = ld32(devc + D.speed)
    sb_dsp_command(devc, DSP_CMD_SPEED)
    sb_dsp_command(devc, (speed >> 8) & 0xFF)
    sb_dsp_command(devc, speed & 0xFF)
    mode = DSP_MODE_STEREO if ld32(devc + D.channels) == 2 else 0
    if sixteen:
        length = ld32(devc + D.fragsize) // 2 - 1        # in 16-bit samples
        sb_dsp_command(devc, DSP_CMD_16BIT_AUTO)
        sb_dsp_command(devc, mode | DSP_MODE_SIGNED)
    else:
        length = ld32(devc + D.fragsize) - 1
        sb_dsp_command(devc, DSP_CMD_8BIT_AUTO)
        sb_dsp_command(devc, mode)
    sb_dsp_command(devc, length & 0xFF)
    sb_dsp_command(devc, (length >> 8) & 0xFF)
    st32(devc + D.running, 1)
    st32(devc + D.paused, 0)


def sb_halt(devc):
    """Leave auto-init mode and mask the channel (sb16_audio_halt_xfer)."""
    flags = spin_lock_irqsave(devc + D.lock)
    if ld32(devc + D.running):
        sixteen = ld32(devc + D.bits) == 16
        sb_dsp_command(devc, DSP_CMD_EXIT16 if sixteen else DSP_CMD_EXIT8)
        writeb(DMA_MASK_SET | (ld32(devc + D.dma16) & 3), ld32(devc + D.base) + SB_DMA_MASK)
        st32(devc + D.running, 0)
        st32(devc + D.paused, 0)
    spin_unlock_irqrestore(devc + D.lock, flags)


def sb_prepare(devc):
    """Lay out the fragments and reset the pointers (prepare_for_output)."""
    sb_halt(devc)
    flags = spin_lock_irqsave(devc + D.lock)
    shift = ld32(devc + D.ossfragshift)
    if not shift:
        shift = DEFAULT_FRAGSHIFT
    if shift < MIN_FRAGSHIFT:
        shift = MIN_FRAGSHIFT
    if shift > MAX_FRAGSHIFT:
        shift = MAX_FRAGSHIFT
    numfrag = DMABUF_BYTES >> shift
    maxfrags = ld32(devc + D.ossmaxfrags)
    if 2 <= maxfrags < numfrag:
        numfrag = maxfrags
    st32(devc + D.fragshift, shift)
    st32(devc + D.fragsize, 1 << shift)
    st32(devc + D.numfrag, numfrag)
    st32(devc + D.dmasize, numfrag << shift)
    st32(devc + D.hwptr, 0)
    st32(devc + D.swptr, 0)
    st32(devc + D.count, 0)
    st32(devc + D.total_bytes, 0)
    memset(ld32(devc + D.dmabuf), 0 if ld32(devc + D.bits) == 16 else 0x80, numfrag << shift)
    st32(devc + D.ready, 1)
    spin_unlock_irqrestore(devc + D.lock, flags)
    return 0


def sb_update_ptr(devc):
    """Account the bytes played since the last interrupt from the channel's residue; lock held."""
    if not ld32(devc + D.running):
        return
    base = ld32(devc + D.base)
    writeb(0, base + SB_DMA_CLEAR_FF)
    lo = readb(base + SB_DMA_COUNT)
    hi = readb(base + SB_DMA_COUNT)
    residue = ((hi << 8) | lo) + 1                     # get_dma_residue
    dmasize = ld32(devc + D.dmasize)
    hwptr = (dmasize - residue) % dmasize
    diff = (dmasize + hwptr - ld32(devc + D.hwptr)) % dmasize
    st32(devc + D.hwptr, hwptr)
    st32(devc + D.total_bytes, ld32(devc + D.total_bytes) + diff)
    count = _s32(ld32(devc + D.count)) - diff
    st32(devc + D.count, count)
    fragsize = ld32(devc + D.fragsize)
    if count < fragsize and not ld32(devc + D.paused):
        sb_dsp_command(devc, DSP_CMD_PAUSE16 if ld32(devc + D.bits) == 16 else DSP_CMD_PAUSE8)
        st32(devc + D.paused, 1)
        if count > 0:
            st32(devc + D.underruns, ld32(devc + D.underruns) + 1)
    if count + fragsize <= dmasize:
        wake_up(devc + D.wait)


def sb_interrupt(irq, dev_id):
    devc = dev_id
    base = ld32(devc + D.base)
    src = sb_getmixer(devc, MIXER_IRQ_STATUS)
    if not src & 3:
        return                                         # not ours (or an MPU-401 interrupt)
    if src & 1:
        readb(base + SB_DSP_DATA_AVAIL)                # acknowledge the 8-bit interrupt
    if src & 2:
        readb(base + SB_DSP_ACK16)                     # acknowledge the 16-bit interrupt
    spin_lock(devc + D.lock)
    st32(devc + D.intr_count, ld32(devc + D.intr_count) + 1)
    sb_update_ptr(devc)
    spin_unlock(devc + D.lock)


def sb_drain(devc, nonblock):
    if not ld32(devc + D.ready):
        return 0
    flags = spin_lock_irqsave(devc + D.lock)
    count = _s32(ld32(devc + D.count))
    fragsize = ld32(devc + D.fragsize)
    if count > 0 and count % fragsize:
        pad = fragsize - count % fragsize              # silence to the end of the last block
        swptr = ld32(devc + D.swptr)
        memset(ld32(devc + D.dmabuf) + swptr, 0 if ld32(devc + D.bits) == 16 else 0x80, pad)
        st32(devc + D.swptr, (swptr + pad) % ld32(devc + D.dmasize))
        st32(devc + D.count, count + pad)
    sb_start(devc)
    spin_unlock_irqrestore(devc + D.lock, flags)
    tries = 0
    while _s32(ld32(devc + D.count)) > 0:
        if nonblock:
            return -EBUSY
        if not sleep_on_timeout(devc + D.wait, DRAIN_TIMEOUT):
            tries += 1
            if tries > DRAIN_TRIES:
                return -EIO
    return 0


# -- file operations ----------------------------------------------------------------------------
def sb_audio_open(inode, file):
    devc = devc_ptr
    if not devc:
        return -ENODEV
    if ld32(devc + D.opened):
        return -EBUSY
    st32(devc + D.opened, 1)
    st32(devc + D.bits, 8)                             # OSS defaults: 8 kHz, U8, mono
    st32(devc + D.channels, 1)
    st32(devc + D.speed, 8000)
    st32(devc + D.ossfragshift, 0)
    st32(devc + D.ossmaxfrags, 0)
    st32(devc + D.ready, 0)
    return 0


def sb_audio_release(inode, file):
    devc = devc_ptr
    if not devc:
        return -ENODEV
    sb_drain(devc, ld32(file + FILE.f_flags) & O_NONBLOCK)
    sb_halt(devc)
    st32(devc + D.ready, 0)
    st32(devc + D.opened, 0)
    return 0


def sb_audio_write(file, buf, count):
    devc = devc_ptr
    if not devc:
        return -ENODEV
    if not ld32(devc + D.ready):
        err = sb_prepare(devc)
        if err:
            return err
    ret = 0
    tries = 0
    dmabuf = ld32(devc + D.dmabuf)
    while count > 0:
        flags = spin_lock_irqsave(devc + D.lock)
        swptr = ld32(devc + D.swptr)
        dmasize = ld32(devc + D.dmasize)
        cnt = dmasize - _s32(ld32(devc + D.count))
        if cnt > dmasize - swptr:
            cnt = dmasize - swptr
        if cnt > count:
            cnt = count
        if cnt <= 0:
            sb_start(devc)
        spin_unlock_irqrestore(devc + D.lock, flags)
        if cnt <= 0:
            if ld32(file + FILE.f_flags) & O_NONBLOCK:
                return ret if ret else -EAGAIN
            tries += 1
            if tries > WRITE_TRIES:
                return ret if ret else -EIO
            sleep_on_timeout(devc + D.wait, WRITE_TIMEOUT)
            continue
        tries = 0
        if copy_from_user(dmabuf + swptr, buf, cnt):
            return ret if ret else -EFAULT
        flags = spin_lock_irqsave(devc + D.lock)
        st32(devc + D.swptr, (swptr + cnt) % dmasize)
        st32(devc + D.count, _s32(ld32(devc + D.count)) + cnt)
        sb_start(devc)
        spin_unlock_irqrestore(devc + D.lock, flags)
        count -= cnt
        buf += cnt
        ret += cnt
    return ret


def get_user_int(devc, arg):
    if copy_from_user(devc + D.scratch, arg, 4):
        return None
    return _s32(ld32(devc + D.scratch))


def put_user_int(devc, value, arg):
    st32(devc + D.scratch, value)
    if copy_to_user(arg, devc + D.scratch, 4):
        return -EFAULT
    return 0


def sb_audio_ioctl(inode, file, cmd, arg):
    devc = devc_ptr
    if not devc:
        return -ENODEV
    if cmd == SNDCTL_DSP_SYNC:
        return sb_drain(devc, ld32(file + FILE.f_flags) & O_NONBLOCK)
    if cmd == SNDCTL_DSP_RESET:
        sb_halt(devc)
        st32(devc + D.ready, 0)
        return 0
    if cmd == SNDCTL_DSP_GETFMTS:
        return put_user_int(devc, AFMT_S16_LE | AFMT_U8, arg)
    if cmd == SNDCTL_DSP_GETBLKSIZE:
        if not ld32(devc + D.ready):
            sb_prepare(devc)
        return put_user_int(devc, ld32(devc + D.fragsize), arg)
    if cmd == SNDCTL_DSP_GETOSPACE:
        if not ld32(devc + D.ready):
            sb_prepare(devc)
        flags = spin_lock_irqsave(devc + D.lock)
        space = ld32(devc + D.dmasize) - _s32(ld32(devc + D.count))
        st32(devc + D.scratch, space >> ld32(devc + D.fragshift))
        st32(devc + D.scratch + 4, ld32(devc + D.numfrag))
        st32(devc + D.scratch + 8, ld32(devc + D.fragsize))
        st32(devc + D.scratch + 12, space)
        spin_unlock_irqrestore(devc + D.lock, flags)
        return -EFAULT if copy_to_user(arg, devc + D.scratch, 16) else 0
    val = get_user_int(devc, arg)
    if val is None:
        return -EFAULT
    if cmd == SNDCTL_DSP_SPEED:
        if val > 0:
            sb_halt(devc)
            st32(devc + D.ready, 0)
            if val < SB16_MIN_SPEED:
                val = SB16_MIN_SPEED
            if val > SB16_MAX_SPEED:
                val = SB16_MAX_SPEED
            st32(devc + D.speed, val)
        return put_user_int(devc, ld32(devc + D.speed), arg)
    if cmd == SNDCTL_DSP_STEREO:
        sb_halt(devc)
        st32(devc + D.ready, 0)
        st32(devc + D.channels, 2 if val else 1)
        return 0
    if cmd == SNDCTL_DSP_CHANNELS:
        if val != 0:
            sb_halt(devc)
            st32(devc + D.ready, 0)
            st32(devc + D.channels, 2 if val >= 2 else 1)
        return put_user_int(devc, ld32(devc + D.channels), arg)
    if cmd == SNDCTL_DSP_SETFMT:
        if val != AFMT_QUERY:
            sb_halt(devc)
            st32(devc + D.ready, 0)
            st32(devc + D.bits, 16 if val == AFMT_S16_LE else 8)
        return put_user_int(devc, AFMT_S16_LE if ld32(devc + D.bits) == 16 else AFMT_U8, arg)
    if cmd == SNDCTL_DSP_SETFRAGMENT:
        sb_halt(devc)
        st32(devc + D.ready, 0)
        st32(devc + D.ossfragshift, val & 0xFFFF)
        st32(devc + D.ossmaxfrags, (val >> 16) & 0xFFFF)
        return 0
    return -EINVAL


SB_AUDIO_FOPS = FileOperations(open=sb_audio_open, release=sb_audio_release,
                               write=sb_audio_write, ioctl=sb_audio_ioctl)

# mixer register 0x80 bit -> IRQ line; register 0x81 bit -> 16-bit DMA channel
IRQ_BITS = ((0x01, 9), (0x02, 5), (0x04, 7), (0x08, 10))
DMA16_BITS = ((0x20, 5), (0x40, 6), (0x80, 7))


# -- module init and exit -----------------------------------------------------------------------
def init_module():
    global devc_ptr
    pdev = pci_find_device(SB_VENDOR, SB_DEVICE, 0)
    if not pdev:
        return -ENODEV
    if pci_enable_device(pdev):
        return -ENODEV
    devc = kmalloc(D.size, GFP_KERNEL)
    if not devc:
        return -ENOMEM
    memset(devc, 0, D.size)
    st32(devc + D.pdev, pdev)
    spin_lock_init(devc + D.lock)
    init_waitqueue_head(devc + D.wait)
    base = ioremap(ld32(pdev + PCI_DEV.resource_start), ld32(pdev + PCI_DEV.resource_len))
    if not base:
        kfree(devc)
        return -ENODEV
    st32(devc + D.base, base)
    if not sb_dsp_reset(devc):
        iounmap(base)
        kfree(devc)
        return -ENODEV                                 # "No SoundBlaster at 0x220"
    sb_dsp_command(devc, DSP_CMD_VERSION)
    major = sb_dsp_get_byte(devc)
    minor = sb_dsp_get_byte(devc)
    st32(devc + D.major, major)
    st32(devc + D.minor, minor)
    irq_bits = sb_getmixer(devc, MIXER_IRQ_SELECT)
    dma_bits = sb_getmixer(devc, MIXER_DMA_SELECT)
    irq = 0
    for bit, line in IRQ_BITS:
        if irq_bits & bit and not irq:
            irq = line
    dma16 = 0
    for bit, chan in DMA16_BITS:
        if dma_bits & bit and not dma16:
            dma16 = chan
    if major < 4 or major == 0xFFFF or not irq or not dma16:
        iounmap(base)
        kfree(devc)
        return -ENODEV                                 # not an SB16, or not configured
    st32(devc + D.irq, irq)
    st32(devc + D.dma16, dma16)
    err = request_dma(dma16, "sb16")
    if err:
        iounmap(base)
        kfree(devc)
        return err
    # NULL device: ISA-reachable memory (GFP_DMA), as pci_alloc_consistent does in 2.4.
    dmabuf = pci_alloc_consistent(0, DMABUF_BYTES)
    if not dmabuf:
        free_dma(dma16)
        iounmap(base)
        kfree(devc)
        return -ENOMEM
    st32(devc + D.dmabuf, dmabuf)
    err = request_irq(irq, sb_interrupt, 0, "sb16", devc)
    if err:
        pci_free_consistent(0, DMABUF_BYTES, dmabuf)
        free_dma(dma16)
        iounmap(base)
        kfree(devc)
        return err
    sb_setmixer(devc, MIXER_RESET, 0)
    sb_setmixer(devc, MIXER_MASTER_L, 0xF8)
    sb_setmixer(devc, MIXER_MASTER_R, 0xF8)
    sb_setmixer(devc, MIXER_VOICE_L, 0xF8)
    sb_setmixer(devc, MIXER_VOICE_R, 0xF8)
    sb_dsp_command(devc, DSP_CMD_SPKON)
    dev_audio = register_sound_dsp(SB_AUDIO_FOPS, -1)
    if dev_audio < 0:
        # unwind in reverse order
        sb_dsp_command(devc, DSP_CMD_SPKOFF)
        free_irq(irq, devc)
        pci_free_consistent(0, DMABUF_BYTES, dmabuf)
        free_dma(dma16)
        iounmap(base)
        kfree(devc)
        return dev_audio
    st32(devc + D.dev_audio, dev_audio)
    devc_ptr = devc
    return 0


def cleanup_module():
    global devc_ptr
    devc = devc_ptr
    unregister_sound_dsp(ld32(devc + D.dev_audio))
    sb_dsp_command(devc, DSP_CMD_SPKOFF)
    sb_dsp_reset(devc)                                 # stops any DMA the DSP was doing
    free_irq(ld32(devc + D.irq), devc)
    pci_free_consistent(0, DMABUF_BYTES, ld32(devc + D.dmabuf))
    free_dma(ld32(devc + D.dma16))
    iounmap(ld32(devc + D.base))
    kfree(devc)
    devc_ptr = 0
