"""``rnnaccel-train task=translation``: train and evaluate the Multi30k en->de translator
(rnnaccel.models.translation) on the CPU.

Training (``task.action=train``) is time-budgeted and resumable: ``task.minutes`` of wall time
(schedule: warmup, constant, linear decay over the last 30%), the training state (model + Adam +
position) is saved to ``task.state`` every ``task.ckpt_every`` minutes and picked up again on
restart; the best model by greedy BLEU on the first ``task.val_n`` validation sentences goes to
``task.out`` (no optimizer state). ``task.action=eval`` calibrates the 16-bit datapath (PTQ),
scores BLEU/chrF per mode on ``task.split`` and rewrites ``task.out`` with the datapath.

    rnnaccel-train task=translation task.minutes=50
    rnnaccel-train task=translation task.action=eval task.emu_n=200

Settings: :class:`TranslationTask`.
"""

from __future__ import annotations

import json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import OmegaConf

from ..datasets.multi30k import Multi30k
from ..datasets.subword import SubwordVocab, pad_batch, token_batches, train_sentencepiece
from ..models.beam_seq2seq import translate
from ..models.checkpoint import round_to_storage
from ..models.translation import Translator, TranslatorConfig
from ..models.translation_ckpt import calibrate_translator, load_translator, save_translator


@dataclass
class TranslationTask:
    """Settings of ``rnnaccel-train task=translation`` (``task.<field>=...``)."""

    name: str = "translation"
    action: str = "train"  # train | eval
    out: str = "checkpoints/translation/translator.pt"
    state: str = "runs/translation/state.pt"  # resumable training state (and the sentencepiece models)
    threads: int = 1
    seed: int = 0
    # train
    minutes: float = 50.0  # wall-time budget
    ckpt_every: float = 5.0  # minutes between validations / state saves
    src_vocab: int = 6000
    tgt_vocab: int = 6000
    spm_type: str = "bpe"  # bpe | unigram
    emb: int = 256
    hidden: int = 256
    dec_hidden: int = 0  # 0: same as hidden
    enc_layers: int = 1
    dropout: float = 0.25
    max_tokens: int = 2500  # per batch
    lr: float = 2e-3
    warmup: int = 100  # steps
    clip: float = 1.0
    label_smoothing: float = 0.1
    val_n: int = 300  # validation sentences scored (greedy BLEU) at each checkpoint
    fresh: bool = False  # ignore an existing state
    # eval
    split: str = "test_2016_flickr"
    modes: str = "float,emulate"
    beam: int = 5
    alpha: float = 1.0
    batch: int = 100
    emu_n: int = 200  # sentences emulated (float scores the whole split)
    calib_n: int = 512  # training pairs for PTQ
    bits: int = 16
    storage: str = "float16"  # float16 | float32: weights are rounded to this and ``out`` is rewritten with it
    margin: float = 0.25


CHOICES = {"action": ("train", "eval"), "spm_type": ("bpe", "unigram"), "storage": ("float16", "float32")}


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def scores(hyps, refs) -> dict:
    import sacrebleu

    return {
        "bleu": round(sacrebleu.corpus_bleu(hyps, [refs]).score, 2),
        "chrf": round(sacrebleu.corpus_chrf(hyps, [refs]).score, 2),
    }


def vocabs(args, train):
    d = Path(args.state).parent
    d.mkdir(parents=True, exist_ok=True)
    out = []
    for lang, side, size in (("en", 0, args.src_vocab), ("de", 1, args.tgt_vocab)):
        p = d / f"spm_{lang}_{args.spm_type}{size}.model"
        if not p.exists():
            log(f"training sentencepiece {args.spm_type} {size} for {lang}")
            p.write_bytes(train_sentencepiece([pr[side] for pr in train], size, args.spm_type))
        out.append(SubwordVocab(p.read_bytes()))
    return out


def make_batch(src_ids, tgt_ids, idx):
    src, src_len = pad_batch([src_ids[i] for i in idx], eos=True)
    tgt_in, tgt_len = pad_batch([tgt_ids[i] for i in idx], bos=True)
    tgt_out, _ = pad_batch([tgt_ids[i] for i in idx], eos=True)
    return src, src_len, tgt_in, tgt_out, tgt_len


def train(args):
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    data = Multi30k("train")
    sv, tv = vocabs(args, data.pairs)
    src_ids = [sv.encode(p.src)[:100] for p in data.pairs]
    tgt_ids = [tv.encode(p.tgt)[:100] for p in data.pairs]
    val = Multi30k("val").pairs[: args.val_n]
    cfg = TranslatorConfig(
        src_vocab=len(sv),
        tgt_vocab=len(tv),
        emb_size=args.emb,
        enc_hidden=args.hidden,
        enc_layers=args.enc_layers,
        dec_hidden=args.dec_hidden or args.hidden,
        dropout=args.dropout,
    )
    model = Translator(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    st = {"step": 0, "epoch": 0, "pos": 0, "elapsed": 0.0, "best": -1.0, "history": []}
    state_path = Path(args.state)
    if state_path.exists() and not args.fresh:
        ck = torch.load(state_path, map_location="cpu", weights_only=True)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        st = ck["st"]
        log(f"resumed at step {st['step']} epoch {st['epoch']} elapsed {st['elapsed'] / 60:.1f} min")
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model {cfg.to_dict()} params {n_params / 1e6:.2f}M, train pairs {len(src_ids)}")
    budget = args.minutes * 60.0
    t0, last_ck = time.time() - st["elapsed"], time.time()
    cmd = " ".join(sys.argv)

    def checkpoint(final=False):
        model.eval()
        hyps = translate(model, sv, tv, [p.src for p in val], beam=1, batch_size=100)
        s = scores(hyps, [p.tgt for p in val])
        model.train()
        st["elapsed"] = time.time() - t0
        st["history"].append(
            {
                "step": st["step"],
                "epoch": st["epoch"],
                "min": round(st["elapsed"] / 60, 2),
                "val_bleu": s["bleu"],
                "val_chrf": s["chrf"],
            }
        )
        log(f"val[:{len(val)}] greedy {s} step {st['step']} epoch {st['epoch']}")
        if s["bleu"] > st["best"]:
            st["best"] = s["bleu"]
            save_translator(
                args.out,
                model,
                sv,
                tv,
                metrics={f"val{len(val)}_greedy_" + k: v for k, v in s.items()},
                extra={
                    "command": cmd,
                    "train_minutes": round(st["elapsed"] / 60, 2),
                    "step": st["step"],
                    "epoch": st["epoch"],
                    "args": OmegaConf.to_container(args),
                    "history": list(st["history"]),
                },
            )
            log(f"saved best -> {args.out}")
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "st": st}, str(state_path) + ".tmp")
        Path(str(state_path) + ".tmp").replace(state_path)

    model.train()
    while True:
        batches = token_batches(
            [len(s) + 1 for s in src_ids],
            [len(t) + 1 for t in tgt_ids],
            args.max_tokens,
            shuffle=True,
            seed=args.seed + st["epoch"],
        )
        tot, ntok, tl = 0.0, 0, time.time()
        while st["pos"] < len(batches):
            idx = batches[st["pos"]]
            frac = (time.time() - t0) / budget
            lr = args.lr * min(1.0, (st["step"] + 1) / args.warmup)
            if frac > 0.7:
                lr *= max(0.05, 1.0 - (frac - 0.7) / 0.3)
            for g in opt.param_groups:
                g["lr"] = lr
            src, src_len, tgt_in, tgt_out, tgt_len = make_batch(src_ids, tgt_ids, idx)
            loss = model.loss(src, src_len, tgt_in, tgt_out, tgt_len, label_smoothing=args.label_smoothing)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            opt.step()
            n = int(tgt_len.sum())
            tot, ntok = tot + float(loss.detach()) * n, ntok + n
            st["step"] += 1
            st["pos"] += 1
            if st["step"] % 50 == 0:
                log(
                    f"step {st['step']} ep {st['epoch']} {st['pos']}/{len(batches)} loss {tot / ntok:.3f} "
                    f"lr {lr:.2e} {ntok / (time.time() - tl):.0f} tok/s"
                )
                tot, ntok, tl = 0.0, 0, time.time()
            if time.time() - t0 >= budget:
                checkpoint(final=True)
                log(f"done: {st['step']} steps, {(time.time() - t0) / 60:.1f} min, best val BLEU {st['best']}")
                return
            if time.time() - last_ck >= args.ckpt_every * 60:
                checkpoint()
                last_ck = time.time()
        st["epoch"] += 1
        st["pos"] = 0


def evaluate(args):
    model, sv, tv, ck = load_translator(args.out, use_datapath=False)
    round_to_storage(model, args.storage)  # every mode evaluates exactly the weights written below
    test = Multi30k(args.split).pairs
    srcs, refs = [p.src for p in test], [p.tgt for p in test]
    train_pairs = Multi30k("train").pairs[: args.calib_n]
    batches = []
    for i in range(0, len(train_pairs), 64):
        chunk = train_pairs[i : i + 64]
        src, sl = pad_batch([sv.encode(p.src) for p in chunk], eos=True)
        ti, tl = pad_batch([tv.encode(p.tgt) for p in chunk], bos=True)
        batches.append((src, sl, ti, tl))
    dp = calibrate_translator(model, batches, bits=args.bits, margin=args.margin)
    model.set_datapath(dp["encoder"], dp["decoder"])
    log("datapath encoder", [c.to_dict() for c in dp["encoder"]], "decoder", [c.to_dict() for c in dp["decoder"]])
    metrics = {}
    sub = list(range(min(args.emu_n, len(srcs))))
    for mode in args.modes.split(","):
        model.set_mode(mode)
        for beam in (1, args.beam):
            n = len(srcs) if mode == "float" or args.emu_n >= len(srcs) else len(sub)
            t = time.time()
            hyps = translate(model, sv, tv, srcs[:n], beam=beam, batch_size=args.batch, alpha=args.alpha)
            dt = time.time() - t
            name = "greedy" if beam == 1 else f"beam{beam}"
            s = scores(hyps, refs[:n])
            metrics[f"{args.split}[:{n}]/{mode}/{name}"] = {**s, "seconds": round(dt, 1)}
            if n > len(sub) and sub:
                metrics[f"{args.split}[:{len(sub)}]/{mode}/{name}"] = scores(hyps[: len(sub)], refs[: len(sub)])
            log(mode, name, metrics[f"{args.split}[:{n}]/{mode}/{name}"])
            if mode == "float" and beam == args.beam:
                for i in range(3):
                    log(f"  src: {srcs[i]}\n  ref: {refs[i]}\n  hyp: {hyps[i]}")
    model.set_mode("float")
    save_translator(
        args.out,
        model,
        sv,
        tv,
        metrics={**ck["metrics"], **metrics},
        datapath=dp,
        extra={**ck["extra"], "eval_command": " ".join(sys.argv)},
        storage=args.storage,
    )
    Path(args.out).with_suffix(".metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    log(json.dumps(metrics, indent=1))


def run(args: TranslationTask) -> None:
    """``args.action``: train or eval (see the module docstring)."""
    args = OmegaConf.structured(args)  # a TranslationTask or its hydra node: typed either way
    for key, allowed in CHOICES.items():
        if args[key] not in allowed:
            raise ValueError(f"task.{key}={args[key]!r}: choose one of {', '.join(allowed)}")
    torch.set_num_threads(args.threads)
    if args.action == "train":
        train(args)
    else:
        evaluate(args)
