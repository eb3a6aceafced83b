"""Suite-wide test settings."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """The suite's tensors are tiny: one intra-op thread is fastest, and on a shared 2-core machine a
    second one only spins in barriers. No bit depends on it (tests/emulator/test_invariance.py sets
    1 and 2 threads itself and compares)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
