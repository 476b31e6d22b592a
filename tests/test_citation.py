"""Real citation graphs: the estimator on Cora, the paper's protocol.

The data loaders are the benchmarks' own (``benchmarks/_common.py``, on the
test path through ``pythonpath`` in pyproject.toml).
"""

import numpy as np
import pytest

from sklearn_diffres import DiffusionResNetClassifier


def test_cora_citation_graph_transductive_and_inductive(cora_path):
    # Real data: Cora with its citation graph (the paper's protocol, without
    # dropout so that the test stays fast).
    from _common import load_cora, row_normalize, split_per_class
    from cora import DATASETS, PAPER_SETTINGS

    A, X, labels = load_cora()
    X = row_normalize(X)
    train, val, test = split_per_class(labels, np.random.RandomState(0))
    y = np.full_like(labels, -1)
    y[np.r_[train, val]] = labels[np.r_[train, val]]
    # The paper's Cora settings, without dropout, with shorter patience.
    params = {
        **PAPER_SETTINGS,
        **DATASETS["cora"],
        "dropout": 0.0,
        "max_epochs": 300,
        "validation_fraction": 0.6,
        "patience": 30,
        "random_state": 0,
    }
    clf = DiffusionResNetClassifier(adjacency=A, **params).fit(X, y)
    acc = (clf.transduction_[test] == labels[test]).mean()
    no_diff = DiffusionResNetClassifier(adjacency=A, **{**params, "n_layers": 0}).fit(
        X, y
    )
    acc0 = (no_diff.transduction_[test] == labels[test]).mean()
    assert acc > 0.75 and acc > acc0 + 0.1
    # The paper does not clip gradients, and its settings turn our clip off.
    assert "gradient_clipping" not in dict(clf.net_.callbacks_)
    assert "gradient_clipping" in dict(
        DiffusionResNetClassifier(max_epochs=1).fit(X[:50], labels[:50]).net_.callbacks_
    )
    # Inductive: 300 test nodes left out of the graph, then attached by their
    # citation edges to the fitted nodes.
    out = test[:300]
    keep = np.setdiff1d(np.arange(len(labels)), out)
    sub = DiffusionResNetClassifier(adjacency=A[keep][:, keep], **params).fit(
        X[keep], y[keep]
    )
    pred = sub.predict(X[out], adjacency=A[out][:, keep])
    assert (pred == labels[out]).mean() > 0.7
    with pytest.raises(ValueError, match="pass adjacency="):
        sub.predict(X[out])
