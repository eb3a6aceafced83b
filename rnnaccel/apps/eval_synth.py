"""A synthesized-speech checkpoint on its held-out voices: WER/CER overall and by voice group.

Scores ``--checkpoint`` (default ``checkpoints/synth_blstm.pt``) on the test split of the generated
corpus (``python scripts/make_synth_corpus.py ...``; the data settings stored in the checkpoint say
where) in each of ``--modes`` (float, fakequant, emulate: the 16-bit bit-exact datapath stored in
the checkpoint), and breaks the error rates down by clean/noisy audio, engine and voice (espeak
accent, or the Debian voice). Each mode is decoded greedily and, unless ``--lm-beam 0``, by prefix
beam search with the task's word trigram LM (``rnnaccel.models.lm.synth_lm``: Multi30k train
sentences only; weights ``--lm-alpha``/``--lm-beta``, tuned on val). Writes JSON to ``--out``.

    python -m rnnaccel.apps.eval_synth --modes float,emulate --out checkpoints/synth_blstm.metrics.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

from rnnaccel.apps.data import checkpoint_data, checkpoint_split
from rnnaccel.apps.tasks import decode_all, saturations, speech_log_probs
from rnnaccel.datasets.synth import SynthSpeech
from rnnaccel.emulator import Trace
from rnnaccel.models import error_rates, load_checkpoint, load_model
from rnnaccel.models.lm import make_scorer, synth_lm

ROOT = Path(__file__).resolve().parents[2]  # the repository (checkpoints/)


def groups(record: dict) -> list[str]:
    """The breakdown groups of one utterance: noise, engine and voice family."""
    engine, name = record["voice"].split(":", 1)
    family = f"espeak:{name.split('+')[0]}" if engine == "espeak" else record["voice"]
    return ["noisy" if record.get("noise") else "clean", f"engine={engine}", f"voice={family}"]


def breakdown(refs: list[str], hyps: list[str], labels: list[list[str]]) -> dict:
    by = defaultdict(list)
    for i, ls in enumerate(labels):
        for g in ls:
            by[g].append(i)
    out = {}
    for g in sorted(by):
        idx = by[g]
        r = error_rates([refs[i] for i in idx], [hyps[i] for i in idx])
        out[g] = {"utterances": len(idx), "wer": round(100 * r["wer"], 2), "cer": round(100 * r["cer"], 2)}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "synth_blstm.pt"))
    ap.add_argument("--split", default="test", choices=["train", "val", "test"])
    ap.add_argument("--modes", default="float,emulate")
    ap.add_argument("--lm-beam", type=int, default=16, help="beam width with the LM (0: greedy only)")
    ap.add_argument("--lm-alpha", default="0.8", help="LM weight; a comma list tries each (tuning)")
    ap.add_argument("--lm-beta", default="1.0", help="bonus per word; a comma list tries each")
    ap.add_argument("--lm-order", type=int, default=3)
    ap.add_argument("--limit", type=int, default=None, help="first N utterances (default: all)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None, help="write the results here (JSON)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    ck = load_checkpoint(args.checkpoint)
    data = checkpoint_data(ck)
    if data.corpus != "synth_speech":
        raise SystemExit(f"{args.checkpoint}: trained on data.corpus={data.corpus!r}, not synth_speech")
    ds = checkpoint_split(ck, args.split, args.limit)
    records = {r["utt_id"]: r for r in SynthSpeech(args.split, root=data.root).records}
    labels = [groups(records[u]) for u in ds.utt_ids]
    model, vocab, _ = load_model(args.checkpoint)
    decoders = {"greedy": ("greedy", None)}
    alphas, betas = [float(a) for a in args.lm_alpha.split(",")], [float(b) for b in args.lm_beta.split(",")]
    if args.lm_beam:
        lm = synth_lm(args.lm_order)
        for a in alphas:
            for b in betas:
                name = f"beam{args.lm_beam}+lm" + (f" a={a:g} b={b:g}" if len(alphas) * len(betas) > 1 else "")
                decoders[name] = ("beam", make_scorer(lm, vocab, a, b))
    result = {
        "checkpoint": Path(args.checkpoint).name,
        "split": args.split,
        "utterances": len(ds),
        "storage": ck.get("storage", "float32"),
        "lm": {"order": args.lm_order, "alpha": alphas, "beta": betas, "beam": args.lm_beam},
        "modes": {},
    }
    for mode in args.modes.split(","):
        t0 = time.time()
        trace = Trace() if mode == "emulate" else None
        outputs = speech_log_probs(model, ds, mode, trace=trace)
        row = {"forward_s": round(time.time() - t0, 1)}
        if trace is not None:
            row["saturations"] = saturations(model, trace)
        for name, (method, scorer) in decoders.items():
            t0 = time.time()
            hyps = decode_all(outputs, vocab, method, args.lm_beam, scorer)
            r = error_rates(list(ds.transcripts), hyps)
            row[name] = {
                "wer": round(100 * r["wer"], 2),
                "cer": round(100 * r["cer"], 2),
                "decode_s": round(time.time() - t0, 1),
                "groups": breakdown(ds.transcripts, hyps, labels),
                "examples": [{"ref": a, "hyp": b} for a, b in zip(ds.transcripts[:3], hyps[:3])],
            }
            print(f"{mode:10s} {name:22s} WER {row[name]['wer']:6.2f} %  CER {row[name]['cer']:6.2f} %", flush=True)
        result["modes"][mode] = row
    text = json.dumps(result, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
