"""Nearest-neighbour search for the graphs: exact, or pynndescent at scale."""

# Authors: The sklearn-diffres developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
import scipy.sparse as sp
from sklearn.neighbors import NearestNeighbors
from sklearn.utils import check_random_state

from ._utils import CHUNK_ROWS

#: Up to this many fitted samples neighbours are always found exactly (as
#: umap does).
EXACT_NEIGHBORS_MAX_SAMPLES = 4096

#: Above ``EXACT_NEIGHBORS_MAX_SAMPLES``, dense inputs are still searched
#: exactly while ``n_samples ** 2 * n_features`` is at most this (2^39, e.g.
#: 131,000 points in 32-d); larger ones go to pynndescent. On two cores
#: scikit-learn's exact search of 100,000 points in 32-d took 17 s, while
#: pynndescent compiles its ``nn_descent`` kernel in every new process (numba
#: cannot cache it): 25 s before any search.
EXACT_NEIGHBORS_MAX_WORK = 2**39

#: Inputs whose largest absolute value lies outside this range are divided by
#: it before the neighbour search: squared distances of values near 1e160
#: overflow, and of values near 1e-160 underflow to 0. The Gaussian kernel with
#: self-tuning widths, ``exp(-(d_ij / s_i)^2)``, does not change when every
#: distance is multiplied by one number, so neither does the graph.
_UNSCALED_RANGE = (1e-100, 1e100)

_NEIGHBORS_ALGORITHMS = ("auto", "exact", "nndescent")

#: pynndescent queries for new rows ask for this many times the neighbours
#: needed, with this search epsilon; the candidates are then re-ranked by
#: exact distance. On 3,000 Gaussian points in 10-d this lifts recall@10 of
#: new rows from 0.88 (k candidates, epsilon 0.1) to 0.99.
_QUERY_CANDIDATES_FACTOR = 2
_QUERY_EPSILON = 0.2


def _use_exact(n_samples, n_features, sparse, neighbors_algorithm):
    """Whether neighbours among ``n_samples`` rows are searched exactly."""
    if neighbors_algorithm not in _NEIGHBORS_ALGORITHMS:
        raise ValueError(
            f"neighbors_algorithm must be one of {_NEIGHBORS_ALGORITHMS}, "
            f"got {neighbors_algorithm!r}."
        )
    if neighbors_algorithm == "auto":
        return n_samples <= EXACT_NEIGHBORS_MAX_SAMPLES or (
            not sparse and n_samples**2 * n_features <= EXACT_NEIGHBORS_MAX_WORK
        )
    return neighbors_algorithm == "exact"


def _pair_distances(X, Y, rows, cols):
    """Euclidean distance between ``X[rows]`` and ``Y[cols]``, pair by pair.

    Computed from the differences, in float64, so that identical rows are at
    distance exactly 0 (the Gram trick of ``euclidean_distances`` is not).
    """
    out = np.empty(rows.shape[0], dtype=np.float64)
    for start in range(0, rows.shape[0], CHUNK_ROWS):
        stop = start + CHUNK_ROWS
        r, c = rows[start:stop], cols[start:stop]
        if sp.issparse(X):
            diff = (X[r] - Y[c]).astype(np.float64)
            out[start:stop] = np.sqrt(
                np.asarray(diff.multiply(diff).sum(axis=1)).ravel()
            )
        else:
            diff = np.asarray(X[r], dtype=np.float64) - np.asarray(
                Y[c], dtype=np.float64
            )
            out[start:stop] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return out


def _sort_rows(indices, distances):
    order = np.lexsort((indices, distances), axis=-1)
    return (
        np.take_along_axis(indices, order, axis=1),
        np.take_along_axis(distances, order, axis=1),
    )


class _NeighborIndex:
    """Nearest-neighbour search over the fitted rows, exact or pynndescent."""

    def __init__(self, X, exact, random_state=None, n_jobs=None):
        self.exact = exact
        self.n_samples = X.shape[0]
        self._X = X
        self._random_state = random_state
        self._n_jobs = n_jobs
        self._nn = NearestNeighbors(n_jobs=n_jobs).fit(X) if exact else None

    def __getstate__(self):
        # An exact index is a copy of the rows plus a tree: rebuilt on first
        # use after loading instead of pickled (the rows are pickled once,
        # shared with the graph). pynndescent's index is costly to rebuild.
        state = dict(self.__dict__)
        if self.exact:
            state["_nn"] = None
        return state

    def _exact_index(self):
        if self._nn is None:
            self._nn = NearestNeighbors(n_jobs=self._n_jobs).fit(self._X)
        return self._nn

    def _nndescent(self, n_neighbors):
        # Imported here: pynndescent compiles numba kernels in every new
        # process, a cost only the large-input path should pay.
        from pynndescent import NNDescent

        seed = check_random_state(self._random_state).randint(np.iinfo(np.int32).max)
        return NNDescent(
            self._X,
            metric="euclidean",
            n_neighbors=n_neighbors,
            random_state=seed,
            n_jobs=-1 if self._n_jobs is None else self._n_jobs,
            low_memory=True,
            compressed=False,
        )

    def fitted_neighbors(self, n_neighbors):
        """The ``n_neighbors`` nearest *other* fitted rows of every fitted row."""
        if self.exact:
            return self._exact_index().kneighbors(
                n_neighbors=n_neighbors, return_distance=False
            )
        # Ask for one more and drop the point itself; with duplicates the point
        # may not come first, so drop it wherever it is (or the last column).
        self._nn = self._nndescent(n_neighbors + 1)
        ind, _ = self._nn.neighbor_graph
        ind = np.asarray(ind, dtype=np.int64)
        n = ind.shape[0]
        is_self = ind == np.arange(n)[:, None]
        no_self = ~is_self.any(axis=1)
        is_self[no_self, -1] = True
        keep = ~is_self
        # A missing neighbour is reported as -1 by pynndescent.
        ind = ind[keep].reshape(n, n_neighbors)
        if (ind < 0).any():
            raise RuntimeError(
                "pynndescent returned fewer neighbours than asked for; use "
                "neighbors_algorithm='exact'."
            )
        return ind

    def query(self, X, n_neighbors):
        """Candidate nearest fitted rows of each row of ``X``.

        Exactly the ``n_neighbors`` nearest with exact search; with pynndescent
        more candidates than that, for the caller to re-rank exactly.
        """
        if self.exact:
            return self._exact_index().kneighbors(X, n_neighbors, return_distance=False)
        if self._nn is None:
            self._nn = self._nndescent(n_neighbors + 1)
        if not getattr(self, "_prepared", False):
            self._nn.prepare()
            self._prepared = True
        k = min(_QUERY_CANDIDATES_FACTOR * n_neighbors, self.n_samples)
        ind, _ = self._nn.query(X, k=k, epsilon=_QUERY_EPSILON)
        ind = np.asarray(ind, dtype=np.int64)
        if (ind < 0).any():
            raise RuntimeError(
                "pynndescent returned fewer neighbours than asked for; use "
                "neighbors_algorithm='exact'."
            )
        return ind
