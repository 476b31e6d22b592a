"""Torch kernels of the diffusion layers: autograd functions and operators.

Each diffusion layer multiplies by one constant sparse matrix, so the
kernels here are sparse products with hand-written backward passes that keep
nothing but the (transposed) operator: one layer, many layers as one
Chebyshev polynomial, and the dropout layers of the paper's graph
experiments with masks recomputed from integer noise.
"""

# Authors: The sklearn-diffres developers
# SPDX-License-Identifier: BSD-3-Clause

import math

import numpy as np
import scipy.sparse as sp
import torch

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
    symmetric), see :meth:`DiffusionPolynomial.recurrence_operator`; the
    terms of the recurrence cycle through the buffers of ``workspace`` (see
    :func:`polynomial_diffusion`).

    One autograd node: nothing but the transposed matrix is kept for backward.
    """

    @staticmethod
    def forward(ctx, x, operator, operator_t, polynomial, workspace):
        ctx.operator_t = operator_t
        ctx.polynomial = polynomial
        ctx.workspace = workspace
        return polynomial_diffusion(polynomial, operator, x, workspace)

    @staticmethod
    def backward(ctx, grad):
        g = polynomial_diffusion(ctx.polynomial, ctx.operator_t, grad, ctx.workspace)
        return g, None, None, None, None


def polynomial_diffusion(polynomial, operator, x, workspace=None):
    """``p(P) @ x`` for a torch ``x``, ``operator`` the recurrence matrix ``2 S``.

    The same three-term recurrence as :meth:`DiffusionPolynomial.evaluate`,
    with each term computed in place by one fused product on the CPU: ``T_{k+1}
    = 2 S T_k - T_{k-1}`` overwrites ``T_{k-1}`` (``addmm_`` with ``beta=-1``),
    so the terms cycle through two buffers of ``workspace`` (a list, filled on
    first use and kept by the caller; always written before it is read). A
    fresh tensor per term costs first-touch page faults once the terms are too
    large for the allocator to keep: on the million-node scale graph a product
    into a new 1,000,000 x 10 tensor took 95 ms, into an existing one 72 ms.
    The result is a new tensor. Other devices take the plain recurrence: their
    caching allocators hand back warm memory.
    """
    if x.device.type != "cpu" or polynomial.degree < 2:
        return polynomial.evaluate(x, lambda v: operator @ v)
    x = x.contiguous()
    coef = polynomial.coef
    out = x * coef[0]
    terms = chebyshev_terms(operator, x, polynomial.degree, workspace)
    for c, term in zip(coef[1:], terms):
        out.add_(term, alpha=c)
    return out


def chebyshev_terms(operator, x, degree, workspace=None):
    """``T_k(S) x`` for ``k = 1 .. degree`` on the CPU, ``operator`` = ``2 S``.

    Each term is computed in place by one fused product: ``T_{k+1} = 2 S T_k
    - T_{k-1}`` overwrites ``T_{k-1}`` (``addmm_`` with ``beta=-1``), so the
    terms cycle through the two buffers of ``workspace`` (see
    :func:`polynomial_diffusion`) and each is valid until the next one is
    drawn. ``x`` (contiguous) is only read.
    """
    older, newer = _workspace_buffers([] if workspace is None else workspace, x, 2)
    if degree < 1:
        return
    # T_1 = S x into one buffer, T_2 = 2 S T_1 - x into the other.
    _spmm_into(older, operator, x)
    older *= 0.5
    yield older
    if degree < 2:
        return
    _spmm_into(newer, operator, older)
    newer -= x
    yield newer
    for _ in range(3, degree + 1):
        older.addmm_(operator, newer, beta=-1)
        older, newer = newer, older
        yield newer


def _workspace_buffers(workspace, like, count):
    """The ``count`` tensors of ``workspace`` (a list kept by the caller),
    refilled with new ones unless they are ``count`` tensors of ``like``'s
    shape, dtype and device."""
    first = workspace[0] if workspace else None
    if len(workspace) != count or (first.shape, first.dtype, first.device) != (
        like.shape,
        like.dtype,
        like.device,
    ):
        workspace[:] = [torch.empty_like(like) for _ in range(count)]
    return workspace


def _spmm_into(out, operator, x):
    """``out <- operator @ x`` for a sparse CSR ``operator``, in place.

    ``torch.mm(sparse, dense, out=out)`` computes into a fresh zeroed tensor
    and then copies it into ``out``: on two CPU cores, for Cora's 2485 x 1433
    hidden layer, 2.05 ms, of which 1.8 ms is the first touch of the fresh
    tensor's pages. Zeroing ``out`` and accumulating into it with ``addmm_``
    took 0.95 ms; ``addmm_`` with ``beta=0``, which ignores what ``out``
    held (NaN included) and skips the zeroing pass, took 4.8-6.2 ms against
    6.1-8.5 ms for CiteSeer's 2110 x 3703 layer, with the same result. Other
    devices keep ``torch.mm(out=)``: their caching allocators hand back warm
    memory.
    """
    if out.device.type != "cpu":
        return torch.mm(operator, x, out=out)
    return out.addmm_(operator, x, beta=0)


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
        mask, spread, *pair = _workspace_buffers(workspace, like, 4)
        return mask, spread, tuple(pair)

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
