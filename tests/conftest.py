import os
import warnings

import pytest

# torch's beta-state notices for sparse CSR tensors say nothing about our code.
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly")

SHARED_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


@pytest.fixture
def cora_path():
    path = os.path.abspath(os.path.join(SHARED_DATA, "cora.npz"))
    if not os.path.exists(path):
        pytest.skip(f"Cora data not found at {path} (it lives in ../shared/data)")
    return path
