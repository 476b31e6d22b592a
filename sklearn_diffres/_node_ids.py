"""Fitting and predicting on node ids of a graph of your own (``node_features``)."""

# Authors: The sklearn-diffres developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from sklearn.utils import check_array, column_or_1d
from sklearn.utils.validation import _check_sample_weight, _num_samples

from ._targets import check_validation_mask


def node_ids(X, n_nodes, unique=False):
    """Validate node ids: integers of shape (n, 1) in ``[0, n_nodes)``."""
    ids = check_array(X, dtype=None, input_name="X")
    if ids.shape[1] != 1 or not (
        np.issubdtype(ids.dtype, np.integer)
        or (np.issubdtype(ids.dtype, np.floating) and np.all(ids == np.round(ids)))
    ):
        raise ValueError(
            "With node_features, X holds node ids: an integer array of shape "
            f"(n_samples, 1); got dtype {ids.dtype} and shape {ids.shape}."
        )
    ids = ids[:, 0].astype(np.intp)
    if ids.size and (ids.min() < 0 or ids.max() >= n_nodes):
        raise ValueError(
            f"X holds node ids outside [0, {n_nodes}): node_features has "
            f"{n_nodes} rows (e.g. id {ids[(ids < 0) | (ids >= n_nodes)][0]})."
        )
    if unique and np.unique(ids).size != ids.size:
        raise ValueError("X gives a node id more than once; fit takes each once.")
    return ids


def node_targets(ids, y, sample_weight, validation_mask, n_nodes):
    """``fit``'s arguments on node ids spread over every node of the graph.

    Nodes not in ``ids`` are unlabelled (``-1``, or None for string labels),
    weigh 0 and are not validation nodes. Returns ``(y, sample_weight,
    validation_mask)`` of length ``n_nodes``.
    """
    y = column_or_1d(y, warn=True)
    if y.shape[0] != ids.shape[0]:
        raise ValueError(
            f"y has {y.shape[0]} samples but X has {ids.shape[0]} node ids."
        )
    numeric = y.dtype.kind in "iuf"
    y_all = np.full(
        n_nodes, -1 if numeric else None, dtype=y.dtype if numeric else object
    )
    y_all[ids] = y
    weights = None
    if sample_weight is not None:
        weights = np.zeros(n_nodes)
        weights[ids] = _check_sample_weight(sample_weight, ids[:, None])
    mask = None
    if validation_mask is not None:
        mask = np.zeros(n_nodes, dtype=bool)
        mask[ids] = check_validation_mask(validation_mask, ids.shape[0])
    return y_all, weights, mask


class _NodeIdsMixin:
    """The classifier's ``node_features`` mode: ``X`` holds ids of the nodes of
    ``adjacency``, whose features are ``node_features``; every node is in the
    graph, and the ids name the ones whose labels ``fit`` trains on."""

    def _fit_nodes(self, X, y, sample_weight, validation_mask):
        """``fit`` on node ids: their labels, every node in the graph."""
        if self.adjacency is None:
            raise ValueError(
                "node_features is used with adjacency (a graph of your own over "
                "its rows); without adjacency pass the features as X."
            )
        n_nodes = _num_samples(self.node_features)
        ids = node_ids(X, n_nodes, unique=True)
        targets = node_targets(ids, y, sample_weight, validation_mask, n_nodes)
        self._fit(self.node_features, *targets)
        # Fitted on node ids: X has one column, and names no features.
        self.n_features_in_ = 1
        if hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return self

    def _node_logits(self, X, adjacency):
        """The fitted (transductive) logits of the nodes ``X`` names."""
        if adjacency is not None:
            raise ValueError(
                "With node_features, X holds ids of fitted nodes: there are "
                "no new rows, and no adjacency to pass."
            )
        ids = node_ids(X, len(self._graph.nodes))
        return self._node_scores(self._graph.nodes[ids])
