"""E-BATCH against its baselines on the shipped network and the paper-scale shapes, and the
paper-scale shapes through the emulator for their counts.

    .venv/bin/python -m rnnaccel.apps.shapes --out runs/shapes [--requests 1000] [--emulate]
        [--networks digits_blstm speech_lstm eesen_like ds2_like gnmt_like] [--platforms epur tpu]
        [--finished-lanes skip|compute]

For each network and platform: every policy (none, padded, bucketed, cellular, ebatch) at two
operating points, loads relative to E-BATCH's reference rate (rnnaccel.serving.sweep.reference_rate):
``load 0.7`` (every policy that keeps up has the same throughput: energy per sequence differs) and
``saturated`` (load 1.5: throughput is each policy's capacity; E-BATCH pins T = steps_max, since
at saturation the queue, not the chunk length, sets the latency). Ratios: E-BATCH's throughput and
sequences per joule over each baseline's. ``--finished-lanes compute`` has E-BATCH compute the
idle tail of a lane whose request ended with nothing queued (default ``skip``, docs/batching.md §4).
``--emulate`` also runs each paper-scale shape through
the emulator (random weights, seeded; short sequences) and checks its counts equal the analytic
chunks the simulator prices. Writes ``compare.json`` and ``compare.md``.

Techniques under load (issue 17 part 4), on a trained network's evaluation traces:

    .venv/bin/python -m rnnaccel.apps.shapes --out runs/shapes_tech --networks digits_blstm \
        --techniques memo=runs/ebatch_traces/memo.npz precision=runs/ebatch_traces/prec.npz \
                     both=runs/ebatch_traces/both.npz [--tech-load 0.7] [--tech-steps 64]

runs E-BATCH dense and with each trace's techniques, each at the same *relative* load: the arrival
rate is ``--tech-load`` times that configuration's own reference rate (its capacity at full lanes,
rnnaccel.serving.sweep.reference_rate), so every configuration runs equally full and the steps
controller faces the same queueing; ``--tech-steps T`` also runs each with ``T`` pinned. Savings are
energy per sequence against dense; the interaction is the measured ``both`` saving against the
product of the single savings, ``1 - (1 - s_memo)(1 - s_precision)``. Writes ``techniques.json`` and
``techniques.md`` (the comparison of policies is skipped).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rnnaccel.serving import ChunkCoster, load_batching_config, simulate
from rnnaccel.serving.shapes import load_shape
from rnnaccel.serving.sweep import reference_rate

POLICIES = ("none", "padded", "bucketed", "cellular", "ebatch")
SHIPPED = {  # the shipped networks' serving shapes (docs/batching.md section 8)
    "digits_blstm": {
        "network": {"cell": "lstm", "num_layers": 2, "input_size": 160, "hidden_size": 96, "bidirectional": True},
        "workload": {"lengths": "digits_test", "length_divisor": 4},  # conf/model/digits_blstm: 4 frames, stride 4
    },
    "speech_lstm": {},  # the configs' own 5x320 LSTM, 40 features, digit-test lengths
}
POINTS = {"load 0.7": (0.7, {}), "saturated": (1.5, {"adaptive": False})}


def network_config(name: str, platform: str):
    base = load_batching_config("ebatch").with_(platform=platform)
    if name in SHIPPED:
        return base.with_(**SHIPPED[name]) if SHIPPED[name] else base, name
    shape = load_shape(name)
    return shape.batching(base), shape.label


def compare(name: str, platform: str, requests: int, targets: dict, finished_lanes: str = "skip") -> list[dict]:
    cfg, label = network_config(name, platform)
    cfg = cfg.with_(policy={"latency_target_s": targets[platform]})
    coster = ChunkCoster(platform, cfg.network)
    ref = reference_rate(cfg, coster)
    rows = []
    for point, (load, eb_policy) in POINTS.items():
        for pol in POLICIES:
            if pol == "cellular" and cfg.network.bidirectional:
                continue  # refused: a reverse direction needs the whole sequence
            t0 = time.time()
            extra = {**eb_policy, "finished_lanes": finished_lanes} if pol == "ebatch" else {"finished_lanes": "skip"}
            res = simulate(
                cfg,
                coster=coster,
                workload={"rate": load * ref, "num_requests": requests},
                policy={"name": pol, **extra},
            )
            res.check()
            s = res.summary()
            rows.append(
                {"network": name, "label": label, "platform": platform, "point": point, "policy": pol}
                | {"rate": load * ref, "residency": ",".join(sorted(set(coster.modes))), "wall_s": time.time() - t0}
                | {k: s[k] for k in ("throughput_seq_s", "latency_p95_s", "energy_per_seq_j", "padding_fraction")}
                | {"seq_per_j": 1.0 / s["energy_per_seq_j"], "weight_loads": s["weight_loads"]}
            )
            print(
                f"{name:12} {platform:4} {point:9} {pol:8} {s['throughput_seq_s']:9.2f} seq/s "
                f"p95 {s['latency_p95_s']:9.3g} s {s['energy_per_seq_j'] * 1e3:9.4g} mJ/seq",
                flush=True,
            )
    return rows


def ratios(rows: list[dict]) -> list[dict]:
    """E-BATCH over each baseline: throughput and sequences per joule, per network/platform/point."""
    out = []
    keys = dict.fromkeys((r["network"], r["platform"], r["point"]) for r in rows)
    for n, p, pt in keys:
        grp = {r["policy"]: r for r in rows if (r["network"], r["platform"], r["point"]) == (n, p, pt)}
        eb = grp["ebatch"]
        for pol, r in grp.items():
            if pol != "ebatch":
                out.append(
                    {"network": n, "platform": p, "point": pt, "baseline": pol}
                    | {"throughput_x": eb["throughput_seq_s"] / r["throughput_seq_s"]}
                    | {"energy_eff_x": eb["seq_per_j"] / r["seq_per_j"], "residency": eb["residency"]}
                )
    return out


def emulate_counts(name: str) -> dict:
    """Run a shape through the emulator (random weights) and check its counts against the
    analytic dense chunks; price the trace on both platforms."""
    import numpy as np
    import torch

    from rnnaccel.emulator import GRU, LSTM, Trace
    from rnnaccel.hardware import dense_layer_trace, estimate

    shape = load_shape(name)
    em = shape.emulate
    rng = np.random.default_rng(em.seed)
    lengths = rng.integers(em.min_steps, em.max_steps + 1, size=em.sequences)
    out = {"network": name, "lengths": lengths.tolist(), "stacks": {}}
    for part, net in shape.stacks():
        torch.manual_seed(em.seed)
        cls = LSTM if net.cell == "lstm" else GRU
        m = cls(
            net.input_size,
            net.hidden_size,
            num_layers=net.num_layers,
            bidirectional=net.bidirectional,
            mode="emulate",
            batch_first=True,
        )
        x = torch.randn(em.sequences, int(lengths.max()), net.input_size)
        tr, t0 = Trace(), time.time()
        m(x, lengths=torch.as_tensor(lengths), trace=tr)
        for lt in tr:  # dense network: every counter equals the analytic chunk of one row per sequence
            active = lt.get("active")
            for t in range(lt.steps):
                ref = dense_layer_trace(net.cell, lt.input_size, lt.hidden_size, int(active[t]), 1)
                for k in ref.counters:
                    if k != "weight_bytes" and int(lt.get(k)[t]) != int(ref.get(k)[0]):
                        raise AssertionError(f"{name} {part} {lt.key} step {t}: {k} differs from the analytic chunk")
        row = {
            "emulate_s": round(time.time() - t0, 1),
            "macs": int(sum(v for k, v in tr.totals().items() if k.startswith("mac."))),
        }
        for hw in ("epur", "tpu"):
            rep = estimate(tr, hw)
            seq_steps = int(lengths.sum()) * net.num_layers * (2 if net.bidirectional else 1)
            row[hw] = {
                "seconds": rep.seconds,
                "energy_j": rep.total_j,
                "uj_per_layer_step": rep.total_j / seq_steps * 1e6,
                "residency": sorted({c.stats.get("residency", "stream") for c in rep.per_layer}),
                "dram_weight_bytes": sum(c.stats.get("dram_weight_bytes", 0.0) for c in rep.per_layer),
            }
        out["stacks"][part] = row
        print(f"{name} {part}: counts equal the analytic chunks; {row}", flush=True)
    return out


def technique_rows(name: str, platform: str, traces: dict, requests: int, targets: dict, load: float, steps):
    """E-BATCH dense and with each technique trace at ``load`` x its own reference rate; with
    ``steps`` also at ``T = steps`` pinned. One row per (configuration, T mode)."""
    from rnnaccel.serving.techniques import TechniqueProfile

    cfg, _ = network_config(name, platform)
    cfg = cfg.with_(policy={"latency_target_s": targets[platform]})
    modes = {"adaptive": {}} | ({f"T={steps}": {"adaptive": False, "steps_max": steps}} if steps else {})
    rows = []
    for label, path in {"dense": None, **traces}.items():
        prof = TechniqueProfile.load(path) if path else None
        coster = ChunkCoster(platform, cfg.network, techniques=prof)
        ref = reference_rate(cfg, coster)
        for mode, pol in modes.items():
            res = simulate(cfg, coster=coster, workload={"rate": load * ref, "num_requests": requests}, policy=pol)
            res.check()
            s = res.summary()
            chunks = res.extra.get("steps_chunks", {})
            mean_T = sum(t * n for t, n in chunks.items()) / max(1, sum(chunks.values()))
            rows.append(
                {"network": name, "platform": platform, "config": label, "mode": mode, "trace": path}
                | {"rate": load * ref, "reference_rate": ref, "mean_T": mean_T}
                | {k: s[k] for k in ("throughput_seq_s", "latency_p95_s", "energy_per_seq_j", "padding_fraction")}
                | {"reuse": prof.summary()["reuse_fraction"] if prof else 0.0}
            )
            r = rows[-1]
            print(
                f"{name} {platform:4} {mode:8} {label:10} rate {r['rate']:8.2f}/s mean T {mean_T:6.1f} "
                f"p95 {s['latency_p95_s']:8.3g} s {s['energy_per_seq_j'] * 1e3:9.4g} mJ/seq",
                flush=True,
            )
    return rows


def interaction(rows: list[dict], singles=("memo", "precision"), both="both") -> list[dict]:
    """Per (network, platform, mode): each configuration's saving in energy per sequence vs dense,
    and the combined saving against the product of the single savings."""
    out = []
    for key in dict.fromkeys((r["network"], r["platform"], r["mode"]) for r in rows):
        grp = {r["config"]: r for r in rows if (r["network"], r["platform"], r["mode"]) == key}
        dense = grp["dense"]["energy_per_seq_j"]
        save = {c: 1.0 - r["energy_per_seq_j"] / dense for c, r in grp.items() if c != "dense"}
        row = {"network": key[0], "platform": key[1], "mode": key[2]} | {f"saving_{c}": v for c, v in save.items()}
        if both in save and all(c in save for c in singles):
            prod = 1.0
            for c in singles:
                prod *= 1.0 - save[c]
            row["product_of_singles"] = 1.0 - prod
        out.append(row)
    return out


def technique_table(inter: list[dict]) -> str:
    cols = [c for c in inter[0] if c not in ("network",)] if inter else []
    lines = ["| network | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 1)]
    for r in inter:
        cells = [f"{100 * r[c]:.1f} %" if isinstance(r.get(c), float) else str(r.get(c, "")) for c in cols]
        lines.append(f"| {r['network']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table(rows: list[dict]) -> str:
    cols = ("network", "platform", "point", "baseline", "throughput_x", "energy_eff_x", "residency")
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(f"{r[c]:.2f}" if isinstance(r[c], float) else str(r[c]) for c in cols) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/shapes"))
    ap.add_argument(
        "--networks", nargs="+", default=["digits_blstm", "speech_lstm", "eesen_like", "ds2_like", "gnmt_like"]
    )
    ap.add_argument("--platforms", nargs="+", default=["epur", "tpu"])
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--targets", nargs="*", default=["epur=0.5", "tpu=0.15"], help="E-BATCH p95 target, platform=s")
    ap.add_argument("--emulate", action="store_true", help="also run the paper-scale shapes through the emulator")
    ap.add_argument(
        "--finished-lanes", choices=["skip", "compute"], default="skip", help="E-BATCH: idle lanes computed or not"
    )
    ap.add_argument("--techniques", nargs="+", default=[], help="label=trace.npz: E-BATCH with each trace's techniques")
    ap.add_argument("--tech-load", type=float, default=0.7, help="arrival rate / each configuration's own capacity")
    ap.add_argument("--tech-steps", type=int, default=None, help="also run with T pinned to this many steps")
    args = ap.parse_args(argv)
    targets = {k: float(v) for k, v in (t.split("=", 1) for t in args.targets)}
    t0 = time.time()
    if args.techniques:
        return techniques_main(args, targets, t0)
    rows = [
        r
        for n in args.networks
        for p in args.platforms
        for r in compare(n, p, args.requests, targets, args.finished_lanes)
    ]
    counts = [emulate_counts(n) for n in args.networks if n not in SHIPPED] if args.emulate else []
    rat = ratios(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"args": {**vars(args), "out": str(args.out)}, "wall_s": round(time.time() - t0, 1)}
    (args.out / "compare.json").write_text(
        json.dumps(meta | {"rows": rows, "ratios": rat, "emulated": counts}, indent=1)
    )
    (args.out / "compare.md").write_text(table(rat) + "\n")
    print(table(rat))
    print(f"wall {meta['wall_s']} s")


def techniques_main(args, targets: dict, t0: float) -> None:
    traces = {}
    for item in args.techniques:
        label, sep, path = item.partition("=")
        if not sep or not label or not path:
            raise SystemExit(f"--techniques: {item!r} is not label=trace.npz (e.g. memo=runs/ebatch_traces/memo.npz)")
        traces[label] = path
    if not 0 < args.tech_load:
        raise SystemExit(f"--tech-load must be > 0, got {args.tech_load}")
    rows = [
        r
        for n in args.networks
        for p in args.platforms
        for r in technique_rows(n, p, traces, args.requests, targets, args.tech_load, args.tech_steps)
    ]
    inter = interaction(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"args": {**vars(args), "out": str(args.out)}, "wall_s": round(time.time() - t0, 1)}
    (args.out / "techniques.json").write_text(json.dumps(meta | {"rows": rows, "interaction": inter}, indent=1))
    (args.out / "techniques.md").write_text(technique_table(inter) + "\n")
    print(technique_table(inter))
    print(f"wall {meta['wall_s']} s")


if __name__ == "__main__":
    main()
