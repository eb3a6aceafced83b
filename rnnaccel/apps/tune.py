"""``rnnaccel-tune`` / ``python -m rnnaccel.apps.tune``: settings chosen on validation, reported on test.

For one checkpoint, every point of each search (a sweep preset of ``rnnaccel/conf/sweep``: its
grid, or an Optuna study for its ``interval()`` parameters) is evaluated on the **validation**
split. Then, per technique family (``memo:bnn``, ``precision:dynamic``, ...), the setting with the
largest energy saving whose accuracy loss is within ``--budget`` points and whose saving is
positive is chosen ("none qualifies" is a stated outcome), and the static-precision sweep gives
the fair baseline: the LOWEST static width whose validation loss is within the budget. Each chosen
setting and the baseline are evaluated ONCE on the **test** split; every technique is reported
against the 16-bit run (the same model, techniques off) and against that static baseline.

    rnnaccel-tune --checkpoint checkpoints/digits_blstm.pt
    rnnaccel-tune --checkpoint checkpoints/sentiment/sentiment_lstm.pt --set data=sentiment \\
        --set eval.batch_size=256 --searches memo_theta,memo_per_layer_optuna,precision_static

Writes ``<out>/tune.json`` and ``<out>/tune.md`` (validation table, choices, test results, the
command, what each baseline assumes) and one ``rnnaccel-evaluate`` result per run under
``<out>/val/`` and ``<out>/test/`` (``rnnaccel-report report.sweep_dir=<out>/val`` tables them).
A rerun skips the evaluations already complete. Defaults: ``rnnaccel/conf/tune.yaml``.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import re
import shlex
import sys
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from ..configio import packaged
from ..errors import RnnaccelError, app_boundary, one_line
from .report import rows_of, technique
from .results import atomic_write_bytes, atomic_write_json

__all__ = [
    "Candidate",
    "preset",
    "candidates",
    "recurrent_layers",
    "size_per_layer",
    "qualifies",
    "best_within",
    "lowest_static",
    "versus",
    "tune",
    "main",
]

FORMAT = "rnnaccel.tune/1"
STATIC = "precision:static"
#: evaluate settings tune sets itself (per phase); a preset or --set naming one is refused / dropped
OWNED = ("eval.checkpoint", "eval.split", "eval.limit", "eval.output", "eval.budget", "eval.penalty")
BASELINES = {
    "16-bit": "the same checkpoint with every technique off on its 16-bit datapath (the run each "
    "result's own savings are measured against), priced on the same hardware table",
    "static": "every step of every recurrent layer at one width b (weights and GEMM operands "
    "narrowed from 16 bits, no controller, no re-execution); b = the lowest width of the "
    "precision_static grid whose validation loss is within the budget",
    "technique + static": "an --on-static preset (e.g. memoization) run at the static baseline's width b; "
    "chosen on validation as the largest saving within the budget (loss vs 16-bit) that also saves "
    "energy against static b alone, and reported against static b",
}


def defaults() -> dict:
    return yaml.safe_load((resources.files("rnnaccel.conf") / "tune.yaml").read_text())


@dataclass
class Candidate:
    """One evaluation: ``search`` (preset name), ``name`` (its folder) and ``overrides`` (the
    preset's fixed settings, then the point's own)."""

    search: str
    name: str
    overrides: list[str]
    point: list[str] = field(default_factory=list)


def _value(v) -> str:
    if isinstance(v, list):
        return "[" + ",".join(_value(x) for x in v) + "]"
    return "null" if v is None else str(v)


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out |= _flat(v, f"{prefix}{k}.")
        else:
            out[f"{prefix}{k}"] = v
    return out


def preset(name: str) -> tuple[list[str], dict[str, str]]:
    """``(fixed overrides, params)`` of sweep preset ``name``: its group choices and keys as
    overrides (the ones tune sets per phase left out), its ``hydra.sweeper.params`` as given."""
    if name not in packaged("sweep"):
        raise RnnaccelError(f"--searches: unknown sweep preset {name!r}; choose from {', '.join(packaged('sweep'))}")
    doc = yaml.safe_load((resources.files("rnnaccel.conf") / "sweep" / f"{name}.yaml").read_text()) or {}
    fixed = []
    for entry in doc.get("defaults", []):
        (key, val), *_ = entry.items()
        if key.startswith("override /") and not key.startswith("override /hydra"):
            fixed.append(f"{key[len('override /') :]}={val}")
    body = _flat({k: v for k, v in doc.items() if k not in ("defaults", "hydra")})
    fixed += [f"{k}={_value(v)}" for k, v in body.items() if k not in OWNED]
    return fixed, dict(((doc.get("hydra") or {}).get("sweeper") or {}).get("params") or {})


def _parse(key: str, value) -> object:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create().parse_override(f"{key}={value}")


def _slug(parts: list[str]) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", ",".join(p.replace("=", "-") for p in parts)) or "point"


PER_LAYER = re.compile(r"^memo\.per_layer\.(\d+)$")


def recurrent_layers(checkpoint: str) -> int:
    """The recurrent layers of every stack of ``checkpoint`` (a translator: its encoder's and
    decoder's fewest): the length a per-layer setting may have."""
    from ..models.checkpoint import read_checkpoint
    from .tasks import TASK_FORMATS

    c = read_checkpoint(checkpoint, tuple(TASK_FORMATS)).get("config") or {}
    n = c.get("num_layers") or min(c.get("enc_layers", 0), c.get("dec_layers", 0))
    if not n:
        raise RnnaccelError(f"--checkpoint={checkpoint}: its config names no num_layers (enc_layers/dec_layers)")
    return int(n)


def size_per_layer(fixed: list[str], params: dict[str, str], layers: int) -> tuple[list[str], dict[str, str]]:
    """A per-layer preset (``memo.per_layer.<i>`` params) sized to a model of ``layers`` layers:
    ``memo.per_layer`` gets one entry per layer, params of layers the model lacks are dropped and
    missing layers search the range of the preset's last layer (the sizing is in tune.md)."""
    idx = sorted(int(m.group(1)) for k in params if (m := PER_LAYER.match(k)))
    if not idx:
        return fixed, params
    last = params[f"memo.per_layer.{idx[-1]}"]
    kept = {k: v for k, v in params.items() if not PER_LAYER.match(k)}
    sized = {f"memo.per_layer.{i}": params.get(f"memo.per_layer.{i}", last) for i in range(layers)}
    fixed = [f for f in fixed if not f.startswith("memo.per_layer=")] + [f"memo.per_layer={_value([0.0] * layers)}"]
    return fixed, sized | kept


def candidates(name: str, layers: int | None = None) -> tuple[list[Candidate], dict]:
    """The grid of preset ``name`` (cartesian product of its discrete params) and its
    ``interval()`` params ``{key: (low, high)}`` (searched by Optuna). ``layers``: the model's
    recurrent layers, to which a per-layer preset is sized (:func:`size_per_layer`)."""
    fixed, params = preset(name)
    if layers is not None:
        fixed, params = size_per_layer(fixed, params, layers)
    grid, intervals = [], {}
    for k, v in params.items():
        ov = _parse(k, v)
        if ov.is_discrete_sweep():
            grid.append([f"{k}={s}" for s in ov.sweep_string_iterator()])
        elif ov.is_sweep_override():
            iv = ov.value()
            intervals[k] = (float(iv.start), float(iv.end))
        else:
            grid.append([f"{k}={ov.get_value_element_as_str()}"])
    if intervals:
        return [], {"fixed": fixed, "grid": [list(p) for p in itertools.product(*grid)], "intervals": intervals}
    return [Candidate(name, f"{name}/{_slug(list(p))}", fixed + list(p), list(p)) for p in itertools.product(*grid)], {}


# ------------------------------------------------------------------ choosing
def _loss(r: dict):
    return r.get("accuracy_loss_pts")


def _saving(r: dict):
    return (r.get("cost") or {}).get("energy_saving")


def qualifies(r: dict, budget: float) -> bool:
    """Within the accuracy budget AND saving energy (a setting that costs energy never qualifies)."""
    loss, sv = _loss(r), _saving(r)
    return loss is not None and sv is not None and loss <= budget and sv > 0


def best_within(results: list[dict], budget: float) -> dict | None:
    """The qualifying result with the largest energy saving (ties: the smaller loss), else None."""
    ok = [r for r in results if qualifies(r, budget)]
    return max(ok, key=lambda r: (_saving(r), -_loss(r))) if ok else None


def static_bits(r: dict) -> int:
    p = r["techniques"]["precision"]
    return int(p["bits"] if p.get("bits") is not None else p["ladder"][0])


def lowest_static(results: list[dict], budget: float) -> dict | None:
    """The static-precision result of the lowest width whose loss is within ``budget`` (its
    saving may be 0: 16 bits is a valid answer), else None."""
    ok = [r for r in results if technique(r)[0] == STATIC and _loss(r) is not None and _loss(r) <= budget]
    return min(ok, key=static_bits) if ok else None


def best_on_static(results: list[dict], static: dict, budget: float) -> dict | None:
    """Of the runs stacked on the static baseline (its width + a technique): the largest saving
    whose loss (vs 16-bit) is within ``budget`` and that saves energy against the static baseline
    alone (a technique that costs more than it saves on top of the narrow width never qualifies)."""
    ok = [r for r in results if _loss(r) is not None and _loss(r) <= budget and versus(r, static)["energy_saving"] > 0]
    return max(ok, key=lambda r: (_saving(r), -_loss(r))) if ok else None


def versus(r: dict, ref: dict) -> dict:
    """``r`` against reference run ``ref`` on the primary platform: speedup (cycles), energy saving
    (1 - E_r / E_ref) and accuracy loss in points (both losses are vs the same 16-bit run)."""
    c, cr = r["cost"], ref["cost"]
    return {
        "speedup": cr["cycles"] / c["cycles"],
        "energy_saving": 1.0 - c["total_j"] / cr["total_j"],
        "loss_pts": _loss(r) - _loss(ref),
    }


# ------------------------------------------------------------------ running
@dataclass
class Runner:
    common: list[str]  # checkpoint + --set overrides
    out: Path
    limits: dict  # split -> limit
    log: Path
    bar: object = None

    def evaluate(self, split: str, cand: Candidate) -> dict:
        from hydra import compose, initialize_config_module

        from . import evaluate

        output = self.out / split / cand.name / "result.json"
        lim = self.limits.get(split)
        ovs = (
            self.common
            + cand.overrides
            + [f"eval.split={split}", f"eval.limit={_value(lim)}", "eval.progress=false", f"eval.output={output}"]
        )
        try:
            with initialize_config_module("rnnaccel.conf", version_base="1.3"):
                cfg = compose("evaluate", overrides=ovs)
        except Exception as e:  # hydra's override / composition errors
            raise RnnaccelError(f"{cand.name}: rnnaccel-evaluate refuses {' '.join(ovs)}: {one_line(e)}") from None
        with open(self.log, "a") as fh, contextlib.redirect_stdout(fh):
            r = evaluate.run(cfg, ovs)
        r["tune"] = {"search": cand.search, "name": cand.name, "split": split, "overrides": ovs, "own": cand.overrides}
        if self.bar is not None:
            self.bar.update(1)
        return r


def _command(ovs: list[str]) -> str:
    return "rnnaccel-evaluate " + " ".join(shlex.quote(o) for o in ovs if not o.startswith("eval.output="))


def _optuna(runner: Runner, name: str, spec: dict, a) -> list[dict]:
    """An Optuna TPE study over the preset's interval params maximizing evaluate's objective
    (saving - penalty x loss over budget) on validation; every trial's result."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=a.seed))
    out = []
    for point in spec["grid"]:
        for n in range(a.trials):
            trial = study.ask()
            ovs = [f"{k}={trial.suggest_float(k, lo, hi):.6g}" for k, (lo, hi) in spec["intervals"].items()]
            cand = Candidate(name, f"{name}/{_slug(point)}trial{n}", spec["fixed"] + point + ovs, point + ovs)
            r = runner.evaluate("val", cand)
            from .evaluate import objective

            study.tell(trial, objective(r, a.budget, a.penalty))
            out.append(r)
    return out


def _check(a) -> None:
    if not a.budget >= 0:
        raise RnnaccelError(f"--budget={a.budget}: must be >= 0 (accuracy-loss points)")
    if a.trials < 1:
        raise RnnaccelError(f"--trials={a.trials}: must be >= 1")
    for lim, flag in ((a.val_limit, "--val-limit"), (a.test_limit, "--test-limit")):
        if lim is not None and lim < 1:
            raise RnnaccelError(f"{flag}={lim}: must be >= 1 (or omitted: the whole split)")
    if not Path(a.checkpoint).is_file():
        raise RnnaccelError(f"--checkpoint={a.checkpoint}: no such file")
    for s in a.set:
        key = s.split("=", 1)[0].lstrip("+~")
        if "=" not in s:
            raise RnnaccelError(f"--set {s!r}: expected KEY=VALUE (e.g. --set data=sentiment)")
        if key in OWNED:
            raise RnnaccelError(f"--set {s}: rnnaccel-tune sets {key} itself per phase; use the tune option instead")


def on_static(name: str, bits: int, layers: int | None = None) -> tuple[list[Candidate], dict]:
    """Preset ``name``'s searches stacked on the static baseline: every point also runs at the
    static width ``bits`` (``precision=static16 precision.bits=<bits>``); named ``<name>+static<bits>``."""
    grid, spec = candidates(name, layers)
    tag, extra = f"{name}+static{bits}", ["precision=static16", f"precision.bits={bits}"]
    if spec:
        return [], spec | {"fixed": spec["fixed"] + extra}
    return [Candidate(tag, f"{tag}/{c.name.split('/', 1)[1]}", c.overrides + extra, c.point) for c in grid], {}


def _stacked(runner: "Runner", a, static: dict | None, layers: int) -> list[dict]:
    """Validation runs of the ``--on-static`` presets at the static baseline's width (each
    result's ``tune.vs_static``: against the static baseline's validation run)."""
    if static is None:
        return []
    bits, out = static_bits(static), []
    for name in [s for s in a.on_static.split(",") if s]:
        grid, spec = on_static(name, bits, layers)
        out += [runner.evaluate("val", c) for c in grid]
        if spec:
            out += _optuna(runner, f"{name}+static{bits}", spec, a)
    for r in out:
        r["tune"]["vs_static"] = versus(r, static)
    return out


def _family(r: dict) -> str:
    return technique(r)[0]


def _choose(val: list[dict], budget: float) -> tuple[dict, dict | None]:
    families = list(dict.fromkeys(_family(r) for r in val if _family(r) not in ("baseline", STATIC)))
    return {f: best_within([r for r in val if _family(r) == f], budget) for f in families}, lowest_static(val, budget)


def _again(r: dict) -> Candidate:
    t = r["tune"]
    return Candidate(t["search"], t["name"], list(t["own"]))


def tune(a) -> dict:
    _check(a)
    t0 = time.time()
    out = Path(a.out or f"runs/tune/{Path(a.checkpoint).stem}")
    searches = [s for s in a.searches.split(",") if s]
    layers = recurrent_layers(a.checkpoint)
    plans = {s: candidates(s, layers) for s in searches}  # every preset checked before any run
    stack = [candidates(s, layers) for s in a.on_static.split(",") if s]
    total = (
        sum(len(g) + a.trials * len(spec.get("grid", [])) for g, spec in [*plans.values(), *stack])
        + len(searches)
        + len(stack)
        + 1
    )  # test: <= one per family + baseline
    out.mkdir(parents=True, exist_ok=True)
    runner = Runner(
        [f"eval.checkpoint={a.checkpoint}", *a.set], out, {"val": a.val_limit, "test": a.test_limit}, out / "tune.log"
    )
    with _bar(total, a.progress) as runner.bar:
        val = []
        for name, (grid, spec) in plans.items():
            val += [runner.evaluate("val", c) for c in grid]
            if spec:
                val += _optuna(runner, name, spec, a)
        chosen, static = _choose(val, a.budget)
        stacked = _stacked(runner, a, static, layers)
        if stacked:
            chosen[_family(stacked[0])] = best_on_static(stacked, static, a.budget)
            val += stacked
        _retotal(runner.bar, sum(r is not None for r in chosen.values()) + (static is not None))
        test = {f: runner.evaluate("test", _again(r)) for f, r in chosen.items() if r is not None}
        static_test = runner.evaluate("test", _again(static)) if static is not None else None
    result = _summary(a, out, val, chosen, static, test, static_test, round(time.time() - t0, 1))
    result["layers"] = layers
    result["figures"] = _figures(val, out / "figures") if a.plots and val else []
    atomic_write_json(out / "tune.json", result)
    atomic_write_bytes(out / "tune.md", markdown(result).encode())
    print(json.dumps({"out": str(out / "tune.md"), "chosen": result["chosen_names"], "wall_s": result["wall_s"]}))
    return result


def _figures(val: list[dict], out: Path) -> list[str]:
    """The report's figures of every validation run (caption: hardware and split)."""
    from .report_plots import plot_all

    pairs = [(r["tune"]["name"], r) for r in val]
    return [str(p) for p in plot_all(rows_of(pairs), pairs, out)]


def _retotal(bar, left: int) -> None:
    """The test phase runs one evaluation per choice: the bar's total becomes exact."""
    if bar is not None:
        bar.total = bar.n + left
        bar.refresh()


@contextlib.contextmanager
def _bar(total: int, on: bool):
    if not on:
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=total, desc="rnnaccel-tune", unit="run", file=sys.stderr) as bar:
        yield bar


def _brief(r: dict | None) -> dict | None:
    if r is None:
        return None
    fam, setting = technique(r)
    return {
        "family": fam,
        "setting": setting,
        "run": r["tune"]["name"],
        "split": r["split"],
        "items": r["utterances"],
        "metric": r["score"]["metric"],
        "score_pts": r["score"]["points"],
        "baseline_pts": r["score"]["baseline_points"],
        "accuracy_loss_pts": _loss(r),
        "speedup": (r.get("cost") or {}).get("speedup"),
        "energy_saving": _saving(r),
        "reuse": ((r.get("memo") or {}).get("total") or {}).get("reuse_fraction"),
        "time_at_bits": (r.get("precision") or {}).get("all"),
        "vs_static_val": r["tune"].get("vs_static"),
        "hw": (r.get("cost") or {}).get("kind"),
        "command": _command(r["tune"]["overrides"]),
    }


def _summary(a, out, val, chosen, static, test, static_test, wall) -> dict:
    test_rows = {}
    for f, r in test.items():
        test_rows[f] = _brief(r) | {"vs_static": versus(r, static_test) if static_test else None}
    net = val[0]["network"]["name"] if val else Path(a.checkpoint).stem
    return {
        "format": FORMAT,
        "network": net,
        "checkpoint": a.checkpoint,
        "command": "rnnaccel-tune " + " ".join(shlex.quote(x) for x in a.argv),
        "budget": a.budget,
        "searches": a.searches.split(","),
        "on_static": [s for s in a.on_static.split(",") if s],
        "limits": {"val": a.val_limit, "test": a.test_limit},
        "baselines": BASELINES,
        "val": [_brief(r) for r in val],
        "val_rows": rows_of([(r["tune"]["name"], r) for r in val]) if val else [],
        "chosen": {f: _brief(r) for f, r in chosen.items()},
        "chosen_names": {f: (r["tune"]["name"] if r else None) for f, r in chosen.items()},
        "static_baseline": _brief(static) | {"bits": static_bits(static)} if static else None,
        "test": test_rows,
        "static_test": _brief(static_test),
        "out": str(out),
        "wall_s": wall,
    }


# ------------------------------------------------------------------ markdown
def _pct(v, nd: int = 1) -> str:
    return "–" if v is None else f"{100 * v:.{nd}f}"


def _num(v, fmt: str) -> str:
    return "–" if v is None else format(v, fmt)


def _shares(t: dict | None) -> str:
    return "/".join(f"{100 * f:.1f}" for _, f in sorted((t or {}).items(), key=lambda kv: -int(kv[0]))) or "–"


def _widths(t: dict | None) -> str:
    return "/".join(sorted((t or {}), key=int, reverse=True)) or "–"


def _time_at(t: dict | None) -> str:
    return f"{_widths(t)}: {_shares(t)}" if t else "–"


def markdown(res: dict) -> str:
    b = res["budget"]
    lines = [
        f"# rnnaccel-tune: {res['network']} ({res['checkpoint']})",
        "",
        f"Command: `{res['command']}`  ",
        f"Budget: {b:g} accuracy-loss points on validation; a setting qualifies when its loss is within "
        f"the budget AND its energy saving is positive. Searches: {', '.join(res['searches'])}. "
        f"Wall time {res['wall_s']:.0f} s. Per-layer searches are sized to the model's "
        f"{res.get('layers', '?')} recurrent layer(s).",
        "",
        *[f"![{Path(p).stem}](figures/{Path(p).name})" for p in res.get("figures", [])],
        "",
        "## Validation (every point searched)",
        "",
        "| search | setting | loss (pts) | reuse % | time at bits (%) | speedup | energy saving % | qualifies |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in res["val"]:
        ok = r["accuracy_loss_pts"] is not None and r["accuracy_loss_pts"] <= b and (r["energy_saving"] or 0) > 0
        ok = ok and (r.get("vs_static_val") or {"energy_saving": 1})["energy_saving"] > 0
        lines.append(
            f"| {r['run'].split('/')[0]} | {r['family']}: {r['setting']} | {_num(r['accuracy_loss_pts'], '+.2f')} | "
            f"{_pct(r['reuse'])} | {_time_at(r['time_at_bits'])} | "
            f"{_num(r['speedup'], '.2f')} | {_pct(r['energy_saving'])} | {'yes' if ok else ''} |"
        )
    st = res["static_baseline"]
    lines += ["", "## Chosen on validation", ""]
    for f, r in res["chosen"].items():
        lines.append(
            f"- **{f}**: "
            + (
                f"{r['setting']} (val loss {r['accuracy_loss_pts']:+.2f} pts, saving {_pct(r['energy_saving'])} %"
                + _vs_static_val(r.get("vs_static_val"))
                + ")"
                if r
                else f"none qualifies within {b:g} pts with a positive saving"
                + (" against the static baseline" if "+ precision:static" in f else "")
            )
        )
    lines.append(
        f"- **static-precision baseline**: {st['bits']} bits (the lowest width within {b:g} pts; val loss "
        f"{st['accuracy_loss_pts']:+.2f} pts)"
        if st
        else f"- **static-precision baseline**: none (no precision_static search, or no width within {b:g} pts)"
    )
    lines += _test_lines(res)
    lines += ["", "## What each baseline assumes", ""] + [f"- **{k}**: {v}." for k, v in res["baselines"].items()]
    return "\n".join(lines) + "\n"


def _vs_static_val(v: dict | None) -> str:
    if not v:
        return ""
    return f"; vs static: {v['speedup']:.2f}x, saving {_pct(v['energy_saving'])} %, loss {v['loss_pts']:+.2f} pts"


def _test_lines(res: dict) -> list[str]:
    st = res["static_test"]
    sb = res["static_baseline"]
    head = f"vs static {sb['bits']}-bit" if sb else "vs static"
    lines = [
        "",
        "## Test (each chosen setting evaluated once)",
        "",
        "| technique | setting | items | score (pts) | loss vs 16-bit (pts) | speedup vs 16-bit | energy saving vs "
        f"16-bit % | loss {head} (pts) | speedup {head} | energy saving {head} % | command |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = list(res["test"].items()) + ([("static baseline", st | {"vs_static": None})] if st else [])
    for f, r in rows:
        vs = r.get("vs_static") or {}
        lines.append(
            f"| {f} | {r['setting']} | {r['items']} | {r['metric']} {r['score_pts']:.2f} | "
            f"{_num(r['accuracy_loss_pts'], '+.2f')} | {_num(r['speedup'], '.2f')} | {_pct(r['energy_saving'])} | "
            f"{_num(vs.get('loss_pts'), '+.2f')} | {_num(vs.get('speedup'), '.2f')} | "
            f"{_pct(vs.get('energy_saving'))} | "
            f"`{r['command']}` |"
        )
    if len(rows) == 0:
        lines.append("| – | nothing qualified on validation | | | | | | | | | |")
    return lines


# ------------------------------------------------------------------ command line
def parse(argv: list[str] | None) -> argparse.Namespace:
    d = defaults()
    ap = argparse.ArgumentParser(
        prog="rnnaccel-tune",
        description="rnnaccel-tune searches technique settings on the validation split, picks per technique the "
        "largest energy saving within an accuracy budget and the lowest static width within it (the fair "
        "baseline), then evaluates each choice once on the test split.",
    )
    ap.add_argument("--checkpoint", required=True, help="speech or sentiment checkpoint")
    ap.add_argument("--searches", default=",".join(d["searches"]), help="comma-separated sweep presets (conf/sweep)")
    ap.add_argument(
        "--on-static",
        default=",".join(d.get("on_static") or []),
        help="comma-separated presets searched again ON TOP of the chosen static baseline width ('' for none)",
    )
    ap.add_argument("--budget", type=float, default=d["budget"], help="accuracy-loss points allowed on validation")
    ap.add_argument("--penalty", type=float, default=d["penalty"], help="Optuna objective penalty per point over")
    ap.add_argument("--trials", type=int, default=d["trials"], help="Optuna trials per interval() preset")
    ap.add_argument("--seed", type=int, default=d["seed"], help="Optuna sampler seed")
    ap.add_argument("--val-limit", type=int, default=d["val_limit"], help="first N validation items (default all)")
    ap.add_argument("--test-limit", type=int, default=d["test_limit"], help="first N test items (default all)")
    ap.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="rnnaccel-evaluate override, every run"
    )
    ap.add_argument("--out", default=None, help="output folder (default runs/tune/<checkpoint stem>)")
    ap.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    ap.add_argument("--no-plots", dest="plots", action="store_false", help="no figures (<out>/figures)")
    a = ap.parse_args(argv)
    a.argv = list(sys.argv[1:] if argv is None else argv)
    return a


def main(argv: list[str] | None = None) -> None:
    """A wrong setting or input exits 2 with one line (``rnnaccel-tune: ...``)."""
    app_boundary("tune", lambda: tune(parse(argv)))


if __name__ == "__main__":
    main()
