import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.spatial.distance import cdist
from sklearn.datasets import load_digits, load_iris, load_wine, make_moons
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import SelfTrainingClassifier

from sklearn_diffres import (
    AUTO_UNLABELLED_N_LAYERS,
    DiffusionResNetClassifier,
    DiffusionTransformer,
    diffusion_graph,
    graph_laplacian,
)


def distance_diameter_ratio(Z, y):
    """Smallest distance between the classes over the largest class diameter."""
    a, b = Z[y == 0], Z[y == 1]
    return cdist(a, b).min() / max(cdist(a, a).max(), cdist(b, b).max())


@pytest.fixture
def blobs():
    rng = np.random.RandomState(0)
    return rng.normal(size=(120, 3)), rng.normal(size=(15, 3))


def test_fit_transform_is_explicit_euler_diffusion(blobs):
    X, _ = blobs
    diff = DiffusionTransformer(n_neighbors=6, sigma=3, step_size=0.4, n_layers=7)
    Xt = diff.fit_transform(X)
    L = graph_laplacian(diffusion_graph(X, 6, 3)).toarray()
    expected = np.linalg.matrix_power(np.eye(len(X)) - 0.4 * L, 7) @ X
    np.testing.assert_allclose(Xt, expected, atol=1e-10)
    np.testing.assert_allclose(diff.laplacian_.toarray(), L, atol=1e-14)
    # n_layers=0 is the identity.
    np.testing.assert_array_equal(
        DiffusionTransformer(n_layers=0, n_neighbors=6).fit_transform(X), X
    )


def test_transform_of_fitted_rows_equals_fit_transform(blobs):
    X, _ = blobs
    diff = DiffusionTransformer(n_neighbors=6, sigma=3)
    Xt = diff.fit_transform(X)
    np.testing.assert_allclose(diff.transform(X), Xt, atol=1e-10)


def test_transform_new_rows_matches_dense_transcription(blobs):
    X, X_new = blobs
    k, s, tau, T = 6, 3, 0.5, 9
    diff = DiffusionTransformer(n_neighbors=k, sigma=s, step_size=tau, n_layers=T).fit(
        X
    )
    # One-way attachment written out densely: the new row's Gaussian weights
    # to its k nearest fitted rows (its own width, degrees of both ends), plus
    # the reverse edge where the fitted row reaches it, halved.
    D = cdist(X, X)
    np.fill_diagonal(D, np.inf)
    Ds = np.sort(D, axis=1)
    width_fit, reach_fit = Ds[:, s - 1], Ds[:, k - 1]
    K_fit = np.where(
        D <= reach_fit[:, None], np.exp(-((D / width_fit[:, None]) ** 2)), 0
    )
    deg_fit = 1 + K_fit.sum(axis=1)
    L = diff.laplacian_.toarray()
    for z in X_new:
        d = np.linalg.norm(X - z, axis=1)
        order = np.argsort(d)[:k]
        width = np.sort(d)[s - 1]
        w = np.zeros(len(X))
        w[order] = np.exp(-((d[order] / width) ** 2))
        deg = 1 + w.sum()
        rev = np.where(d <= reach_fit, np.exp(-((d / width_fit) ** 2)), 0)
        rev[np.setdiff1d(np.arange(len(X)), order)] = 0
        w = 0.5 * (w + rev) / np.sqrt(deg * deg_fit)
        zt, G = z.copy(), X.copy()
        for _ in range(T):
            zt = zt - tau * (w.sum() * zt - w @ G)
            G = G - tau * (L @ G)
        np.testing.assert_allclose(diff.transform(z[None])[0], zt, atol=1e-10)


def test_transform_is_batch_and_order_independent(blobs):
    X, X_new = blobs
    diff = DiffusionTransformer(n_neighbors=6).fit(X)
    together = diff.transform(X_new)
    one_by_one = np.vstack([diff.transform(row[None]) for row in X_new])
    perm = np.random.RandomState(1).permutation(len(X_new))
    np.testing.assert_allclose(together, one_by_one, atol=1e-12)
    np.testing.assert_allclose(diff.transform(X_new[perm]), together[perm], atol=1e-12)
    # Mixed with fitted rows, new rows are unchanged and fitted rows too.
    mixed = diff.transform(np.vstack([X_new, X[:5]]))
    np.testing.assert_allclose(mixed[:15], together, atol=1e-12)
    np.testing.assert_allclose(mixed[15:], diff.embedding_[:5], atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sparse", [False, True])
def test_dtype_and_sparse_input(blobs, dtype, sparse):
    X, X_new = blobs
    X = np.abs(X).astype(dtype)
    X[X < 0.5] = 0
    X_in = sp.csr_matrix(X) if sparse else X
    diff = DiffusionTransformer(n_neighbors=6)
    Xt = diff.fit_transform(X_in)
    assert Xt.dtype == dtype and isinstance(Xt, np.ndarray)
    dense = DiffusionTransformer(n_neighbors=6).fit_transform(X.astype(np.float64))
    np.testing.assert_allclose(Xt, dense, rtol=1e-4, atol=1e-5)
    new = np.abs(X_new).astype(dtype)
    out = diff.transform(sp.csr_matrix(new) if sparse else new)
    assert out.dtype == dtype and np.isfinite(out).all()


def test_unstable_step_size_is_rejected(blobs):
    X, _ = blobs
    diff = DiffusionTransformer(n_neighbors=6, step_size=0.1).fit(X)
    limit = 2 / diff.lambda_max_
    with pytest.raises(ValueError, match=r"step_size=.* is unstable"):
        DiffusionTransformer(n_neighbors=6, step_size=limit * 1.05).fit(X)
    # Just below the limit the diffusion stays bounded.
    Xt = DiffusionTransformer(
        n_neighbors=6, step_size=limit * 0.99, n_layers=200
    ).fit_transform(X)
    assert np.isfinite(Xt).all() and np.abs(Xt).max() <= np.abs(X).max() * 10


def test_disconnected_components_and_duplicates_stay_finite():
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(size=(30, 2)), rng.normal(size=(30, 2)) + 100])
    X = np.vstack([X, X[:10]])  # duplicates
    Xt = DiffusionTransformer(n_neighbors=5, sigma=2).fit_transform(X)
    assert np.isfinite(Xt).all()
    # Each component keeps its mean: L 1 = 0 within a component.
    assert Xt[30:60].mean(axis=0) == pytest.approx(X[30:60].mean(axis=0), abs=1)


def test_bad_inputs_raise_clear_errors(blobs):
    X, X_new = blobs
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        DiffusionTransformer(n_neighbors=6).fit(X_nan)
    X_inf = X.copy()
    X_inf[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        DiffusionTransformer(n_neighbors=6).fit(X_inf)
    with pytest.raises(
        ValueError, match="n_neighbors=200 must be smaller than the number of samples"
    ):
        DiffusionTransformer(n_neighbors=200).fit(X)
    diff = DiffusionTransformer(n_neighbors=6).fit(X)
    with pytest.raises(
        ValueError, match="X has 2 features, but DiffusionTransformer is expecting 3"
    ):
        diff.transform(X_new[:, :2])
    with pytest.raises(ValueError, match="neighbors_algorithm"):
        DiffusionTransformer(neighbors_algorithm="kd_tree").fit(X)
    with pytest.raises(ValueError, match="step_size"):
        DiffusionTransformer(step_size=-1).fit(X)
    with pytest.raises(
        ValueError, match="adjacency has shape .* but X has 120 samples"
    ):
        DiffusionTransformer(adjacency=sp.eye(10)).fit(X)
    with pytest.raises(ValueError, match="square"):
        DiffusionTransformer(adjacency=sp.csr_matrix(np.ones((120, 3)))).fit(X)
    with pytest.raises(ValueError, match="negative"):
        DiffusionTransformer(adjacency=-sp.eye(120)).fit(X)


def test_inputs_are_not_modified(blobs):
    X, X_new = blobs
    X_copy, X_new_copy = X.copy(), X_new.copy()
    diff = DiffusionTransformer(n_neighbors=6)
    diff.fit_transform(X)
    diff.transform(X_new)
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(X_new, X_new_copy)


def test_precomputed_adjacency():
    rng = np.random.RandomState(0)
    n = 60
    A = sp.random(n, n, density=0.08, random_state=rng)
    A = ((A + A.T) > 0).astype(float)
    A.setdiag(0)
    A.eliminate_zeros()
    X = rng.normal(size=(n, 4))
    diff = DiffusionTransformer(adjacency=A, step_size=0.25, n_layers=5)
    Xt = diff.fit_transform(X)
    A_hat = A.toarray() + np.eye(n)
    d = A_hat.sum(axis=1)
    W = A_hat / np.sqrt(np.outer(d, d))
    L = np.diag(W.sum(axis=1)) - W
    np.testing.assert_allclose(
        Xt, np.linalg.matrix_power(np.eye(n) - 0.25 * L, 5) @ X, atol=1e-10
    )
    np.testing.assert_allclose(diff.transform(X), Xt)
    with pytest.raises(ValueError, match="pass adjacency="):
        diff.transform(X[:3] + 1)
    # A new node linked to nodes 0 and 1.
    edges = sp.csr_matrix(([1.0, 1.0], ([0, 0], [0, 1])), shape=(1, n))
    z = rng.normal(size=(1, 4))
    w = np.zeros(n)
    w[[0, 1]] = 1 / np.sqrt(3 * d[[0, 1]])
    zt, G = z[0].copy(), X.copy()
    for _ in range(5):
        zt = zt - 0.25 * (w.sum() * zt - w @ G)
        G = G - 0.25 * (L @ G)
    np.testing.assert_allclose(diff.transform(z, adjacency=edges)[0], zt, atol=1e-10)
    with pytest.raises(ValueError, match="one column per fitted sample"):
        diff.transform(z, adjacency=sp.csr_matrix((1, n + 1)))


def test_pickle_round_trip(blobs):
    X, X_new = blobs
    diff = DiffusionTransformer(n_neighbors=6).fit(X)
    loaded = pickle.loads(pickle.dumps(diff))
    np.testing.assert_array_equal(loaded.transform(X_new), diff.transform(X_new))


def test_feature_names_out(blobs):
    X, _ = blobs
    diff = DiffusionTransformer(n_neighbors=6).fit(X)
    assert list(diff.get_feature_names_out()) == ["x0", "x1", "x2"]


def test_pipeline_and_grid_search_with_two_jobs():
    X, y = make_moons(n_samples=300, noise=0.15, random_state=0)
    pipe = make_pipeline(StandardScaler(), DiffusionTransformer(), LogisticRegression())
    grid = GridSearchCV(
        pipe,
        {
            "diffusiontransformer__n_layers": [0, 20],
            "diffusiontransformer__n_neighbors": [10, 20],
        },
        cv=3,
        n_jobs=2,
    ).fit(X, y)
    assert grid.best_score_ > 0.85
    assert set(grid.cv_results_["param_diffusiontransformer__n_layers"]) == {0, 20}


def test_diffusion_raises_distance_diameter_ratio_on_moons():
    # The paper's central claim, with our defaults (issue acceptance check):
    # without labels ('auto' takes AUTO_UNLABELLED_N_LAYERS steps) and with 5
    # labels per class ('auto' chooses from them).
    X, y = make_moons(n_samples=1000, noise=0.1, random_state=0)
    before = distance_diameter_ratio(X, y)
    blind = distance_diameter_ratio(DiffusionTransformer().fit_transform(X), y)
    chooser = DiffusionTransformer()
    labelled = distance_diameter_ratio(chooser.fit_transform(X, few_labels(y, 5)), y)
    print(
        f"distance-diameter ratio: X {before:.5f}, diffused {blind:.5f} without "
        f"labels, {labelled:.5f} with ({chooser.n_layers_} steps)"
    )
    assert blind > before and labelled > before


def few_labels(y, per_class, seed=0):
    rng = np.random.RandomState(seed)
    y_semi = np.full_like(y, -1)
    for c in np.unique(y):
        y_semi[rng.choice(np.flatnonzero(y == c), per_class, replace=False)] = c
    return y_semi


def test_auto_with_labels_chooses_what_the_classifier_chooses():
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    for seed in range(2):
        y_semi = few_labels(y, 5, seed)
        diff = DiffusionTransformer(n_neighbors=10, sigma=5, random_state=seed)
        Xt = diff.fit_transform(X, y_semi)
        clf = DiffusionResNetClassifier(max_epochs=1, random_state=seed)
        clf.fit(X, y_semi)
        assert diff.n_layers_ == clf.n_layers_
        # The classifier diffuses float32 features, the transformer float64.
        np.testing.assert_allclose(
            diff.n_layers_scores_, clf.n_layers_scores_, rtol=1e-4
        )
        fixed = DiffusionTransformer(n_neighbors=10, sigma=5, n_layers=diff.n_layers_)
        np.testing.assert_allclose(Xt, fixed.fit_transform(X), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "targets",
    ["none", "all unlabelled", "one class", "regression", "two columns"],
)
def test_auto_without_class_labels_takes_a_fixed_number_of_steps(blobs, targets):
    X, _ = blobs
    y = {
        "none": None,
        "all unlabelled": np.full(len(X), -1),
        "one class": np.where(np.arange(len(X)) < 5, 3, -1),
        "regression": X[:, 0] * 2.5,
        "two columns": np.c_[X[:, 0] > 0, X[:, 1] > 0].astype(int),
    }[targets]
    diff = DiffusionTransformer(n_neighbors=6, random_state=0)
    if targets == "one class":
        with pytest.warns(UserWarning, match="all of one class"):
            Xt = diff.fit_transform(X, y)
    else:
        Xt = diff.fit_transform(X, y)
    assert diff.n_layers_ == AUTO_UNLABELLED_N_LAYERS
    assert not hasattr(diff, "n_layers_scores_")
    fixed = DiffusionTransformer(n_neighbors=6, n_layers=AUTO_UNLABELLED_N_LAYERS)
    np.testing.assert_allclose(Xt, fixed.fit_transform(X), rtol=1e-6, atol=1e-6)
    # A later fit without labels forgets the scores of one with labels.
    labels = np.where(np.arange(len(X)) < 20, np.arange(len(X)) % 2, -1)
    assert hasattr(diff.fit(X, labels), "n_layers_scores_")
    assert not hasattr(diff.fit(X), "n_layers_scores_")


def test_auto_targets_of_the_wrong_length_are_named(blobs):
    X, _ = blobs
    with pytest.raises(ValueError, match="y has 119 samples but X has 120"):
        DiffusionTransformer(n_neighbors=6).fit(X, np.zeros(119, dtype=int))


def test_auto_with_labels_on_real_data():
    # A classifier trained on a few labelled rows of the diffused features:
    # with 'auto' choosing from the labels, logistic regression gains on
    # digits and stays near the raw features on iris, where 20 steps (the
    # default before 'auto') cost it 6 points and more. benchmarks/
    # transformer.py measures the same on the 13 tables.
    results = {}
    for name, loader in [("digits", load_digits), ("iris", load_iris)]:
        X, y = loader(return_X_y=True)
        X = StandardScaler().fit_transform(X)
        for seed in range(3):
            y_semi = few_labels(y, 5, seed)
            lab, unl = y_semi != -1, y_semi == -1
            features = {
                "raw": X,
                "auto": DiffusionTransformer(random_state=seed).fit_transform(
                    X, y_semi
                ),
                "20 steps": DiffusionTransformer(
                    n_layers=20, random_state=seed
                ).fit_transform(X),
            }
            for kind, Z in features.items():
                lr = LogisticRegression(max_iter=1000).fit(Z[lab], y[lab])
                accuracy = (lr.predict(Z[unl]) == y[unl]).mean()
                results.setdefault((name, kind), []).append(accuracy)
    means = {key: np.mean(value) for key, value in results.items()}
    print({key: round(value, 3) for key, value in means.items()})
    assert means[("digits", "auto")] >= means[("digits", "raw")] + 0.05
    assert means[("iris", "auto")] >= means[("iris", "raw")] - 0.06
    assert means[("iris", "auto")] > means[("iris", "20 steps")]


def test_auto_chooses_inside_a_semi_supervised_pipeline():
    # A Pipeline hands fit's y to the transformer: -1 marks unlabelled rows,
    # which SelfTrainingClassifier takes as they are.
    X, y = load_wine(return_X_y=True)
    y_semi = few_labels(y, 5, 0)
    pipe = make_pipeline(
        StandardScaler(),
        DiffusionTransformer(random_state=0),
        SelfTrainingClassifier(LogisticRegression(max_iter=1000)),
    ).fit(X, y_semi)
    diff = pipe.named_steps["diffusiontransformer"]
    assert diff.n_layers_ > 0 and hasattr(diff, "n_layers_scores_")
    unl = y_semi == -1
    assert (pipe.predict(X[unl]) == y[unl]).mean() > 0.9


def test_auto_step_size_is_half_the_stability_limit(blobs):
    X, X_new = blobs
    diff = DiffusionTransformer(n_neighbors=6, step_size="auto").fit(X)
    assert diff.step_size_ * diff.lambda_max_ == pytest.approx(1.0)
    fixed = DiffusionTransformer(n_neighbors=6, step_size=diff.step_size_).fit(X)
    np.testing.assert_allclose(diff.transform(X_new), fixed.transform(X_new))


def test_hubs_make_lambda_max_large_and_auto_step_size_copes():
    # In many dimensions some points sit in many others' neighbour lists;
    # the reference normalisation does not bound their degree.
    X = np.random.RandomState(0).normal(size=(3000, 32))
    diff = DiffusionTransformer(n_neighbors=10, sigma=5, step_size="auto").fit(X)
    assert diff.lambda_max_ > 2
    assert np.isfinite(diff.embedding_).all()
    with pytest.raises(ValueError, match="unstable"):
        DiffusionTransformer(
            n_neighbors=10, sigma=5, step_size=2.5 / diff.lambda_max_
        ).fit(X)


def test_new_rows_in_chunks_match_one_pass(blobs, monkeypatch):
    # transform and predict attach new rows a chunk at a time; with tiny
    # chunks (mixed with fitted rows, so some chunks hold both) the result
    # is that of one pass over all rows.
    import sklearn_diffres._fitted_graph as fitted_graph_module
    from sklearn_diffres import DiffusionResNetClassifier

    X, X_new = blobs
    rows = np.vstack([X_new, X[:4], X_new[::-1]])
    diff = DiffusionTransformer(n_neighbors=6, n_layers=5).fit(X)
    y = (X[:, 0] > 0).astype(int)
    y[10:] = -1
    clf = DiffusionResNetClassifier(
        n_neighbors=6, sigma=3, n_layers=5, max_epochs=5, random_state=0
    ).fit(X, y)
    n = 40
    A = sp.random(n, n, density=0.1, random_state=0)
    A = ((A + A.T) > 0).astype(float)
    edges = sp.random(9, n, density=0.1, random_state=1, format="csr")
    Z = np.random.RandomState(2).normal(size=(9, 3))
    pre = DiffusionTransformer(adjacency=A, step_size=0.25, n_layers=4).fit(X[:n])
    one_pass = (
        diff.transform(rows),
        clf.predict_proba(rows),
        pre.transform(Z, adjacency=edges),
    )
    monkeypatch.setattr(fitted_graph_module, "CHUNK_ROWS", 4)
    chunked = (
        diff.transform(rows),
        clf.predict_proba(rows),
        pre.transform(Z, adjacency=edges),
    )
    for got, expected in zip(chunked, one_pass):
        np.testing.assert_allclose(got, expected, atol=1e-12)
    np.testing.assert_allclose(chunked[0][15:19], diff.embedding_[:4], atol=1e-12)
    with pytest.raises(ValueError, match="adjacency has 9 rows but X has 8"):
        pre.transform(Z[:8], adjacency=edges)


def test_n_steps_is_deprecated_for_n_layers():
    X = np.random.RandomState(0).normal(size=(60, 3))
    new = DiffusionTransformer(n_neighbors=6, n_layers=7).fit_transform(X)
    with pytest.warns(FutureWarning, match="n_steps was renamed n_layers"):
        old = DiffusionTransformer(n_neighbors=6, n_steps=7).fit_transform(X)
    np.testing.assert_array_equal(old, new)
