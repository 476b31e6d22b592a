"""Targets of the classifier: labels, the unlabelled marker, class and sample
weights and the validation split."""

# Authors: The sklearn-diffres developers
# SPDX-License-Identifier: BSD-3-Clause

import warnings

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_array, column_or_1d
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import _check_sample_weight

from ._utils import unlabelled_mask


def _check_label_types(y):
    """Raise if labels mix strings with numbers (LabelEncoder cannot sort them)."""
    if y.dtype.kind != "O":
        return
    kinds = {}
    for v in y:
        kinds.setdefault(isinstance(v, str), v)
    if len(kinds) > 1:
        raise ValueError(
            f"y mixes string and non-string labels (e.g. {kinds[True]!r} and "
            f"{kinds[False]!r}); give every class a label of one type. "
            "Unlabelled samples are marked with -1 (or None) in either case."
        )


def check_targets(X, y):
    """Validate ``y`` against ``X``: the labelled indices, the fitted
    LabelEncoder of the labelled targets, and their class codes."""
    y = column_or_1d(y, warn=True)
    if y.shape[0] != X.shape[0]:
        raise ValueError(
            f"y has {y.shape[0]} samples but X has {X.shape[0]}; they must match."
        )
    labelled = ~unlabelled_mask(y)
    if not labelled.any():
        raise ValueError(
            "y has no labelled sample (every target is -1); at least two "
            "classes need labelled samples."
        )
    _check_label_types(y[labelled])
    check_classification_targets(y[labelled])
    if labelled.all() and y.dtype.kind in "USO":
        names = np.unique(y).tolist()
        shown = ", ".join(map(repr, names[:5]))
        shown += ", ..." if len(names) > 5 else ""
        warnings.warn(
            f"y has no unlabelled sample: each of its {len(names)} values "
            f"({shown}) is taken as a class. Mark unlabelled samples with "
            "-1 or None "
            "(a string such as 'unlabeled' is a class name).",
            UserWarning,
        )
    encoder = LabelEncoder().fit(y[labelled])
    if len(encoder.classes_) < 2:
        raise ValueError(
            "y has labelled samples of only one class "
            f"({encoder.classes_[0]!r}); the classifier needs at least two "
            "classes."
        )
    return np.flatnonzero(labelled), encoder, encoder.transform(y[labelled])


def criterion_labels(y, n_samples):
    """The class labels in a transformer's ``y`` that ``n_layers='auto'`` can
    choose with: ``(labelled indices, class codes, n_classes)``, or None.

    None when ``y`` is None, is not one target per sample (a 2-d ``y``), or
    its labelled targets (``-1`` marks the others, as for the classifier)
    are not the labels of at least two classes: no labels, one class (with a
    warning: -1 may be a class of the user's), or regression targets, which
    a transformer in a regression pipeline is given. Raises when ``y``'s
    length differs from ``X``'s, or its labels mix strings with numbers.
    """
    if y is None:
        return None
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1:
        return None
    if y.shape[0] != n_samples:
        raise ValueError(
            f"y has {y.shape[0]} samples but X has {n_samples}; they must match."
        )
    labelled = ~unlabelled_mask(y)
    if not labelled.any():
        return None
    _check_label_types(y[labelled])
    if type_of_target(y[labelled]) not in ("binary", "multiclass"):
        return None
    classes, codes = np.unique(y[labelled], return_inverse=True)
    if len(classes) < 2:
        warnings.warn(
            f"y's labelled samples are all of one class ({classes[0]!r}), so "
            "n_layers='auto' has nothing to choose with and takes "
            "AUTO_UNLABELLED_N_LAYERS steps. -1 marks unlabelled samples: if "
            "-1 is one of your classes, recode it.",
            UserWarning,
        )
        return None
    return np.flatnonzero(labelled), codes, len(classes)


def _check_every_class_trains(y_tr, n_classes, classes, how):
    missing = np.setdiff1d(np.arange(n_classes), y_tr)
    if missing.size:
        label = np.asarray(classes).tolist()[missing[0]]
        raise ValueError(
            f"early_stopping held out every labelled sample of class {label!r} "
            f"for validation ({how}); label more samples of each class or use "
            "early_stopping=False."
        )


def check_validation_mask(mask, n_samples):
    """``validation_mask`` as a bool array of ``n_samples`` entries."""
    mask = column_or_1d(check_array(mask, ensure_2d=False, dtype=None), warn=True)
    if mask.shape[0] != n_samples or mask.dtype.kind != "b":
        raise ValueError(
            f"validation_mask must be a boolean array with one entry per "
            f"sample ({n_samples}); got dtype {mask.dtype} and shape {mask.shape}."
        )
    return mask


def split_validation(
    idx, y_enc, rng, early_stopping, validation_fraction, classes, mask=None
):
    """Training and validation indices and codes (no validation set
    unless ``early_stopping``): the labelled samples ``mask`` marks, or a
    draw of ``validation_fraction``, stratified where every class allows it."""
    if mask is not None and not early_stopping:
        raise ValueError(
            "validation_mask names the samples early stopping watches; "
            "set early_stopping=True, or leave validation_mask out."
        )
    if not early_stopping:
        return idx, y_enc, None, None
    if mask is not None:
        marked = np.flatnonzero(mask)
        unlabelled = np.setdiff1d(marked, idx)
        if unlabelled.size:
            raise ValueError(
                f"validation_mask marks unlabelled samples (e.g. sample "
                f"{unlabelled[0]}); only labelled samples can be held out."
            )
        held = mask[idx]
        if not held.any():
            raise ValueError("validation_mask marks no sample; mark at least one.")
        tr, va, y_tr, y_va = idx[~held], idx[held], y_enc[~held], y_enc[held]
        _check_every_class_trains(y_tr, len(classes), classes, "validation_mask")
        return tr, y_tr, va, y_va
    counts = np.bincount(y_enc)
    stratify = y_enc if counts.min() >= 2 else None
    try:
        tr, va, y_tr, y_va = train_test_split(
            idx,
            y_enc,
            test_size=validation_fraction,
            stratify=stratify,
            random_state=rng,
        )
    except ValueError as exc:
        raise ValueError(
            f"early_stopping needs enough labelled samples to hold out "
            f"validation_fraction={validation_fraction} of them: {exc}"
        ) from exc
    _check_every_class_trains(
        y_tr, len(counts), classes, f"validation_fraction={validation_fraction}"
    )
    return tr, y_tr, va, y_va


def class_weights(class_weight, classes, y_tr):
    """Class weights of the loss by class code, or None (unweighted)."""
    if class_weight is None:
        return None
    if isinstance(class_weight, str):  # 'balanced'
        return compute_class_weight("balanced", classes=np.arange(len(classes)), y=y_tr)
    unknown = set(class_weight) - set(classes.tolist())
    if unknown:
        raise ValueError(
            f"class_weight names labels that are not classes of y: "
            f"{sorted(unknown, key=repr)!r}; the classes are "
            f"{classes.tolist()!r}."
        )
    return np.array([class_weight.get(c, 1.0) for c in classes.tolist()])


def training_weights(sample_weight, X, tr):
    """The weights of the training samples ``tr``, or None without weights."""
    if sample_weight is None:
        return None
    sample_weight = _check_sample_weight(
        sample_weight, X, dtype=np.float32, ensure_non_negative=True
    )
    weights_tr = sample_weight[tr]
    if not weights_tr.sum() > 0:
        raise ValueError(
            "sample_weight is 0 for every labelled sample the network "
            "trains on; give some labelled samples a positive weight."
        )
    return weights_tr
