"""The Diff-ResNet network as a torch module."""

# Authors: The sklearn-diffres developers
# SPDX-License-Identifier: BSD-3-Clause

import math
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from sklearn.utils._param_validation import Interval, StrOptions
from torch import nn

from ._kernels import (
    _DiffusionLayer,
    _DropoutDiffusion,
    _permute_rows,
    _PolynomialDiffusion,
    diffusion_operator,
    dropout_noise,
    dropout_threshold,
    polynomial_diffusion,
    to_torch,
)
from ._polynomial import (
    POLYNOMIAL_TOLERANCE,
    TRAINING_POLYNOMIAL_TOLERANCE,
    DiffusionPolynomial,
)
from ._utils import CHUNK_ROWS, REORDER_MIN_NODES, locality_order, to_torch_sparse

#: Parameter constraints of the network's settings (scikit-learn's
#: ``_parameter_constraints``), merged into the classifier's.
MODULE_CONSTRAINTS = {
    "dropout": [Interval(Real, 0, 1, closed="left")],
    "residual_block": [StrOptions({"mlp", "relu_linear"})],
    "hidden_layer_size": [Interval(Integral, 1, None, closed="left"), None],
    "n_blocks": [Interval(Integral, 1, None, closed="left")],
    "alpha": [Interval(Real, 0, None, closed="left")],
}


def _transposed_layout(weight):
    """Store a linear layer's ``weight`` (out x in) as the transpose of a
    contiguous (in x out) matrix, in place: the same parameter and values.

    A sparse CSR input is multiplied by ``weight.T``, which torch's sparse
    product wants contiguous: with ``weight`` in torch's own layout it copied
    the whole matrix in every forward pass and once more for the gradient.
    For CiteSeer's 3703 x 3703 first layer on two cores, a forward pass took
    91-98 ms instead of 174-178 ms, forward and backward 245-249 ms instead of
    333-361 ms, with the same values and gradients. The CPU path now sums
    rows of this contiguous matrix instead (``_ResidualBlock.inner``); other
    devices keep the sparse product. A dense input is multiplied by BLAS,
    which reads either layout without a copy.
    """
    with torch.no_grad():
        if not weight.T.is_contiguous():
            weight.data = weight.data.T.contiguous().T


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

    def inner(self, x):
        """``relu(Linear(x))``, the first layer of ``f``.

        A sparse ``x`` (first block) is multiplied as sparse: ``x W^T``
        costs ``nnz(x)`` times the width, not n times width squared. On the
        CPU each row of ``x W^T`` is the sum of the rows of ``W^T`` that the
        row's entries select, weighted by them: ``F.embedding_bag`` over the
        CSR arrays. Measured by ``benchmarks/sparse_input.py`` against the
        sparse ``addmm`` it replaces: for CiteSeer's 2110 x 3703 words and
        the paper's 3703 x 3703 layer, 32 / 43 ms forward instead of 47 /
        93 (two / one threads) and 61 / 100 ms backward instead of 121 /
        172, a training epoch with the authors' settings 1.09x faster; at
        the default width (256) the forward pass 1.9-2.1x faster, the
        backward pass 0.83-0.94x (two threads) and 1.03-1.12x (one). The
        same values to rounding. Other devices keep ``addmm``.
        """
        if x.layout != torch.sparse_csr:
            return F.relu(self.fc1(x))
        weight = self.fc1.weight.T  # contiguous: see _transposed_layout
        if x.device.type != "cpu":
            return F.relu(torch.addmm(self.fc1.bias, x, weight))
        rows = F.embedding_bag(
            x.col_indices(),
            weight,
            x.crow_indices(),
            mode="sum",
            per_sample_weights=x.values(),
            include_last_offset=True,
        )
        return F.relu(rows + self.fc1.bias)

    def forward(self, x, x_dense=None):
        out = self.inner(x)
        if x.layout == torch.sparse_csr:
            x = x.to_dense() if x_dense is None else x_dense
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
    (:class:`~sklearn_diffres._polynomial.DiffusionPolynomial`), truncated
    at ``TRAINING_POLYNOMIAL_TOLERANCE`` in training mode and at
    ``POLYNOMIAL_TOLERANCE`` in eval mode (the validation passes of early
    stopping); the two share the recurrence matrix.

    On graphs of at least ``REORDER_MIN_NODES`` nodes the module works on
    the nodes in reverse Cuthill-McKee order, which puts neighbours at
    nearby rows: a sparse product then reads its inputs from cache more
    often. ``forward(idx)`` still takes and returns the graph's own node
    order.
    """

    #: Largest dense readout matrix ``R`` kept (entries; float32).
    READOUT_MAX_ENTRIES = 2**25

    #: Graphs with at least this many nodes are reordered (reverse
    #: Cuthill-McKee) for the sparse products, unless they come in that order
    #: (see ``sklearn_diffres._utils.REORDER_MIN_NODES``).
    REORDER_MIN_NODES = REORDER_MIN_NODES

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
        self._polynomials = {}
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
        self._polynomial_workspace = []
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
        state["_polynomial_workspace"] = []
        state["_noise_rng"] = None
        return state

    def set_graph(
        self, features=None, laplacian=None, proto_distance=None, reorder=True
    ):
        """Attach (or, with no arguments, release) the fitted graph.

        ``features`` is a torch tensor (dense or sparse CSR) of every node,
        ``laplacian`` the scipy sparse ``L``; the module keeps the operator
        ``P = I - step_size * L`` of one layer, or the polynomial's
        recurrence matrix when many layers run as one polynomial (and ``P /
        (1 - p)`` for dropout ``p``, rounded as :func:`dropout_threshold`
        rounds it). ``reorder=False`` keeps the given node order on large
        graphs too (the estimators' kNN graphs come in locality order).
        """
        device = self.classifier.weight.device
        self.features = self.features_dense = None
        self.operator = self.operator_dropout = None
        self.operator_t = self.operator_dropout_t = None
        self.recurrence = self.recurrence_t = None
        self.position = None
        self._polynomials = {}
        order = None
        if (
            reorder
            and laplacian is not None
            and laplacian.shape[0] >= self.REORDER_MIN_NODES
        ):
            order, position = locality_order(laplacian)
            laplacian = sp.csr_matrix(laplacian)[order][:, order]
            self.position = torch.from_numpy(position).to(device)
            if proto_distance is not None:
                proto_distance = proto_distance[torch.from_numpy(order)]
        if features is not None:
            if order is not None:
                features = _permute_rows(features, order)
            self.features = features.to(device)
            if features.layout == torch.sparse_csr:
                self.features_dense = self.features.to_dense()
                _transposed_layout(self.blocks[0].fc1.weight)
        if laplacian is not None:
            # L is symmetric unless identical rows were merged into nodes with
            # masses (see _KNNGraph); backward needs the transposed operators.
            symmetric = (laplacian != laplacian.T).nnz == 0

            def operators(make):
                """``make(L)`` and ``make(L^T)`` as torch tensors (one when
                ``L`` is symmetric)."""
                forward = to_torch_sparse(make(laplacian)).to(device)
                if symmetric:
                    return forward, forward
                return forward, to_torch_sparse(make(laplacian.T)).to(device)

            step = self.step_size
            polynomials = {True: None, False: None}  # by training mode
            if self.lambda_max is not None:
                for training, tolerance in (
                    (True, TRAINING_POLYNOMIAL_TOLERANCE),
                    (False, POLYNOMIAL_TOLERANCE),
                ):
                    polynomials[training] = DiffusionPolynomial.build(
                        step, self.lambda_max, self.n_layers, tolerance=tolerance
                    )
            self._polynomials = polynomials
            if None in polynomials.values():
                self.operator, self.operator_t = operators(
                    lambda L: diffusion_operator(L, step)
                )
            polynomial = polynomials[True] or polynomials[False]
            if polynomial is not None:
                # Without dropout every pass runs the polynomial: its
                # recurrence matrix replaces P (it depends on the interval
                # only, the same for both tolerances).
                self.recurrence, self.recurrence_t = operators(
                    lambda L: polynomial.recurrence_operator(L, step)
                )
            if self.dropout > 0:
                _, _, keep = dropout_threshold(self.dropout)
                self.operator_dropout, self.operator_dropout_t = operators(
                    lambda L: diffusion_operator(L, step) / keep
                )
        self.proto_distance = (
            None if proto_distance is None else proto_distance.to(device)
        )
        self._readouts = {}
        self._workspace, self._polynomial_workspace = [], []
        # Dropout noise restarts from noise_seed (see reset_parameters).
        self._noise_rng = None

    @property
    def _polynomial(self):
        """The polynomial of the current mode, or None (explicit layers)."""
        return self._polynomials.get(self.training)

    def encode(self, x, x_dense=None, blocks=None):
        """The residual blocks (or the given ones), row by row (no graph
        involved)."""
        for block in self.blocks if blocks is None else blocks:
            x = block(x, x_dense)
            x_dense = None
        return x

    def class_scores(self, x, x_dense=None):
        """``classifier(encode(x))``: the class scores before diffusion.

        After an 'mlp' block ``x + W_2 h + b_2`` (``h = relu(W_1 x + b_1)``)
        the classifier ``C`` gives ``x C^T + h (C W_2)^T + C b_2 + c``, the
        same scores without the block's ``n x width`` output: ``C W_2`` is
        ``n_classes x hidden``, and its gradients ``C^T (G^T h)`` and ``G
        (C W_2)`` (``G`` the scores' gradient) cost ``n_classes`` columns
        where the plain path's cost the width. A sparse ``x`` (the first
        block) is never densified. Equal to the plain path up to rounding
        (``tests/test_module.py``); ``benchmarks/wide.py`` times both.
        """
        last = self.blocks[-1]
        if last.kind != "mlp":
            return self.classifier(self.encode(x, x_dense))
        # The blocks before the last run as usual (none: x stays sparse).
        x = self.encode(x, x_dense, self.blocks[:-1])
        weight = self.classifier.weight
        merged = weight @ last.fc2.weight
        bias = torch.addmv(self.classifier.bias, weight, last.fc2.bias)
        scores = torch.addmm(bias, last.inner(x), merged.T)
        return torch.addmm(scores, x, weight.T)

    def scores(self, X):
        """Class scores of the rows of ``X`` (numpy or scipy) before diffusion,
        as a numpy array: the residual blocks and the classifier, by chunks."""
        device = self.classifier.weight.device
        out = [np.zeros((0, self.classifier.out_features), dtype=np.float32)]
        with torch.no_grad():
            for start in range(0, X.shape[0], CHUNK_ROWS):
                chunk = to_torch(X[start : start + CHUNK_ROWS], device)
                out.append(self.class_scores(chunk).cpu().numpy())
        return np.concatenate(out)

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
                h,
                self.recurrence,
                self.recurrence_t,
                self._polynomial,
                self._polynomial_workspace,
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
        key = (self.training, idx.numel(), hash(tuple(idx.tolist())))
        if key not in self._readouts:
            with torch.no_grad():
                E = torch.zeros(n, idx.numel(), device=idx.device)
                E[idx, torch.arange(idx.numel(), device=idx.device)] = 1.0
                if self._polynomial is not None:
                    E = polynomial_diffusion(self._polynomial, self.recurrence_t, E)
                else:
                    for _ in range(self.n_layers):
                        E = self.operator_t @ E
            self._readouts[key] = E.T.contiguous()
        return self._readouts[key]

    def forward(self, idx):
        if self.position is not None:  # the graph's nodes are reordered
            idx = self.position[idx.to(self.position.device)]
        need_all = self.training and self.proto_distance is not None
        if self.training and self.dropout > 0:
            h = self._diffuse(self.encode(self.features, self.features_dense))
            if not need_all:
                # The classifier acts row by row: only the rows idx are needed
                # (on Cora this skips a 2485 x 1433 x 7 product each way).
                return self.classifier(h[idx])
            logits = self.classifier(h)
        else:
            logits0 = self.class_scores(self.features, self.features_dense)
            readout = None if need_all else self._readout(idx)
            if readout is not None:
                return readout @ logits0
            logits = self._diffuse(logits0)
        # The prototype loss needs every node's scores, not only idx's.
        return (logits[idx], logits) if need_all else logits[idx]
