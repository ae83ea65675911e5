"""play-mp3 on both sound drivers: correct, repeatable, and its checks have teeth."""
import numpy as np
import pytest

import nookslab
from nookslab.drivers import REGISTRY
from nookslab.drivers.es1371 import ES1371_STATE
from nookslab.drivers.sb import SB_DEVC
from nookslab.machine.devices import sound as sc
from nookslab.workloads.mp3 import FRAME_PCM, frame_bytes_mp3, synthesize

DRIVERS = ("sb", "es1371")
STATE = {"sb": (SB_DEVC, "devc_ptr"), "es1371": (ES1371_STATE, "priv")}


def booted(driver, seed=1):
    k = nookslab.boot(mode="native", seed=seed)
    module = k.load(driver)
    assert module.ok, module.error
    return k


def card_of(k, driver):
    return k.machine.devices[REGISTRY[driver].device_name]


def private(k, driver):
    layout, name = STATE[driver]
    return layout, k.modules[driver].namespace[name]


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_tenth_of_a_second_plays_every_sample_in_order(driver):
    k = booted(driver)
    r = k.run("play-mp3", seconds=0.1)
    assert r.ok, r.failure
    # 0.1 s of audio is 4 MP3 frames (4 x 1152 samples), 18,432 bytes of PCM; the card plays
    # five 4 KiB fragments (the last padded with silence) in 201,567,820 cycles.
    assert (r.operations, r.nbytes) == (4, 18432)
    assert round(r.latency * k.clock.hz) == 201_567_820
    assert r.xpcs == 0 and k.verdict is None
    card = card_of(k, driver)
    assert card.played == 20480 and card.underruns == 0
    # the kernel's generator is the workload's: the same draw gives the samples it wrote
    assert bytes(card.record[:18432]) == synthesize(np.random.default_rng(1), 4)
    assert bytes(card.record[18432:]) == bytes(2048)


@pytest.mark.parametrize("driver", DRIVERS)
def test_the_same_seed_gives_the_same_run_and_another_seed_another_correct_one(driver):
    runs = []
    for seed in (3, 3, 4):
        k = booted(driver, seed)
        r = k.run("play-mp3", seconds=0.1)
        runs.append((r.to_dict(), card_of(k, driver).crc))
    assert runs[0] == runs[1]
    assert runs[2][0]["ok"] and runs[2][1] != runs[0][1]


def test_both_cards_play_the_same_stream_for_one_seed():
    crcs = []
    for driver in DRIVERS:
        k = booted(driver, 5)
        assert k.run("play-mp3", seconds=0.05).ok
        crcs.append(card_of(k, driver).crc)
    assert crcs[0] == crcs[1]


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_second_of_audio_takes_a_second_and_about_the_papers_cpu(driver):
    k = booted(driver)
    r = k.run("play-mp3", seconds=1.0)
    assert r.ok, r.failure
    assert r.operations == 39 and 1.0 < r.latency < 1.03
    assert 0.044 < r.cpu_util < 0.050        # Table 4: native CPU 4.8%
    assert card_of(k, driver).underruns == 0


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_decoder_slower_than_real_time_underruns_but_loses_no_sample(driver):
    k = booted(driver)
    r = k.run("play-mp3", seconds=0.2, frames_per_write=1, decode_share=1.5)
    assert r.ok, r.failure
    underruns = card_of(k, driver).underruns
    assert underruns > 0
    assert k.events.of("workload")[-1].detail.endswith(f"{underruns} underruns")
    assert r.latency > 1.4 * 0.2


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_clean_run_reports_no_underrun_in_the_trace(driver):
    k = booted(driver)
    assert k.run("play-mp3", seconds=0.1).ok
    assert k.events.of("workload")[-1].detail == (
        "play-mp3: 4 frames (0.104 s of audio, 1671 bytes of MP3), fragment 4096 B, "
        "0 underruns")


@pytest.mark.parametrize("driver", DRIVERS)
def test_two_plays_on_one_kernel_are_both_checked(driver):
    k = booted(driver)
    assert k.run("play-mp3", seconds=0.05).ok
    r = k.run("play-mp3", seconds=0.05)
    assert r.ok, r.failure
    assert card_of(k, driver).played == 2 * 12288


@pytest.mark.parametrize("driver", DRIVERS)
def test_unload_after_playing_leaks_nothing(driver):
    k = booted(driver)
    assert k.run("play-mp3", seconds=0.1).ok
    module = k.unload(driver)
    assert module.leaks == []
    assert not card_of(k, driver).running


def corrupt_later(k, seconds, fn):
    k.clock.schedule(k.clock.cycles(seconds), fn, label="test corruption")


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("field,change", [("swptr", lambda v: (v + 4) % 16384),
                                          ("count", lambda v: 0),
                                          ("hwptr", lambda v: (v + 4096) % 16384),
                                          ("dmasize", lambda v: 8192)])
def test_corrupting_a_driver_field_fails_the_workload_or_panics(driver, field, change):
    k = booted(driver)
    layout, p = private(k, driver)
    addr = p + getattr(layout, field)
    corrupt_later(k, 0.05, lambda: k.mmu.st32(addr, change(k.mmu.ld32(addr))))
    r = k.run("play-mp3", seconds=0.3)
    assert not r.ok and r.failure


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_scribbled_ring_pointer_is_caught(driver):
    k = booted(driver)
    layout, p = private(k, driver)
    field = "dmabuf" if driver == "sb" else "rawbuf"
    addr = p + getattr(layout, field)
    corrupt_later(k, 0.05, lambda: k.mmu.st32(addr, k.mmu.ld32(addr) + 64))
    r = k.run("play-mp3", seconds=0.3)
    assert not r.ok


def test_a_muted_codec_is_noticed_by_the_listener():
    k = booted("es1371")
    base = card_of(k, "es1371").mmio_base
    corrupt_later(k, 0.05, lambda: k.mmu.st32(base + sc.ES_REG_CODEC,
                                              sc.AC97_MASTER_VOL << 16 | sc.AC97_MUTE))
    r = k.run("play-mp3", seconds=0.3)
    assert not r.ok and "muted" in r.failure


def test_a_wrong_sample_rate_is_noticed_by_the_listener():
    k = booted("sb")
    layout, p = private(k, "sb")
    # the speed the driver will program at its first start, after the player's SPEED ioctl
    original = k.subsystems["sound"].units[3].fops

    def slow_speed(file, buf, count, _write=original.write):
        if k.mmu.ld32(p + layout.running) == 0:
            k.mmu.st32(p + layout.speed, 22050)
        return _write(file, buf, count)

    import dataclasses
    k.subsystems["sound"].replace_fops(3, dataclasses.replace(original, write=slow_speed))
    r = k.run("play-mp3", seconds=0.1)
    assert not r.ok and "22050 Hz" in r.failure


def test_the_mp3_bitstream_is_128_kbit_per_second():
    assert sum(frame_bytes_mp3(i) for i in range(441)) * 8 * 44100 // (441 * 1152) == 128_000
    assert FRAME_PCM == 4608
