"""Time the batching simulator: 100k requests per policy on each platform; prints seconds.

    .venv/bin/python -m rnnaccel.apps.bench_batching [--requests 100000] [--load 0.7] [--platforms epur tpu]

The arrival rate is ``load`` times a reference capacity (:func:`reference_rate`: E-BATCH at full
lanes with the longest chunk), so every platform is benchmarked at the same relative load. Each run
starts with a fresh :class:`ChunkCoster` (cold cost cache): the time includes pricing. ``seconds`` is
wall time, ``cpu s`` this process's CPU time (the difference is other load on a shared machine).
Goal: <= 10 s per policy on the 2-core development machine.
"""

from __future__ import annotations

import argparse
import time


from rnnaccel.serving import POLICIES, ChunkCoster, load_batching_config, simulate
from rnnaccel.serving.sweep import reference_rate


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="ebatch")
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--load", type=float, default=0.7)
    ap.add_argument("--platforms", nargs="+", default=["epur", "tpu"])
    ap.add_argument("--policies", nargs="+", default=list(POLICIES))
    args = ap.parse_args(argv)
    base = load_batching_config(args.config)
    print(
        f"{'platform':8} {'policy':9} {'rate/s':>9} {'seconds':>8} {'cpu s':>6} {'cost calls':>10}  p95 latency  J/seq"
    )
    for plat in args.platforms:
        cfg = base.with_(platform=plat)
        rate = args.load * reference_rate(cfg)
        cfg = cfg.with_(workload={"rate": rate, "num_requests": args.requests})
        for pol in args.policies:
            coster = ChunkCoster(plat, cfg.network)
            t0, c0 = time.perf_counter(), time.process_time()
            res = simulate(cfg, coster=coster, policy={"name": pol})
            dt, cpu = time.perf_counter() - t0, time.process_time() - c0
            res.check()
            s = res.summary()
            print(
                f"{plat:8} {pol:9} {rate:9.2f} {dt:8.2f} {cpu:6.2f} {coster.calls:10d}  "
                f"{s['latency_p95_s']:10.4g} s  {s['energy_per_seq_j']:.4g}",
                flush=True,
            )


if __name__ == "__main__":
    main()
