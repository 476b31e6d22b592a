"""n_layers='auto' on data whose graph flattens the features: the variance floor.

    python benchmarks/auto_floor.py [--draws 6] [--n-jobs 2]

On a small graph, or one without cluster structure (Gaussian features with a
linear boundary), diffusion flattens the features within tens of layers: 200
layers can keep under 1e-6 of their variance. The criterion of
``n_layers='auto'`` standardises the diffused features before it scores them,
so it may rate flattened features as well as the raw ones, while the network,
which reads them at their scale, is then near chance. ``AUTO_MIN_VARIANCE_KEPT``
rules out the candidates whose diffused inputs keep less than that share of
the variance. This script measures which floor to use: per data set and label
draw it fits the defaults for one epoch (the criterion's scores and the
variance each candidate keeps come before training) and the network with every candidate number of layers
fixed; the choice under each floor is then read off the scores by the
package's own rule (``_auto.choose_candidate``: best leave-one-out accuracy,
then the smaller squared error, then fewer layers, among the candidates above
the floor). Every floor column also applies the package's floor on the
separation of the classes (``AUTO_MIN_SEPARATION_KEPT``); the column
"neither floor" drops both.

Data: scikit-learn's generators (Gaussian features with a linear boundary at
60 to 2,000 rows, ``make_classification``, ``make_hastie_10_2``, ``make_blobs``,
noisy two moons), and small row samples of real data (breast cancer, wine,
digits; stratified, standardised). 5 and 20 labels per class, ``--draws``
draws each; accuracy on the unlabelled rows; ``LogisticRegression`` on the
labelled rows for reference. Of the 13 tables of ``tables.py``, wine and
wdbc keep the least variance after 200 layers (0.006 and 0.008), all others
0.016 or more (twonorm, where 'auto' often chooses 200 layers, 0.02): a
floor above 0.016 would rule out 200 layers on tables where it is chosen.
"""

import argparse
import os
import warnings

import numpy as np
from joblib import Parallel, delayed
from sklearn.datasets import (
    load_breast_cancer,
    load_digits,
    load_wine,
    make_blobs,
    make_classification,
    make_hastie_10_2,
    make_moons,
)
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from _common import few_labels, write_table

FLOORS = [0.0, 1e-4, 1e-3, 1e-2, 3e-2, 1e-1]


def _gauss(n, d, informative, seed):
    rng = np.random.RandomState(100 + seed)
    X = rng.normal(size=(n, d))
    return X, (X[:, :informative].sum(axis=1) > 0).astype(int)


def _hastie(n, seed):
    X, y = make_hastie_10_2(n, random_state=seed)
    return X, (y > 0).astype(int)  # its classes are -1 and 1; -1 means unlabelled


def _rows(loader, n, seed):
    X, y = loader(return_X_y=True)
    X, _, y, _ = train_test_split(X, y, train_size=n, stratify=y, random_state=seed)
    return StandardScaler().fit_transform(X), y


DATA = {
    "Gaussian, linear, 60 x 4": lambda s: _gauss(60, 4, 1, s),
    "Gaussian, linear, 200 x 4": lambda s: _gauss(200, 4, 1, s),
    "Gaussian, linear, 1000 x 4": lambda s: _gauss(1000, 4, 1, s),
    "Gaussian, linear, 2000 x 10": lambda s: _gauss(2000, 10, 3, s),
    "make_classification 1000 x 20": lambda s: make_classification(
        1000, 20, random_state=s
    ),
    "make_classification 300 x 8": lambda s: make_classification(
        300, 8, n_informative=4, random_state=s
    ),
    "make_classification 100 x 20": lambda s: make_classification(
        100, 20, n_informative=5, random_state=s
    ),
    "make_classification 500 x 50, 3 classes": lambda s: make_classification(
        500, 50, n_informative=10, n_classes=3, random_state=s
    ),
    "make_hastie_10_2 1200": lambda s: _hastie(1200, s),
    "make_blobs 300 x 6, 3 centres": lambda s: make_blobs(
        300, 6, centers=3, cluster_std=3.0, random_state=s
    ),
    "two moons 300, noise 0.25": lambda s: make_moons(300, noise=0.25, random_state=s),
    "breast cancer, 60 rows": lambda s: _rows(load_breast_cancer, 60, s),
    "breast cancer, 100 rows": lambda s: _rows(load_breast_cancer, 100, s),
    "wine, 60 rows": lambda s: _rows(load_wine, 60, s),
    "digits, 200 rows": lambda s: _rows(load_digits, 200, s),
}


def one(name, per_class, seed):
    """Scores, variance kept and accuracy per candidate, and LR, for one draw."""
    import torch

    from sklearn_diffres import AUTO_N_LAYERS, DiffusionResNetClassifier

    torch.set_num_threads(1)
    X, y = DATA[name](seed)
    y_semi = few_labels(y, per_class, np.random.RandomState(seed))
    unl, lab = y_semi == -1, y_semi != -1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The criterion's scores come before training: one epoch is enough.
        scores = DiffusionResNetClassifier(random_state=seed, max_epochs=1)
        scores = scores.fit(X, y_semi).n_layers_scores_
        accuracy = [
            (
                DiffusionResNetClassifier(n_layers=t, random_state=seed)
                .fit(X, y_semi)
                .transduction_[unl]
                == y[unl]
            ).mean()
            for t in AUTO_N_LAYERS
        ]
        lr = LogisticRegression(max_iter=1000).fit(X[lab], y[lab])
    return (
        name,
        per_class,
        scores,
        np.array(accuracy),
        (lr.predict(X[unl]) == y[unl]).mean(),
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--draws", type=int, default=6)
    parser.add_argument("--per-class", type=int, nargs="+", default=[5, 20])
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from sklearn_diffres._auto import (
        AUTO_MIN_SEPARATION_KEPT,
        AUTO_MIN_VARIANCE_KEPT,
        choose_candidate,
    )

    jobs = [(n, k, s) for n in DATA for k in args.per_class for s in range(args.draws)]
    results = Parallel(n_jobs=args.n_jobs)(delayed(one)(*j) for j in jobs)

    header = ["data", "labels per class", "LogisticRegression", "n_layers=0"]
    header += ["neither floor"] + [f"floor {f:g}" for f in FLOORS]
    header += ["best fixed n_layers per draw", "variance kept by 200 layers"]
    rows, columns = [], []
    for name in DATA:
        for k in args.per_class:
            runs = [r for r in results if r[:2] == (name, k)]
            values = [np.mean([r[4] for r in runs]), np.mean([r[3][0] for r in runs])]
            values.append(
                np.mean([r[3][choose_candidate(r[2], k == 1, 0.0, 0.0)] for r in runs])
            )
            values += [
                np.mean([r[3][choose_candidate(r[2], k == 1, f)] for r in runs])
                for f in FLOORS
            ]
            values.append(np.mean([r[3].max() for r in runs]))
            columns.append(values)
            kept = np.median([r[2][-1, 3] for r in runs])
            rows.append([name, k, *(f"{v:.3f}" for v in values), f"{kept:.1e}"])
    means = np.mean(columns, axis=0)
    rows.append(["mean", "", *(f"{v:.3f}" for v in means), ""])
    notes = [
        f"floor f: the accuracy of the candidate n_layers='auto' chooses when "
        f"candidates keeping less than f of the inputs' variance are ruled out, "
        f"and (in every floor column) those that keep less than "
        f"AUTO_MIN_SEPARATION_KEPT = {AUTO_MIN_SEPARATION_KEPT:g} of a class "
        f"pair's squared centroid distance; neither floor: the criterion "
        f"without either rule. The package uses AUTO_MIN_VARIANCE_KEPT = "
        f"{AUTO_MIN_VARIANCE_KEPT:g}.",
        "Variance kept by 200 layers: median over the draws of the diffused "
        "inputs' total variance over the raw inputs' (the graph of the defaults).",
        f"{args.draws} label draws per data set and labels per class (the data "
        "set is drawn anew too); accuracy on the unlabelled rows; default "
        "parameters otherwise; one torch thread per fit.",
    ]
    write_table(
        "auto_floor",
        "n_layers='auto': ruling out candidates that flatten the features",
        header,
        rows,
        notes,
    )


if __name__ == "__main__":
    main()
