"""Many diffusion layers as one Chebyshev polynomial of the operator.

``n`` layers ``x <- P x`` with ``P = I - step_size L`` compute ``P^n x``.
On the spectrum of ``P``, the interval ``[1 - step_size lambda_max, 1]``,
the power ``mu^n`` is a polynomial of degree ``n``, but its Chebyshev
series on that interval decays fast: truncated where the tail is below
``POLYNOMIAL_TOLERANCE``, 200 layers at ``step_size = 1 / lambda_max`` (the
'auto' step) need 50 products with ``P`` instead of 200, 100 layers 35, 50
layers 24 (and 20 layers 15). The truncation error is at most the sum of
the dropped coefficients, for every eigenvalue, so ``p(P) x`` differs from
``P^n x`` by at most that times ``|x|`` (in the norm in which ``P`` is
symmetric). The series is used only when it needs fewer products than the
layers themselves; with ten layers or fewer it never does.
"""

# Authors: The sklearn-diffres developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
import scipy.sparse as sp
import torch
from numpy.polynomial import chebyshev

from ._kernels import polynomial_diffusion
from ._utils import to_torch_sparse

#: Largest sum of the dropped Chebyshev coefficients: the bound on
#: ``|p(P) x - P^n x| / |x|``, below float32 rounding over many layers.
POLYNOMIAL_TOLERANCE = 1e-6

#: The same bound while the network trains (every epoch runs the polynomial
#: forward and back). A relative error of 1e-2 in the diffused class scores
#: (the gradient goes through the same polynomial) needs about half the
#: products: 26 instead of 49 for 200 layers at the 'auto' step, 18 instead
#: of 34 for 100. Against 1e-3 (33 and 23 products), the benchmark tables'
#: means stayed 0.725 and 0.809 with 5 and 20 labels per class, two moons
#: 0.917, and the 100,000-point scale fit took 25.8 s instead of 29-34 s.
#: Everything that scores keeps ``POLYNOMIAL_TOLERANCE``: the validation
#: passes of early stopping (so the paper's protocol, which stops on them,
#: runs as before), predictions, ``transform`` and ``n_layers='auto'``.
TRAINING_POLYNOMIAL_TOLERANCE = 1e-2

#: The interval is widened below ``1 - step_size * lambda_max`` by this share
#: of its length, so that an estimate of ``lambda_max`` a little short of
#: the truth leaves every eigenvalue inside it.
SPECTRUM_MARGIN = 0.01


class DiffusionPolynomial:
    """``P^n`` as a truncated Chebyshev series on the spectrum of ``P``.

    Parameters
    ----------
    step_size : float
        Step of each layer, ``P = I - step_size L``.
    lambda_max : float
        Largest eigenvalue of ``L``.
    n_steps : int
        Number of layers ``n``.

    Attributes
    ----------
    coef : list of float
        Chebyshev coefficients of the kept terms.
    center, half : float
        The interval of ``mu``, ``[center - half, center + half]``.
    degree : int
        Products with ``P`` one application costs.

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> from sklearn_diffres._polynomial import DiffusionPolynomial
    >>> L = sp.csr_matrix(np.array([[1.0, -1.0], [-1.0, 1.0]]))  # lambda_max = 2
    >>> poly = DiffusionPolynomial.build(0.5, 2.0, 200)
    >>> poly.degree < 200
    True
    >>> x = np.array([[1.0], [0.0]])
    >>> P = np.eye(2) - 0.5 * L.toarray()
    >>> bool(np.allclose(poly.apply(L, x, 0.5), np.linalg.matrix_power(P, 200) @ x))
    True
    """

    def __init__(self, coef, center, half):
        self.coef = [float(c) for c in coef]
        self.center = float(center)
        self.half = float(half)
        self.degree = len(coef) - 1

    @classmethod
    def build(cls, step_size, lambda_max, n_steps, tolerance=POLYNOMIAL_TOLERANCE):
        """The truncated series, or None when the layers are as cheap."""
        width = step_size * lambda_max * (1.0 + SPECTRUM_MARGIN)
        if n_steps <= 2 or width <= 0:
            return None
        low = 1.0 - width
        center, half = 0.5 * (1.0 + low), 0.5 * (1.0 - low)
        # mu^n is a polynomial of degree n: interpolating it at n + 1
        # Chebyshev points gives its series exactly (up to rounding).
        coef = chebyshev.chebinterpolate(
            lambda s: (center + half * s) ** n_steps, n_steps
        )
        # tail[m] = sum of |coef[k]| for k > m.
        tail = np.concatenate([np.cumsum(np.abs(coef[::-1]))[::-1][1:], [0.0]])
        degree = int(np.argmax(tail <= tolerance))
        if degree >= n_steps:
            return None
        return cls(coef[: degree + 1], center, half)

    def recurrence_operator(self, laplacian, step_size):
        """``2 S`` for a scipy sparse ``L``, the matrix of :meth:`evaluate`.

        ``S = (P - center I) / half`` maps the spectrum of ``P = I - step_size
        L`` onto ``[-1, 1]``; as ``1 - center = half``, ``2 S = 2 I - (2
        step_size / half) L``. With it each term of the recurrence is one
        sparse product and one subtraction (on 100,000 nodes and 10 columns,
        0.20 s instead of 0.29 s for 49 terms).
        """
        n = laplacian.shape[0]
        scale = 2.0 * float(step_size) / self.half
        M = sp.csr_matrix(
            2.0 * sp.identity(n, dtype=laplacian.dtype, format="csr")
            - scale * sp.csr_matrix(laplacian)
        ).astype(laplacian.dtype, copy=False)
        M.sort_indices()
        return M

    def evaluate(self, x, product):
        """``p(P) x`` by the three-term recurrence; ``product(v)`` is ``2 S v``.

        ``2 S`` is :meth:`recurrence_operator`; ``product`` must return a new
        tensor. ``x`` is a torch tensor (the coefficients are Python floats,
        so float32 stays float32). This is the plain form, with a new tensor
        per term; on the CPU :func:`~sklearn_diffres._kernels.polynomial_diffusion`
        computes the same terms in place.
        """
        # T_0 = x, T_1 = S x, T_{k+1} = 2 S T_k - T_{k-1}.
        out = x * self.coef[0]
        if self.degree == 0:
            return out
        previous, current = x, product(x)
        current *= 0.5
        out.add_(current, alpha=self.coef[1])
        for c in self.coef[2:]:
            following = product(current)
            following -= previous
            out.add_(following, alpha=c)
            previous, current = current, following
        return out

    def apply(self, laplacian, X, step_size):
        """``p(P) X`` for a scipy sparse ``L`` and a numpy ``X``.

        The products run in torch, whose sparse product uses every core
        (scipy's uses one: on 100,000 nodes and 32 columns, 20 ms instead of
        40-60 ms on two cores); the result is a numpy array of ``X``'s
        floating dtype (float64 for other inputs).
        """
        X = np.asarray(X)
        if X.dtype not in (np.float32, np.float64):
            X = X.astype(np.float64)
        M = to_torch_sparse(
            self.recurrence_operator(laplacian, step_size),
            dtype=torch.float32 if X.dtype == np.float32 else torch.float64,
        )
        # evaluate reads X without writing it: a copy only if X is read-only
        # (torch warns on those).
        x = torch.from_numpy(np.require(X, requirements="W"))
        return polynomial_diffusion(self, M, x).numpy()
