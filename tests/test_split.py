"""SemiSupervisedKFold: labelled samples are tested, unlabelled ones always train."""

import numpy as np

from sklearn_diffres import SemiSupervisedKFold


def test_semi_supervised_kfold():
    y = np.array([0, 1, 2] * 6 + [-1] * 30)
    X = np.zeros((48, 1))
    tests = []
    for train, test in SemiSupervisedKFold(
        n_splits=3, shuffle=True, random_state=0
    ).split(X, y):
        assert (y[test] != -1).all()
        assert set(np.flatnonzero(y == -1)) <= set(train)
        assert not set(train) & set(test)
        assert sorted(np.bincount(y[test])) == [2, 2, 2]
        tests.extend(test)
    assert sorted(tests) == list(np.flatnonzero(y != -1))
