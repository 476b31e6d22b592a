"""DiffusionTransformer's number of steps on real tables: what a classifier
trained on a few labelled rows of the diffused features gets.

    python benchmarks/transformer.py [--draws 5] [--per-class 5 20] [--n-jobs 2]

The workflow: diffuse every row (labelled and unlabelled) with
``DiffusionTransformer``, train a classifier on the labelled rows of the
result, score it on the unlabelled rows. Data: the 13 tables of
``tables.py`` (standardised), digits (standardised) and two moons (1,000
points, noise 0.1); ``k`` labelled rows per class drawn with
``RandomState(draw)``. Classifiers: ``LogisticRegression``,
``KNeighborsClassifier(1)`` and ``SVC()``, scikit-learn's defaults.

Features compared:

- ``raw``: the features as they are (no diffusion).
- ``n_layers=20``: ``DiffusionTransformer(n_layers=20)``, the default before
  ``n_layers='auto'``.
- ``auto, fit(X)``: ``DiffusionTransformer()`` fitted without labels, so
  'auto' takes ``AUTO_UNLABELLED_N_LAYERS`` steps.
- ``auto, fit(X, y)``: ``DiffusionTransformer().fit_transform(X, y_semi)``,
  'auto' choosing from the draw's labels.

The transforms without labels are fitted once per data set
(``random_state=0``); the one with labels once per draw. Each data set runs in
a worker process with one torch thread.
"""

import argparse
import time
import warnings

import numpy as np
from joblib import Parallel, delayed
from sklearn.datasets import load_digits, make_moons
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from _common import few_labels, write_table
from tables import TABLES, load

FEATURES = ["raw", "n_layers=20", "auto, fit(X)", "auto, fit(X, y)"]
CLASSIFIERS = {
    "LogisticRegression": lambda: LogisticRegression(max_iter=1000),
    "1-nearest-neighbour": lambda: KNeighborsClassifier(1),
    "SVC": SVC,
}


def data_set(name):
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        return StandardScaler().fit_transform(X), y
    if name == "two moons":
        return make_moons(1000, noise=0.1, random_state=0)
    return load(name)


def run(name, per_class, draws):
    """Accuracies ``{(k, features, classifier): [per draw]}`` and the
    numbers of steps 'auto' chose with labels, ``{k: [per draw]}``."""
    import torch

    from sklearn_diffres import DiffusionTransformer

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    X, y = data_set(name)
    unlabelled_features = {
        "raw": X,
        "n_layers=20": DiffusionTransformer(n_layers=20, random_state=0).fit_transform(
            X
        ),
        "auto, fit(X)": DiffusionTransformer(random_state=0).fit_transform(X),
    }
    scores, chosen = {}, {}
    for k in per_class:
        for draw in range(draws):
            y_semi = few_labels(y, k, np.random.RandomState(draw))
            labelled = y_semi != -1
            with_labels = DiffusionTransformer(random_state=draw)
            features = {
                **unlabelled_features,
                "auto, fit(X, y)": with_labels.fit_transform(X, y_semi),
            }
            chosen.setdefault(k, []).append(with_labels.n_layers_)
            for feature, Z in features.items():
                for clf_name, make in CLASSIFIERS.items():
                    clf = make().fit(Z[labelled], y[labelled])
                    accuracy = np.mean(clf.predict(Z[~labelled]) == y[~labelled])
                    scores.setdefault((k, feature, clf_name), []).append(accuracy)
    return name, scores, chosen


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--per-class", type=int, nargs="+", default=[5, 20])
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()
    start = time.perf_counter()
    names = TABLES + ["digits", "two moons"]
    results = Parallel(n_jobs=args.n_jobs)(
        delayed(run)(name, args.per_class, args.draws) for name in names
    )
    results = {name: (scores, chosen) for name, scores, chosen in results}

    def mean(name, k, feature, classifiers=CLASSIFIERS):
        scores = results[name][0]
        return np.mean([np.mean(scores[(k, feature, c)]) for c in classifiers])

    rows = []
    for k in args.per_class:
        for name in names:
            rows.append(
                [name, k]
                + [f"{mean(name, k, f):.3f}" for f in FEATURES]
                + [" ".join(str(n) for n in results[name][1][k])]
            )
        for clf_name in CLASSIFIERS:
            rows.append(
                [f"**mean over the 13 tables, {clf_name}**", k]
                + [
                    f"{np.mean([mean(t, k, f, [clf_name]) for t in TABLES]):.3f}"
                    for f in FEATURES
                ]
                + [""]
            )
    overall = {
        f: np.mean([mean(t, k, f) for t in TABLES for k in args.per_class])
        for f in FEATURES
    }
    notes = [
        "Mean accuracy over the 13 tables, the three classifiers and "
        + " and ".join(str(k) for k in args.per_class)
        + " labels per class: "
        + ", ".join(f"{f} {v:.3f}" for f, v in overall.items())
        + ".",
        f"Rows per data set: accuracy on the unlabelled rows, mean over "
        f"{args.draws} label draws and the three classifiers "
        f"({', '.join(CLASSIFIERS)}), each trained on the labelled rows of the "
        "features; last column: the n_layers_ that 'auto' chose from each "
        "draw's labels.",
        "Default graph (20 neighbours, width 10, step 'auto') in every "
        "DiffusionTransformer; without labels 'auto' takes "
        "AUTO_UNLABELLED_N_LAYERS steps.",
        f"Whole run {time.perf_counter() - start:.0f} s with {args.n_jobs} "
        "worker processes.",
    ]
    write_table(
        "transformer",
        "DiffusionTransformer: a classifier on few labelled rows of the "
        "diffused features",
        ["data set", "labels per class", *FEATURES, "n_layers_ with labels"],
        rows,
        notes,
    )


if __name__ == "__main__":
    main()
