"""Load sweep of the batching policies on E-PUR and the TPU: a Markdown table, JSON rows and one
throughput-latency / throughput-energy plot per platform.

    .venv/bin/python -m rnnaccel.apps.batching_sweep --out runs/batching \
        [--config ebatch] [--loads 0.1 0.3 0.5 0.7 0.9 1.2] [--requests 2000] [--targets epur=0.5 tpu=0.15]

Loads are fractions of the platform's reference rate (E-BATCH with all lanes busy and the longest
chunk; ``rnnaccel.serving.sweep.reference_rate``). ``--targets`` sets E-BATCH's p95
latency target per platform (seconds).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rnnaccel.apps.batching import plot_throughput_latency, workload_caption
from rnnaccel.serving import load_batching_config
from rnnaccel.serving.sweep import format_table, load_sweep


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/batching"))
    ap.add_argument("--config", default="ebatch")
    ap.add_argument("--loads", type=float, nargs="+", default=[0.1, 0.3, 0.5, 0.7, 0.9, 1.2])
    ap.add_argument("--policies", nargs="+", default=["none", "padded", "cellular", "ebatch"])
    ap.add_argument("--platforms", nargs="+", default=["epur", "tpu"])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument(
        "--targets",
        nargs="*",
        default=["epur=0.5", "tpu=0.15"],
        help="E-BATCH latency target per platform, platform=seconds",
    )
    args = ap.parse_args(argv)
    targets = {k: float(v) for k, v in (t.split("=", 1) for t in args.targets)}

    def progress(r):
        print(
            f"{r['platform']:5} load {r['load']:.2f} {r['policy']:9} {r['throughput_seq_s']:9.2f} seq/s  "
            f"p95 {r['latency_p95_s']:9.4g} s  {r['energy_per_seq_j'] * 1e3:9.4g} mJ/seq",
            flush=True,
        )

    rows = load_sweep(args.config, args.loads, args.policies, args.platforms, args.requests, targets, progress)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sweep.json").write_text(
        json.dumps({"args": {**vars(args), "out": str(args.out)}, "rows": rows}, indent=1)
    )
    table = format_table(rows)
    (args.out / "sweep.md").write_text(table + "\n")
    print(table)
    workload = workload_caption(load_batching_config(args.config).with_(workload={"num_requests": args.requests}))
    for p in plot_throughput_latency(rows, args.out, workload):
        print(f"wrote {p}")


if __name__ == "__main__":
    main()
