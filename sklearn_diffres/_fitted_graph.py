"""The fitted graph both estimators hold: built once, diffused over, attached to."""

# Authors: The sklearn-diffres developers
# SPDX-License-Identifier: BSD-3-Clause

from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_memory

from ._diffusion import (
    ATTACH_MAX_ENTRIES,
    ATTACH_PANELS,
    ATTACH_POINTS,
    AttachedDiffusion,
    check_stability,
    diffuse,
    diffuse_attached,
)
from ._graph import (
    _NEIGHBORS_ALGORITHMS,
    _check_adjacency,
    _KNNGraph,
    _PrecomputedGraph,
)
from ._laplacian import _laplacian, operator_and_spectrum
from ._utils import CHUNK_ROWS


def _same_rows(A, B):
    """True when A and B hold the same values (dense or sparse)."""
    if A.shape != B.shape:
        return False
    if sp.issparse(A) or sp.issparse(B):
        return (sp.csr_matrix(A) != sp.csr_matrix(B)).nnz == 0
    return np.array_equal(A, B)


def dense(X):
    """X as a dense array."""
    return X.toarray() if sp.issparse(X) else np.asarray(X)


def _knn_graph(X, n_neighbors, sigma, neighbors_algorithm, random_state, n_jobs):
    """The kNN graph of X, its ``L`` and ``lambda_max``: what ``memory`` caches."""
    graph = _KNNGraph(
        n_neighbors, sigma, neighbors_algorithm, random_state, n_jobs, reorder=True
    )
    graph.fit(X)
    return (graph, *operator_and_spectrum(graph, random_state))


class FittedGraph:
    """The graph of the fitted samples, and diffusion over it.

    Both estimators hold one: :class:`DiffusionTransformer` diffuses
    features over it, the classifier its network's class scores. It builds
    the graph (a kNN graph, or a given adjacency), owns ``L``, its largest
    eigenvalue and the step, diffuses values given for every fitted node,
    and diffuses new rows attached to the fitted nodes one way, filling rows
    identical to a fitted node with that node's diffused value.

    Parameters are the estimators' graph parameters; ``n_layers`` is an int
    (the classifier sets it once ``n_layers='auto'`` has chosen).

    Attributes
    ----------
    builder : _KNNGraph or _PrecomputedGraph
        The graph's builder: its weights, nodes and ``attach``.
    graph : scipy.sparse.csr_matrix of shape (n_nodes, n_nodes)
        The normalised weights ``W``.
    laplacian : scipy.sparse.csr_matrix of shape (n_nodes, n_nodes)
        ``L = diag(W 1) - W``, rebuilt from ``graph`` when unpickled.
    lambda_max : float
        Largest eigenvalue of ``L``.
    step : float
        The step used (``1 / lambda_max`` for 'auto').
    nodes : ndarray of shape (n_samples,)
        The node of each fitted sample.
    fit_X : {ndarray, sparse matrix} of shape (n_nodes, n_features)
        The row of each node.
    """

    #: The parameters, as :class:`DiffusionTransformer` names them, with the
    #: defaults of those that have one.
    PARAMETERS = {
        "n_neighbors": None,
        "sigma": None,
        "step_size": "auto",
        "n_layers": 0,
        "adjacency": None,
        "neighbors_algorithm": "auto",
        "random_state": None,
        "n_jobs": None,
        "memory": None,
    }

    #: The estimators' parameter constraints of the graph parameters (but
    #: ``n_layers``, which each estimator constrains: both take 'auto').
    CONSTRAINTS = {
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "sigma": [Interval(Integral, 1, None, closed="left")],
        "step_size": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "adjacency": ["array-like", "sparse matrix", None],
        "neighbors_algorithm": [StrOptions(set(_NEIGHBORS_ALGORITHMS))],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "memory": [None, str, HasMethods(["cache"])],
    }

    def __init__(self, **params):
        unknown = set(params) - set(self.PARAMETERS)
        if unknown:
            raise TypeError(f"FittedGraph got unexpected parameters {sorted(unknown)}")
        vars(self).update({**self.PARAMETERS, **params})

    def get_params(self):
        """The parameters, by name."""
        return {name: getattr(self, name) for name in self.PARAMETERS}

    def fit(self, X):
        """Build the graph on the validated ``X``; check the step size."""
        if self.adjacency is None:
            seed = self.random_state
            if isinstance(seed, np.random.RandomState):
                seed = int(seed.randint(np.iinfo(np.int32).max))
            build = check_memory(self.memory).cache(_knn_graph, ignore=["n_jobs"])
            self.builder, self.laplacian, self.lambda_max = build(
                X,
                self.n_neighbors,
                self.sigma,
                self.neighbors_algorithm,
                seed,
                self.n_jobs,
            )
        else:
            A = _check_adjacency(self.adjacency)
            if A.shape[0] != X.shape[0]:
                raise ValueError(
                    f"adjacency has shape {A.shape} but X has {X.shape[0]} "
                    "samples; the graph must have one row and column per sample."
                )
            self.builder = _PrecomputedGraph().fit(A)
            self.laplacian, self.lambda_max = operator_and_spectrum(
                self.builder, self.random_state
            )
        self.graph = self.builder.graph_
        if self.step_size == "auto":
            # A graph without edges has lambda_max 0: any step leaves it as is.
            self.step = 1.0 / self.lambda_max if self.lambda_max > 0 else 1.0
        else:
            self.step = float(self.step_size)
        check_stability(self.step, self.lambda_max)
        self.nodes = self.builder.nodes_
        # The rows of the graph's nodes (X itself unless rows repeat or the
        # nodes were renumbered).
        first = self.builder.first_
        in_order = first.size == X.shape[0] and np.array_equal(
            first, np.arange(first.size)
        )
        self.fit_X = X if in_order else X[first]
        return self

    def __copy__(self):
        # Shares every array, L included (pickling leaves L out).
        other = object.__new__(type(self))
        vars(other).update(vars(self))
        return other

    def __getstate__(self):
        # L is derived from the weights: rebuilt on load, not pickled.
        state = dict(vars(self))
        state.pop("laplacian", None)
        return state

    def __setstate__(self, state):
        vars(self).update(state)
        if "graph" in state:
            self.laplacian = _laplacian(self.graph)

    @property
    def renumbered(self):
        """Whether the nodes are in the builder's locality order (large kNN
        graphs), not the samples' (see ``_KNNGraph``)."""
        return getattr(self.builder, "index_labels_", None) is not None

    def operator(self, dtype):
        """``L`` in the values' float type (not kept: pickles stay small)."""
        return self.laplacian.astype(dtype, copy=False)

    def diffuse_fitted(self, G):
        """Diffuse values ``G`` given for every node of the fitted graph."""
        return diffuse(
            self.operator(G.dtype),
            G,
            self.step,
            self.n_layers,
            lambda_max=self.lambda_max,
        )

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
        A = _check_adjacency(adjacency, n_columns=self.fit_X.shape[0])
        if A.shape[0] != X.shape[0]:
            raise ValueError(
                f"adjacency has {A.shape[0]} rows but X has {X.shape[0]} samples."
            )
        return A

    def diffuse_new(self, X, Z, G, fitted, adjacency=None, attached=None):
        """Diffuse new rows' values ``Z`` alongside fitted values ``G``.

        ``X`` (validated) places the new rows in the graph; ``G`` holds the
        fitted nodes' values at step 0 and ``fitted`` their diffused values:
        a new row identical to a fitted node gets that node's value.

        New rows go through in chunks of ``CHUNK_ROWS``, so that
        the neighbour queries and their weights take memory in proportion to
        a chunk, not to all new rows; each chunk runs the fitted rows'
        diffusion again (``n_layers`` sparse products, or the fewer terms of
        its Chebyshev polynomial, see :func:`diffuse_attached`). A row's
        result does not depend on its chunk. ``attached`` (an
        :class:`AttachedDiffusion` of ``G``, see :meth:`summary`) diffuses the
        rows it covers without those products.
        """
        own_rows = self.adjacency is not None and adjacency is None
        if own_rows and _same_rows(X, self.fit_X):
            # The fitted X itself needs no adjacency: every row is matched.
            out, match = np.empty_like(Z), np.arange(X.shape[0])
        else:
            out, match = self._diffuse_unmatched(X, Z, G, adjacency, attached)
        matched = match >= 0
        out[matched] = fitted[match[matched]]
        return out

    def _diffuse_unmatched(self, X, Z, G, adjacency, attached):
        edges = self._new_edges(X, adjacency)
        out = np.empty_like(Z)
        match = np.full(X.shape[0], -1, dtype=np.intp)
        for start in range(0, X.shape[0], CHUNK_ROWS):
            rows = slice(start, start + CHUNK_ROWS)
            W_new, match[rows] = self.builder.attach(
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
                    self.operator(Z.dtype),
                    W_new[new].astype(Z.dtype),
                    Z[rows][new],
                    G,
                    self.step,
                    self.n_layers,
                    lambda_max=self.lambda_max,
                )
        return out, match

    def summary(self, G):
        """An :class:`AttachedDiffusion` of the fitted values ``G``, or None
        when it would exceed ``ATTACH_MAX_ENTRIES`` (or there is no layer)."""
        size = ATTACH_PANELS * ATTACH_POINTS * G.size
        if size > ATTACH_MAX_ENTRIES or self.n_layers == 0:
            return None
        W = self.graph
        off_diagonal = np.asarray(W.sum(axis=1)).ravel() - W.diagonal()
        return AttachedDiffusion(
            self.laplacian,
            G,
            self.step,
            self.n_layers,
            float(off_diagonal.max(initial=0.0)),
            lambda_max=self.lambda_max,
        )
