"""Nearest-neighbour search for the graphs: exact, or pynndescent at scale."""

# Authors: The sklearn-diffres developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.cluster import KMeans
from sklearn.neighbors import NearestNeighbors
from sklearn.utils import check_random_state

from ._utils import CHUNK_ROWS

#: Up to this many fitted samples neighbours are always found exactly (as
#: umap does).
EXACT_NEIGHBORS_MAX_SAMPLES = 4096

#: Above ``EXACT_NEIGHBORS_MAX_SAMPLES``, dense inputs are still searched
#: exactly while ``n_samples ** 2 * n_features`` is at most this (2^39, e.g.
#: 131,000 points in 32-d); larger ones go to pynndescent. On two cores the
#: exact search of 100,000 points in 32-d took 11 s (scikit-learn's brute
#: force 25 s, see ``_blocked_neighbors``), while pynndescent compiles its
#: ``nn_descent`` kernel in every new process (numba cannot cache it): 25 s
#: before any search.
EXACT_NEIGHBORS_MAX_WORK = 2**39

#: Dense inputs of more than ``EXACT_NEIGHBORS_MAX_SAMPLES`` rows are searched
#: exactly by blocks of this many rows (see :func:`_blocked_neighbors`): a
#: block of squared distances stays in cache between the product that writes
#: it and the pass that reads it.
_SEARCH_BLOCK = 1024

#: Candidates kept per row beyond the neighbours asked for, ranked by float32
#: distances and then re-ranked in float64.
_SEARCH_EXTRA = 4

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


def _blocked_neighbors(X, n_neighbors, random_state=None, block=_SEARCH_BLOCK):
    """The ``n_neighbors`` nearest other rows of every row of a dense ``X``.

    Exact, as scikit-learn's brute force, but on two cores about twice as
    fast on 100,000 points in 32-d (``benchmarks/scale.py``), by three
    means:

    - rows are ordered by k-means cells of about ``block`` rows, and each
      block of queries meets its own cell first, so that its running k-th
      distance is soon small;
    - squared distances are computed in float32 by blocks of ``block`` x
      ``block`` (one matrix product each, cache-sized), and a block is only
      merged into the running best of the query rows whose smallest distance
      in it beats their current ``n_neighbors + _SEARCH_EXTRA``-th;
    - the candidates are re-ranked by float64 distances from the differences.

    A float32 distance is within ``c eps (|q|^2 + |r|^2)`` of the true one
    (centred rows, ``c = 2 (n_features + 4)``). A row whose last candidate is
    further than its ``n_neighbors``-th by more than twice that margin has
    every true neighbour among its candidates; the other rows (ties in the
    data, or rows far from the centre) are searched again by scikit-learn.
    Returns an integer array of shape ``(n_samples, n_neighbors)`` in no
    particular order within a row.
    """
    n, d = X.shape
    m = min(n_neighbors + _SEARCH_EXTRA, n - 1)
    centred = np.asarray(X, dtype=np.float64)
    centred = centred - centred.mean(axis=0)
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    cells = KMeans(
        max(1, n // block), init="random", n_init=1, max_iter=10, random_state=seed
    ).fit_predict(centred.astype(np.float32))
    order = np.argsort(cells, kind="stable")
    Z = torch.from_numpy(centred[order].astype(np.float32))
    Zt = Z.T.contiguous()
    sq = (Z * Z).sum(1)
    starts = np.arange(0, n, block)
    centres = torch.stack([Z[s : s + block].mean(0) for s in starts])
    best = torch.empty((n, m))
    best_ind = torch.empty((n, m), dtype=torch.int64)
    with torch.no_grad():
        for qi, qs in enumerate(starts):
            Q = Z[qs : qs + block]
            top = torch.full((Q.shape[0], m), float("inf"))
            top_ind = torch.zeros((Q.shape[0], m), dtype=torch.int64)
            # Nearest cells first; the query block's own cell is the nearest.
            for ri in torch.argsort(torch.cdist(centres[qi : qi + 1], centres)[0]):
                rs = int(starts[ri])
                # |r|^2 - 2 q.r: the squared distance less |q|^2.
                D = torch.addmm(
                    sq[None, rs : rs + block], Q, Zt[:, rs : rs + block], alpha=-2.0
                )
                if rs == qs:
                    D.fill_diagonal_(float("inf"))
                rows = torch.nonzero(D.amin(dim=1) < top[:, -1]).squeeze(1)
                if rows.numel() == 0:
                    continue
                cand = torch.cat([top[rows], D[rows]], dim=1)
                cand_ind = torch.cat(
                    [
                        top_ind[rows],
                        torch.arange(rs, rs + D.shape[1]).expand(rows.numel(), -1),
                    ],
                    dim=1,
                )
                values, pick = torch.topk(cand, m, dim=1, largest=False, sorted=True)
                top[rows] = values
                top_ind[rows] = torch.gather(cand_ind, 1, pick)
            best[qs : qs + block] = top
            best_ind[qs : qs + block] = top_ind
    # Back to the rows' own order.
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    best = best.numpy()[position].astype(np.float64)
    ind = order[best_ind.numpy()[position]]
    margin = (
        2.0
        * (d + 4)
        * np.finfo(np.float32).eps
        * (sq.numpy().astype(np.float64)[position] + float(sq.max()))
    )
    sure = best[:, m - 1] - best[:, n_neighbors - 1] > 2.0 * margin
    rows = np.repeat(np.arange(n), m)
    dist = _pair_distances(X, X, rows, ind.ravel()).reshape(n, m)
    ind = _sort_rows(ind, dist)[0][:, :n_neighbors]
    unsure = np.flatnonzero(~sure)
    if unsure.size:
        found = (
            NearestNeighbors()
            .fit(X)
            .kneighbors(X[unsure], n_neighbors + 1, return_distance=False)
        )
        ind[unsure] = _drop_self(found, unsure)
    return ind


def _drop_self(ind, rows):
    """``ind`` (neighbours of ``rows``, one more than needed) less the row
    itself, wherever it is (the last column when it is absent: copies of the
    row may have come first)."""
    is_self = ind == rows[:, None]
    is_self[~is_self.any(axis=1), -1] = True
    return ind[~is_self].reshape(ind.shape[0], ind.shape[1] - 1)


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
        if self.exact and (
            self.n_samples <= EXACT_NEIGHBORS_MAX_SAMPLES or sp.issparse(self._X)
        ):
            return self._exact_index().kneighbors(
                n_neighbors=n_neighbors, return_distance=False
            )
        if self.exact:
            return _blocked_neighbors(self._X, n_neighbors, self._random_state)
        # Ask for one more and drop the point itself; with duplicates the point
        # may not come first.
        self._nn = self._nndescent(n_neighbors + 1)
        ind, _ = self._nn.neighbor_graph
        ind = _drop_self(np.asarray(ind, dtype=np.int64), np.arange(ind.shape[0]))
        # A missing neighbour is reported as -1 by pynndescent.
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
