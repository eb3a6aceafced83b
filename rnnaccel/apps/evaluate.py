"""``rnnaccel-evaluate`` / ``python -m rnnaccel.apps.evaluate``: a checkpoint on a split, with techniques.

Runs the model in ``eval.mode`` (``float``, ``fakequant`` or ``emulate``; only the recurrent layers
change mode) with the ``memo`` and ``precision`` units attached to every recurrent layer (emulate
mode; memoization first, then the precision controller), and writes one JSON per run
(``docs/cli.md`` lists its fields): accuracy, computations avoided, time at each precision,
saturations, cycles and energy by component on the ``hw`` table and on ``eval.also_hw``, speedup and
energy saving against the same model without the techniques (computed in this run or read from
the baseline cache by config hash), the objective for the Optuna sweeper, the resolved config and
the package version. The file is written atomically; a rerun whose output already holds a complete
result with the same config hash is skipped, which makes multirun sweeps resumable.

    rnnaccel-evaluate memo=bnn memo.theta=0.1
    rnnaccel-evaluate -m memo=bnn memo.theta=0,0.05,0.1 hydra/launcher=joblib
"""

from __future__ import annotations

import fcntl
import json
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import hydra
import torch
from omegaconf import OmegaConf

from ..emulator import Trace
from ..hardware import HwConfig, compare, estimate, load_hw
from ..emulator.memo import MemoConfig, memo_factory, memo_stats
from ..emulator.precision import PrecisionConfig, load_precision, precision_factory, precision_stats
from ..errors import RnnaccelError, app_boundary, one_line
from ..models.checkpoint import read_checkpoint
from .config import EvaluateApp, check_datapath, command_overrides, datapath_overrides, register
from .data import adopt_front_end, check_speakers, source_fingerprint
from .results import (
    RESULT_FORMAT,
    atomic_write_json,
    config_hash,
    differences,
    file_sha256,
    load_complete,
    output_path,
    package_version,
    semantic_config,
)
from .tasks import TASK_FORMATS, load_task, saturations, score  # noqa: F401  (score/saturations: public here too)

register()
log = logging.getLogger("rnnaccel.evaluate")

__all__ = ["run", "validate", "objective", "cost_summary", "score", "saturations", "Settings"]

MODES = ("float", "fakequant", "emulate")


@dataclass
class Settings:
    memo: MemoConfig
    precision: PrecisionConfig
    hw: dict  # name -> HwConfig, the primary first
    speakers: dict | None = None  # digits: whose voices the split scores, heard in training or not
    front_end: list[str] = field(default_factory=list)  # data.features taken from the checkpoint

    @property
    def techniques(self) -> bool:
        return self.memo.predictor != "off" or self.precision.mode != "off"

    def factories(self) -> list:
        return ([memo_factory(self.memo)] if self.memo.predictor != "off" else []) + (
            [precision_factory(self.precision)] if self.precision.mode != "off" else []
        )


def _hw_name(cfg) -> str:
    try:
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.initialized():
            return str(HydraConfig.get().runtime.choices.get("hw") or "hw")
    except Exception:
        pass
    return str(cfg.hw.get("kind", "hw")) if cfg.hw is not None else "epur"


def validate(cfg: EvaluateApp, overrides: list[str] | None = None) -> Settings:
    """Every check that needs no data, the checkpoint read and verified: one
    :class:`~rnnaccel.errors.RnnaccelError` line naming the setting and what to pass. ``overrides``:
    what the command said (default: hydra's command line), so an unsaid front end is the checkpoint's."""
    try:
        return _settings(cfg, command_overrides() if overrides is None else overrides)
    except RnnaccelError:
        raise
    except ValueError as e:
        raise RnnaccelError(f"invalid configuration: {one_line(e)}") from None


def _check_eval(ec) -> None:
    choices = {
        "mode": MODES,
        "datapath_from": ("checkpoint", "config"),
        "baseline": ("cache", "run", "none"),
        "split": ("train", "val", "test"),
        "decoder": ("greedy", "beam", "beam_lm"),
    }
    for k, ok in choices.items():
        if getattr(ec, k) not in ok:
            raise ValueError(f"eval.{k}={getattr(ec, k)!r} unknown; choose one of {', '.join(ok)}")
    for k in ("budget", "penalty"):
        if not getattr(ec, k) >= 0:
            raise ValueError(f"eval.{k}={getattr(ec, k)!r} must be >= 0")
    for k in ("batch_size", "threads", "beam_size"):
        if getattr(ec, k) < 1:
            raise ValueError(f"eval.{k}={getattr(ec, k)} must be >= 1")
    if ec.limit is not None and ec.limit < 1:
        raise ValueError(f"eval.limit={ec.limit} must be >= 1 (or null)")


def _check_datapath_source(cfg, ck: dict) -> None:
    """An explicit ``datapath`` override takes effect or is refused, never dropped: the checkpoint's
    own datapath (``eval.datapath_from=checkpoint``) leaves the datapath group unused."""
    ec, task = cfg.eval, TASK_FORMATS[ck["format"]]
    changed = datapath_overrides(cfg.datapath, "evaluate")
    if task == "translation" and (changed or ec.datapath_from == "config"):
        raise RnnaccelError(
            f"{', '.join(changed) or 'eval.datapath_from=config'}: not applied, a translation "
            f"checkpoint always runs its stored datapath; drop the datapath overrides"
        )
    if task == "sentiment" and ec.datapath_from == "config" and cfg.datapath.calibrate:
        raise RnnaccelError(
            "eval.datapath_from=config on a sentiment checkpoint needs fixed formats: pass "
            "datapath=q16 (calibration from the evaluate app is implemented for speech models)"
        )
    uses_checkpoint = ec.datapath_from == "checkpoint" and (task != "speech" or ck.get("datapath") is not None)
    if uses_checkpoint and changed:
        raise RnnaccelError(
            f"{', '.join(changed)}: not applied, eval.datapath_from=checkpoint runs the datapath "
            f"stored in {ec.checkpoint}; pass eval.datapath_from=config to apply it"
        )


def _settings(cfg: EvaluateApp, overrides: list[str]) -> Settings:
    ec = cfg.eval
    memo = MemoConfig.from_dict(cfg.memo)
    prec = load_precision(cfg.precision)
    _check_eval(ec)
    if (memo.predictor != "off" or prec.mode != "off") and ec.mode != "emulate":
        raise ValueError(
            f"memo.predictor={memo.predictor} / precision.mode={prec.mode} act on the bit-exact "
            f"datapath: they need eval.mode=emulate (got {ec.mode})"
        )
    check_datapath(cfg.datapath)
    if not Path(ec.checkpoint).is_file():
        raise RnnaccelError(f"eval.checkpoint={ec.checkpoint}: no such file")
    ck = read_checkpoint(ec.checkpoint, tuple(TASK_FORMATS))
    _check_datapath_source(cfg, ck)
    speech = TASK_FORMATS[ck["format"]] == "speech"
    if ec.allow_seen_speakers and not speech:
        raise RnnaccelError(
            "eval.allow_seen_speakers=true: not applied, only speech checkpoints have speakers; remove it"
        )
    primary = load_hw(OmegaConf.to_container(cfg.hw, resolve=True) if cfg.hw is not None else "epur")
    hw = {_hw_name(cfg): primary}
    for name in ec.also_hw:
        if name not in hw:
            hw[name] = load_hw(name)
    front_end = adopt_front_end(ck, cfg.data, overrides) if speech else []
    if front_end:
        print(f"data: the checkpoint's front end ({' '.join(front_end)})", flush=True)
    speakers = check_speakers(ck, cfg.data, ec.split, ec.allow_seen_speakers, ec.checkpoint) if speech else None
    return Settings(memo, prec, hw, speakers, front_end)


def cost_summary(trace: Trace, hw: "str | HwConfig", base: Trace | None = None) -> dict:
    """Cycles, seconds and energy by component of ``trace`` on ``hw``; with ``base`` (the same run
    without techniques) also ``speedup``, ``energy_saving``, ``energy_ratio`` and ``saved_j``."""
    hwc = load_hw(hw) if isinstance(hw, str) else hw
    rep = estimate(trace, hwc)
    out = {
        "hw": hwc.name,
        "kind": hwc.kind,
        "cycles": float(rep.cycles),
        "seconds": float(rep.seconds),
        "energy_j": {k: float(v) for k, v in rep.energy_j.items()},
        "total_j": float(rep.total_j),
    }
    base_rep = estimate(base, hwc) if base is not None else None
    if base_rep is not None:
        out.update(compare(base_rep, rep))
    if len(trace.modules()) > 1:  # e.g. a translator: the encoder and the decoder apart
        out["by_module"] = _by_module(rep, base_rep)
    return out


def _by_module(rep, base_rep) -> dict:
    """Seconds and joules of each module's layers (LayerCost keys ``module:L0.d0``), with the
    energy saving against the same module of the baseline when there is one."""

    def sums(r) -> dict:
        out: dict = {}
        for lc in r.per_layer:
            name = lc.key.rsplit(":", 1)[0] if ":" in lc.key else ""
            m = out.setdefault(name, {"seconds": 0.0, "total_j": 0.0, "energy_j": {}})
            m["seconds"] += float(lc.seconds)
            m["total_j"] += float(lc.total_j)
            for k, v in lc.energy_j.items():
                m["energy_j"][k] = m["energy_j"].get(k, 0.0) + float(v)
        return out

    mods, base = sums(rep), sums(base_rep) if base_rep is not None else {}
    for name, m in mods.items():
        if name in base and base[name]["total_j"]:
            m["energy_saving"] = 1.0 - m["total_j"] / base[name]["total_j"]
    return mods


def objective(result: dict, budget: float, penalty: float) -> float:
    """Energy saving on the primary platform, minus ``penalty`` per accuracy-loss point over ``budget``."""
    saving = (result.get("cost") or {}).get("energy_saving")
    loss = result.get("accuracy_loss_pts")
    if saving is None:
        return 0.0
    return float(saving - penalty * max(0.0, (loss or 0.0) - budget))


def baseline_key(sem: dict) -> str:
    """Hash of what the techniques-off run depends on: the semantic config without the technique
    groups and price tables (a cached trace is priced on any table)."""
    return config_hash(
        {k: v for k, v in sem.items() if k not in ("memo", "precision", "hw")}
        | {"eval": {k: v for k, v in sem["eval"].items() if k not in ("also_hw", "baseline")}}
    )


@contextmanager
def _locked(path: Path):
    """An exclusive lock on ``path`` (``flock``; released when the process dies): parallel
    sweep workers that need the same baseline wait for the first one instead of computing it too."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _cached_baseline(ec, key: str) -> tuple[dict, Trace, str] | None:
    js, npz = Path(ec.cache_dir) / f"{key}.json", Path(ec.cache_dir) / f"{key}.npz"
    if npz.is_file() and (old := load_complete(js, key)) is not None:
        try:
            return old["metrics"], Trace.load_npz(npz), f"cache:{key}"
        except Exception:  # unreadable: recompute
            return None
    return None


def _run_baseline(task, ec, key: str) -> tuple[dict, Trace, str]:
    task.set_units(list)
    trace = Trace()
    log.info("baseline (no techniques) run, config hash %s", key)
    metrics = task.score("emulate", trace, ec.progress)
    _store_baseline(ec, key, metrics, trace)
    return metrics, trace, f"run:{key}"


def _baseline(task, ec, sem: dict) -> tuple[dict, Trace, str]:
    """Metrics and trace of the model without techniques: from the cache or run now (and cached).
    With the cache, one process computes a baseline while the others wait for it (file lock)."""
    key = baseline_key(sem)
    if ec.baseline != "cache":
        return _run_baseline(task, ec, key)
    with _locked(Path(ec.cache_dir) / f"{key}.lock"):
        return _cached_baseline(ec, key) or _run_baseline(task, ec, key)


def _store_baseline(ec, key: str, metrics: dict, trace: Trace) -> None:
    npz = Path(ec.cache_dir) / f"{key}.npz"
    npz.parent.mkdir(parents=True, exist_ok=True)
    tmp = npz.with_name(f".{npz.stem}.{time.time_ns()}.tmp.npz")
    trace.save_npz(tmp)
    tmp.replace(npz)
    atomic_write_json(Path(ec.cache_dir) / f"{key}.json", {"complete": True, "config_hash": key, "metrics": metrics})


def _memo_summary(trace: Trace) -> dict:
    """memo_stats of the whole run, per layer (``module:L0.d0`` for a named module) and per
    module, each summed over every call (batch) of that layer."""
    st = memo_stats(trace)
    return {"layers": st["layers"], "modules": st["modules"], "total": st["total"]}


def _refuse_other_config(out: Path, old: dict, sem: dict, h: str) -> None:
    """A complete result of another config (model, data or settings) in the output folder is
    refused, never silently kept nor overwritten."""
    if old.get("config_hash") == h:
        return
    before = semantic_config(old.get("config") or {}) | {
        "checkpoint_sha256": old.get("checkpoint_sha256"),
        "data_source": old.get("data_source"),
    }
    raise RnnaccelError(
        f"{out} holds the result of another config ({differences(before, sem)}); pass "
        f"eval.resume=false to overwrite it, or another eval.output / hydra.run.dir"
    )


def _loss_pts(task, m: dict, base: dict) -> float:
    d = (base[task.metric] - m[task.metric]) if task.higher_is_better else (m[task.metric] - base[task.metric])
    return task.points * d


def run(cfg: EvaluateApp, overrides: list[str] | None = None) -> dict:
    """Score ``cfg``; ``overrides``: what the command said (default: hydra's command line)."""
    ec = cfg.eval
    s = validate(cfg, overrides)
    torch.set_num_threads(ec.threads)
    plain = OmegaConf.to_container(cfg, resolve=True)
    sem = semantic_config(plain) | {
        "checkpoint_sha256": file_sha256(ec.checkpoint),
        "data_source": source_fingerprint(cfg.data),
    }
    h = config_hash(sem)
    out = output_path(ec.output, "result.json", "runs/eval/result.json")
    if ec.resume and (old := load_complete(out)) is not None:
        _refuse_other_config(out, old, sem, h)
        old["objective"] = objective(old, ec.budget, ec.penalty)
        log.info("skip: %s already holds the complete result of config %s", out, h)
        print(f"skip (complete, config {h}): {out}", flush=True)
        return old | {"skipped": True}
    t0 = time.time()
    task = load_task(cfg)
    task.set_units(s.factories)  # settings naming layers the model lacks: refused before any run
    emulate = ec.mode == "emulate"
    base_m = base_tr = None
    base_src = None
    if emulate and s.techniques and ec.baseline != "none":
        base_m, base_tr, base_src = _baseline(task, ec, sem)
    task.set_units(s.factories)
    trace = Trace() if emulate else None
    m = task.score(ec.mode, trace, ec.progress)
    if emulate and not s.techniques:
        base_m, base_tr, base_src = m, trace, "self"
        if ec.baseline != "none":
            _store_baseline(ec, baseline_key(sem), m, trace)
    costs = {n: cost_summary(trace, hwc, base_tr) for n, hwc in s.hw.items()} if emulate else {}
    primary = next(iter(s.hw))
    result = {
        "format": RESULT_FORMAT,
        "task": task.kind,
        "network": task.network,
        "checkpoint": str(ec.checkpoint),
        "checkpoint_sha256": sem["checkpoint_sha256"],
        "data_source": sem["data_source"],
        "data": task.data or None,
        "split": ec.split,
        "speakers": s.speakers,
        "front_end_from_checkpoint": s.front_end,
        "utterances": task.items,
        "mode": ec.mode,
        "decoder": ec.decoder if task.kind == "speech" else None,
        "lm": task.lm,
        **m,
        "score": {
            "metric": task.metric,
            "value": m[task.metric],
            "higher_is_better": task.higher_is_better,
            "baseline": base_m[task.metric] if base_m else None,
            "points": task.points * m[task.metric],
            "baseline_points": task.points * base_m[task.metric] if base_m else None,
        },
        "accuracy_loss_pts": _loss_pts(task, m, base_m) if base_m else None,
        "baseline": {"source": base_src, "metrics": base_m} if base_m else None,
        "memo": None,
        "precision": None,
        "saturations": saturations(task.model, trace, task.stacks) if emulate else None,
        "trace_totals": trace.totals() if emulate else None,
        "primary_hw": primary if emulate else None,
        "cost": costs.get(primary),
        "cost_by_hw": costs or None,
        "datapath_source": task.datapath_source,
        "datapath": task.datapath,
        "techniques": {"memo": s.memo.to_dict(), "precision": s.precision.to_dict()},
        "config": plain,
        "overrides": command_overrides(),
        "config_hash": h,
        "version": package_version(),
        "wall_s": round(time.time() - t0, 2),
    }
    if emulate and s.memo.predictor != "off":
        result["memo"] = _memo_summary(trace)
    if emulate and s.precision.mode != "off":
        ps = precision_stats(trace)
        result["precision"] = {k: {str(b): f for b, f in v.items()} for k, v in ps.items()}
    result["objective"] = objective(result, ec.budget, ec.penalty)
    result["complete"] = True
    atomic_write_json(out, result)
    if ec.trace_output and trace is not None:
        trace.save_npz(ec.trace_output)
    keys = ("mode", "utterances", task.metric, "accuracy_loss_pts", "objective", "wall_s")
    print(json.dumps({k: result[k] for k in keys} | {"output": str(out)}), flush=True)
    return result


@hydra.main(config_path="../conf", config_name="evaluate", version_base="1.3")
def main(cfg: EvaluateApp) -> float:
    """Returns the objective (for the Optuna sweeper). A wrong setting or input exits 2 with one line."""
    return app_boundary("evaluate", run, cfg)["objective"]


if __name__ == "__main__":
    main()
