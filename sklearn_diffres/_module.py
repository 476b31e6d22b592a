"""The Diff-ResNet network as a torch module, and its skorch glue."""

# Authors: The sklearn-diffres developers
# SPDX-License-Identifier: BSD-3-Clause

import copy
import math
import warnings

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from skorch import NeuralNetClassifier
from skorch.callbacks import Callback
from torch import nn


class _DiffusionLayer(torch.autograd.Function):
    """``P @ x`` for a constant symmetric sparse ``P``; the gradient is ``P @ g``."""

    @staticmethod
    def forward(ctx, x, operator):
        ctx.operator = operator
        return operator @ x

    @staticmethod
    def backward(ctx, grad):
        return ctx.operator @ grad, None


class _DropoutDiffusion(torch.autograd.Function):
    """``n`` layers ``x <- P' (x * keep_t)`` in one autograd node (training).

    ``P' = P / (1 - p)`` folds in the dropout scale; ``keep_t`` are boolean
    masks. Backward runs ``g <- keep_t * (P' g)`` in reverse (``P``
    symmetric). Intermediate results cycle through the three buffers of
    ``workspace`` (a list, filled on first use and kept by the caller):
    torch's sparse product into a fresh tensor (first-touch page faults,
    layout copies) took 2.5x as long as into an existing one. The buffers
    are always written before they are read, and only the masks are saved
    for backward, so reusing them across calls is safe.
    """

    @staticmethod
    def _buffers(workspace, like):
        if (
            not workspace
            or workspace[0].shape != like.shape
            or workspace[0].device != like.device
        ):
            workspace[:] = [torch.empty_like(like) for _ in range(3)]
        return workspace[0], (workspace[1], workspace[2])

    @staticmethod
    def forward(ctx, x, operator, workspace, *keeps):
        ctx.operator = operator
        ctx.workspace = workspace
        ctx.save_for_backward(*keeps)
        x = x.contiguous()
        masked, bufs = _DropoutDiffusion._buffers(workspace, x)
        for t, keep in enumerate(keeps):
            torch.mul(x, keep, out=masked)
            out = bufs[t % 2] if t < len(keeps) - 1 else torch.empty_like(x)
            torch.mm(operator, masked, out=out)
            x = out
        return x

    @staticmethod
    def backward(ctx, grad):
        keeps = ctx.saved_tensors
        g = grad.contiguous()
        spread, bufs = _DropoutDiffusion._buffers(ctx.workspace, g)
        for t, keep in enumerate(reversed(keeps)):
            torch.mm(ctx.operator, g, out=spread)
            out = bufs[t % 2] if t < len(keeps) - 1 else torch.empty_like(g)
            torch.mul(spread, keep, out=out)
            g = out
        return (g, None, None) + (None,) * len(keeps)


def keep_mask(shape, p, device):
    """Boolean mask of the entries dropout keeps, each with probability ``1 - p``.

    On CPU ``bernoulli_`` (what ``F.dropout`` uses) took 57% of a Cora
    training epoch (30 ms per 2485 x 1433 mask on two cores); here each
    ``int64`` random word gives four 15-bit numbers compared with
    ``p * 2^15`` (5 ms). ``p`` is thus rounded to a multiple of ``2^-15``.
    """
    n = math.prod(shape)
    if device.type != "cpu":
        return torch.rand(shape, device=device) >= p
    words = torch.empty((n + 3) // 4, dtype=torch.int64).random_()
    chunks = words.view(torch.int16)[:n].view(shape)
    return (chunks & 0x7FFF) >= round(p * 32768)


def diffusion_operator(laplacian, step_size):
    """``P = I - step_size * L`` (scipy sparse CSR): one layer is ``x <- P x``."""
    n = laplacian.shape[0]
    P = sp.identity(n, format="csr") - step_size * sp.csr_matrix(laplacian)
    P = sp.csr_matrix(P)
    P.sort_indices()
    return P


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

    def forward(self, x, x_dense=None):
        # A sparse x (first block) is multiplied as sparse: x W^T costs nnz(x)
        # times the width, not n times width squared.
        if x.layout == torch.sparse_csr:
            out = torch.sparse.mm(x, self.fc1.weight.T) + self.fc1.bias
            x = x.to_dense() if x_dense is None else x_dense
        else:
            out = self.fc1(x)
        out = F.relu(out)
        if self.kind == "mlp":
            out = self.fc2(out)
        return out + x


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
            [
                _ResidualBlock(n_features, residual_block, hidden)
                for _ in range(n_blocks)
            ]
        )
        self.classifier = nn.Linear(n_features, n_classes)
        self.step_size = step_size
        self.n_layers = n_layers
        self.dropout = dropout
        for name in (
            "features",
            "features_dense",
            "operator",
            "operator_dropout",
            "proto_distance",
        ):
            self.register_buffer(name, None, persistent=False)
        self._readouts = {}
        self._workspace = []

    def __getstate__(self):
        # Caches of the fitted graph are rebuilt on use, never pickled.
        state = dict(super().__getstate__())
        state["_readouts"], state["_workspace"] = {}, []
        return state

    def set_graph(self, features=None, laplacian=None, proto_distance=None):
        """Attach (or, with no arguments, release) the fitted graph.

        ``features`` is a torch tensor (dense or sparse CSR) of every node,
        ``laplacian`` the scipy sparse ``L``; the module keeps the operator
        ``P = I - step_size * L`` of one layer (and ``P / (1 - p)`` for
        dropout ``p``, rounded as :func:`keep_mask` rounds it).
        """
        device = self.classifier.weight.device
        self.features = self.features_dense = None
        self.operator = self.operator_dropout = None
        if features is not None:
            self.features = features.to(device)
            if features.layout == torch.sparse_csr:
                self.features_dense = self.features.to_dense()
        if laplacian is not None:
            P = diffusion_operator(laplacian, self.step_size)
            self.operator = to_torch_sparse(P).to(device)
            if self.dropout > 0:
                keep = 1.0 - round(self.dropout * 32768) / 32768
                self.operator_dropout = to_torch_sparse(P / keep).to(device)
        self.proto_distance = (
            None if proto_distance is None else proto_distance.to(device)
        )
        self._readouts = {}

    def encode(self, x, x_dense=None):
        """The residual blocks, row by row (no graph involved)."""
        for block in self.blocks:
            x = block(x, x_dense)
            x_dense = None
        return x

    def _diffuse(self, h):
        """``n_layers`` diffusion layers, each after dropout when training."""
        if self.training and self.dropout > 0 and self.n_layers > 0:
            keeps = [
                keep_mask(h.shape, self.dropout, h.device) for _ in range(self.n_layers)
            ]
            return _DropoutDiffusion.apply(
                h, self.operator_dropout, self._workspace, *keeps
            )
        for _ in range(self.n_layers):
            h = _DiffusionLayer.apply(h, self.operator)
        return h

    def _readout(self, idx):
        """``R`` for the rows ``idx``, or None when it would be too large."""
        n = self.operator.shape[0]
        if idx.numel() * n > self.READOUT_MAX_ENTRIES:
            return None
        key = (idx.numel(), hash(tuple(idx.tolist())))
        if key not in self._readouts:
            with torch.no_grad():
                E = torch.zeros(n, idx.numel(), device=idx.device)
                E[idx, torch.arange(idx.numel(), device=idx.device)] = 1.0
                for _ in range(self.n_layers):
                    E = self.operator @ E
            self._readouts[key] = E.T.contiguous()
        return self._readouts[key]

    def forward(self, idx):
        h = self.encode(self.features, self.features_dense)
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
