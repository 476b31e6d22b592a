import os
import warnings

import pytest

# torch's beta-state notices for sparse CSR tensors say nothing about our code.
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly")

if os.environ.get("PYTEST_XDIST_WORKER"):
    import torch

    # pytest -n 2 runs two workers on CI's two cores: one torch thread each,
    # not two each fighting over the cores (small fits took 10x as long).
    torch.set_num_threads(1)

SHARED_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


@pytest.fixture
def cora_path():
    path = os.path.abspath(os.path.join(SHARED_DATA, "cora.npz"))
    if not os.path.exists(path):
        pytest.skip(f"Cora data not found at {path} (it lives in ../shared/data)")
    return path
