"""Cross-validation for semi-supervised data: unlabelled samples always train."""

# Authors: The sklearn-diffres developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from sklearn.model_selection import StratifiedKFold
from sklearn.model_selection._split import _BaseKFold
from sklearn.utils import column_or_1d

from ._utils import unlabelled_mask


class SemiSupervisedKFold(_BaseKFold):
    """Stratified K-fold over the labelled samples only.

    Each test fold is a stratified fold of the labelled samples (target not
    ``-1``); its training set is every other sample, so every unlabelled
    sample is in every training fold and stays in the graph, and no
    unlabelled sample is ever scored. Use it with ``GridSearchCV`` and
    :class:`DiffusionResNetClassifier`, whose ``score`` ignores ``-1``.

    Parameters
    ----------
    n_splits : int, default=5
        Number of folds; each class needs at least this many labelled
        samples.
    shuffle : bool, default=False
        Whether to shuffle the labelled samples before splitting.
    random_state : int, RandomState instance or None, default=None
        Seeds the shuffling when ``shuffle=True``.

    See Also
    --------
    sklearn.model_selection.StratifiedKFold : The split used on the labelled
        samples.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_diffres import SemiSupervisedKFold
    >>> y = np.array([0, 1, -1, -1, 0, 1, -1, 0, 1, -1])
    >>> for train, test in SemiSupervisedKFold(n_splits=3).split(np.zeros((10, 1)), y):
    ...     print(test, set(np.flatnonzero(y == -1)) <= set(train))
    [0 1] True
    [4 5] True
    [7 8] True
    """

    def __init__(self, n_splits=5, *, shuffle=False, random_state=None):
        super().__init__(n_splits=n_splits, shuffle=shuffle, random_state=random_state)

    def _iter_test_indices(self, X=None, y=None, groups=None):
        if y is None:
            raise ValueError(
                "SemiSupervisedKFold needs y, with -1 for unlabelled samples."
            )
        y = column_or_1d(y)
        labelled = np.flatnonzero(~unlabelled_mask(y))
        if labelled.size == 0:
            raise ValueError("y has no labelled sample (every target is -1).")
        folds = StratifiedKFold(
            self.n_splits, shuffle=self.shuffle, random_state=self.random_state
        )
        for _, test in folds.split(np.zeros((labelled.size, 1)), y[labelled]):
            yield labelled[test]

    def split(self, X, y, groups=None):
        """Generate indices to split data into training and test set.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Targets, ``-1`` for unlabelled samples.
        groups : None
            Ignored.

        Yields
        ------
        train : ndarray
            Unlabelled samples and the labelled samples of the other folds.
        test : ndarray
            Labelled samples of this fold.
        """
        return super().split(X, y, groups)
