"""Both exact-GEMM backends equal an int64 matmul, on random shapes (degenerate ones included)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnaccel.emulator import kernels
from rnnaccel.emulator.gemm import ExactGemm, int8_available

#: the int8 backend's split and recombination run as torch ops or as compiled loops (kernels)
ELEMENTWISE = ["torch"] + (["numba"] if kernels.available() else [])


@settings(max_examples=150, deadline=None)
@given(
    M=st.integers(1, 40),
    K=st.integers(1, 70),
    N=st.integers(1, 40),
    wb=st.integers(2, 16),
    xb=st.integers(2, 16),
    scale_exp=st.integers(-3, 5),
    with_out=st.booleans(),
    with_add=st.booleans(),
    seed=st.integers(0, 99),
)
def test_backends_equal_int64_matmul(M, K, N, wb, xb, scale_exp, with_out, with_add, seed):
    g = torch.Generator().manual_seed(seed)
    W = torch.randint(-(2 ** (wb - 1)), 2 ** (wb - 1), (N, K), generator=g)
    x = torch.randint(-(2 ** (xb - 1)), 2 ** (xb - 1), (M, K), generator=g)
    # extremes of the range are the classic split bugs
    W[0, 0], x[0, 0] = -(2 ** (wb - 1)), 2 ** (xb - 1) - 1
    out = torch.randint(-1000, 1000, (M, N), generator=g).double() if with_out else None
    add = torch.randint(-(2**20), 2**20, (N,), generator=g).double() if with_add else None
    want = (x @ W.T).double() * 2.0**scale_exp + (out if with_out else 0) + (add if with_add else 0)
    backends = ["float64"] + (["int8"] if int8_available(torch.device("cpu")) else [])
    for b in backends:
        for k in ELEMENTWISE:
            with kernels.use(k):
                got = ExactGemm(W.double(), wb, xb, 2.0**scale_exp, b)(x.double(), out=out, add=add)
            assert torch.equal(got, want), f"{b}/{k}: {(got != want).sum().item()} elements differ"


def test_large_rows_are_blocked_identically():
    """More rows than one block: each block written in place, with ``out`` and ``add`` too."""
    g = torch.Generator().manual_seed(0)
    W = torch.randint(-(2**15), 2**15, (24, 33), generator=g).double()
    x = torch.randint(-(2**15), 2**15, (1000, 33), generator=g).double()
    out = torch.randint(-1000, 1000, (1000, 24), generator=g).double()
    add = torch.randint(-1000, 1000, (24,), generator=g).double()
    a = ExactGemm(W, 16, 16, backend="float64")(x)
    a2 = ExactGemm(W, 16, 16, backend="float64")(x, out=out, add=add)
    assert torch.equal(a2, (x.long() @ W.long().T).double() + out + add)
    if int8_available(x.device):
        for k in ELEMENTWISE:
            with kernels.use(k):
                assert torch.equal(ExactGemm(W, 16, 16, backend="int8")(x), a)
                assert torch.equal(ExactGemm(W, 16, 16, backend="int8")(x, out=out, add=add), a2)


def test_unknown_backend():
    with pytest.raises(ValueError, match="backend 'bf16' unknown"):
        ExactGemm(torch.zeros(2, 2, dtype=torch.float64), 8, 8, backend="bf16")


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_datapath_bits_do_not_depend_on_the_backend(cell):
    if not int8_available(torch.device("cpu")):
        pytest.skip("torch._int_mm is not available in this torch build")
    from rnnaccel.emulator import GRU, LSTM

    torch.manual_seed(0)
    m = (LSTM if cell == "lstm" else GRU)(7, 9, num_layers=2, bidirectional=True, mode="emulate")
    with torch.no_grad():  # large weights: values near both ends of the 16-bit range
        m.weight_hh_l0.mul_(40)
    x, lengths = torch.randn(3, 8, 7) * 3, torch.tensor([8, 3, 6])
    res = {}
    for b in ("float64", "int8"):
        m.gemm = b
        res[b] = m.emulate(x, lengths)
    assert torch.equal(res["int8"].output, res["float64"].output)
    assert torch.equal(res["int8"].h_n, res["float64"].h_n)
    assert res["int8"].saturations == res["float64"].saturations
