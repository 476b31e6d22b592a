import numpy as np
import pytest
import scipy.sparse as sp
from scipy.spatial.distance import cdist

from sklearn_diffres import (
    EXACT_NEIGHBORS_MAX_SAMPLES,
    EXACT_NEIGHBORS_MAX_WORK,
    diffusion_graph,
    graph_laplacian,
    normalize_adjacency,
)
from sklearn_diffres._graph import _KNNGraph
from sklearn_diffres._laplacian import largest_eigenvalue
from sklearn_diffres._neighbors import _use_exact


def reference_weight(X, n_top, sigma):
    """Dense transcription of the reference code's ``calculate_weight``.

    Distances include the point itself (the first, at 0); ``kthvalue`` is
    1-based; entries strictly below the n_top-th smallest distance are kept.
    """
    distance = cdist(X, X)
    ordered = np.sort(distance, axis=1)
    dist_n_top = ordered[:, n_top - 1 : n_top]
    dist_sigma = ordered[:, sigma - 1 : sigma]
    truncated = np.where(distance < dist_n_top, distance, np.inf)
    weight = np.exp(-((truncated / dist_sigma) ** 2))
    d_inv_sqrt = np.diag(weight.sum(axis=1) ** -0.5)
    weight = d_inv_sqrt @ weight @ d_inv_sqrt
    return (weight + weight.T) / 2


@pytest.mark.parametrize("n_top, sigma_ref", [(8, 4), (12, 2), (5, 5)])
def test_weights_match_reference_transcription(n_top, sigma_ref):
    X = np.random.RandomState(0).normal(size=(80, 3))
    W = diffusion_graph(X, n_neighbors=n_top - 2, sigma=sigma_ref - 1)
    assert sp.issparse(W) and W.format == "csr"
    np.testing.assert_allclose(
        W.toarray(), reference_weight(X, n_top, sigma_ref), atol=1e-12
    )


def test_weights_float32_and_sparse_input_agree():
    X = np.random.RandomState(1).uniform(size=(60, 5))
    X[X < 0.5] = 0
    W = diffusion_graph(X, n_neighbors=6, sigma=3).toarray()
    W_sparse = diffusion_graph(sp.csr_matrix(X), n_neighbors=6, sigma=3).toarray()
    W_32 = diffusion_graph(X.astype(np.float32), n_neighbors=6, sigma=3).toarray()
    np.testing.assert_allclose(W_sparse, W, atol=1e-12)
    np.testing.assert_allclose(W_32, W, atol=1e-5)


def test_laplacian_kills_constants_and_is_symmetric():
    X = np.random.RandomState(0).normal(size=(100, 4))
    L = graph_laplacian(diffusion_graph(X, n_neighbors=7))
    np.testing.assert_allclose(L @ np.ones(100), 0, atol=1e-12)
    assert abs(L - L.T).max() < 1e-14
    # Positive semi-definite, and the Lanczos estimate of its top eigenvalue.
    eig = np.linalg.eigvalsh(L.toarray())
    assert eig.min() > -1e-10
    assert largest_eigenvalue(L, random_state=0) == pytest.approx(eig[-1], rel=1e-3)


def test_duplicates_give_finite_weights():
    rng = np.random.RandomState(0)
    X = np.repeat(rng.normal(size=(10, 2)), 6, axis=0)  # every point six times
    W = diffusion_graph(X, n_neighbors=8, sigma=3)
    assert np.isfinite(W.data).all() and W.data.min() > 0
    X_same = np.zeros((12, 3))  # all points identical: width falls back to 1
    assert np.isfinite(diffusion_graph(X_same, n_neighbors=5).data).all()


def test_precomputed_adjacency_normalised_like_reference():
    rng = np.random.RandomState(0)
    A = sp.random(30, 30, density=0.1, random_state=rng)
    A = ((A + A.T) > 0).astype(float)
    A.setdiag(0)
    A.eliminate_zeros()
    A = A.tolil()
    A[0, :] = 0  # an isolated node
    A[:, 0] = 0
    A = A.tocsr()
    W = normalize_adjacency(A).toarray()
    A_hat = A.toarray() + np.eye(30)
    d = A_hat.sum(axis=1)
    np.testing.assert_allclose(W, A_hat / np.sqrt(np.outer(d, d)), atol=1e-12)
    assert np.isfinite(W).all() and W[0, 0] == 1.0


@pytest.mark.parametrize(
    "adjacency, match",
    [
        (sp.csr_matrix(np.ones((3, 4))), "square"),
        (sp.csr_matrix(-np.eye(3)), "negative"),
        (np.full((3, 3), np.nan), "NaN"),
    ],
)
def test_bad_adjacency(adjacency, match):
    with pytest.raises(ValueError, match=match):
        normalize_adjacency(adjacency)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            dict(n_neighbors=20),
            "n_neighbors=20 must be smaller than the number of samples",
        ),
        (dict(n_neighbors=5, sigma=20), "sigma=20 must be smaller than the number"),
        # scikit-learn's validate_params words these, as for the estimators.
        (
            dict(n_neighbors=5, sigma=0),
            "'sigma' parameter of diffusion_graph must be an int in the range",
        ),
        (
            dict(n_neighbors=0),
            "'n_neighbors' parameter of diffusion_graph must be an int in the",
        ),
        (
            dict(neighbors_algorithm="kd"),
            "'neighbors_algorithm' parameter of diffusion_graph must be a str among",
        ),
    ],
)
def test_bad_graph_parameters(kwargs, match):
    X = np.random.RandomState(0).normal(size=(20, 2))
    with pytest.raises(ValueError, match=match):
        diffusion_graph(X, **kwargs)


def test_nan_input_rejected():
    X = np.random.RandomState(0).normal(size=(20, 2))
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        diffusion_graph(X, n_neighbors=5)


def test_exact_threshold_is_a_named_constant():
    assert EXACT_NEIGHBORS_MAX_SAMPLES == 4096
    assert EXACT_NEIGHBORS_MAX_WORK == 2**39
    X = np.random.RandomState(0).normal(size=(50, 2))
    graph = _KNNGraph(5, 2, "auto", 0, None).fit(X)
    assert graph.index_.exact


@pytest.mark.parametrize(
    "shape, sparse, exact",
    [
        ((4096, 10**6), True, True),  # at most 4096 samples: always exact
        ((4097, 10), True, False),  # sparse above it: pynndescent
        ((4097, 10), False, True),  # dense: exact while n^2 d <= 2^39
        ((100_000, 32), False, True),
        ((131_072, 32), False, True),
        ((131_073, 32), False, False),
        ((1_000_000, 32), False, False),
        ((10_000, 10_000), False, False),
    ],
)
def test_auto_chooses_exact_by_search_cost(shape, sparse, exact):
    assert _use_exact(*shape, sparse, "auto") is exact
    assert _use_exact(*shape, sparse, "exact") is True
    assert _use_exact(*shape, sparse, "nndescent") is False


def test_nndescent_recall_against_exact():
    # Real pynndescent on a few thousand points (its numba kernels compile
    # once in this process).
    rng = np.random.RandomState(0)
    X = rng.normal(size=(3000, 10)).astype(np.float32)
    k = 10
    exact = _KNNGraph(k, 3, "exact", 0, None).fit(X)
    approx = _KNNGraph(k, 3, "nndescent", 0, None).fit(X)
    assert not approx.index_.exact
    e = exact.index_.fitted_neighbors(k)
    a = approx.index_.fitted_neighbors(k)
    recall = np.mean([len(set(e[i]) & set(a[i])) / k for i in range(len(X))])
    assert recall >= 0.95
    # New rows through the fitted pynndescent index.
    X_new = rng.normal(size=(200, 10)).astype(np.float32)
    e_new = exact.index_.query(X_new, k)
    a_new = approx.index_.query(X_new, k)
    # Candidates come back nearest first; the graph re-ranks them exactly.
    a_new = a_new[:, :k]
    recall_new = np.mean([len(set(e_new[i]) & set(a_new[i])) / k for i in range(200)])
    assert recall_new >= 0.95
    # The weights agree where the neighbours do.
    diff = abs(exact.graph_ - approx.graph_)
    assert diff.sum() / exact.graph_.sum() < 0.05
    # End to end through the transformer: the approximate graph moves points
    # as the exact one does, within 5% of how far diffusion moves them.
    from sklearn_diffres import DiffusionTransformer

    kw = dict(n_neighbors=k, sigma=3, n_layers=20, random_state=0)
    fitted = DiffusionTransformer(neighbors_algorithm="nndescent", **kw).fit(X)
    exact_fit = DiffusionTransformer(neighbors_algorithm="exact", **kw).fit(X)
    for got, want, start in [
        (fitted.embedding_, exact_fit.embedding_, X),
        (fitted.transform(X_new), exact_fit.transform(X_new), X_new),
    ]:
        assert np.linalg.norm(got - want) / np.linalg.norm(want - start) < 0.05


def _neighbor_distances(X, ind):
    """Each row's distances to its neighbours ``ind``, sorted."""
    return np.sort(np.linalg.norm(X[:, None, :] - X[ind], axis=2), axis=1)


@pytest.mark.parametrize(
    "case",
    [
        "gaussian",
        "far from the origin",
        "far apart clusters",
        "grid with ties",
        "float64",
    ],
)
def test_blocked_search_is_exact(case):
    # Above EXACT_NEIGHBORS_MAX_SAMPLES dense rows are searched by blocks in
    # float32 and re-ranked in float64 (rows whose float32 margin is too
    # thin are searched again): the same neighbours as scikit-learn's brute
    # force, or with ties at the k-th distance the same distances.
    from sklearn.neighbors import NearestNeighbors

    from sklearn_diffres._neighbors import _blocked_neighbors

    rng = np.random.RandomState(0)
    if case == "grid with ties":
        axis = np.arange(15.0)
        X = np.stack(np.meshgrid(axis, axis, axis), -1).reshape(-1, 3)
    else:
        X = rng.normal(size=(3000, 8))
        if case == "far from the origin":
            X = X + 1e4  # float32 squared norms cannot resolve these distances
        if case == "far apart clusters":  # nor these, even once centred
            X[::2] += 1e4
    X = X.astype(np.float64 if case == "float64" else np.float32)
    k = 10
    ind = _blocked_neighbors(X, k, random_state=0, block=256)
    assert ind.shape == (X.shape[0], k)
    assert not (ind == np.arange(X.shape[0])[:, None]).any()  # never itself
    brute = NearestNeighbors().fit(X).kneighbors(n_neighbors=k, return_distance=False)
    X64 = X.astype(np.float64)
    np.testing.assert_allclose(
        _neighbor_distances(X64, ind), _neighbor_distances(X64, brute), rtol=1e-6
    )
    if case != "grid with ties":
        assert all(set(a) == set(b) for a, b in zip(ind, brute))


def test_fitted_neighbors_blocked_above_the_exact_threshold():
    from sklearn.neighbors import NearestNeighbors

    from sklearn_diffres._neighbors import _NeighborIndex

    n = EXACT_NEIGHBORS_MAX_SAMPLES + 500
    X = np.random.RandomState(1).normal(size=(n, 6)).astype(np.float32)
    ind = _NeighborIndex(X, exact=True, random_state=0).fitted_neighbors(7)
    brute = NearestNeighbors().fit(X).kneighbors(n_neighbors=7, return_distance=False)
    assert all(set(a) == set(b) for a, b in zip(ind, brute))


def _renumbered_pair(X, monkeypatch):
    """The same kNN graph built in sample order and renumbered (reordering
    forced on this small input by lowering the threshold)."""
    import sklearn_diffres._graph as graph_module

    plain = _KNNGraph(6, 3, "exact", 0, None).fit(X)
    monkeypatch.setattr(graph_module, "REORDER_MIN_NODES", 10)
    renumbered = _KNNGraph(6, 3, "exact", 0, None, reorder=True).fit(X)
    return plain, renumbered


def _bandwidth(W):
    W = W.tocoo()
    return np.abs(W.row - W.col).max()


def test_renumbered_graph_is_the_same_graph(monkeypatch):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 4))
    X[10:20] = X[3]  # copies: one node with mass 11
    plain, renumbered = _renumbered_pair(X, monkeypatch)
    assert renumbered.index_labels_ is not None
    order = renumbered.first_
    assert not np.array_equal(plain.nodes_, renumbered.nodes_)
    # Node j of the renumbered graph is node order_plain[j] of the plain one.
    to_plain = plain.nodes_[order]
    np.testing.assert_array_equal(
        plain.nodes_[np.arange(300)], to_plain[renumbered.nodes_]
    )
    W_plain = plain.graph_[to_plain][:, to_plain]
    np.testing.assert_allclose(
        renumbered.graph_.toarray(), W_plain.toarray(), atol=1e-15
    )
    for name in ("mass_", "degree_", "width_", "reach_"):
        np.testing.assert_array_equal(
            getattr(renumbered, name), getattr(plain, name)[to_plain]
        )
    np.testing.assert_array_equal(renumbered.X_, plain.X_[to_plain])
    # Neighbours get nearby numbers: that is what the order is for.
    assert _bandwidth(renumbered.graph_) < _bandwidth(plain.graph_) / 2
    # New rows attach with the same weights, to the same (renumbered) nodes.
    X_new = np.vstack([rng.normal(size=(25, 4)), X[[3, 50]]])
    W_new_plain, match_plain = plain.attach(X_new)
    W_new, match = renumbered.attach(X_new)
    np.testing.assert_allclose(
        W_new.toarray(), W_new_plain[:, to_plain].toarray(), atol=1e-15
    )
    np.testing.assert_array_equal(match[-2:], renumbered.nodes_[[3, 50]])
    assert (match[:-2] == -1).all() and (match_plain[:-2] == -1).all()


def test_estimators_give_the_same_results_on_renumbered_nodes(monkeypatch):
    """Classifier and transformer through every path (fit, transduction, new
    rows, fitted rows) give what they give in sample order, up to the order of
    floating-point sums."""
    import sklearn_diffres._graph as graph_module
    from sklearn_diffres import DiffusionResNetClassifier, DiffusionTransformer

    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(c, 1.0, size=(150, 5)) for c in (-2.0, 0.0, 2.0)])
    X[7:12] = X[0]
    y = np.repeat([0, 1, 2], 150)
    y_semi = np.full_like(y, -1)
    labelled = rng.choice(450, 15, replace=False)
    y_semi[labelled] = y[labelled]
    X_new = rng.normal(0.0, 2.0, size=(40, 5))
    results = []
    for threshold in (10**9, 10):
        monkeypatch.setattr(graph_module, "REORDER_MIN_NODES", threshold)
        clf = DiffusionResNetClassifier(random_state=0, max_epochs=20).fit(X, y_semi)
        trans = DiffusionTransformer(n_layers=20).fit(X)
        assert (clf._graph.builder.index_labels_ is not None) == (threshold == 10)
        results.append(
            [
                clf.label_distributions_,
                clf.predict_proba(X),
                clf.predict_proba(X_new),
                trans.embedding_,
                trans.transform(X_new),
                clf.diffusion_.transform(X_new),
            ]
        )
        n_layers = clf.n_layers_
    assert n_layers > 0
    for plain, renumbered in zip(*results):
        np.testing.assert_allclose(renumbered, plain, atol=1e-5)
