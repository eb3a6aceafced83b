"""Wall-time ratio of the bit-exact 16-bit emulator against float torch.nn.LSTM on the same shapes.

    python -m rnnaccel.apps.bench_emulator [--repeats 3] [--threads N]

Both sides run in this process, same threads, same inputs; the ratio (emulated / float) is the
figure of merit (target <= 3x, project goal <= 2x). The best of ``--repeats`` runs is used.
"""

from __future__ import annotations

import argparse
import time

import torch

from rnnaccel.emulator import LSTM, DatapathConfig

CASES = [
    # name, input, hidden, layers, bidirectional, batch, steps
    ("lstm 2x512 b16 t200", 512, 512, 2, False, 16, 200),
    ("bilstm 5x320 speech b16 t200", 80, 320, 5, True, 16, 200),
]


def best_of(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    print(f"torch {torch.__version__}, device {dev}, threads {torch.get_num_threads()}")
    print(f"{'case':32s} {'float s':>9s} {'emul s':>9s} {'ratio':>7s}")
    for name, d, h, layers, bidir, b, t in CASES:
        torch.manual_seed(0)
        ref = torch.nn.LSTM(d, h, num_layers=layers, bidirectional=bidir, batch_first=True).to(dev)
        emu = LSTM.from_torch(ref, mode="emulate", datapath=DatapathConfig()).to(dev)
        x = torch.randn(b, t, d, device=dev)
        emu.int_weights()  # weight quantization is offline: not timed

        def run_float(ref=ref, x=x):
            with torch.no_grad():
                ref(x)
            sync()

        def run_emul(emu=emu, x=x):
            emu(x)
            sync()

        run_float(), run_emul()  # warm-up
        tf, te = best_of(run_float, a.repeats), best_of(run_emul, a.repeats)
        print(f"{name:32s} {tf:9.3f} {te:9.3f} {te / tf:7.2f}x")


if __name__ == "__main__":
    main()
