import os
import warnings

import numpy as np
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


@pytest.fixture
def table():
    """Loader of a table of ../shared/data/tables.npz: ``table(name)`` gives
    its standardised features and labels (skips when the data is absent)."""
    path = os.path.abspath(os.path.join(SHARED_DATA, "tables.npz"))
    if not os.path.exists(path):
        pytest.skip(f"tables not found at {path} (they live in ../shared/data)")

    def load(name):
        from sklearn.preprocessing import StandardScaler

        with np.load(path) as z:
            X, y = z[f"{name}_X"].astype(np.float64), z[f"{name}_y"]
        return StandardScaler().fit_transform(X), y

    return load


@pytest.fixture(scope="session")
def imbalanced():
    """Few labels, imbalanced: 40 of one class, 3 of the other, on two
    overlapping blobs. Returns ``X, y, y_semi``."""
    from sklearn.datasets import make_blobs

    X, y = make_blobs(900, centers=[[0, 0], [1.6, 0]], cluster_std=0.8, random_state=0)
    rng = np.random.RandomState(0)
    y_semi = np.full_like(y, -1)
    y_semi[rng.choice(np.flatnonzero(y == 0), 40, replace=False)] = 0
    y_semi[rng.choice(np.flatnonzero(y == 1), 3, replace=False)] = 1
    return X, y, y_semi
