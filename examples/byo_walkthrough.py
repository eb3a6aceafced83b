"""Bring your own model: convert, calibrate, evaluate with techniques, price the trace (docs/byo.md).

Two models, both built from plain ``torch.nn`` recurrent modules the project never saw:

(a) torchaudio's Tacotron2 *structure* (``torchaudio.models.Tacotron2``, shrunk sizes, random
    weights): a bidirectional ``nn.LSTM`` encoder and two ``nn.LSTMCell`` in a decoder loop that
    calls them once per output frame. Random weights: the numbers are about the datapath, not
    about speech.
(b) a small GRU encoder-decoder trained here in a few seconds to reverse digit strings (an
    ``nn.GRU`` encoder, an ``nn.GRUCell`` greedy decoder): sequence accuracy is a real task metric.

For each: ``rnnaccel.convert`` (what was replaced, what was not), ``rnnaccel.calibrate`` (16-bit
formats and activation tables from float passes, a decoder loop included), the output error of
bit-exact emulation against float, a technique session (memoization + dynamic precision kept
across the decoder's calls) and the E-PUR energy of the traces (``rnnaccel.hardware.estimate``),
per module. Run::

    .venv/bin/python examples/byo_walkthrough.py          # prints the numbers docs/byo.md quotes

Deterministic (seeds); ``tests/test_docs_byo.py`` runs it so the doc cannot rot.
"""

from __future__ import annotations

import json
import time

import torch
from torch import nn

import rnnaccel
from rnnaccel.emulator import Trace
from rnnaccel.emulator.memo import MemoConfig, memo_factory, memo_stats
from rnnaccel.emulator.precision import PrecisionConfig
from rnnaccel.hardware import estimate

#: illustrative, not tuned: a tenth of the packaged "bnn" starting point. On these small cells it is
#: also the BNN's floor: its outputs move in steps of 2 and |b_m| <= D + H, so every theta below
#: 2 / (D + H) reuses exactly the neurons whose BNN output did not change at all
MEMO = MemoConfig(predictor="bnn", theta=0.01)
#: the oracle (the true change of each output; an upper bound, not a predictor) at the threshold
#: where it reuses about as much of the trained seq2seq as the BNN at MEMO (measured, docs/byo.md)
ORACLE = MemoConfig(predictor="oracle", theta=0.04)
#: dynamic precision between 16 and 8 bits (the packaged "dynamic" also goes to 4 bits)
PRECISION = PrecisionConfig(mode="dynamic", ladder=[16, 8], tau=0.5, thresholds=[0.02])


# ---------------------------------------------------------------------------------- shared steps
def rms(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.detach().double() - b.detach().double()).pow(2).mean().sqrt())


def energy_by_module(trace: Trace, hw: str = "epur") -> dict[str, float]:
    """Joules of ``trace`` on ``hw``, per module (LayerCost keys ``module:L0.d0``) and in total."""
    rep = estimate(trace, hw)
    out: dict[str, float] = {}
    for lc in rep.per_layer:
        name = lc.key.rsplit(":", 1)[0] if ":" in lc.key else ""
        out[name] = out.get(name, 0.0) + float(lc.total_j)
    out["total"] = float(rep.total_j)
    return out


SETTINGS = {"memo": (MEMO, None), "precision": (None, PRECISION), "both": (MEMO, PRECISION)}


def techniques(model: nn.Module, run, score) -> dict:
    """``run()`` in emulate mode in a session without techniques (the dense trace, keyed by module)
    and in one per setting of :data:`SETTINGS` (state kept across the decoder's calls): ``score``
    of each output, reuse per module, the E-PUR energy and its saving against dense, per module."""
    dense = Trace()
    with rnnaccel.session(model, trace=dense, mode="emulate"):
        y_dense = run()
    e_dense = energy_by_module(dense)
    out: dict = {"dense": {"score": score(y_dense), "energy_uj": {k: round(1e6 * v, 3) for k, v in e_dense.items()}}}
    for name, (memo, precision) in SETTINGS.items():
        tr = Trace()
        with rnnaccel.session(model, memo=memo, precision=precision, trace=tr, mode="emulate"):
            y = run()
        e = energy_by_module(tr)
        out[name] = {
            "score": score(y),
            "reuse": {m: round(v["reuse_fraction"], 4) for m, v in memo_stats(tr)["modules"].items()},
            "energy_saving": {k: round(1 - e[k] / e_dense[k], 4) for k in e_dense},
        }
    return out


# ---------------------------------------------------------------------------- (a) Tacotron2
def tacotron2():
    from torchaudio.models import Tacotron2

    torch.manual_seed(0)
    return Tacotron2(
        n_mels=20,
        n_symbol=40,
        symbol_embedding_dim=64,
        encoder_embedding_dim=64,
        encoder_n_convolution=1,
        decoder_rnn_dim=64,
        attention_rnn_dim=64,
        attention_hidden_dim=32,
        attention_location_n_filter=8,
        attention_location_kernel_size=7,
        prenet_dim=32,
        postnet_n_convolution=1,
        postnet_embedding_dim=32,
    ).eval()


def tts_batch(g: torch.Generator, B: int = 2, S: int = 12, F: int = 30):
    tokens = torch.randint(1, 40, (B, S), generator=g)
    mel = 0.5 * torch.randn(B, 20, F, generator=g)
    return tokens, torch.tensor([S, S - 3]), mel, torch.tensor([F, F - 5])


def tts_forward(model, batch):
    """Teacher-forced synthesis: the decoder loop calls both LSTMCells once per mel frame. The
    prenet drops out even in eval mode (Tacotron2's design), so every pass draws the same masks."""
    torch.manual_seed(123)
    return model(*batch)[1]  # the mel spectrogram after the postnet


def part_a() -> dict:
    model = tacotron2()
    model, report = rnnaccel.convert(model)
    print(report)
    g = torch.Generator().manual_seed(1)
    calib, test = [tts_batch(g) for _ in range(2)], tts_batch(g)
    cal = rnnaccel.calibrate(model, calib, forward=tts_forward, bits=16)
    print(cal)
    rnnaccel.set_mode(model, "float")
    t0 = time.perf_counter()
    ref = tts_forward(model, test)
    t_float = time.perf_counter() - t0
    rnnaccel.set_mode(model, "emulate")
    t0 = time.perf_counter()
    emu = tts_forward(model, test)
    t_emu = time.perf_counter() - t0
    tech = techniques(model, lambda: tts_forward(model, test), lambda y: round(rms(y, ref), 6))
    return {
        "converted": [c.name for c in report.converted],
        "not_converted": [(n.name, n.reason) for n in report.not_converted],
        "calibration_rms": {m.name: m.rms_error for m in cal.modules},
        "mel_rms": rms(ref, 0 * ref),
        "emulate_rms_error": rms(emu, ref),
        "emulate_over_float_time": round(t_emu / t_float, 1),
        "techniques (score: mel RMS error vs float)": tech,
    }


# -------------------------------------------------------------------- (b) a trained seq2seq
DIGITS, BOS = 10, 10  # tokens 0-9, BOS = 10
LENGTH = 5


class Reverser(nn.Module):
    """``nn.GRU`` encoder, ``nn.GRUCell`` decoder fed its own previous output (greedy)."""

    def __init__(self, emb: int = 16, hidden: int = 32):
        super().__init__()
        self.embed = nn.Embedding(DIGITS + 1, emb)
        self.encoder = nn.GRU(emb, hidden, batch_first=True)
        self.decoder = nn.GRUCell(emb, hidden)
        self.out = nn.Linear(hidden, DIGITS)

    def forward(self, src: torch.Tensor, tgt: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, LENGTH, DIGITS); ``tgt`` given: teacher forcing, else greedy."""
        _, h = self.encoder(self.embed(src))
        h = h[0]
        prev = torch.full((src.shape[0],), BOS, dtype=torch.long)
        logits = []
        for t in range(LENGTH):
            h = self.decoder(self.embed(prev), h)
            logits.append(self.out(h))
            prev = tgt[:, t] if tgt is not None else logits[-1].argmax(-1)
        return torch.stack(logits, 1)


def digit_batch(g: torch.Generator, n: int):
    src = torch.randint(0, DIGITS, (n, LENGTH), generator=g)
    return src, src.flip(1)


def train_reverser(steps: int = 200) -> Reverser:
    torch.manual_seed(0)
    model, g = Reverser(), torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        src, tgt = digit_batch(g, 64)
        loss = nn.functional.cross_entropy(model(src, tgt).reshape(-1, DIGITS), tgt.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@torch.no_grad()
def accuracy(model: Reverser, src: torch.Tensor, tgt: torch.Tensor) -> tuple[float, torch.Tensor]:
    logits = model(src)
    return float((logits.argmax(-1) == tgt).all(1).float().mean()), logits


def memo_diagnosis(model: nn.Module, run, score) -> dict:
    """Where memoization's error comes from: the BNN at :data:`MEMO` on each module alone, and the
    oracle at :data:`ORACLE` (about the BNN's reuse) on every module: ``score`` and reuse per module."""
    cases = {
        "bnn, encoder only": (MEMO, ["encoder"]),
        "bnn, decoder only": (MEMO, ["decoder"]),
        "oracle, both": (ORACLE, ["encoder", "decoder"]),
    }
    out = {}
    for label, (cfg, names) in cases.items():
        for name in names:
            getattr(model, name).units = [memo_factory(cfg)]
        tr = Trace()
        try:
            with rnnaccel.session(model, trace=tr, mode="emulate"):
                y = run()
        finally:
            for name in names:
                getattr(model, name).units = []
        reuse = {m: round(v["reuse_fraction"], 4) for m, v in memo_stats(tr)["modules"].items()}
        out[label] = {"score": score(y), "reuse": reuse}
    return out


def part_b() -> dict:
    t0 = time.perf_counter()
    model = train_reverser()
    t_train = time.perf_counter() - t0
    g = torch.Generator().manual_seed(7)
    test_src, test_tgt = digit_batch(g, 200)
    acc_float, ref = accuracy(model, test_src, test_tgt)
    model, report = rnnaccel.convert(model)
    print(report)
    calib = [digit_batch(g, 64)[0] for _ in range(2)]
    cal = rnnaccel.calibrate(model, calib, forward=lambda m, src: m(src), bits=16)  # the greedy loop
    print(cal)
    rnnaccel.set_mode(model, "emulate")
    acc_emu, emu = accuracy(model, test_src, test_tgt)
    seq_acc = lambda logits: float((logits.argmax(-1) == test_tgt).all(1).float().mean())
    run = lambda: accuracy(model, test_src, test_tgt)[1]
    tech = techniques(model, run, seq_acc)
    diagnosis = memo_diagnosis(model, run, seq_acc)
    return {
        "train_s": round(t_train, 1),
        "converted": [c.name for c in report.converted],
        "accuracy": {"float": acc_float, "emulate16": acc_emu},
        "emulate_rms_error_logits": rms(emu, ref),
        "techniques (score: sequence accuracy)": tech,
        "memo diagnosis (score: sequence accuracy)": diagnosis,
    }


def main() -> dict:
    torch.set_num_threads(1)  # the same bits and timings on any machine
    out = {"tacotron2": part_a(), "reverser": part_b()}
    print(json.dumps(out, indent=1, default=str))
    return out


if __name__ == "__main__":
    main()
