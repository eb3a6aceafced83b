"""``rnnaccel-train task=sentiment``: train the sentiment LSTM in float, then evaluate it in float,
fake-quant and bit-exact emulation.

    rnnaccel-train task=sentiment                          # train + evaluate, writes the checkpoint
    rnnaccel-train task=sentiment task.eval_only=true      # evaluate an existing checkpoint
    rnnaccel-train task=sentiment task.resume=true         # continue from <out>.train.pt

Data: the VADER movie-review snippets (``rnnaccel.datasets.sentiment``), stratified 80/10/10
split (``task.seed``), vocab from the training split. Training: Adam, cross-entropy, gradient
clipping, the epoch with the best validation accuracy is kept. After every epoch the training state
(model, optimizer, epoch, best) is written to ``<out>.train.pt`` so a killed run resumes; it is
deleted once the final checkpoint is written.

Evaluation: test (and validation) accuracy in ``float``, ``fakequant`` and ``emulate`` with the
default 16-bit :class:`DatapathConfig` (or ``task.datapath``: a JSON file of DatapathConfig fields),
plus the emulator's saturation counts. The metrics go into the checkpoint and ``<out dir>/metrics.json``.
Settings: :class:`SentimentTask`.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from tqdm import tqdm

from ..datasets.sentiment import collate_sentiment, load_sentiment
from ..emulator import DatapathConfig
from ..models.sentiment import SentimentConfig, SentimentLSTM, load_checkpoint, predict, save_checkpoint


@dataclass
class SentimentTask:
    """Settings of ``rnnaccel-train task=sentiment`` (``task.<field>=...``)."""

    name: str = "sentiment"
    out: str = "checkpoints/sentiment/sentiment_lstm.pt"  # checkpoint path
    seed: int = 0  # split and initialization seed
    min_count: int = 2
    max_vocab: int = 6000  # vocab size incl. <pad>/<unk>
    embed_dim: int = 48
    hidden_size: int = 64
    layers: int = 1
    bidirectional: bool = True
    pool: str = "mean"  # mean | last
    dropout: float = 0.5
    epochs: int = 16
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.0
    clip: float = 1.0  # gradient-norm clipping
    threads: int = 1  # torch.set_num_threads
    eval_only: bool = False  # evaluate ``out``, no training
    resume: bool = False  # continue from <out>.train.pt
    datapath: Optional[str] = None  # JSON file of DatapathConfig fields for emulation
    progress: bool = True  # tqdm bars


def accuracy(model: SentimentLSTM, ds) -> float:
    return float((predict(model, ds) == ds.labels).double().mean())


def train(args, data) -> tuple[SentimentLSTM, dict]:
    """Float training; returns the best-validation model and a summary dict."""
    torch.manual_seed(args.seed)
    cfg = SentimentConfig(
        len(data.vocab), args.embed_dim, args.hidden_size, args.layers, args.bidirectional, args.pool, args.dropout
    )
    model = SentimentLSTM(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    state_path = Path(args.out).with_name(Path(args.out).name + ".train.pt")
    start, best, best_state, history, elapsed = 0, -1.0, None, [], 0.0
    if args.resume and state_path.is_file():
        st = torch.load(state_path, map_location="cpu", weights_only=True)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        start, best, best_state, history, elapsed = (
            st["epoch"],
            st["best_val"],
            st["best_state"],
            st["history"],
            st["elapsed_s"],
        )
        torch.set_rng_state(st["rng"])
        print(f"resumed from {state_path} at epoch {start}")
    for epoch in range(start, args.epochs):
        t0 = time.time()
        model.train()
        loader = torch.utils.data.DataLoader(
            data.train, batch_size=args.batch_size, shuffle=True, collate_fn=collate_sentiment
        )
        total, n = 0.0, 0
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{args.epochs}", disable=not args.progress, leave=False)
        for b in bar:
            loss = F.cross_entropy(model(b.tokens, b.lengths), b.labels)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            opt.step()
            total += loss.item() * len(b.labels)
            n += len(b.labels)
            bar.set_postfix(loss=f"{total / n:.4f}")
        val = accuracy(model, data.val)
        elapsed += time.time() - t0
        history.append({"epoch": epoch + 1, "train_loss": total / n, "val_acc": val})
        print(f"epoch {epoch + 1}: train loss {total / n:.4f}  val acc {val:.4f}  ({elapsed:.0f} s)", flush=True)
        if val > best:
            best, best_state = val, {k: v.detach().clone() for k, v in model.state_dict().items()}
        state_path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "epoch": epoch + 1,
                "best_val": best,
                "best_state": best_state,
                "history": history,
                "elapsed_s": elapsed,
                "rng": torch.get_rng_state(),
            },
            state_path,
        )
    model.load_state_dict(best_state)
    return model.eval(), {"history": history, "train_s": round(elapsed, 1), "best_val_float": best}


def evaluate(model: SentimentLSTM, data, datapath: DatapathConfig | list[DatapathConfig] | None) -> dict:
    """Accuracies per mode on val and test, emulator saturation counts and timings."""
    if datapath is not None:
        model.set_datapath(datapath)
    out: dict = {}
    for mode in ("float", "fakequant", "emulate"):
        model.set_mode(mode)
        for split in ("val", "test"):
            ds, sats, t0 = getattr(data, split), {}, time.time()
            right = predict(model, ds, saturations=sats) == ds.labels
            out[f"{split}_acc_{mode}"] = round(float(right.double().mean()), 6)
            out[f"{split}_s_{mode}"] = round(time.time() - t0, 2)
            if mode == "emulate":
                out[f"{split}_saturations_emulate"] = sats
    model.set_mode("float")
    return out


def run(args: SentimentTask) -> dict:
    """Train (unless ``eval_only``) and evaluate; returns the metrics."""
    args = OmegaConf.structured(args)  # a SentimentTask or its hydra node: typed either way
    if args.pool not in ("mean", "last"):
        raise ValueError(f"task.pool={args.pool!r}: choose mean or last")
    torch.set_num_threads(args.threads)
    t_start = time.time()
    datapath = None
    if args.datapath:
        d = json.loads(Path(args.datapath).read_text())
        datapath = [DatapathConfig.from_dict(x) for x in d] if isinstance(d, list) else DatapathConfig.from_dict(d)
    if args.eval_only:
        model, vocab, ckpt = load_checkpoint(args.out)
        data = load_sentiment(seed=ckpt["extra"]["args"]["seed"], vocab=vocab)
        summary = dict(ckpt["extra"])
    else:
        data = load_sentiment(seed=args.seed, min_count=args.min_count, max_vocab=args.max_vocab)
        print(f"train {len(data.train)}  val {len(data.val)}  test {len(data.test)}  vocab {len(data.vocab)}")
        model, summary = train(args, data)
        summary["args"] = OmegaConf.to_container(args)
    metrics = evaluate(model, data, datapath)
    if not args.eval_only:
        summary["total_s"] = round(time.time() - t_start, 1)
        summary["command"] = " ".join(["rnnaccel-train", *sys.argv[1:]])
        dp = [c for c in model.datapath] if datapath is not None else None
        save_checkpoint(args.out, model, data.vocab.tokens, metrics, dp, summary)
        Path(args.out).with_name(Path(args.out).name + ".train.pt").unlink(missing_ok=True)  # done
        (Path(args.out).parent / "metrics.json").write_text(
            json.dumps(
                {"metrics": metrics, **{k: summary[k] for k in ("train_s", "total_s", "command", "history")}}, indent=1
            )
            + "\n"
        )
    print(json.dumps(metrics, indent=1))
    return metrics
