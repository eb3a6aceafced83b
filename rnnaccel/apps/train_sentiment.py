"""Train the sentiment LSTM in float, then evaluate it in float, fake-quant and bit-exact emulation.

    python scripts/train_sentiment.py                        # train + evaluate, writes the checkpoint
    python scripts/train_sentiment.py --eval-only            # evaluate an existing checkpoint
    python scripts/train_sentiment.py --resume               # continue from <out>.train.pt

Data: the VADER movie-review snippets (``rnnaccel.datasets.sentiment``), stratified 80/10/10
split (``--seed``), vocab from the training split. Training: Adam, cross-entropy, gradient clipping,
the epoch with the best validation accuracy is kept. After every epoch the training state
(model, optimizer, epoch, best) is written to ``<out>.train.pt`` so a killed run resumes; it is
deleted once the final checkpoint is written.

Evaluation: test (and validation) accuracy in ``float``, ``fakequant`` and ``emulate`` with the
default 16-bit :class:`DatapathConfig` (or ``--datapath`` JSON with DatapathConfig fields), plus
the emulator's saturation counts. The metrics go into the checkpoint and ``<out dir>/metrics.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rnnaccel.datasets.sentiment import collate_sentiment, load_sentiment  # noqa: E402
from rnnaccel.emulator import DatapathConfig  # noqa: E402
from rnnaccel.models.sentiment import (  # noqa: E402
    SentimentConfig, SentimentLSTM, load_checkpoint, predict, save_checkpoint,
)

DEFAULT_OUT = "checkpoints/sentiment/sentiment_lstm.pt"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=DEFAULT_OUT, help="checkpoint path")
    p.add_argument("--seed", type=int, default=0, help="split and initialization seed")
    p.add_argument("--min-count", type=int, default=2)
    p.add_argument("--max-vocab", type=int, default=6000, help="vocab size incl. <pad>/<unk>")
    p.add_argument("--embed-dim", type=int, default=48)
    p.add_argument("--hidden-size", type=int, default=64)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--unidirectional", action="store_true")
    p.add_argument("--pool", choices=("mean", "last"), default="mean")
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument("--epochs", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--clip", type=float, default=1.0, help="gradient-norm clipping")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    p.add_argument("--eval-only", action="store_true", help="evaluate --out, no training")
    p.add_argument("--resume", action="store_true", help="continue from <out>.train.pt")
    p.add_argument("--datapath", default=None, help="JSON file of DatapathConfig fields for emulation")
    p.add_argument("--no-progress", action="store_true", help="disable tqdm bars")
    return p.parse_args(argv)


def accuracy(model: SentimentLSTM, ds) -> float:
    return float((predict(model, ds) == ds.labels).double().mean())


def train(args, data) -> tuple[SentimentLSTM, dict]:
    """Float training; returns the best-validation model and a summary dict."""
    torch.manual_seed(args.seed)
    cfg = SentimentConfig(len(data.vocab), args.embed_dim, args.hidden_size, args.layers,
                          not args.unidirectional, args.pool, args.dropout)
    model = SentimentLSTM(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    state_path = Path(args.out).with_name(Path(args.out).name + ".train.pt")
    start, best, best_state, history, elapsed = 0, -1.0, None, [], 0.0
    if args.resume and state_path.is_file():
        st = torch.load(state_path, map_location="cpu", weights_only=True)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        start, best, best_state, history, elapsed = (st["epoch"], st["best_val"], st["best_state"],
                                                     st["history"], st["elapsed_s"])
        torch.set_rng_state(st["rng"])
        print(f"resumed from {state_path} at epoch {start}")
    for epoch in range(start, args.epochs):
        t0 = time.time()
        model.train()
        loader = torch.utils.data.DataLoader(data.train, batch_size=args.batch_size, shuffle=True,
                                             collate_fn=collate_sentiment)
        total, n = 0.0, 0
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{args.epochs}", disable=args.no_progress, leave=False)
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
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch + 1,
                    "best_val": best, "best_state": best_state, "history": history,
                    "elapsed_s": elapsed, "rng": torch.get_rng_state()}, state_path)
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
            out[f"{split}_acc_{mode}"] = round(float((predict(model, ds, saturations=sats) == ds.labels).double().mean()), 6)
            out[f"{split}_s_{mode}"] = round(time.time() - t0, 2)
            if mode == "emulate":
                out[f"{split}_saturations_emulate"] = sats
    model.set_mode("float")
    return out


def main(argv=None) -> dict:
    args = parse_args(argv)
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
        summary["args"] = vars(args)
    metrics = evaluate(model, data, datapath)
    if not args.eval_only:
        summary["total_s"] = round(time.time() - t_start, 1)
        summary["command"] = " ".join(["python", "scripts/train_sentiment.py", *(argv or sys.argv[1:])])
        dp = [c for c in model.datapath] if datapath is not None else None
        save_checkpoint(args.out, model, data.vocab.tokens, metrics, dp, summary)
        Path(args.out).with_name(Path(args.out).name + ".train.pt").unlink(missing_ok=True)  # done
        (Path(args.out).parent / "metrics.json").write_text(json.dumps(
            {"metrics": metrics, **{k: summary[k] for k in ("train_s", "total_s", "command", "history")}},
            indent=1) + "\n")
    print(json.dumps(metrics, indent=1))
    return metrics


if __name__ == "__main__":
    main()
