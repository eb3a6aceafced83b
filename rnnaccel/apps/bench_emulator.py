"""Wall-time ratio of the bit-exact 16-bit emulator against float torch.nn.LSTM/GRU on the same shapes.

    python -m rnnaccel.apps.bench_emulator [--repeats 3] [--threads N] [--device cpu|cuda]
        [--backends auto,torch] [--directions concurrent,serial] [--layers pipelined,serial]
        [--cases lstm,bilstm,gru,memo,precision]
        [--steps T] [--json PATH|-]

Both sides run in this process, same threads, same inputs; the ratio (emulated / float) is the
figure of merit (issue 14: <= 2x plain, <= 2.5x with a technique on). The repeats interleave
float and emulated runs (a shared machine's load hits both alike); the best of ``--repeats`` is
used. ``--backends`` runs the emulator once per element-wise backend
(:mod:`rnnaccel.emulator.kernels`: ``auto`` compiled kernels where they serve, ``torch`` the
reference path) so the before/after ratios come from the same run; ``--directions`` likewise runs
bidirectional layers both ways (:func:`rnnaccel.emulator.emulate.set_directions`: ``concurrent``, the
default, or ``serial``) and ``--layers`` unidirectional stacks
(:func:`rnnaccel.emulator.emulate.set_layers`: ``pipelined``, the default, or ``serial``), each
combination a column ``backend[/dirs:MODE][/layers:MODE]``. Rows with a technique compare against the
float module without one (the technique's own work is part of the cost). The header and ``--json``
note the machine's load average at the start and the end (a shared machine's load skews wall times).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time

import torch

from rnnaccel.emulator import GRU, LSTM, DatapathConfig, emulate, kernels
from rnnaccel.emulator.memo import memo_factory
from rnnaccel.emulator.precision import precision_factory
from rnnaccel.errors import RnnaccelError, app_boundary

#: name -> (cell, input, hidden, layers, bidirectional, technique); batch 16 and 200 steps unless --steps
CASES = {
    "lstm": ("lstm", 512, 512, 2, False, None),
    "bilstm": ("lstm", 80, 320, 5, True, None),
    "gru": ("gru", 512, 512, 2, False, None),
    "memo": ("lstm", 512, 512, 2, False, "memo"),
    "precision": ("lstm", 512, 512, 2, False, "precision"),
}
BATCH, STEPS = 16, 200


def _label(key: str, steps: int) -> str:
    cell, d, h, layers, bidir, tech = CASES[key]
    shape = f"{'bi' if bidir else ''}{cell} {layers}x{h} b{BATCH} t{steps}"
    return shape + {None: "", "memo": " memo bnn θ=0.1", "precision": " dyn. precision"}[tech]


def _units(tech: str | None) -> list:
    """The technique's unit factory: BNN memoization at θ = 0.1, or dynamic precision with the
    packaged ladder and a threshold scaled for a random model (tau 0.05, see conf/precision/dynamic.yaml)."""
    if tech == "memo":
        return [memo_factory("bnn", theta=0.1)]
    if tech == "precision":
        return [precision_factory({"mode": "dynamic", "ladder": [16, 8, 4], "tau": 0.05, "thresholds": [0.3, 0.02]})]
    return []


def best_of(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


@contextlib.contextmanager
def _variant(name: str):
    """Run a block on variant ``name`` = ``backend[/dirs:MODE][/layers:MODE]`` (:func:`variants`)."""
    backend, *parts = name.split("/")
    opts = dict(p.split(":", 1) for p in parts)
    old_d = emulate.set_directions(opts["dirs"]) if "dirs" in opts else None
    old_l = emulate.set_layers(opts["layers"]) if "layers" in opts else None
    try:
        with kernels.use(backend):
            yield
    finally:
        if old_d is not None:
            emulate.set_directions(old_d)
        if old_l is not None:
            emulate.set_layers(old_l)


def variants(backends: list[str], directions: list[str], layers: list[str] | None = None) -> list[str]:
    """The measured columns: each backend, times each directions mode and each layers mode; a mode is
    named in the column only when it is not the default or more than one is asked."""
    layers = layers or [emulate.LAYER_MODES[0]]

    def tag(kind: str, modes: list[str], default: str) -> list[str]:
        return [""] if modes == [default] else [f"/{kind}:{m}" for m in modes]

    dt = tag("dirs", directions, emulate.DIRECTION_MODES[0])
    lt = tag("layers", layers, emulate.LAYER_MODES[0])
    return [b + d + lay for b in backends for d in dt for lay in lt]


def measure(key: str, steps: int, repeats: int, dev: torch.device, backends: list[str]) -> dict:
    """Best-of wall times of the float module and of the emulator on each variant (:func:`variants`),
    with the ratios."""
    cell, d, h, layers, bidir, tech = CASES[key]
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    torch.manual_seed(0)
    ref_cls, emu_cls = (torch.nn.LSTM, LSTM) if cell == "lstm" else (torch.nn.GRU, GRU)
    ref = ref_cls(d, h, num_layers=layers, bidirectional=bidir, batch_first=True).to(dev)
    emu = emu_cls.from_torch(ref, mode="emulate", datapath=DatapathConfig()).to(dev)
    emu.units = _units(tech)
    x = torch.randn(BATCH, steps, d, device=dev)
    emu.int_weights()  # weight quantization is offline: not timed

    def run_float():
        with torch.no_grad():
            ref(x)
        sync()

    def run_emul():
        emu(x)
        sync()

    def run_on(b):
        with _variant(b):
            run_emul()

    run_float()
    for b in backends:
        run_on(b)  # warm-up (and compilation on a fresh machine)
    # interleaved repeats: on a shared machine every side sees the same load; best of each
    best = {"float": float("inf"), **{b: float("inf") for b in backends}}
    for _ in range(repeats):
        best["float"] = min(best["float"], best_of(run_float, 1))
        for b in backends:
            best[b] = min(best[b], best_of(lambda b=b: run_on(b), 1))
    row = {"case": _label(key, steps), "key": key, "float_s": best["float"]}
    for b in backends:
        row[f"emul_s[{b}]"], row[f"ratio[{b}]"] = best[b], best[b] / best["float"]
    return row


def _args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=STEPS, help="time steps per sequence (default 200)")
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {', '.join(CASES)}")
    ap.add_argument("--backends", default="auto", help="comma-separated element-wise backends: auto, torch, numba")
    ap.add_argument(
        "--directions", default="concurrent", help="comma-separated modes of bidirectional layers: concurrent, serial"
    )
    ap.add_argument(
        "--layers", default="pipelined", help="comma-separated modes of unidirectional stacks: pipelined, serial"
    )
    ap.add_argument("--json", default=None, help="also write the rows as JSON to this path ('-': stdout)")
    a = ap.parse_args(argv)
    a.cases = [c.strip() for c in a.cases.split(",") if c.strip()]
    a.backends = [b.strip() for b in a.backends.split(",") if b.strip()]
    a.directions = [m.strip() for m in a.directions.split(",") if m.strip()]
    a.layers = [m.strip() for m in a.layers.split(",") if m.strip()]
    bad = [c for c in a.cases if c not in CASES]
    if bad:
        raise RnnaccelError(f"--cases: unknown {', '.join(bad)}; choose from {', '.join(CASES)}")
    for b in a.backends:
        if b not in kernels.BACKENDS:
            raise RnnaccelError(f"--backends: unknown {b!r}; choose from {', '.join(kernels.BACKENDS)}")
    for m in a.directions:
        if m not in emulate.DIRECTION_MODES:
            raise RnnaccelError(f"--directions: unknown {m!r}; choose from {', '.join(emulate.DIRECTION_MODES)}")
    for m in a.layers:
        if m not in emulate.LAYER_MODES:
            raise RnnaccelError(f"--layers: unknown {m!r}; choose from {', '.join(emulate.LAYER_MODES)}")
    if a.repeats < 1 or a.steps < 1:
        raise RnnaccelError("--repeats and --steps must be >= 1")
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        raise RnnaccelError(f"--device {a.device}: no CUDA device is visible to torch; use --device cpu")
    return a


def _table(rows: list[dict], backends: list[str]) -> str:
    width = {b: max(12, len("emul s " + b)) for b in backends}
    head = f"{'case':40s} {'float s':>8s}" + "".join(f" {'emul s ' + b:>{width[b]}s} {'ratio':>7s}" for b in backends)
    lines = [head]
    for r in rows:
        cols = "".join(f" {r[f'emul_s[{b}]']:{width[b]}.3f} {r[f'ratio[{b}]']:6.2f}x" for b in backends)
        lines.append(f"{r['case']:40s} {r['float_s']:8.3f}{cols}")
    return "\n".join(lines)


def _load() -> float | None:
    """The 1-minute load average (None where the OS has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:  # pragma: no cover - not on this platform
        return None


def main(argv=None):
    return app_boundary("bench", _main, argv)


def _main(argv):
    a = _args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    load0 = _load()
    head = f"torch {torch.__version__}, device {dev}, threads {torch.get_num_threads()}, numba {kernels.available()}"
    print(f"{head}, load average {load0}", flush=True)
    cols = variants(a.backends, a.directions, a.layers)
    rows = []
    for key in a.cases:
        rows.append(measure(key, a.steps, a.repeats, dev, cols))
        table = _table(rows, cols).splitlines()
        print("\n".join(table if len(rows) == 1 else table[-1:]), flush=True)
    load1 = _load()
    print(f"load average at the end {load1}", flush=True)
    meta = {"torch": torch.__version__, "device": str(dev), "threads": torch.get_num_threads(), "repeats": a.repeats}
    meta["load_average"] = {"start": load0, "end": load1}
    if a.json:
        text = json.dumps({"meta": meta, "rows": rows}, indent=1)
        if a.json == "-":
            print(text)
        else:
            with open(a.json, "w") as f:
                f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
