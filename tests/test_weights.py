"""sample_weight in fit: the weights of the labelled samples in the loss."""

import numpy as np
import pytest
import sklearn
from sklearn.model_selection import cross_validate

from sklearn_diffres import DiffusionResNetClassifier, SemiSupervisedKFold

PARAMS = dict(n_neighbors=8, sigma=4, n_layers=20, max_epochs=40, random_state=0)


def test_unit_weights_change_nothing(imbalanced):
    X, _, y_semi = imbalanced
    plain = DiffusionResNetClassifier(**PARAMS).fit(X, y_semi)
    ones = DiffusionResNetClassifier(**PARAMS).fit(
        X, y_semi, sample_weight=np.ones(len(X))
    )
    np.testing.assert_allclose(
        ones.label_distributions_, plain.label_distributions_, rtol=0, atol=1e-6
    )


def test_zero_weight_is_an_unused_label(imbalanced):
    # The graph does not depend on the labels: a labelled sample of weight 0
    # trains exactly as an unlabelled one.
    X, _, y_semi = imbalanced
    dropped = np.flatnonzero(y_semi == 0)[:10]
    weights = np.ones(len(X))
    weights[dropped] = 0.0
    y_fewer = y_semi.copy()
    y_fewer[dropped] = -1
    weighted = DiffusionResNetClassifier(**PARAMS).fit(X, y_semi, sample_weight=weights)
    fewer = DiffusionResNetClassifier(**PARAMS).fit(X, y_fewer)
    np.testing.assert_allclose(
        weighted.label_distributions_, fewer.label_distributions_, rtol=0, atol=1e-5
    )
    # ... while weights of unlabelled samples are not used at all.
    weights[y_semi == -1] = 7.0
    again = DiffusionResNetClassifier(**PARAMS).fit(X, y_semi, sample_weight=weights)
    np.testing.assert_allclose(
        again.label_distributions_, weighted.label_distributions_, rtol=0, atol=1e-6
    )


def test_upweighted_minority_raises_its_recall(imbalanced):
    X, y, y_semi = imbalanced
    minority = (y == 1) & (y_semi == -1)
    weights = np.where(y_semi == 1, 40 / 3, 1.0)

    # n_layers as 'auto' chooses here, without the network it would average
    # in (without diffusion, weighting moves the recall less).
    def recall(sample_weight):
        clf = DiffusionResNetClassifier(n_layers=200, random_state=0)
        clf.fit(X, y_semi, sample_weight=sample_weight)
        return (clf.transduction_[minority] == 1).mean()

    assert recall(weights) > recall(None) + 0.1


@pytest.mark.parametrize(
    "make_weights, match",
    [
        (lambda y: -np.ones(len(y)), "Negative values .*sample_weight"),
        (lambda y: np.ones(5), r"sample_weight.shape == \(5,\), expected \(900,\)"),
        # Only the unlabelled samples weigh: nothing to train on.
        (lambda y: (y == -1).astype(float), "sample_weight is 0 for every labelled"),
    ],
)
def test_bad_sample_weight(imbalanced, make_weights, match):
    X, _, y_semi = imbalanced
    with pytest.raises(ValueError, match=match):
        DiffusionResNetClassifier(max_epochs=2).fit(
            X, y_semi, sample_weight=make_weights(y_semi)
        )


def test_sample_weight_routed_through_cross_validation(imbalanced):
    X, y, y_semi = imbalanced
    cv = SemiSupervisedKFold(n_splits=3, shuffle=True, random_state=0)
    weights = np.where(y_semi == 1, 40 / 3, 1.0)
    with sklearn.config_context(enable_metadata_routing=True):
        clf = (
            DiffusionResNetClassifier(**PARAMS)
            .set_fit_request(sample_weight=True)
            .set_score_request(sample_weight=False)
        )
        routed = cross_validate(
            clf,
            X,
            y_semi,
            cv=cv,
            params={"sample_weight": weights},
            return_estimator=True,
        )
        ones = cross_validate(
            clf, X, y_semi, cv=cv, params={"sample_weight": np.ones(len(X))}
        )
    plain = cross_validate(
        DiffusionResNetClassifier(**PARAMS), X, y_semi, cv=cv, return_estimator=True
    )
    np.testing.assert_allclose(ones["test_score"], plain["test_score"])
    # The weights reached the fits: the minority is predicted more often.
    first_weighted, first_plain = routed["estimator"][0], plain["estimator"][0]
    assert (first_weighted.transduction_ == 1).mean() > (
        first_plain.transduction_ == 1
    ).mean()
