"""Early stopping on named validation samples (``fit(..., validation_mask=)``)."""

import os

import numpy as np
import pytest
from sklearn.datasets import make_moons
from skorch.callbacks import Callback

from sklearn_diffres import DiffusionResNetClassifier

SHARED_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


class SplitRecorder(Callback):
    """Keeps the node ids the net trains on and those it validates on."""

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.train_ = np.asarray(X)
        self.valid_ = np.asarray(net.train_split.keywords["valid_ds"].X)


@pytest.fixture
def moons():
    X, y = make_moons(200, noise=0.1, random_state=0)
    return X, y, np.where(np.arange(200) < 60, y, -1)


def test_named_validation_samples_are_the_ones_held_out(moons):
    X, y, y_semi = moons
    mask = np.zeros(200, dtype=bool)
    mask[[3, 10, 11, 40, 59]] = True
    recorder = SplitRecorder()
    clf = DiffusionResNetClassifier(
        early_stopping=True, max_epochs=3, callbacks=[recorder], random_state=0
    ).fit(X, y_semi, validation_mask=mask)
    np.testing.assert_array_equal(np.sort(recorder.valid_), [3, 10, 11, 40, 59])
    np.testing.assert_array_equal(
        np.sort(recorder.train_), np.setdiff1d(np.arange(60), [3, 10, 11, 40, 59])
    )
    # Without a mask the estimator draws its own (a tenth of 60 labels).
    clf.set_params(callbacks=[recorder]).fit(X, y_semi)
    assert len(recorder.valid_) == 6 and len(recorder.train_) == 54


def test_validation_mask_errors_name_the_problem(moons):
    X, y, y_semi = moons
    mask = np.zeros(200, dtype=bool)
    mask[:5] = True
    clf = DiffusionResNetClassifier(max_epochs=2)
    with pytest.raises(ValueError, match="set early_stopping=True"):
        clf.fit(X, y_semi, validation_mask=mask)
    clf.set_params(early_stopping=True)
    with pytest.raises(ValueError, match="marks unlabelled samples .*sample 100"):
        clf.fit(X, y_semi, validation_mask=mask | (np.arange(200) == 100))
    with pytest.raises(ValueError, match="boolean array with one entry per sample"):
        clf.fit(X, y_semi, validation_mask=mask[:50])
    with pytest.raises(ValueError, match="boolean array"):
        clf.fit(X, y_semi, validation_mask=mask.astype(int))
    with pytest.raises(ValueError, match="marks no sample"):
        clf.fit(X, y_semi, validation_mask=np.zeros(200, dtype=bool))
    every_zero = (y_semi == 0) & (np.arange(200) < 60)
    with pytest.raises(ValueError, match="every labelled sample of class 0"):
        clf.fit(X, y_semi, validation_mask=every_zero)


@pytest.mark.parametrize("dataset", ["cora", "citeseer"])
def test_citation_split_reaches_estimator_and_transcription_alike(dataset):
    # The benchmark's split (20 training and 30 validation nodes per class)
    # goes to the reference transcription as (train, val) and to the
    # estimator as the labels of train + val with val as validation_mask:
    # both train on the same nodes and stop on the same nodes, with the
    # dataset's own settings (CiteSeer: step 0.2, dropout 0.35) as the
    # benchmark passes them.
    path = os.path.join(SHARED_DATA, f"{dataset}.npz")
    if not os.path.exists(path):
        pytest.skip(f"{dataset} data not found at {path} (it lives in ../shared/data)")
    from _common import load_citation, row_normalize, split_per_class
    from cora import diffresnet

    A, X, labels = load_citation(dataset)
    # The data README: largest connected components of 2485 and 2110 nodes.
    n_nodes, n_features, n_classes = {
        "cora": (2485, 1433, 7),
        "citeseer": (2110, 3703, 6),
    }[dataset]
    assert A.shape == (n_nodes, n_nodes) and X.shape == (n_nodes, n_features)
    assert np.unique(labels).size == n_classes and (A != A.T).nnz == 0
    X = row_normalize(X)
    train, val, _ = split_per_class(labels, np.random.RandomState(0))
    recorder = SplitRecorder()
    diffresnet(
        A,
        X,
        labels,
        train,
        val,
        0,
        "cpu",
        dataset,
        max_epochs=2,
        callbacks=[recorder],
    )
    np.testing.assert_array_equal(np.sort(recorder.train_), np.sort(train))
    np.testing.assert_array_equal(np.sort(recorder.valid_), np.sort(val))
