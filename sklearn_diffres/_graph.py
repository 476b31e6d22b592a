"""Neighbour graphs and the diffusion operator.

The graph follows the reference code of Diff-ResNet (Wang et al., TPAMI 2024):
a Gaussian kernel on k-nearest neighbours with a self-tuning width, the point
itself kept as a self-loop of weight 1, then symmetric normalisation
``D^-1/2 K D^-1/2`` and symmetrisation ``(W + W^T) / 2``. A user's own graph
(for example a citation graph) is normalised as the reference does for graphs:
``D^-1/2 (A + I) D^-1/2``.

How the counts map onto the reference code. Ours count *other* points:
``n_neighbors`` is the number of nearest other points each point is joined
to, and ``sigma`` says which of them (1-based) sets the width. The reference
counts the point itself as its own first neighbour and keeps distances
strictly below its ``n_top``-th smallest distance, so its ``(n_top, sigma)``
equal our ``(n_neighbors + 2, sigma + 1)``: its few-shot default
``n_top=8, sigma=4`` is ``n_neighbors=6, sigma=3`` here.
"""

# Authors: The sklearn-diffres developers
# SPDX-License-Identifier: BSD-3-Clause

from numbers import Integral

import numpy as np
import scipy.sparse as sp
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.validation import check_array, validate_data

from ._neighbors import (
    _NEIGHBORS_ALGORITHMS,
    _UNSCALED_RANGE,
    _NeighborIndex,
    _pair_distances,
    _sort_rows,
    _use_exact,
)
from ._utils import REORDER_MIN_NODES, distinct_rows, locality_order, same_format


def _widths(width, distances):
    """Self-tuning widths ``width`` (each row's distance to its ``sigma``-th
    nearest other row) with the zeros replaced.

    A zero width (the point has ``sigma`` or more exact duplicates) would make
    ``0 / 0``; it is replaced by the row's smallest non-zero distance to a
    candidate neighbour in ``distances``, or by 1 when there is none.
    """
    width = np.array(width, dtype=np.float64)
    zero = width <= 0
    if zero.any():
        d = np.where(distances[zero] > 0, distances[zero], np.inf)
        fallback = d.min(axis=1, initial=np.inf)
        fallback[~np.isfinite(fallback)] = 1.0
        width[zero] = fallback
    return width


def _check_counts(n_samples, n_neighbors, sigma):
    if not isinstance(n_neighbors, Integral) or n_neighbors < 1:
        raise ValueError(
            f"n_neighbors must be a positive integer, got {n_neighbors!r}."
        )
    if not isinstance(sigma, Integral) or sigma < 1:
        raise ValueError(f"sigma must be a positive integer, got {sigma!r}.")
    if n_neighbors >= n_samples:
        raise ValueError(
            f"n_neighbors={n_neighbors} must be smaller than the number of "
            f"samples, got n_samples={n_samples}."
        )
    if sigma >= n_samples:
        raise ValueError(
            f"sigma={sigma} must be smaller than the number of samples, got "
            f"n_samples={n_samples}."
        )


class _KNNGraph:
    """Fitted kNN diffusion graph, able to attach new rows one way.

    With ``merge_duplicates`` (what the estimators use), identical rows are
    one node of the graph, weighted by its number of copies ``mass_``:
    ``nodes_[i]`` is the node of sample ``i``. The graph is the reference
    construction on the rows, with ties between identical rows shared out
    instead of broken by sample order: a row's ``n_neighbors`` nearest other
    rows are its own copies first (distance 0), then the copies of the
    nearest other nodes, a node whose copies straddle the cut counting with
    the copies that fit; ``sigma`` counts rows the same way. Two copies of a
    point thus get the same graph row, and duplicates cannot become hubs
    through the order of the samples. For a signal equal on copies the node
    operator ``A`` gives exactly what the per-row graph gives; it is
    symmetric in the mass-weighted inner product (``mass_[u] A[u, v] =
    mass_[v] A[v, u]``), and plainly symmetric without duplicates, when it is
    the per-row graph itself.

    Kept for new rows: the neighbour index, the fitted nodes' rows and
    masses, their widths, their unnormalised degrees ``d_j`` (row sums of the
    kernel with the self-loop) and the distance to their ``n_neighbors``-th
    nearest other row (how far they reach).
    """

    def __init__(
        self,
        n_neighbors,
        sigma,
        neighbors_algorithm,
        random_state,
        n_jobs,
        merge_duplicates=True,
        reorder=False,
    ):
        self.n_neighbors = n_neighbors
        self.sigma = sigma
        self.neighbors_algorithm = neighbors_algorithm
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.merge_duplicates = merge_duplicates
        self.reorder = reorder

    def _n_search(self, available):
        # Enough nodes to hold n_neighbors and sigma rows, and the width may
        # come from beyond the kept neighbours.
        return min(max(self.n_neighbors, self.sigma), available)

    def _kernel(self, X, Y, ind, own):
        """Kernel rows over candidate nodes, counting their copies.

        ``ind`` holds candidate nodes (other than the row's own) for each row
        of ``X``; ``own`` how many other copies of the row itself there are.
        Returns the candidates sorted by distance, their distances, the
        kernel weight towards each (copies taken times the Gaussian), the
        weight towards the row's own copies, the widths and the reaches.
        """
        m, k = ind.shape
        rows = np.repeat(np.arange(m), k)
        dist = _pair_distances(X, Y, rows, ind.ravel()).reshape(m, k)
        ind, dist = _sort_rows(ind, dist)
        # Column 0 stands for the row's own copies, at distance 0.
        counts = np.column_stack([own, self.mass_[ind]]).astype(np.float64)
        dist0 = np.column_stack([np.zeros(m), dist])
        before = np.cumsum(counts, axis=1) - counts
        taken = np.clip(self.n_neighbors - before, 0, counts)
        at_sigma = np.argmax(before + counts >= self.sigma, axis=1)
        width = _widths(dist0[np.arange(m), at_sigma], dist)
        last = counts.shape[1] - 1 - np.argmax(taken[:, ::-1] > 0, axis=1)
        reach = dist0[np.arange(m), last]
        kernel = taken[:, 1:] * np.exp(-((dist / width[:, None]) ** 2))
        return ind, dist, kernel, taken[:, 0], width, reach

    def _rescaled(self, X):
        return X if self.scale_ == 1.0 else X * (1.0 / self.scale_)

    def _merge_duplicates(self, X):
        """The distinct rows of ``X``.

        Sets ``nodes_`` (the node of each sample), ``first_`` (the first
        sample of each node) and ``mass_`` (the number of samples of each).
        """
        n = X.shape[0]
        if self.merge_duplicates:
            self.first_, self.nodes_ = distinct_rows(X)
            if self.first_.size < n:
                X = X[self.first_]
        else:
            self.first_ = self.nodes_ = np.arange(n)
        self.mass_ = np.bincount(self.nodes_, minlength=X.shape[0]).astype(np.float64)
        return X

    def fit(self, X):
        _check_counts(X.shape[0], self.n_neighbors, self.sigma)
        top = float(abs(X).max()) if X.shape[0] * X.shape[1] else 0.0
        low, high = _UNSCALED_RANGE
        self.scale_ = top if top > high or 0 < top < low else 1.0
        X = self._merge_duplicates(self._rescaled(X))
        n = X.shape[0]
        self.X_ = X
        exact = _use_exact(*X.shape, sp.issparse(X), self.neighbors_algorithm)
        self.index_ = _NeighborIndex(X, exact, self.random_state, self.n_jobs)
        n_search = self._n_search(n - 1)
        if n_search:
            ind = self.index_.fitted_neighbors(n_search)
        else:  # every sample is the same point
            ind = np.zeros((n, 0), dtype=np.intp)
        ind, _, kernel, own, self.width_, self.reach_ = self._kernel(
            X, X, ind, self.mass_ - 1
        )
        self.degree_ = 1.0 + kernel.sum(axis=1) + own
        # K with unit self-loops, then D^-1/2 K D^-1/2, then the average of
        # each edge with its reverse: (W + W^T) / 2 on the rows, which on the
        # nodes is (W + M^-1 W^T M) / 2 for the masses M.
        inv_sqrt = 1.0 / np.sqrt(self.degree_)
        data = kernel * inv_sqrt[:, None] * inv_sqrt[ind]
        rows = np.repeat(np.arange(n), ind.shape[1])
        W = sp.csr_matrix((data.ravel(), (rows, ind.ravel())), shape=(n, n))
        if (self.mass_ == 1).all():
            W_reverse = W.T
        else:
            W_reverse = sp.diags(1.0 / self.mass_) @ W.T @ sp.diags(self.mass_)
        W = (W + W_reverse) * 0.5 + sp.diags((1.0 + own) / self.degree_)
        self.graph_ = _clean_csr(W)
        self.index_labels_ = None
        if self.reorder and n >= REORDER_MIN_NODES:
            self._renumber(*locality_order(self.graph_))
        return self

    def _renumber(self, order, label):
        """Number the nodes in ``order``: node ``order[j]`` becomes node ``j``
        (``label[i]`` is the new number of node ``i``).

        Every per-node array and the graph follow; the neighbour index keeps
        its own numbering and ``index_labels_`` maps it to the new one. The
        estimators' graphs of at least ``REORDER_MIN_NODES`` nodes are so
        numbered (``reorder=True``): every diffusion over them reads from
        cache more often (``n_layers='auto'`` on the 100,000-point scale
        benchmark took 2.2 s instead of 4.0 s), and the network's module
        trains on them as they are.
        """
        self.graph_ = _clean_csr(self.graph_[order][:, order])
        for name in ("X_", "first_", "mass_", "degree_", "width_", "reach_"):
            setattr(self, name, getattr(self, name)[order])
        self.nodes_ = label[self.nodes_]
        self.index_labels_ = label

    def attach(self, X):
        """Weights from new rows to the fitted nodes, and exact matches.

        Returns ``(W_new, match)``. ``W_new`` is a sparse ``(m, n_nodes)``
        matrix computed as for a fitted row: the Gaussian kernel with the new
        row's own width (copies counted as in fit), scaled by
        ``1 / sqrt(d_new d_j)``, plus the reverse edges where the copies of
        fitted node ``j`` would count the new row among their neighbours, the
        two halved as the symmetrisation does. The fitted nodes are not
        changed (one way). ``match[i]`` is the fitted node that row ``i`` is
        identical to, or -1.
        """
        X = self._rescaled(same_format(X, self.X_))
        m, n = X.shape[0], self.X_.shape[0]
        ind = self.index_.query(X, self._n_search(n))
        if self.index_labels_ is not None:
            ind = self.index_labels_[ind]
        ind, dist, kernel, _, _, _ = self._kernel(X, self.X_, ind, np.zeros(m))
        degree = 1.0 + kernel.sum(axis=1)
        reverse = self.mass_[ind] * np.exp(-((dist / self.width_[ind]) ** 2))
        reverse[dist > self.reach_[ind]] = 0.0
        data = 0.5 * (kernel + reverse) / np.sqrt(degree[:, None] * self.degree_[ind])
        rows = np.repeat(np.arange(m), ind.shape[1])
        W_new = sp.csr_matrix((data.ravel(), (rows, ind.ravel())), shape=(m, n))
        match = np.where(dist[:, 0] == 0, ind[:, 0], -1)
        return _clean_csr(W_new), match


class _PrecomputedGraph:
    """A user's adjacency, normalised as ``D^-1/2 (A + I) D^-1/2``."""

    def fit(self, adjacency):
        A = _check_adjacency(adjacency)
        n = A.shape[0]
        self.degree_ = 1.0 + np.asarray(A.sum(axis=1)).ravel()
        inv_sqrt = sp.diags(1.0 / np.sqrt(self.degree_))
        W = inv_sqrt @ (A + sp.eye(n, format="csr")) @ inv_sqrt
        # A no-op for an undirected graph; makes L symmetric for a directed one.
        self.graph_ = _clean_csr((W + W.T) * 0.5)
        self.first_ = self.nodes_ = np.arange(n)
        self.mass_ = np.ones(n)
        return self

    def attach(self, adjacency):
        """Weights from new rows, given their edges to the fitted rows."""
        A = _check_adjacency(adjacency, n_columns=self.degree_.shape[0])
        degree = 1.0 + np.asarray(A.sum(axis=1)).ravel()
        W_new = (
            sp.diags(1.0 / np.sqrt(degree)) @ A @ sp.diags(1.0 / np.sqrt(self.degree_))
        )
        return _clean_csr(W_new), np.full(A.shape[0], -1)


def _as_csr_matrix(X):
    """Sparse input (matrix or array) as csr_matrix; dense input unchanged."""
    return sp.csr_matrix(X) if sp.issparse(X) else X


def _validate_features(estimator, X, dtype, **kwargs):
    """``validate_data`` for dense or CSR features; sparse ones as csr_matrix.

    ``dtype`` lists the accepted float types, the first being what other
    input is converted to.
    """
    X = validate_data(estimator, X, accept_sparse="csr", dtype=dtype, **kwargs)
    return _as_csr_matrix(X)


def _clean_csr(W):
    W = sp.csr_matrix(W, dtype=np.float64)
    W.eliminate_zeros()
    W.sort_indices()
    return W


def _check_adjacency(adjacency, n_columns=None, input_name="adjacency"):
    """Validate a sparse or dense adjacency; square unless n_columns is given.

    Weights must be finite and non-negative.
    """
    A = check_array(
        adjacency,
        accept_sparse="csr",
        dtype=np.float64,
        input_name=input_name,
    )
    A = sp.csr_matrix(A)
    if n_columns is None and A.shape[0] != A.shape[1]:
        raise ValueError(f"{input_name} must be a square matrix, got shape {A.shape}.")
    if n_columns is not None and A.shape[1] != n_columns:
        raise ValueError(
            f"{input_name} of new rows must have one column per fitted sample "
            f"({n_columns}), got shape {A.shape}."
        )
    if A.nnz and A.data.min() < 0:
        raise ValueError(f"{input_name} has negative weights; weights must be >= 0.")
    return A


@validate_params(
    {
        "X": ["array-like", "sparse matrix"],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "sigma": [Interval(Integral, 1, None, closed="left")],
        "neighbors_algorithm": [StrOptions(set(_NEIGHBORS_ALGORITHMS))],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
    },
    prefer_skip_nested_validation=True,
)
def diffusion_graph(
    X,
    n_neighbors=10,
    sigma=3,
    *,
    neighbors_algorithm="auto",
    random_state=None,
    n_jobs=None,
):
    """Weighted k-nearest-neighbour graph on which Diff-ResNet diffuses.

    ``w_ij = exp(-(d_ij / s_i)^2)`` for the ``n_neighbors`` nearest other
    points ``j`` of ``i``, where the width ``s_i`` is the distance from ``i``
    to its ``sigma``-th nearest other point; each point keeps itself with
    weight 1; then ``W <- D^-1/2 W D^-1/2`` with ``D`` the row sums, and
    ``W <- (W + W^T) / 2``. This is the reference code's construction with
    ``n_top = n_neighbors + 2`` and its ``sigma`` one larger than ours (it
    counts the point itself as its own first neighbour).

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        The points.
    n_neighbors : int, default=10
        Number of nearest other points each point is joined to. Ties at the
        last place are broken by sample order, so identical rows may get
        different graph rows; the estimators instead merge identical rows
        into one node before building the graph.
    sigma : int, default=3
        Which nearest other point (1-based) sets the point's kernel width; it
        may lie beyond the ``n_neighbors`` kept.
    neighbors_algorithm : {'auto', 'exact', 'nndescent'}, default='auto'
        Exact neighbours up to ``EXACT_NEIGHBORS_MAX_SAMPLES`` samples, and
        for dense ``X`` while ``n_samples ** 2 * n_features`` is at most
        ``EXACT_NEIGHBORS_MAX_WORK``; pynndescent above. Or force either.
    random_state : int, RandomState instance or None, default=None
        Seeds pynndescent.
    n_jobs : int, default=None
        Parallel jobs for the neighbour search.

    Returns
    -------
    graph : scipy.sparse.csr_matrix of shape (n_samples, n_samples)
        The symmetric, normalised weight matrix ``W`` (float64).

    See Also
    --------
    normalize_adjacency : The same normalisation for a graph you already have.
    graph_laplacian : The diffusion operator ``L = diag(W 1) - W``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_diffres import diffusion_graph
    >>> X = np.random.RandomState(0).normal(size=(50, 2))
    >>> W = diffusion_graph(X, n_neighbors=5, sigma=2)
    >>> W.shape, bool(abs(W - W.T).max() < 1e-12)
    ((50, 50), True)
    """
    X = _as_csr_matrix(
        check_array(X, accept_sparse="csr", dtype=[np.float64, np.float32])
    )
    graph = _KNNGraph(
        n_neighbors,
        sigma,
        neighbors_algorithm,
        random_state,
        n_jobs,
        merge_duplicates=False,
    )
    return graph.fit(X).graph_


@validate_params(
    {"adjacency": ["array-like", "sparse matrix"]},
    prefer_skip_nested_validation=True,
)
def normalize_adjacency(adjacency):
    """Normalise a given graph as the reference code does for citation graphs.

    Adds self-loops and normalises symmetrically, ``W = D^-1/2 (A + I)
    D^-1/2`` with ``D`` the row sums of ``A + I``; a directed graph is then
    symmetrised, ``(W + W^T) / 2`` (a no-op for an undirected one).

    Parameters
    ----------
    adjacency : {array-like, sparse matrix} of shape (n_samples, n_samples)
        Finite, non-negative edge weights. Self-loops already in ``A`` are
        kept: they add to the unit self-loop of ``A + I``.

    Returns
    -------
    graph : scipy.sparse.csr_matrix of shape (n_samples, n_samples)

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from sklearn_diffres import normalize_adjacency
    >>> A = sp.csr_matrix([[0, 1, 0], [1, 0, 1], [0, 1, 0]])
    >>> normalize_adjacency(A).toarray().round(3)
    array([[0.5  , 0.408, 0.   ],
           [0.408, 0.333, 0.408],
           [0.   , 0.408, 0.5  ]])
    """
    return _PrecomputedGraph().fit(adjacency).graph_
