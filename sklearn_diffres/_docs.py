"""Docstring text shared by several methods, written once.

A docstring names a piece as ``{name}`` on a line of its own;
:func:`fill_doc` puts the text there, indented as that line is (the
approach of SciPy's ``doccer`` and MNE's ``fill_doc``). A parameter whose
default differs between the estimators is written ``{sigma=5}``.
"""

# Authors: The sklearn-diffres developers
# SPDX-License-Identifier: BSD-3-Clause

import re
import textwrap

DOCS = {
    "new_rows": """\
X : {array-like, sparse matrix} of shape (n_samples, n_features)
    New rows.
adjacency : sparse matrix of shape (n_samples, n_fitted_samples), \
        default=None
    Only with a precomputed graph: the edges from the new rows to the
    fitted samples. Not needed for the fitted X itself.""",
    "fit_X": """\
X : {array-like, sparse matrix} of shape (n_samples, n_features)
    Training data.
y : None
    Ignored.""",
    # The graph parameters both estimators take.
    "sigma": """\
sigma : int, default={sigma}
    Which nearest other sample (1-based) sets a sample's kernel width.
    The reference code's ``(n_top, sigma)`` are our ``(n_neighbors + 2,
    sigma + 1)``.""",
    "adjacency": """\
adjacency : {array-like, sparse matrix} of shape (n_samples, n_samples), \
        default=None
    A graph of your own over the samples passed to ``fit`` (e.g. a
    citation graph), used instead of the kNN graph and normalised as
    ``D^-1/2 (A + I) D^-1/2``; self-loops in ``A`` add to ``I``.""",
    "step_size": """\
step_size : float or 'auto', default='auto'
    Diffusion strength of each layer. Explicit Euler is stable only while
    ``step_size * lambda_max(L) <= 2``; a float above that raises in
    ``fit``, naming the largest stable value. 'auto' takes ``1 /
    lambda_max(L)`` (half the limit), stable on every graph by
    construction: kNN graphs in many dimensions have hubs whose degree, and
    so ``lambda_max``, the normalisation does not bound (0.3 to 5.7 on the
    benchmark tables). ``step_size_`` (the classifier's
    ``diffusion_.step_size_``) holds the value used.""",
    "neighbors_algorithm": """\
neighbors_algorithm : {'auto', 'exact', 'nndescent'}, default='auto'
    Exact neighbours up to ``EXACT_NEIGHBORS_MAX_SAMPLES`` samples, and
    for dense ``X`` while ``n_samples ** 2 * n_features`` is at most
    ``EXACT_NEIGHBORS_MAX_WORK`` (an exact search then costs less than
    pynndescent's compile); pynndescent above. Or force either.""",
    "n_jobs": """\
n_jobs : int, default=None
    Parallel jobs for the neighbour search.""",
    "memory": """\
memory : str, joblib.Memory or None, default=None
    Caches the kNN graph (its weights, ``L`` and ``lambda_max``), as
    scikit-learn's ``memory`` parameters do: a folder or a
    ``joblib.Memory``. Fits on the same ``X`` with the same graph
    parameters and an integer ``random_state`` load it instead of building
    it: in a grid search over model-only parameters the graph is then built
    once per fold, not once per candidate and fold. None: no caching.""",
    # The classifier's network (_module.py) and its loss.
    "network": """\
dropout : float, default=0.0
    Dropout before each diffusion layer during training (the paper's
    graph experiments use 0.25 on Cora).
residual_block : {'mlp', 'relu_linear'}, default='mlp'
    ``f(x) = Linear(relu(Linear(x)))`` as in the paper's few-shot and
    synthetic code, or ``f(x) = relu(Linear(x))`` as in its graph code.
hidden_layer_size : int, default=None
    Inner width of the 'mlp' block; None means the number of features
    (as in the paper) but at least ``MIN_HIDDEN_UNITS`` (64) and at most
    ``MAX_HIDDEN_UNITS`` (256), which keeps wide inputs (thousands of
    features) fast. Ignored by 'relu_linear'.
n_blocks : int, default=1
    Number of residual blocks before the diffusion.
alpha : float, default=0.0
    Weight of the prototype loss of the paper's few-shot code (0: off).
class_weight : dict, 'balanced' or None, default=None
    Weights of the classes in the cross-entropy of the labelled samples
    (and in the early-stopping loss), as ``{label: weight}`` (classes
    not named weigh 1), or 'balanced' as scikit-learn defines it, on the
    labelled training samples. None: every labelled sample weighs the
    same.""",
    # The classifier's training settings, passed on to its skorch net (_net.py).
    "training": """\
optimizer : {'sgd', 'adam'}, torch.optim.Optimizer subclass or \
        functools.partial of one, default='sgd'
    'sgd' uses momentum 0.9 (unless ``optimizer__momentum`` or the
    partial sets it), as the paper's few-shot code; with its ``lr=0.1``
    it beat Adam on the benchmark tables. 'adam' with ``lr=0.01,
    weight_decay=5e-4`` is the paper's Cora setting (torch's fused kernel
    where the device has it).
lr : float, default=0.1
    Learning rate.
weight_decay : float or 'auto', default='auto'
    L2 penalty of the optimizer. 'auto': ``c / n`` with ``n`` the number
    of labelled samples the network trains on (held-out early-stopping
    samples and samples of weight 0 excluded), so that the penalty weakens
    as labels accumulate, as the L2 term of a logistic regression does
    (``c / n`` is that of ``LogisticRegression(C=1/c)``). Where every class
    has at least ``AUTO_WEIGHT_DECAY_MIN_PER_CLASS`` (10) labelled samples
    and early stopping is off, ``c`` is chosen among
    ``AUTO_WEIGHT_DECAY_GRID`` (0.1 to 3) by 5-fold cross-validation of the
    network without diffusion on the labelled samples (about one more
    training on those rows, skipped on inputs so wide that it would cost
    more, ``AUTO_WEIGHT_DECAY_MAX_WORK``; ``weight_decay_scores_`` holds the
    scores);
    otherwise ``c = AUTO_WEIGHT_DECAY`` (0.1). ``weight_decay_`` holds the
    value used. The paper's few-shot code used 1e-4: on the benchmark
    tables 'auto' was as good or better on average at every size tried
    (see ``AUTO_WEIGHT_DECAY`` and ``AUTO_WEIGHT_DECAY_GRID``).
max_epochs : int, default=100
    Number of full-batch training epochs (the most, with early stopping),
    as in the paper's few-shot code. Without early stopping the fit ends on
    the weights with the lowest training loss: the final ones, unless the
    loss spiked at the end (then those of the epoch with the lowest loss).
early_stopping : bool, default=False
    Hold out ``validation_fraction`` of the labelled samples (stratified;
    they stay in the graph, unlabelled) and stop when neither their loss
    nor their accuracy improved for ``patience`` epochs, restoring the
    best weights, as the paper's code does.
validation_fraction : float, default=0.1
    Share of labelled samples held out for early stopping.
patience : int, default=50
    Epochs without improvement before early stopping.""",
    "net_settings": """\
verbose : int, default=0
    1 prints skorch's per-epoch table. With 0 the net leaves skorch's
    ``PrintLog`` out (it would format the table every epoch without
    printing it); route ``callbacks__print_log=PrintLog()`` to keep it.
callbacks : list of skorch callbacks or (name, callback) tuples, \
        default=None
    Added to the net's own: ``training_guard`` (stops on a non-finite
    loss), ``gradient_clipping`` (at ``GRADIENT_CLIP_NORM``) and, with
    early stopping, ``paper_early_stopping``.
warm_start : bool, default=False
    Refitting trains ``max_epochs`` more epochs from the fitted weights
    (and optimizer state, for the same optimizer class). On the fitted
    ``X`` with unchanged graph parameters the graph and ``n_layers_``
    are reused too. The classes and the number of features must stay.""",
    "features_in": """\
n_features_in_ : int
    Number of features seen during fit.
feature_names_in_ : ndarray of shape (`n_features_in_`,)
    Names of features seen during fit, when ``X`` has string column names.""",
    "references": """\
.. [1] T. Wang, Z. Dou, C. Bao, Z. Shi, "Diffusion Mechanism in Residual
   Neural Network: Theory and Applications", IEEE TPAMI 46(2), 2024.
   arXiv:2105.03155.""",
}

_PLACEHOLDER = re.compile(
    r"^(?P<indent>[ \t]*)\{(?P<name>\w+)(?:=(?P<default>\w+))?\}[ \t]*$", re.MULTILINE
)


def fill_doc(function):
    """Replace each ``{name}`` line of a docstring by ``DOCS[name]``.

    ``function`` is a function or a class.

    Examples
    --------
    >>> from sklearn_diffres._docs import fill_doc
    >>> @fill_doc
    ... def f(X, y=None):
    ...     '''Do nothing.
    ...
    ...     Parameters
    ...     ----------
    ...     {fit_X}
    ...     '''
    >>> print(f.__doc__.splitlines()[4])
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
    """

    def piece(match):
        text = DOCS[match["name"]]
        if match["default"] is not None:
            text = text.replace("{" + match["name"] + "}", match["default"])
        return textwrap.indent(text, match["indent"])

    function.__doc__ = _PLACEHOLDER.sub(piece, function.__doc__)
    return function
