"""es1371: the Ensoniq AudioPCI 97 driver (Linux 2.4 ``drivers/sound/es1371.c``), playback only.

Shaped like Thomas Sailer's driver: ``init_module`` finds the PCI card, allocates the
``es1371_state`` (with its ``magic``, checked by ``VALIDATE_STATE`` on every entry), the DMA ring,
the interrupt, initialises the sample-rate converter (``src_init``) and the AC'97 codec, and
registers ``/dev/dsp``. ``write`` copies the user's samples into the ring at the software pointer
and starts DAC2 once a fragment is ready; when the ring is full it sleeps on the state's wait queue.
The interrupt handler acknowledges the card by dropping and restoring the DAC2 interrupt enable,
reads the hardware pointer from the frame-count register (``get_hwptr``), accounts the bytes
played (``es1371_update_ptr``) and wakes the writer. ``release`` drains the ring.

One difference from Linux, for the simulation's sample check: when fewer than a fragment of new
samples is left, Linux lets DAC2 run on into a silence-filled fragment and stops it at zero; we
*pause* DAC2 (``SCTRL_P2PAUSE``, a real bit of the chip) until a fragment is ready again, and pad
only the stream's last fragment with silence when draining. The ring stays ordered either way.
"""
from nookslab.kernel.api import (copy_from_user, copy_to_user, free_irq, init_waitqueue_head,
                                 iounmap, ioremap, kfree, kmalloc, ld32, memset,
                                 pci_alloc_consistent, pci_enable_device, pci_find_device,
                                 pci_free_consistent, pci_set_drvdata, pci_set_master, readl,
                                 register_sound_dsp, request_irq, sleep_on_timeout, spin_lock,
                                 spin_lock_init, spin_lock_irqsave, spin_unlock,
                                 spin_unlock_irqrestore, st32, unregister_sound_dsp, wake_up,
                                 writel)
from nookslab.kernel.chrdev import FILE, FileOperations
from nookslab.kernel.errno import EAGAIN, EBUSY, EFAULT, EINVAL, EIO, ENODEV, ENOMEM, ENXIO
from nookslab.kernel.irq import SA_SHIRQ
from nookslab.kernel.mm import GFP_KERNEL
from nookslab.kernel.pci import PCI_DEV
from nookslab.kernel.sound import (AFMT_QUERY, AFMT_S16_LE, AFMT_U8, O_NONBLOCK,
                                   SNDCTL_DSP_CHANNELS, SNDCTL_DSP_GETBLKSIZE, SNDCTL_DSP_GETFMTS,
                                   SNDCTL_DSP_GETOSPACE, SNDCTL_DSP_RESET, SNDCTL_DSP_SETFMT,
                                   SNDCTL_DSP_SETFRAGMENT, SNDCTL_DSP_SPEED, SNDCTL_DSP_STEREO,
                                   SNDCTL_DSP_SYNC)
from nookslab.kernel.structs import Layout
from nookslab.kernel.sync import SPINLOCK, WAIT_QUEUE_HEAD
from nookslab.machine.devices.sound import (AC97_MASTER_VOL, AC97_PCMOUT_VOL, AC97_RESET,
                                            AC97_VENDOR_ID1, AC97_VENDOR_ID2, CODEC_PIADD_MASK,
                                            CODEC_PIDAT_MASK, CODEC_PIRD, CODEC_RDY, CODEC_WIP,
                                            CTRL_DAC2_EN, ES_DEVICE, ES_PAGE_DAC, ES_REG_CODEC,
                                            ES_REG_CONTROL, ES_REG_DAC2_FRAMEADR,
                                            ES_REG_DAC2_FRAMECNT, ES_REG_DAC2_SCOUNT,
                                            ES_REG_LEGACY, ES_REG_MEMPAGE, ES_REG_SERIAL_CONTROL,
                                            ES_REG_SRCONV, ES_REG_STATUS, ES_VENDOR,
                                            SCTRL_P2DACSEN, SCTRL_P2ENDINC, SCTRL_P2INTEN,
                                            SCTRL_P2LOOPSEL, SCTRL_P2PAUSE, SCTRL_P2SEB,
                                            SCTRL_P2SMB, SCTRL_P2STINC, SCTRL_SH_P2ENDINC,
                                            SRC_BUSY, SRC_DADC, SRC_DDAC1, SRC_DDAC2, SRC_DIS,
                                            SRC_RAMADDR_SHIFT, SRC_RAMDATA_MASK, SRC_WE,
                                            SRCREG_DAC1, SRCREG_DAC2, SRCREG_INT_REGS,
                                            SRCREG_TRUNC_N, SRCREG_VFREQ_FRAC, SRCREG_VOL_ADC,
                                            SRCREG_VOL_DAC1, SRCREG_VOL_DAC2, STAT_DAC2, STAT_INTR)

ES1371_MAGIC = (ES_VENDOR << 16) | ES_DEVICE        # Linux's ES1371_MAGIC
CTRL_SYNCRES = 0x00004000                           # AC'97 warm reset
LEGACY_JFAST = 0x80000000
DMABUF_BYTES = 16 * 1024                            # the ring: 4 pages of DMA memory
DEFAULT_FRAGSHIFT = 12                              # 4 KiB fragments unless SETFRAGMENT says
MIN_FRAGSHIFT = 8
MAX_FRAGSHIFT = 12
POLL_COUNT = 0x1000                                 # Linux's bound on SRC/codec busy polls
WRITE_TIMEOUT = 5                                   # jiffies a writer sleeps before re-checking
WRITE_TRIES = 4                                     # sleeps without progress before -EIO
DRAIN_TIMEOUT = 5
DRAIN_TRIES = 4

ES1371_STATE = Layout("es1371_state", [
    ("magic", "u32"), ("pdev", "ptr"), ("io", "ptr"), ("irq", "u32"), ("dev_audio", "s32"),
    ("ctrl", "u32"), ("sctrl", "u32"), ("codec_id", "u32"), ("open_mode", "u32"),
    ("dac2rate", "u32"), ("fmt16", "u32"), ("channels", "u32"),
    # struct dmabuf dma_dac2
    ("rawbuf", "ptr"), ("dmasize", "u32"), ("fragsize", "u32"), ("fragshift", "u32"),
    ("numfrag", "u32"), ("fragsamples", "u32"), ("ossfragshift", "u32"), ("ossmaxfrags", "u32"),
    ("hwptr", "u32"), ("swptr", "u32"), ("count", "s32"), ("total_bytes", "u32"),
    ("error", "u32"), ("ready", "u32"),
    ("lock", SPINLOCK.size), ("wait", WAIT_QUEUE_HEAD.size), ("scratch", 16),
])
S = ES1371_STATE

priv = 0          # the driver's one static pointer: its es1371_state (Linux keeps a device list)


def _s32(value):
    return value - 0x100000000 if value & 0x80000000 else value


def _valid(s):
    """VALIDATE_STATE: a NULL or scribbled state pointer makes the call fail, not crash."""
    return s and ld32(s + S.magic) == ES1371_MAGIC


# -- the sample rate converter and the AC'97 codec ----------------------------------------------
def wait_src_ready(s):
    io = ld32(s + S.io)
    r = 0
    t = 0
    while t < POLL_COUNT:
        r = readl(io + ES_REG_SRCONV)
        if not r & SRC_BUSY:
            return r
        t += 1
    return r                    # Linux prints "sample rate converter timeout" and carries on


def src_write(s, reg, data):
    r = wait_src_ready(s) & (SRC_DIS | SRC_DDAC1 | SRC_DDAC2 | SRC_DADC)
    r |= (reg << SRC_RAMADDR_SHIFT) & 0xFE000000
    r |= data & SRC_RAMDATA_MASK
    writel(r | SRC_WE, ld32(s + S.io) + ES_REG_SRCONV)


def src_read(s, reg):
    r = wait_src_ready(s) & (SRC_DIS | SRC_DDAC1 | SRC_DDAC2 | SRC_DADC)
    writel(r | ((reg << SRC_RAMADDR_SHIFT) & 0xFE000000), ld32(s + S.io) + ES_REG_SRCONV)
    return wait_src_ready(s) & SRC_RAMDATA_MASK


def set_dac2_rate(s, rate):
    if rate > 48000:
        rate = 48000
    if rate < 4000:
        rate = 4000
    freq = ((rate << 15) + 1500) // 3000
    st32(s + S.dac2rate, (freq * 3000 + 16384) >> 15)
    flags = spin_lock_irqsave(s + S.lock)
    io = ld32(s + S.io)
    r = (wait_src_ready(s) & (SRC_DIS | SRC_DDAC1 | SRC_DADC)) | SRC_DDAC2
    writel(r, io + ES_REG_SRCONV)
    src_write(s, SRCREG_DAC2 + SRCREG_INT_REGS,
              (src_read(s, SRCREG_DAC2 + SRCREG_INT_REGS) & 0x00FF) | ((freq >> 5) & 0xFC00))
    src_write(s, SRCREG_DAC2 + SRCREG_VFREQ_FRAC, freq & 0x7FFF)
    r = wait_src_ready(s) & (SRC_DIS | SRC_DDAC1 | SRC_DADC)
    writel(r, io + ES_REG_SRCONV)
    spin_unlock_irqrestore(s + S.lock, flags)


def src_init(s):
    io = ld32(s + S.io)
    wait_src_ready(s)
    writel(SRC_DIS, io + ES_REG_SRCONV)
    for reg in range(0x80):
        src_write(s, reg, 0)
    src_write(s, SRCREG_DAC1 + SRCREG_TRUNC_N, 16 << 4)
    src_write(s, SRCREG_DAC1 + SRCREG_INT_REGS, 16 << 10)
    src_write(s, SRCREG_DAC2 + SRCREG_TRUNC_N, 16 << 4)
    src_write(s, SRCREG_DAC2 + SRCREG_INT_REGS, 16 << 10)
    src_write(s, SRCREG_VOL_ADC, 1 << 12)
    src_write(s, SRCREG_VOL_ADC + 1, 1 << 12)
    src_write(s, SRCREG_VOL_DAC1, 1 << 12)
    src_write(s, SRCREG_VOL_DAC1 + 1, 1 << 12)
    src_write(s, SRCREG_VOL_DAC2, 1 << 12)
    src_write(s, SRCREG_VOL_DAC2 + 1, 1 << 12)
    set_dac2_rate(s, 22050)
    # Enabling the converter before its registers are programmed locks the chip up (Linux's
    # comment): so only now clear SRC_DIS.
    wait_src_ready(s)
    writel(0, io + ES_REG_SRCONV)


def wait_codec(io):
    t = 0
    while t < POLL_COUNT:
        if not readl(io + ES_REG_CODEC) & CODEC_WIP:
            return 1
        t += 1
    return 0


def wrcodec(s, addr, data):
    io = ld32(s + S.io)
    wait_codec(io)
    writel(((addr << 16) & CODEC_PIADD_MASK) | (data & CODEC_PIDAT_MASK), io + ES_REG_CODEC)


def rdcodec(s, addr):
    io = ld32(s + S.io)
    wait_codec(io)
    writel(((addr << 16) & CODEC_PIADD_MASK) | CODEC_PIRD, io + ES_REG_CODEC)
    wait_codec(io)
    x = 0
    t = 0
    while t < POLL_COUNT:
        x = readl(io + ES_REG_CODEC)
        if x & CODEC_RDY:
            break
        t += 1
    return x & CODEC_PIDAT_MASK


def ac97_probe_codec(s):
    wrcodec(s, AC97_RESET, 0)
    id1 = rdcodec(s, AC97_VENDOR_ID1)
    id2 = rdcodec(s, AC97_VENDOR_ID2)
    if id1 == 0xFFFF or (id1 == 0 and id2 == 0):
        return 0
    st32(s + S.codec_id, (id1 << 16) | id2)
    wrcodec(s, AC97_MASTER_VOL, 0x0000)       # 0 dB, unmuted (the codec powers up muted)
    wrcodec(s, AC97_PCMOUT_VOL, 0x0808)
    return 1


# -- DAC2 ---------------------------------------------------------------------------------------
def stop_dac2(s):
    flags = spin_lock_irqsave(s + S.lock)
    ctrl = ld32(s + S.ctrl) & ~CTRL_DAC2_EN
    st32(s + S.ctrl, ctrl)
    writel(ctrl, ld32(s + S.io) + ES_REG_CONTROL)
    spin_unlock_irqrestore(s + S.lock, flags)


def start_dac2(s):
    """Start DAC2 once a fragment is ready; un-pause it if it starved and has one again."""
    flags = spin_lock_irqsave(s + S.lock)
    io = ld32(s + S.io)
    ctrl = ld32(s + S.ctrl)
    sctrl = ld32(s + S.sctrl)
    count = _s32(ld32(s + S.count))
    if count >= ld32(s + S.fragsize) and ld32(s + S.ready):
        if not ctrl & CTRL_DAC2_EN:
            sctrl = (sctrl & ~(SCTRL_P2LOOPSEL | SCTRL_P2PAUSE | SCTRL_P2DACSEN | SCTRL_P2ENDINC
                               | SCTRL_P2STINC)) | SCTRL_P2INTEN
            if ld32(s + S.fmt16):
                sctrl |= 2 << SCTRL_SH_P2ENDINC
            else:
                sctrl |= 1 << SCTRL_SH_P2ENDINC
            st32(s + S.sctrl, sctrl)
            writel(ld32(s + S.fragsamples) - 1, io + ES_REG_DAC2_SCOUNT)
            writel(sctrl, io + ES_REG_SERIAL_CONTROL)
            ctrl |= CTRL_DAC2_EN
            st32(s + S.ctrl, ctrl)
            writel(ctrl, io + ES_REG_CONTROL)
        elif sctrl & SCTRL_P2PAUSE:
            sctrl &= ~SCTRL_P2PAUSE
            st32(s + S.sctrl, sctrl)
            writel(sctrl, io + ES_REG_SERIAL_CONTROL)
    spin_unlock_irqrestore(s + S.lock, flags)


def prog_dmabuf_dac2(s):
    stop_dac2(s)
    flags = spin_lock_irqsave(s + S.lock)
    io = ld32(s + S.io)
    shift = ld32(s + S.ossfragshift)
    if not shift:
        shift = DEFAULT_FRAGSHIFT
    if shift < MIN_FRAGSHIFT:
        shift = MIN_FRAGSHIFT
    if shift > MAX_FRAGSHIFT:
        shift = MAX_FRAGSHIFT
    numfrag = DMABUF_BYTES >> shift
    maxfrags = ld32(s + S.ossmaxfrags)
    if 2 <= maxfrags < numfrag:
        numfrag = maxfrags
    dmasize = numfrag << shift
    fmt16 = ld32(s + S.fmt16)
    framebytes = ld32(s + S.channels) * (2 if fmt16 else 1)
    st32(s + S.fragshift, shift)
    st32(s + S.fragsize, 1 << shift)
    st32(s + S.numfrag, numfrag)
    st32(s + S.dmasize, dmasize)
    st32(s + S.fragsamples, (1 << shift) // framebytes)
    st32(s + S.hwptr, 0)
    st32(s + S.swptr, 0)
    st32(s + S.count, 0)
    st32(s + S.total_bytes, 0)
    st32(s + S.error, 0)
    sctrl = ld32(s + S.sctrl) & ~(SCTRL_P2SEB | SCTRL_P2SMB)
    if fmt16:
        sctrl |= SCTRL_P2SEB
    if ld32(s + S.channels) == 2:
        sctrl |= SCTRL_P2SMB
    st32(s + S.sctrl, sctrl)
    writel(sctrl, io + ES_REG_SERIAL_CONTROL)
    rawbuf = ld32(s + S.rawbuf)
    memset(rawbuf, 0 if fmt16 else 0x80, dmasize)
    writel(ES_PAGE_DAC, io + ES_REG_MEMPAGE)
    writel(rawbuf, io + ES_REG_DAC2_FRAMEADR)          # virt_to_bus: the identity here
    writel((dmasize >> 2) - 1, io + ES_REG_DAC2_FRAMECNT)
    st32(s + S.ready, 1)
    spin_unlock_irqrestore(s + S.lock, flags)
    return 0


def get_hwptr(s):
    """Bytes DAC2 has played since the last look (Linux's get_hwptr); lock held."""
    io = ld32(s + S.io)
    writel(ES_PAGE_DAC, io + ES_REG_MEMPAGE)
    hwptr = (readl(io + ES_REG_DAC2_FRAMECNT) >> 14) & 0x3FFFC
    dmasize = ld32(s + S.dmasize)
    diff = (dmasize + hwptr - ld32(s + S.hwptr)) % dmasize
    st32(s + S.hwptr, hwptr)
    return diff


def es1371_update_ptr(s):
    """Account what DAC2 played, pause it if it is about to starve, wake the writer."""
    if not ld32(s + S.ctrl) & CTRL_DAC2_EN:
        return
    diff = get_hwptr(s)
    st32(s + S.total_bytes, ld32(s + S.total_bytes) + diff)
    count = _s32(ld32(s + S.count)) - diff
    st32(s + S.count, count)
    fragsize = ld32(s + S.fragsize)
    if count < fragsize:
        sctrl = ld32(s + S.sctrl)
        if not sctrl & SCTRL_P2PAUSE:
            st32(s + S.sctrl, sctrl | SCTRL_P2PAUSE)
            writel(sctrl | SCTRL_P2PAUSE, ld32(s + S.io) + ES_REG_SERIAL_CONTROL)
            if count > 0:
                st32(s + S.error, ld32(s + S.error) + 1)
    if count + fragsize <= ld32(s + S.dmasize):
        wake_up(s + S.wait)


def es1371_interrupt(irq, dev_id):
    s = dev_id
    io = ld32(s + S.io)
    intsrc = readl(io + ES_REG_STATUS)
    if not intsrc & STAT_INTR:
        return                                          # a shared line: not ours
    spin_lock(s + S.lock)
    # Clear the interrupt by dropping the enable bit and restoring it (es1371_interrupt).
    sctrl = ld32(s + S.sctrl)
    if intsrc & STAT_DAC2:
        sctrl &= ~SCTRL_P2INTEN
    writel(sctrl, io + ES_REG_SERIAL_CONTROL)
    writel(ld32(s + S.sctrl), io + ES_REG_SERIAL_CONTROL)
    es1371_update_ptr(s)
    spin_unlock(s + S.lock)


def drain_dac2(s, nonblock):
    if not ld32(s + S.ready):
        return 0
    flags = spin_lock_irqsave(s + S.lock)
    count = _s32(ld32(s + S.count))
    fragsize = ld32(s + S.fragsize)
    if count > 0 and count % fragsize:
        # Pad the stream's last fragment with silence so that it is played whole.
        pad = fragsize - count % fragsize
        swptr = ld32(s + S.swptr)
        memset(ld32(s + S.rawbuf) + swptr, 0 if ld32(s + S.fmt16) else 0x80, pad)
        st32(s + S.swptr, (swptr + pad) % ld32(s + S.dmasize))
        st32(s + S.count, count + pad)
    spin_unlock_irqrestore(s + S.lock, flags)
    start_dac2(s)
    tries = 0
    while _s32(ld32(s + S.count)) > 0:
        if nonblock:
            return -EBUSY
        if not sleep_on_timeout(s + S.wait, DRAIN_TIMEOUT):
            tries += 1
            if tries > DRAIN_TRIES:
                return -EIO                             # "es1371: dma timed out??"
    return 0


# -- file operations ----------------------------------------------------------------------------
def es1371_open(inode, file):
    s = priv
    if not _valid(s):
        return -ENXIO
    if ld32(s + S.open_mode):
        return -EBUSY
    st32(s + S.open_mode, 1)
    # OSS's defaults for /dev/dsp: 8 kHz, unsigned 8-bit, mono.
    st32(s + S.fmt16, 0)
    st32(s + S.channels, 1)
    st32(s + S.ossfragshift, 0)
    st32(s + S.ossmaxfrags, 0)
    st32(s + S.ready, 0)
    set_dac2_rate(s, 8000)
    return 0


def es1371_release(inode, file):
    s = priv
    if not _valid(s):
        return -ENXIO
    drain_dac2(s, ld32(file + FILE.f_flags) & O_NONBLOCK)
    stop_dac2(s)
    st32(s + S.ready, 0)
    st32(s + S.open_mode, 0)
    return 0


def es1371_write(file, buf, count):
    s = priv
    if not _valid(s):
        return -ENXIO
    if not ld32(s + S.ready):
        err = prog_dmabuf_dac2(s)
        if err:
            return err
    ret = 0
    tries = 0
    rawbuf = ld32(s + S.rawbuf)
    while count > 0:
        flags = spin_lock_irqsave(s + S.lock)
        swptr = ld32(s + S.swptr)
        dmasize = ld32(s + S.dmasize)
        cnt = dmasize - _s32(ld32(s + S.count))
        if cnt > dmasize - swptr:
            cnt = dmasize - swptr
        spin_unlock_irqrestore(s + S.lock, flags)
        if cnt > count:
            cnt = count
        if cnt <= 0:
            start_dac2(s)
            if ld32(file + FILE.f_flags) & O_NONBLOCK:
                return ret if ret else -EAGAIN
            tries += 1
            if tries > WRITE_TRIES:
                return ret if ret else -EIO
            sleep_on_timeout(s + S.wait, WRITE_TIMEOUT)
            continue
        tries = 0
        # Copy outside the lock (copy_from_user may sleep); publish the pointer under it.
        if copy_from_user(rawbuf + swptr, buf, cnt):
            return ret if ret else -EFAULT
        flags = spin_lock_irqsave(s + S.lock)
        st32(s + S.swptr, (swptr + cnt) % dmasize)
        st32(s + S.count, _s32(ld32(s + S.count)) + cnt)
        spin_unlock_irqrestore(s + S.lock, flags)
        count -= cnt
        buf += cnt
        ret += cnt
        start_dac2(s)
    return ret


def get_user_int(s, arg):
    if copy_from_user(s + S.scratch, arg, 4):
        return None
    return _s32(ld32(s + S.scratch))


def put_user_int(s, value, arg):
    st32(s + S.scratch, value)
    if copy_to_user(arg, s + S.scratch, 4):
        return -EFAULT
    return 0


def es1371_ioctl(inode, file, cmd, arg):
    s = priv
    if not _valid(s):
        return -ENXIO
    if cmd == SNDCTL_DSP_SYNC:
        return drain_dac2(s, ld32(file + FILE.f_flags) & O_NONBLOCK)
    if cmd == SNDCTL_DSP_RESET:
        stop_dac2(s)
        st32(s + S.ready, 0)
        return 0
    if cmd == SNDCTL_DSP_GETFMTS:
        return put_user_int(s, AFMT_S16_LE | AFMT_U8, arg)
    if cmd == SNDCTL_DSP_GETBLKSIZE:
        if not ld32(s + S.ready):
            prog_dmabuf_dac2(s)
        return put_user_int(s, ld32(s + S.fragsize), arg)
    if cmd == SNDCTL_DSP_GETOSPACE:
        if not ld32(s + S.ready):
            prog_dmabuf_dac2(s)
        flags = spin_lock_irqsave(s + S.lock)
        es1371_update_ptr(s)
        space = ld32(s + S.dmasize) - _s32(ld32(s + S.count))
        st32(s + S.scratch, space >> ld32(s + S.fragshift))
        st32(s + S.scratch + 4, ld32(s + S.numfrag))
        st32(s + S.scratch + 8, ld32(s + S.fragsize))
        st32(s + S.scratch + 12, space)
        spin_unlock_irqrestore(s + S.lock, flags)
        return -EFAULT if copy_to_user(arg, s + S.scratch, 16) else 0
    val = get_user_int(s, arg)
    if val is None:
        return -EFAULT
    if cmd == SNDCTL_DSP_SPEED:
        if val >= 0:
            stop_dac2(s)
            st32(s + S.ready, 0)
            set_dac2_rate(s, val)
        return put_user_int(s, ld32(s + S.dac2rate), arg)
    if cmd == SNDCTL_DSP_STEREO:
        stop_dac2(s)
        st32(s + S.ready, 0)
        st32(s + S.channels, 2 if val else 1)
        return 0
    if cmd == SNDCTL_DSP_CHANNELS:
        if val != 0:
            stop_dac2(s)
            st32(s + S.ready, 0)
            st32(s + S.channels, 2 if val >= 2 else 1)
        return put_user_int(s, ld32(s + S.channels), arg)
    if cmd == SNDCTL_DSP_SETFMT:
        if val != AFMT_QUERY:
            stop_dac2(s)
            st32(s + S.ready, 0)
            st32(s + S.fmt16, 1 if val == AFMT_S16_LE else 0)
        return put_user_int(s, AFMT_S16_LE if ld32(s + S.fmt16) else AFMT_U8, arg)
    if cmd == SNDCTL_DSP_SETFRAGMENT:
        stop_dac2(s)
        st32(s + S.ready, 0)
        st32(s + S.ossfragshift, val & 0xFFFF)
        st32(s + S.ossmaxfrags, (val >> 16) & 0xFFFF)
        return 0
    return -EINVAL


ES1371_FOPS = FileOperations(open=es1371_open, release=es1371_release, write=es1371_write,
                             ioctl=es1371_ioctl)


# -- module init and exit -----------------------------------------------------------------------
def init_module():
    global priv
    pdev = pci_find_device(ES_VENDOR, ES_DEVICE, 0)
    if not pdev:
        return -ENODEV
    if pci_enable_device(pdev):
        return -ENODEV
    s = kmalloc(S.size, GFP_KERNEL)
    if not s:
        return -ENOMEM
    memset(s, 0, S.size)
    st32(s + S.magic, ES1371_MAGIC)
    st32(s + S.pdev, pdev)
    spin_lock_init(s + S.lock)
    init_waitqueue_head(s + S.wait)
    io = ioremap(ld32(pdev + PCI_DEV.resource_start), ld32(pdev + PCI_DEV.resource_len))
    if not io:
        kfree(s)
        return -ENODEV
    st32(s + S.io, io)
    rawbuf = pci_alloc_consistent(pdev, DMABUF_BYTES)
    if not rawbuf:
        iounmap(io)
        kfree(s)
        return -ENOMEM
    st32(s + S.rawbuf, rawbuf)
    pci_set_master(pdev)
    irq = ld32(pdev + PCI_DEV.irq)
    st32(s + S.irq, irq)
    err = request_irq(irq, es1371_interrupt, SA_SHIRQ, "es1371", s)
    if err:
        pci_free_consistent(pdev, DMABUF_BYTES, rawbuf)
        iounmap(io)
        kfree(s)
        return err
    # Initialise the chip: everything off, an AC'97 warm reset, then the converter and codec.
    writel(0, io + ES_REG_CONTROL)
    writel(0, io + ES_REG_SERIAL_CONTROL)
    writel(LEGACY_JFAST, io + ES_REG_LEGACY)
    writel(CTRL_SYNCRES, io + ES_REG_CONTROL)
    writel(0, io + ES_REG_CONTROL)
    src_init(s)
    if not ac97_probe_codec(s):
        free_irq(irq, s)
        pci_free_consistent(pdev, DMABUF_BYTES, rawbuf)
        iounmap(io)
        kfree(s)
        return -ENODEV
    minor = register_sound_dsp(ES1371_FOPS, -1)
    if minor < 0:
        # unwind in reverse order, as es1371_probe's error labels do
        free_irq(irq, s)
        pci_free_consistent(pdev, DMABUF_BYTES, rawbuf)
        iounmap(io)
        kfree(s)
        return minor
    st32(s + S.dev_audio, minor)
    pci_set_drvdata(pdev, s)
    priv = s
    return 0


def cleanup_module():
    global priv
    s = priv
    io = ld32(s + S.io)
    pdev = ld32(s + S.pdev)
    unregister_sound_dsp(ld32(s + S.dev_audio))
    writel(0, io + ES_REG_CONTROL)                 # DAC2 off: the card stops reading the ring
    writel(0, io + ES_REG_SERIAL_CONTROL)
    free_irq(ld32(s + S.irq), s)
    pci_set_drvdata(pdev, 0)
    pci_free_consistent(pdev, DMABUF_BYTES, ld32(s + S.rawbuf))
    iounmap(io)
    st32(s + S.magic, 0)
    kfree(s)
    priv = 0
