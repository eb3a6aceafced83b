"""Golden vectors: deterministic bytes, and the reference reproduces them from the NPZ alone."""
import json

import numpy as np
import pytest

from rnnaccel.emulator import DatapathConfig, Fmt
from rnnaccel.emulator.golden import main, write_golden

from . import reference as ref


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_golden_replays_on_reference(tmp_path, cell):
    cfg = DatapathConfig(weight=Fmt(10, 7), input=Fmt(10, 6), hidden=Fmt(12, 11), cell=Fmt(10, 6),
                         preact=Fmt(10, 6), act=Fmt(12, 11), acc_bits=24, act_index_bits=5)
    p = write_golden(tmp_path / "g.npz", cell=cell, input_size=4, hidden_size=5, steps=6, batch=2, seed=1,
                     cfg=cfg, weight_scale=4.0)
    z = np.load(p)
    c = json.loads(str(z["config"]))
    rc = {"fmt": {k: tuple(z[f"fmt_{k}"].tolist()) for k in
                  ("weight", "bias", "input", "hidden", "cell", "preact", "act")},
          "acc_bits": c["acc_bits"], "rounding": c["rounding"], "act_index_bits": c["act_index_bits"],
          "act_interp": c["act_interp"], "seed": c["seed"]}
    assert ref.table("tanh", rc["fmt"]["cell"], rc["fmt"]["act"], 5, True) == z["table_tanh_cell"].tolist()
    W_ih, W_hh = z["w_ih"].tolist(), z["w_hh"].tolist()
    H = W_hh[0].__len__()
    if cell == "lstm":  # NPZ rows are in datapath order [i, f, o, g]; the reference takes PyTorch's
        perm = list(range(2 * H)) + list(range(3 * H, 4 * H)) + list(range(2 * H, 3 * H))
        W_ih, W_hh = [W_ih[r] for r in perm], [W_hh[r] for r in perm]
        bx = [z["b_x"].tolist()[r] for r in perm]
    for b, L in enumerate(z["lengths"].tolist()):
        xs = z["x"][b, :L].tolist()
        if cell == "lstm":
            steps, _ = ref.lstm_sequence(W_ih, W_hh, bx, xs, rc)
            assert [s[1] for s in steps] == z["c"][b, :L].tolist()
        else:
            steps, _ = ref.gru_sequence(W_ih, W_hh, z["b_x"].tolist(), z["b_h"].tolist(), xs, rc)
        assert [s[0] for s in steps] == z["h"][b, :L].tolist()
        assert [s[2] for s in steps] == z["gates"][b, :L].tolist()
        assert (z["h"][b, L:] == 0).all()


def test_golden_cli_is_deterministic(tmp_path, capsys):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    main(["--cell", "gru", "--steps", "5", "--out", str(a)])
    main(["--cell", "gru", "--steps", "5", "--out", str(b)])
    assert a.read_bytes() == b.read_bytes()
    main(["--cell", "gru", "--steps", "5", "--seed", "1", "--out", str(b)])
    assert a.read_bytes() != b.read_bytes()
