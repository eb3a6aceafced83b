"""Every element-wise backend (rnnaccel.emulator.kernels) and device gives the same bits.

The compiled kernels (numba) and the torch reference path are selected explicitly; outputs, final
states, saturation totals and every trace counter must be identical, for every cell, rounding
mode, bidirectional and variable-length batches, projections, with saturations forced, and with
memoization and dynamic precision on. The stored golden files are regenerated on each backend.
On a CUDA device the emulator must reproduce the CPU's bits (skipped, with the reason, without one).
"""

import contextlib
import threading

import numpy as np
import pytest
import torch

from rnnaccel.emulator import emulate
from rnnaccel.emulator import GRU, LSTM, RNN, DatapathConfig, Fmt, Trace, kernels
from rnnaccel.emulator.memo import memo_factory
from rnnaccel.emulator.precision import precision_factory

from .test_golden import MANIFEST
from .test_golden import test_stored_golden_file_is_regenerated_bit_exact as _regenerate

needs_numba = pytest.mark.skipif(not kernels.available(), reason="numba is not installed (pip install numba)")
NARROW = dict(hidden=Fmt(8, 8), cell=Fmt(8, 6), preact=Fmt(8, 5), act=Fmt(8, 7), acc_bits=28)


def _module(cell, bidir=False, proj=0, layers=2, D=7, H=6, seed=0, cfg=None):
    torch.manual_seed(seed)
    kw = dict(num_layers=layers, bidirectional=bidir, batch_first=True)
    if cell == "lstm":
        ref = torch.nn.LSTM(D, H, proj_size=proj, **kw)
        cls = LSTM
    elif cell == "gru":
        ref, cls = torch.nn.GRU(D, H, **kw), GRU
    else:
        ref, cls = torch.nn.RNN(D, H, nonlinearity=cell.split("_")[1], **kw), RNN
    with torch.no_grad():
        for p in ref.parameters():
            p.mul_(3.0)  # large weights: saturations on every class with the narrow formats
    return cls.from_torch(ref, mode="emulate", datapath=DatapathConfig(**(cfg or {})))


def _run(m, backend, x, lengths):
    trace = Trace()
    with kernels.use(backend):
        out, _ = m(x, lengths=lengths, trace=trace)
        res = m.emulate(x, lengths=lengths)
    return out, res, trace


def _assert_same(a, b):
    (oa, ra, ta), (ob, rb, tb) = a, b
    assert torch.equal(oa, ob)
    assert torch.equal(ra.output, rb.output) and torch.equal(ra.h_n, rb.h_n)
    assert (ra.c_n is None) == (rb.c_n is None) and (ra.c_n is None or torch.equal(ra.c_n, rb.c_n))
    assert ra.saturations == rb.saturations
    assert [lt.key for lt in ta] == [lt.key for lt in tb]
    for la, lb in zip(ta, tb):
        assert sorted(la.counters) == sorted(lb.counters)
        for k in la.counters:
            np.testing.assert_array_equal(la.counters[k], lb.counters[k], err_msg=f"{la.key} {k}")


def _batch(D=7, B=5, T=9, scale=2.0):
    g = torch.Generator().manual_seed(1)
    return torch.randn(B, T, D, generator=g) * scale, torch.tensor([9, 3, 9, 1, 6])


CELLS = [("lstm", 0), ("lstm", 4), ("gru", 0), ("rnn_tanh", 0), ("rnn_relu", 0)]
ROUNDINGS = ["nearest_even", "floor", "nearest_away", "stochastic"]


@needs_numba
@pytest.mark.parametrize("cell,proj", CELLS)
@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_backends_same_bits_and_counts(cell, proj, rounding):
    m = _module(cell, bidir=True, proj=proj, cfg=dict(NARROW, rounding=rounding))
    x, lengths = _batch()
    ref, fast = _run(m, "torch", x, lengths), _run(m, "numba", x, lengths)
    _assert_same(ref, fast)
    sats = ref[1].saturations
    assert sats["acc"] > 0 and sats["preact"] > 0 and sats["hidden"] > 0  # the clamps are exercised
    if cell == "lstm":
        assert sats["cell"] > 0


@needs_numba
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize(
    "units",
    [
        lambda: [memo_factory("bnn", theta=0.3)],
        lambda: [memo_factory("oracle", theta=0.3, cache="preact")],
        lambda: [precision_factory({"mode": "dynamic", "ladder": [16, 8, 4], "tau": 0.05, "thresholds": [0.3, 0.02]})],
        lambda: [memo_factory("bnn", theta=0.3), precision_factory("reexec")],
    ],
    ids=["memo-bnn", "memo-oracle-preact", "precision-dynamic", "memo+reexec"],
)
def test_backends_same_bits_with_techniques(cell, units):
    m = _module(cell, bidir=True, layers=2, H=8)
    x, lengths = _batch()
    m.units = units()
    _assert_same(_run(m, "torch", x, lengths), _run(m, "numba", x, lengths))


@needs_numba
def test_memo_bnn_packed_and_int8_signs_equal_float_gemm(monkeypatch):
    """The BNN's recurrent part by XOR/popcount of packed sign bits (compiled kernels), as an int8 GEMM
    of signs (torch path) and as the float32 GEMM (no int8) give the same integers: the whole run
    matches. H = 70: a partly filled second 64-bit word."""
    m = _module("lstm", H=70)
    m.units = [memo_factory("bnn", theta=0.3)]
    x, lengths = _batch()
    packed = _run(m, "auto", x, lengths)
    int8 = _run(m, "torch", x, lengths)
    import rnnaccel.emulator.memo.unit as memo_unit

    monkeypatch.setattr(memo_unit, "int8_available", lambda dev: False)
    _assert_same(packed, int8)
    _assert_same(packed, _run(m, "torch", x, lengths))
    assert packed[2].totals()["memo.reused"] > 0  # the decisions were exercised


@needs_numba
@pytest.mark.parametrize("sign_zero", [1, -1])
@pytest.mark.parametrize("K", [1, 63, 64, 65, 200])
def test_bnn_packed_kernel_equals_sign_products(K, sign_zero):
    from rnnaccel.emulator.memo.rule import bnn_dot, sign_pm1

    g = torch.Generator().manual_seed(K)
    a = torch.randint(-2, 3, (5, K), generator=g).double()  # zeros included: they take sign_zero
    b = torch.randint(-2, 3, (9, K), generator=g).double()
    out = np.empty((5, 9), np.int64)
    kernels.bnn_packed(kernels.packed_signs(a, sign_zero), kernels.packed_signs(b, sign_zero).T.copy(), K, out)
    want = bnn_dot(sign_pm1(a, sign_zero), sign_pm1(b, sign_zero))
    np.testing.assert_array_equal(out, want.numpy())


@needs_numba
def test_kernels_serve_where_documented():
    from rnnaccel.emulator.datapath import _act_units

    dev = torch.device("cpu")
    for cell in ("lstm", "gru", "rnn_tanh"):
        cfg = DatapathConfig()
        with kernels.use("auto"):
            assert kernels.for_direction(cell, cfg, _act_units(cell, cfg, 0, 4), 4, dev) is not None
        with kernels.use("torch"):
            assert kernels.for_direction(cell, cfg, _act_units(cell, cfg, 0, 4), 4, dev) is None
    stoch = DatapathConfig(rounding="stochastic")
    assert kernels.for_direction("lstm", stoch, _act_units("lstm", stoch, 0, 4), 4, dev) is None


def test_backend_choice_is_checked():
    with pytest.raises(ValueError, match="unknown"):
        with kernels.use("fast"):
            pass
    before = kernels.backend()
    with kernels.use("torch"):
        assert kernels.backend() == "torch"
    assert kernels.backend() == before


@pytest.mark.parametrize("backend", ["torch", pytest.param("numba", marks=needs_numba)])
@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_golden_files_on_each_backend(tmp_path, name, backend):
    with kernels.use(backend):
        _regenerate(tmp_path, name)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: the CPU/GPU bit identity needs a GPU")
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("tech", [None, "memo", "precision"])
def test_cuda_same_bits_as_cpu(cell, tech):
    m = _module(cell, bidir=True, H=16, D=12)
    x, lengths = _batch(D=12)
    if tech == "memo":
        m.units = [memo_factory("bnn", theta=0.2)]
    elif tech == "precision":
        m.units = [precision_factory({"mode": "dynamic", "ladder": [16, 8, 4], "tau": 0.05, "thresholds": [0.3, 0.02]})]
    cpu = _run(m, "auto", x, lengths)
    g = m.to("cuda")
    gpu = _run(g, "auto", x.cuda(), lengths)
    out, res, tr = gpu
    res.output, res.h_n = res.output.cpu(), res.h_n.cpu()
    res.c_n = res.c_n.cpu() if res.c_n is not None else None
    _assert_same(cpu, (out.cpu(), res, tr))


class _ThreadProbe:
    """A factory of no-op step units that record which thread ran each direction (and can fail)."""

    def __init__(self, fail_direction=None):
        self.threads, self.fail = {}, fail_direction

    def __call__(self, layer, direction, cfg):
        from rnnaccel.emulator.hooks import StepUnit

        probe = self

        class Probe(StepUnit):
            def begin(self, ctx):
                super().begin(ctx)
                probe.threads[(layer, direction)] = threading.current_thread().name
                if direction == probe.fail:
                    raise RuntimeError("probe failure")

            def counters(self):
                return {}

        return Probe()


@contextlib.contextmanager
def _mode(setter, mode, threads=2):
    """Run a block with ``setter(mode)`` (``emulate.set_directions`` / ``set_layers``) and ``threads``
    torch threads; both restored afterwards."""
    before_threads, before = torch.get_num_threads(), setter(mode)
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        setter(before)
        torch.set_num_threads(before_threads)


def _directions(mode, threads=2):
    return _mode(emulate.set_directions, mode, threads)


def _layers(mode, threads=2):
    return _mode(emulate.set_layers, mode, threads)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize(
    "units",
    [
        lambda: [],
        lambda: [memo_factory("bnn", theta=0.3), precision_factory("reexec")],
        lambda: [precision_factory({"mode": "dynamic", "ladder": [16, 8, 4], "tau": 0.05, "thresholds": [0.3, 0.02]})],
    ],
    ids=["plain", "memo+reexec", "precision-dynamic"],
)
def test_concurrent_directions_same_bits(cell, units):
    """Both directions of a bidirectional layer at once (each on its own thread) give the serial bits;
    the second direction really ran on the worker thread, and torch's thread count is restored."""
    m = _module(cell, bidir=True, layers=2, H=8, cfg=NARROW)
    x, lengths = _batch()
    probe = _ThreadProbe()
    m.units = units() + [probe]
    with _directions("serial"):
        serial = _run(m, "auto", x, lengths)
        assert set(probe.threads.values()) == {threading.current_thread().name}
    with _directions("concurrent"):
        concurrent = _run(m, "auto", x, lengths)
        assert torch.get_num_threads() == 2
    assert probe.threads[(1, 1)] == "rnnaccel-direction-1" and probe.threads[(1, 0)] == threading.current_thread().name
    _assert_same(serial, concurrent)


def test_concurrent_directions_error_and_choice():
    m = _module("lstm", bidir=True, layers=1)
    x, lengths = _batch()
    m.units = [_ThreadProbe(fail_direction=1)]
    with _directions("concurrent"):
        with pytest.raises(RuntimeError, match="probe failure"):
            m(x, lengths=lengths)
        assert torch.get_num_threads() == 2
    with pytest.raises(ValueError, match="unknown.*concurrent, serial"):
        emulate.set_directions("parallel")


PIPELINE_UNITS = {
    "plain": lambda: [],
    "memo+reexec": lambda: [memo_factory("bnn", theta=0.3), precision_factory("reexec")],
    "memo-delta": lambda: [memo_factory("delta", theta=0.3)],
    "precision-dynamic": lambda: [
        precision_factory({"mode": "dynamic", "ladder": [16, 8, 4], "tau": 0.05, "thresholds": [0.3, 0.02]})
    ],
}
# technique units serve LSTM and GRU layers (the RNN's refusal is tested in test_dropin): the RNN runs plain
PIPELINE_CASES = [(c, u) for c in ("lstm", "gru") for u in PIPELINE_UNITS] + [("rnn_tanh", None)]


@pytest.mark.parametrize("rounding", ["nearest_even", "stochastic"])
@pytest.mark.parametrize("cell,units", PIPELINE_CASES)
def test_pipelined_layers_same_bits(cell, units, rounding):
    """The layers of a unidirectional stack at once (each a chunk of steps behind the one below, on its
    own thread) give the serial bits: outputs, states, saturations (the requantized inputs' included)
    and every counter; layer 1 really ran on its worker thread while layer 2 waited for a new group."""
    m = _module(cell, layers=3, H=8, cfg=dict(NARROW, hidden=Fmt(8, 6), rounding=rounding))
    cfg = m.datapath[0]
    m.datapath = [cfg] + [cfg.replace(input=Fmt(5, 5))] * 2  # upper layers' inputs narrower than h: they clamp
    g = torch.Generator().manual_seed(2)
    x, lengths = torch.randn(5, 40, 7, generator=g) * 2.0, torch.tensor([40, 13, 40, 1, 27])  # several chunks
    probe = _ThreadProbe()
    m.units = PIPELINE_UNITS[units]() + [probe] if units else []
    with _layers("serial"):
        serial = _run(m, "auto", x, lengths)
        assert set(probe.threads.values()) <= {threading.current_thread().name}
    with _layers("pipelined"):
        pipelined = _run(m, "auto", x, lengths)
        assert torch.get_num_threads() == 2
    main = threading.current_thread().name
    if units:  # groups [0, 1], [2]
        assert probe.threads == {(0, 0): main, (1, 0): "rnnaccel-layer-1", (2, 0): main}
    _assert_same(serial, pipelined)
    layer1 = next(lt for lt in pipelined[2] if lt.layer == 1)
    assert layer1.counters["sat.input"].sum() > 0  # the streamed, requantized inputs clamp, counted alike


def test_pipelined_layers_internals_and_initial_state():
    m = _module("lstm", layers=2, H=8)
    x, lengths = _batch()
    h0, c0 = torch.randn(2, 5, 8) * 0.5, torch.randn(2, 5, 8)
    got = {}
    for mode in ("serial", "pipelined"):
        with _layers(mode):
            got[mode] = m.emulate(x, lengths=lengths, hx=(h0, c0), record_internals=True)
    a, b = got["serial"], got["pipelined"]
    assert torch.equal(a.output, b.output) and torch.equal(a.h_n, b.h_n) and torch.equal(a.c_n, b.c_n)
    assert a.saturations == b.saturations
    for key in a.internals:
        for k in a.internals[key]:
            assert torch.equal(a.internals[key][k], b.internals[key][k]), (key, k)


@pytest.mark.parametrize("fail_layer", [0, 1])
def test_pipelined_layers_error(fail_layer):
    """A layer that fails stops the pipeline: the error is raised in the caller (the layer above a
    failed one does not wait forever), and torch's thread count is restored."""
    m = _module("lstm", layers=2)
    x, lengths = _batch()

    def failing(layer, direction, cfg):
        from rnnaccel.emulator.hooks import StepUnit

        class Fail(StepUnit):
            def observe(self, t, n, hp, h, cp, c):
                if t == 4:
                    raise RuntimeError(f"unit failure in layer {layer}")

        return Fail() if layer == fail_layer else None

    m.units = [failing]
    with _layers("pipelined"):
        with pytest.raises(RuntimeError, match=f"unit failure in layer {fail_layer}"):
            m(x, lengths=lengths)
        assert torch.get_num_threads() == 2


def test_layer_groups_and_choice():
    with _layers("pipelined", threads=2):
        assert emulate.layer_groups(5, 1, torch.device("cpu")) == [[0, 1], [2, 3], [4]]
        assert emulate.layer_groups(3, 2, torch.device("cpu")) == [[0], [1], [2]]  # bidirectional: no overlap
    with _layers("pipelined", threads=1):
        assert emulate.layer_groups(2, 1, torch.device("cpu")) == [[0], [1]]
    with _layers("serial", threads=2):
        assert emulate.layer_groups(2, 1, torch.device("cpu")) == [[0], [1]]
    with pytest.raises(ValueError, match="unknown.*pipelined, serial.*RNNACCEL_LAYERS"):
        emulate.set_layers("wavefront")


@needs_numba
@pytest.mark.parametrize("rounding", ["nearest_even", "floor", "nearest_away"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_input_quantization_kernel_matches_torch(rounding, dtype):
    """The compiled input quantization (one pass: round, saturate, reorder by length, zero past each
    length, clamps per step) gives the torch path's integers and counts: exact ties of either sign,
    values far out of range, NaN/inf past a row's length (ignored) and within it (refused alike)."""
    cfg = DatapathConfig(input=Fmt(8, 4), rounding=rounding)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(6, 11, 5, generator=g, dtype=torch.float64) * 6
    x[0, :, :2] = (torch.arange(-11, 11).reshape(11, 2) + 0.5) / 16  # exact ties, both signs
    x[1, 0, 0], x[1, 1, 1] = 1e9, -1e9
    lengths = torch.tensor([11, 4, 11, 1, 7, 9])
    x[1, 6, 0], x[3, 5, 2] = float("nan"), float("inf")  # past their rows' lengths
    x = x.to(dtype)
    order = torch.argsort(lengths, descending=True, stable=True)
    got = {}
    for backend in ("torch", "numba"):
        with kernels.use(backend):
            got[backend] = emulate._quantize_input(x, False, lengths, order, 11, cfg)
    (qa, ca), (qb, cb) = got["torch"], got["numba"]
    assert torch.equal(qa, qb) and torch.equal(ca, cb)
    assert int(ca.sum()) > 0  # clamps counted
    assert bool((qa[1:, -1] == 0).all()) and bool(qa[0, -1].any())  # the length-1 row, sorted last
    x[2, 3, 1] = float("nan")
    for backend in ("torch", "numba"):
        with kernels.use(backend), pytest.raises(ValueError, match="1 NaN/inf value"):
            emulate._quantize_input(x, False, lengths, order, 11, cfg)
