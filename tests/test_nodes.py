"""A graph of your own through cross-validation: X holds node ids."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_blobs
from sklearn.decomposition import TruncatedSVD
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_predict
from sklearn.neighbors import kneighbors_graph

from sklearn_diffres import DiffusionResNetClassifier

PARAMS = dict(n_layers=10, max_epochs=30, random_state=0)


@pytest.fixture(scope="module")
def graph():
    X, y = make_blobs(n_samples=200, centers=3, cluster_std=2.0, random_state=0)
    A = kneighbors_graph(X, 6, include_self=False)
    labelled = np.random.RandomState(0).choice(200, 30, replace=False)
    return sp.csr_matrix(A + A.T), X, y, labelled


def test_fit_on_ids_is_fit_on_all_nodes_with_the_rest_unlabelled(graph):
    A, X, y, labelled = graph
    on_ids = DiffusionResNetClassifier(adjacency=A, node_features=X, **PARAMS)
    on_ids.fit(labelled[:, None], y[labelled])
    y_semi = np.full_like(y, -1)
    y_semi[labelled] = y[labelled]
    plain = DiffusionResNetClassifier(adjacency=A, **PARAMS).fit(X, y_semi)
    np.testing.assert_array_equal(
        on_ids.label_distributions_, plain.label_distributions_
    )
    ids = np.arange(200)[:, None]
    np.testing.assert_array_equal(on_ids.predict(ids), plain.transduction_)
    np.testing.assert_allclose(
        on_ids.predict_proba(ids), plain.label_distributions_, rtol=1e-6
    )
    assert on_ids.n_features_in_ == 1
    assert on_ids.score(labelled[:, None], y[labelled]) > 0.5


def test_cross_val_predict_hides_each_fold_labels(graph):
    A, X, y, labelled = graph
    clf = DiffusionResNetClassifier(adjacency=A, node_features=X, **PARAMS)
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    ids, y_lab = labelled[:, None], y[labelled]
    pred = cross_val_predict(clf, ids, y_lab, cv=cv)
    # The first fold by hand: its labels hidden, its nodes still in the graph.
    train, test = next(cv.split(ids, y_lab))
    y_semi = np.full_like(y, -1)
    y_semi[labelled[train]] = y_lab[train]
    by_hand = DiffusionResNetClassifier(adjacency=A, **PARAMS).fit(X, y_semi)
    np.testing.assert_array_equal(pred[test], by_hand.transduction_[labelled[test]])
    assert (pred == y_lab).mean() > 0.6


def test_node_id_errors(graph):
    A, X, y, labelled = graph
    clf = DiffusionResNetClassifier(adjacency=A, node_features=X, max_epochs=2)
    with pytest.raises(ValueError, match=r"node ids outside \[0, 200\)"):
        clf.fit(np.array([[0], [250]]), [0, 1])
    with pytest.raises(ValueError, match="integer array of shape"):
        clf.fit(X[:10], y[:10])
    with pytest.raises(ValueError, match="more than once"):
        clf.fit(np.array([[0], [0], [1]]), [0, 0, 1])
    with pytest.raises(ValueError, match="node_features is used with adjacency"):
        DiffusionResNetClassifier(node_features=X).fit(labelled[:, None], y[labelled])
    clf.fit(labelled[:, None], y[labelled])
    with pytest.raises(ValueError, match="no adjacency to pass"):
        clf.predict(labelled[:, None], adjacency=A[:2])


def test_grid_search_on_cora_citation_graph(cora_path):
    # Real data: Cora's citation graph, the labelled nodes of the paper's
    # protocol (20 per class for training, 30 for validation), a grid over
    # n_layers x dropout scored by 3-fold CV on those labelled nodes.
    from _common import load_cora, row_normalize, split_per_class

    A, X, labels = load_cora()
    # 64 SVD components of the row-normalised words instead of the 1433
    # words: the paper's width-1433 block made this grid take 100 s.
    X = TruncatedSVD(64, random_state=0).fit_transform(row_normalize(X))
    train, val, test = split_per_class(labels, np.random.RandomState(0))
    labelled = np.r_[train, val]
    clf = DiffusionResNetClassifier(
        adjacency=A,
        node_features=X,
        residual_block="relu_linear",
        step_size=0.25,
        optimizer="adam",
        lr=0.01,
        weight_decay=5e-4,
        max_epochs=100,
        random_state=0,
    )
    search = GridSearchCV(
        clf,
        {"n_layers": [0, 20], "dropout": [0.0, 0.25]},
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
    ).fit(labelled[:, None], labels[labelled])
    scores = dict(
        zip(
            [(p["n_layers"], p["dropout"]) for p in search.cv_results_["params"]],
            search.cv_results_["mean_test_score"],
        )
    )
    # Diffusion over the citation graph helps, with or without dropout.
    assert scores[(20, 0.0)] > scores[(0, 0.0)] + 0.05
    assert scores[(20, 0.25)] > scores[(0, 0.25)] + 0.05
    assert search.best_params_["n_layers"] == 20
    best = search.best_estimator_
    assert (best.predict(test[:, None]) == labels[test]).mean() > 0.7
