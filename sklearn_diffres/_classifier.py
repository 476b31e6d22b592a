"""DiffusionResNetClassifier: semi-supervised Diff-ResNet, trained through skorch."""

# Authors: The sklearn-diffres developers
# SPDX-License-Identifier: BSD-3-Clause

import copy
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.metrics import accuracy_score
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.extmath import softmax
from sklearn.utils.validation import (
    _check_sample_weight,
    _num_samples,
    check_is_fitted,
)

from ._auto import select_n_layers
from ._docs import fill_doc
from ._fitted_graph import FittedGraph
from ._graph import _NEIGHBORS_ALGORITHMS, _validate_features
from ._kernels import to_torch
from ._net import (
    _OPTIMIZERS,
    _SkorchSettingsMixin,
    build_net,
    check_device,
    check_optimizer,
    rectified_prototypes,
)
from ._targets import (
    check_targets,
    check_validation_mask,
    class_weights,
    node_ids,
    split_validation,
)
from ._transformer import DiffusionTransformer
from ._utils import CHUNK_ROWS, restore_on_failure, unlabelled_mask


class DiffusionResNetClassifier(_SkorchSettingsMixin, ClassifierMixin, BaseEstimator):
    """Diffusion residual network (Diff-ResNet) for few labels, many points.

    A residual block ``x <- x + f(x)``, then ``n_layers`` parameter-free
    diffusion layers ``x <- x - step_size * L x`` over the graph of all
    fitted samples, then a linear classifier; cross-entropy on the labelled
    samples only. Fit semi-supervised by marking unlabelled targets ``-1``:
    every sample is a node of the graph, and diffusion carries what the
    labelled ones teach to their neighbours.

    Training is full batch through skorch (every step sees every node).
    ``transduction_`` holds the labels of the fitted samples; ``predict`` of
    new rows attaches each of them to the fitted graph one way, exactly as
    :meth:`DiffusionTransformer.transform` does, so a row's prediction depends
    only on that row and the fitted model. A new row identical to a fitted
    sample is that sample, so ``predict(X_fit)`` equals ``transduction_``.

    The defaults were chosen on thirteen real tables with 5 and 20 labels
    per class (``benchmarks/tables.py``, shown on the Performance page), with
    two moons, and digits few-shot, not on one data set; the user guide's
    "Choosing the parameters" says what each one does to accuracy and time.

    Parameters
    ----------
    n_neighbors : int, default=10
        Number of nearest other samples each sample is joined to. On the
        benchmark tables 10 (with ``sigma=5``) beat the paper's few-shot
        graph, 6 (with 3), on average with 5 and with 20 labels per class
        (0.729 against 0.723, 0.809 against 0.806), and on two moons.
    sigma : int, default=5
        Which nearest other sample (1-based) sets a sample's kernel width.
        The reference code's ``(n_top, sigma)`` are our ``(n_neighbors + 2,
        sigma + 1)``.
    adjacency : {array-like, sparse matrix} of shape (n_samples, n_samples), \
            default=None
        A graph of your own over the samples passed to ``fit`` (e.g. a
        citation graph), used instead of the kNN graph and normalised as
        ``D^-1/2 (A + I) D^-1/2``; self-loops in ``A`` add to ``I``.
    node_features : {array-like, sparse matrix} of shape (n_nodes, \
            n_features), default=None
        With ``adjacency`` (then of shape ``(n_nodes, n_nodes)``): the
        features of every node of your graph, and ``X`` holds node ids
        instead of features, an integer array of shape ``(n_samples, 1)``.
        ``fit(ids, y)`` trains on the labels of the nodes ``ids`` while every
        node stays in the graph, the others unlabelled; ``predict(ids)``
        gives the fitted (transductive) predictions of those nodes. So
        scikit-learn's tools cross-validate on your graph as they are:
        ``GridSearchCV(clf, grid, cv=StratifiedKFold(5)).fit(ids, y)``
        scores each candidate on labelled nodes whose labels its fits did
        not see, and ``cross_val_predict`` predicts every labelled node
        from a fit without its label.
    step_size : float or 'auto', default='auto'
        Diffusion strength of each layer. Explicit Euler is stable only
        while ``step_size * lambda_max(L) <= 2``; a float above that raises
        in ``fit``, naming the largest stable value. 'auto' takes ``1 /
        lambda_max(L)`` (half the limit), stable on every graph by
        construction: kNN graphs in many dimensions have hubs whose degree,
        and so ``lambda_max``, the normalisation does not bound (0.3 to 5.7
        on the benchmark tables, 62 on titanic before identical rows were
        merged into one node).
        ``diffusion_.step_size_`` holds the value used.
    n_layers : int or 'auto', default='auto'
        Number of diffusion layers; 0 gives the same network without
        diffusion. The diffusion time ``step_size * n_layers`` sets how far
        along the graph information travels (about its square root in hops).
        'auto' chooses among ``AUTO_N_LAYERS`` (0 to 200) from the labelled
        samples alone: the features are diffused for each candidate, and a
        ridge classifier on the labelled rows is scored by leave-one-out (a
        closed form, no network is trained); ``n_layers_`` holds the choice.
        On the benchmark tables the best fixed value ranged from 0 to 200 by
        table, and 'auto' beat ``n_layers=20`` on average. The layers are
        cheap: without dropout they run on the class scores, and in training
        only once (see :class:`~sklearn_diffres._module.DiffResNetModule`);
        many layers run as one Chebyshev polynomial of ``L`` that agrees
        with them to ``POLYNOMIAL_TOLERANCE`` (200 layers cost about 50 sparse
        products at the 'auto' step; see
        :class:`~sklearn_diffres._polynomial.DiffusionPolynomial`).
        The paper's Cora setting is ``n_layers=20, step_size=0.25,
        dropout=0.25``.
    dropout : float, default=0.0
        Dropout before each diffusion layer during training (the paper's
        graph experiments use 0.25 on Cora).
    residual_block : {'mlp', 'relu_linear'}, default='mlp'
        ``f(x) = Linear(relu(Linear(x)))`` as in the paper's few-shot and
        synthetic code, or ``f(x) = relu(Linear(x))`` as in its graph code.
    hidden_layer_size : int, default=None
        Inner width of the 'mlp' block; None means the number of features
        (as in the paper) but at least ``MIN_HIDDEN_UNITS`` (64): with the
        paper's width a 2-feature table gets 2 hidden units, too few to bend
        a decision boundary (banana, 5 labels per class: 0.57 with 2 units,
        0.70 with 64). Ignored by 'relu_linear', whose width is the number of
        features.
    n_blocks : int, default=1
        Number of residual blocks before the diffusion.
    alpha : float, default=0.0
        Weight of the prototype loss of the paper's few-shot code (0: off).
    class_weight : dict, 'balanced' or None, default=None
        Weights of the classes in the cross-entropy of the labelled samples
        (and of the early-stopping validation loss), as ``{label: weight}``
        (classes not named weigh 1). 'balanced' weighs each class by
        ``n_labelled / (n_classes * n_labelled_in_class)``, computed on the
        labelled training samples, as scikit-learn defines it: few labels
        are often imbalanced, and the minority classes are then predicted
        more often. None: every labelled sample weighs the same.
    optimizer : {'sgd', 'adam'}, torch.optim.Optimizer subclass or \
            functools.partial of one, default='sgd'
        'sgd' uses momentum 0.9 (unless ``optimizer__momentum`` or the
        partial sets it), as the paper's few-shot and synthetic code.
        'adam' uses torch's fused kernel where the torch version has it for
        ``device``; with ``lr=0.01, weight_decay=5e-4`` it is the paper's
        graph setting (Cora). On the benchmark tables SGD with the paper's
        few-shot ``lr=0.1, weight_decay=1e-4`` had the better mean accuracy
        (with 5 and with 20 labels per class), most of all on titanic.
    lr : float, default=0.1
        Learning rate.
    weight_decay : float, default=1e-4
        L2 penalty of the optimizer.
    max_epochs : int, default=100
        Number of full-batch training epochs (the most, with early stopping),
        as in the paper's few-shot code.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the labelled samples (stratified;
        they stay in the graph, unlabelled) and stop when neither their loss
        nor their accuracy improved for ``patience`` epochs, restoring the
        best weights, as the paper's code does.
    validation_fraction : float, default=0.1
        Share of labelled samples held out for early stopping.
    patience : int, default=50
        Epochs without improvement before early stopping.
    neighbors_algorithm : {'auto', 'exact', 'nndescent'}, default='auto'
        Exact neighbours up to ``EXACT_NEIGHBORS_MAX_SAMPLES`` samples, and
        for dense ``X`` while ``n_samples ** 2 * n_features`` is at most
        ``EXACT_NEIGHBORS_MAX_WORK`` (an exact search then costs less than
        pynndescent's compile); pynndescent above. Or force either.
    device : str or torch.device, default='cpu'
        Torch device to train on: 'cpu', 'cuda' or 'cuda:N'.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, dropout, the validation split and pynndescent.
        The same seed gives identical predictions on CPU.
    n_jobs : int, default=None
        Parallel jobs for the neighbour search.
    verbose : int, default=0
        1 prints skorch's per-epoch table.
    callbacks : list of skorch callbacks or (name, callback) tuples, \
            default=None
        Added to the net's own: ``training_guard`` (stops on a non-finite
        loss), ``gradient_clipping`` (skorch's ``GradientNormClipping`` at
        ``GRADIENT_CLIP_NORM``) and, with early stopping,
        ``paper_early_stopping``. The net is ``net_``; its ``history``
        records every epoch.
    warm_start : bool, default=False
        Refitting continues from the fitted network instead of new weights:
        its weights and, for the same optimizer class, the optimizer's state
        (momentum, Adam's moments) carry over, and ``max_epochs`` more
        epochs are trained. When ``X`` is the fitted ``X`` (and the graph
        parameters are unchanged) the fitted graph is reused as well, and
        with ``n_layers='auto'`` so is ``n_layers_``; otherwise the graph is
        rebuilt on the new ``X``. The classes and the number of features
        must stay the same.
    memory : str, joblib.Memory or None, default=None
        Caches the kNN graph (see :class:`DiffusionTransformer`): fits on
        the same ``X`` with the same graph parameters and an integer
        ``random_state`` load it instead of building it. In a grid search
        over model-only parameters the graph is then built once per fold,
        not once per candidate and fold.
    **kwargs : dict
        skorch settings passed on to the net, the skorch way:
        ``optimizer__<name>`` (e.g. ``optimizer__momentum=0.5``,
        ``optimizer__betas=(0.9, 0.99)``, ``optimizer__nesterov=True``)
        and ``callbacks__<callback>__<name>`` (e.g.
        ``callbacks__gradient_clipping__gradient_clip_value=5.0``). They
        are parameters like the others: ``get_params``, ``set_params``,
        ``clone`` and grid searches see them.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels (``-1`` excluded).
    n_layers_ : int
        The number of diffusion layers used: ``n_layers``, or what 'auto'
        chose.
    n_layers_scores_ : ndarray of shape (len(AUTO_N_LAYERS), 3)
        Only with ``n_layers='auto'``: per candidate number of layers, the
        leave-one-out accuracy and squared error of the criterion.
    transduction_ : ndarray of shape (n_samples,)
        Label given to every fitted sample.
    label_distributions_ : ndarray of shape (n_samples, n_classes)
        Class probabilities of every fitted sample.
    diffusion_ : DiffusionTransformer
        The fitted graph (``graph_``, ``laplacian_``, ``step_size_``,
        ``nodes_``), reused to attach new rows, with ``n_layers =
        n_layers_``. Its ``transform`` diffuses features over the fitted
        graph as the network's diffusion layers do; ``embedding_`` is
        computed on the first ``transform``.
    net_ : skorch.NeuralNetClassifier
        The trained skorch net: ``net_.module_`` holds the trained weights
        and ``net_.history_`` the training history. The graph is released
        from the module after fit (pickles stay small), so predict with the
        estimator, not with ``net_.predict``, and continue training with
        ``warm_start=True``, not with ``net_.partial_fit``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    DiffusionTransformer : The diffusion layers alone, as a transformer.
    SemiSupervisedKFold : Cross-validation that keeps unlabelled samples.
    sklearn.semi_supervised.LabelSpreading : Diffuses labels instead.

    References
    ----------
    .. [1] T. Wang, Z. Dou, C. Bao, Z. Shi, "Diffusion Mechanism in Residual
       Neural Network: Theory and Applications", IEEE TPAMI 46(2), 2024.
       arXiv:2105.03155.

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
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "sigma": [Interval(Integral, 1, None, closed="left")],
        "adjacency": ["array-like", "sparse matrix", None],
        "node_features": ["array-like", "sparse matrix", None],
        "step_size": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "n_layers": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "residual_block": [StrOptions({"mlp", "relu_linear"})],
        "hidden_layer_size": [Interval(Integral, 1, None, closed="left"), None],
        "n_blocks": [Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "optimizer": [StrOptions(set(_OPTIMIZERS)), callable],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "neighbors_algorithm": [StrOptions(set(_NEIGHBORS_ALGORITHMS))],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
        "callbacks": [list, None],
        "warm_start": ["boolean"],
        "memory": [None, str, HasMethods(["cache"])],
    }

    def __init__(
        self,
        n_neighbors=10,
        sigma=5,
        *,
        adjacency=None,
        node_features=None,
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
        weight_decay=1e-4,
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
            Weights of the labelled samples in the training loss (multiplied
            by ``class_weight``); the loss is their weighted mean. The
            weights of unlabelled samples are not used, and no weight
            changes the graph: a weight of 2 is not the same as the row
            given twice (which adds a node's mass to the graph). None: every
            labelled sample weighs 1.
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

    def _fit_nodes(self, X, y, sample_weight, validation_mask):
        """``fit`` on node ids: their labels, every node in the graph."""
        if self.adjacency is None:
            raise ValueError(
                "node_features is used with adjacency (a graph of your own over "
                "its rows); without adjacency pass the features as X."
            )
        n_nodes = _num_samples(self.node_features)
        ids = node_ids(X, n_nodes, unique=True)
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
        self._fit(self.node_features, y_all, weights, mask)
        # Fitted on node ids: X has one column, and names no features.
        self.n_features_in_ = 1
        if hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return self

    def _fit(self, X, y, sample_weight=None, validation_mask=None):
        self._device = check_device(self.device)
        check_optimizer(self.optimizer)
        X = _validate_features(self, X, [np.float32, np.float64], ensure_min_samples=2)
        previous = self._warm_state(X) if self.warm_start else None
        labelled_idx, encoder, y_enc = check_targets(X, y)
        if previous is not None and not np.array_equal(
            previous["classes"], encoder.classes_
        ):
            raise ValueError(
                f"warm_start=True continues training the fitted network, whose "
                f"classes are {previous['classes'].tolist()!r}; y has classes "
                f"{encoder.classes_.tolist()!r}. Use warm_start=False to start afresh."
            )
        self.classes_ = encoder.classes_
        n_classes = len(self.classes_)
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
        weights_tr = None
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=np.float32, ensure_non_negative=True
            )
            weights_tr = sample_weight[tr]
            if not weights_tr.sum() > 0:
                raise ValueError(
                    "sample_weight is 0 for every labelled sample the network "
                    "trains on; give some labelled samples a positive weight."
                )

        X32 = X.astype(np.float32)
        same_graph = previous is not None and previous["same_X"](X32)
        if same_graph:
            graph = self._graph
        else:
            # Only the graph is needed: diffusing the raw features is skipped.
            params = {name: getattr(self, name) for name in FittedGraph.PARAMETERS}
            params.update(n_layers=0, random_state=seed)
            graph = FittedGraph(**params).fit(X32)
        # The network runs on the graph's nodes (identical rows are one node);
        # a labelled sample is its node, so a node may carry several labels.
        X_nodes, nodes = graph.fit_X, graph.nodes

        tr = nodes[tr]
        va = None if va is None else nodes[va]
        if self.n_layers != "auto":
            self.n_layers_ = self.n_layers
        elif not same_graph:  # a warm start on the fitted graph keeps n_layers_
            # Chosen on the training labels only (validation ones stay unseen).
            self.n_layers_, self.n_layers_scores_ = select_n_layers(
                graph.operator(X_nodes.dtype),
                graph.step,
                X_nodes,
                tr,
                y_tr,
                n_classes,
                random_state=seed,
                lambda_max=graph.lambda_max,
            )
        # A new graph object (the fitted one is never changed in place).
        graph = copy.copy(graph)
        graph.n_layers = self.n_layers_
        self._graph = graph
        self.diffusion_ = DiffusionTransformer._around(
            graph, X.shape[1], **graph.get_params()
        )
        weights = class_weights(self.class_weight, self.classes_, y_tr)
        net = build_net(self, X.shape[1], n_classes, va, y_va, weights)
        if weights_tr is not None:
            net.set_params(train_weight=torch.as_tensor(weights_tr))
        proto = None
        if self.alpha > 0:
            proto = torch.as_tensor(
                rectified_prototypes(X_nodes, tr, y_tr, n_classes),
                dtype=torch.float32,
            )
        # Weights and dropout noise come from per-fit generators, not torch's
        # global one: the same results when fits run in threads. fork_rng
        # leaves the global generator as it was (torch's data loader draws
        # from it every epoch).
        with torch.random.fork_rng(devices=[]):
            net.initialize()
            net.module_.reset_parameters(seed)
            if previous is not None:
                previous["restore"](net)
            net.module_.set_graph(to_torch(X_nodes), graph.laplacian, proto)
            net.partial_fit(tr, y_tr)
        self._raise_if_interrupted(net)
        self.net_ = net

        # Logits of every node before diffusion, in eval mode; then the
        # diffusion in class space (exact, see DiffResNetModule).
        net.module_.eval()
        net.module_.set_graph()  # the graph lives in diffusion_; keep pickles small
        self._fit_logits0 = self._logits0(X_nodes)
        logits = graph.diffuse_fitted(self._fit_logits0)
        self._fit_logits = logits
        self._attached_box = {}
        logits = logits[nodes]
        self.label_distributions_ = softmax(logits.astype(np.float64))
        self.transduction_ = self.classes_[logits.argmax(axis=1)]
        return self

    def _warm_state(self, X):
        """What ``warm_start`` carries over from the fitted model, or None.

        The network's weights, and the optimizer's state (momentum, Adam's
        moments) when the optimizer class is the same; the graph and
        ``n_layers_`` when ``X`` is the fitted ``X``.
        """
        if not hasattr(self, "net_"):
            return None
        if X.shape[1] != self.diffusion_.n_features_in_:
            raise ValueError(
                f"warm_start=True continues training the fitted network, which "
                f"takes {self.diffusion_.n_features_in_} features; X has shape "
                f"{X.shape}. Use warm_start=False to start afresh."
            )
        graph, old_net = self._graph, self.net_
        fitted_X = graph.fit_X[graph.nodes]

        built_with = graph.get_params()
        same_settings = all(
            built_with[name] is getattr(self, name)
            if name == "adjacency"
            else built_with[name] == getattr(self, name)
            for name in (
                "n_neighbors",
                "sigma",
                "step_size",
                "adjacency",
                "neighbors_algorithm",
            )
        )

        def same_X(X32):
            if not same_settings or X32.shape != fitted_X.shape:
                return False
            if sp.issparse(X32) != sp.issparse(fitted_X):
                return False
            if sp.issparse(X32):
                return (X32 != fitted_X).nnz == 0
            return np.array_equal(X32, fitted_X)

        def restore(net):
            net.module_.load_state_dict(old_net.module_.state_dict())
            if type(net.optimizer_) is type(old_net.optimizer_):
                state = old_net.optimizer_.state_dict()["state"]
                groups = net.optimizer_.state_dict()["param_groups"]
                net.optimizer_.load_state_dict({"state": state, "param_groups": groups})

        return {"classes": self.classes_, "same_X": same_X, "restore": restore}

    def _raise_if_interrupted(self, net):
        """Re-raise a Ctrl-C that skorch's ``partial_fit`` swallowed.

        A fit cut short would otherwise return a half-trained model that looks
        fitted; scikit-learn users (and grid searches) expect Ctrl-C to stop.
        The estimator is then left as it was before ``fit``.
        """
        callbacks = dict(net.callbacks_)
        done = callbacks["training_guard"].epochs_done_
        stopped = (
            "paper_early_stopping" in callbacks
            and callbacks["paper_early_stopping"].stopped_
        )
        if done < self.max_epochs and not stopped:
            raise KeyboardInterrupt(
                f"fit was interrupted after {done} of max_epochs="
                f"{self.max_epochs} epochs; the estimator is left as it was "
                "before fit."
            )

    def _logits0(self, X):
        """Logits of rows before diffusion (residual blocks, classifier)."""
        module = self.net_.module_
        device = module.classifier.weight.device
        out = []
        with torch.no_grad():
            for start in range(0, X.shape[0], CHUNK_ROWS):
                chunk = to_torch(X[start : start + CHUNK_ROWS], device)
                out.append(module.classifier(module.encode(chunk)).cpu().numpy())
        if not out:
            return np.zeros((0, len(self.classes_)), dtype=np.float32)
        return np.concatenate(out)

    def _new_logits(self, X, adjacency):
        check_is_fitted(self)
        if self.node_features is not None:
            if adjacency is not None:
                raise ValueError(
                    "With node_features, X holds ids of fitted nodes: there are "
                    "no new rows, and no adjacency to pass."
                )
            ids = node_ids(X, len(self._graph.nodes))
            return self._fit_logits[self._graph.nodes[ids]].copy()
        X = _validate_features(self, X, [np.float32, np.float64], reset=False)
        X = X.astype(np.float32)
        return self._graph.diffuse_new(
            X,
            self._logits0(X),
            self._fit_logits0,
            self._fit_logits,
            adjacency,
            self._attached(),
        )

    def _attached(self):
        """The fitted logits' trajectory, summarised for new rows.

        Built on the first prediction and kept, but not pickled; then a new
        row costs its neighbours' values only (see :class:`AttachedDiffusion`
        and :meth:`FittedGraph.summary`).
        """
        # A dict made empty by fit: filling it leaves the estimator's own
        # attributes as they are (predict must not change them).
        box = self._attached_box
        if "cache" not in box:
            box["cache"] = self._graph.summary(self._fit_logits0)
        return box["cache"]

    def __getstate__(self):
        # A copy: object.__getstate__ returns the instance __dict__ itself.
        state = dict(super().__getstate__())
        if "_attached_box" in state:
            state["_attached_box"] = {}  # rebuilt on the first prediction
        return state

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
        """
        logits = self._new_logits(X, adjacency).astype(np.float64)
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
        return softmax(self._new_logits(X, adjacency).astype(np.float64))

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
