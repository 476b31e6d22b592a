"""The diffusion operator ``L`` of a graph, and its largest eigenvalue."""

# Authors: The sklearn-diffres developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import ArpackError, ArpackNoConvergence, eigsh
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import validate_params

from ._graph import _check_adjacency, _clean_csr


@validate_params(
    {"graph": ["array-like", "sparse matrix"]},
    prefer_skip_nested_validation=True,
)
def graph_laplacian(graph):
    """The diffusion operator ``L = diag(W 1) - W`` of a weight matrix.

    One diffusion layer is ``x <- x - step_size * L x``. Since ``L 1 = 0``,
    a constant signal is left unchanged.

    Parameters
    ----------
    graph : {array-like, sparse matrix} of shape (n_samples, n_samples)
        The weight matrix ``W``, e.g. from :func:`diffusion_graph`: square,
        finite and non-negative.

    Returns
    -------
    laplacian : scipy.sparse.csr_matrix of shape (n_samples, n_samples)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_diffres import diffusion_graph, graph_laplacian
    >>> X = np.random.RandomState(0).normal(size=(30, 3))
    >>> L = graph_laplacian(diffusion_graph(X, n_neighbors=5))
    >>> bool(np.allclose(L @ np.ones(30), 0))
    True
    """
    return _laplacian(_check_adjacency(graph, input_name="graph"))


def _laplacian(W):
    """``diag(W 1) - W`` of a weight matrix already known to be valid."""
    W = sp.csr_matrix(W)
    L = sp.diags(np.asarray(W.sum(axis=1)).ravel()) - W
    return _clean_csr(L)


def largest_eigenvalue(laplacian, random_state=None):
    """Largest eigenvalue of the symmetric positive semi-definite ``L``.

    Lanczos (ARPACK) on the sparse matrix; dense for tiny graphs. Falls back
    to the Gershgorin bound (an over-estimate) if Lanczos does not converge.
    """
    n = laplacian.shape[0]
    if laplacian.count_nonzero() == 0:
        return 0.0  # a graph without edges (Lanczos cannot start from L v = 0)
    if n <= 64:
        return float(np.linalg.eigvalsh(laplacian.toarray())[-1])
    v0 = check_random_state(random_state).uniform(-1, 1, size=n)
    try:
        value = eigsh(
            laplacian,
            k=1,
            which="LA",
            tol=1e-4,
            maxiter=2000,
            v0=v0,
            return_eigenvectors=False,
        )[0]
        return float(value) * (1 + 1e-4)
    except (ArpackNoConvergence, ArpackError):
        return float(2 * laplacian.diagonal().max())


def _symmetrized(laplacian, mass):
    """``M^1/2 L M^-1/2``: symmetric, with the eigenvalues of ``L``.

    ``L`` of a graph whose nodes carry masses ``M`` (merged identical rows)
    is symmetric in the mass-weighted inner product only.
    """
    if (mass == 1).all():
        return laplacian
    root = np.sqrt(mass)
    L = sp.diags(root) @ laplacian @ sp.diags(1.0 / root)
    return sp.csr_matrix((L + L.T) * 0.5)


def operator_and_spectrum(graph, random_state):
    """``L`` of a fitted graph and its largest eigenvalue."""
    laplacian = _laplacian(graph.graph_)
    lambda_max = largest_eigenvalue(_symmetrized(laplacian, graph.mass_), random_state)
    return laplacian, lambda_max
