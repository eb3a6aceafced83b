"""The TPU model's GEMM cycles against SCALE-Sim 3 (weight-stationary), same shapes, same array.

Stated tolerance: to the cycle. SCALE-Sim reports the index of the last busy cycle (counted from
0), so the model is exactly one cycle above it per GEMM. Skips with the reason when SCALE-Sim
cannot run here (the ``hwtools`` extra is absent, or numpy >= 2.4).
"""

import pytest

from rnnaccel.hardware import load_hw
from rnnaccel.hardware.scalesim_check import (
    compare,
    main,
    model_cycles,
    network_gemms,
    scalesim_available,
    scalesim_cycles,
)

WHY = scalesim_available()
needs_scalesim = pytest.mark.skipif(WHY is not None, reason=WHY or "")


def _tpu(rows, cols, acc_rows=4096):
    d = load_hw("tpu").to_dict()
    a = d["tpu"]
    a["array_rows"]["value"], a["array_cols"]["value"] = rows, cols
    a["weight_shift_cycles"]["value"] = rows  # SCALE-Sim shifts a weight tile in one cycle per row
    a["acc_rows_per_pass"]["value"] = acc_rows
    return load_hw(d)


@needs_scalesim
@pytest.mark.parametrize("rows,cols", [(8, 8), (8, 4)])
def test_small_shapes_agree_to_the_cycle(rows, cols):
    shapes = [(5, 20, 12), (30, 8, 8), (1, 17, 9)]  # partial folds in K and N, tall M, one row
    for r in compare(shapes, _tpu(rows, cols)):
        assert r["stall"] == 0, r  # SRAMs large enough: the array never waits
        assert r["diff"] == 1, r


@needs_scalesim
def test_tpu_array_one_recurrent_step():
    """The packaged 256 x 256 table on one digits-BiLSTM recurrent step (M = 2 rows, N = 384, K = 96)."""
    (r,) = compare([(2, 384, 96)], "tpu")
    assert r["scalesim"] == 2 * (2 * 256 + 256 + 2 - 2) - 1
    assert r["diff"] == 1


def test_model_splits_rows_beyond_the_accumulators():
    """Where the model and SCALE-Sim part ways on purpose: more rows than the accumulators hold
    cost one more shift and fill per fold (SCALE-Sim streams any M in one go)."""
    hw = _tpu(8, 8, acc_rows=16)
    assert model_cycles((16, 8, 8), hw) == 8 + 8 + 8 - 2 + 16
    assert model_cycles((17, 8, 8), hw) == 2 * (8 + 8 + 8 - 2) + 17


def test_bad_shapes_refused():
    with pytest.raises(ValueError, match="three ints"):
        model_cycles((0, 8, 8))
    with pytest.raises(ValueError, match="three ints"):
        scalesim_cycles([(4, 8)], 8, 8)


def test_network_gemms_cover_projection_chunk_and_recurrence():
    g = dict(network_gemms(batch=2, chunk=16))
    assert g["digits BiLSTM 2x96 L0 proj"] == (32, 384, 160)
    assert g["digits BiLSTM 2x96 L0 rec"] == (2, 384, 96)
    assert g["LSTM 1024 L0 proj"] == (32, 4096, 1024)


def test_command_refuses_a_non_tpu_table(capsys):
    assert main(["--hw", "epur"]) == 2
    assert "tpu table" in capsys.readouterr().err
