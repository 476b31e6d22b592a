"""The L2 penalty chosen from the labelled samples (``weight_decay='auto'``).

A fixed weight decay cannot suit every table. With ten or twenty labelled
samples per class the network (a residual block of 64 or more hidden units)
can draw boundaries that the labels do not support: on noisy tables, where a
linear model is about as good as it gets, it falls well below a logistic
regression of the labelled rows (saheart, 20 labels per class: 0.59 without
diffusion against 0.68), and a penalty 30 times stronger closes the gap. On
tables whose classes need curved boundaries the same penalty ruins it
(banana, two features: 0.80 -> 0.47).

So 'auto' asks the labels, where there are enough of them: when every class
has at least ``AUTO_WEIGHT_DECAY_MIN_PER_CLASS`` labelled training samples
(and early stopping is off), the network without diffusion (the residual
blocks and the classifier, which act row by row) is trained on the labelled
rows by stratified ``AUTO_WEIGHT_DECAY_FOLDS``-fold cross-validation, once
for each ``c`` of ``AUTO_WEIGHT_DECAY_GRID``, with the estimator's
optimizer, learning rate, epochs, gradient clipping and class and sample
weights, from the estimator's initial weights; the ``c`` with the best
held-out accuracy wins, ties going to the smallest ``c``, and the
penalty is ``c / n`` (``n`` the labelled samples the network trains on).
Otherwise it is ``AUTO_WEIGHT_DECAY / n``. The diffusion is left out of the
cross-validation: it involves every sample of the graph, the rows a fold
holds out included, while the blocks and the classifier, which the penalty
acts on, see only labelled rows.

The folds and grid values train together, as one batch of independent
networks (``torch.func``): the search costs about 16 trainings' worth of
arithmetic on the labelled rows, without their per-epoch overhead (0.15 s
for 40 labelled rows of 30 features, 1.2 s for 300 of 90, on one thread).

Measured with 20 labels per class (``benchmarks/tables.py``, 5 draws, mean
accuracy over tables): the 13 tables 0.814 -> 0.820, 30 KEEL tables
(``--keel``) 0.740 -> 0.744, against 0.771 and 0.740 for logistic
regression; offline from the same label draws and seeds, eight synthetic
sets of 5,000 to 20,000 rows 0.755 -> 0.758 and fifteen small data sets
(``benchmarks/auto_floor.py``) 0.862 -> 0.864. With 5 labels per class (one
per class in each held-out fold) the same search lowered the 13 tables'
mean 0.735 -> 0.726 (offline, 3 draws; banana 0.69 -> 0.56: the held-out
rows could not tell a straight boundary from a curved one), hence the floor
of labelled samples per class.
"""

# Authors: The sklearn-diffres developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.model_selection import StratifiedKFold, train_test_split
from torch.func import functional_call, vmap

#: ``weight_decay='auto'`` without cross-validation (fewer than
#: ``AUTO_WEIGHT_DECAY_MIN_PER_CLASS`` labelled samples in some class, or
#: early stopping) is this divided by the number of labelled samples the
#: network trains on. The loss is the mean over those samples, so a fixed
#: weight decay penalises the weights as much against 10 labels as against
#: 10,000; a logistic regression's L2 penalty on its summed loss weighs
#: ``1 / (C n)`` per sample of the mean, and 0.1 / n is that of
#: ``LogisticRegression(C=10)``. Chosen among 0.1, 0.3 and 1 with the layers
#: 'auto' chose, on the 13 tables (full, 500 and 200 rows; 5 and 20 labels
#: per class) and on two batteries of synthetic and small real data: 0.1 was
#: the only value that lowered none of those means against the fixed 1e-4;
#: 0.3 and 1 gained more on small samples and cost banana (2 features, whose
#: residual block needs large weights) 4 and 14 points. See api.rst for the
#: benchmark figures.
AUTO_WEIGHT_DECAY = 0.1

#: The values of ``c`` (weight decay ``c / n``) that 'auto' cross-validates:
#: from ``AUTO_WEIGHT_DECAY`` to a penalty 30 times stronger, that of
#: ``LogisticRegression(C=1/3)``.
AUTO_WEIGHT_DECAY_GRID = (0.1, 0.3, 1.0, 3.0)

#: 'auto' cross-validates the weight decay only when every class has at
#: least this many labelled training samples: two per class in each of the
#: ``AUTO_WEIGHT_DECAY_FOLDS`` held-out folds.
AUTO_WEIGHT_DECAY_MIN_PER_CLASS = 10

#: Folds of the weight decay's cross-validation.
AUTO_WEIGHT_DECAY_FOLDS = 5

#: The search is skipped (and 'auto' is ``AUTO_WEIGHT_DECAY / n``) where one
#: network's forward pass over the searched rows takes more multiply-adds
#: than this (rows times parameters): it multiplies dense rows, while the
#: estimator's training multiplies sparse inputs as sparse. Every table of
#: the benchmarks is below it (splice, 60 labelled rows of 287 one-hot
#: features, 8.8 million); word counts are above it (Cora's 1,433 words with
#: 20 labels per class: 103 million; a fit with the search took 11.2 s
#: against 1.3 s without, on two threads, for 0.621 against 0.611).
AUTO_WEIGHT_DECAY_MAX_WORK = 2**24

#: Largest number of parameters (all networks together) trained at once; the
#: folds train one after another beyond it (wide inputs, large blocks).
AUTO_WEIGHT_DECAY_MAX_ENTRIES = 2**24

#: At most this many labelled samples (a stratified subset) take part in the
#: cross-validation, which keeps its cost and memory bounded where labels
#: are plenty (and ``c / n`` small whatever ``c``).
AUTO_WEIGHT_DECAY_MAX_SAMPLES = 1000


def resolved_weight_decay(weight_decay, n_labelled, c=AUTO_WEIGHT_DECAY):
    """The optimizer's weight decay: ``weight_decay``, or for 'auto'
    ``c / n_labelled``."""
    if weight_decay == "auto":
        return c / max(n_labelled, 1)
    return float(weight_decay)


def search_is_affordable(module, n_samples):
    """Whether searching on ``n_samples`` labelled rows with ``module`` stays
    under ``AUTO_WEIGHT_DECAY_MAX_WORK``."""
    n_params = sum(value.numel() for value in module.parameters())
    rows = min(n_samples, AUTO_WEIGHT_DECAY_MAX_SAMPLES)
    return rows * n_params <= AUTO_WEIGHT_DECAY_MAX_WORK


def weight_decay_is_searched(estimator, y_tr, weights_tr):
    """Whether 'auto' cross-validates the weight decay for this fit (the
    caller has already taken a routed ``optimizer__weight_decay``)."""
    if estimator.weight_decay != "auto" or estimator.early_stopping:
        return False
    counted = y_tr if weights_tr is None else y_tr[np.asarray(weights_tr) > 0]
    counts = np.bincount(counted, minlength=len(estimator.classes_))
    return counts.min() >= AUTO_WEIGHT_DECAY_MIN_PER_CLASS


class _ClassScores(torch.nn.Module):
    """The network without diffusion, row by row: ``module.class_scores``."""

    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, x):
        return self.module.class_scores(x)


def _expand(value, like):
    """``value`` (one entry per network) shaped to broadcast against ``like``."""
    return value.view(-1, *([1] * (like.dim() - 1)))


def search_weight_decay(module, X, y, settings, seed, device="cpu"):
    """Cross-validate ``c`` of the weight decay ``c / n`` on labelled rows.

    ``module`` is the estimator's network (a :class:`DiffResNetModule`,
    initialised; its diffusion is not used), ``X`` the labelled rows
    (n_samples, n_features) and ``y`` their class codes. ``settings`` holds
    ``optimizer`` (a class or partial), ``optimizer_kwargs``, ``lr``,
    ``max_epochs``, ``clip`` (largest gradient norm, or None),
    ``class_weight`` (by class code, or None) and ``sample_weight`` (or
    None). Every fold and value of ``AUTO_WEIGHT_DECAY_GRID`` trains as one
    of a batch of networks from ``module``'s weights, full batch, each
    ending on the weights of its lowest training loss as the estimator's
    training does.

    Returns the chosen ``c`` and an array of shape (n_values, 3): each
    value of ``c``, its held-out accuracy and log loss (means over the
    rows).
    """
    y = np.asarray(y)
    weights = settings["sample_weight"]
    weights = np.ones(len(y)) if weights is None else np.asarray(weights, float)
    # Samples of weight 0 do not train the network and do not count.
    X, y, weights = X[weights > 0], y[weights > 0], weights[weights > 0]
    rng = np.random.RandomState(seed % 2**32)
    if len(y) > AUTO_WEIGHT_DECAY_MAX_SAMPLES:
        keep, _ = train_test_split(
            np.arange(len(y)),
            train_size=AUTO_WEIGHT_DECAY_MAX_SAMPLES,
            stratify=y,
            random_state=rng,
        )
        X, y, weights = X[keep], y[keep], weights[keep]
    X = X.toarray() if sp.issparse(X) else np.asarray(X)
    grid = AUTO_WEIGHT_DECAY_GRID
    folds = list(
        StratifiedKFold(AUTO_WEIGHT_DECAY_FOLDS, shuffle=True, random_state=rng).split(
            X, y
        )
    )
    n, n_models = len(y), len(folds) * len(grid)
    class_weight = settings["class_weight"]
    per_sample = weights * (1.0 if class_weight is None else class_weight[y])
    # Network m = fold * len(grid) + value: its loss weights (the training
    # rows of its fold, normalised as the estimator's weighted mean) and its
    # weight decay c / (training rows).
    loss_weights = np.zeros((n_models, n))
    decay = np.zeros(n_models)
    for f, (train, _) in enumerate(folds):
        for g, c in enumerate(grid):
            m = f * len(grid) + g
            loss_weights[m, train] = per_sample[train] / per_sample[train].sum()
            decay[m] = c / len(train)

    def tensor(a, dtype=torch.float32):
        return torch.as_tensor(a, dtype=dtype, device=device)

    X_t, y_t = tensor(X), tensor(y, torch.long)
    scorer = _ClassScores(module)
    scores = vmap(lambda p, x: functional_call(scorer, p, (x,)), in_dims=(0, None))
    n_params = sum(value.numel() for value in module.parameters())
    # Networks train together, by whole folds, up to the bound on entries.
    per_fold = len(grid) * n_params
    chunk = len(grid) * max(1, AUTO_WEIGHT_DECAY_MAX_ENTRIES // per_fold)
    predicted = np.zeros((n_models, n), dtype=np.int64)
    held_losses = np.zeros((n_models, n))
    for start in range(0, n_models, chunk):
        models = slice(start, min(start + chunk, n_models))
        predicted[models], held_losses[models] = _train_batch(
            module,
            scores,
            X_t,
            y_t,
            tensor(loss_weights[models]),
            tensor(decay[models]),
            settings,
        )
    result = np.zeros((len(grid), 2))
    for f, (_, test) in enumerate(folds):
        for g in range(len(grid)):
            m = f * len(grid) + g
            result[g, 0] += np.sum(predicted[m, test] == y[test])
            result[g, 1] += np.sum(held_losses[m, test])
    result /= n
    # The best held-out accuracy; ties go to the weakest penalty.
    best_g = int(np.flatnonzero(result[:, 0] >= result[:, 0].max())[0])
    return grid[best_g], np.column_stack([grid, result])


def _train_batch(module, scores, X, y, loss_weights, decay, settings):
    """Train a batch of copies of ``module`` without diffusion, full batch.

    Network ``m`` minimises the ``loss_weights[m]``-weighted cross-entropy
    of the rows ``X`` with weight decay ``decay[m]``; each ends on the
    weights of its lowest training loss, the final ones on a tie (as
    ``_LowestTrainingLoss``). Returns every network's predicted class codes
    and log losses of all rows, as numpy arrays (n_networks, n_rows).
    """
    n_models, n = loss_weights.shape
    params = {
        "module." + name: value.detach()
        .unsqueeze(0)
        .repeat(n_models, *([1] * value.dim()))
        .requires_grad_()
        for name, value in module.named_parameters()
    }
    optimizer = settings["optimizer"](
        list(params.values()), lr=settings["lr"], **settings["optimizer_kwargs"]
    )
    targets = y.expand(n_models, n).unsqueeze(-1)

    def row_losses(logits):
        return logits.logsumexp(dim=-1) - logits.gather(-1, targets).squeeze(-1)

    best = {name: value.detach().clone() for name, value in params.items()}
    best_loss = torch.full((n_models,), np.inf, device=X.device)
    max_epochs, clip = settings["max_epochs"], settings["clip"]
    for epoch in range(max_epochs + 1):
        optimizer.zero_grad()
        loss = (row_losses(scores(params, X)) * loss_weights).sum(dim=1)
        final = epoch == max_epochs
        better = loss.detach() <= best_loss if final else loss.detach() < best_loss
        best_loss = torch.where(better, loss.detach(), best_loss)
        for name, value in params.items():
            best[name] = torch.where(_expand(better, value), value.detach(), best[name])
        if final:
            break
        loss.sum().backward()
        with torch.no_grad():
            if clip is not None:
                norm = sum(p.grad.flatten(1).square().sum(1) for p in params.values())
                coef = (clip / (norm.sqrt() + 1e-6)).clamp(max=1.0)
                for p in params.values():
                    p.grad.mul_(_expand(coef, p))
            # The optimizer's own L2 term (after clipping, as in torch's
            # optimizers), one value per network.
            for p in params.values():
                p.grad.add_(p * _expand(decay, p))
        optimizer.step()
    with torch.no_grad():
        logits = scores(best, X)
        losses = row_losses(logits).cpu().numpy()
        predicted = logits.argmax(dim=-1).cpu().numpy()
    return predicted, losses
