"""The skorch net opened the skorch way: callbacks, routed settings, warm_start."""

import functools

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import Callback

from sklearn_diffres import DiffusionResNetClassifier, SemiSupervisedKFold

PARAMS = dict(n_neighbors=8, sigma=4, n_layers=20, max_epochs=20, random_state=0)


@pytest.fixture(scope="module")
def data():
    X, y = make_blobs(n_samples=150, centers=3, cluster_std=1.5, random_state=0)
    y_semi = np.full_like(y, -1)
    keep = np.random.RandomState(0).choice(len(y), 24, replace=False)
    y_semi[keep] = y[keep]
    return X, y_semi


class Recorder(Callback):
    """Counts epochs and keeps the classifier's weights at the start.

    What it records ends with an underscore, skorch's mark of fitted state,
    so that ``clone`` makes a fresh one.
    """

    def on_train_begin(self, net, **kwargs):
        self.epochs_ = 0
        self.start_ = net.module_.classifier.weight.detach().clone()

    def on_epoch_end(self, net, **kwargs):
        self.epochs_ += 1


def test_user_callbacks_run_and_clone(data):
    X, y = data
    recorder = Recorder()
    clf = DiffusionResNetClassifier(callbacks=[("recorder", recorder)], **PARAMS)
    clf.fit(X, y)
    assert recorder.epochs_ == 20
    assert "recorder" in dict(clf.net_.callbacks_)
    plain = Recorder()
    clone(clf).set_params(callbacks=[plain], max_epochs=5).fit(X, y)
    assert plain.epochs_ == 5


@pytest.mark.parametrize(
    "params, group",
    [
        ({"optimizer__momentum": 0.5}, {"momentum": 0.5, "nesterov": False}),
        (
            {"optimizer__momentum": 0.8, "optimizer__nesterov": True},
            {"momentum": 0.8, "nesterov": True},
        ),
        (
            {"optimizer": functools.partial(torch.optim.SGD, nesterov=True)},
            {"momentum": 0.9, "nesterov": True},
        ),
        (
            {"optimizer": functools.partial(torch.optim.SGD, momentum=0.3)},
            {"momentum": 0.3},
        ),
        (
            {"optimizer": "adam", "optimizer__betas": (0.8, 0.95)},
            {"betas": (0.8, 0.95)},
        ),
        ({"optimizer__weight_decay": 0.01}, {"weight_decay": 0.01}),
    ],
)
def test_routed_optimizer_settings(data, params, group):
    X, y = data
    clf = DiffusionResNetClassifier(**{**PARAMS, "max_epochs": 2, **params}).fit(X, y)
    got = clf.net_.optimizer_.param_groups[0]
    assert {k: got[k] for k in group} == group
    # Routed settings are parameters: get_params, set_params and clone see them.
    routed = {k: v for k, v in clf.get_params().items() if "__" in k}
    assert routed == {k: v for k, v in params.items() if "__" in k}
    assert {k: v for k, v in clone(clf).get_params().items() if "__" in k} == routed


def test_routed_settings_in_a_grid_search(data):
    X, y = data
    search = GridSearchCV(
        DiffusionResNetClassifier(**PARAMS),
        {"optimizer__momentum": [0.0, 0.9]},
        cv=SemiSupervisedKFold(n_splits=2, shuffle=True, random_state=0),
    ).fit(X, y)
    assert list(search.cv_results_["param_optimizer__momentum"]) == [0.0, 0.9]
    assert search.best_estimator_.net_.optimizer_.param_groups[0]["momentum"] in (
        0.0,
        0.9,
    )
    # The two momenta trained different models.
    a = clone(search.estimator).set_params(optimizer__momentum=0.0).fit(X, y)
    b = clone(search.estimator).set_params(optimizer__momentum=0.9).fit(X, y)
    assert not np.allclose(a.label_distributions_, b.label_distributions_)


def test_callback_settings_routed(data):
    X, y = data
    clf = DiffusionResNetClassifier(
        callbacks__gradient_clipping__gradient_clip_value=5.0, **PARAMS
    ).fit(X, y)
    assert dict(clf.net_.callbacks_)["gradient_clipping"].gradient_clip_value == 5.0


def test_unknown_keyword_and_bad_optimizer():
    X, y = make_blobs(60, centers=2, random_state=0)
    # Checked in fit, as scikit-learn checks parameters: typos are named.
    for typo in ("modul__x", "n_neighbours"):
        with pytest.raises(TypeError, match=f"unexpected keyword argument '{typo}'"):
            DiffusionResNetClassifier(**{typo: 1}).fit(X, y)
    with pytest.raises(TypeError, match="unexpected keyword argument 'n_neighbours'"):
        DiffusionResNetClassifier().set_params(n_neighbours=1).fit(X, y)
    with pytest.raises(ValueError, match="Invalid parameter 'modul'"):
        DiffusionResNetClassifier().set_params(modul__x=1)
    with pytest.raises(ValueError, match="optimizer=functools.partial"):
        DiffusionResNetClassifier(optimizer=functools.partial(dict)).fit(X, y)


def test_warm_start_continues_training(data):
    X, y = data
    # At this learning rate the loss falls at every epoch, so the lowest-loss
    # rule keeps each fit's final weights (20 + 20 epochs can be 40).
    params = {**PARAMS, "lr": 0.05}
    long = DiffusionResNetClassifier(**{**params, "max_epochs": 40}).fit(X, y)
    assert (np.diff(long.net_.history[:, "train_loss"]) < 0).all()
    recorder = Recorder()
    warm = DiffusionResNetClassifier(warm_start=True, **params).fit(X, y)
    graph = warm.diffusion_
    first = warm.net_.module_.classifier.weight.detach().clone()
    warm.set_params(callbacks=[recorder]).fit(X, y)
    # The fitted graph is reused, training starts from the fitted weights,
    # and 20 + 20 epochs (momentum carried over) are the 40 epochs of one fit.
    assert warm.diffusion_.laplacian_ is graph.laplacian_
    assert recorder.epochs_ == 20 and torch.equal(recorder.start_, first)
    np.testing.assert_allclose(
        warm.label_distributions_, long.label_distributions_, rtol=0, atol=1e-5
    )
    # X as a list is the same X (it was refused before it was validated).
    warm.set_params(max_epochs=1).fit(X.tolist(), y.tolist())
    assert warm.diffusion_.laplacian_ is graph.laplacian_


def test_warm_start_on_new_rows_and_its_errors(data):
    X, y = data
    warm = DiffusionResNetClassifier(warm_start=True, **PARAMS).fit(X, y)
    graph, first = warm.diffusion_, warm.net_.module_.classifier.weight.detach().clone()
    mean = warm.input_mean_
    recorder = Recorder()
    warm.set_params(callbacks=[recorder]).fit(X[:120], y[:120])
    assert warm.diffusion_ is not graph  # a new graph for new rows
    assert torch.equal(recorder.start_, first)  # the weights carried over
    # ... and the input map they were trained with.
    assert warm.input_mean_ is mean
    with pytest.raises(ValueError, match="warm_start=True .* saw its features"):
        warm.set_params(standardize=False).fit(X, y)
    with pytest.raises(ValueError, match="sparse X"):
        warm.set_params(standardize=True).fit(sp.csr_matrix(X), y)
    warm.set_params(standardize=True)
    assert warm.label_distributions_.shape == (120, 3)
    with pytest.raises(ValueError, match="warm_start=True .* classes are"):
        warm.fit(X, np.where(y == 2, 1, y))
    with pytest.raises(ValueError, match="warm_start=True .* takes 2 features"):
        warm.fit(np.hstack([X, X]), y)


class TrainingCounter(Callback):
    """Counts the trainings it sees (never reset)."""

    def on_train_begin(self, net, **kwargs):
        self.trainings_ = getattr(self, "trainings_", 0) + 1


def test_user_callbacks_describe_the_diffusion_network():
    # Where n_layers='auto' averages in the network without diffusion (wine,
    # 5 labels per class), that network trains with a copy of the callbacks:
    # the object the user passed saw one training, net_'s.
    from test_classifier import wine_few_labels

    X, _, y_semi = wine_few_labels()
    counter = TrainingCounter()
    clf = DiffusionResNetClassifier(
        callbacks=[("counter", counter)], max_epochs=5, random_state=0
    ).fit(X, y_semi)
    assert clf.net_without_diffusion_ is not None
    assert counter.trainings_ == 1
    assert dict(clf.net_.callbacks_)["counter"] is counter
    assert dict(clf.net_without_diffusion_.callbacks_)["counter"] is not counter
