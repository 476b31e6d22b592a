"""The classifier's class scores over the fitted graph, and for new rows."""

# Authors: The sklearn-diffres developers
# SPDX-License-Identifier: BSD-3-Clause


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
