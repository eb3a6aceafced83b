"""What ``rnnaccel-evaluate`` runs: a checkpoint, its test data and its accuracy metric.

A :class:`Task` wraps one model and the recurrent stacks that run on the datapath
(``task.stacks``; :meth:`Task.set_units` gives each its own technique units) and scores it on a
split in a mode:

- **speech** (``rnnaccel.models`` checkpoints, e.g. ``checkpoints/digits_blstm.pt``): CTC decoding,
  WER and CER with jiwer (lower is better);
- **sentiment** (``rnnaccel.sentiment/1`` checkpoints): accuracy of the class (higher is better);
- **translation** (``rnnaccel.translation/1``, :mod:`rnnaccel.models.translation`): Multi30k
  en->de (``test`` is ``test_2016_flickr``), greedy or beam search, BLEU and chrF with sacrebleu
  (higher is better). The decoder runs one token per call inside a technique session
  (:mod:`rnnaccel.emulator.session`), so memoization and the precision history act on the
  encoder and carry across the decoder's tokens (following the hypotheses of beam search); the
  trace, the memo and precision summaries and the cost report each stack apart
  (``encoder:L0.d0``, ``decoder:L0.d0``; ``cost.by_module``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch

from ..emulator import Trace
from ..emulator.session import check_units
from ..errors import RnnaccelError, one_line
from ..models.calibrate import calibrate
from ..models.decode import decode
from ..models.metrics import error_rates
from .config import to_datapath_config
from .data import (
    batches,
    check_checkpoint_data,
    check_data_kind,
    data_summary,
    load_parallel,
    load_split,
    num_batches,
    parallel_summary,
)

__all__ = [
    "Task",
    "load_task",
    "score",
    "speech_log_probs",
    "decode_all",
    "saturations",
    "translation_scores",
    "checkpoint_format",
]


def _bar(it, total: int, desc: str, progress: bool):
    if not progress:
        return it
    from tqdm import tqdm

    return tqdm(it, total=total, desc=desc, leave=False, dynamic_ncols=True, mininterval=1.0)


@torch.no_grad()
def speech_log_probs(
    model, ds, mode: str, batch_size: int = 50, trace: Trace | None = None, progress: bool = False
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``(log_probs (B, T', V), out_lengths (B,))`` per batch of a speech FeatureSet (in order) with
    ``model`` in ``mode``. In emulate mode ``trace`` (if given) collects the action counts."""
    model.eval().set_mode(mode)
    out = []
    for b in _bar(batches(ds, batch_size), num_batches(ds, batch_size), f"evaluate ({mode})", progress):
        t = Trace() if (trace is not None and mode == "emulate") else None
        out.append(model(b.features, b.feature_lengths, trace=t))
        if t is not None:
            trace.extend(t)
    return out


def decode_all(outputs, vocab, decoder: str = "greedy", beam_size: int = 8, scorer=None) -> list[str]:
    """Transcripts of :func:`speech_log_probs` outputs (``scorer``: a language model for ``beam``)."""
    return [vocab.decode(h) for lp, ol in outputs for h in decode(lp, ol, decoder, beam_size, scorer)]


def score(
    model,
    ds,
    vocab,
    mode: str,
    batch_size: int = 50,
    decoder: str = "greedy",
    beam_size: int = 8,
    trace: Trace | None = None,
    progress: bool = False,
    scorer=None,
) -> dict:
    """Decode every item of a speech FeatureSet with ``model`` in ``mode``; error rates + hypotheses.
    In emulate mode ``trace`` (if given) collects the action counts of the whole run; ``scorer``: a
    language model for ``decoder="beam"`` (:func:`rnnaccel.models.lm.make_scorer`)."""
    outputs = speech_log_probs(model, ds, mode, batch_size, trace, progress)
    hyps = decode_all(outputs, vocab, decoder, beam_size, scorer)
    out = error_rates(list(ds.transcripts), hyps)
    out["hypotheses"] = hyps
    return out


def saturations(model, trace: Trace | None, stacks: list | None = None) -> dict:
    """Saturation counts by tensor class: weights/biases at load, the rest from the trace."""
    sats = {"weight_bias": sum(int(st.int_weights()[1]) for st in (stacks or [model.rnn]))}
    if trace is not None:
        for k, v in trace.totals().items():
            if k.startswith("sat."):
                sats[k[4:]] = int(v)
    return sats


def translation_scores(refs: list[str], hyps: list[str]) -> dict:
    """Corpus BLEU and chrF (sacrebleu defaults) of detokenized hypotheses against one reference each."""
    import sacrebleu

    if len(refs) != len(hyps) or not refs:
        raise ValueError(f"translation_scores: {len(refs)} references, {len(hyps)} hypotheses")
    return {"bleu": sacrebleu.corpus_bleu(hyps, [refs]).score, "chrf": sacrebleu.corpus_chrf(hyps, [refs]).score}


@dataclass
class Task:
    kind: str  # speech | sentiment | translation
    metric: str  # the headline metric: wer | accuracy | bleu
    higher_is_better: bool
    model: torch.nn.Module
    stacks: list  # the recurrent modules on the datapath
    items: int
    network: dict
    datapath_source: str
    run: Callable[[str, Trace | None, bool], dict] = field(repr=False)
    points: float = 100.0  # headline metric x points = percentage points (BLEU is already in points)
    data: dict = field(default_factory=dict)  # which data was scored (apps.data.data_summary)
    lm: dict | None = None  # the language model of eval.decoder=beam_lm

    def score(self, mode: str, trace: Trace | None = None, progress: bool = False) -> dict:
        return self.run(mode, trace, progress)

    def set_units(self, make: Callable[[], list]) -> None:
        """``make()`` builds a fresh list of unit factories; every stack gets its own (settings
        naming layers a stack lacks are refused, :func:`~rnnaccel.emulator.session.check_units`)."""
        for i, st in enumerate(self.stacks):
            units = make()
            check_units(units, st, f"{self.kind} stack {i} ({type(st).__name__})")
            st.units = units

    @property
    def datapath(self) -> list[dict]:
        return [d.to_dict() for st in self.stacks for d in st.datapath]


#: the checkpoint formats ``rnnaccel-evaluate`` knows, by task
TASK_FORMATS = {
    "rnnaccel.checkpoint/1": "speech",
    "rnnaccel.sentiment/1": "sentiment",
    "rnnaccel.translation/1": "translation",
}


def checkpoint_format(path: str) -> str:
    """The ``format`` of the checkpoint at ``path`` (read, digest verified: one line when it is
    missing, unreadable, foreign or corrupt)."""
    from ..models.checkpoint import read_checkpoint

    return read_checkpoint(path, tuple(TASK_FORMATS))["format"]


def load_task(cfg) -> Task:
    """The task of ``cfg.eval.checkpoint`` (format read from the file) with its data loaded."""
    ec = cfg.eval
    fmt = checkpoint_format(ec.checkpoint)
    check_data_kind(cfg.data, TASK_FORMATS[fmt])
    check_decoder(ec, TASK_FORMATS[fmt])
    if fmt == "rnnaccel.sentiment/1":
        return _sentiment(cfg)
    if fmt == "rnnaccel.translation/1":
        return _translation(cfg)
    return _speech(cfg)


def _network(c, name: str) -> dict:
    return {
        "name": name,
        "cell": c.cell if hasattr(c, "cell") else "lstm",
        "layers": c.num_layers,
        "hidden": c.hidden_size,
        "bidirectional": bool(c.bidirectional),
    }


def _speech(cfg) -> Task:
    from pathlib import Path

    from ..models.checkpoint import load_model

    ec = cfg.eval
    model, vocab, ck = load_model(ec.checkpoint)
    check_checkpoint_data(ck, cfg.data, ec.checkpoint)
    src = _speech_datapath(model, ck, cfg)
    scorer, lm = lm_decoder(ec, vocab)
    method = "beam" if ec.decoder == "beam_lm" else ec.decoder
    ds = load_split(cfg.data, ec.split, progress=ec.progress, vocab=vocab)
    if ec.limit is not None:
        ds = ds.subset(ec.limit)

    def run(mode, trace, progress):
        m = score(model, ds, vocab, mode, ec.batch_size, method, ec.beam_size, trace, progress, scorer)
        m.pop("hypotheses")
        return m

    net = _network(model.config, Path(ec.checkpoint).stem)
    return Task(
        "speech", "wer", False, model, [model.rnn], len(ds), net, src, run, data=data_summary(cfg.data, ds), lm=lm
    )


#: the eval.lm_* settings and their defaults (applied only with eval.decoder=beam_lm)
LM_SETTINGS = {"lm": None, "lm_order": 3, "lm_alpha": 0.8, "lm_beta": 1.0}


def check_decoder(ec, task: str) -> None:
    """``eval.decoder=beam_lm`` only on a CTC speech checkpoint and with ``eval.lm``; an ``eval.lm*``
    setting without it is refused (never dropped)."""
    if ec.decoder != "beam_lm":
        changed = [f"eval.{k}={getattr(ec, k)}" for k, v in LM_SETTINGS.items() if getattr(ec, k) != v]
        if changed:
            raise RnnaccelError(
                f"{', '.join(changed)}: not applied, only eval.decoder=beam_lm uses a language model; "
                f"pass eval.decoder=beam_lm"
            )
        return
    if task != "speech":
        raise RnnaccelError(
            f"eval.decoder=beam_lm fuses a word LM into CTC beam search: a {task} checkpoint has no CTC "
            f"output; pass eval.decoder=greedy or beam"
        )
    if ec.lm is None:
        raise RnnaccelError("eval.decoder=beam_lm needs eval.lm=<an ARPA file or a text corpus, one sentence a line>")
    if ec.lm_order < 1 or not (math.isfinite(ec.lm_alpha) and math.isfinite(ec.lm_beta)):
        raise RnnaccelError(
            f"eval.lm_order={ec.lm_order} must be >= 1, eval.lm_alpha={ec.lm_alpha} and "
            f"eval.lm_beta={ec.lm_beta} finite numbers"
        )


def lm_decoder(ec, vocab) -> tuple[object | None, dict | None]:
    """The scorer and description of ``eval.decoder=beam_lm`` (``(None, None)`` otherwise): an ARPA
    file as it is, a text corpus fitted to the model's vocabulary and built into an
    ``eval.lm_order``-gram (one line when the file is missing, malformed or empty)."""
    from ..datasets.folder import fit_to_vocab
    from ..models.lm import load_lm, make_scorer

    if ec.decoder != "beam_lm":
        return None, None
    try:
        lm, info = load_lm(ec.lm, ec.lm_order, lambda line: fit_to_vocab(line, vocab)[0])
    except (FileNotFoundError, ValueError) as e:
        raise RnnaccelError(f"eval.lm={ec.lm}: {one_line(e)}; pass an ARPA file or a text corpus") from None
    if info["kind"] == "arpa" and ec.lm_order != LM_SETTINGS["lm_order"]:
        raise RnnaccelError(
            f"eval.lm_order={ec.lm_order}: not applied, the ARPA file {ec.lm} is a {info['order']}-gram; drop it"
        )
    return make_scorer(lm, vocab, ec.lm_alpha, ec.lm_beta), info | {"alpha": ec.lm_alpha, "beta": ec.lm_beta}


def _speech_datapath(model, ck: dict, cfg) -> str:
    """Apply the datapath the config asks for; returns where it came from."""
    ec = cfg.eval
    if ec.datapath_from == "checkpoint" and ck["datapath"] is not None:
        return "checkpoint"  # load_model applied it
    if cfg.datapath.calibrate:
        train = load_split(cfg.data, "train").subset(cfg.datapath.calib_batches * cfg.datapath.calib_batch_size)
        cal = [(b.features, b.feature_lengths) for b in batches(train, cfg.datapath.calib_batch_size)]
        model.set_datapath(
            calibrate(model, cal, cfg.datapath.bits, cfg.datapath.margin, to_datapath_config(cfg.datapath))[0]
        )
        return "calibrated"
    model.set_datapath(to_datapath_config(cfg.datapath))
    return "config"


def _sentiment(cfg) -> Task:
    from pathlib import Path

    from ..datasets.sentiment import collate_sentiment, load_sentiment
    from ..models.sentiment import load_checkpoint

    ec = cfg.eval
    model, vocab, ck = load_checkpoint(ec.checkpoint)
    src = "checkpoint" if ck.get("datapath") is not None else "checkpoint (default formats)"
    if ec.datapath_from == "config":
        if cfg.datapath.calibrate:
            raise ValueError(
                "eval.datapath_from=config on a sentiment checkpoint needs datapath.calibrate=false "
                "(PTQ from the evaluate app is implemented for speech models)"
            )
        model.set_datapath(to_datapath_config(cfg.datapath))
        src = "config"
    seed = int(ck.get("extra", {}).get("args", {}).get("seed", cfg.data.corpus_seed))
    data = load_sentiment(seed=seed, vocab=vocab)
    ds = getattr(data, ec.split)
    items = [ds[i] for i in range(len(ds) if ec.limit is None else min(ec.limit, len(ds)))]
    order = sorted(range(len(items)), key=lambda i: len(items[i][0]))  # similar lengths per batch

    @torch.no_grad()
    def run(mode, trace, progress):
        model.eval().set_mode(mode)
        correct = 0
        starts = range(0, len(order), ec.batch_size)
        for s in _bar(starts, len(starts), f"evaluate ({mode})", progress):
            b = collate_sentiment([items[i] for i in order[s : s + ec.batch_size]])
            t = Trace() if (trace is not None and mode == "emulate") else None
            correct += int((model(b.tokens, b.lengths, trace=t).argmax(dim=1) == b.labels).sum())
            if t is not None:
                trace.extend(t)
        return {"accuracy": correct / len(items), "correct": correct, "items": len(items)}

    return Task(
        "sentiment",
        "accuracy",
        True,
        model,
        [model.rnn],
        len(items),
        _network(model.config, Path(ec.checkpoint).stem),
        src,
        run,
    )


TRANSLATION_SPLITS = {"train": "train", "val": "val", "test": "test_2016_flickr"}


def _translation(cfg) -> Task:
    from pathlib import Path

    from ..datasets.multi30k import Multi30k
    from ..models.beam_seq2seq import translate
    from ..models.translation_ckpt import load_translator

    ec = cfg.eval
    if ec.datapath_from == "config":
        raise ValueError(
            "eval.datapath_from=config: a translation checkpoint brings its own datapath "
            "(scripts/train_translation.py eval calibrates it)"
        )
    model, sv, tv, ck = load_translator(ec.checkpoint)
    if cfg.data.corpus == "parallel":
        pairs = load_parallel(cfg.data, ec.split)
    else:
        pairs = Multi30k(TRANSLATION_SPLITS[ec.split], root=cfg.data.root).pairs
    pairs = pairs[: ec.limit] if ec.limit is not None else pairs
    srcs, refs = [p.src for p in pairs], [p.tgt for p in pairs]
    data = parallel_summary(cfg.data, srcs, refs, sv, tv, ec.split)
    beam = 1 if ec.decoder == "greedy" else ec.beam_size

    def run(mode, trace, progress):
        model.eval().set_mode(mode)
        bar = _bar(None, len(srcs), f"translate ({mode})", progress) if progress else None
        hyps = translate(
            model,
            sv,
            tv,
            srcs,
            beam=beam,
            batch_size=ec.batch_size,
            trace=trace if mode == "emulate" else None,
            progress=(lambda n: bar.update(n)) if bar is not None else None,
        )
        if bar is not None:
            bar.close()
        return {**translation_scores(refs, hyps), "sentences": len(srcs)}

    c = model.config
    net = {
        "name": Path(ec.checkpoint).stem,
        "cell": "lstm",
        "layers": c.enc_layers + c.dec_layers,
        "hidden": c.enc_hidden,
        "bidirectional": True,
    }
    src = "checkpoint" if ck.get("datapath") else "checkpoint (default formats)"
    return Task("translation", "bleu", True, model, [model.encoder, model.decoder], len(srcs), net, src, run, 1.0, data)
