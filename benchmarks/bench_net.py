"""Wall-clock cost of the network workloads (not a pass/fail test): ``python benchmarks/bench_net.py``.

For every NIC and workload: the wall-clock seconds of a ``seconds=0.1`` run and of a
trial-sized run (``TRIAL`` simulated seconds, about what a fault-injection trial does), and the
simulated operations (packets on the wire, both directions) per wall-clock second.
"""
from __future__ import annotations

import time

import nookslab

NICS = ("e1000", "pcnet32", "3c59x", "3c90x")
WORKLOADS = ("ping", "send-stream", "receive-stream")
TRIAL = 0.005


def run(nic: str, workload: str, seconds: float, seed: int = 1):
    k = nookslab.boot(mode="native", seed=seed)
    k.load(nic)
    dev = k.machine.devices[nookslab.drivers.REGISTRY[nic].device_name]
    t0, c0 = time.perf_counter(), time.process_time()
    r = k.run(workload, seconds=seconds)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0            # our CPU time: robust when the machine is busy
    frames = dev.tx_frames + dev.rx_frames
    return r, wall, cpu, frames


def main() -> None:
    print(f"{'nic':8} {'workload':15} {'ok':3} {'wall 0.1s':>10} {'cpu 0.1s':>9} "
          f"{'wall trial':>11} {'cpu trial':>10} {'frames/cpu-s':>13} {'ops/cpu-s':>10} "
          f"{'sim MB/s':>9} {'sim cpu':>8}")
    for nic in NICS:
        for workload in WORKLOADS:
            r, wall, cpu, frames = run(nic, workload, 0.1)
            rt, wall_t, cpu_t, _ = run(nic, workload, TRIAL)
            mb = r.nbytes / r.seconds / 1e6
            print(f"{nic:8} {workload:15} {'ok' if r.ok and rt.ok else 'NO':3} {wall:10.3f} "
                  f"{cpu:9.3f} {wall_t * 1000:9.1f}ms {cpu_t * 1000:8.1f}ms "
                  f"{frames / cpu:13,.0f} {r.operations / cpu:10,.0f} {mb:9.2f} "
                  f"{r.cpu_util:8.1%}")


if __name__ == "__main__":
    main()
