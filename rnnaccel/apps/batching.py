"""``rnnaccel-batching`` / ``python -m rnnaccel.apps.batching``: the E-BATCH serving simulator.

Runs :func:`rnnaccel.serving.simulate` on the ``batching`` config group (``ebatch``,
``padded``, ``cellular``, ``none``; schema :class:`~rnnaccel.serving.BatchingConfig`) and
writes one JSON (atomically): the resolved config, the metrics of
:meth:`~rnnaccel.serving.SimResult.summary` and the energy by component. With
``run.loads`` it runs a load sweep instead (:func:`~rnnaccel.serving.sweep.load_sweep`,
loads relative to each platform's reference rate) and adds a Markdown table and the
throughput-latency plots. Returns the energy per sequence (single run) for sweepers.

    rnnaccel-batching batching=ebatch batching.workload.rate=50
    rnnaccel-batching -m batching=padded,cellular,ebatch batching.platform=epur,tpu
    rnnaccel-batching 'run.loads=[0.1,0.5,0.9]' run.output=runs/batching/sweep.json
"""

from __future__ import annotations

import json
import time

import hydra
from omegaconf import OmegaConf

from ..errors import RnnaccelError, app_boundary, one_line
from ..serving import BatchingConfig, simulate
from .config import BatchingApp, register
from .results import atomic_write_bytes, atomic_write_json, config_hash, output_path, package_version

register()

__all__ = ["run", "validate", "plot_throughput_latency", "workload_caption"]


def workload_caption(bc: BatchingConfig) -> str:
    """The workload a sweep served: network shape, length source and requests."""
    n = bc.network
    shape = f"{n.num_layers}x{n.hidden_size} {'Bi' if n.bidirectional else ''}{n.cell.upper()} on {n.input_size} inputs"
    w = bc.workload
    return f"{shape}; lengths {w.trace or w.lengths}; {w.num_requests} {w.arrival} requests"


def plot_throughput_latency(rows: list[dict], out_dir, workload: str = "", metric: str = "latency_p95_s") -> list:
    """One figure per platform (``throughput_latency_<platform>`` .pdf/.svg/.png, figstyle): p95
    latency and energy per sequence against achieved throughput, one colour and marker per policy
    (the same policy looks the same on every platform); the title names the hardware with its
    operating point and the workload. Returns the PNG paths."""
    from pathlib import Path

    from ..hardware import load_hw
    from .figstyle import PAGE, caption, figure, palette, save, style

    look = palette(r["policy"] for r in rows)
    paths = []
    with style():
        for plat in dict.fromkeys(r["platform"] for r in rows):
            fig, (ax_l, ax_e) = figure(PAGE, 2.8, ncols=2)
            for pol, st in look.items():
                pts = sorted((r for r in rows if r["platform"] == plat and r["policy"] == pol), key=lambda r: r["load"])
                x = [r["throughput_seq_s"] for r in pts]
                if pts:
                    ax_l.plot(x, [r[metric] for r in pts], label=pol, **st)
                    ax_e.plot(x, [r["energy_per_seq_j"] * 1e3 for r in pts], label=pol, **st)
            ax_l.set(xlabel="achieved throughput (sequences/s)", ylabel="p95 latency (s)", yscale="log")
            if metric != "latency_p95_s":
                ax_l.set_ylabel(metric.replace("_s", " (s)").replace("_", " "))
            ax_e.set(xlabel="achieved throughput (sequences/s)", ylabel="energy per sequence (mJ)", yscale="log")
            ax_e.legend(title="policy", loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
            fig.suptitle("Throughput vs latency and energy\n" + caption(hardware=load_hw(plat).name, workload=workload))
            paths.append(save(fig, Path(out_dir) / f"throughput_latency_{plat}"))
    return paths


def validate(cfg: BatchingApp) -> BatchingConfig:
    """The simulator config, checked before anything runs: one RnnaccelError line naming the field."""
    try:
        return BatchingConfig.from_dict(cfg.batching)
    except ValueError as e:
        raise RnnaccelError(f"invalid configuration: batching.{one_line(e)}") from None


def run(cfg: BatchingApp) -> dict:
    bc = validate(cfg)
    rc = cfg.run
    plain = OmegaConf.to_container(cfg, resolve=True)
    out = output_path(rc.output, "batching.json", "runs/batching/batching.json")
    t0 = time.time()
    result = {
        "format": "rnnaccel.batching/1",
        "config": plain,
        "config_hash": config_hash(plain),
        "version": package_version(),
    }
    if rc.loads is None:
        res = simulate(bc)
        res.check()
        result |= {
            "policy": res.policy,
            "platform": res.platform,
            **res.summary(),
            "energy_j": res.energy_by_component(),
        }
    else:
        from ..serving.sweep import format_table, load_sweep

        rows = load_sweep(bc, list(rc.loads), list(rc.policies), list(rc.platforms), bc.workload.num_requests)
        table = format_table(rows)
        atomic_write_bytes(out.with_suffix(".md"), (table + "\n").encode())
        result["rows"] = rows
        if rc.plots:
            result["plots"] = [str(p) for p in plot_throughput_latency(rows, out.parent, workload_caption(bc))]
        print(table, flush=True)
    result |= {"wall_s": round(time.time() - t0, 2), "complete": True}
    atomic_write_json(out, result)
    keys = ("policy", "platform", "throughput_seq_s", "latency_p95_s", "energy_per_seq_j", "wall_s")
    print(json.dumps({k: result[k] for k in keys if k in result} | {"output": str(out)}), flush=True)
    return result


@hydra.main(config_path="../conf", config_name="batching", version_base="1.3")
def main(cfg: BatchingApp) -> float | None:
    """Returns the energy per sequence (for sweepers). A wrong setting exits 2 with one line."""
    return app_boundary("batching", run, cfg).get("energy_per_seq_j")


if __name__ == "__main__":
    main()
