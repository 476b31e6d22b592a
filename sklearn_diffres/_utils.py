"""Small helpers shared by the estimators."""

# Authors: The sklearn-diffres developers
# SPDX-License-Identifier: BSD-3-Clause

import warnings
from contextlib import contextmanager
from numbers import Number

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import reverse_cuthill_mckee

#: Rows handled at once where work grows with the number of rows: pair
#: distances of neighbours, new rows attached and diffused in transform and
#: predict, rows pushed through the residual blocks. Memory then grows with
#: this, not with the input.
CHUNK_ROWS = 65536


@contextmanager
def restore_on_failure(estimator):
    """Leave ``estimator`` exactly as it was if the block raises.

    ``fit`` sets its fitted attributes one after another; a fit that fails
    half way would otherwise leave a mixture of the old model and the new
    one (a new graph under an old network, say), or a first fit that failed
    would leave attributes that make ``predict`` fail with an
    ``AttributeError`` instead of ``NotFittedError``. Fitted attributes are
    always reassigned, never changed in place, so a shallow copy of the
    instance dictionary is enough to restore them.
    """
    state = dict(estimator.__dict__)
    try:
        yield
    except BaseException:
        estimator.__dict__.clear()
        estimator.__dict__.update(state)
        raise


def same_format(X, like):
    """``X`` as dense or CSR rows, whichever ``like`` (the fitted rows) is.

    An estimator fitted on sparse rows must accept dense ones at predict
    time, and the other way round, as scikit-learn's estimators do.
    """
    if sp.issparse(like) and not sp.issparse(X):
        return sp.csr_matrix(np.asarray(X))
    if not sp.issparse(like) and sp.issparse(X):
        return X.toarray()
    return X


def distinct_rows(X):
    """One representative per set of identical rows, in order of first sight.

    Returns ``(first, inverse)``: ``first`` holds the index of the first of
    each set of identical rows (increasing), and ``X[first][inverse]`` equals
    ``X``. Without duplicates, both are ``arange(n_samples)``. ``-0.0`` and
    ``0.0`` count as equal (they are at distance 0).

    Dense rows are compared through their bytes; sparse rows through two
    random projections, then checked entry by entry.
    """
    if sp.issparse(X):
        X = sp.csr_matrix(X, copy=True)
        X.sum_duplicates()
        X.eliminate_zeros()
        projection = np.random.RandomState(0).normal(size=(X.shape[1], 2))
        keys = np.ascontiguousarray(X @ projection, dtype=np.float64) + 0.0
    else:
        keys = np.ascontiguousarray(X) + 0.0
    _, first, inverse = _unique_rows(keys)
    if sp.issparse(X):
        # Equal projections of different rows are (almost surely) never seen;
        # should they be, those rows become nodes of their own.
        mismatch = np.flatnonzero(
            np.diff(abs(X - X[first[inverse]]).tocsr().indptr) > 0
        )
        if mismatch.size:
            inverse = inverse.copy()
            inverse[mismatch] = first.size + np.arange(mismatch.size)
            first = np.concatenate([first, mismatch])
    # Number the sets in order of first sight: with no duplicates, nothing
    # changes order.
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return first[order], rank[inverse]


def _unique_rows(A):
    """``np.unique(A, axis=0)`` on the rows' bytes (faster, any float dtype)."""
    rows = A.reshape(A.shape[0], -1)
    view = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1])))
    return np.unique(view.ravel(), return_index=True, return_inverse=True)


def _is_missing(v):
    """None, a float NaN or pandas' NA."""
    if v is None or type(v).__name__ == "NAType":
        return True
    return isinstance(v, float) and v != v


def unlabelled_mask(y):
    """Boolean mask of the samples whose target marks them as unlabelled.

    The marker is ``-1``, as in scikit-learn's semi-supervised estimators.
    With string labels it may also be the string ``'-1'`` (what numpy makes
    of ``-1`` in a list of strings), and in object arrays (a pandas string
    column, say) a missing value: ``None``, ``NaN`` or ``pd.NA``.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Targets, ``-1`` for unlabelled samples.

    Returns
    -------
    mask : ndarray of bool of shape (n_samples,)

    Examples
    --------
    >>> from sklearn_diffres import unlabelled_mask
    >>> unlabelled_mask([0, 1, -1, 1]).tolist()
    [False, False, True, False]
    >>> unlabelled_mask(["cat", None, "dog", -1]).tolist()
    [False, True, False, True]
    """
    y = np.asarray(y)
    if y.dtype.kind in "iuf":
        return y == -1
    if y.dtype.kind in "US":
        return y == y.dtype.type("-1")
    if y.dtype.kind == "O":
        return np.array(
            [
                _is_missing(v)
                or (isinstance(v, Number) and not isinstance(v, bool) and v == -1)
                or (isinstance(v, str) and v == "-1")
                for v in y
            ],
            dtype=bool,
        )
    return np.zeros(y.shape[0], dtype=bool)


#: Graphs of at least this many nodes are numbered in reverse Cuthill-McKee
#: order (:func:`locality_order`): neighbours get nearby numbers, so the
#: sparse products that diffuse read the values they gather from cache. On
#: two CPU cores, with ten columns, a product on the 100,000-node graph of
#: the scale benchmark took 3.9 ms instead of 5.1 ms, on its
#: 1,000,000-node graph 165 ms instead of 286 ms (the ordering itself 0.05 s
#: and 1.1 s); smaller graphs fit in cache either way, and keep the samples'
#: order (hence the order of floating-point sums).
REORDER_MIN_NODES = 2**15


def locality_order(matrix):
    """Reverse Cuthill-McKee order of a structurally symmetric sparse matrix.

    Returns ``(order, position)``: node ``order[j]`` becomes node ``j``, and
    ``position[i]`` is the new number of node ``i``.
    """
    order = reverse_cuthill_mckee(sp.csr_matrix(matrix), symmetric_mode=True)
    order = order.astype(np.intp)
    position = np.empty_like(order)
    position[order] = np.arange(order.size)
    return order, position


def to_torch_sparse(matrix, dtype=torch.float32):
    """A scipy sparse matrix as a torch sparse CSR tensor.

    Indices are ``int32`` when they fit: torch's CPU product with a dense
    matrix then took 2.7 ms instead of 3.6 ms for Cora's operator times its
    1433 features (``int64`` above ``2^31 - 1`` entries).
    """
    matrix = sp.csr_matrix(matrix)
    index = np.int32 if max(matrix.nnz, *matrix.shape) < 2**31 else np.int64
    with warnings.catch_warnings():
        # torch notes that CSR support is "in beta"; it says nothing to users.
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support")
        warnings.filterwarnings("ignore", message="Sparse invariant checks")
        return torch.sparse_csr_tensor(
            torch.from_numpy(matrix.indptr.astype(index)),
            torch.from_numpy(matrix.indices.astype(index)),
            torch.from_numpy(matrix.data).to(dtype),
            size=matrix.shape,
            check_invariants=False,
        )
