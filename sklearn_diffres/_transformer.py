"""DiffusionTransformer: the parameter-free diffusion layers on their own."""

# Authors: The sklearn-diffres developers
# SPDX-License-Identifier: BSD-3-Clause

import warnings
from numbers import Integral

import numpy as np
from sklearn.base import (
    BaseEstimator,
    OneToOneFeatureMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils._param_validation import (
    Hidden,
    Interval,
    StrOptions,
)
from sklearn.utils.validation import check_is_fitted

from ._auto import AUTO_UNLABELLED_N_LAYERS, select_n_layers
from ._docs import fill_doc
from ._fitted_graph import FittedGraph, dense
from ._graph import _validate_features
from ._targets import criterion_labels
from ._utils import restore_on_failure


@fill_doc
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
        Number of nearest other samples each sample is joined to. A denser
        graph than the classifier's default (10) smooths more per step:
        with 'auto' choosing from labels, the two did as well on the 13
        benchmark tables (means within 0.001), but without labels the 2
        steps of 'auto' raise the distance-diameter ratio of two moons over
        this graph (0.0046 to 0.0059) and lower it over a 10-neighbour one
        (to 0.0032).
    {sigma=10}
    {step_size}
    n_layers : int or 'auto', default='auto'
        Number of diffusion steps (layers, as the classifier calls them).
        'auto' chooses it from the class labels that ``fit`` gets in ``y``
        (``-1`` marks unlabelled samples), with the classifier's criterion
        and candidates (``AUTO_N_LAYERS``; see
        :class:`DiffusionResNetClassifier`): given the same graph and
        labels, the two choose the same number. Without labels of two
        classes (``fit(X)``, or a ``y`` of regression targets) 'auto' takes
        ``AUTO_UNLABELLED_N_LAYERS`` (2) steps. On 13 real tables with 5 and
        20 labels per class, logistic regression, 1-nearest-neighbour and
        SVC trained on the labelled rows of the diffused features averaged
        0.740 with the labels given, 0.732 without, 0.735 on the raw
        features and 0.712 after 20 steps, the default before 'auto'
        (``benchmarks/transformer.py``). Many steps run as one Chebyshev
        polynomial of ``L`` that agrees with them to
        ``POLYNOMIAL_TOLERANCE`` times the size of the values, when that
        takes fewer sparse products (200 steps at the 'auto' step: about 50).
    {adjacency}
    {neighbors_algorithm}
    random_state : int, RandomState instance or None, default=None
        Seeds pynndescent and the eigenvalue estimate.
    {n_jobs}
    {memory}
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
    n_layers_ : int
        The number of diffusion steps used: ``n_layers``, or what 'auto'
        chose.
    n_layers_scores_ : ndarray of shape (len(AUTO_N_LAYERS), 5)
        Only when 'auto' chose from labels: the classifier's criterion per
        candidate (see :class:`DiffusionResNetClassifier`).
    embedding_ : ndarray of shape (n_samples, n_features)
        The diffused training data.
    {features_in}

    See Also
    --------
    DiffusionResNetClassifier : The whole network, trained on few labels.
    sklearn.semi_supervised.LabelSpreading : Diffuses labels, not features.

    References
    ----------
    {references}

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
        **FittedGraph.CONSTRAINTS,
        "n_layers": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
        "n_steps": [
            Interval(Integral, 0, None, closed="left"),
            Hidden(StrOptions({"deprecated"})),
        ],
    }

    def __init__(
        self,
        n_neighbors=20,
        sigma=10,
        *,
        step_size="auto",
        n_layers="auto",
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

    def _fit_graph(self, X, y):
        """Build the fitted graph on the validated X (``_graph``), choose
        the number of steps when 'auto', and set the attributes that
        describe them."""
        if self.n_steps != "deprecated":
            warnings.warn(
                "n_steps was renamed n_layers (the classifier's name for the "
                "number of diffusion layers) and will be removed in 0.3; "
                f"use n_layers={self.n_steps}.",
                FutureWarning,
            )
        n_layers = self._layers()
        labels = criterion_labels(y, X.shape[0]) if n_layers == "auto" else None
        params = {name: getattr(self, name) for name in FittedGraph.PARAMETERS}
        params["n_layers"] = 0 if n_layers == "auto" else n_layers
        graph = FittedGraph(**params).fit(X)
        scores = None
        if labels is not None:
            labelled, codes, n_classes = labels
            graph.n_layers, scores = select_n_layers(
                graph.operator(graph.fit_X.dtype),
                graph.step,
                graph.fit_X,
                graph.nodes[labelled],
                codes,
                n_classes,
                random_state=self.random_state,
                lambda_max=graph.lambda_max,
            )
        elif n_layers == "auto":
            graph.n_layers = AUTO_UNLABELLED_N_LAYERS
        self._set_graph(graph, scores)

    def _set_graph(self, graph, scores=None):
        # The embedding and scores of an earlier fit belong to its graph.
        vars(self).pop("_node_embedding", None)
        vars(self).pop("embedding_", None)
        vars(self).pop("n_layers_scores_", None)
        if scores is not None:
            self.n_layers_scores_ = scores
        self.n_layers_ = graph.n_layers
        self._graph = graph
        self.graph_ = graph.graph
        self.laplacian_ = graph.laplacian
        self.lambda_max_ = graph.lambda_max
        self.step_size_ = graph.step
        self.nodes_ = graph.nodes

    def __getstate__(self):
        # A copy: object.__getstate__ returns the instance __dict__ itself.
        state = dict(super().__getstate__())
        state.pop("laplacian_", None)  # the fitted graph rebuilds it on load
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "_graph" in state:
            self.laplacian_ = self._graph.laplacian

    @classmethod
    def _around(cls, graph, n_features_in, **params):
        """A fitted transformer over a :class:`FittedGraph` built elsewhere
        (the classifier's ``diffusion_``); ``embedding_`` is computed on the
        first ``transform``."""
        transformer = cls(**params)
        transformer._set_graph(graph)
        transformer.n_features_in_ = n_features_in
        return transformer

    @fill_doc
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Build the graph on X and diffuse X.

        Parameters
        ----------
        {fit_X}
        y : array-like of shape (n_samples,), default=None
            Class labels, ``-1`` for unlabelled samples (as the classifier
            takes them), from which ``n_layers='auto'`` chooses the number
            of steps. Otherwise not used: without labels of two classes,
            'auto' takes ``AUTO_UNLABELLED_N_LAYERS`` steps.

        Returns
        -------
        self : object
            The fitted transformer.
        """
        with restore_on_failure(self):
            X = _validate_features(
                self, X, [np.float64, np.float32], ensure_min_samples=2
            )
            self._fit_graph(X, y)
            self._fitted_embedding()
        return self

    @fill_doc
    def fit_transform(self, X, y=None):
        """Fit to X and return the diffused X.

        Parameters
        ----------
        {fit_X}
        y : array-like of shape (n_samples,), default=None
            Class labels, ``-1`` for unlabelled samples, from which
            ``n_layers='auto'`` chooses the number of steps (see :meth:`fit`).

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features)
            X after ``n_layers`` diffusion steps (dense, X's float dtype).
        """
        return self.fit(X, y).embedding_.copy()

    @fill_doc
    def transform(self, X, adjacency=None):
        """Diffuse new rows alongside the fitted samples, one way.

        Parameters
        ----------
        {new_rows}

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features)
            The diffused rows (dense, X's float dtype).
        """
        check_is_fitted(self)
        X = _validate_features(self, X, [np.float64, np.float32], reset=False)
        graph = self._graph
        X_fit = dense(graph.fit_X).astype(X.dtype, copy=False)
        return graph.diffuse_new(
            X, dense(X), X_fit, self._fitted_embedding(), adjacency
        )

    def _fitted_embedding(self):
        """The diffused fitted nodes; computed on first use when ``fit``
        skipped it (the classifier's ``diffusion_`` only builds the graph)."""
        if not hasattr(self, "_node_embedding"):
            graph = self._graph
            self._node_embedding = graph.diffuse_fitted(dense(graph.fit_X))
            self.embedding_ = self._node_embedding[self.nodes_]
        return self._node_embedding

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
