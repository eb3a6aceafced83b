"""``rnnaccel-train`` / ``python -m rnnaccel.apps.train``: train a model of one task, chosen by the
config group ``task``: ``speech`` (default; the CTC speech model, below), ``sentiment``
(:mod:`rnnaccel.apps.train_sentiment`) or ``translation`` (:mod:`rnnaccel.apps.train_translation`).
The speech task is set by the groups ``model`` / ``data`` / ``datapath`` and ``train.*``; the other
tasks by ``task.*`` alone, and refuse a ``model``/``data``/``datapath``/``train`` override (it would
not apply).

    rnnaccel-train task=sentiment task.epochs=16
    rnnaccel-train task=translation task.minutes=50

Float training (``train.mode=float``) or QAT fine-tuning (``train.mode=fakequant
train.init_from=<float checkpoint>``: the datapath comes from that checkpoint when it has one,
otherwise it is PTQ-calibrated first when ``datapath.calibrate``, otherwise the fixed formats).
Checkpoints ``last.pt`` every ``train.checkpoint_every`` steps and at each epoch end, ``best.pt`` by
validation WER; a rerun with the same ``train.out_dir`` resumes from ``last.pt`` exactly (data order
and dropout are functions of (seed, epoch, step)).

    rnnaccel-train model=digits_blstm data=digits train.epochs=30 train.out_dir=runs/digits
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from ..emulator import DatapathConfig
from ..errors import app_boundary
from ..models.calibrate import calibrate
from ..models.checkpoint import load_checkpoint, save_checkpoint
from ..models.decode import greedy_decode
from ..models.metrics import error_rates
from ..models.speech import SpeechModelConfig, SpeechRecognizer
from .augmented import augment_config
from .config import TrainApp, register, to_datapath_config
from .data import batches, build_vocab, load_split, num_batches
from .results import refuse_other_run
from .train_sentiment import SentimentTask
from .train_translation import TranslationTask


@dataclass
class SpeechTask:
    """``task=speech``: the settings are the groups ``model``, ``data``, ``datapath`` and ``train``."""

    name: str = "speech"


@dataclass
class TrainTasksApp(TrainApp):
    """The ``rnnaccel-train`` schema: the speech settings plus the chosen ``task`` node."""

    task: Any = None  # the node of the chosen task (group task: TASKS)


#: task name -> its settings schema (the options of the config group ``task``)
TASKS = {"speech": SpeechTask, "sentiment": SentimentTask, "translation": TranslationTask}
SPEECH_ONLY = ("model", "data", "datapath", "train")


def register_tasks() -> None:
    register()
    cs = ConfigStore.instance()
    cs.store(name="train_tasks_app", node=TrainTasksApp)
    for name, schema in TASKS.items():
        cs.store(group="task", name=name, node=schema)


register_tasks()


@torch.no_grad()
def evaluate_wer(model: SpeechRecognizer, ds, vocab, batch_size: int = 64) -> dict:
    """Greedy-decoded error rates of ``model`` (current mode) over a FeatureSet."""
    was = model.training
    model.eval()
    refs, hyps = [], []
    for b in batches(ds, batch_size):
        lp, ol = model(b.features, b.feature_lengths)
        hyps += [vocab.decode(h) for h in greedy_decode(lp, ol)]
        refs += b.transcripts
    model.train(was)
    return error_rates(refs, hyps)


def lr_at(step: int, total: int, tc) -> float:
    """Linear warm-up then cosine decay to ``lr * min_lr_ratio``."""
    if step < tc.warmup_steps:
        return tc.lr * (step + 1) / tc.warmup_steps
    p = min(1.0, (step - tc.warmup_steps) / max(1, total - tc.warmup_steps))
    return tc.lr * (tc.min_lr_ratio + (1 - tc.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * p)))


def calib_batches(model_cfg, data_cfg, dp_cfg, train_ds):
    n = dp_cfg.calib_batches * dp_cfg.calib_batch_size
    sub = train_ds.subset(min(n, len(train_ds)))
    return [(b.features, b.feature_lengths) for b in batches(sub, dp_cfg.calib_batch_size)]


def run(cfg: TrainApp) -> dict:
    tc = cfg.train
    torch.set_num_threads(tc.threads)
    torch.manual_seed(tc.seed)
    out = Path(tc.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vocab = build_vocab(cfg.data.vocab)
    mcfg = SpeechModelConfig.from_dict(OmegaConf.to_container(cfg.model))
    if mcfg.vocab_size != len(vocab) or mcfg.n_feats != cfg.data.features.n_mels:
        raise ValueError(f"model.vocab_size/n_feats must be {len(vocab)}/{cfg.data.features.n_mels} for this data")
    augment = bool(cfg.data.spec_augment or augment_config(cfg.data).active)  # training split only
    train_ds = load_split(cfg.data, "train", augment=augment, seed=tc.seed, progress=tc.progress)
    val_ds = load_split(cfg.data, "val", progress=tc.progress)
    model = SpeechRecognizer(mcfg)
    datapath = None
    if tc.init_from:
        init = load_checkpoint(tc.init_from)
        model.load_state_dict(init["state_dict"])
        if init["datapath"] is not None:
            datapath = [DatapathConfig.from_dict(d) for d in init["datapath"]]
    if tc.mode not in ("float", "fakequant"):
        raise ValueError(f"train.mode={tc.mode!r}: choose float or fakequant")
    if tc.mode == "fakequant" and datapath is None:
        if cfg.datapath.calibrate:
            datapath, _ = calibrate(
                model,
                calib_batches(mcfg, cfg.data, cfg.datapath, train_ds),
                cfg.datapath.bits,
                cfg.datapath.margin,
                to_datapath_config(cfg.datapath),
            )
        else:
            datapath = [to_datapath_config(cfg.datapath)] * mcfg.num_layers
    if datapath is not None:
        model.set_datapath(datapath)
    model.set_mode(tc.mode)
    opt = torch.optim.Adam(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    per_epoch = num_batches(train_ds, tc.batch_size)
    schedule = tc.epochs * per_epoch  # the LR schedule; max_steps only stops early
    total = schedule if tc.max_steps is None else min(tc.max_steps, schedule)
    step, best, history, elapsed = 0, math.inf, [], 0.0
    last = out / "last.pt"
    if tc.resume and last.is_file():
        ck = load_checkpoint(last)
        refuse_other_run(
            last, ck, mcfg.to_dict(), {"data": OmegaConf.to_container(cfg.data), "train": OmegaConf.to_container(tc)}
        )
        model.load_state_dict(ck["state_dict"])
        st = ck["extra"]["train_state"]
        opt.load_state_dict(st["optimizer"])
        step, best, history, elapsed = st["step"], st["best"], json.loads(st["history"]), st["elapsed_s"]
        print(f"resumed from {last} at step {step}")
    extra_base = {"data": OmegaConf.to_container(cfg.data), "train": OmegaConf.to_container(tc)}

    def save(path, metrics, with_state=True):
        extra = dict(extra_base)
        if with_state:
            extra["train_state"] = {
                "optimizer": opt.state_dict(),
                "step": step,
                "best": best,
                "history": json.dumps(history),
                "elapsed_s": elapsed,
            }
        save_checkpoint(path, model, vocab, metrics, datapath, extra)

    bar = None
    if tc.progress:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=step, desc=f"train ({tc.mode})", dynamic_ncols=True)
    model.train()
    t0 = time.time() - elapsed
    while step < total:
        epoch, within = divmod(step, per_epoch)
        for b in batches(train_ds, tc.batch_size, shuffle=True, seed=tc.seed, epoch=epoch, skip=within):
            torch.manual_seed(tc.seed * 1_000_003 + step)  # dropout depends on the step only
            for g in opt.param_groups:
                g["lr"] = lr_at(step, schedule, tc)
            loss = model.ctc_loss(b.features, b.feature_lengths, b.targets, b.target_lengths)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
            opt.step()
            step += 1
            elapsed = time.time() - t0
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}", epoch=epoch)
            if step % tc.checkpoint_every == 0:
                save(last, {"step": step})
            if step >= total:
                break
        if step % per_epoch == 0 or step >= total:  # epoch end: validate
            m = evaluate_wer(model, val_ds, vocab)
            history.append(
                {
                    "epoch": epoch,
                    "step": step,
                    "val_wer": m["wer"],
                    "val_cer": m["cer"],
                    "loss": float(loss.item()),
                    "elapsed_s": round(elapsed, 1),
                }
            )
            print(json.dumps(history[-1]), flush=True)
            if m["wer"] < best:
                best = m["wer"]
                save(
                    out / "best.pt",
                    {"val_wer": m["wer"], "val_cer": m["cer"], "step": step, "epoch": epoch},
                    with_state=False,
                )
            save(last, {"step": step})
    if bar is not None:
        bar.close()
    summary = {"steps": step, "best_val_wer": best, "train_wall_s": round(elapsed, 1), "history": history}
    (out / "train_summary.json").write_text(json.dumps(summary, indent=2))
    if tc.export:
        ck = load_checkpoint(out / "best.pt")
        model.load_state_dict(ck["state_dict"])
        ck["metrics"]["train_wall_s"] = round(elapsed, 1)
        save_checkpoint(tc.export, model, vocab, ck["metrics"], datapath, extra_base)
    return summary


def speech_only_overrides(task: str, overrides: list[str]) -> list[str]:
    """The command-line overrides that set speech-only groups while ``task`` is not speech."""
    if task == "speech":
        return []
    keys = [o.lstrip("+~").split("=", 1)[0] for o in overrides]
    return [k for k in keys if k.split(".", 1)[0].split("@", 1)[0] in SPEECH_ONLY]


def run_task(cfg: TrainTasksApp, overrides: list[str] = ()) -> Any:
    """Train the task ``cfg.task.name``; ``overrides`` (the command line) must not set speech-only
    groups for another task (they would be dropped)."""
    name = cfg.task.name
    if TASKS.get(name) is not OmegaConf.get_type(cfg.task):
        raise ValueError(
            f"task.name={name!r} does not name its task: choose task={'|'.join(TASKS)} and leave task.name as it is"
        )
    stray = speech_only_overrides(name, list(overrides))
    if stray:
        raise ValueError(
            f"{', '.join(stray)}: only for task=speech; task={name} is set by task.* alone "
            f"(its fields: rnnaccel-train task={name} --cfg job)"
        )
    if name == "sentiment":
        from .train_sentiment import run as run_sentiment

        return run_sentiment(cfg.task)
    if name == "translation":
        from .train_translation import run as run_translation

        return run_translation(cfg.task)
    return run(cfg)


@hydra.main(config_path="../conf", config_name="train", version_base="1.3")
def main(cfg: TrainTasksApp) -> None:
    try:
        app_boundary("train", run_task, cfg, HydraConfig.get().overrides.task)
    except ValueError as e:
        raise SystemExit(f"rnnaccel-train: {e}") from None


if __name__ == "__main__":
    main()
