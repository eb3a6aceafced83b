"""rnnaccel.apps.bnn_correlation: ranks, correlations, sample pairing, the CLI on a tiny random model."""

import json

import numpy as np
import pytest

from rnnaccel.apps import bnn_correlation as bc


def test_rankdata_averages_ties_and_spearman_is_rank_pearson():
    a = np.array([3.0, 1.0, 3.0, 2.0, 3.0])
    assert bc.rankdata(a).tolist() == [4.0, 1.0, 4.0, 2.0, 4.0]
    x = np.random.default_rng(0).normal(size=200)
    assert bc.spearman(x, np.exp(x)) == pytest.approx(1.0)
    assert bc.pearson(x, -2 * x + 1) == pytest.approx(-1.0)
    assert np.isnan(bc.pearson(x, np.zeros_like(x)))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_collect_pairs_consecutive_active_steps(cell):
    rnn, x, lengths = bc.random_case(cell, B=3, T=9, D=4, H=5)
    s = bc.collect(rnn, x, lengths)
    GH = (4 if cell == "lstm" else 3) * 5
    assert sorted(s) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    for v in s.values():
        assert len(v["da"]) == int((lengths - 1).sum()) * GH and len(v["b"]) == int(lengths.sum()) * GH
        assert np.all(np.isfinite(v["rel_db"])) and np.all(v["db"] % 2 == 0)  # b = 2p - N: even steps
    assert rnn.units == []  # the module is left as it was
    capped = bc.collect(rnn, x, lengths, max_points=10)
    assert all(len(v["da"]) == 10 and len(v["z"]) == 10 for v in capped.values())


def test_cli_on_a_tiny_random_model(tmp_path):
    r = bc.main(["--random", "gru", "--out", str(tmp_path)])
    assert (tmp_path / "hexbin.png").stat().st_size > 0
    saved = json.loads((tmp_path / "correlation.json").read_text())
    assert set(saved["correlation"]) == {"L0", "L1", "L0.d0", "L0.d1", "L1.d0", "L1.d1"}
    for v in saved["correlation"].values():
        for pair in ("rel_db~da", "db~da", "b~z"):
            assert -1 <= v[pair]["pearson"] <= 1 and -1 <= v[pair]["spearman"] <= 1
    assert r["correlation"]["L0"]["b~z"]["spearman"] > 0.2  # BNN and true pre-activations agree in sign
