"""The amount of diffusion chosen from the labelled samples (``n_layers='auto'``).

How long to diffuse depends on the data: on tables whose neighbour graph
follows the classes, long diffusion lets a few labels speak for whole
regions; on tables whose neighbours often disagree in class, every layer
mixes classes and no diffusion at all is best. Measured on the thirteen real
tables of the project's benchmark (``benchmarks/tables.py``, 5 labels per
class), the best fixed number of layers ranged from 0 to 200 depending on the
table, and with 20 labels per class ``n_layers=0`` beat ``n_layers=20`` on
average.

The criterion. For every candidate number of layers ``T``, the features
themselves are diffused, ``Z_T = (I - step_size L)^T X`` (no labels are
involved), standardised, and a ridge classifier on the labelled rows of
``Z_T`` (one-hot targets) is scored by leave-one-out, which for ridge
regression has a closed form (the PRESS residuals ``e_i / (1 - H_ii)``).
The candidate with the best leave-one-out accuracy wins, ties going to the
smaller leave-one-out squared error, then to fewer layers. It asks whether
diffusing the inputs makes the labelled samples easier to tell apart from
each other, the property the paper's analysis of the distance-diameter
ratio is about, on a linear model that costs almost nothing next to
training the network once per candidate and fold.
"""

# Authors: The sklearn-diffres developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state

from ._diffusion import diffuse

#: Candidate numbers of diffusion layers tried by ``n_layers='auto'``.
AUTO_N_LAYERS = (0, 5, 10, 20, 50, 100, 200)

#: Inputs with more features are projected onto this many random directions
#: before the criterion (a Gaussian projection keeps the linear kernel of the
#: labelled rows approximately), so that its cost does not grow with width.
AUTO_MAX_FEATURES = 128

#: Ridge penalty of the criterion, on standardised features. Of 1 and 10,
#: 10 chose better layers on the benchmark tables with 5 and with 20 labels
#: per class.
AUTO_RIDGE_ALPHA = 10.0


def loo_ridge_scores(F, y, n_classes, alpha=AUTO_RIDGE_ALPHA):
    """Leave-one-out accuracy and squared error of a ridge classifier.

    Ridge regression of one-hot targets on ``F`` with an unpenalised
    intercept; the leave-one-out residual of sample ``i`` is ``e_i / (1 -
    H_ii)`` with ``H`` the hat matrix, so no model is refitted.

    Parameters
    ----------
    F : ndarray of shape (n_samples, n_features)
        Features of the labelled samples.
    y : ndarray of shape (n_samples,)
        Class codes in ``0 .. n_classes - 1``.
    n_classes : int
        Number of classes.
    alpha : float, default=AUTO_RIDGE_ALPHA
        Ridge penalty.

    Returns
    -------
    accuracy : float
        Share of samples whose leave-one-out prediction is their class.
    squared_error : float
        Sum of the squared leave-one-out residuals (PRESS).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_diffres._auto import loo_ridge_scores
    >>> F = np.array([[0.0], [0.1], [0.2], [1.0], [1.1], [1.2]])
    >>> accuracy, _ = loo_ridge_scores(F, np.array([0, 0, 0, 1, 1, 1]), 2, 0.01)
    >>> accuracy
    1.0
    """
    n = F.shape[0]
    Y = np.zeros((n, n_classes))
    Y[np.arange(n), y] = 1.0
    Fc = F - F.mean(axis=0)
    Yc = Y - Y.mean(axis=0)
    gram = Fc.T @ Fc + alpha * np.eye(F.shape[1])
    solved = np.linalg.solve(gram, Fc.T).T  # Fc (Fc^T Fc + alpha I)^-1
    fitted = Y.mean(axis=0) + solved @ (Fc.T @ Yc)
    leverage = 1.0 / n + np.einsum("ij,ij->i", solved, Fc)
    residual = (Y - fitted) / np.maximum(1.0 - leverage, 1e-12)[:, None]
    predicted = Y - residual
    accuracy = float((predicted.argmax(axis=1) == y).mean())
    return accuracy, float((residual**2).sum())


def select_n_layers(
    laplacian,
    step_size,
    X,
    labelled,
    y,
    n_classes,
    random_state=None,
    lambda_max=None,
):
    """Choose the number of diffusion layers among ``AUTO_N_LAYERS``.

    Parameters
    ----------
    laplacian : sparse matrix of shape (n_samples, n_samples)
        The diffusion operator ``L`` of the fitted graph.
    step_size : float
        Step of each layer, ``x <- x - step_size * L x``.
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Every fitted sample.
    labelled : ndarray of int
        Indices of the labelled samples the criterion may use.
    y : ndarray of shape (len(labelled),)
        Their class codes.
    n_classes : int
        Number of classes.
    random_state : int, RandomState instance or None, default=None
        Seeds the random projection of wide inputs.
    lambda_max : float, default=None
        Largest eigenvalue of ``L``; given, long stretches of layers are
        computed as one polynomial (see :func:`~sklearn_diffres._diffusion.diffuse`).

    Returns
    -------
    n_layers : int
        The chosen number of layers.
    scores : ndarray of shape (len(AUTO_N_LAYERS), 3)
        Per candidate: number of layers, leave-one-out accuracy, and
        leave-one-out squared error.
    """
    if X.shape[1] > AUTO_MAX_FEATURES:
        rng = check_random_state(random_state)
        G = rng.normal(size=(X.shape[1], AUTO_MAX_FEATURES))
        Z = X @ G.astype(X.dtype)
    else:
        Z = X.toarray() if sp.issparse(X) else X
    Z = np.asarray(Z, dtype=laplacian.dtype)
    scores = []
    done = 0
    for n_layers in AUTO_N_LAYERS:
        Z = diffuse(laplacian, Z, step_size, n_layers - done, lambda_max=lambda_max)
        done = n_layers
        # Standardised over every fitted sample, not the labelled ones only:
        # the scale of each diffused feature is a property of the data.
        scale = Z.std(axis=0, dtype=np.float64)
        F = (Z[labelled] - Z.mean(axis=0, dtype=np.float64)) / np.where(
            scale > 0, scale, 1.0
        )
        scores.append((n_layers, *loo_ridge_scores(F, y, n_classes)))
    scores = np.array(scores)
    # Best accuracy, then the smaller squared error, then fewer layers.
    best = min(range(len(scores)), key=lambda i: (-scores[i, 1], scores[i, 2], i))
    return int(scores[best, 0]), scores
