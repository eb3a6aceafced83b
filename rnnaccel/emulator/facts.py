"""What happened at each step of one (layer, direction), and the one place that counts it.

The datapath and the technique units never write trace counters for the work of the datapath.
They state *facts* into a :class:`DirectionFacts`:

- ``computed[t, b]``: gate neurons (= weight rows) sequence ``b`` computed at step ``t``
  (``G*H`` for a running sequence; memoization lowers it with :meth:`DirectionFacts.skip_neurons`);
- ``rows_read[t]``: weight rows the batch step read (a row is read when any running sequence
  computes its neuron);
- ``widths[p]``: ``(w, x, h)`` bit widths of the weights and of the two GEMM operands each sequence
  used in pass ``p`` of the step (pass 0 the computation, pass 1 a re-execution; 0 = did not run);
  dynamic precision sets them with :meth:`DirectionFacts.set_widths`;
- ``act_skipped``: activation-unit evaluations a reused output made unnecessary;
- ``weight_read``: how rows read at several widths in one step are counted (``widest`` or ``each``);
- ``P``: the LSTM's projection size (0: none). A projecting step also multiplies the ``H`` unprojected
  outputs by ``W_hr`` (``P`` rows): ``P*H`` MACs at the stored widths (weight x hidden), ``P*H``
  more weights read, ``H`` more hidden-format operands; ``proj.mac`` names those MACs (they are
  inside ``mac.*`` too) so a cost model without a rule for projections can refuse the trace.

:func:`layer_counters` turns the facts into every base counter of
:mod:`rnnaccel.emulator.trace` (``active``, ``mac.*``, ``weight_bytes``, ``seq_weight_bytes``,
``memo.weight_bytes_skipped``, ``act_bytes``, ``act.*``, ``eltwise.*``). Techniques compose by
construction: memoization says which neurons were not computed, precision says at which width each
sequence ran, and the counts multiply the two. A new technique states its facts and its own
``<prefix>.*`` counters (predictor work) and touches nothing else. No count is ever negative.
"""

from __future__ import annotations

import numpy as np

from .config import DatapathConfig
from .gates import GATES, SIGMOID_GATES

__all__ = ["DirectionFacts", "layer_counters", "BASE_COUNTERS", "PASSES"]

PASSES = ("compute", "reexec")  # pass 0: the step's computation; pass 1: a re-execution of it
#: counter names (or ``mac.`` prefix) derived from facts; a unit may not publish them itself
BASE_COUNTERS = (
    "active",
    "weight_bytes",
    "seq_weight_bytes",
    "memo.weight_bytes_skipped",
    "act_bytes",
    "act.sigmoid",
    "act.tanh",
    "eltwise.mul",
    "eltwise.add",
    "eltwise.max",
    "proj.mac",
)
#: element-wise operations per hidden unit and sequence (docs/datapath.md §5/§6)
#: Elman RNN: no element-wise arithmetic (the bias is merged, the sum is the GEMM's); relu is one
#: comparison per unit (``eltwise.max``)
ELTWISE = {
    "lstm": {"eltwise.mul": 3, "eltwise.add": 5},
    "gru": {"eltwise.mul": 3, "eltwise.add": 6},
    "rnn_tanh": {},
    "rnn_relu": {"eltwise.max": 1},
}


class DirectionFacts:
    """Per-step facts of one direction over ``B`` length-sorted rows (running rows are ``[:n_t]``).

    Built by the datapath with every running sequence computing every neuron at the stored widths
    (the plain datapath); units change the facts through the methods below.
    """

    def __init__(
        self, cell: str, cfg: DatapathConfig, input_size: int, hidden: int, batch_sizes, rows: int = 0, proj: int = 0
    ):
        n = np.asarray(batch_sizes, dtype=np.int64).reshape(-1)
        T, B = len(n), max(int(rows), int(n.max()) if len(n) else 0)
        self.cell, self.D, self.H, self.G = cell, input_size, hidden, GATES[cell]
        self.P, self.R = proj, proj or hidden  # projection size; width of the recurrent h
        self.GH, self.T, self.B = self.G * hidden, T, B
        self.n = n
        self.alive = np.arange(B)[None, :] < n[:, None]  # (T, B)
        self.bias_bits = (self.GH + (hidden if cell == "gru" else 0)) * cfg.bias.bits  # GRU: b_hn too
        self.computed = np.where(self.alive, self.GH, 0).astype(np.int64)
        self.rows_read = np.where(n > 0, self.GH, 0).astype(np.int64)
        self.skips_rows = False  # a unit reported neurons not computed
        stored = (cfg.weight.bits, cfg.input.bits, cfg.hidden.bits)
        self.widths = [tuple(np.where(self.alive, b, 0).astype(np.int64) for b in stored)]
        self.act_skipped = {"sigmoid": np.zeros(T, np.int64), "tanh": np.zeros(T, np.int64)}
        self.weight_read = "widest"

    # ------------------------------------------------------------------ what units report
    def skip_neurons(self, t: int, reuse) -> None:
        """``reuse`` (n, k) bool: neurons of ``k`` gate columns the running rows did not compute."""
        reuse = np.asarray(reuse.cpu() if hasattr(reuse, "cpu") else reuse, dtype=bool)
        n = reuse.shape[0]
        self.computed[t, :n] -= reuse.sum(axis=1)
        self.rows_read[t] -= int(reuse.all(axis=0).sum()) if n else 0
        self.skips_rows = True

    def skip_neuron_counts(self, t: int, per_row: np.ndarray, whole_columns: int) -> None:
        """:meth:`skip_neurons` from its two sums: ``per_row`` (n,) neurons each running row did not
        compute, ``whole_columns`` gate columns no running row computed (their weight rows unread)."""
        self.computed[t, : len(per_row)] -= per_row
        self.rows_read[t] -= int(whole_columns)
        self.skips_rows = True

    def skip_activations(self, t: int, sigmoid: int, tanh: int) -> None:
        """Activation-unit evaluations not performed at step ``t`` (a reused output stood in)."""
        self.act_skipped["sigmoid"][t] += sigmoid
        self.act_skipped["tanh"][t] += tanh

    def set_widths(self, t: int, rows, w, x, h, pass_: int = 0) -> None:
        """Sequences ``rows`` (indices) ran pass ``pass_`` of step ``t`` with weights of ``w`` bits and
        operands of ``x`` (input) and ``h`` (hidden) bits (scalars or one value per row)."""
        while len(self.widths) <= pass_:
            self.widths.append(tuple(np.zeros((self.T, self.B), np.int64) for _ in range(3)))
        for arr, v in zip(self.widths[pass_], (w, x, h)):
            arr[t, rows] = v


# ---------------------------------------------------------------------- facts -> counters
def layer_counters(f: DirectionFacts) -> dict[str, np.ndarray]:
    """Every base counter of one direction per step, from its facts (docs in trace.py)."""
    c: dict[str, np.ndarray] = {"active": f.n.copy()}
    c.update(_macs(f))
    c.update(_weight_bytes(f))
    c["act_bytes"] = _act_bytes(f)
    c.update(_vector_ops(f))
    if f.P:
        c["proj.mac"] = f.n * f.P * f.H
    return c


def _macs(f: DirectionFacts) -> dict[str, np.ndarray]:
    """``mac.<w>x<a>``: each computed neuron does D MACs with the input and R with the recurrent
    state, at its sequence's widths of pass 0 (a re-execution's MACs are its technique's own
    counter); a projection adds P*H per running sequence at the weight x hidden widths."""
    w, x, h = f.widths[0]
    out: dict[str, np.ndarray] = {}
    parts = [(x, f.D, f.computed), (h, f.R, f.computed)]
    if f.P:
        parts.append((h, f.H, np.where(f.alive, f.P, 0)))
    for operand, length, rows in parts:
        for wb, ab in sorted({(int(a), int(b)) for a, b in zip(w[f.alive], operand[f.alive])}, reverse=True):
            sel = f.alive & (w == wb) & (operand == ab)
            key = f"mac.{wb}x{ab}"
            out[key] = out.get(key, 0) + (np.where(sel, rows, 0) * length).sum(axis=1)
    return out


def _read_width(ws: list[np.ndarray], rule: str, axis) -> np.ndarray:
    """Bits per weight element a read costs when rows are needed at the widths ``ws`` (0 = none):
    ``widest`` one read of the widest width (the narrower ones are its most significant bits),
    ``each`` one read per distinct width."""
    stack = np.stack(ws)
    if rule == "widest":
        return stack.max(axis=axis)
    vals = [int(v) for v in np.unique(stack) if v > 0]
    return sum(v * (stack == v).any(axis=axis) for v in vals) if vals else np.zeros(stack.shape[1:], np.int64)


def _weight_bytes(f: DirectionFacts) -> dict[str, np.ndarray]:
    """``weight_bytes`` (the batch step's reads), ``seq_weight_bytes`` (each running sequence's step
    as if it ran alone) and, when neurons were skipped, ``memo.weight_bytes_skipped``."""
    N, active, PH = f.D + f.R, (f.n > 0).astype(np.int64), f.P * f.H  # PH: projection weights
    ws = [p[0] for p in f.widths]
    # batch: the widths any running sequence used in any pass, over the rows any of them computed
    per_step = _read_width(ws, f.weight_read, axis=(0, 2)) if f.B else np.zeros(f.T, np.int64)
    wbytes = active * _ceil8((f.rows_read * N + PH) * per_step + f.bias_bits)
    # one sequence: its own rows at its own widths, biases included
    per_seq = _read_width(ws, f.weight_read, axis=0)
    seq = np.where(f.alive, _ceil8((f.computed * N + PH) * per_seq + f.bias_bits), 0).sum(axis=1)
    out = {"weight_bytes": wbytes, "seq_weight_bytes": seq}
    if f.skips_rows:  # what the same step would have read with every row, at the same widths
        out["memo.weight_bytes_skipped"] = active * _ceil8((f.GH * N + PH) * per_step + f.bias_bits) - wbytes
    return out


def _act_bytes(f: DirectionFacts) -> np.ndarray:
    """GEMM operand bytes (x_t, h_{t-1} and a projection's H unprojected outputs) of every sequence
    and pass, at the widths used."""
    tot = np.zeros(f.T, np.int64)
    extra = f.H if f.P else 0
    for w, x, h in f.widths:
        ran = (w > 0) & (x > 0)
        tot += np.where(ran, _ceil8(f.D * x + (f.R + extra) * h), 0).sum(axis=1)
    return tot


def _vector_ops(f: DirectionFacts) -> dict[str, np.ndarray]:
    """Activation-unit evaluations (one per gate neuron, plus tanh(c) for the LSTM) less those a
    reused output made unnecessary; element-wise operations of the state update."""
    n, H, s = f.n, f.H, SIGMOID_GATES[f.cell]
    tanh_per_row = 0 if f.cell == "rnn_relu" else (f.G - s) * H + (H if f.cell == "lstm" else 0)
    out = {"act.sigmoid": n * s * H - f.act_skipped["sigmoid"], "act.tanh": n * tanh_per_row - f.act_skipped["tanh"]}
    out.update({k: n * v * H for k, v in ELTWISE[f.cell].items()})
    return out


def _ceil8(bits) -> np.ndarray:
    return (np.asarray(bits, dtype=np.int64) + 7) // 8
