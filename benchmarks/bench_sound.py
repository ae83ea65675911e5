"""How fast does play-mp3 simulate? Run: ``python benchmarks/bench_sound.py``.

For each sound driver (sb, es1371), in the native configuration, measures the wall-clock time of

- a whole run of ``seconds=0.1`` (boot, load, play, check, unload), and
- a fault-injection trial's worth of work, ``seconds=0.05`` of audio (the same steps),

and reports simulated operations (MP3 frames decoded and played) and simulated periods per
wall-clock second for a longer run (2 s of audio). Wall-clock timing belongs here only: it measures
the simulator, not the simulated machine. A report, never a pass/fail test. Target (issue 3): a
trial-sized run takes at most 20 ms.
"""
from __future__ import annotations

import time

import nookslab
from nookslab.drivers import REGISTRY

DRIVERS = ("sb", "es1371")
TRIAL_TARGET_MS = 20.0


def one_run(driver: str, seconds: float, seed: int = 0):
    """Boot; then load, play ``seconds`` of audio, unload.

    Returns (boot wall s, load+play+unload wall s, result, periods played)."""
    t0 = time.perf_counter()
    k = nookslab.boot(mode="native", seed=seed)
    t1 = time.perf_counter()
    k.load(driver)
    r = k.run("play-mp3", seconds=seconds)
    k.unload(driver)
    t2 = time.perf_counter()
    card = k.machine.devices[REGISTRY[driver].device_name]
    if not r.ok:
        raise SystemExit(f"{driver}: play-mp3 failed: {r.failure}")
    return t1 - t0, t2 - t1, r, card.periods


def best_of(driver: str, seconds: float, repeat: int = 5):
    """The fastest of ``repeat`` runs (different seeds), by total wall-clock time."""
    return min((one_run(driver, seconds, seed) for seed in range(repeat)),
               key=lambda x: x[0] + x[1])


def main() -> int:
    one_run("sb", 0.01)                      # warm up: the loader compiles each driver once
    one_run("es1371", 0.01)
    print("wall-clock ms: boot | load + play-mp3 + unload (best of 5 seeds)")
    print(f"{'driver':<8} {'0.1 s run':>18} {'trial 0.05 s':>18} {'frames/wall s':>14} "
          f"{'periods/wall s':>15}")
    worst_trial = 0.0
    for driver in DRIVERS:
        b01, w01, _, _ = best_of(driver, 0.1)
        b005, w005, _, _ = best_of(driver, 0.05)
        _, wall, r, periods = best_of(driver, 2.0, repeat=3)
        worst_trial = max(worst_trial, (b005 + w005) * 1e3)
        print(f"{driver:<8} {b01 * 1e3:>7.2f} | {w01 * 1e3:>6.2f} ms {b005 * 1e3:>7.2f} | "
              f"{w005 * 1e3:>6.2f} ms {r.operations / wall:>14,.0f} {periods / wall:>15,.0f}")
    verdict = "within" if worst_trial <= TRIAL_TARGET_MS else "OVER"
    print(f"trial-sized run incl. boot: {worst_trial:.2f} ms, {verdict} the "
          f"{TRIAL_TARGET_MS:.0f} ms target")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
