"""rnnaccel.emulator.steps: input steps in chunks, filled in order, maps computed per chunk."""

import threading

import pytest
import torch

from rnnaccel.emulator.steps import Progress, StepInput, StepMap, chunk_steps, releasing


def test_chunk_steps_bounds():
    assert chunk_steps(200, 16) == 8  # 128 rows per chunk
    assert chunk_steps(200, 1) == 13  # at most ~T/16 steps: the layers overlap
    assert chunk_steps(5, 1000) == 1
    assert chunk_steps(1, 1) == 1


def test_fill_in_order_once_and_map_per_chunk():
    x = torch.zeros(10, 2, 3)
    filled = []

    def fill(t0, t1):
        filled.append((t0, t1))
        x[t0:t1] = torch.arange(t0, t1, dtype=x.dtype).view(-1, 1, 1)

    inp = StepInput(x, 4, fill)
    calls = []
    m = StepMap(inp, lambda xs, t0: (calls.append(t0), xs * 2)[1])
    assert m[5, 1, 0] == 10 and filled == [(0, 4), (4, 8)]  # every earlier chunk first, in order
    assert m[6, 0, 2] == 12 and calls == [4]  # the same chunk: computed once
    assert m[9, 0, 0] == 18 and filled[-1] == (8, 10) and calls == [4, 8]
    assert m[1, 0, 0] == 2 and calls == [4, 8, 0] and len(filled) == 3  # an earlier chunk: recomputed, not refilled


def test_complete_input_is_one_chunk_by_default():
    inp = StepInput(torch.ones(7, 1, 1))
    m = StepMap(inp, lambda xs, t0: (xs.sum(dim=(1, 2)), torch.full((xs.shape[0],), t0)))
    assert inp.bounds(6) == (0, 7) and m.at(6)[0] == 1 and m.at(6)[1] == 0


def test_progress_wait_and_fail():
    p = Progress(every=2)
    p.out = torch.zeros(3)
    got = []
    t = threading.Thread(target=lambda: got.append(p.wait(3)))
    t.start()
    p.advance(1)
    p.advance(2)
    p.advance(3, last=True)
    t.join(5)
    assert got and got[0] is p.out
    q = Progress()
    with pytest.raises(KeyError):
        with releasing(q):
            raise KeyError("boom")
    with pytest.raises(RuntimeError, match="stopped after 0 steps"):
        q.wait(1)
