"""Real citation graphs: the estimator on Cora, the paper's protocol.

The data loaders are the benchmarks' own (``benchmarks/_common.py``, on the
test path through ``pythonpath`` in pyproject.toml).
"""

import numpy as np
import pytest

from sklearn_diffres import DiffusionResNetClassifier


def test_cora_citation_graph_transductive_and_inductive(cora_path):
    # Real data: Cora with its citation graph (the paper's protocol, without
    # dropout so that the test stays fast).
    from _common import load_cora, row_normalize, split_per_class
    from cora import DATASETS, PAPER_SETTINGS

    A, X, labels = load_cora()
    X = row_normalize(X)
    train, val, test = split_per_class(labels, np.random.RandomState(0))
    y = np.full_like(labels, -1)
    y[np.r_[train, val]] = labels[np.r_[train, val]]
    # The paper's Cora settings, without dropout, with shorter patience.
    params = {
        **PAPER_SETTINGS,
        **DATASETS["cora"],
        "dropout": 0.0,
        "max_epochs": 300,
        "validation_fraction": 0.6,
        "patience": 30,
        "random_state": 0,
    }
    clf = DiffusionResNetClassifier(adjacency=A, **params).fit(X, y)
    acc = (clf.transduction_[test] == labels[test]).mean()
    no_diff = DiffusionResNetClassifier(adjacency=A, **{**params, "n_layers": 0}).fit(
        X, y
    )
    acc0 = (no_diff.transduction_[test] == labels[test]).mean()
    assert acc > 0.75 and acc > acc0 + 0.1
    # The paper does not clip gradients, and its settings turn our clip off.
    assert "gradient_clipping" not in dict(clf.net_.callbacks_)
    assert "gradient_clipping" in dict(
        DiffusionResNetClassifier(max_epochs=1).fit(X[:50], labels[:50]).net_.callbacks_
    )
    # Inductive: 300 test nodes left out of the graph, then attached by their
    # citation edges to the fitted nodes.
    out = test[:300]
    keep = np.setdiff1d(np.arange(len(labels)), out)
    sub = DiffusionResNetClassifier(adjacency=A[keep][:, keep], **params).fit(
        X[keep], y[keep]
    )
    pred = sub.predict(X[out], adjacency=A[out][:, keep])
    assert (pred == labels[out]).mean() > 0.7
    with pytest.raises(ValueError, match="pass adjacency="):
        sub.predict(X[out])


def _fit_estimator(split_seed, seed, settings, callbacks=()):
    """Our estimator on one Cora split with the paper's settings updated by
    ``settings``, stopping on the split's validation nodes. Returns it and
    ``(A, X, labels, train, val)``."""
    from _common import load_cora, row_normalize, split_per_class
    from cora import PAPER_SETTINGS

    A, X, labels = load_cora()
    X = row_normalize(X)
    train, val, _ = split_per_class(labels, np.random.RandomState(split_seed))
    y = np.full_like(labels, -1)
    y[np.r_[train, val]] = labels[np.r_[train, val]]
    clf = DiffusionResNetClassifier(
        adjacency=A,
        callbacks=list(callbacks),
        random_state=seed,
        **{**PAPER_SETTINGS, **settings},
    ).fit(X, y, validation_mask=np.isin(np.arange(len(labels)), val))
    return clf, (A, X, labels, train, val)


def _train_both(split_seed, seed, settings, shared_noise=False, kick=None):
    """Our estimator and the transcription of the paper's loop
    (benchmarks/reference_cora.py) on one Cora split, from the same initial
    weights, with the paper's settings updated by ``settings``; with
    ``shared_noise`` the transcription draws the estimator's dropout masks;
    ``kick=(epoch, scale, kick_seed)`` nudges both implementations' weights
    at the end of ``epoch`` as benchmarks/citation_sensitivity.py does.
    Returns the fitted estimator, the initial weights (transcription names),
    the validation nodes and ``train_reference``'s ``(model, features,
    operator, history)``."""
    from citation_sensitivity import Kick, reference_kick
    from cora import PAPER_SETTINGS
    from reference_cora import InitialWeights, train_reference

    initial = InitialWeights()
    callbacks = [("initial", initial)]
    if kick is not None:
        callbacks.append(("kick", Kick(*kick)))
    clf, (A, X, labels, train, val) = _fit_estimator(
        split_seed, seed, settings, callbacks
    )
    reference = train_reference(
        A,
        X,
        labels,
        train,
        val,
        seed=seed,
        lr=PAPER_SETTINGS["lr"],
        weight_decay=PAPER_SETTINGS["weight_decay"],
        initial_state=initial.state_,
        noise_seed=initial.noise_seed_ if shared_noise else None,
        callback=None if kick is None else reference_kick(*kick),
        **settings,
    )
    return clf, initial.state_, val, reference


def test_estimator_trains_as_the_papers_loop(cora_path, monkeypatch):
    # Our estimator with the paper's Cora settings against the plain-PyTorch
    # transcription of the paper's loop (benchmarks/reference_cora.py): the
    # same split, the same initial weights, each trained on its own. Dropout
    # is off (the two draw its noise differently), and the training
    # polynomial is made as tight as the eval one (it is truncated at 1e-2
    # by default, see TRAINING_POLYNOMIAL_TOLERANCE). Then both compute the
    # same thing, epoch by epoch, and must end on the same weights and
    # predictions: a different normalisation, step, residual block, loss
    # rows, optimiser setting or early-stopping rule would show here.
    import torch
    from cora import DATASETS
    from reference_cora import ESTIMATOR_NAMES

    import sklearn_diffres._module as module

    monkeypatch.setattr(
        module, "TRAINING_POLYNOMIAL_TOLERANCE", module.POLYNOMIAL_TOLERANCE
    )
    # 30 epochs, patience 5: the validation loss last reaches a new minimum
    # at epoch 29 in both, by 2e-4 or more each time, so float rounding
    # (the two differ by about 1e-4 relative at the end) cannot move the
    # epoch whose weights the stopping rule restores.
    settings = {**DATASETS["cora"], "dropout": 0.0, "max_epochs": 30, "patience": 5}
    clf, start_state, val, (model, features, operator, history) = _train_both(
        1, 0, settings
    )
    ours = clf.net_.history_
    assert len(ours) == len(history) == 30
    np.testing.assert_allclose(
        ours[:, ("train_loss", "valid_loss")],
        [(train_loss, valid_loss) for train_loss, valid_loss, _ in history],
        rtol=1e-3,
    )
    # Validation accuracy: at most one of the 210 nodes on the other side of
    # a near-tie between two classes.
    np.testing.assert_allclose(
        ours[:, "valid_acc"], [a for *_, a in history], rtol=0, atol=1.01 / len(val)
    )
    assert dict(clf.net_.callbacks_)["paper_early_stopping"].best_epoch_ == 29
    # Weights: Adam amplifies rounding where a gradient is near zero (a few
    # entries in a thousand differ by up to lr), so they are compared as
    # matrices. Training moved each by about its own norm; the two
    # implementations differ by 0.3% of it.
    state = clf.net_.module_.state_dict()
    for ref, weight in model.state_dict().items():
        ours_weight, start = state[ESTIMATOR_NAMES[ref]], start_state[ref]
        assert (weight - start).norm() > 0.5 * weight.norm()
        assert (ours_weight - weight).norm() < 0.01 * weight.norm()
    with torch.no_grad():
        proba = torch.softmax(model(features, operator), dim=1).double().numpy()
    np.testing.assert_allclose(clf.label_distributions_, proba, atol=1e-2)
    # The same predictions but for near-ties (none on this machine).
    assert (clf.transduction_ != proba.argmax(1)).mean() < 0.002


@pytest.mark.parametrize("dropout", [0.25, 0.35])
def test_estimator_drops_out_as_the_papers_loop(cora_path, dropout):
    # The same comparison with dropout on (the paper's Cora rate, 0.25, drawn
    # as 8-bit noise, and CiteSeer's, 0.35, as 16-bit noise): the
    # transcription takes its masks from the estimator's noise stream
    # (``noise_seed``) instead of F.dropout, so both drop the same entries in
    # every epoch. The training and validation losses must then agree epoch
    # by epoch: a mask applied after the diffusion step instead of before, a
    # missing 1 / keep scale, masks reused across layers or epochs, or a
    # backward pass that drops other entries than the forward pass would
    # show here.
    from cora import DATASETS

    settings = {**DATASETS["cora"], "dropout": dropout, "max_epochs": 8}
    clf, _, _, (_, _, _, history) = _train_both(2, 3, settings, shared_noise=True)
    ours = clf.net_.history_[:, ("train_loss", "valid_loss")]
    theirs = [(train_loss, valid_loss) for train_loss, valid_loss, _ in history]
    np.testing.assert_allclose(ours, theirs, rtol=1e-4)
    # The losses fall: training moved the weights (a pass that dropped
    # everything, or nothing, would not make the two agree by chance).
    assert ours[-1][1] < ours[0][1] - 0.05


def test_sensitivity_benchmark_kicks_both_implementations_alike(cora_path):
    # benchmarks/citation_sensitivity.py multiplies both implementations'
    # weights by the same 1 + scale * N(0, 1) at the end of one epoch. Given
    # the same weights and masks, the two must then still agree epoch by
    # epoch; a kick drawn in another parameter order, on one side only, or
    # at another epoch would part them. The kick is large here (scale 1), and
    # it moves the training: the run without it has other losses after it.
    from cora import DATASETS

    settings = {**DATASETS["cora"], "max_epochs": 6}
    clf, _, _, (_, _, _, history) = _train_both(
        2, 3, settings, shared_noise=True, kick=(3, 1.0, 7)
    )
    ours = clf.net_.history_[:, ("train_loss", "valid_loss")]
    theirs = [(train_loss, valid_loss) for train_loss, valid_loss, _ in history]
    np.testing.assert_allclose(ours, theirs, rtol=1e-4)
    unkicked, _ = _fit_estimator(2, 3, settings)
    before = unkicked.net_.history_[:, ("train_loss", "valid_loss")]
    np.testing.assert_allclose(ours[:3], before[:3], rtol=1e-6)
    # By about 1e-2 (the losses are near log 7 this early), 50 times the
    # tolerance the two kicked runs agree to.
    assert np.abs(np.array(ours[3:]) - before[3:]).max() > 5e-3
