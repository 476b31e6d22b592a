"""A straightforward transcription of the paper's reference training loop.

Kept for side-by-side comparisons (``cora.py``, ``cora_speed.py``): dense
features, a dense ``Linear(n_features, n_features)``, COO sparse products with
``diag(W 1) - W``, plain PyTorch, the paper's early stopping (patience resets
when the validation loss reaches a new minimum or the accuracy a new maximum;
the best weights are restored). Written from the paper and its protocol, not
copied.
"""

import copy

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from skorch.callbacks import Callback
from torch import nn

from sklearn_diffres import normalize_adjacency


def _coo(matrix):
    m = sp.coo_matrix(matrix).astype(np.float32)
    idx = torch.from_numpy(np.vstack([m.row, m.col]).astype(np.int64))
    return torch.sparse_coo_tensor(idx, torch.from_numpy(m.data), m.shape).coalesce()


class ReferenceNet(nn.Module):
    """The paper's network. ``masks``, when given, is a function of the
    activations' shape returning the ``n_layers`` dropout masks (0 or 1) of
    one training pass, which then replace ``F.dropout``'s own draws; the kept
    entries are scaled by ``1 / keep``."""

    def __init__(self, n_features, n_classes, step_size, n_layers, dropout):
        super().__init__()
        self.linear = nn.Linear(n_features, n_features)
        self.classifier = nn.Linear(n_features, n_classes)
        self.step_size, self.n_layers, self.dropout = step_size, n_layers, dropout
        self.masks, self.keep = None, 1.0 - dropout

    def forward(self, x, operator):
        x = x + F.relu(self.linear(x))
        masks = None
        if self.training and self.masks is not None:
            masks = self.masks(x.shape)
        for t in range(self.n_layers):
            if masks is None:
                x = F.dropout(x, self.dropout, training=self.training)
            else:
                x = x * masks[t] / self.keep
            x = x - self.step_size * torch.sparse.mm(operator, x)
        return self.classifier(x)


def shared_masks(noise_seed, dropout, n_layers, device="cpu"):
    """``(masks, keep)`` for ``ReferenceNet``: the dropout masks the estimator
    draws from its ``noise_seed`` (its module's, after ``reset_parameters``),
    pass after pass, and their keep probability. Both then drop the same
    entries in every epoch, and the comparison of the two implementations is
    free of dropout noise. (CPU only: the estimator draws its noise with
    numpy there.)"""
    from sklearn_diffres._kernels import dropout_noise, dropout_threshold

    dtype, threshold, keep = dropout_threshold(dropout)
    generator = np.random.Generator(np.random.PCG64(noise_seed))

    def masks(shape):
        noises = dropout_noise(n_layers, shape, dtype, torch.device("cpu"), generator)
        return [(noise >= threshold).to(device, torch.float32) for noise in noises]

    return masks, keep


#: The estimator's names (``DiffusionResNetClassifier(residual_block=
#: 'relu_linear')``) for the transcription's weights.
ESTIMATOR_NAMES = {
    "linear.weight": "blocks.0.fc1.weight",
    "linear.bias": "blocks.0.fc1.bias",
    "classifier.weight": "classifier.weight",
    "classifier.bias": "classifier.bias",
}


class InitialWeights(Callback):
    """Copies the estimator's weights as its training begins (``state_``,
    under the transcription's names), for ``train_reference(initial_state=)``:
    the two then start from the same weights. The same seed alone does not
    give them: the two draw their layers differently. ``noise_seed_`` is the
    seed of the estimator's dropout noise (``train_reference(noise_seed=)``)."""

    def on_train_begin(self, net, **kwargs):
        state = net.module_.state_dict()
        if sorted(state) != sorted(ESTIMATOR_NAMES.values()):
            raise ValueError(f"not the transcription's network: {sorted(state)}")
        self.state_ = {
            ref: state[ours].detach().clone() for ref, ours in ESTIMATOR_NAMES.items()
        }
        self.noise_seed_ = net.module_.noise_seed


def train_reference(
    A,
    X,
    labels,
    train,
    val,
    seed,
    step_size=0.25,
    n_layers=20,
    dropout=0.25,
    lr=0.01,
    weight_decay=5e-4,
    max_epochs=10000,
    patience=50,
    device="cpu",
    initial_state=None,
    noise_seed=None,
    callback=None,
):
    """Train once; returns ``(model, features, operator, history)``.

    ``history`` has one ``(train loss, validation loss, validation accuracy)``
    per epoch run.

    ``initial_state``, a state dict of ``ReferenceNet``, replaces the
    initial weights drawn from ``seed`` (tests start the transcription and
    the estimator from the same weights). ``noise_seed``, the estimator's
    (``InitialWeights.noise_seed_``), makes the dropout masks the estimator's
    too (see :func:`shared_masks`); by default ``F.dropout`` draws them from
    ``seed``. ``callback(epoch, model)``, when given, runs at the end of each
    epoch (from 1), after the early-stopping bookkeeping, as the estimator's
    own skorch callbacks run after its early stopping.
    """
    torch.manual_seed(seed)
    W = normalize_adjacency(A)
    operator = _coo(sp.diags(np.asarray(W.sum(axis=1)).ravel()) - W).to(device)
    features = torch.as_tensor(
        np.asarray(X.todense()), dtype=torch.float32, device=device
    )
    y = torch.as_tensor(labels, dtype=torch.long, device=device)
    train, val = (torch.as_tensor(i, device=device) for i in (train, val))
    model = ReferenceNet(
        X.shape[1], int(labels.max()) + 1, step_size, n_layers, dropout
    ).to(device)
    if initial_state is not None:
        model.load_state_dict(initial_state)
    if noise_seed is not None and dropout > 0:
        model.masks, model.keep = shared_masks(noise_seed, dropout, n_layers, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    best_loss, best_acc, misses, best_state = np.inf, 0.0, 0, None
    history = []
    for _ in range(max_epochs):
        model.train()
        optimizer.zero_grad()
        loss = F.cross_entropy(model(features, operator)[train], y[train])
        loss.backward()
        optimizer.step()
        model.eval()
        with torch.no_grad():
            out = model(features, operator)[val]
            val_loss = F.cross_entropy(out, y[val]).item()
            val_acc = (out.argmax(1) == y[val]).float().mean().item()
        history.append((loss.item(), val_loss, val_acc))
        if val_loss <= best_loss or val_acc >= best_acc:
            best_loss, best_acc = min(val_loss, best_loss), max(val_acc, best_acc)
            misses = 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            misses += 1
        if callback is not None:
            callback(len(history), model)
        if misses >= patience:
            break
    model.load_state_dict(best_state)
    model.eval()
    return model, features, operator, history


def run_reference(A, X, labels, train, val, test, seed, **settings):
    """Train once (``train_reference``); returns the test accuracy and the
    per-epoch history (one ``(train loss, validation loss, validation
    accuracy)`` per epoch run)."""
    model, features, operator, history = train_reference(
        A, X, labels, train, val, seed, **settings
    )
    test = torch.as_tensor(test, device=features.device)
    with torch.no_grad():
        pred = model(features, operator)[test].argmax(1)
    y = torch.as_tensor(labels, dtype=torch.long, device=features.device)
    return (pred == y[test]).float().mean().item(), history
