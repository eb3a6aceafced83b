"""``rnnaccel-quantize`` / ``python -m rnnaccel.apps.quantize``: post-training quantization.

Loads a float checkpoint, calibrates every datapath format of every recurrent layer on the first
``datapath.calib_batches`` x ``datapath.calib_batch_size`` training utterances (no augmentation;
see :mod:`rnnaccel.models.calibrate`) and writes a checkpoint with the same weights plus the
per-layer datapath configs and the observed ranges (``metrics.ptq_ranges``). The checkpoint is
refused (one line naming the ``data`` option to pass) when the data config's corpus, vocab or
features differ from the ones it was trained with, as in ``rnnaccel-evaluate``. The storage is
the checkpoint's own unless ``quantize.storage`` says otherwise; with ``float16`` the weights are
first rounded to float16 and written as such (half the file); the float baseline of that
checkpoint is then the rounded model. ``quantize.search`` asks the emulator's calibrator for
error-minimising formats (candidate fraction widths measured on the calibration calls) instead of
the covering ones, ``quantize.tables`` for each layer's activation-table resolution (at most 1 LSB
of the act format) instead of ``datapath.act_index_bits``
(:func:`rnnaccel.emulator.calibrate.calibrate`). The summary line is JSON.

    rnnaccel-quantize quantize.checkpoint=runs/digits/best.pt quantize.output=checkpoints/digits_blstm.pt
"""

from __future__ import annotations

import json

import hydra
import torch
from omegaconf import OmegaConf

from ..models.calibrate import calibrate
from ..errors import RnnaccelError, app_boundary
from ..models.checkpoint import STORAGE, load_checkpoint, load_model, round_to_storage, save_checkpoint
from .config import QuantizeApp, check_datapath, command_overrides, register, to_datapath_config
from .data import FRONT_END, TRAINING_SPLIT, adopt_front_end, batches, check_checkpoint_data, load_split

register()


def validate(cfg: QuantizeApp) -> str:
    """Every check that needs no data, the checkpoint read and its data checked; returns the
    storage to write (``quantize.storage``, null: the checkpoint's own)."""
    qc, dc = cfg.quantize, cfg.datapath
    if not dc.calibrate:
        raise RnnaccelError(
            "datapath.calibrate=false: not applied, rnnaccel-quantize always calibrates "
            "(fixed formats need no quantization: evaluate with datapath=q16 eval.datapath_from=config)"
        )
    check_datapath(dc)
    if qc.threads < 1:
        raise RnnaccelError(f"invalid configuration: quantize.threads={qc.threads} must be >= 1")
    ck = load_checkpoint(qc.checkpoint)
    taken = adopt_front_end(ck, cfg.data, command_overrides(), FRONT_END + TRAINING_SPLIT)
    if taken:  # calibrate on the checkpoint's own front end and training split unless told otherwise
        print(f"data: the checkpoint's front end and training split ({' '.join(taken)})", flush=True)
    check_checkpoint_data(ck, cfg.data, qc.checkpoint)
    storage = qc.storage or ck.get("storage", "float32")
    if storage not in STORAGE:
        raise RnnaccelError(
            f"invalid configuration: quantize.storage={storage!r} unknown; choose one of "
            f"{', '.join(STORAGE)} (null: the checkpoint's own)"
        )
    return storage


def run(cfg: QuantizeApp) -> dict:
    qc, dc = cfg.quantize, cfg.datapath
    storage = validate(cfg)
    torch.set_num_threads(qc.threads)
    torch.manual_seed(qc.seed)
    model, vocab, ck = load_model(qc.checkpoint, use_datapath=False)
    round_to_storage(model, storage)  # calibrate and later evaluate exactly the shipped weights
    train = load_split(cfg.data, "train").subset(dc.calib_batches * dc.calib_batch_size)
    cal = [(b.features, b.feature_lengths) for b in batches(train, dc.calib_batch_size)]
    cfgs, stats = calibrate(model, cal, dc.bits, dc.margin, to_datapath_config(dc), search=qc.search, tables=qc.tables)
    ranges = [s.max_abs for s in stats]
    metrics = dict(ck["metrics"], ptq_ranges=ranges, ptq_utterances=len(train))
    extra = dict(ck.get("extra", {}), quantize=OmegaConf.to_container(cfg.datapath))
    extra.pop("train_state", None)
    save_checkpoint(qc.output, model, vocab, metrics, cfgs, extra, storage=storage)
    print(
        json.dumps(
            {
                "output": qc.output,
                "storage": storage,
                "search": qc.search,
                "tables": qc.tables,
                "ranges": ranges,
                "formats": [
                    {k: f"Q{v['bits']}.{v['frac']}" for k, v in d.to_dict().items() if isinstance(v, dict)}
                    for d in cfgs
                ],
            }
        ),
        flush=True,
    )
    return {"datapath": cfgs, "ranges": ranges, "storage": storage}


@hydra.main(config_path="../conf", config_name="quantize", version_base="1.3")
def main(cfg: QuantizeApp) -> None:
    """A wrong setting or input exits 2 with one line."""
    app_boundary("quantize", run, cfg)


if __name__ == "__main__":
    main()
