"""memory: one kNN graph for a whole grid of model-only candidates."""

import glob
import os

import numpy as np
from joblib import Memory
from sklearn.datasets import make_blobs
from sklearn.model_selection import GridSearchCV

from sklearn_diffres import (
    DiffusionResNetClassifier,
    DiffusionTransformer,
    SemiSupervisedKFold,
)


def cached_graphs(folder):
    """Distinct inputs joblib has cached the graph builder for."""
    pattern = os.path.join(folder, "joblib", "**", "_knn_graph", "*", "output.pkl")
    return len(glob.glob(pattern, recursive=True))


def test_grid_builds_one_graph_per_fold(tmp_path):
    X, y = make_blobs(n_samples=240, centers=3, cluster_std=1.5, random_state=0)
    y_semi = np.full_like(y, -1)
    keep = np.random.RandomState(0).choice(len(y), 36, replace=False)
    y_semi[keep] = y[keep]
    grid = {"lr": [0.05, 0.1], "dropout": [0.0, 0.25]}
    cv = SemiSupervisedKFold(n_splits=3, shuffle=True, random_state=0)
    base = dict(n_neighbors=8, sigma=4, n_layers=10, max_epochs=20, random_state=0)
    plain = GridSearchCV(DiffusionResNetClassifier(**base), grid, cv=cv).fit(X, y_semi)
    cached = GridSearchCV(
        DiffusionResNetClassifier(memory=str(tmp_path), **base), grid, cv=cv
    ).fit(X, y_semi)
    # 4 candidates x 3 folds and the refit on all rows: 4 distinct inputs.
    assert cached_graphs(tmp_path) == 4
    for key in ("mean_test_score", "split0_test_score", "split2_test_score"):
        np.testing.assert_array_equal(cached.cv_results_[key], plain.cv_results_[key])
    np.testing.assert_array_equal(
        cached.best_estimator_.label_distributions_,
        plain.best_estimator_.label_distributions_,
    )


def test_transformer_memory_loads_the_same_graph(tmp_path):
    X, _ = make_blobs(n_samples=150, centers=3, random_state=0)
    memory = Memory(str(tmp_path), verbose=0)
    first = DiffusionTransformer(memory=memory, random_state=0).fit(X)
    second = DiffusionTransformer(memory=memory, random_state=0, n_layers=5).fit(X)
    plain = DiffusionTransformer(random_state=0, n_layers=5).fit(X)
    assert cached_graphs(tmp_path) == 1  # n_layers does not change the graph
    assert (first.graph_ != second.graph_).nnz == 0
    np.testing.assert_array_equal(second.embedding_, plain.embedding_)
    np.testing.assert_array_equal(
        second.transform(X[:7] + 0.1), plain.transform(X[:7] + 0.1)
    )
