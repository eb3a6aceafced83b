"""PTQ: chosen formats cover the observed ranges with the most fractional bits, and are valid."""

import pytest
import torch


from rnnaccel.emulator import Fmt
from rnnaccel.models import SpeechModelConfig, SpeechRecognizer, best_format, calibrate


def top(f: Fmt) -> float:
    """Largest real value of a format."""
    return f.qmax / 2.0**f.frac


@pytest.mark.parametrize(
    "v,bits,frac",
    [
        (0.5, 16, 15),
        (0.9999, 16, 15),
        (1.0, 16, 14),
        (3.9, 16, 13),
        (4.0, 16, 12),
        (1000.0, 16, 5),
        (1e9, 16, 0),
        (0.0, 8, 7),
        (1.5, 8, 6),
    ],
)
def test_best_format(v, bits, frac):
    assert best_format(v, bits) == Fmt(bits, frac)


def test_margin_widens():
    assert best_format(1.9, 16, margin=0.0) == Fmt(16, 14)
    assert best_format(1.9, 16, margin=0.1) == Fmt(16, 13)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_calibrated_formats_cover_observed_ranges(cell):
    torch.manual_seed(0)
    m = SpeechRecognizer(SpeechModelConfig(n_feats=4, stack=1, stride=1, hidden_size=10, num_layers=2, cell=cell))
    with torch.no_grad():
        m.rnn.weight_hh_l0.mul_(6.0)  # large weights and pre-activations
        m.rnn.bias_ih_l0.add_(1.5)
    batches = [(torch.randn(3, 12, 4) * 5, torch.tensor([12, 9, 3])) for _ in range(2)]
    cfgs, stats = calibrate(m, batches, bits=16)
    assert len(cfgs) == 2
    for c, st in zip(cfgs, stats):
        for cls in ("weight", "bias", "input", "cell", "preact"):
            if cls == "cell" and cell == "gru":
                continue
            fmt = getattr(c, cls)
            assert fmt.bits == 16 and st.max_abs[cls] > 0
            assert top(fmt) >= st.max_abs[cls]  # covers
            if fmt.frac < 15 and not (cls in ("bias", "preact") and fmt.frac == c.acc_frac):
                assert top(Fmt(16, fmt.frac + 1)) < st.max_abs[cls]  # and is the tightest
        assert c.bias.frac <= c.acc_frac and c.preact.frac <= c.acc_frac
        assert c.hidden == Fmt(16, 15) and c.act == Fmt(16, 15)
    assert stats[0].max_abs["input"] > 5  # layer 0 sees the scaled features
    assert stats[1].max_abs["input"] < 1  # layer 1 sees hidden states
    # the emulator runs the calibrated model without saturating on the calibration data
    m.set_datapath(cfgs).set_mode("emulate").eval()
    for x, n in batches:
        r = m.rnn.emulate(x, n)
        assert sum(r.saturations.values()) == 0


def test_merged_lstm_bias_range():
    torch.manual_seed(0)
    m = SpeechRecognizer(
        SpeechModelConfig(n_feats=2, stack=1, stride=1, hidden_size=3, num_layers=1, bidirectional=False)
    )
    with torch.no_grad():
        m.rnn.bias_ih_l0.fill_(1.5)
        m.rnn.bias_hh_l0.fill_(1.5)  # merged 3.0 -> Q16.13
    _, stats = calibrate(m, [(torch.zeros(1, 2, 2), torch.tensor([2]))])
    assert stats[0].max_abs["bias"] == pytest.approx(3.0)


def test_accumulator_too_narrow_is_refused():
    from rnnaccel.emulator import DatapathConfig
    from rnnaccel.models import RangeStats, formats_from_ranges

    st = RangeStats()
    st.max_abs.update(weight=0.5, bias=0.5, input=0.5, cell=1.0, preact=3.0)
    assert formats_from_ranges([st], base=DatapathConfig())[0].acc_frac == 30
    with pytest.raises(ValueError, match="acc_bits"):
        formats_from_ranges([st], base=DatapathConfig(acc_bits=32))  # holds only ±2
