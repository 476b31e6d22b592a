"""The Diff-ResNet network as a torch module, and its skorch glue."""

# Authors: The sklearn-diffres developers
# SPDX-License-Identifier: BSD-3-Clause

import copy
import warnings

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from skorch import NeuralNetClassifier
from skorch.callbacks import Callback
from torch import nn


class _SymmetricSpMM(torch.autograd.Function):
    """``L @ x`` for a constant symmetric sparse ``L``; the gradient is ``L @ g``."""

    @staticmethod
    def forward(ctx, laplacian, x):
        ctx.laplacian = laplacian
        return laplacian @ x

    @staticmethod
    def backward(ctx, grad):
        return None, ctx.laplacian @ grad


def to_torch_sparse(matrix, dtype=torch.float32):
    """A scipy sparse matrix as a torch sparse CSR tensor."""
    matrix = sp.csr_matrix(matrix)
    with warnings.catch_warnings():
        # torch notes that CSR support is "in beta"; it says nothing to users.
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support")
        warnings.filterwarnings("ignore", message="Sparse invariant checks")
        return torch.sparse_csr_tensor(
            torch.from_numpy(matrix.indptr.astype(np.int64)),
            torch.from_numpy(matrix.indices.astype(np.int64)),
            torch.from_numpy(matrix.data).to(dtype),
            size=matrix.shape,
            check_invariants=False,
        )


def to_torch(X, device="cpu"):
    """Dense or scipy sparse rows as a float32 torch tensor on ``device``."""
    if sp.issparse(X):
        return to_torch_sparse(X).to(device)
    return torch.as_tensor(np.asarray(X, dtype=np.float32), device=device)


class _ResidualBlock(nn.Module):
    """``x <- x + f(x)`` with ``f = relu(Linear)`` or ``Linear(relu(Linear))``."""

    def __init__(self, width, kind, hidden):
        super().__init__()
        self.kind = kind
        if kind == "relu_linear":
            self.fc1 = nn.Linear(width, width)
        else:
            self.fc1 = nn.Linear(width, hidden)
            self.fc2 = nn.Linear(hidden, width)

    def forward(self, x):
        # A sparse x (first block) is multiplied as sparse: x W^T costs nnz(x)
        # times the width, not n times width squared.
        out = self.fc1(x) if not x.layout == torch.sparse_csr else (
            torch.sparse.mm(x, self.fc1.weight.T) + self.fc1.bias
        )
        out = F.relu(out)
        if self.kind == "mlp":
            out = self.fc2(out)
        return out + (x.to_dense() if x.layout == torch.sparse_csr else x)


class DiffResNetModule(nn.Module):
    """Residual blocks, ``n_layers`` diffusion layers, a linear classifier.

    The graph (all fitted samples' features and the operator ``L``) is set
    with :meth:`set_graph` after the parameters are initialised, and is not
    part of the ``state_dict``. ``forward(idx)`` runs the whole graph (every
    node, full batch) and returns ``logits[idx]``; while training with the
    prototype loss it returns ``(logits[idx], logits)``.

    In training with dropout, each diffusion layer is preceded by dropout,
    as in the paper's graph experiments. Without dropout the classifier is
    applied first and the logits are diffused: diffusion is linear and
    ``L 1 = 0``, so ``C (I - tau L)^T h + b = (I - tau L)^T (C h + b)``, and
    diffusing ``n_classes`` columns is cheaper than ``width`` columns.

    Better still, when only the rows ``idx`` are wanted (the labelled nodes),
    ``((I - tau L)^T g)[idx] = R g`` with ``R = ((I - tau L)^T E_idx)^T``
    (``L`` is symmetric, ``E_idx`` the indicator columns of ``idx``): ``R``
    is computed once per set of rows and each later pass costs one product
    with a ``len(idx) x n`` matrix instead of ``n_layers`` sparse products.
    ``R`` is kept while it has at most ``READOUT_MAX_ENTRIES`` entries.
    """

    #: Largest dense readout matrix ``R`` kept (entries; float32).
    READOUT_MAX_ENTRIES = 2**25


    def __init__(
        self,
        n_features,
        n_classes,
        step_size=0.5,
        n_layers=20,
        dropout=0.0,
        residual_block="mlp",
        hidden_layer_size=None,
        n_blocks=1,
    ):
        super().__init__()
        hidden = n_features if hidden_layer_size is None else hidden_layer_size
        self.blocks = nn.ModuleList(
            [_ResidualBlock(n_features, residual_block, hidden) for _ in range(n_blocks)]
        )
        self.classifier = nn.Linear(n_features, n_classes)
        self.step_size = step_size
        self.n_layers = n_layers
        self.dropout = dropout
        self.register_buffer("features", None, persistent=False)
        self.register_buffer("laplacian", None, persistent=False)
        self.register_buffer("proto_distance", None, persistent=False)
        self._readouts = {}

    def set_graph(self, features=None, laplacian=None, proto_distance=None):
        """Attach (or, with no arguments, release) the fitted graph."""
        device = self.classifier.weight.device
        self.features = None if features is None else features.to(device)
        self.laplacian = None if laplacian is None else laplacian.to(device)
        self.proto_distance = (
            None if proto_distance is None else proto_distance.to(device)
        )
        self._readouts = {}

    def encode(self, x):
        """The residual blocks, row by row (no graph involved)."""
        for block in self.blocks:
            x = block(x)
        return x

    def _diffuse(self, h):
        for _ in range(self.n_layers):
            if self.training and self.dropout > 0:
                h = F.dropout(h, self.dropout, training=True)
            h = h - self.step_size * _SymmetricSpMM.apply(self.laplacian, h)
        return h

    def _readout(self, idx):
        """``R`` for the rows ``idx``, or None when it would be too large."""
        n = self.laplacian.shape[0]
        if idx.numel() * n > self.READOUT_MAX_ENTRIES:
            return None
        key = (idx.numel(), hash(tuple(idx.tolist())))
        if key not in self._readouts:
            with torch.no_grad():
                E = torch.zeros(n, idx.numel(), device=idx.device)
                E[idx, torch.arange(idx.numel(), device=idx.device)] = 1.0
                for _ in range(self.n_layers):
                    E = E - self.step_size * (self.laplacian @ E)
            self._readouts[key] = E.T.contiguous()
        return self._readouts[key]

    def forward(self, idx):
        h = self.encode(self.features)
        need_all = self.training and self.proto_distance is not None
        if self.training and self.dropout > 0:
            logits = self.classifier(self._diffuse(h))
        else:
            logits0 = self.classifier(h)
            readout = None if need_all else self._readout(idx)
            if readout is not None:
                return readout @ logits0
            logits = self._diffuse(logits0)
        # The prototype loss needs every node's scores, not only idx's.
        return (logits[idx], logits) if need_all else logits[idx]


class _PaperEarlyStopping(Callback):
    """Early stopping of the paper's code, restoring the best weights.

    Patience resets whenever the validation loss reaches a new minimum *or*
    the validation accuracy a new maximum; the weights of the last such epoch
    are restored at the end of training.
    """

    def __init__(self, patience):
        self.patience = patience

    def on_train_begin(self, net, **kwargs):
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
            raise KeyboardInterrupt

    def on_train_end(self, net, **kwargs):
        if self.best_state_ is not None:
            net.module_.load_state_dict(self.best_state_)
            if net.verbose:
                print(f"Restored the weights of epoch {self.best_epoch_}.")
        # The copy is only needed during training; do not pickle it.
        self.best_state_ = None


class _GraphNet(NeuralNetClassifier):
    """skorch classifier whose samples are node indices of one graph.

    The loss is cross-entropy on the given nodes, plus in training the
    prototype term of the paper's few-shot code weighted by ``alpha``:
    ``sum_i sum_c softmax(logits_i)_c * ||x_i - p_c||`` over unlabelled nodes.
    """

    def __init__(self, *args, alpha=0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.alpha = alpha

    def get_loss(self, y_pred, y_true, X=None, training=False):
        logits, all_logits = y_pred if isinstance(y_pred, tuple) else (y_pred, None)
        loss = self.criterion_(logits, y_true.to(logits.device))
        if training and all_logits is not None:
            distance = self.module_.proto_distance
            loss = loss + self.alpha * (F.softmax(all_logits, dim=1) * distance).sum()
        return loss
