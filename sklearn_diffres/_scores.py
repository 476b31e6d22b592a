"""The classifier's class scores over the fitted graph, and for new rows."""

# Authors: The sklearn-diffres developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from sklearn.utils.extmath import softmax


def averaged_logits(logits, plain=None):
    """Logits (float64) of the mean of two networks' class probabilities.

    ``logits`` are the diffusion network's, ``plain`` those of the network
    without diffusion that ``n_layers='auto'`` trains beside it, or None:
    then ``logits`` as they are. The result is the logarithm of the averaged
    probabilities, so that its softmax is their average.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_diffres._scores import averaged_logits
    >>> a, b = np.array([[0.0, 2.0]]), np.array([[2.0, 0.0]])
    >>> np.exp(averaged_logits(a, b)).round(3)
    array([[0.5, 0.5]])
    """
    logits = np.asarray(logits, dtype=np.float64)
    if plain is None:
        return logits
    mean = (softmax(logits) + softmax(np.asarray(plain, dtype=np.float64))) / 2
    return np.log(np.maximum(mean, np.finfo(np.float64).tiny))


class FittedScores:
    """Class scores of every fitted node, before and after diffusion.

    Parameters
    ----------
    graph : FittedGraph
        The fitted graph, with the network's ``n_layers``.
    initial : ndarray of shape (n_nodes, n_classes)
        Every node's scores before diffusion (residual blocks, classifier).

    Attributes
    ----------
    diffused : ndarray of shape (n_nodes, n_classes)
        The scores after the diffusion layers: what the network gives the
        fitted nodes.
    """

    def __init__(self, graph, initial):
        self.graph = graph
        self.initial = initial
        self.diffused = graph.diffuse_fitted(initial)
        self._summary = {}

    def new(self, X, Z, adjacency=None):
        """Diffused scores of new rows ``X`` whose scores before diffusion
        are ``Z``, attached to the fitted nodes one way.

        The fitted scores' trajectory is summarised on the first call and
        kept (not pickled); then a new row costs its neighbours' values only
        (see :class:`AttachedDiffusion` and :meth:`FittedGraph.summary`).
        """
        if "attached" not in self._summary:
            self._summary["attached"] = self.graph.summary(self.initial)
        return self.graph.diffuse_new(
            X, Z, self.initial, self.diffused, adjacency, self._summary["attached"]
        )

    def __getstate__(self):
        state = dict(vars(self))
        state["_summary"] = {}  # rebuilt on the first prediction
        return state
