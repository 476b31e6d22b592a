"""DiffusionTransformer: the parameter-free diffusion layers on their own."""

# Authors: The sklearn-diffres developers
# SPDX-License-Identifier: BSD-3-Clause

import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    OneToOneFeatureMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils._param_validation import (
    HasMethods,
    Hidden,
    Interval,
    StrOptions,
)
from sklearn.utils.validation import check_is_fitted, check_memory

from ._diffusion import check_stability, diffuse, diffuse_attached
from ._graph import (
    _NEIGHBORS_ALGORITHMS,
    _check_adjacency,
    _KNNGraph,
    _laplacian,
    _PrecomputedGraph,
    _validate_features,
    largest_eigenvalue,
)
from ._utils import CHUNK_ROWS, restore_on_failure


def _same_rows(A, B):
    """True when A and B hold the same values (dense or sparse)."""
    if A.shape != B.shape:
        return False
    if sp.issparse(A) or sp.issparse(B):
        return (sp.csr_matrix(A) != sp.csr_matrix(B)).nnz == 0
    return np.array_equal(A, B)


def _symmetrized(laplacian, mass):
    """``M^1/2 L M^-1/2``: symmetric, with the eigenvalues of ``L``.

    ``L`` of a graph whose nodes carry masses ``M`` (merged identical rows)
    is symmetric in the mass-weighted inner product only.
    """
    if (mass == 1).all():
        return laplacian
    root = np.sqrt(mass)
    L = sp.diags(root) @ laplacian @ sp.diags(1.0 / root)
    return sp.csr_matrix((L + L.T) * 0.5)


def _dense(X):
    return X.toarray() if sp.issparse(X) else np.asarray(X)


def _operator_and_spectrum(graph, random_state):
    """``L`` of a fitted graph and its largest eigenvalue."""
    laplacian = _laplacian(graph.graph_)
    lambda_max = largest_eigenvalue(_symmetrized(laplacian, graph.mass_), random_state)
    return laplacian, lambda_max


def _knn_graph(X, n_neighbors, sigma, neighbors_algorithm, random_state, n_jobs):
    """The kNN graph of X, its ``L`` and ``lambda_max``: what ``memory`` caches."""
    graph = _KNNGraph(n_neighbors, sigma, neighbors_algorithm, random_state, n_jobs)
    graph.fit(X)
    return (graph, *_operator_and_spectrum(graph, random_state))


class DiffusionTransformer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Diffuse features over a neighbour graph of the samples.

    ``fit`` builds the graph of Diff-ResNet on ``X`` (see
    :func:`diffusion_graph`) and its operator ``L = diag(W 1) - W``;
    ``fit_transform`` returns ``X`` after ``n_layers`` steps of
    ``x <- x - step_size * L x``. Diffusion pulls neighbours together and so
    raises the ratio of the distance between classes to their diameter.

    ``transform`` of new rows attaches each of them to the fitted graph
    through its neighbours among the fitted rows (weights computed as in
    fit) and diffuses it alongside the fitted rows, one way: the fitted rows
    never see the new rows, so each output row depends only on its own input
    row and the fitted state. A new row identical to a fitted row is that
    fitted sample, so ``transform(X_fit)`` equals ``fit_transform(X_fit)``.
    Identical rows of ``X`` are one node of the graph, so they are diffused
    identically (sample order never breaks ties between them).

    Parameters
    ----------
    n_neighbors : int, default=20
        Number of nearest other samples each sample is joined to. Without
        labels to choose the number of steps with, a denser graph than the
        classifier's default (10) smooths more per step: on two moons 20
        steps over this graph double the distance-diameter ratio, over a
        6-neighbour graph they lower it.
    sigma : int, default=10
        Which nearest other sample (1-based) sets a sample's kernel width.
        The reference code's ``(n_top, sigma)`` are our ``(n_neighbors + 2,
        sigma + 1)``.
    step_size : float or 'auto', default='auto'
        Diffusion strength of each step. Explicit Euler is stable only while
        ``step_size * lambda_max(L) <= 2``; a float above that raises in
        ``fit``. 'auto' takes ``1 / lambda_max(L)``, half the limit, and so
        is stable on every graph: kNN graphs in many dimensions have hubs
        (points in many others' neighbour lists) whose degree, and so
        ``lambda_max``, the normalisation does not bound (on the benchmark
        tables, with the classifier's graph, ``lambda_max`` ranged from 0.3
        to 5.7).
    n_layers : int, default=20
        Number of diffusion steps (layers, as the classifier calls them).
        Many steps run as one Chebyshev
        polynomial of ``L`` that agrees with them to
        ``POLYNOMIAL_TOLERANCE`` times the size of the values, when that
        takes fewer sparse products (200 steps at the 'auto' step: about 50).
    adjacency : {array-like, sparse matrix} of shape (n_samples, n_samples), \
            default=None
        A graph of your own over the samples passed to ``fit`` (e.g. a
        citation graph), used instead of the kNN graph and normalised as
        ``D^-1/2 (A + I) D^-1/2``; self-loops in ``A`` add to ``I``.
    neighbors_algorithm : {'auto', 'exact', 'nndescent'}, default='auto'
        Exact neighbours up to ``EXACT_NEIGHBORS_MAX_SAMPLES`` samples, and
        for dense ``X`` while ``n_samples ** 2 * n_features`` is at most
        ``EXACT_NEIGHBORS_MAX_WORK`` (an exact search then costs less than
        pynndescent's compile); pynndescent above. Or force either.
    random_state : int, RandomState instance or None, default=None
        Seeds pynndescent and the eigenvalue estimate.
    n_jobs : int, default=None
        Parallel jobs for the neighbour search.
    memory : str, joblib.Memory or None, default=None
        Caches the kNN graph (its weights, ``L`` and ``lambda_max``), as
        scikit-learn's ``memory`` parameters do: a folder or a
        ``joblib.Memory``. Fits on the same ``X`` with the same graph
        parameters (and an integer ``random_state``) then load the graph
        instead of building it, e.g. the candidates of a grid over
        model-only parameters, fold by fold. None: no caching.
    n_steps : int
        Deprecated: use ``n_layers`` (the classifier's name for the same
        number). Still accepted, with a ``FutureWarning``; removed in 0.3.

    Attributes
    ----------
    graph_ : scipy.sparse.csr_matrix of shape (n_nodes, n_nodes)
        The normalised weight matrix ``W``. Identical rows of ``X`` are one
        node (so ``n_nodes`` is the number of distinct rows, ``n_samples``
        unless rows repeat); with ``adjacency``, every sample is a node.
    laplacian_ : scipy.sparse.csr_matrix of shape (n_nodes, n_nodes)
        The diffusion operator ``L``.
    nodes_ : ndarray of shape (n_samples,)
        The node of each training sample.
    lambda_max_ : float
        Largest eigenvalue of ``L`` (Lanczos estimate).
    step_size_ : float
        The step size used (``step_size``, or ``1 / lambda_max_`` for 'auto').
    embedding_ : ndarray of shape (n_samples, n_features)
        The diffused training data.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    DiffusionResNetClassifier : The whole network, trained on few labels.
    sklearn.semi_supervised.LabelSpreading : Diffuses labels, not features.

    References
    ----------
    .. [1] T. Wang, Z. Dou, C. Bao, Z. Shi, "Diffusion Mechanism in Residual
       Neural Network: Theory and Applications", IEEE TPAMI 46(2), 2024.
       arXiv:2105.03155.

    Examples
    --------
    >>> from sklearn.datasets import make_moons
    >>> from sklearn_diffres import DiffusionTransformer
    >>> X, y = make_moons(n_samples=200, noise=0.05, random_state=0)
    >>> diff = DiffusionTransformer(n_neighbors=10, n_layers=20)
    >>> Xt = diff.fit_transform(X)
    >>> Xt.shape
    (200, 2)
    >>> bool(abs(diff.transform(X) - Xt).max() < 1e-10)
    True
    """

    _parameter_constraints: dict = {
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "sigma": [Interval(Integral, 1, None, closed="left")],
        "step_size": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "n_layers": [Interval(Integral, 0, None, closed="left")],
        "n_steps": [
            Interval(Integral, 0, None, closed="left"),
            Hidden(StrOptions({"deprecated"})),
        ],
        "adjacency": ["array-like", "sparse matrix", None],
        "neighbors_algorithm": [StrOptions(set(_NEIGHBORS_ALGORITHMS))],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "memory": [None, str, HasMethods(["cache"])],
    }

    def __init__(
        self,
        n_neighbors=20,
        sigma=10,
        *,
        step_size="auto",
        n_layers=20,
        adjacency=None,
        neighbors_algorithm="auto",
        random_state=None,
        n_jobs=None,
        memory=None,
        n_steps="deprecated",
    ):
        self.n_neighbors = n_neighbors
        self.sigma = sigma
        self.step_size = step_size
        self.n_layers = n_layers
        self.adjacency = adjacency
        self.neighbors_algorithm = neighbors_algorithm
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.memory = memory
        self.n_steps = n_steps

    def _layers(self):
        """``n_layers``, or the deprecated ``n_steps`` when it is given."""
        return self.n_layers if self.n_steps == "deprecated" else self.n_steps

    def _fit_graph(self, X):
        """Build graph_, laplacian_ and lambda_max_; check the step size."""
        if self.n_steps != "deprecated":
            warnings.warn(
                "n_steps was renamed n_layers (the classifier's name for the "
                "number of diffusion layers) and will be removed in 0.3; "
                f"use n_layers={self.n_steps}.",
                FutureWarning,
            )
        if self.adjacency is None:
            seed = self.random_state
            if isinstance(seed, np.random.RandomState):
                seed = int(seed.randint(np.iinfo(np.int32).max))
            build = check_memory(self.memory).cache(_knn_graph, ignore=["n_jobs"])
            self._graph, self.laplacian_, self.lambda_max_ = build(
                X,
                self.n_neighbors,
                self.sigma,
                self.neighbors_algorithm,
                seed,
                self.n_jobs,
            )
            self.graph_ = self._graph.graph_
        else:
            A = _check_adjacency(self.adjacency)
            if A.shape[0] != X.shape[0]:
                raise ValueError(
                    f"adjacency has shape {A.shape} but X has {X.shape[0]} "
                    "samples; the graph must have one row and column per sample."
                )
            self._graph = _PrecomputedGraph().fit(A)
            self.graph_ = self._graph.graph_
            # The graph was built (and its input checked) above.
            self.laplacian_, self.lambda_max_ = _operator_and_spectrum(
                self._graph, self.random_state
            )
        if self.step_size == "auto":
            # A graph without edges has lambda_max 0: any step leaves it as is.
            self.step_size_ = 1.0 / self.lambda_max_ if self.lambda_max_ > 0 else 1.0
        else:
            self.step_size_ = float(self.step_size)
        check_stability(self.step_size_, self.lambda_max_)
        self.nodes_ = self._graph.nodes_
        # The rows of the graph's nodes (X itself unless rows repeat).
        first = self._graph.first_
        self._fit_X = X if first.size == X.shape[0] else X[first]

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Build the graph on X and diffuse X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted transformer.
        """
        with restore_on_failure(self):
            X = _validate_features(
                self, X, [np.float64, np.float32], ensure_min_samples=2
            )
            self._fit_graph(X)
            self._node_embedding = self._diffuse_fitted(_dense(self._fit_X))
            self.embedding_ = self._node_embedding[self.nodes_]
        return self

    def fit_transform(self, X, y=None):
        """Fit to X and return the diffused X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features)
            X after ``n_layers`` diffusion steps (dense, X's float dtype).
        """
        return self.fit(X).embedding_.copy()

    def _diffuse_fitted(self, G):
        """Diffuse values ``G`` given for every node of the fitted graph."""
        return diffuse(
            self._operator(G.dtype),
            G,
            self.step_size_,
            self._layers(),
            lambda_max=self.lambda_max_,
        )

    def _operator(self, dtype):
        """``laplacian_`` in the values' float type (not kept: pickles stay small)."""
        return self.laplacian_.astype(dtype, copy=False)

    def _new_edges(self, X, adjacency):
        """The validated edges of new rows (precomputed graph) or None (kNN)."""
        if self.adjacency is None:
            if adjacency is not None:
                raise ValueError(
                    "adjacency can only be passed to transform when the "
                    "transformer was fitted with a precomputed adjacency."
                )
            return None
        if adjacency is None:
            raise ValueError(
                "This transformer was fitted on a precomputed adjacency: pass "
                "adjacency=, the edges from the new rows to the fitted samples, "
                "of shape (n_new_samples, n_fitted_samples)."
            )
        A = _check_adjacency(adjacency, n_columns=self._fit_X.shape[0])
        if A.shape[0] != X.shape[0]:
            raise ValueError(f"adjacency has {A.shape[0]} rows but X has {X.shape[0]}.")
        return A

    def _diffuse_new(self, X, Z, G, adjacency=None, attached=None):
        """Diffuse new rows' values ``Z`` alongside fitted values ``G``.

        ``X`` (validated) places the new rows in the graph; ``G`` holds the
        fitted nodes' values at step 0. Returns ``(out, match)``: rows
        identical to a fitted node (``match >= 0``) are left for the caller
        to fill with that node's final value.

        New rows go through in chunks of ``CHUNK_ROWS``, so that
        the neighbour queries and their weights take memory in proportion to
        a chunk, not to all new rows; each chunk runs the fitted rows'
        ``n_layers`` sparse products again. A row's result does not depend on
        its chunk. ``attached`` (an :class:`AttachedDiffusion` of ``G``)
        diffuses the rows it covers without those products.
        """
        m = X.shape[0]
        if (
            self.adjacency is not None
            and adjacency is None
            and _same_rows(X, self._fit_X)
        ):
            # The fitted X itself needs no adjacency: every row is matched.
            return np.empty_like(Z), np.arange(m)
        edges = self._new_edges(X, adjacency)
        out = np.empty_like(Z)
        match = np.full(m, -1, dtype=np.intp)
        for start in range(0, m, CHUNK_ROWS):
            rows = slice(start, start + CHUNK_ROWS)
            W_new, match[rows] = self._graph.attach(
                X[rows] if edges is None else edges[rows]
            )
            new = match[rows] < 0
            if attached is not None and new.any():
                idx = np.flatnonzero(new)
                done, covered = attached.apply(W_new[idx], Z[rows][idx])
                out[rows][idx[covered]] = done[covered]
                new[idx[covered]] = False
            if new.any():
                out[rows][new] = diffuse_attached(
                    self._operator(Z.dtype),
                    W_new[new].astype(Z.dtype),
                    Z[rows][new],
                    G,
                    self.step_size_,
                    self._layers(),
                )
        return out, match

    def transform(self, X, adjacency=None):
        """Diffuse new rows alongside the fitted samples, one way.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            New rows.
        adjacency : sparse matrix of shape (n_samples, n_fitted_samples), \
                default=None
            Only with a precomputed graph: the edges from the new rows to the
            fitted samples. Not needed to transform the fitted X itself.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features)
            The diffused rows (dense, X's float dtype).
        """
        check_is_fitted(self)
        X = _validate_features(self, X, [np.float64, np.float32], reset=False)
        X_fit = _dense(self._fit_X).astype(X.dtype, copy=False)
        out, match = self._diffuse_new(X, _dense(X), X_fit, adjacency)
        matched = match >= 0
        out[matched] = self._fitted_embedding()[match[matched]]
        return out

    def _fitted_embedding(self):
        """The diffused fitted nodes; computed on first use when ``fit``
        skipped it (the classifier's ``diffusion_`` only builds the graph)."""
        if not hasattr(self, "_node_embedding"):
            self._node_embedding = self._diffuse_fitted(_dense(self._fit_X))
            self.embedding_ = self._node_embedding[self.nodes_]
        return self._node_embedding

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
