"""Awkward inputs and failed fits: the right result or a clear error."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_moons
from sklearn.exceptions import NotFittedError

from sklearn_diffres import (
    DiffusionResNetClassifier,
    DiffusionTransformer,
    diffusion_graph,
    graph_laplacian,
    normalize_adjacency,
)

FAST = dict(n_neighbors=10, sigma=3, max_epochs=15, random_state=0)


def _semi(y, per_class=5):
    """The first ``per_class`` labels of each class; the rest become -1."""
    y_semi = np.full_like(y, -1)
    for c in np.unique(y):
        y_semi[np.flatnonzero(y == c)[:per_class]] = c
    return y_semi


@pytest.fixture(scope="module")
def moons():
    X, y = make_moons(300, noise=0.1, random_state=0)
    X_new = make_moons(40, noise=0.1, random_state=1)[0]
    return X, _semi(y), X_new


@pytest.mark.parametrize("fit_sparse", [False, True])
def test_transformer_accepts_either_format_at_transform(moons, fit_sparse):
    X, _, X_new = moons
    X_fit = sp.csr_matrix(X) if fit_sparse else X
    t = DiffusionTransformer(n_neighbors=10, sigma=3).fit(X_fit)
    dense = t.transform(X_new)
    sparse = t.transform(sp.csr_matrix(X_new))
    np.testing.assert_allclose(sparse, dense, atol=1e-6)
    # Fitted rows in the other format are still the fitted samples.
    other = X if fit_sparse else sp.csr_matrix(X)
    np.testing.assert_allclose(t.transform(other), t.embedding_, atol=1e-6)


@pytest.mark.parametrize("fit_sparse", [False, True])
def test_classifier_accepts_either_format_at_predict(moons, fit_sparse):
    X, y_semi, X_new = moons
    X_fit = sp.csr_matrix(X) if fit_sparse else X
    clf = DiffusionResNetClassifier(**FAST).fit(X_fit, y_semi)
    dense = clf.predict_proba(X_new)
    sparse = clf.predict_proba(sp.csr_matrix(X_new))
    np.testing.assert_allclose(sparse, dense, atol=1e-6)
    other = X if fit_sparse else sp.csr_matrix(X)
    np.testing.assert_allclose(
        clf.predict_proba(other), clf.label_distributions_, atol=1e-6
    )


def test_failed_first_fit_leaves_the_classifier_unfitted(moons):
    X, _, _ = moons
    clf = DiffusionResNetClassifier(**FAST)
    with pytest.raises(ValueError, match="no labelled sample"):
        clf.fit(X, np.full(len(X), -1))
    with pytest.raises(NotFittedError):
        clf.predict(X)
    t = DiffusionTransformer(n_neighbors=10, step_size=50.0)
    with pytest.raises(ValueError, match="unstable"):
        t.fit(X)
    with pytest.raises(NotFittedError):
        t.transform(X)


def test_failed_refit_leaves_the_previous_model(moons):
    X, y_semi, X_new = moons
    clf = DiffusionResNetClassifier(**FAST).fit(X, y_semi)
    before = clf.predict_proba(X_new)
    classes, n_layers = clf.classes_.copy(), clf.n_layers_
    # Late: the new graph is built and the targets are read before the
    # validation split for early stopping fails (6 labels, 90% held out
    # leaves no training label).
    X2 = X[:200] + 5.0
    y2 = np.full(200, -1)
    y2[np.flatnonzero(y_semi[:200] == 0)[:5]] = 7
    y2[np.flatnonzero(y_semi[:200] == 1)[:1]] = 8
    clf.set_params(early_stopping=True, validation_fraction=0.9)
    with pytest.raises(ValueError, match="early_stopping"):
        clf.fit(X2, y2)
    clf.set_params(early_stopping=False)
    np.testing.assert_array_equal(clf.predict_proba(X_new), before)
    np.testing.assert_array_equal(clf.classes_, classes)
    assert clf.n_layers_ == n_layers
    assert clf.diffusion_.graph_.shape == (len(X), len(X))
    # Early: an unusable device, before any work.
    clf.set_params(device="nonsense")
    with pytest.raises(ValueError, match="device='nonsense'"):
        clf.fit(X2, y2)
    np.testing.assert_array_equal(
        clf.set_params(device="cpu").predict_proba(X_new), before
    )
    # The transformer too.
    t = DiffusionTransformer(n_neighbors=10).fit(X)
    emb = t.embedding_.copy()
    with pytest.raises(ValueError, match="unstable"):
        t.set_params(step_size=50.0).fit(X2)
    np.testing.assert_array_equal(t.embedding_, emb)
    np.testing.assert_array_equal(t.transform(X), emb)


def test_labels_mixing_strings_and_numbers_are_refused(moons):
    X, _, _ = moons
    y = np.full(len(X), -1, dtype=object)
    y[:3], y[3:6] = "a", 1
    with pytest.raises(ValueError, match="mixes string and non-string labels"):
        DiffusionResNetClassifier(**FAST).fit(X, y)
    # Strings with the integer -1 for unlabelled samples are fine.
    y[3:6] = "b"
    clf = DiffusionResNetClassifier(**FAST).fit(X, y)
    assert set(clf.classes_) == {"a", "b"}


@pytest.mark.parametrize("function", [graph_laplacian, normalize_adjacency])
def test_graph_functions_validate_their_input(function):
    nan = sp.csr_matrix(np.array([[0.0, np.nan], [np.nan, 0.0]]))
    with pytest.raises(ValueError, match="contains NaN"):
        function(nan)
    with pytest.raises(ValueError, match="must be a square matrix"):
        function(sp.csr_matrix(np.ones((3, 2))))
    with pytest.raises(ValueError, match="negative weights"):
        function(sp.csr_matrix(np.array([[0.0, -1.0], [-1.0, 0.0]])))
    with pytest.raises(ValueError, match="must be an array-like or a sparse"):
        function("graph")


def test_diffusion_graph_validates_its_parameters():
    X = np.random.RandomState(0).normal(size=(30, 2))
    with pytest.raises(ValueError, match="n_neighbors"):
        diffusion_graph(X, n_neighbors=0)
    with pytest.raises(ValueError, match="neighbors_algorithm"):
        diffusion_graph(X, neighbors_algorithm="fast")


@pytest.mark.parametrize(
    "params, message",
    [
        ({"device": "meta"}, "device='meta' is not supported"),
        ({"device": "CPU"}, "device='CPU' is not a torch device"),
        ({"device": "nonsense"}, "device='nonsense' is not a torch device"),
        ({"optimizer": int}, "is not a torch.optim.Optimizer subclass"),
    ],
)
def test_device_and_optimizer_are_checked_before_any_work(moons, params, message):
    X, y_semi, _ = moons
    clf = DiffusionResNetClassifier(**FAST, **params)
    with pytest.raises(ValueError, match=message):
        clf.fit(X, y_semi)
    # Refused before the graph was built.
    assert not hasattr(clf, "diffusion_")


def test_self_loops_add_to_the_unit_self_loop():
    # Documented behaviour: W = D^-1/2 (A + I) D^-1/2 with A's own loops kept.
    A = np.array([[2.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    M = A + np.eye(3)
    d = M.sum(axis=1)
    expected = M / np.sqrt(np.outer(d, d))
    np.testing.assert_allclose(normalize_adjacency(A).toarray(), expected)


def test_diverging_optimiser_stops_with_an_error_naming_lr(moons):
    X, y_semi, _ = moons
    # The default gradient clipping keeps even lr=10 finite; without it the
    # loss overflows.
    clipped = DiffusionResNetClassifier(lr=10, max_epochs=50, random_state=0)
    assert np.isfinite(clipped.fit(X, y_semi).label_distributions_).all()
    clf = DiffusionResNetClassifier(
        optimizer="sgd",
        lr=10,
        max_epochs=50,
        random_state=0,
        callbacks__gradient_clipping__gradient_clip_value=None,
    )
    with pytest.raises(ValueError, match=r"Training diverged.*lr=10"):
        clf.fit(X, y_semi)
    with pytest.raises(NotFittedError):
        clf.predict_proba(X)


def test_adjacency_without_edges():
    # ARPACK cannot start on L = 0; the spectrum of an empty graph is {0}.
    X = np.random.RandomState(0).rand(120, 3)
    t = DiffusionTransformer(adjacency=sp.csr_matrix((120, 120)), n_layers=5).fit(X)
    assert t.lambda_max_ == 0.0
    np.testing.assert_allclose(t.embedding_, X)


@pytest.mark.parametrize("factor", [1e160, 1e-160])
def test_extreme_scales_give_the_same_graph(moons, factor):
    # Squared distances of 1e160 overflow (and of 1e-160 underflow); the
    # self-tuning kernel does not change with a global scale, so neither may
    # the graph, nor the attachment of new rows.
    X, _, X_new = moons
    # One seed for both: the step comes from a Lanczos estimate of
    # lambda_max, whose random start otherwise parts the two on the same
    # graph (by 3.7e-9 in one new row's value on one run).
    ref = DiffusionTransformer(n_neighbors=10, sigma=3, random_state=0).fit(X)
    big = DiffusionTransformer(n_neighbors=10, sigma=3, random_state=0).fit(X * factor)
    np.testing.assert_allclose(big.graph_.toarray(), ref.graph_.toarray(), atol=1e-12)
    np.testing.assert_allclose(
        big.transform(X_new * factor) / factor, ref.transform(X_new), atol=1e-9
    )


def test_ctrl_c_during_fit_propagates_and_keeps_the_previous_model(moons):
    # skorch's partial_fit swallows KeyboardInterrupt (its early stopping
    # raises one); a user's Ctrl-C must still stop fit, not return a
    # half-trained model that looks fitted.
    import _thread
    import signal
    import threading

    X, y_semi, X_new = moons
    clf = DiffusionResNetClassifier(**FAST).fit(X, y_semi)
    before = clf.predict_proba(X_new)
    clf.set_params(max_epochs=20000)  # minutes: bounded if no interrupt came
    # A process started in the background by a non-interactive shell
    # inherits SIGINT ignored, and then interrupt_main does nothing: give
    # SIGINT Python's own handler for the test.
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(3.0, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt, match="fit was interrupted after"):
            clf.fit(X, y_semi)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, handler)
    np.testing.assert_array_equal(clf.predict_proba(X_new), before)
    # Early stopping, which ends training the same way, is not an interrupt
    # (fully labelled moons that overlap: it stops after a few dozen of 300
    # epochs).
    X_full, y_full = make_moons(300, noise=0.3, random_state=0)
    stopped = DiffusionResNetClassifier(
        max_epochs=300, early_stopping=True, patience=5, random_state=0
    ).fit(X_full, y_full)
    assert len(stopped.net_.history_) < 300


def _duplicate_cases():
    """Iris (one duplicate pair), every row twice, integer-rounded moons."""
    from sklearn.datasets import load_iris

    iris, y_iris = load_iris(return_X_y=True)
    moons, y_moons = make_moons(300, noise=0.3, random_state=0)
    rounded = np.round(moons * 2)
    return {
        "iris": (iris, y_iris),
        "twice": (np.r_[iris, iris], np.r_[y_iris, y_iris]),
        "rounded moons": (rounded, y_moons),
    }


def _check_identical_rows_identical(X, y, algorithm):
    t = DiffusionTransformer(n_neighbors=10, sigma=3, neighbors_algorithm=algorithm)
    Xt = t.fit_transform(X)
    np.testing.assert_allclose(t.transform(X), Xt, rtol=0, atol=1e-6)
    # Copies of a row share one node, and so one output.
    _, first, inverse = np.unique(X, axis=0, return_index=True, return_inverse=True)
    assert t.graph_.shape[0] == first.size < X.shape[0]
    np.testing.assert_array_equal(Xt, Xt[first][inverse.ravel()])
    clf = DiffusionResNetClassifier(
        neighbors_algorithm=algorithm, max_epochs=15, random_state=0
    ).fit(X, _semi(y))
    np.testing.assert_allclose(
        clf.predict_proba(X), clf.label_distributions_, rtol=0, atol=1e-6
    )
    np.testing.assert_array_equal(clf.predict(X), clf.transduction_)
    proba = clf.label_distributions_
    np.testing.assert_array_equal(proba, proba[first][inverse.ravel()])


@pytest.mark.parametrize("name", ["iris", "twice", "rounded moons"])
def test_identical_rows_are_treated_identically(name):
    X, y = _duplicate_cases()[name]
    _check_identical_rows_identical(X, y, "exact")


def test_identical_rows_are_treated_identically_with_pynndescent():
    # One test for the three cases: pynndescent compiles once per process.
    for X, y in _duplicate_cases().values():
        _check_identical_rows_identical(X, y, "nndescent")


def test_heavy_duplicates_are_their_own_neighbours():
    # Each of 4 points 30 times: as in the graph of the rows, a point's 10
    # nearest other rows are its own copies, so the 4 nodes stay apart.
    X = np.repeat(np.eye(4), 30, axis=0)
    y = np.repeat(np.arange(4), 30)
    clf = DiffusionResNetClassifier(max_epochs=30, random_state=0)
    clf.fit(X, _semi(y, 2))
    W = clf.diffusion_.graph_
    assert W.shape == (4, 4)
    np.testing.assert_allclose(W.toarray(), np.eye(4))
    assert (clf.transduction_ == y).mean() > 0.99


def _row_graph_with_shared_ties(X, n_neighbors, sigma):
    """Dense transcription of the graph on the rows, ties shared out.

    A row's kernel weight towards a point with several copies at the cut is
    split evenly among them (what makes copies interchangeable).
    """
    n = X.shape[0]
    D = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=2))
    K = np.zeros((n, n))
    width = np.zeros(n)
    for i in range(n):
        others = np.delete(np.arange(n), i)
        d = np.sort(D[i, others])
        width[i] = d[sigma - 1] if d[sigma - 1] > 0 else d[d > 0].min()
        cut = d[n_neighbors - 1]
        inside = others[D[i, others] < cut]
        at_cut = others[D[i, others] == cut]
        share = (n_neighbors - inside.size) / at_cut.size
        K[i, inside] = np.exp(-((D[i, inside] / width[i]) ** 2))
        K[i, at_cut] = share * np.exp(-((cut / width[i]) ** 2))
    degree = 1 + K.sum(axis=1)
    W = K / np.sqrt(np.outer(degree, degree))
    return (W + W.T) / 2 + np.diag(1 / degree)


def test_merged_graph_equals_the_row_graph_with_shared_ties():
    # For a signal equal on copies, diffusion over the nodes equals diffusion
    # over the rows' graph with ties shared out among copies.
    from sklearn_diffres._graph import _KNNGraph

    rng = np.random.RandomState(0)
    base = rng.normal(size=(12, 2))
    X = base[rng.randint(0, 12, size=40)]
    graph = _KNNGraph(5, 3, "exact", 0, None).fit(X)
    W_rows = _row_graph_with_shared_ties(X, 5, 3)
    L_rows = np.diag(W_rows.sum(axis=1)) - W_rows
    L_nodes = graph_laplacian(graph.graph_).toarray()
    signal = rng.normal(size=(graph.graph_.shape[0], 3))
    np.testing.assert_allclose(
        (L_nodes @ signal)[graph.nodes_], L_rows @ signal[graph.nodes_], atol=1e-12
    )


def test_same_seeds_same_results_in_threads():
    # Seeding went through torch's process-wide generator: fits in threads
    # drew from one stream. Per-fit generators make them match a sequential
    # run exactly (dropout noise included).
    from joblib import Parallel, delayed, parallel_config

    X, y = make_moons(200, noise=0.1, random_state=0)
    y_semi = _semi(y)

    def fit(seed):
        clf = DiffusionResNetClassifier(
            dropout=0.2, n_layers=10, max_epochs=20, random_state=seed
        )
        return clf.fit(X, y_semi).predict_proba(X)

    seeds = [0, 1, 0, 1]
    sequential = [fit(s) for s in seeds]
    with parallel_config(backend="threading", n_jobs=4):
        threaded = Parallel()(delayed(fit)(s) for s in seeds)
    for a, b in zip(sequential, threaded):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(sequential[0], sequential[1])


@pytest.mark.parametrize(
    "marker", [None, np.nan, "-1", -1], ids=["None", "NaN", "str -1", "int -1"]
)
def test_string_labels_have_unlabelled_markers(moons, marker):
    X, y_semi, _ = moons
    names = np.array(["cat", "dog"], dtype=object)
    y = names[np.maximum(y_semi, 0)]
    y[y_semi == -1] = marker
    if marker == "-1":
        y = y.astype(str)  # what numpy makes of ["cat", -1]
    clf = DiffusionResNetClassifier(**FAST).fit(X, y)
    assert clf.classes_.tolist() == ["cat", "dog"]
    assert set(clf.transduction_) == {"cat", "dog"}


def test_pandas_string_column_with_missing_labels(moons):
    pd = pytest.importorskip("pandas", reason="pandas is not a dependency")
    X, y_semi, _ = moons
    y = pd.Series(np.where(y_semi == 0, "cat", "dog"), dtype="string")
    y[y_semi == -1] = pd.NA
    clf = DiffusionResNetClassifier(**FAST).fit(X, y)
    assert clf.classes_.tolist() == ["cat", "dog"]


def test_string_targets_without_unlabelled_sample_warn(moons):
    X, y_semi, _ = moons
    y = np.where(y_semi == -1, "unlabeled", np.where(y_semi == 0, "cat", "dog"))
    with pytest.warns(UserWarning, match="no unlabelled sample.*'unlabeled'"):
        clf = DiffusionResNetClassifier(**FAST).fit(X, y)
    assert "unlabeled" in clf.classes_


def test_device_may_be_a_torch_device(moons):
    import torch

    X, y_semi, _ = moons
    a = DiffusionResNetClassifier(**FAST, device=torch.device("cpu")).fit(X, y_semi)
    b = DiffusionResNetClassifier(**FAST).fit(X, y_semi)
    np.testing.assert_array_equal(a.label_distributions_, b.label_distributions_)


def test_model_selection_with_the_semi_supervised_split(moons):
    # Named scorers see no -1 in SemiSupervisedKFold's test folds, so they
    # agree with the estimator's own score (which ignores -1).
    from sklearn.model_selection import cross_val_score

    from sklearn_diffres import SemiSupervisedKFold

    X, y_semi, _ = moons
    y = y_semi.copy()
    y[:60] = make_moons(300, noise=0.1, random_state=0)[1][:60]
    clf = DiffusionResNetClassifier(**FAST)
    cv = SemiSupervisedKFold(3)
    named = cross_val_score(clf, X, y, cv=cv, scoring="accuracy")
    own = cross_val_score(clf, X, y, cv=cv)
    np.testing.assert_array_equal(named, own)
    assert named.mean() > 0.6


def test_calibration_on_held_out_labelled_rows(moons):
    # The documented way: a fitted classifier, calibrated on labelled rows
    # it did not see, has exactly the classifier's classes (no -1 column).
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    X, y_semi, _ = moons
    y = make_moons(300, noise=0.1, random_state=0)[1]
    clf = DiffusionResNetClassifier(**FAST).fit(X, y_semi)
    held_out = np.flatnonzero(y_semi == -1)[:60]
    cal = CalibratedClassifierCV(FrozenEstimator(clf)).fit(X[held_out], y[held_out])
    assert cal.classes_.tolist() == [0, 1]
    proba = cal.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    assert cal.score(X, y) > 0.8


def test_classifier_diffusion_is_a_working_transformer(moons):
    # diffusion_ is documented as the fitted graph: its transform diffuses
    # features over that graph for n_layers_ steps, as a transformer fitted
    # with the same settings does.
    X, y_semi, X_new = moons
    clf = DiffusionResNetClassifier(**FAST).fit(X, y_semi)
    own = DiffusionTransformer(
        n_neighbors=10,
        sigma=3,
        step_size=clf.diffusion_.step_size_,
        n_layers=clf.n_layers_,
    ).fit(X.astype(np.float32))
    np.testing.assert_allclose(
        clf.diffusion_.transform(X_new), own.transform(X_new), atol=1e-5
    )
    np.testing.assert_allclose(clf.diffusion_.embedding_, own.embedding_, atol=1e-5)


def test_pickles_hold_no_exact_index(moons):
    import pickle

    X, y_semi, X_new = moons
    clf = DiffusionResNetClassifier(**FAST).fit(X, y_semi)
    loaded = pickle.loads(pickle.dumps(clf))
    # The exact neighbour index is rebuilt on first use, not pickled.
    assert loaded._graph.builder.index_._nn is None
    np.testing.assert_array_equal(loaded.predict_proba(X_new), clf.predict_proba(X_new))
    assert loaded._graph.builder.index_._nn is not None


def test_new_rows_through_the_summarised_trajectory_match_the_plain_path():
    # AttachedDiffusion interpolates the fitted trajectory at each new row's
    # a = 1 - step * delta instead of rerunning the fitted graph; it must
    # agree with the plain path to float32 precision.
    import pickle

    from sklearn.datasets import make_classification

    X, y = make_classification(
        1500, 8, n_informative=6, n_classes=4, n_clusters_per_class=1, random_state=0
    )
    y_semi = np.where(np.arange(1500) < 60, y, -1)
    clf = DiffusionResNetClassifier(n_layers=50, max_epochs=10, random_state=0)
    clf.fit(X[:1200], y_semi[:1200])
    X_new = np.r_[X[1200:], X[1200:1210] * 6.0]
    summarised = clf.decision_function(X_new)
    cache = clf._scores._summary["attached"]
    W_new, _ = clf._graph.builder.attach(X_new.astype(np.float32))
    Z = np.zeros((len(X_new), 4), dtype=np.float32)
    _, covered = cache.apply(W_new, Z)
    assert covered.all()
    # Rows nearly cut off from the graph (a near 1) are left to the plain path.
    _, covered = cache.apply(W_new * 1e-4, Z)
    assert not covered.any()
    clf._scores._summary["attached"] = None  # the plain path only
    plain = clf.decision_function(X_new)
    np.testing.assert_allclose(summarised, plain, rtol=0, atol=1e-5 * abs(plain).max())
    # Not pickled; rebuilt on the first prediction after loading, and a refit
    # starts afresh.
    clf._scores._summary["attached"] = cache
    loaded = pickle.loads(pickle.dumps(clf))
    assert loaded._scores._summary == {}
    np.testing.assert_array_equal(loaded.decision_function(X_new), summarised)
    clf.fit(X[:1100], y_semi[:1100])
    assert clf._scores._summary == {}


def test_balanced_class_weight_raises_minority_recall(imbalanced):
    # Few labels are often imbalanced: 40 labels of one class, 3 of the
    # other, on two overlapping blobs.
    X, y, y_semi = imbalanced
    minority = (y == 1) & (y_semi == -1)

    # n_layers as 'auto' chooses here, without the network it would average
    # in (without diffusion, weighting moves the recall less: +0.05).
    def recall(class_weight):
        clf = DiffusionResNetClassifier(
            class_weight=class_weight, n_layers=200, random_state=0
        )
        return (clf.fit(X, y_semi).transduction_[minority] == 1).mean()

    plain, balanced = recall(None), recall("balanced")
    assert balanced > plain + 0.1
    assert recall({1: 40 / 3}) > plain + 0.1
    with pytest.raises(ValueError, match=r"class_weight names labels .*\[2\]"):
        DiffusionResNetClassifier(class_weight={2: 1.0}, max_epochs=2).fit(X, y_semi)


def test_pickles_hold_the_graph_once():
    # The weights W are pickled once (the classifier, its diffusion_ and the
    # fitted graph share them); L is derived from W and rebuilt on load.
    import pickle

    rng = np.random.RandomState(0)
    X = rng.normal(size=(2000, 10))
    y = np.where(np.arange(2000) < 100, (X[:, 0] > 0).astype(int), -1)
    clf = DiffusionResNetClassifier(max_epochs=5, random_state=0).fit(X, y)
    blob = pickle.dumps(clf)
    assert len(blob) < 2 * len(pickle.dumps(clf._graph.graph))
    loaded = pickle.loads(blob)
    assert loaded.diffusion_.laplacian_ is loaded._graph.laplacian
    assert (loaded._graph.laplacian != clf._graph.laplacian).nnz == 0
    np.testing.assert_array_equal(
        loaded.predict_proba(X[:50] + 0.01), clf.predict_proba(X[:50] + 0.01)
    )
    t = DiffusionTransformer(n_layers=5).fit(X)
    loaded_t = pickle.loads(pickle.dumps(t))
    np.testing.assert_array_equal(
        loaded_t.transform(X[:50] + 0.01), t.transform(X[:50] + 0.01)
    )
    assert (loaded_t.laplacian_ != t.laplacian_).nnz == 0
