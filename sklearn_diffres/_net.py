"""The skorch side of the classifier: the net, its loss and its callbacks."""

# Authors: The sklearn-diffres developers
# SPDX-License-Identifier: BSD-3-Clause

import copy
import functools
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.extmath import softmax
from skorch import NeuralNetClassifier
from skorch.callbacks import Callback, GradientNormClipping
from skorch.dataset import Dataset
from skorch.helper import predefined_split

from ._module import DiffResNetModule

_OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}

#: ``hidden_layer_size=None`` means the number of features, clipped to
#: ``[MIN_HIDDEN_UNITS, MAX_HIDDEN_UNITS]``. The paper's width (the number of
#: features) leaves a 2-feature table a block with 2 hidden units: on the
#: benchmark tables with 5 labels per class, 64 units lifted banana from 0.57
#: to 0.70 and changed none of the wide tables.
MIN_HIDDEN_UNITS = 64

#: On wide inputs the paper's width makes the block's first layer ``n_features
#: x n_features``: CiteSeer's 3,703 word features as a table took 26 s per
#: default fit with it, 2 s with 256 units, at the same accuracy on the wide
#: data of ``benchmarks/wide.py`` (results/wide_accuracy.md). No benchmark
#: table has more than 90 features, so none changes.
MAX_HIDDEN_UNITS = 256

#: Largest norm of the gradient of one step; larger ones are scaled down
#: (skorch's ``GradientNormClipping``). Full-batch SGD with momentum, the
#: default, drifts to where the loss is sharp as the classifier's weights
#: grow on few labels: on ``make_classification`` (10,000 samples, 32
#: features, 100 labels) the gradient norm fell from 1.2 to 0.14 over 60
#: epochs, then rose to 1e7 and training diverged at epoch 94. Clipped at
#: 1.0 it trained to the end (accuracy 0.52; LabelSpreading 0.47).
GRADIENT_CLIP_NORM = 1.0


def _fused_adam_available(device):
    """Whether this torch has the fused Adam kernel for ``device``.

    On two CPU cores one step over Cora's 2.1 million parameters took
    0.5 ms fused, 4.8 ms with ``foreach=False`` and 8.2 ms with torch's
    default (``foreach``). CPU support came in torch 2.4; older ones raise.
    """
    try:
        torch.optim.Adam(
            [torch.zeros(1, device=device, requires_grad=True)], fused=True
        )
    except (RuntimeError, TypeError, ValueError):
        return False
    return True


#: Torch device types the estimator trains on.
_DEVICE_TYPES = ("cpu", "cuda")


def check_device(device):
    """``device`` as a string; a ValueError naming it unless it can be used."""
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ValueError(
            f"device={device!r} is not a torch device ({exc}); use 'cpu' or "
            "'cuda' (or 'cuda:N')."
        ) from None
    kind = parsed.type
    if kind not in _DEVICE_TYPES:
        raise ValueError(
            f"device={device!r} is not supported: the network trains on "
            "'cpu' or 'cuda' (or 'cuda:N')."
        )
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was asked for but CUDA is not available on "
            "this machine; use device='cpu'."
        )
    return str(parsed)


def _optimizer_class(optimizer):
    """The optimizer class behind a name, a class or a ``functools.partial``."""
    optimizer = _OPTIMIZERS.get(optimizer, optimizer)
    while isinstance(optimizer, functools.partial):
        optimizer = optimizer.func
    return optimizer


def check_optimizer(optimizer):
    """Raise a ValueError naming ``optimizer`` unless it is usable."""
    cls = _optimizer_class(optimizer)
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        raise ValueError(
            f"optimizer={optimizer!r} is not a torch.optim.Optimizer subclass; "
            f"use one of {sorted(_OPTIMIZERS)}, such a class, or a "
            "functools.partial of one (e.g. partial(torch.optim.SGD, "
            "nesterov=True))."
        )


#: Parameter constraints of the training settings the classifier passes on
#: to its net (scikit-learn's ``_parameter_constraints``).
TRAINING_CONSTRAINTS = {
    "optimizer": [StrOptions(set(_OPTIMIZERS)), callable],
    "lr": [Interval(Real, 0, None, closed="neither")],
    "weight_decay": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
    "max_epochs": [Interval(Integral, 1, None, closed="left")],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
    "patience": [Interval(Integral, 1, None, closed="left")],
    "device": [str, torch.device],
    "verbose": ["verbose"],
    "callbacks": [list, None],
    "warm_start": ["boolean"],
}


#: Prefixes of the skorch settings the estimator passes on to its net
#: (``optimizer__momentum=0.5``, ``callbacks__gradient_clipping__...``).
ROUTED_PREFIXES = ("optimizer__", "callbacks__")


class _SkorchSettingsMixin:
    """skorch settings as estimator parameters: ``optimizer__*`` and
    ``callbacks__*`` keywords are kept on the instance by ``__init__`` and
    ``set_params``, listed by ``get_params`` and passed on to the net."""

    def _check_routed(self):
        """Raise a TypeError naming any keyword that is not a skorch setting."""
        names = set(self._get_param_names())
        unknown = sorted(
            key
            for key in vars(self)
            if key not in names
            and not key.startswith(("_", *ROUTED_PREFIXES))
            and not key.endswith("_")
        )
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got an unexpected keyword argument "
                f"{unknown[0]!r}; settings passed on to skorch start with "
                f"{' or '.join(ROUTED_PREFIXES)}."
            )

    def _routed_params(self):
        """The ``optimizer__*`` and ``callbacks__*`` settings, by name."""
        return {k: v for k, v in vars(self).items() if k.startswith(ROUTED_PREFIXES)}

    def get_params(self, deep=True):
        """Get parameters for this estimator, skorch settings included.

        Parameters
        ----------
        deep : bool, default=True
            Ignored beyond scikit-learn's meaning: no parameter is an
            estimator.

        Returns
        -------
        params : dict
            Parameter names mapped to their values.
        """
        params = super().get_params(deep=deep)
        params.update(self._routed_params())
        return params

    def set_params(self, **params):
        """Set parameters, ``optimizer__*`` and ``callbacks__*`` included.

        Parameters
        ----------
        **params : dict
            Estimator parameters.

        Returns
        -------
        self : object
            The estimator.
        """
        names = set(self._get_param_names())
        # skorch settings, and (as __init__ takes them) other plain keywords,
        # which fit then names in its error; nested ones go to scikit-learn.
        kept = {
            k: v
            for k, v in params.items()
            if k.startswith(ROUTED_PREFIXES) or ("__" not in k and k not in names)
        }
        vars(self).update(kept)
        rest = {k: v for k, v in params.items() if k not in kept}
        return super().set_params(**rest) if rest else self


def rectified_prototypes(X, labelled_idx, y_enc, n_classes):
    """Prototype rectification of the paper's few-shot code.

    Class means of the labelled rows, then a softmax-weighted mean of the
    rows that cosine similarity (times 10) assigns to each class. Returns the
    distances ``||x_i - p_c||`` of every row to every rectified prototype.
    """
    X = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=np.float64)
    proto = np.stack(
        [X[labelled_idx[y_enc == c]].mean(axis=0) for c in range(n_classes)]
    )

    def unit(A):
        norm = np.linalg.norm(A, axis=1, keepdims=True)
        return A / np.where(norm > 0, norm, 1.0)

    cos = unit(X) @ unit(proto).T * 10
    pseudo = cos.argmax(axis=1)
    weight = softmax(cos)
    rectified = np.stack(
        [
            (weight[pseudo == c, c, None] * X[pseudo == c]).mean(axis=0)
            if (pseudo == c).any()
            else proto[c]
            for c in range(n_classes)
        ]
    )
    distance = np.linalg.norm(X[:, None, :] - rectified[None, :, :], axis=2)
    distance[labelled_idx] = 0.0
    return distance


class _PaperEarlyStopping(Callback):
    """Early stopping of the paper's code, restoring the best weights.

    Patience resets whenever the validation loss reaches a new minimum *or*
    the validation accuracy a new maximum; the weights of the last such epoch
    are restored at the end of training.
    """

    def __init__(self, patience):
        self.patience = patience

    def on_train_begin(self, net, **kwargs):
        self.stopped_ = False
        self.best_loss_ = np.inf
        self.best_acc_ = -np.inf
        self.misses_ = 0
        self.best_epoch_ = None
        self.best_state_ = None

    def on_epoch_end(self, net, **kwargs):
        loss = net.history[-1, "valid_loss"]
        acc = net.history[-1, "valid_acc"]
        if loss <= self.best_loss_ or acc >= self.best_acc_:
            self.best_loss_ = min(loss, self.best_loss_)
            self.best_acc_ = max(acc, self.best_acc_)
            self.misses_ = 0
            self.best_epoch_ = net.history[-1, "epoch"]
            self.best_state_ = copy.deepcopy(net.module_.state_dict())
        else:
            self.misses_ += 1
        if self.misses_ >= self.patience:
            if net.verbose:
                print(
                    f"Stopping: neither valid_loss nor valid_acc improved in "
                    f"{self.patience} epochs."
                )
            self.stopped_ = True
            raise KeyboardInterrupt  # skorch's way to end training early

    def on_train_end(self, net, **kwargs):
        if self.best_state_ is not None:
            net.module_.load_state_dict(self.best_state_)
            if net.verbose:
                print(f"Restored the weights of epoch {self.best_epoch_}.")
        # The copy is only needed during training; do not pickle it.
        self.best_state_ = None


class _TrainingGuard(Callback):
    """Counts finished epochs; stops with a clear error on a non-finite loss.

    A diverging optimiser (too large a learning rate) would otherwise train
    on to NaN weights, and ``predict_proba`` would return NaN. The count lets
    the estimator tell a training cut short by Ctrl-C (which skorch's
    ``partial_fit`` swallows, as it does the ``KeyboardInterrupt`` that early
    stopping raises) from a finished or early-stopped one.
    """

    def on_train_begin(self, net, **kwargs):
        self.epochs_done_ = 0

    def on_epoch_end(self, net, **kwargs):
        self.epochs_done_ += 1
        loss = net.history[-1, "train_loss"]
        if not np.isfinite(loss):
            raise ValueError(
                f"Training diverged: the training loss was {loss} at epoch "
                f"{net.history[-1, 'epoch']}. Use a smaller learning rate than "
                f"lr={net.lr}, or optimizer='adam'; if the features have very "
                "large values, scale them (e.g. StandardScaler)."
            )


class _LowestTrainingLoss(Callback):
    """Ends a training without validation on the weights of its lowest loss.

    Full-batch training at a fixed learning rate can end on a spike: on
    ``make_classification`` (100,000 samples, 32 features, 1,000 labels,
    the defaults) the training loss fell steadily to about 0.5 by epoch 80,
    then jumped between 0.5 and 2.2 for the last 20 epochs, with transduction
    accuracy between 0.55 and 0.84; where the last epoch landed decided the
    fit (0.85 or 0.76 for two runs that differed only in the order of
    floating-point sums). Each epoch's loss is that of the weights before its
    step (one full batch); at the end the final weights' loss is computed
    the same way (one forward pass), and the weights with the lowest loss
    are kept, the final ones on a tie. A run whose loss falls to the end
    ends as before. With early stopping the validation rule restores its own
    best weights instead.

    Attributes
    ----------
    best_epoch_ : int or None
        The epoch whose weights were restored (their loss was computed at its
        start), or None when the final weights were kept.
    """

    def on_train_begin(self, net, **kwargs):
        self.best_loss_ = np.inf
        self.best_epoch_ = None
        # Two sets of buffers, refilled in place every epoch: 0.05 ms for a
        # table's small network, against 0.43 ms for a deep copy of the
        # state dict (a tenth of such an epoch).
        state = net.module_.state_dict()
        self._before = {k: v.detach().clone() for k, v in state.items()}
        self.best_state_ = None

    def on_epoch_begin(self, net, **kwargs):
        for name, value in net.module_.state_dict().items():
            self._before[name].copy_(value)

    def on_epoch_end(self, net, **kwargs):
        loss = net.history[-1, "train_loss"]
        if loss < self.best_loss_:
            self.best_loss_ = loss
            self.best_epoch_ = net.history[-1, "epoch"]
            if self.best_state_ is None:
                self.best_state_ = {k: v.clone() for k, v in self._before.items()}
            else:  # swap: the old best buffers take the next epoch's copy
                self.best_state_, self._before = self._before, self.best_state_

    def on_train_end(self, net, X=None, y=None, **kwargs):
        if self.best_state_ is not None and X is not None:
            if _training_loss(net, X, y) > self.best_loss_:
                net.module_.load_state_dict(self.best_state_)
                if self.best_epoch_ == 1:
                    warnings.warn(
                        "No training step lowered the training loss below that "
                        "of the initial weights, which were restored: the "
                        f"learning rate lr={net.lr} is probably too large.",
                        ConvergenceWarning,
                    )
                if net.verbose:
                    print(
                        f"Restored the weights of epoch {self.best_epoch_}, "
                        "whose training loss was the lowest."
                    )
            else:
                self.best_epoch_ = None
        # The copies are only needed during training; do not pickle them.
        self.best_state_ = self._before = None


def _training_loss(net, X, y):
    """The training loss of ``net``'s current weights, as an epoch computes it
    (train mode, one full batch), without a step."""
    training = net.module_.training
    net.module_.train()
    total, count = 0.0, 0
    with torch.no_grad():
        for Xi, yi in net.get_iterator(net.get_dataset(X, y), training=True):
            y_pred = net.infer(Xi)
            loss = net.get_loss(y_pred, yi, X=Xi, training=True)
            total += float(loss) * len(yi)
            count += len(yi)
    net.module_.train(training)
    return total / max(count, 1)


class _GraphNet(NeuralNetClassifier):
    """skorch classifier whose samples are node indices of one graph.

    The loss is cross-entropy on the given nodes, plus in training the
    prototype term of the paper's few-shot code weighted by ``alpha``:
    ``sum_i sum_c softmax(logits_i)_c * ||x_i - p_c||`` over unlabelled nodes.
    ``train_weight`` (one weight per training sample, in the order given to
    ``fit``: training is full batch, unshuffled) makes the training
    cross-entropy the weighted mean ``sum_i w_i c_i l_i / sum_i w_i c_i``
    (``c_i`` the criterion's class weight of sample ``i``).
    """

    def __init__(self, *args, alpha=0.0, train_weight=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.alpha = alpha
        self.train_weight = train_weight

    def get_loss(self, y_pred, y_true, X=None, training=False):
        logits, all_logits = y_pred if isinstance(y_pred, tuple) else (y_pred, None)
        y_true = y_true.to(logits.device)
        if training and self.train_weight is not None:
            weight = self.train_weight.to(logits.device)
            if weight.shape != y_true.shape:
                raise RuntimeError("train_weight needs one full unshuffled batch")
            # per_sample carries the class weight c_i (None: 1) already.
            class_weight = self.criterion_.weight
            per_sample = F.cross_entropy(
                logits, y_true, weight=class_weight, reduction="none"
            )
            norm = weight if class_weight is None else weight * class_weight[y_true]
            loss = (weight * per_sample).sum() / norm.sum()
        else:
            loss = self.criterion_(logits, y_true)
        if training and all_logits is not None:
            distance = self.module_.proto_distance
            loss = loss + self.alpha * (F.softmax(all_logits, dim=1) * distance).sum()
        return loss


def hidden_units(estimator, n_features):
    """The inner width of the residual block for ``n_features`` inputs."""
    if estimator.hidden_layer_size is not None:
        return estimator.hidden_layer_size
    return min(max(n_features, MIN_HIDDEN_UNITS), MAX_HIDDEN_UNITS)


def _optimizer_defaults(estimator):
    """The optimizer (name resolved) and the settings the estimator gives it
    beyond the user's: momentum 0.9 for SGD, unless a partial sets it."""
    optimizer = _OPTIMIZERS.get(estimator.optimizer, estimator.optimizer)
    preset = getattr(optimizer, "keywords", {})  # a functools.partial's
    if _optimizer_class(optimizer) is torch.optim.SGD and "momentum" not in preset:
        return optimizer, {"momentum": 0.9}
    return optimizer, {}


def plain_training_settings(estimator, class_weight, sample_weight):
    """How the network trains, for a training outside skorch: the settings
    of :func:`sklearn_diffres._weight_decay.search_weight_decay`.

    The optimizer with the estimator's defaults and the user's
    ``optimizer__*`` settings (but its weight decay, which the caller sets),
    the learning rate, the epochs, and the gradient clipping of the
    ``gradient_clipping`` callback (or None where the user removed it).
    """
    optimizer, kwargs = _optimizer_defaults(estimator)
    routed = estimator._routed_params()
    prefix = "optimizer__"
    for key, value in routed.items():
        if key.startswith(prefix) and "__" not in key[len(prefix) :]:
            kwargs[key[len(prefix) :]] = value
    for skorch_only in ("weight_decay", "param_groups"):
        kwargs.pop(skorch_only, None)
    clip = GRADIENT_CLIP_NORM
    if "callbacks__gradient_clipping" in routed:
        callback = routed["callbacks__gradient_clipping"]
        clip = getattr(callback, "gradient_clip_value", None)
    clip = routed.get("callbacks__gradient_clipping__gradient_clip_value", clip)
    lr = kwargs.pop("lr", estimator.lr)
    return {
        "optimizer": optimizer,
        "optimizer_kwargs": kwargs,
        "lr": lr,
        "max_epochs": estimator.max_epochs,
        "clip": clip,
        "class_weight": class_weight,
        "sample_weight": sample_weight,
    }


def build_net(
    estimator, n_features, n_classes, valid_idx, valid_y, weights, n_layers=None
):
    """The skorch net for ``estimator``'s parameters and fitted graph.

    ``weights`` are the loss's class weights by class code (or None); with
    ``valid_idx`` the paper's early stopping watches those nodes.
    ``n_layers`` overrides ``estimator.n_layers_`` (for the network without
    diffusion, which takes copies of the user's callbacks).
    """
    optimizer, defaults = _optimizer_defaults(estimator)
    extra = {"optimizer__" + key: value for key, value in defaults.items()}
    extra["optimizer__weight_decay"] = estimator.weight_decay_
    if weights is not None:
        extra["criterion__weight"] = torch.as_tensor(weights, dtype=torch.float32)
    if estimator.optimizer == "adam" and _fused_adam_available(estimator._device):
        extra["optimizer__fused"] = True
    callbacks = [
        ("training_guard", _TrainingGuard()),
        ("gradient_clipping", GradientNormClipping(GRADIENT_CLIP_NORM)),
    ]
    train_split = None
    if valid_idx is not None:
        train_split = predefined_split(Dataset(valid_idx, valid_y))
        callbacks.append(
            ("paper_early_stopping", _PaperEarlyStopping(estimator.patience))
        )
    else:
        callbacks.append(("lowest_training_loss", _LowestTrainingLoss()))
    user_callbacks = estimator.callbacks or []
    if n_layers is not None:
        # The second network of n_layers='auto' gets copies: the user's
        # callback objects describe net_, not both trainings in turn.
        user_callbacks = copy.deepcopy(user_callbacks)
    callbacks.extend(user_callbacks)
    if not estimator.verbose:
        # skorch's PrintLog formats a table every epoch even when it prints
        # nothing (default fits on the 13 tables: 1.07x median, up to 1.24x;
        # benchmarks/print_log.py).
        extra["callbacks__print_log"] = None
    # The user's skorch settings win over the defaults above.
    extra.update(estimator._routed_params())
    return _GraphNet(
        module=DiffResNetModule,
        module__n_features=n_features,
        module__n_classes=n_classes,
        module__step_size=estimator.diffusion_.step_size_,
        module__n_layers=estimator.n_layers_ if n_layers is None else n_layers,
        module__lambda_max=estimator.diffusion_.lambda_max_,
        module__dropout=estimator.dropout,
        module__residual_block=estimator.residual_block,
        module__hidden_layer_size=hidden_units(estimator, n_features),
        module__n_blocks=estimator.n_blocks,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=optimizer,
        lr=estimator.lr,
        max_epochs=estimator.max_epochs,
        batch_size=-1,
        train_split=train_split,
        iterator_train__shuffle=False,
        callbacks=callbacks,
        classes=np.arange(n_classes),
        device=estimator._device,
        verbose=estimator.verbose,
        alpha=estimator.alpha,
        **extra,
    )
