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
    def __init__(self, n_features, n_classes, step_size, n_layers, dropout):
        super().__init__()
        self.linear = nn.Linear(n_features, n_features)
        self.classifier = nn.Linear(n_features, n_classes)
        self.step_size, self.n_layers, self.dropout = step_size, n_layers, dropout

    def forward(self, x, operator):
        x = x + F.relu(self.linear(x))
        for _ in range(self.n_layers):
            x = F.dropout(x, self.dropout, training=self.training)
            x = x - self.step_size * torch.sparse.mm(operator, x)
        return self.classifier(x)


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
    give them: the two draw their layers differently."""

    def on_train_begin(self, net, **kwargs):
        state = net.module_.state_dict()
        if sorted(state) != sorted(ESTIMATOR_NAMES.values()):
            raise ValueError(f"not the transcription's network: {sorted(state)}")
        self.state_ = {
            ref: state[ours].detach().clone() for ref, ours in ESTIMATOR_NAMES.items()
        }


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
):
    """Train once; returns ``(model, features, operator, history)``.

    ``history`` has one ``(train loss, validation loss, validation accuracy)``
    per epoch run.

    ``initial_state``, a state dict of ``ReferenceNet``, replaces the
    initial weights drawn from ``seed`` (tests start the transcription and
    the estimator from the same weights).
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
        if misses >= patience:
            break
    model.load_state_dict(best_state)
    model.eval()
    return model, features, operator, history


def run_reference(A, X, labels, train, val, test, seed, **settings):
    """Train once (``train_reference``); returns (test accuracy, epochs run)."""
    model, features, operator, history = train_reference(
        A, X, labels, train, val, seed, **settings
    )
    test = torch.as_tensor(test, device=features.device)
    with torch.no_grad():
        pred = model(features, operator)[test].argmax(1)
    y = torch.as_tensor(labels, dtype=torch.long, device=features.device)
    return (pred == y[test]).float().mean().item(), len(history)
