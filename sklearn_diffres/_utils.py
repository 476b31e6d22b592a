"""Small helpers shared by the estimators."""

# Authors: The sklearn-diffres developers
# SPDX-License-Identifier: BSD-3-Clause

from contextlib import contextmanager

import numpy as np
import scipy.sparse as sp


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
