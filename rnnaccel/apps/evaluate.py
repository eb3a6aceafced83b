"""``rnnaccel-evaluate`` / ``python -m rnnaccel.apps.evaluate``: score a checkpoint on a split.

Runs the model in ``eval.mode`` (``float``, ``fakequant`` or ``emulate``: only the recurrent layers
change mode; frame stacking and the CTC head stay float) and writes one JSON with WER/CER, the
datapath saturation counts, the trace totals and the cost-model estimate (emulate mode: the trace
of the whole split priced with ``rnnaccel.emulator.cost.estimate`` on ``eval.hw``).

    rnnaccel-evaluate eval.checkpoint=checkpoints/digits_blstm.pt eval.mode=emulate eval.output=runs/eval.json
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import hydra
import torch
from omegaconf import OmegaConf

from ..emulator import DatapathConfig, Trace
from ..emulator.cost import estimate, load_hw
from ..models.calibrate import calibrate
from ..models.checkpoint import load_model
from ..models.decode import decode
from ..models.metrics import error_rates
from ..models.speech import SpeechRecognizer
from .config import EvaluateApp, register, to_datapath_config
from .data import batches, load_split, num_batches

register()


@torch.no_grad()
def score(model: SpeechRecognizer, ds, vocab, mode: str, batch_size: int = 50, decoder: str = "greedy",
          beam_size: int = 8, trace: Trace | None = None, progress: bool = False) -> dict:
    """Decode every item of ``ds`` with ``model`` in ``mode``; returns error rates + hypotheses.
    In emulate mode ``trace`` (if given) collects the action counts of the whole run."""
    model.eval().set_mode(mode)
    refs, hyps = [], []
    it = batches(ds, batch_size)
    if progress:
        from tqdm import tqdm
        it = tqdm(it, total=num_batches(ds, batch_size), desc=f"evaluate ({mode})", leave=False)
    for b in it:
        t = Trace() if (trace is not None and mode == "emulate") else None
        lp, ol = model(b.features, b.feature_lengths, trace=t)
        if t is not None:
            trace.extend(t)
        hyps += [vocab.decode(h) for h in decode(lp, ol, decoder, beam_size)]
        refs += b.transcripts
    out = error_rates(refs, hyps)
    out["hypotheses"] = hyps
    return out


def saturations(model: SpeechRecognizer, trace: Trace | None) -> dict:
    """Saturation counts by tensor class: weights/biases at load, the rest from the trace."""
    sats = {"weight_bias": int(model.rnn.int_weights()[1])}
    if trace is not None:
        for k, v in trace.totals().items():
            if k.startswith("sat."):
                sats[k[4:]] = int(v)
    return sats


def cost_summary(trace: Trace, hw_name: str) -> dict:
    rep = estimate(trace, load_hw(hw_name))
    return {"hw": hw_name, "cycles": float(rep.cycles), "seconds": float(rep.seconds),
            "energy_j": {k: float(v) for k, v in rep.energy_j.items()}, "total_j": float(rep.total_j)}


def resolve_datapath(model: SpeechRecognizer, ck: dict, cfg: EvaluateApp) -> str:
    """Apply the datapath the config asks for; returns where it came from."""
    if cfg.eval.datapath_from == "checkpoint" and ck["datapath"] is not None:
        return "checkpoint"  # load_model applied it
    if cfg.eval.datapath_from not in ("checkpoint", "config"):
        raise ValueError(f"eval.datapath_from={cfg.eval.datapath_from!r}: choose checkpoint or config")
    if cfg.datapath.calibrate:
        train = load_split(cfg.data, "train").subset(cfg.datapath.calib_batches * cfg.datapath.calib_batch_size)
        cal = [(b.features, b.feature_lengths) for b in batches(train, cfg.datapath.calib_batch_size)]
        model.set_datapath(calibrate(model, cal, cfg.datapath.bits, cfg.datapath.margin,
                                     to_datapath_config(cfg.datapath))[0])
        return "calibrated"
    model.set_datapath(to_datapath_config(cfg.datapath))
    return "config"


def run(cfg: EvaluateApp) -> dict:
    ec = cfg.eval
    torch.set_num_threads(ec.threads)
    model, vocab, ck = load_model(ec.checkpoint)
    src = resolve_datapath(model, ck, cfg)
    ds = load_split(cfg.data, ec.split, progress=ec.progress)
    if ec.limit is not None:
        ds = ds.subset(ec.limit)
    trace = Trace() if ec.mode == "emulate" else None
    t0 = time.time()
    m = score(model, ds, vocab, ec.mode, ec.batch_size, ec.decoder, ec.beam_size, trace, ec.progress)
    wall = time.time() - t0
    result = {
        "checkpoint": str(ec.checkpoint), "split": ec.split, "utterances": len(ds), "mode": ec.mode,
        "decoder": ec.decoder, **{k: v for k, v in m.items() if k != "hypotheses"},
        "saturations": saturations(model, trace) if ec.mode == "emulate" else None,
        "trace_totals": trace.totals() if trace is not None else None,
        "cost": cost_summary(trace, ec.hw) if trace is not None else None,
        "datapath_source": src, "datapath": [d.to_dict() for d in model.datapath],
        "model": ck["config"], "wall_s": round(wall, 2),
    }
    if ec.output:
        Path(ec.output).parent.mkdir(parents=True, exist_ok=True)
        Path(ec.output).write_text(json.dumps(result, indent=2, sort_keys=True))
    if ec.trace_output and trace is not None:
        trace.save_npz(ec.trace_output)
    print(json.dumps({k: result[k] for k in ("mode", "utterances", "wer", "cer", "saturations", "wall_s")}))
    return result


@hydra.main(config_path="../conf", config_name="evaluate", version_base="1.3")
def main(cfg: EvaluateApp) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
