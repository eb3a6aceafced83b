"""Train and evaluate the Multi30k en->de translator (rnnaccel.models.translation) on the CPU.

Training is time-budgeted and resumable: ``--minutes`` of wall time (schedule: warmup, constant,
linear decay over the last 30%), the training state (model + Adam + position) is saved to
``--state`` every ``--ckpt-every`` minutes and picked up again on restart; the best model by
greedy BLEU on the first ``--val-n`` validation sentences goes to ``--out`` (no optimizer state).

    python scripts/train_translation.py train --minutes 50
    python scripts/train_translation.py eval --emu-n 200        # PTQ 16-bit + BLEU/chrF on test
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import torch

from rnnaccel.datasets.multi30k import Multi30k
from rnnaccel.datasets.subword import SubwordVocab, pad_batch, token_batches, train_sentencepiece
from rnnaccel.models.beam_seq2seq import translate
from rnnaccel.models.translation import Translator, TranslatorConfig
from rnnaccel.models.checkpoint import round_to_storage
from rnnaccel.models.translation_ckpt import calibrate_translator, load_translator, save_translator


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def scores(hyps, refs) -> dict:
    import sacrebleu
    return {"bleu": round(sacrebleu.corpus_bleu(hyps, [refs]).score, 2),
            "chrf": round(sacrebleu.corpus_chrf(hyps, [refs]).score, 2)}


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
    cfg = TranslatorConfig(src_vocab=len(sv), tgt_vocab=len(tv), emb_size=args.emb, enc_hidden=args.hidden,
                           enc_layers=args.enc_layers, dec_hidden=args.dec_hidden or args.hidden,
                           dropout=args.dropout)
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
        st["history"].append({"step": st["step"], "epoch": st["epoch"], "min": round(st["elapsed"] / 60, 2),
                              "val_bleu": s["bleu"], "val_chrf": s["chrf"]})
        log(f"val[:{len(val)}] greedy {s} step {st['step']} epoch {st['epoch']}")
        if s["bleu"] > st["best"]:
            st["best"] = s["bleu"]
            save_translator(args.out, model, sv, tv, metrics={f"val{len(val)}_greedy_" + k: v for k, v in s.items()},
                            extra={"command": cmd, "train_minutes": round(st["elapsed"] / 60, 2),
                                   "step": st["step"], "epoch": st["epoch"], "args": vars(args),
                                   "history": list(st["history"])})
            log(f"saved best -> {args.out}")
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "st": st}, str(state_path) + ".tmp")
        Path(str(state_path) + ".tmp").replace(state_path)

    model.train()
    while True:
        batches = token_batches([len(s) + 1 for s in src_ids], [len(t) + 1 for t in tgt_ids], args.max_tokens,
                                shuffle=True, seed=args.seed + st["epoch"])
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
                log(f"step {st['step']} ep {st['epoch']} {st['pos']}/{len(batches)} loss {tot / ntok:.3f} "
                    f"lr {lr:.2e} {ntok / (time.time() - tl):.0f} tok/s")
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
        chunk = train_pairs[i:i + 64]
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
    save_translator(args.out, model, sv, tv, metrics={**ck["metrics"], **metrics},
                    datapath=dp, extra={**ck["extra"], "eval_command": " ".join(sys.argv)},
                    storage=args.storage)
    Path(args.out).with_suffix(".metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    log(json.dumps(metrics, indent=1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cmd", choices=["train", "eval"])
    ap.add_argument("--out", default="checkpoints/translation/translator.pt")
    ap.add_argument("--state", default="runs/translation/state.pt")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--minutes", type=float, default=50.0)
    ap.add_argument("--ckpt-every", type=float, default=5.0)
    ap.add_argument("--src-vocab", type=int, default=6000)
    ap.add_argument("--tgt-vocab", type=int, default=6000)
    ap.add_argument("--spm-type", default="bpe", choices=["bpe", "unigram"])
    ap.add_argument("--emb", type=int, default=256)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--dec-hidden", type=int, default=0)
    ap.add_argument("--enc-layers", type=int, default=1)
    ap.add_argument("--dropout", type=float, default=0.25)
    ap.add_argument("--max-tokens", type=int, default=2500)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--val-n", type=int, default=300)
    ap.add_argument("--fresh", action="store_true", help="ignore an existing --state")
    # eval
    ap.add_argument("--split", default="test_2016_flickr")
    ap.add_argument("--modes", default="float,emulate")
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--emu-n", type=int, default=200)
    ap.add_argument("--calib-n", type=int, default=512)
    ap.add_argument("--bits", type=int, default=16)
    ap.add_argument("--storage", default="float16", choices=["float16", "float32"],
                    help="weights are rounded to this and --out is rewritten with it (default %(default)s)")
    ap.add_argument("--margin", type=float, default=0.25)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    train(args) if args.cmd == "train" else evaluate(args)


if __name__ == "__main__":
    main()
