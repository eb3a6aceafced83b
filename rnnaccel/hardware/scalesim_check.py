"""Cross-check of the TPU model's GEMM cycles against SCALE-Sim 3 (``scalesim==3.0.0``, the
``hwtools`` extra).

:func:`scalesim_cycles` writes a GEMM topology, an empty layout and a weight-stationary config
into a temporary directory, runs SCALE-Sim offline there and returns its compute cycles ("Total
Cycles" of ``COMPUTE_REPORT.csv``, i.e. without the DRAM prefetch). The SRAMs are sized so that
nothing stalls: the check is about the array, not SCALE-Sim's memory model. :func:`compare` puts
them beside :func:`rnnaccel.hardware.tpu.ws_gemm_cycles` for the same shapes.

SCALE-Sim 3.0.0 breaks on numpy >= 2.4 (``int(max(arr))``); this module relies on the
``numpy<2.4`` pin of the ``hwtools`` extra and refuses to run on a newer numpy.

``python -m rnnaccel.hardware.scalesim_check [--hw tpu] [--batch 1] [--chunk S]`` prints the
table for the GEMMs of the networks in :data:`NETWORKS`.
"""

from __future__ import annotations

import argparse
import configparser
import csv
import io
import sys
import tempfile
import time
import warnings
from contextlib import redirect_stdout
from pathlib import Path

from .schema import load_hw
from .tpu import projection_chunk_steps, ws_gemm_cycles

__all__ = [
    "NETWORKS",
    "compare",
    "main",
    "model_cycles",
    "network_gemms",
    "scalesim_available",
    "scalesim_cycles",
]

#: (name, cell, [(input_size, hidden_size)] per layer, directions)
NETWORKS = (
    # checkpoints/digits_blstm.pt config: 40 log-mel x 4 stacked frames = 160 inputs, 2 x BiLSTM(96)
    ("digits BiLSTM 2x96", "lstm", [(160, 96), (192, 96)], 2),
    # EESEN-like acoustic model (E-PUR's and the memoization paper's speech benchmark) [R]:
    # 120 inputs (40 filterbanks + deltas), 5 x BiLSTM(320)
    ("BiLSTM 5x320", "lstm", [(120, 320)] + [(640, 320)] * 4, 2),
    # a 1024-wide LSTM (the TPU paper's LSTM class, GNMT-like) [R]
    ("LSTM 1024", "lstm", [(1024, 1024)], 1),
)

GATES = {"lstm": 4, "gru": 3}


def scalesim_available() -> str | None:
    """None when SCALE-Sim can run here, else the one-line reason it cannot."""
    try:
        import numpy
        import scalesim  # noqa: F401
    except ImportError as e:
        return f"scalesim not importable ({e}); install the extra: pip install -e '.[hwtools]'"
    major, minor = (int(x) for x in numpy.__version__.split(".")[:2])
    if (major, minor) >= (2, 4):
        return f"numpy {numpy.__version__}: SCALE-Sim 3.0.0 needs numpy < 2.4 (pinned in the hwtools extra)"
    return None


def _config(rows: int, cols: int, sram_kb: int) -> configparser.ConfigParser:
    """A weight-stationary SCALE-Sim config (the keys its ``scale_config`` reads), SRAMs large
    enough that the array never waits, bandwidth computed by SCALE-Sim (CALC)."""
    c = configparser.ConfigParser()
    c.optionxform = str  # SCALE-Sim's keys are case-sensitive
    c["general"] = {"run_name": "check"}
    c["run_presets"] = {"InterfaceBandwidth": "CALC", "UseRamulatorTrace": "False"}
    c["architecture_presets"] = {
        "ArrayHeight": str(rows),
        "ArrayWidth": str(cols),
        "ifmapsramszkB": str(sram_kb),
        "filtersramszkB": str(sram_kb),
        "ofmapsramszkB": str(sram_kb),
        "IfmapOffset": "0",
        "FilterOffset": "10000000",
        "OfmapOffset": "20000000",
        "Dataflow": "ws",
        "ReadRequestBuffer": "32",
        "WriteRequestBuffer": "32",
    }
    c["layout"] = {
        "IfmapCustomLayout": "False",
        "FilterCustomLayout": "False",
        "IfmapSRAMBankBandwidth": "10",
        "IfmapSRAMBankNum": "10",
        "IfmapSRAMBankPort": "2",
        "FilterSRAMBankBandwidth": "10",
        "FilterSRAMBankNum": "10",
        "FilterSRAMBankPort": "2",
    }
    c["sparsity"] = {
        "SparsitySupport": "false",
        "SparseRep": "ellpack_block",
        "OptimizedMapping": "false",
        "BlockSize": "8",
        "RandomNumberGeneratorSeed": "40",
    }
    return c


def _check_shape(shape) -> tuple[int, int, int]:
    if len(shape) != 3 or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in shape):
        raise ValueError(f"GEMM shape must be three ints (M, N, K) >= 1, got {shape!r}")
    return tuple(shape)


def scalesim_cycles(shapes, rows: int, cols: int, sram_kb: int = 16384) -> list[dict]:
    """SCALE-Sim 3 weight-stationary cycles of each ``(M, N, K)`` GEMM on a ``rows x cols``
    array: ``[{"cycles", "stall_cycles", "cycles_with_prefetch"}]`` in order. One SCALE-Sim run
    for all shapes, in a temporary directory."""
    why = scalesim_available()
    if why:
        raise RuntimeError(why)
    shapes = [_check_shape(s) for s in shapes]
    from scalesim.scale_sim import scalesim

    with tempfile.TemporaryDirectory(prefix="rnnaccel_scalesim_") as tmp:
        d = Path(tmp)
        with open(d / "scale.cfg", "w") as f:
            _config(rows, cols, sram_kb).write(f)
        topo = "Layer, M, N, K,\n" + "".join(f"g{i}, {m}, {n}, {k},\n" for i, (m, n, k) in enumerate(shapes))
        (d / "topo.csv").write_text(topo)
        (d / "layout.csv").write_text(
            "Layer, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
        )
        log = io.StringIO()
        try:
            with redirect_stdout(log), warnings.catch_warnings():
                # numpy 2.3 deprecates its int(max(array)); numpy 2.4 makes it an error (see above)
                warnings.filterwarnings("ignore", category=DeprecationWarning, module="scalesim")
                sim = scalesim(
                    save_disk_space=True,
                    verbose=False,
                    config=str(d / "scale.cfg"),
                    topology=str(d / "topo.csv"),
                    layout=str(d / "layout.csv"),
                    input_type_gemm=True,
                )
                sim.run_scale(top_path=str(d / "out"))
        except SystemExit:
            raise RuntimeError(f"SCALE-Sim exited: {log.getvalue().strip()[-300:]}") from None
        with open(d / "out" / "check" / "COMPUTE_REPORT.csv") as f:
            table = list(csv.DictReader(f, skipinitialspace=True))
    return [
        {
            "cycles": int(r["Total Cycles"]),
            "stall_cycles": int(r["Stall Cycles"]),
            "cycles_with_prefetch": int(r["Total Cycles (incl. prefetch)"]),
        }
        for r in table
    ]


def model_cycles(shape, hw="tpu") -> float:
    """Compute cycles of the TPU model for one ``(M, N, K)`` GEMM at native width (8 x 8 bit on
    a TPU v1), the array and accumulator depth of price table ``hw``."""
    M, N, K = _check_shape(shape)
    a = load_hw(hw).arch
    return float(
        ws_gemm_cycles(
            M, N, K, a.array_rows.value, a.array_cols.value, a.weight_shift_cycles.value, a.acc_rows_per_pass.value
        )
    )


def compare(shapes, hw="tpu", names=None) -> list[dict]:
    """Both cycle counts per shape: ``{name, M, N, K, scalesim, model, diff, ratio, stall}``.
    ``diff = model - scalesim`` (1 when they agree: SCALE-Sim reports one cycle less per GEMM)."""
    a = load_hw(hw).arch
    shapes = [_check_shape(s) for s in shapes]
    ref = scalesim_cycles(shapes, a.array_rows.value, a.array_cols.value)
    out = []
    for i, (s, r) in enumerate(zip(shapes, ref)):
        m = model_cycles(s, hw)
        out.append(
            {
                "name": names[i] if names else f"g{i}",
                "M": s[0],
                "N": s[1],
                "K": s[2],
                "scalesim": r["cycles"],
                "model": m,
                "diff": m - r["cycles"],
                "ratio": m / r["cycles"],
                "stall": r["stall_cycles"],
            }
        )
    return out


def network_gemms(batch: int, chunk: int) -> list[tuple[str, tuple[int, int, int]]]:
    """The distinct GEMMs of :data:`NETWORKS` for ``batch`` sequences: the input projection of a
    chunk (``M = batch * chunk``, ``K = D``) and one recurrent step (``M = batch``, ``K = H``)."""
    out, seen = [], set()
    for name, cell, layers, _dirs in NETWORKS:
        for i, (D, H) in enumerate(layers):
            N = GATES[cell] * H
            for kind, shape in (("proj", (batch * chunk, N, D)), ("rec", (batch, N, H))):
                if (name, shape) not in seen:
                    seen.add((name, shape))
                    out.append((f"{name} L{i} {kind}", shape))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m rnnaccel.hardware.scalesim_check",
        description="TPU model GEMM cycles vs SCALE-Sim 3 (weight-stationary)",
    )
    p.add_argument("--hw", default="tpu", help="price table (kind tpu); default tpu")
    p.add_argument("--batch", type=int, default=1, help="sequences at once (default 1)")
    p.add_argument(
        "--chunk",
        type=int,
        default=None,
        help="projection chunk in steps (default: the table's projection_chunk_steps)",
    )
    args = p.parse_args(argv)
    try:
        hw = load_hw(args.hw)
        if hw.kind != "tpu":
            raise ValueError(f"--hw {args.hw} is a {hw.kind} table; the check needs a tpu table")
        chunk = projection_chunk_steps(hw.arch) if args.chunk is None else args.chunk
        if args.batch < 1 or chunk < 1:
            raise ValueError(f"--batch and --chunk must be >= 1, got {args.batch} and {chunk}")
        why = scalesim_available()
        if why:
            raise RuntimeError(why)
    except (ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    named = network_gemms(args.batch, chunk)
    t0 = time.perf_counter()
    rows = compare([s for _, s in named], hw, [n for n, _ in named])
    a = hw.arch
    print(
        f"{hw.name}: {a.array_rows.value} x {a.array_cols.value} weight-stationary, batch {args.batch}, "
        f"projection chunk {chunk} steps; SCALE-Sim 3 in {time.perf_counter() - t0:.1f} s"
    )
    print("| GEMM | M | N | K | SCALE-Sim | model | model - SCALE-Sim | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['name']} | {r['M']} | {r['N']} | {r['K']} | {r['scalesim']:,} | {r['model']:,.0f} | "
            f"{r['diff']:+,.0f} | {r['ratio']:.4f} |" + (f" stall {r['stall']}" if r["stall"] else "")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
