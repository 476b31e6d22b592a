"""weight_decay='auto': the penalty cross-validated on the labelled samples."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.utils import check_random_state
from test_classifier import few_labels, wine_few_labels

from sklearn_diffres import (
    AUTO_WEIGHT_DECAY,
    AUTO_WEIGHT_DECAY_GRID,
    AUTO_WEIGHT_DECAY_MIN_PER_CLASS,
    DiffusionResNetClassifier,
    _weight_decay,
)
from sklearn_diffres._module import DiffResNetModule
from sklearn_diffres._net import plain_training_settings
from sklearn_diffres._weight_decay import _ClassScores, _train_batch


def _fit_seed(random_state):
    """The seed a fit with ``random_state`` initialises its network from."""
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


@pytest.mark.parametrize(
    "params",
    [{}, {"optimizer": "adam", "lr": 0.01}, {"class_weight": "balanced"}],
)
def test_batched_training_is_the_estimators(params):
    # One network of the batch, trained on every row, against the
    # classifier's own (skorch) training of the network without diffusion
    # on the same rows, all labelled: the same weights, optimizer, clipping
    # and lowest-loss rule give the same probabilities.
    X, y, _ = wine_few_labels()
    X32 = X.astype(np.float32)
    keep = np.r_[0:40, 60:100, 130:160]  # unbalanced classes
    X32, y = X32[keep], y[keep]
    # The inputs as given to both (the classifier would standardise the
    # kept rows anew).
    clf = DiffusionResNetClassifier(
        n_layers=0, weight_decay=0.01, standardize=False, random_state=0, **params
    ).fit(X32, y)
    module = DiffResNetModule(13, 3, n_layers=0, hidden_layer_size=64)
    module.reset_parameters(_fit_seed(0))
    weights = None
    if params.get("class_weight"):
        weights = len(y) / (3 * np.bincount(y))
    settings = plain_training_settings(clf, weights, None)
    per_sample = np.ones(len(y)) if weights is None else weights[y]
    loss_weights = torch.as_tensor(per_sample / per_sample.sum())[None].float()
    scorer = torch.func.vmap(
        lambda p, x: torch.func.functional_call(_ClassScores(module), p, (x,)),
        in_dims=(0, None),
    )
    predicted, losses = _train_batch(
        module,
        scorer,
        torch.as_tensor(X32),
        torch.as_tensor(y),
        loss_weights,
        torch.tensor([0.01]),
        settings,
    )
    proba = clf.predict_proba(X32)
    assert np.array_equal(predicted[0], proba.argmax(axis=1))
    expected = -np.log(proba[np.arange(len(y)), y])
    np.testing.assert_allclose(losses[0], expected, rtol=1e-3, atol=1e-5)


def test_searched_with_enough_labels_per_class():
    X, y, _ = wine_few_labels()
    y_semi = few_labels(y, AUTO_WEIGHT_DECAY_MIN_PER_CLASS, 0)
    clf = DiffusionResNetClassifier(random_state=0, max_epochs=30).fit(X, y_semi)
    scores = clf.weight_decay_scores_
    assert scores.shape == (len(AUTO_WEIGHT_DECAY_GRID), 3)
    assert tuple(scores[:, 0]) == AUTO_WEIGHT_DECAY_GRID
    assert np.all((scores[:, 1] >= 0) & (scores[:, 1] <= 1))
    assert np.all(scores[:, 2] > 0)
    # The best held-out accuracy, ties to the weakest penalty.
    best = np.flatnonzero(scores[:, 1] == scores[:, 1].max())[0]
    assert clf.weight_decay_ == pytest.approx(scores[best, 0] / 30)
    group = clf.net_.optimizer_.param_groups[0]
    assert group["weight_decay"] == pytest.approx(clf.weight_decay_)
    # The same seed, the same choice.
    again = DiffusionResNetClassifier(random_state=0, max_epochs=30).fit(X, y_semi)
    np.testing.assert_array_equal(again.weight_decay_scores_, scores)


def test_not_searched_where_it_cannot_or_need_not():
    X, y, y_semi = wine_few_labels()  # 5 labels per class
    clf = DiffusionResNetClassifier(random_state=0, max_epochs=2).fit(X, y_semi)
    assert clf.weight_decay_scores_ is None
    assert clf.weight_decay_ == pytest.approx(AUTO_WEIGHT_DECAY / 15)
    y_semi = few_labels(y, 12, 0)
    # Samples of weight 0 do not count: class 0 keeps 9 of its 12.
    weights = np.ones(len(y))
    weights[np.flatnonzero(y_semi == 0)[:3]] = 0
    clf.fit(X, y_semi, sample_weight=weights)
    assert clf.weight_decay_scores_ is None
    assert clf.weight_decay_ == pytest.approx(AUTO_WEIGHT_DECAY / 33)
    clf.fit(X, y_semi)
    assert clf.weight_decay_scores_ is not None
    # Early stopping, a number, or a routed weight decay: nothing to search.
    for params in (
        {"early_stopping": True},
        {"weight_decay": 1e-3},
        {"optimizer__weight_decay": 0.02},
    ):
        fitted = DiffusionResNetClassifier(random_state=0, max_epochs=2, **params)
        assert fitted.fit(X, y_semi).weight_decay_scores_ is None


def test_not_searched_on_wide_inputs(monkeypatch):
    # Cora-like width: 1,433 features, 20 labels per class of 3 classes; the
    # search would multiply them densely. Below the bound it searches.
    rng = np.random.RandomState(0)
    X = sp.random(150, 1433, density=0.01, format="csr", random_state=rng)
    y = np.repeat([0, 1, 2], 50)
    y_semi = few_labels(y, 20, 0)
    clf = DiffusionResNetClassifier(random_state=0, max_epochs=2)
    assert clf.fit(X, y_semi).weight_decay_scores_ is None
    assert clf.weight_decay_ == pytest.approx(AUTO_WEIGHT_DECAY / 60)
    monkeypatch.setattr(_weight_decay, "AUTO_WEIGHT_DECAY_MAX_WORK", 2**40)
    assert clf.fit(X, y_semi).weight_decay_scores_ is not None


def test_search_settings_follow_the_estimator():
    X, y, _ = wine_few_labels()
    clf = DiffusionResNetClassifier(
        optimizer__momentum=0.5,
        optimizer__nesterov=True,
        callbacks__gradient_clipping__gradient_clip_value=2.0,
    )
    settings = plain_training_settings(clf, None, None)
    assert settings["optimizer"] is torch.optim.SGD
    assert settings["optimizer_kwargs"] == {"momentum": 0.5, "nesterov": True}
    assert settings["clip"] == 2.0 and settings["lr"] == 0.1
    clf = DiffusionResNetClassifier(callbacks__gradient_clipping=None)
    assert plain_training_settings(clf, None, None)["clip"] is None
    clf = DiffusionResNetClassifier(optimizer="adam")
    assert plain_training_settings(clf, None, None)["optimizer_kwargs"] == {}


def test_search_in_parts_and_on_a_sample(monkeypatch):
    # Folds trained one after another give what they give together; a cap on
    # the labelled samples searches a stratified subset. Sparse X works.
    X, y, _ = wine_few_labels()
    y_semi = few_labels(y, 15, 0)
    clf = DiffusionResNetClassifier(random_state=0, max_epochs=20)
    together = clf.fit(X, y_semi).weight_decay_scores_
    monkeypatch.setattr(_weight_decay, "AUTO_WEIGHT_DECAY_MAX_ENTRIES", 1)
    in_parts = clf.fit(sp.csr_matrix(X), y_semi).weight_decay_scores_
    np.testing.assert_allclose(in_parts, together, rtol=1e-4)
    monkeypatch.setattr(_weight_decay, "AUTO_WEIGHT_DECAY_MAX_SAMPLES", 30)
    sampled = clf.fit(X, y_semi)
    assert sampled.weight_decay_scores_.shape == (len(AUTO_WEIGHT_DECAY_GRID), 3)
    # Accuracies over 30 rows are multiples of 1/30.
    assert np.allclose(sampled.weight_decay_scores_[:, 1] * 30 % 1, 0, atol=1e-9)


def test_search_helps_on_a_real_table(table):
    # led7digit (500 rows, 10 classes), 20 labels per class: the noisy
    # segments of a digit display, where a linear model is about the best
    # there is, and the network's default penalty leaves it below one.
    X, y = table("led7digit")
    searched, fixed = [], []
    for seed in range(3):
        y_semi = few_labels(y, 20, seed)
        unl = y_semi == -1
        clf = DiffusionResNetClassifier(random_state=seed).fit(X, y_semi)
        searched.append((clf.transduction_[unl] == y[unl]).mean())
        n_labelled = np.count_nonzero(~unl)
        clf.set_params(weight_decay=AUTO_WEIGHT_DECAY / n_labelled).fit(X, y_semi)
        fixed.append((clf.transduction_[unl] == y[unl]).mean())
    print(f"led7digit: searched {np.mean(searched):.3f}, fixed {np.mean(fixed):.3f}")
    assert np.mean(searched) > np.mean(fixed) + 0.01
