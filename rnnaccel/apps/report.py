"""``rnnaccel-report`` / ``python -m rnnaccel.apps.report``: a sweep directory -> CSV, tables, plots.

Gathers every complete ``rnnaccel-evaluate`` result JSON under ``report.sweep_dir`` (recursively;
half-written or incomplete files are counted and skipped) into ``<out>/results.csv`` (one row per
run, columns in :func:`row`), ``<out>/results.md`` (the papers' layout: per network and technique
the setting with the largest energy saving within ``report.budget`` accuracy-loss points — reuse %,
accuracy loss, speedup, energy savings — then every run, Pareto-optimal runs marked) and, with
``report.plots``, the figures of :mod:`rnnaccel.apps.report_plots`.

    rnnaccel-report report.sweep_dir=runs/sweeps/evaluate report.budget=1.0
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import hydra

from ..errors import RnnaccelError, app_boundary
from ..hardware import COMPONENTS
from .config import ReportApp, register
from .results import RESULT_FORMAT, atomic_write_bytes, flatten, semantic_config

register()

__all__ = ["collect", "row", "rows_of", "pareto", "to_csv", "papers_table", "runs_table", "run", "labels", "settings"]


def collect(sweep_dir: str | Path) -> tuple[list[tuple[str, dict]], int]:
    """``([(relative dir, result)], skipped)`` of the result JSONs under ``sweep_dir``, sorted by path."""
    root = Path(sweep_dir)
    if not root.is_dir():
        raise RnnaccelError(f"report.sweep_dir={str(root)!r} is not a directory; pass the sweep's hydra.sweep.dir")
    found, skipped = [], 0
    for p in sorted(root.rglob("*.json")):
        try:
            r = json.loads(p.read_text())
        except (OSError, ValueError):
            skipped += 1
            continue
        if not isinstance(r, dict) or r.get("format") != RESULT_FORMAT:
            continue  # not an evaluate result (hydra files, baselines, other JSON)
        if r.get("complete") is not True:
            skipped += 1
            continue
        found.append((p.parent.relative_to(root).as_posix() or ".", r))
    return found, skipped


def _g(v, nd: int = 6):
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:.{nd}g}"
    return v


def technique(r: dict) -> tuple[str, str]:
    """``(family, setting)``: e.g. ``("memo:bnn", "theta=0.1")``; ``("baseline", "")`` without techniques."""
    m, p = r["techniques"]["memo"], r["techniques"]["precision"]
    fam, sets = [], []
    if m["predictor"] != "off":
        fam.append(f"memo:{m['predictor']}")
        sets.append(f"theta={m['per_layer'] if m.get('per_layer') else _g(m['theta'])}")
    if p["mode"] != "off":
        fam.append(f"precision:{p['mode']}")
        if p["mode"] == "static":
            sets.append(f"bits={p['bits'] or p['ladder'][0]}")
        else:
            sets.append(
                f"{p['metric']} tau={_g(p['tau'])} phi=[{', '.join(str(_g(v)) for v in p['thresholds'])}]"
                + (f" layers={p['layers']}" if p.get("layers") else "")
            )
    return (" + ".join(fam) or "baseline"), "; ".join(sets)


def settings(r: dict) -> dict:
    """What a run was asked to do, flattened (``memo.theta``, ``hw``, ``data.num_test``, ...): the
    techniques in effect, the primary platform, split, mode, decoder, datapath source and, when the
    result carries its config, every semantic setting (not the checkpoint: that is the network)."""
    out = {}
    for unit, on in (
        ("memo", r["techniques"]["memo"]["predictor"] != "off"),
        ("precision", r["techniques"]["precision"]["mode"] != "off"),
    ):
        if on:
            out |= flatten(r["techniques"][unit], unit)
    out |= {k: r.get(k) for k in ("split", "mode", "decoder", "datapath_source")}
    out["hw"] = (r.get("cost") or {}).get("kind") or r.get("primary_hw")
    config = semantic_config(r.get("config") or {})
    for group in ("data", "datapath", "eval"):
        out |= flatten(config.get(group) or {}, group)
    out.pop("eval.checkpoint", None)
    out.pop("eval.also_hw", None)
    return out


def labels(results: list[tuple[str, dict]]) -> list[str]:
    """Per run, its technique and every setting that differs among the runs of its network that
    have it (``memo:oracle, memo.theta=0.1, hw=tpu``): runs that differ in anything never share a
    label, bar or point."""
    sets = [settings(r) for _, r in results]
    nets = [r["network"]["name"] for _, r in results]
    out = []
    for (_, r), net, own in zip(results, nets, sets):
        peers = [p for p, n in zip(sets, nets) if n == net]
        varying = [
            k
            for k in sorted(own)
            if k not in ("memo.predictor", "precision.mode")
            and len({json.dumps(p[k], sort_keys=True) for p in peers if k in p}) > 1
        ]
        out.append(", ".join([technique(r)[0]] + [f"{k}={_g(own[k])}" for k in varying]))
    return out


def _widths(results) -> list[str]:
    ws = {w for _, r in results if r.get("precision") for w in r["precision"]["all"]}
    return sorted(ws, key=int, reverse=True)


def _platforms(results) -> list[str]:
    return list(dict.fromkeys(h for _, r in results for h in (r.get("cost_by_hw") or {})))


def row(name: str, r: dict, widths: list[str], platforms: list[str], hw: str | None = None, label: str = "") -> dict:
    """The CSV row of one result (percentages in percent, energies in joules); ``label``: what
    sets it apart from the other runs of its network (:func:`labels`)."""
    fam, setting = technique(r)
    net = r["network"]
    cost = (r.get("cost_by_hw") or {}).get(hw) if hw else r.get("cost")
    memo = (r.get("memo") or {}).get("total", {})
    prec = (r.get("precision") or {}).get("all", {})
    out = {
        "run": name,
        "network": net["name"],
        "task": r["task"],
        "technique": fam,
        "setting": setting,
        "label": label or fam,
        "metric": r["score"]["metric"],
        "score_pts": r["score"]["points"],
        "baseline_pts": r["score"]["baseline_points"],
        "accuracy_loss_pts": r.get("accuracy_loss_pts"),
        "reuse_pct": 100 * memo["reuse_fraction"] if memo else None,
        "macs_skipped_pct": 100 * memo["mac_fraction_skipped"] if memo else None,
    }
    for w in widths:
        out[f"time_at_{w}b_pct"] = 100 * prec[w] if w in prec else None
    out["time_at_lowest_pct"] = 100 * prec[min(prec, key=int)] if prec else None
    out["saturations"] = sum((r.get("saturations") or {}).values()) if r.get("saturations") else None
    out["hw"] = (cost or {}).get("kind") if hw is None else hw
    for k in ("cycles", "seconds", "total_j"):
        out[k] = (cost or {}).get(k)
    for c in COMPONENTS:
        out[f"energy_{c}_j"] = ((cost or {}).get("energy_j") or {}).get(c)
    out["speedup"] = (cost or {}).get("speedup")
    sv = (cost or {}).get("energy_saving")
    out["energy_saving_pct"] = 100 * sv if sv is not None else None
    for p in platforms:
        c = (r.get("cost_by_hw") or {}).get(p) or {}
        out[f"speedup_{p}"] = c.get("speedup")
        out[f"energy_saving_{p}_pct"] = 100 * c["energy_saving"] if c.get("energy_saving") is not None else None
    out["objective"] = r.get("objective")
    out["config_hash"] = r.get("config_hash")
    return out


def pareto(rows: list[dict], y: str = "energy_saving_pct") -> list[bool]:
    """Per row: no run of the same network has loss <= and ``y`` >= with one strictly better."""

    def ok(a):
        return a["accuracy_loss_pts"] is not None and a[y] is not None

    flags = []
    for a in rows:
        dom = ok(a) and any(
            ok(b)
            and b is not a
            and b["network"] == a["network"]
            and b["accuracy_loss_pts"] <= a["accuracy_loss_pts"]
            and b[y] >= a[y]
            and (b["accuracy_loss_pts"] < a["accuracy_loss_pts"] or b[y] > a[y])
            for b in rows
        )
        flags.append(ok(a) and not dom)
    return flags


def rows_of(results: list[tuple[str, dict]], hw: str | None = None) -> list[dict]:
    widths, plats = _widths(results), _platforms(results)
    rows = [row(n, r, widths, plats, hw, lab) for (n, r), lab in zip(results, labels(results))]
    for r, f in zip(rows, pareto(rows)):
        r["pareto"] = f
    return rows


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: _g(v) for k, v in r.items()})
    return buf.getvalue()


def _cell(v, fmt: str) -> str:
    return "–" if v is None or v == "" else format(v, fmt)


def _shares(r: dict) -> str:
    """``"55.6/44.2/0.1"``: % of work at each width (widest first), ``–`` without the precision unit."""
    v = [r[k] for k in r if k.startswith("time_at_") and k.endswith("b_pct") and r[k] is not None]
    return "/".join(f"{x:.1f}" for x in v) or "–"


def _widths_label(rows: list[dict]) -> str:
    ws = [
        k[len("time_at_") : -len("b_pct")]
        for k in (rows[0] if rows else {})
        if k.startswith("time_at_") and k.endswith("b_pct")
    ]
    return "/".join(ws) or "–"


def _by_network(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda r: (r["network"], r["technique"]))  # stable: sweep order within a group


def papers_table(rows: list[dict], budget: float) -> str:
    """Per network and technique: the run with the largest energy saving whose accuracy loss is
    within ``budget`` points and whose saving is positive (the layout of the papers' results
    tables); a setting that costs energy is never "best": then the row says none qualifies."""
    lines = [
        f"| network | technique | setting | reuse % | time at {_widths_label(rows)} bit % | accuracy loss (pts) "
        f"| speedup | energy savings % |",
        "|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple, list] = {}
    for r in _by_network(rows):
        if r["technique"] != "baseline" and r["accuracy_loss_pts"] is not None and r["energy_saving_pct"] is not None:
            groups.setdefault((r["network"], r["technique"]), []).append(r)
    for (net, fam), rs in groups.items():
        ok = [r for r in rs if r["accuracy_loss_pts"] <= budget and r["energy_saving_pct"] > 0]
        if not ok:
            lines.append(f"| {net} | {fam} | none within {budget:g} pts with a positive saving | – | – | – | – | – |")
            continue
        b = max(ok, key=lambda r: (r["energy_saving_pct"], -r["accuracy_loss_pts"]))
        lines.append(
            f"| {net} | {fam} | {b['setting']} | {_cell(b['reuse_pct'], '.1f')} | "
            f"{_shares(b)} | {b['accuracy_loss_pts']:+.2f} | "
            f"{b['speedup']:.2f} | {b['energy_saving_pct']:.1f} |"
        )
    return "\n".join(lines)


def runs_table(rows: list[dict]) -> str:
    lines = [
        "| network | technique | setting | run (what differs) | metric | score (pts) | loss (pts) | reuse % "
        f"| time at {_widths_label(rows)} bit % | speedup | energy savings % | Pareto |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in _by_network(rows):
        loss = "–" if r["accuracy_loss_pts"] is None else f"{r['accuracy_loss_pts']:+.2f}"
        lines.append(
            f"| {r['network']} | {r['technique']} | {r['setting']} | {r['label']} | {r['metric']} | "
            f"{r['score_pts']:.2f} | {loss} | {_cell(r['reuse_pct'], '.1f')} | "
            f"{_shares(r)} | {_cell(r['speedup'], '.2f')} | "
            f"{_cell(r['energy_saving_pct'], '.1f')} | {'*' if r['pareto'] else ''} |"
        )
    return "\n".join(lines)


def run(cfg: ReportApp) -> dict:
    rc = cfg.report
    if not rc.budget >= 0:
        raise RnnaccelError(f"invalid configuration: report.budget={rc.budget!r} must be >= 0")
    results, skipped = collect(rc.sweep_dir)
    if not results:
        raise RnnaccelError(
            f"report.sweep_dir={rc.sweep_dir!r}: no complete evaluate results found"
            + (f" ({skipped} incomplete or unreadable)" if skipped else "")
        )
    out = Path(rc.out_dir) if rc.out_dir else Path(rc.sweep_dir) / "report"
    rows = rows_of(results, rc.hw)
    atomic_write_bytes(out / "results.csv", to_csv(rows).encode())
    md = (
        f"# Sweep report: {rc.sweep_dir}\n\n{len(rows)} runs ({skipped} incomplete skipped); speedup and "
        f"energy on {rc.hw or 'each run’s primary platform'}; budget {rc.budget:g} accuracy-loss points.\n\n"
        f"## Best setting within the budget\n\n{papers_table(rows, rc.budget)}\n\n## All runs\n\n{runs_table(rows)}\n"
    )
    atomic_write_bytes(out / "results.md", md.encode())
    plots = []
    if rc.plots:
        from .report_plots import plot_all

        plots = [str(p) for p in plot_all(rows, results, out, rc.hw)]
    print(md, flush=True)
    print(
        json.dumps(
            {
                "runs": len(rows),
                "skipped": skipped,
                "csv": str(out / "results.csv"),
                "markdown": str(out / "results.md"),
                "plots": plots,
            }
        ),
        flush=True,
    )
    return {"rows": rows, "skipped": skipped, "out_dir": str(out), "plots": plots}


@hydra.main(config_path="../conf", config_name="report", version_base="1.3")
def main(cfg: ReportApp) -> None:
    """A wrong setting or input exits 2 with one line."""
    app_boundary("report", run, cfg)


if __name__ == "__main__":
    main()
