"""DiffusionResNetClassifier: semi-supervised Diff-ResNet, trained through skorch."""

# Authors: The sklearn-diffres developers
# SPDX-License-Identifier: BSD-3-Clause

from numbers import Integral

import numpy as np
from scipy.special import log_softmax
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.metrics import accuracy_score
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.extmath import softmax
from sklearn.utils.validation import check_is_fitted

from ._auto import diffusion_is_clear
from ._docs import fill_doc
from ._fitted_graph import FittedGraph
from ._graph import _validate_features
from ._module import MODULE_CONSTRAINTS
from ._net import (
    TRAINING_CONSTRAINTS,
    _SkorchSettingsMixin,
    check_device,
    check_optimizer,
)
from ._node_ids import _NodeIdsMixin
from ._scores import FittedScores, averaged_logits
from ._targets import (
    check_targets,
    check_validation_mask,
    split_validation,
    training_weights,
)
from ._training import (
    input_standardization,
    train_network,
    training_graph,
    training_weight_decay,
    warm_state,
)
from ._transformer import DiffusionTransformer
from ._utils import restore_on_failure, unlabelled_mask


@fill_doc
class DiffusionResNetClassifier(
    _NodeIdsMixin, _SkorchSettingsMixin, ClassifierMixin, BaseEstimator
):
    """Diffusion residual network (Diff-ResNet) for few labels, many points.

    A residual block ``x <- x + f(x)``, then ``n_layers`` parameter-free
    diffusion layers ``x <- x - step_size * L x`` over the graph of all
    fitted samples, then a linear classifier; cross-entropy on the labelled
    samples only. Fit semi-supervised by marking unlabelled targets ``-1``:
    every sample is a node of the graph, and diffusion carries what the
    labelled ones teach to their neighbours.

    Training is full batch through skorch. ``predict`` attaches new rows to
    the fitted graph one way, as :meth:`DiffusionTransformer.transform`
    does: a row's prediction depends only on that row and the fitted model,
    and ``predict(X_fit)`` equals ``transduction_``.

    The defaults were chosen on thirteen real tables with 5 and 20 labels
    per class, two moons and digits few-shot (Performance page); the user
    guide's "Choosing the parameters" says what each does to accuracy and time.
    The graph uses the features as given; the network standardises dense
    ones (``standardize``). Put a ``StandardScaler`` in front of tables whose
    columns have different units: the graph's distances depend on them too.

    Parameters
    ----------
    n_neighbors : int, default=10
        Number of nearest other samples each sample is joined to.
    {sigma=5}
    {adjacency}
    node_features : {array-like, sparse matrix} of shape (n_nodes, \
            n_features), default=None
        With ``adjacency`` (then of shape ``(n_nodes, n_nodes)``): the
        features of every node of your graph, and ``X`` holds node ids
        instead of features, an integer array of shape ``(n_samples, 1)``.
        ``fit(ids, y)`` trains on the labels of the nodes ``ids`` while every
        node stays in the graph, the others unlabelled; ``predict(ids)``
        gives the fitted (transductive) predictions of those nodes. So
        ``GridSearchCV`` and ``cross_val_predict`` work on your graph as
        they are, each fit blind to the labels it is scored on.
    standardize : bool, default=True
        Whether the network sees dense features standardised: each feature
        shifted and scaled to zero mean and unit variance over every fitted
        sample, labelled or not (``input_mean_``, ``input_scale_``), as a
        ``StandardScaler`` in a pipeline would; new rows get the same map.
        The neighbour graph always uses the features as given, and sparse
        features are left as given (centring would fill them in). Trained by
        SGD, the network needs features on comparable scales: on the thirteen
        benchmark tables left unscaled, 5 / 20 labels per class, the
        defaults averaged 0.667 / 0.719 without it and 0.719 / 0.819 with it
        (0.732 / 0.820 with the tables standardised beforehand, where it
        changes nothing); on 30 KEEL tables left unscaled, 0.641 / 0.709
        without it and 0.673 / 0.745 with it. False keeps a scale of your
        own, such as L2-normalised embeddings (the paper's few-shot
        features).
    {step_size}
    n_layers : int or 'auto', default='auto'
        Number of diffusion layers (0: the network without diffusion).
        'auto' chooses among ``AUTO_N_LAYERS`` (0 to 200) from the labelled
        samples alone, by the leave-one-out score of a linear classifier
        (penalised discriminant analysis) on the diffused features (no
        network is trained); when every class has a single labelled
        sample, as many as keep a fifth of the features' variance.
        ``n_layers_`` holds the choice. Unless the choice beats no diffusion
        by more than a standard error of that score
        (``AUTO_HEDGE_STANDARD_ERRORS``; not judged with one labelled sample
        per class), the network without diffusion is trained too and the two
        networks' class probabilities are averaged
        (``net_without_diffusion_``): with a few labels the choice is
        uncertain. The best fixed value ranged from 0 to 200 by benchmark
        table, and 'auto' beat ``n_layers=20`` on average. Many layers run
        as one Chebyshev polynomial of ``L`` (200 layers: about 50 sparse
        products). The paper's Cora setting is ``n_layers=20,
        step_size=0.25, dropout=0.25``.
    {network}
    {training}
    {neighbors_algorithm}
    device : str or torch.device, default='cpu'
        Torch device to train on: 'cpu', 'cuda' or 'cuda:N'.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, dropout, the validation split and pynndescent.
        The same seed gives identical predictions on CPU.
    {n_jobs}
    {net_settings}
    {memory}
    **kwargs : dict
        skorch settings passed on to the net, ``optimizer__<name>`` (e.g.
        ``optimizer__nesterov=True``) and ``callbacks__<callback>__<name>``;
        ``get_params``, ``set_params``, ``clone`` and grid searches see them.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels (``-1`` excluded).
    n_layers_ : int
        The number of diffusion layers used: ``n_layers``, or what 'auto'
        chose.
    n_layers_scores_ : ndarray of shape (len(AUTO_N_LAYERS), 5)
        Only with ``n_layers='auto'``: per candidate number of layers (first
        column), the leave-one-out accuracy and squared error of the
        criterion, the share of the inputs' variance that diffusion keeps,
        and the smallest share, over pairs of classes, of the squared
        distance between their labelled centroids that it keeps (candidates
        under ``AUTO_MIN_VARIANCE_KEPT`` or ``AUTO_MIN_SEPARATION_KEPT``,
        both 0.01, are not chosen).
    input_mean_ : ndarray of shape (n_features,) or None
        Per feature, what the network's input is shifted by: the mean over
        the fitted samples. None where the network sees the features as
        given (``standardize=False`` or sparse features).
    input_scale_ : ndarray of shape (n_features,) or None
        Per feature, what the shifted input is divided by: the standard
        deviation over the fitted samples (1 for a constant feature). None
        with ``input_mean_``.
    weight_decay_ : float
        The weight decay the optimizer used: ``weight_decay``, what 'auto'
        made of it, or ``optimizer__weight_decay`` where that is set.
    weight_decay_scores_ : ndarray of shape (len(AUTO_WEIGHT_DECAY_GRID), 3) or None
        Where ``weight_decay='auto'`` cross-validated the penalty: per value
        of ``c`` (first column; the weight decay is ``c / n``), the held-out
        accuracy and log loss of the network without diffusion on the
        labelled samples. None where it did not (fewer than
        ``AUTO_WEIGHT_DECAY_MIN_PER_CLASS`` labelled samples in some class,
        early stopping, a weight decay given, or inputs so wide that the
        search would cost many fits: ``AUTO_WEIGHT_DECAY_MAX_WORK``).
    transduction_ : ndarray of shape (n_samples,)
        Label given to every fitted sample.
    label_distributions_ : ndarray of shape (n_samples, n_classes)
        Class probabilities of every fitted sample.
    diffusion_ : DiffusionTransformer
        The fitted graph (``graph_``, ``laplacian_``, ``step_size_``,
        ``nodes_``) with ``n_layers = n_layers_``: its ``transform``
        diffuses features as the network's layers do.
    net_ : skorch.NeuralNetClassifier
        The trained net: ``net_.module_`` holds the weights, ``net_.history``
        the training history. The graph is released from the module after
        fit (pickles stay small): predict with the estimator and continue
        training with ``warm_start=True``, not through ``net_``.
    net_without_diffusion_ : skorch.NeuralNetClassifier or None
        With ``n_layers='auto'`` where the evidence for its choice was within
        a standard error: the same network trained without diffusion, whose
        class probabilities are averaged with those of ``net_``
        (``transduction_``, ``predict_proba`` and ``predict`` use the
        average; ``decision_function`` gives its logarithm). It trains with
        copies of ``callbacks``: the callback objects you pass describe
        ``net_``. None otherwise.
    {features_in}

    See Also
    --------
    DiffusionTransformer : The diffusion layers alone, as a transformer.
    SemiSupervisedKFold : Cross-validation that keeps unlabelled samples.
    sklearn.semi_supervised.LabelSpreading : Diffuses labels instead.

    References
    ----------
    {references}

    Examples
    --------
    Five labelled wines per class, the other 163 unlabelled:

    >>> import numpy as np
    >>> from sklearn.datasets import load_wine
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_diffres import DiffusionResNetClassifier
    >>> X, y = load_wine(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> y_semi = np.full_like(y, -1)
    >>> for c in range(3):
    ...     first = np.flatnonzero(y == c)[:5]
    ...     y_semi[first] = c
    >>> clf = DiffusionResNetClassifier(random_state=0).fit(X, y_semi)
    >>> bool((clf.transduction_ == y).mean() > 0.9)
    True
    >>> clf.n_layers_ in (0, 5, 10, 20, 50, 100, 200)
    True
    >>> clf.predict_proba(X[:2] + 0.1).shape
    (2, 3)
    """

    _parameter_constraints: dict = {
        **FittedGraph.CONSTRAINTS,
        **MODULE_CONSTRAINTS,
        **TRAINING_CONSTRAINTS,
        "node_features": ["array-like", "sparse matrix", None],
        "standardize": ["boolean"],
        "n_layers": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
        "class_weight": [StrOptions({"balanced"}), dict, None],
    }

    def __init__(
        self,
        n_neighbors=10,
        sigma=5,
        *,
        adjacency=None,
        node_features=None,
        standardize=True,
        step_size="auto",
        n_layers="auto",
        dropout=0.0,
        residual_block="mlp",
        hidden_layer_size=None,
        n_blocks=1,
        alpha=0.0,
        class_weight=None,
        optimizer="sgd",
        lr=0.1,
        weight_decay="auto",
        max_epochs=100,
        early_stopping=False,
        validation_fraction=0.1,
        patience=50,
        neighbors_algorithm="auto",
        device="cpu",
        random_state=None,
        n_jobs=None,
        verbose=0,
        callbacks=None,
        warm_start=False,
        memory=None,
        **kwargs,
    ):
        self.n_neighbors = n_neighbors
        self.sigma = sigma
        self.adjacency = adjacency
        self.node_features = node_features
        self.standardize = standardize
        self.step_size = step_size
        self.n_layers = n_layers
        self.dropout = dropout
        self.residual_block = residual_block
        self.hidden_layer_size = hidden_layer_size
        self.n_blocks = n_blocks
        self.alpha = alpha
        self.class_weight = class_weight
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.neighbors_algorithm = neighbors_algorithm
        self.device = device
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.callbacks = callbacks
        self.warm_start = warm_start
        self.memory = memory
        # Checked in fit, as scikit-learn checks parameters (_check_routed).
        vars(self).update(kwargs)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, validation_mask=None):
        """Build the graph on all of X and train on its labelled samples.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            All samples, labelled or not; every one is a node of the graph.
        y : array-like of shape (n_samples,)
            Targets, ``-1`` for unlabelled samples.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the labelled samples in the training loss (times
            ``class_weight``). No weight changes the graph: a weight of 2 is
            not the row given twice. None: every labelled sample weighs 1.
        validation_mask : array-like of bool of shape (n_samples,), \
                default=None
            With ``early_stopping=True``: the labelled samples held out for
            early stopping, named instead of drawn (``validation_fraction``
            is then not used), e.g. the validation nodes of a published
            split. They stay in the graph, unlabelled for training. Only
            labelled samples may be marked, and every class needs a
            labelled sample that is not.

        Returns
        -------
        self : object
            The fitted classifier. A fit that raises leaves the estimator as
            it was before (unfitted, or with its previous model).

        Examples
        --------
        Early stopping on named validation samples:

        >>> import numpy as np
        >>> from sklearn.datasets import make_moons
        >>> from sklearn_diffres import DiffusionResNetClassifier
        >>> X, y = make_moons(200, noise=0.1, random_state=0)
        >>> y_semi = np.where(np.arange(200) < 40, y, -1)
        >>> validation = (np.arange(200) >= 30) & (np.arange(200) < 40)
        >>> clf = DiffusionResNetClassifier(early_stopping=True, random_state=0)
        >>> clf = clf.fit(X, y_semi, validation_mask=validation)
        >>> clf.transduction_.shape
        (200,)
        """
        self._check_routed()
        with restore_on_failure(self):
            if self.node_features is not None:
                return self._fit_nodes(X, y, sample_weight, validation_mask)
            return self._fit(X, y, sample_weight, validation_mask)

    def _fit(self, X, y, sample_weight=None, validation_mask=None):
        self._device = check_device(self.device)
        check_optimizer(self.optimizer)
        X = _validate_features(self, X, [np.float32, np.float64], ensure_min_samples=2)
        labelled_idx, encoder, y_enc = check_targets(X, y)
        previous = warm_state(self, X, encoder.classes_) if self.warm_start else None
        self.classes_ = encoder.classes_
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))

        # The split and the weights are checked before the graph is built.
        if validation_mask is not None:
            validation_mask = check_validation_mask(validation_mask, X.shape[0])
        tr, y_tr, va, y_va = split_validation(
            labelled_idx,
            y_enc,
            rng,
            self.early_stopping,
            self.validation_fraction,
            self.classes_,
            validation_mask,
        )
        weights_tr = training_weights(sample_weight, X, tr)

        X32 = X.astype(np.float32)
        self.input_mean_, self.input_scale_ = input_standardization(self, X, previous)
        # The search reads the training rows only: they alone are mapped.
        self.weight_decay_, self.weight_decay_scores_ = training_weight_decay(
            self, self._network_input(X32[tr]), y_tr, weights_tr, seed
        )
        graph, n_layers, scores = training_graph(self, X32, tr, y_tr, seed, previous)
        self.n_layers_ = n_layers
        if scores is not None:
            self.n_layers_scores_ = scores
        self._graph = graph
        self.diffusion_ = DiffusionTransformer._around(
            graph, X.shape[1], **graph.get_params()
        )
        # The network runs on the graph's nodes (identical rows are one node);
        # a labelled sample is its node, so a node may carry several labels.
        nodes = graph.nodes
        tr = nodes[tr]
        va = None if va is None else nodes[va]
        split = (tr, y_tr, va, y_va)
        X_nodes = self._network_input(graph.fit_X)
        self.net_ = train_network(
            self, graph, X_nodes, split, weights_tr, seed, previous
        )
        # Where the evidence for its choice is within noise (a few labelled
        # samples), 'auto' hedges: the same network trained without
        # diffusion has an equal say.
        self.net_without_diffusion_ = None
        self._plain_scores = None
        criterion = getattr(self, "n_layers_scores_", None)
        if (
            self.n_layers == "auto"
            and criterion is not None
            and not diffusion_is_clear(criterion, n_layers, y_tr)
        ):
            plain_previous = None if previous is None else previous["plain"]
            self.net_without_diffusion_ = train_network(
                self, graph, X_nodes, split, weights_tr, seed, plain_previous, 0
            )
            self._plain_scores = self.net_without_diffusion_.module_.scores(X_nodes)

        # Scores of every node before diffusion, in eval mode; then the
        # diffusion in class space (exact, see DiffResNetModule).
        self._scores = FittedScores(graph, self.net_.module_.scores(X_nodes))
        logits = self._node_scores(nodes)
        self.label_distributions_ = softmax(logits)
        self.transduction_ = self.classes_[logits.argmax(axis=1)]
        return self

    def _node_scores(self, nodes):
        """Logits (float64) of the fitted ``nodes``."""
        plain = self._plain_scores
        return averaged_logits(
            self._scores.diffused[nodes], None if plain is None else plain[nodes]
        )

    def _new_logits(self, X, adjacency):
        check_is_fitted(self)
        if self.node_features is not None:
            return self._node_logits(X, adjacency)
        X = _validate_features(self, X, [np.float32, np.float64], reset=False)
        X = X.astype(np.float32)
        network_X = self._network_input(X)
        logits = self._scores.new(X, self.net_.module_.scores(network_X), adjacency)
        plain = self.net_without_diffusion_
        return averaged_logits(
            logits, None if plain is None else plain.module_.scores(network_X)
        )

    def _network_input(self, X):
        """The rows ``X`` (float32) as the network sees them: standardised
        with ``input_mean_`` and ``input_scale_``, or as given."""
        if self.input_mean_ is None:
            return X
        Z = X - self.input_mean_  # float64, as the scaler's statistics
        Z /= self.input_scale_
        return Z.astype(np.float32)

    @fill_doc
    def decision_function(self, X, adjacency=None):
        """Logits of new rows after diffusion alongside the fitted graph.

        Parameters
        ----------
        {new_rows}

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            Logits; for two classes, the logit of the second minus the first.
            With ``net_without_diffusion_``, the logarithm of the averaged
            class probabilities stands for the logits.
        """
        logits = self._new_logits(X, adjacency)
        if len(self.classes_) == 2:
            return logits[:, 1] - logits[:, 0]
        return logits

    @fill_doc
    def predict_proba(self, X, adjacency=None):
        """Class probabilities of new rows.

        Parameters
        ----------
        {new_rows}

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Rows are finite and sum to 1.
        """
        return softmax(self._new_logits(X, adjacency))

    @fill_doc
    def predict_log_proba(self, X, adjacency=None):
        """Logarithm of the class probabilities of new rows.

        Computed from the logits (a log-softmax), so a probability too small
        for ``predict_proba`` to hold gives a finite logarithm, not
        ``-inf``.

        Parameters
        ----------
        {new_rows}

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Finite; ``np.exp`` of each row sums to 1.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.datasets import make_moons
        >>> from sklearn_diffres import DiffusionResNetClassifier
        >>> X, y = make_moons(200, noise=0.1, random_state=0)
        >>> y_semi = np.where(np.arange(200) < 10, y, -1)
        >>> clf = DiffusionResNetClassifier(max_epochs=20, random_state=0)
        >>> log_proba = clf.fit(X, y_semi).predict_log_proba(X[:3])
        >>> np.allclose(np.exp(log_proba), clf.predict_proba(X[:3]))
        True
        """
        return log_softmax(self._new_logits(X, adjacency), axis=1)

    @fill_doc
    def predict(self, X, adjacency=None):
        """Class labels of new rows.

        Parameters
        ----------
        {new_rows}

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        logits = self._new_logits(X, adjacency)
        return self.classes_[logits.argmax(axis=1)]

    def score(self, X, y, sample_weight=None):
        """Accuracy on the labelled samples; targets ``-1`` are ignored.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.
        y : array-like of shape (n_samples,)
            True labels, ``-1`` for samples to ignore.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float
            Mean accuracy over the samples whose target is not ``-1``.
        """
        y = column_or_1d(y)
        keep = ~unlabelled_mask(y)
        if not keep.any():
            raise ValueError("y has no labelled sample to score (all are -1).")
        pred = self.predict(X)
        weight = None if sample_weight is None else np.asarray(sample_weight)[keep]
        return accuracy_score(y[keep], pred[keep], sample_weight=weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.non_deterministic = str(self.device) != "cpu"
        return tags
