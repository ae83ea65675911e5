"""``play-mp3``: a user process plays a 128 kbit/s MP3 clip through ``/dev/dsp`` (sb, es1371).

The paper's sound benchmark (SOSP'03 Table 4: "Play-mp3", relative performance measured by
latency, about 1.00; native CPU 4.8%, 150 XPCs/s under Nooks). The player decodes MPEG-1 Layer III
frames (1152 samples each, 417-418 bytes of bitstream at 128 kbit/s) and writes the 16-bit
stereo PCM they decode to at 44.1 kHz: 4,608 bytes per frame, 176,400 bytes/s.

Decoding is charged to the CPU as busy time; the samples themselves are synthesised from the
seed (a few tones and some noise per frame, so no two fragments are alike and a reordering shows).
The player configures the stream with the OSS ioctls, writes ``frames_per_write`` frames per
``write`` (the driver blocks while its ring is full), and closes the device, which drains it.
Then it checks what the card's speaker received (:attr:`SoundCard.record`): every sample, in
order, at 44.1 kHz, 16-bit stereo, unmuted, followed by at most one fragment of silence padding.
Underruns (periods the card had to skip) are counted and reported; they are failures only when
samples went missing or out of order, which the byte comparison catches.
"""
from __future__ import annotations

import numpy as np

from ..kernel.sound import (AFMT_S16_LE, SNDCTL_DSP_CHANNELS, SNDCTL_DSP_GETBLKSIZE,
                            SNDCTL_DSP_SETFMT, SNDCTL_DSP_SETFRAGMENT, SNDCTL_DSP_SPEED,
                            dsp_path)
from .base import Measurement, WorkloadFailed

RATE = 44_100                    # CD audio, as the paper's MP3 (Table 4)
CHANNELS = 2
SAMPLE_BYTES = 2
FRAME_SAMPLES = 1152             # samples per channel in an MPEG-1 Layer III frame
FRAME_PCM = FRAME_SAMPLES * CHANNELS * SAMPLE_BYTES      # 4,608 bytes of PCM per frame
BITRATE = 128_000                # the paper's MP3 is 128 kbit/s (SOSP'03 section 5.3)
#: CPU share of decoding, of real time. Calibrated so the whole native run is near Table 4's
#: 4.8% CPU on the paper's 1.7 GHz Pentium 4 (the kernel's part is a few tenths of a percent).
# CALIBRATION: mp3-cpu (see nookslab/eval/calibration.py)
DECODE_SHARE = 0.047
#: Fragments the player asks for: 4 x 4 KiB (SNDCTL_DSP_SETFRAGMENT's 0xMMMMSSSS).
FRAGMENTS = 0x0004_000C
EXPECTED_MODE = (RATE, CHANNELS, 16, False)


def frame_bytes_mp3(index: int) -> int:
    """Bitstream bytes of frame ``index``: 144 * bitrate / rate with the padding bit's rhythm."""
    total = 144 * BITRATE * (index + 1) // RATE - 144 * BITRATE * index // RATE
    return int(total)


def synthesize(rng: np.random.Generator, frames: int) -> bytes:
    """Seeded 16-bit stereo PCM for ``frames`` MP3 frames: per frame two tones plus noise."""
    n = frames * FRAME_SAMPLES
    freqs = rng.uniform(110.0, 1760.0, size=(frames, 2))
    amps = rng.uniform(2_000.0, 9_000.0, size=(frames, 2))
    noise = rng.integers(-512, 512, size=(n, 2))
    t = np.arange(n, dtype=np.float64).reshape(frames, FRAME_SAMPLES) * (2 * np.pi / RATE)
    tone0 = amps[:, :1] * np.sin(freqs[:, :1] * t)
    tone1 = amps[:, 1:] * np.sin(freqs[:, 1:] * t)
    pcm = np.empty((n, 2), dtype="<i2")
    pcm[:, 0] = np.clip(np.round(tone0 + 0.5 * tone1).ravel() + noise[:, 0], -32768, 32767)
    pcm[:, 1] = np.clip(np.round(tone1 + 0.5 * tone0).ravel() + noise[:, 1], -32768, 32767)
    return pcm.tobytes()


def play_mp3(kernel, proc, extension, duration, rng, frames_per_write: int = 2,
             decode_share: float = DECODE_SHARE) -> Measurement:
    """Play ``duration`` cycles of audio (rounded up to whole frames) and check every sample."""
    card = kernel.machine.devices[kernel.drivers[extension].device_name]
    snd = kernel.subsystems["sound"]
    clock = kernel.clock
    frames = max(1, -(-duration * RATE // (FRAME_SAMPLES * clock.hz)))
    pcm = synthesize(rng, frames)
    decode_cycles = int(decode_share * FRAME_SAMPLES * clock.hz / RATE)
    frames_per_write = max(1, int(frames_per_write))
    played0, underruns0, t0 = card.played, card.underruns, clock.now

    def call(fn, *args):
        return kernel.syscall(proc, fn, *args)

    unit = snd.unit_of(extension)
    path = dsp_path(unit.minor) if unit is not None else "/dev/dsp"
    fd = call(snd.sys_open, path)
    if fd < 0:
        raise WorkloadFailed(f"open {path} failed: {fd}")
    for cmd, value, want, what in ((SNDCTL_DSP_SETFRAGMENT, FRAGMENTS, None, "SETFRAGMENT"),
                                   (SNDCTL_DSP_SETFMT, AFMT_S16_LE, AFMT_S16_LE, "SETFMT"),
                                   (SNDCTL_DSP_CHANNELS, CHANNELS, CHANNELS, "CHANNELS"),
                                   (SNDCTL_DSP_SPEED, RATE, RATE, "SPEED")):
        ret, got = call(snd.sys_ioctl_int, fd, cmd, value)
        if ret < 0 or (want is not None and got != want):
            raise WorkloadFailed(f"ioctl SNDCTL_DSP_{what}({value}) returned {ret}, value {got}")
    ret, fragsize = call(snd.sys_ioctl_int, fd, SNDCTL_DSP_GETBLKSIZE, 0)
    if ret < 0 or fragsize <= 0:
        raise WorkloadFailed(f"ioctl SNDCTL_DSP_GETBLKSIZE returned {ret}, value {fragsize}")

    m = Measurement()
    done = 0
    while done < frames:
        n = min(frames_per_write, frames - done)
        # Decode n frames (busy CPU time), then let the interrupts that came due meanwhile run.
        kernel.charge(decode_cycles * n)
        kernel.run_until(clock.now)
        chunk = pcm[done * FRAME_PCM:(done + n) * FRAME_PCM]
        written = call(snd.sys_write, fd, chunk)
        if written != len(chunk):
            raise WorkloadFailed(f"write of frames {done}-{done + n - 1} returned {written}, "
                                 f"expected {len(chunk)}")
        done += n
        m.operations += n
        m.nbytes += len(chunk)
    ret = call(snd.sys_close, fd)
    if ret < 0:
        raise WorkloadFailed(f"close {path} returned {ret}")
    m.total_latency = clock.now - t0
    underruns = card.underruns - underruns0
    check_playback(card, played0, pcm, fragsize)
    m.notes = (f"{frames} frames ({frames * FRAME_SAMPLES / RATE:.3f} s of audio, "
               f"{sum(frame_bytes_mp3(i) for i in range(frames))} bytes of MP3), "
               f"fragment {fragsize} B, {underruns} underruns")
    kernel.events.add("workload", extension, f"play-mp3: {m.notes}")
    return m


def check_playback(card, played0: int, pcm: bytes, fragsize: int) -> None:
    """Raise :class:`WorkloadFailed` unless the card played exactly ``pcm`` since ``played0``."""
    played = card.played - played0
    n = len(pcm)
    if played < n:
        raise WorkloadFailed(f"the card played {played} of {n} bytes (samples lost)")
    got = bytes(card.record[played0:card.played])
    if len(got) != played:
        raise WorkloadFailed("the card's record overflowed; play a shorter clip")
    if got[:n] != pcm:
        a = np.frombuffer(got[:n], dtype=np.uint8)
        b = np.frombuffer(pcm, dtype=np.uint8)
        first = int(np.flatnonzero(a != b)[0])
        raise WorkloadFailed(f"sample mismatch at byte {first} of {n} (frame {first // FRAME_PCM}):"
                             " samples lost, repeated or out of order")
    tail = got[n:]
    if len(tail) >= max(fragsize, 1) or tail.count(0) != len(tail):
        raise WorkloadFailed(f"the card played {len(tail)} bytes after the stream that are not "
                             "its final silence padding")
    for mode in card.modes_between(played0, card.played):
        if mode.setting != EXPECTED_MODE:
            rate, channels, bits, muted = mode.setting
            raise WorkloadFailed(f"played at {rate} Hz, {channels} channel(s), {bits}-bit"
                                 f"{', muted' if muted else ''} from byte {mode.offset - played0}; "
                                 f"expected {RATE} Hz, {CHANNELS} channels, 16-bit")
