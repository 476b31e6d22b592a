"""Explicit-Euler diffusion on a fitted graph, and one-way attachment."""

# Authors: The sklearn-diffres developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np

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


def diffuse(laplacian, X, step_size, n_steps):
    """``n_steps`` steps of ``x <- x - step_size * L x`` (returns a new array)."""
    X = np.array(X, copy=True)
    for _ in range(n_steps):
        X -= step_size * (laplacian @ X)
    return X


def diffuse_attached(laplacian, W_new, Z, G, step_size, n_steps):
    """Diffuse new rows ``Z`` alongside the fitted rows ``G``, one way.

    Row ``z`` of the new rows is attached to the fitted rows by the weights
    ``W_new[z]`` and follows ``z <- z - step_size * (delta_z z - W_new[z] G)``
    with ``delta_z = sum_j W_new[z, j]``, while the fitted rows follow their
    own diffusion ``G <- G - step_size * L G`` and never see the new rows.
    Each output row thus depends only on its own input row and the fitted
    state.
    """
    delta = np.asarray(W_new.sum(axis=1)).reshape(-1, *([1] * (Z.ndim - 1)))
    if Z.shape[0] and step_size * delta.max() > STABILITY_LIMIT:
        raise ValueError(
            f"step_size={step_size} is unstable for some new rows (step_size * "
            f"degree = {step_size * delta.max():.4g} > 2); use a smaller step_size."
        )
    Z = np.array(Z, copy=True)
    G = np.array(G, copy=True)
    for _ in range(n_steps):
        Z -= step_size * (delta * Z - W_new @ G)
        G -= step_size * (laplacian @ G)
    return Z
