"""``rnnaccel-quantize`` / ``python -m rnnaccel.apps.quantize``: post-training quantization.

Loads a float checkpoint, calibrates every datapath format of every recurrent layer on the first
``datapath.calib_batches`` x ``datapath.calib_batch_size`` training utterances (no augmentation;
see :mod:`rnnaccel.models.calibrate`) and writes a checkpoint with the same weights plus the
per-layer datapath configs and the observed ranges (``metrics.ptq_ranges``). With
``quantize.storage=float16`` the weights are first rounded to float16 and written as such (half the
file); the float baseline of that checkpoint is then the rounded model.

    rnnaccel-quantize quantize.checkpoint=runs/digits/best.pt quantize.output=checkpoints/digits_blstm.pt
"""
from __future__ import annotations

import json

import hydra
import torch
from omegaconf import OmegaConf

from ..models.calibrate import calibrate
from ..models.checkpoint import load_model, round_to_storage, save_checkpoint
from .config import QuantizeApp, register, to_datapath_config
from .data import batches, load_split

register()


def run(cfg: QuantizeApp) -> dict:
    qc, dc = cfg.quantize, cfg.datapath
    torch.set_num_threads(qc.threads)
    torch.manual_seed(qc.seed)
    model, vocab, ck = load_model(qc.checkpoint, use_datapath=False)
    round_to_storage(model, qc.storage)  # calibrate and later evaluate exactly the shipped weights
    train = load_split(cfg.data, "train").subset(dc.calib_batches * dc.calib_batch_size)
    cal = [(b.features, b.feature_lengths) for b in batches(train, dc.calib_batch_size)]
    cfgs, stats = calibrate(model, cal, dc.bits, dc.margin, to_datapath_config(dc))
    ranges = [s.max_abs for s in stats]
    metrics = dict(ck["metrics"], ptq_ranges=ranges, ptq_utterances=len(train))
    extra = dict(ck.get("extra", {}), quantize=OmegaConf.to_container(cfg.datapath))
    extra.pop("train_state", None)
    save_checkpoint(qc.output, model, vocab, metrics, cfgs, extra, storage=qc.storage)
    print(json.dumps({"output": qc.output, "ranges": ranges,
                      "formats": [{k: f"Q{v['bits']}.{v['frac']}" for k, v in d.to_dict().items()
                                   if isinstance(v, dict)} for d in cfgs]}, indent=1))
    return {"datapath": cfgs, "ranges": ranges}


@hydra.main(config_path="../conf", config_name="quantize", version_base="1.3")
def main(cfg: QuantizeApp) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
