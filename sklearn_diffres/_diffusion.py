"""Explicit-Euler diffusion on a fitted graph, and one-way attachment."""

# Authors: The sklearn-diffres developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
import torch

from ._kernels import chebyshev_terms, diffusion_operator
from ._polynomial import DiffusionPolynomial
from ._utils import to_torch_sparse

#: Explicit Euler ``x <- (I - tau L) x`` is stable while ``tau * lambda <= 2``.
STABILITY_LIMIT = 2.0


def check_stability(step_size, lambda_max):
    """Raise if ``step_size`` would make the diffusion blow up."""
    if step_size * lambda_max > STABILITY_LIMIT:
        raise ValueError(
            f"step_size={step_size} is unstable on this graph: the diffusion "
            f"x <- x - step_size * L x grows without bound when step_size * "
            f"lambda_max(L) > 2, and lambda_max(L) = {lambda_max:.4g}. "
            f"Use step_size <= {STABILITY_LIMIT / lambda_max:.4g}."
        )


def diffuse(laplacian, X, step_size, n_steps, lambda_max=None):
    """``n_steps`` steps of ``x <- x - step_size * L x`` (returns a new array).

    Given ``lambda_max``, the largest eigenvalue of ``L``, many steps are
    computed as one Chebyshev polynomial of ``L`` when that takes fewer
    products (see :class:`~sklearn_diffres._polynomial.DiffusionPolynomial`;
    the two agree to ``POLYNOMIAL_TOLERANCE`` times the size of ``X``).
    The products run in torch on every core; the result has ``X``'s
    floating dtype (float64 for other inputs).
    """
    X = np.array(X, dtype=np.result_type(X, np.float32))
    if lambda_max is not None:
        polynomial = DiffusionPolynomial.build(step_size, lambda_max, n_steps)
        if polynomial is not None:
            return polynomial.apply(laplacian, X, step_size)
    if n_steps == 0:
        return X
    P = to_torch_sparse(
        diffusion_operator(laplacian, step_size), dtype=torch.from_numpy(X[:0]).dtype
    )
    x = torch.from_numpy(X)
    for _ in range(n_steps):
        x = P @ x
    return x.numpy()


def diffuse_attached(laplacian, W_new, Z, G, step_size, n_steps, lambda_max=None):
    """Diffuse new rows ``Z`` alongside the fitted rows ``G``, one way.

    Row ``z`` of the new rows is attached to the fitted rows by the weights
    ``W_new[z]`` and follows ``z <- z - step_size * (delta_z z - W_new[z] G)``
    with ``delta_z = sum_j W_new[z, j]``, while the fitted rows follow their
    own diffusion ``G <- G - step_size * L G`` and never see the new rows.
    Each output row thus depends only on its own input row and the fitted
    state.

    Given ``lambda_max``, the fitted trajectory is taken from the operator's
    Chebyshev terms when that costs less than the steps (see
    :func:`_attached_by_terms`): on a million fitted nodes, about 50 sparse
    products instead of ``n_steps`` = 200.
    """
    delta = np.asarray(W_new.sum(axis=1)).reshape(-1, *([1] * (Z.ndim - 1)))
    if Z.shape[0] and step_size * delta.max() > STABILITY_LIMIT:
        raise ValueError(
            f"step_size={step_size} is unstable for some new rows (step_size * "
            f"degree = {step_size * delta.max():.4g} > 2); use a smaller step_size."
        )
    if lambda_max is not None and Z.shape[0]:
        polynomial = DiffusionPolynomial.build(
            step_size, lambda_max, n_steps, tolerance=ATTACH_TOLERANCE
        )
        if polynomial is not None:
            # Work of each way, in entries touched: the steps run n_steps
            # products over L and W_new plus an update of Z; the terms
            # degree + 1 such products plus Horner's rule over the steps for
            # each new row's degree + 1 coefficients.
            columns = max(1, int(np.prod(Z.shape[1:])))
            products = (laplacian.nnz + W_new.nnz) * columns
            terms = polynomial.degree + 1
            steps_work = n_steps * (products + Z.size)
            terms_work = terms * products + n_steps * Z.shape[0] * terms
            if terms_work < steps_work:
                return _attached_by_terms(
                    laplacian, W_new, Z, G, step_size, n_steps, polynomial
                )
    Z = np.array(Z, copy=True)
    G = np.array(G, copy=True)
    for _ in range(n_steps):
        Z -= step_size * (delta * Z - W_new @ G)
        G -= step_size * (laplacian @ G)
    return Z


def _trajectory_coefficients(points, polynomial, n_steps):
    """``d[j, k] = sum_t points_j^(T-1-t) c_tk`` for ``T = n_steps``.

    ``c_tk`` are the coefficients of ``mu^t = sum_k c_tk T_k(s)`` on the
    spectrum (``P = center I + half S``), so that ``sum_t a^(T-1-t) G_t =
    sum_k d_k(a) T_k(S) G_0``. By Horner's rule over ``t``, with the
    coefficients of ``mu^(t+1) = (center + half s) mu^t``, ``s T_k =
    (T_(k+1) + T_|k-1|) / 2``, cut at the polynomial's degree; a few spare
    terms beyond the degree keep the cut from feeding back.
    """
    degree, center, half = polynomial.degree, polynomial.center, polynomial.half
    c = np.zeros(degree + ATTACH_SPARE_TERMS)
    c[0] = 1.0
    d = np.zeros((points.size, degree + 1))
    for _ in range(n_steps):
        d *= points[:, None]
        d += c[: degree + 1]
        shifted = np.zeros_like(c)
        shifted[1:] += 0.5 * c[:-1]
        shifted[:-1] += 0.5 * c[1:]
        shifted[1] += 0.5 * c[0]
        c = center * c + half * shifted
    return d


def _chebyshev_terms(laplacian, step_size, polynomial, G, dtype=np.float64):
    """``T_k(S) G`` for ``k = 0 .. degree``, one at a time, as torch tensors
    of shape ``(n_nodes, columns)`` and numpy ``dtype`` (``2 S`` is
    :meth:`~sklearn_diffres._polynomial.DiffusionPolynomial.recurrence_operator`;
    the terms from :func:`~sklearn_diffres._kernels.chebyshev_terms`, in
    place: each is valid until the next one is drawn).
    """
    x = torch.from_numpy(
        np.ascontiguousarray(np.reshape(G, (G.shape[0], -1)), dtype=dtype)
    )
    M = to_torch_sparse(
        polynomial.recurrence_operator(laplacian, step_size), dtype=x.dtype
    )
    yield x
    yield from chebyshev_terms(M, x, polynomial.degree)


def _attached_by_terms(laplacian, W_new, Z, G, step_size, n_steps, polynomial):
    """:func:`diffuse_attached` from the operator's Chebyshev terms.

    With ``a = 1 - step_size * delta``, a new row ends at ``a^T z + step_size
    * w sum_t a^(T-1-t) G_t`` and ``sum_t a^(T-1-t) G_t = sum_k d_k(a) T_k(S)
    G_0`` (:func:`_trajectory_coefficients`, at each new row's own ``a``): one
    sparse product per term, as :class:`AttachedDiffusion` builds its
    summary, and ``W_new`` times each term.
    """
    delta = np.asarray(W_new.sum(axis=1), dtype=np.float64).ravel()
    a = 1.0 - step_size * delta
    d = torch.from_numpy(_trajectory_coefficients(a, polynomial, n_steps))
    # The terms in the values' precision (the steps ran in it too); their
    # weighted sum in float64.
    dtype = np.result_type(Z, G, np.float32)
    W = to_torch_sparse(W_new, dtype=torch.from_numpy(np.zeros(0, dtype)).dtype)
    spread = torch.zeros((Z.shape[0], int(np.prod(Z.shape[1:]))), dtype=torch.float64)
    terms = _chebyshev_terms(laplacian, step_size, polynomial, G, dtype)
    for k, term in enumerate(terms):
        spread.addcmul_(d[:, k : k + 1], (W @ term).double())
    scale = (a**n_steps).reshape(-1, *([1] * (Z.ndim - 1)))
    out = scale * Z + step_size * spread.numpy().reshape(Z.shape)
    return out.astype(Z.dtype, copy=False)


#: ``AttachedDiffusion`` keeps the fitted trajectory at this many Chebyshev
#: points on each of ``ATTACH_PANELS`` intervals of ``a``.
ATTACH_POINTS = 16
ATTACH_PANELS = 3

#: Truncation of the Chebyshev series of ``mu^t`` behind the summary (see
#: ``AttachedDiffusion``): tighter than ``POLYNOMIAL_TOLERANCE``, as the
#: summary adds up to ``n_steps`` such series.
ATTACH_TOLERANCE = 1e-9

#: Chebyshev terms added to the summary per dense product.
ATTACH_BLOCK = 8

#: Terms carried beyond the degree while the coefficients of ``mu^t`` are
#: stepped from ``t`` to ``t + 1`` (the last one is dropped at each step).
ATTACH_SPARE_TERMS = 8

#: Largest ``ATTACH_PANELS * ATTACH_POINTS * n_nodes * n_columns`` kept
#: (float32 entries, 512 MB); above it new rows take the plain path.
ATTACH_MAX_ENTRIES = 2**27


class AttachedDiffusion:
    """One-way diffusion of new rows without rerunning the fitted graph.

    A new row ``z`` attached by weights ``w`` (row sum ``delta``) follows
    ``z <- a z + step_size * w G_t`` with ``a = 1 - step_size * delta`` while
    the fitted values follow ``G_t = (I - step_size L)^t G_0``, so after
    ``T`` steps ``z_T = a^T z_0 + step_size * w F(a)`` with ``F(a) =
    sum_t a^(T-1-t) G_t``. ``F`` is a polynomial in ``a`` alone: it is
    evaluated once, at Chebyshev points, while the fitted rows are diffused
    (one pass of ``T`` sparse products, Horner's rule at every point; given
    ``lambda_max``, from the Chebyshev terms of the operator when they are
    fewer, see ``_chebyshev_sums``), and a new row then costs its
    neighbours' stored values: nothing that grows with the fitted graph.
    ``F`` is interpolated at the row's ``a`` (barycentric formula).

    The points lie on ``ATTACH_PANELS`` intervals of ``1 - a``, each a fifth
    of the one before, ``[r / 5, r]``: from ``r = 1.25 * step_size *
    delta_max`` (``delta_max`` the largest off-diagonal row sum of the fitted
    graph) down. On such an interval the sum behind ``F`` converges inside
    the Bernstein ellipse through ``a = 1``, so interpolating at
    ``ATTACH_POINTS`` points errs by less than ``2.6^-ATTACH_POINTS``
    (2e-7) times the size of ``F``, float32 precision. Rows with ``a`` out
    of every interval, the few nearly cut off from the graph, are left to
    the plain path (:func:`diffuse_attached`).
    """

    def __init__(self, laplacian, G, step_size, n_steps, delta_max, lambda_max=None):
        self.step_size = step_size
        self.n_steps = n_steps
        top = min(2.0, 1.25 * step_size * delta_max)  # a >= -1: stability
        self.edges = top / 5.0 ** np.arange(ATTACH_PANELS + 1)
        k = np.arange(ATTACH_POINTS)
        theta = (2 * k + 1) * np.pi / (2 * ATTACH_POINTS)
        self.weights = (-1.0) ** k * np.sin(theta)
        high, low = self.edges[:-1, None], self.edges[1:, None]
        # Points a = 1 - r, r inside each panel [low, high].
        self.points = 1.0 - (0.5 * (high + low) + 0.5 * (high - low) * np.cos(theta))
        G = np.array(G, dtype=np.float64)
        polynomial = None
        if lambda_max is not None:
            polynomial = DiffusionPolynomial.build(
                step_size, lambda_max, n_steps, tolerance=ATTACH_TOLERANCE
            )
        if polynomial is None:
            F = self._trajectory_sums(laplacian, G, self.points.ravel())
        else:
            F = self._chebyshev_sums(laplacian, G, self.points.ravel(), polynomial)
        self.values = F.astype(np.float32).reshape(
            ATTACH_PANELS, ATTACH_POINTS, *G.shape
        )

    def _trajectory_sums(self, laplacian, G, points):
        """``F(a)`` at ``points``, step by step: ``n_steps`` sparse products,
        each followed by Horner's rule at every point."""
        F = np.zeros((points.size,) + G.shape)
        for _ in range(self.n_steps):
            # F <- a F + G_t at every point a, then G_{t+1} = G_t - step L G_t.
            F *= points.reshape(-1, *([1] * G.ndim))
            F += G
            G -= self.step_size * (laplacian @ G)
        return F

    def _chebyshev_sums(self, laplacian, G, points, polynomial):
        """``F(a)`` at ``points`` from the Chebyshev terms of the operator.

        With ``P = center I + half S``, ``mu^t = sum_k c_tk T_k(s)`` on the
        spectrum, so ``G_t = sum_k c_tk V_k`` with ``V_k = T_k(S) G_0`` and
        ``F(a) = sum_k d_k(a) V_k``, ``d_k(a) = sum_t a^(T-1-t) c_tk``. The
        ``V_k`` need one sparse product each, as many as the polynomial of
        ``P`` has terms at ``ATTACH_TOLERANCE`` (fewer than ``n_steps`` for
        long diffusions), and ``F`` is updated by a few dense products instead of two
        passes over it per step.
        """
        d = torch.from_numpy(_trajectory_coefficients(points, polynomial, self.n_steps))
        F = torch.zeros((points.size, G.size), dtype=torch.float64)
        block = torch.empty((ATTACH_BLOCK, G.size), dtype=torch.float64)
        first = 0
        terms = _chebyshev_terms(laplacian, self.step_size, polynomial, G)
        for k, term in enumerate(terms):
            block[k - first] = term.reshape(-1)
            if k - first + 1 == ATTACH_BLOCK or k == polynomial.degree:
                F.addmm_(d[:, first : k + 1], block[: k - first + 1])
                first = k + 1
        return F.numpy().reshape((points.size,) + G.shape)

    def apply(self, W_new, Z):
        """Diffused rows ``Z`` attached by ``W_new``, and the rows it covers.

        Returns ``(out, covered)``; rows not covered are left for the plain
        path.
        """
        delta = np.asarray(W_new.sum(axis=1)).ravel()
        a = 1.0 - self.step_size * delta
        r = 1.0 - a
        covered = (r <= self.edges[0]) & (r >= self.edges[-1])
        out = np.empty(Z.shape, dtype=np.float64)
        rows = np.flatnonzero(covered)
        if rows.size:
            a, r = a[rows], r[rows]
            panel = np.clip(
                np.searchsorted(-self.edges, -r, side="right") - 1,
                0,
                ATTACH_PANELS - 1,
            )
            diff = a[:, None] - self.points[panel]
            exact = diff == 0
            hit = exact.any(axis=1)
            diff[exact] = 1.0
            coef = self.weights / diff
            coef[hit] = exact[hit]
            coef /= coef.sum(axis=1, keepdims=True)
            W = W_new[rows].tocsr()
            # step * sum_j w_j sum_k coef_k F_k[j]: gather the neighbours' F.
            row_of = np.repeat(np.arange(rows.size), np.diff(W.indptr))
            gathered = np.einsum(
                "ek,ek...->e...",
                coef[row_of],
                self.values[panel[row_of], :, W.indices],
            )
            spread = np.zeros((rows.size,) + Z.shape[1:])
            np.add.at(
                spread, row_of, W.data.reshape(-1, *([1] * (Z.ndim - 1))) * gathered
            )
            scale = a.reshape(-1, *([1] * (Z.ndim - 1))) ** self.n_steps
            out[rows] = scale * Z[rows] + self.step_size * spread
        return out.astype(Z.dtype, copy=False), covered
