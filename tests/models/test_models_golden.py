"""The shipped digits checkpoint on the first 20 test utterances reproduces the stored golden result.

Emulated hypotheses, WER/CER, saturations and trace totals must match exactly (integer datapath);
the float run's hypotheses and WER too. Regenerate deliberately with
``.venv/bin/python tests/models/test_models_golden.py`` (after shipping a new checkpoint).
"""
import json
import sys
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[2]
CKPT = ROOT / "checkpoints" / "digits_blstm.pt"
GOLDEN = Path(__file__).parent / "golden" / "digits_blstm_test20.json"
N = 20


def compute() -> dict:
    from rnnaccel.apps.data import checkpoint_data, load_split
    from rnnaccel.apps.evaluate import cost_summary, saturations, score
    from rnnaccel.emulator import Trace
    from rnnaccel.models import load_model

    model, vocab, ck = load_model(CKPT)
    data = checkpoint_data(ck, num_test=N, cache_dir=None)
    ds = load_split(data, "test")
    out = {"checkpoint": CKPT.name, "utterances": N, "references": ds.transcripts}
    f = score(model, ds, vocab, "float", batch_size=10)
    out["float"] = {k: f[k] for k in ("wer", "cer", "hypotheses")}
    trace = Trace()
    e = score(model, ds, vocab, "emulate", batch_size=10, trace=trace)
    out["emulate"] = {**{k: e[k] for k in ("wer", "cer", "hypotheses")},
                      "saturations": saturations(model, trace), "trace_totals": trace.totals()}
    out["cost_epur"] = cost_summary(trace, "epur")
    return out


def _available() -> bool:
    try:
        from rnnaccel.datasets import default_data_root
        return (default_data_root() / "fsdd" / "recordings").is_dir() and CKPT.is_file()
    except Exception:
        return False


@pytest.mark.skipif(not _available(), reason="needs the FSDD data and checkpoints/digits_blstm.pt")
def test_golden_20_utterances():
    want = json.loads(GOLDEN.read_text())
    got = json.loads(json.dumps(compute()))
    assert got["references"] == want["references"]
    assert got["emulate"]["hypotheses"] == want["emulate"]["hypotheses"]
    assert got["emulate"] == want["emulate"]
    assert got["float"] == want["float"]
    for k in ("cycles", "seconds", "total_j"):
        assert got["cost_epur"][k] == pytest.approx(want["cost_epur"][k], rel=1e-12)


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(compute(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}", file=sys.stderr)
