"""The Diff-ResNet network as a torch module, and its skorch glue."""

# Authors: The sklearn-diffres developers
# SPDX-License-Identifier: BSD-3-Clause

import copy
import math

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from scipy.sparse.csgraph import reverse_cuthill_mckee
from skorch import NeuralNetClassifier
from skorch.callbacks import Callback
from torch import nn

from ._polynomial import DiffusionPolynomial
from ._utils import to_torch_sparse


class _DiffusionLayer(torch.autograd.Function):
    """``P @ x`` for a constant sparse ``P``; the gradient is ``P^T @ g``.

    ``P^T`` is given (the same tensor when ``P`` is symmetric): torch's
    sparse CSR product has no transposed form.
    """

    @staticmethod
    def forward(ctx, x, operator, operator_t):
        ctx.operator_t = operator_t
        return operator @ x

    @staticmethod
    def backward(ctx, grad):
        return ctx.operator_t @ grad, None, None


class _PolynomialDiffusion(torch.autograd.Function):
    """``p(P) @ x`` for a :class:`DiffusionPolynomial` ``p``; the gradient is
    ``p(P^T) @ g``. The operators given are the polynomial's recurrence
    matrices ``2 S`` of ``P`` and of ``P^T`` (the same tensor when ``P`` is
    symmetric), see :meth:`DiffusionPolynomial.recurrence_operator`.

    One autograd node: nothing but the transposed matrix is kept for backward.
    """

    @staticmethod
    def forward(ctx, x, operator, operator_t, polynomial):
        ctx.operator_t = operator_t
        ctx.polynomial = polynomial
        return polynomial.evaluate(x, lambda v: operator @ v)

    @staticmethod
    def backward(ctx, grad):
        operator_t = ctx.operator_t
        return ctx.polynomial.evaluate(grad, lambda v: operator_t @ v), None, None, None


def _spmm_into(out, operator, x):
    """``out <- operator @ x`` for a sparse CSR ``operator``, in place.

    ``torch.mm(sparse, dense, out=out)`` computes into a fresh zeroed tensor
    and then copies it into ``out``: on two CPU cores, for Cora's 2485 x 1433
    hidden layer, 2.05 ms, of which 1.8 ms is the first touch of the fresh
    tensor's pages. Zeroing ``out`` and accumulating into it with ``addmm_``
    took 0.95 ms. Other devices keep ``torch.mm(out=)``: their caching
    allocators hand back warm memory.
    """
    if out.device.type != "cpu":
        return torch.mm(operator, x, out=out)
    out.zero_()
    return out.addmm_(operator, x)


class _DropoutDiffusion(torch.autograd.Function):
    """``n`` layers ``x <- P' (x * keep_t)`` in one autograd node (training).

    ``P' = P / q`` folds in the dropout scale, ``q`` the keep probability.
    The masks are given as integer noise (see :func:`dropout_noise`):
    ``keep_t = noise_t >= threshold``. Backward runs ``g <- keep_t * (P'^T g)``
    in reverse (``P'^T`` given; the same tensor when ``P`` is symmetric),
    recomputing each float mask from its noise
    (1 or 2 bytes an entry are saved, not 4). Intermediate results cycle through
    the buffers of ``workspace`` (a list, filled on first use and kept by the
    caller): torch's sparse product into a fresh tensor (first-touch page
    faults, layout copies) took 2.5x as long as into an existing one. The
    buffers are always written before they are read, and only the noise is
    saved for backward, so reusing them across calls is safe.

    On two CPU cores, for Cora's 2485 x 1433 hidden layer: a float mask
    written by ``ge(..., out=)`` costs 0.5 ms and multiplying by it 0.7 ms,
    where a boolean mask cost 1.4 ms to compare and 2.3 ms to multiply.
    """

    @staticmethod
    def _buffers(workspace, like):
        if (
            not workspace
            or workspace[0].shape != like.shape
            or workspace[0].device != like.device
        ):
            workspace[:] = [torch.empty_like(like) for _ in range(4)]
        return workspace[0], workspace[1], (workspace[2], workspace[3])

    @staticmethod
    def forward(ctx, x, operator, operator_t, workspace, threshold, *noises):
        ctx.operator_t = operator_t
        ctx.workspace = workspace
        ctx.threshold = threshold
        ctx.save_for_backward(*noises)
        x = x.contiguous()
        mask, masked, bufs = _DropoutDiffusion._buffers(workspace, x)
        for t, noise in enumerate(noises):
            torch.ge(noise, threshold, out=mask)
            torch.mul(x, mask, out=masked)
            out = bufs[t % 2] if t < len(noises) - 1 else torch.empty_like(x)
            _spmm_into(out, operator, masked)
            x = out
        return x

    @staticmethod
    def backward(ctx, grad):
        noises = ctx.saved_tensors
        g = grad.contiguous()
        mask, spread, bufs = _DropoutDiffusion._buffers(ctx.workspace, g)
        for t, noise in enumerate(reversed(noises)):
            _spmm_into(spread, ctx.operator_t, g)
            torch.ge(noise, ctx.threshold, out=mask)
            out = bufs[t % 2] if t < len(noises) - 1 else torch.empty_like(g)
            torch.mul(spread, mask, out=out)
            g = out
        return (g, None, None, None, None) + (None,) * len(noises)


def dropout_threshold(p):
    """``(dtype, threshold, keep)`` of the dropout masks for probability ``p``.

    Masks are ``noise >= threshold`` on uniform integer noise of ``dtype``
    (see :func:`dropout_noise`) and keep an entry with probability ``keep``.
    ``int8`` noise (8 bits an entry) when ``p`` is a multiple of ``2^-8``,
    as 0.25 or 0.5 are, so ``keep = 1 - p`` exactly; otherwise ``int16``
    with ``p`` rounded to a multiple of ``2^-16`` (at most ``1 - 2^-16``).
    """
    bits = 8 if float(p * 256).is_integer() and p < 1 else 16
    levels = 2**bits
    drop = min(round(p * levels), levels - 1)
    dtype = torch.int8 if bits == 8 else torch.int16
    return dtype, drop - levels // 2, 1.0 - drop / levels


def dropout_noise(count, shape, dtype, device, generator=None):
    """``count`` tensors of uniform integer noise, one per dropout mask.

    On CPU ``bernoulli_`` (what ``F.dropout`` uses) took 57% of a Cora
    training epoch (30 ms per 2485 x 1433 mask on two cores). Here each
    64-bit word of numpy's PCG64 ``generator`` gives eight ``int8`` or four
    ``int16`` numbers, viewed in place (2.3 ms for the same mask in
    ``int16``; torch's own ``random_`` on int64 words took 3.3 ms). On other
    devices torch draws them, from ``generator`` (a torch generator of that
    device) when given.
    """
    n = math.prod(shape)
    if device.type != "cpu":
        info = torch.iinfo(dtype)
        return [
            torch.randint(
                info.min,
                info.max + 1,
                shape,
                dtype=dtype,
                device=device,
                generator=generator,
            )
            for _ in range(count)
        ]
    per_word = 64 // torch.iinfo(dtype).bits
    words = generator.bit_generator.random_raw(count * -(-n // per_word))
    np_dtype = np.int8 if dtype == torch.int8 else np.int16
    noise = torch.from_numpy(words.view(np_dtype)).view(count, -1)[:, :n]
    return [chunk.view(shape) for chunk in noise]


def diffusion_operator(laplacian, step_size):
    """``P = I - step_size * L`` (scipy sparse CSR): one layer is ``x <- P x``."""
    n = laplacian.shape[0]
    P = sp.identity(n, format="csr") - step_size * sp.csr_matrix(laplacian)
    P = sp.csr_matrix(P)
    P.sort_indices()
    return P


def _permute_rows(features, order):
    """Rows ``order`` of a dense or sparse CSR torch tensor (on the CPU)."""
    if features.layout != torch.sparse_csr:
        return features[torch.from_numpy(order).to(features.device)]
    matrix = sp.csr_matrix(
        (
            features.values().cpu().numpy(),
            features.col_indices().cpu().numpy(),
            features.crow_indices().cpu().numpy(),
        ),
        shape=features.shape,
    )
    return to_torch_sparse(matrix[order], dtype=features.dtype)


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
            out = torch.addmm(self.fc1.bias, x, self.fc1.weight.T)
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
    ``L 1 = 0``, so with ``P = I - tau L`` and ``n = n_layers``, ``P^n (h C^T)
    + b = P^n (h C^T + b)``, and diffusing ``n_classes`` columns is cheaper
    than ``width`` columns.

    Better still, when only the rows ``idx`` are wanted (the labelled nodes),
    ``(P^n g)[idx] = R g`` with ``R = ((P')^n E_idx)'`` (``'`` the transpose,
    ``E_idx`` the indicator columns of ``idx``; ``P' = P`` unless the graph's
    nodes carry masses, see ``_KNNGraph``): ``R``
    is computed once per set of rows and each later pass costs one product
    with a ``len(idx) x n`` matrix instead of ``n_layers`` sparse products.
    ``R`` is kept while it has at most ``READOUT_MAX_ENTRIES`` entries.

    Given ``lambda_max`` (the largest eigenvalue of ``L``), the layers
    without dropout (and the readout) run as one Chebyshev polynomial of
    ``P`` when it takes fewer products than ``n_layers``
    (:class:`~sklearn_diffres._polynomial.DiffusionPolynomial`).

    On graphs of at least ``REORDER_MIN_NODES`` nodes the module works on
    the nodes in reverse Cuthill-McKee order, which puts neighbours at
    nearby rows: a sparse product then reads its inputs from cache more
    often. ``forward(idx)`` still takes and returns the graph's own node
    order.
    """

    #: Largest dense readout matrix ``R`` kept (entries; float32).
    READOUT_MAX_ENTRIES = 2**25

    #: Graphs with at least this many nodes are reordered (reverse
    #: Cuthill-McKee) for the sparse products. On two CPU cores, with ten
    #: columns, a product on the 100,000-node graph of the scale benchmark
    #: went from 4.5 to 3.7 ms, on its 1,000,000-node graph from 258 to 144
    #: ms; smaller graphs fit in cache either way.
    REORDER_MIN_NODES = 2**15

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
        lambda_max=None,
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
        self.lambda_max = lambda_max
        self._polynomial = None
        for name in (
            "features",
            "features_dense",
            "operator",
            "operator_t",
            "recurrence",
            "recurrence_t",
            "operator_dropout",
            "operator_dropout_t",
            "proto_distance",
            "position",
        ):
            self.register_buffer(name, None, persistent=False)
        self._readouts = {}
        self._workspace = []
        self.noise_seed = None
        self._noise_rng = None

    def reset_parameters(self, seed):
        """Initialise the weights from ``seed``, without torch's global RNG.

        The draws are those of each ``nn.Linear``'s own initialisation, in
        module order, from a private CPU generator (then copied to the
        device): the same weights as ``torch.manual_seed(seed)`` followed by
        construction, on any device, and safe when fits run in threads
        (``torch.manual_seed`` seeds one generator for the whole process). The
        next draw seeds the dropout noise.
        """
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for layer in self.modules():
                if not isinstance(layer, nn.Linear):
                    continue
                weight = torch.empty(layer.weight.shape)
                nn.init.kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)
                bound = 1 / math.sqrt(weight.shape[1]) if weight.shape[1] > 0 else 0
                bias = torch.empty(layer.bias.shape)
                nn.init.uniform_(bias, -bound, bound, generator=generator)
                layer.weight.copy_(weight)
                layer.bias.copy_(bias)
        # One draw skipped: torch's data loader took it from the global
        # generator before the noise seed, when that was drawn there (the
        # results of earlier versions stay the same).
        torch.empty((), dtype=torch.int64).random_(generator=generator)
        self.noise_seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        self._noise_rng = None

    def __getstate__(self):
        # Caches of the fitted graph are rebuilt on use, never pickled.
        state = dict(super().__getstate__())
        state["_readouts"], state["_workspace"] = {}, []
        state["_noise_rng"] = None
        return state

    def set_graph(self, features=None, laplacian=None, proto_distance=None):
        """Attach (or, with no arguments, release) the fitted graph.

        ``features`` is a torch tensor (dense or sparse CSR) of every node,
        ``laplacian`` the scipy sparse ``L``; the module keeps the operator
        ``P = I - step_size * L`` of one layer (and ``P / (1 - p)`` for
        dropout ``p``, rounded as :func:`dropout_threshold` rounds it).
        """
        device = self.classifier.weight.device
        self.features = self.features_dense = None
        self.operator = self.operator_dropout = None
        self.operator_t = self.operator_dropout_t = None
        self.recurrence = self.recurrence_t = None
        self.position = None
        self._polynomial = None
        order = None
        if laplacian is not None and laplacian.shape[0] >= self.REORDER_MIN_NODES:
            order = reverse_cuthill_mckee(
                sp.csr_matrix(laplacian), symmetric_mode=True
            ).astype(np.int64)
            laplacian = sp.csr_matrix(laplacian)[order][:, order]
            position = np.empty_like(order)
            position[order] = np.arange(order.size)
            self.position = torch.from_numpy(position).to(device)
            if proto_distance is not None:
                proto_distance = proto_distance[torch.from_numpy(order)]
        if features is not None:
            if order is not None:
                features = _permute_rows(features, order)
            self.features = features.to(device)
            if features.layout == torch.sparse_csr:
                self.features_dense = self.features.to_dense()
        if laplacian is not None:
            P = diffusion_operator(laplacian, self.step_size)
            # P is symmetric unless identical rows were merged into nodes
            # with masses (see _KNNGraph); backward needs P^T.
            P_t = (
                P
                if (P != P.T).nnz == 0
                else diffusion_operator(laplacian.T, self.step_size)
            )
            if self.lambda_max is not None:
                self._polynomial = DiffusionPolynomial.build(
                    self.step_size, self.lambda_max, self.n_layers
                )
            if self._polynomial is None:
                self.operator = to_torch_sparse(P).to(device)
                self.operator_t = (
                    self.operator if P_t is P else to_torch_sparse(P_t).to(device)
                )
            else:
                # Without dropout every pass runs the polynomial: its
                # recurrence matrix replaces P.
                M = self._polynomial.recurrence_operator(laplacian, self.step_size)
                self.recurrence = to_torch_sparse(M).to(device)
                self.recurrence_t = (
                    self.recurrence
                    if P_t is P
                    else to_torch_sparse(
                        self._polynomial.recurrence_operator(
                            laplacian.T, self.step_size
                        )
                    ).to(device)
                )
            if self.dropout > 0:
                _, _, keep = dropout_threshold(self.dropout)
                self.operator_dropout = to_torch_sparse(P / keep).to(device)
                self.operator_dropout_t = (
                    self.operator_dropout
                    if P_t is P
                    else to_torch_sparse(P_t / keep).to(device)
                )
        self.proto_distance = (
            None if proto_distance is None else proto_distance.to(device)
        )
        self._readouts = {}
        # Dropout noise restarts from noise_seed (see reset_parameters).
        self._noise_rng = None

    def encode(self, x, x_dense=None):
        """The residual blocks, row by row (no graph involved)."""
        for block in self.blocks:
            x = block(x, x_dense)
            x_dense = None
        return x

    def _diffuse(self, h):
        """``n_layers`` diffusion layers, each after dropout when training."""
        if self.training and self.dropout > 0 and self.n_layers > 0:
            if self._noise_rng is None:
                self._noise_rng = self._noise_generator(h.device)
            dtype, threshold, _ = dropout_threshold(self.dropout)
            noises = dropout_noise(
                self.n_layers, h.shape, dtype, h.device, self._noise_rng
            )
            return _DropoutDiffusion.apply(
                h,
                self.operator_dropout,
                self.operator_dropout_t,
                self._workspace,
                threshold,
                *noises,
            )
        if self._polynomial is not None:
            return _PolynomialDiffusion.apply(
                h, self.recurrence, self.recurrence_t, self._polynomial
            )
        for _ in range(self.n_layers):
            h = _DiffusionLayer.apply(h, self.operator, self.operator_t)
        return h

    def _noise_generator(self, device):
        """numpy's PCG64 on CPU, torch's generator elsewhere, from noise_seed."""
        seed = self.noise_seed
        if seed is None:  # weights not set by reset_parameters
            seed = int(torch.randint(0, 2**62, (1,)))
        if device.type == "cpu":
            return np.random.Generator(np.random.PCG64(seed))
        return torch.Generator(device=device).manual_seed(seed)

    def _readout(self, idx):
        """``R`` for the rows ``idx``, or None when it would be too large."""
        n = self.features.shape[0]
        if idx.numel() * n > self.READOUT_MAX_ENTRIES:
            return None
        key = (idx.numel(), hash(tuple(idx.tolist())))
        if key not in self._readouts:
            with torch.no_grad():
                E = torch.zeros(n, idx.numel(), device=idx.device)
                E[idx, torch.arange(idx.numel(), device=idx.device)] = 1.0
                if self._polynomial is not None:
                    E = self._polynomial.evaluate(E, lambda v: self.recurrence_t @ v)
                else:
                    for _ in range(self.n_layers):
                        E = self.operator_t @ E
            self._readouts[key] = E.T.contiguous()
        return self._readouts[key]

    def forward(self, idx):
        if self.position is not None:  # the graph's nodes are reordered
            idx = self.position[idx.to(self.position.device)]
        h = self.encode(self.features, self.features_dense)
        need_all = self.training and self.proto_distance is not None
        if self.training and self.dropout > 0:
            h = self._diffuse(h)
            if not need_all:
                # The classifier acts row by row: only the rows idx are needed
                # (on Cora this skips a 2485 x 1433 x 7 product each way).
                return self.classifier(h[idx])
            logits = self.classifier(h)
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
        self.stopped_ = False
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
            self.stopped_ = True
            raise KeyboardInterrupt  # skorch's way to end training early

    def on_train_end(self, net, **kwargs):
        if self.best_state_ is not None:
            net.module_.load_state_dict(self.best_state_)
            if net.verbose:
                print(f"Restored the weights of epoch {self.best_epoch_}.")
        # The copy is only needed during training; do not pickle it.
        self.best_state_ = None


class _TrainingGuard(Callback):
    """Counts finished epochs; stops with a clear error on a non-finite loss.

    A diverging optimiser (too large a learning rate) would otherwise train
    on to NaN weights, and ``predict_proba`` would return NaN. The count lets
    the estimator tell a training cut short by Ctrl-C (which skorch's
    ``partial_fit`` swallows, as it does the ``KeyboardInterrupt`` that early
    stopping raises) from a finished or early-stopped one.
    """

    def on_train_begin(self, net, **kwargs):
        self.epochs_done_ = 0

    def on_epoch_end(self, net, **kwargs):
        self.epochs_done_ += 1
        loss = net.history[-1, "train_loss"]
        if not np.isfinite(loss):
            raise ValueError(
                f"Training diverged: the training loss was {loss} at epoch "
                f"{net.history[-1, 'epoch']}. Use a smaller learning rate than "
                f"lr={net.lr}, or optimizer='adam'; if the features have very "
                "large values, scale them (e.g. StandardScaler)."
            )


class _GraphNet(NeuralNetClassifier):
    """skorch classifier whose samples are node indices of one graph.

    The loss is cross-entropy on the given nodes, plus in training the
    prototype term of the paper's few-shot code weighted by ``alpha``:
    ``sum_i sum_c softmax(logits_i)_c * ||x_i - p_c||`` over unlabelled nodes.
    ``train_weight`` (one weight per training sample, in the order given to
    ``fit``: training is full batch, unshuffled) makes the training
    cross-entropy the weighted mean ``sum_i w_i c_i l_i / sum_i w_i c_i``
    (``c_i`` the criterion's class weight of sample ``i``).
    """

    def __init__(self, *args, alpha=0.0, train_weight=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.alpha = alpha
        self.train_weight = train_weight

    def get_loss(self, y_pred, y_true, X=None, training=False):
        logits, all_logits = y_pred if isinstance(y_pred, tuple) else (y_pred, None)
        y_true = y_true.to(logits.device)
        if training and self.train_weight is not None:
            weight = self.train_weight.to(logits.device)
            if weight.shape != y_true.shape:
                raise RuntimeError("train_weight needs one full unshuffled batch")
            # per_sample carries the class weight c_i (None: 1) already.
            class_weight = self.criterion_.weight
            per_sample = F.cross_entropy(
                logits, y_true, weight=class_weight, reduction="none"
            )
            norm = weight if class_weight is None else weight * class_weight[y_true]
            loss = (weight * per_sample).sum() / norm.sum()
        else:
            loss = self.criterion_(logits, y_true)
        if training and all_logits is not None:
            distance = self.module_.proto_distance
            loss = loss + self.alpha * (F.softmax(all_logits, dim=1) * distance).sum()
        return loss
