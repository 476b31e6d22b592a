"""Wide inputs: the default classifier on thousands of features.

    python benchmarks/wide.py [--draws 3] [--epochs 10]

Cora's 1,433 and CiteSeer's 3,703 binary word features (largest connected
component, rows divided by their sums, as ``cora.py`` prepares them) taken
as a table: the graph is the default kNN graph of the rows, not the
citation graph. Beside them a dense ``make_classification`` with 1,000
features (4,000 rows, 30 informative, ``class_sep=2``).

Part 1, per training epoch: the default fit (5 labels per class) with the
class scores computed by the plain path, the classifier after the residual
block's ``n x width`` output, and by the folded one
(``DiffResNetModule.class_scores``), each with the paper's hidden width (the
number of features) and with the default width. Median of ``epochs``
epochs (skorch's ``dur``), the two paths of a setting run one after the
other.

Part 2: accuracy on the unlabelled rows and fit time of full default fits
(folded path) with the paper's width and with the default width, 5 and 20
labels per class, mean over ``draws`` label draws; logistic regression on
the labelled rows beside them.
"""

import argparse
import contextlib
import time
import warnings

import numpy as np
import torch
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from _common import few_labels, load_citation, row_normalize, write_table
from sklearn_diffres import DiffusionResNetClassifier
from sklearn_diffres._module import DiffResNetModule


def datasets():
    for name in ("cora", "citeseer"):
        _, X, y = load_citation(name)
        yield f"{name} words", row_normalize(X), np.asarray(y, dtype=int)
    X, y = make_classification(
        4000, 1000, n_informative=30, n_classes=4, class_sep=2.0, random_state=0
    )
    yield "make_classification", StandardScaler().fit_transform(X), y


@contextlib.contextmanager
def plain_class_scores():
    """The classifier applied to the blocks' output, as before the folding."""
    folded = DiffResNetModule.class_scores

    def plain(self, x, x_dense=None):
        return self.classifier(self.encode(x, x_dense))

    DiffResNetModule.class_scores = plain
    try:
        yield
    finally:
        DiffResNetModule.class_scores = folded


def fit(X, y_semi, seed, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        clf = DiffusionResNetClassifier(random_state=seed, **params).fit(X, y_semi)
    return clf, time.perf_counter() - t


def epoch_ms(clf):
    return 1000 * float(np.median(clf.net_.history[:, "dur"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()

    speed, accuracy = [], []
    for name, X, y in datasets():
        widths = {"paper (n_features)": X.shape[1], "default": None}
        y_semi = few_labels(y, 5, np.random.RandomState(0))
        for label, hidden in widths.items():
            times = {}
            for path in ("plain", "folded"):
                ctx = (
                    plain_class_scores()
                    if path == "plain"
                    else contextlib.nullcontext()
                )
                with ctx:
                    clf, _ = fit(
                        X,
                        y_semi,
                        0,
                        hidden_layer_size=hidden,
                        max_epochs=args.epochs,
                    )
                times[path] = epoch_ms(clf)
            width = clf.net_.module_.blocks[0].fc1.out_features
            speed.append(
                [
                    name,
                    f"{X.shape[0]} x {X.shape[1]}",
                    f"{label}: {width}",
                    f"{times['plain']:.0f}",
                    f"{times['folded']:.0f}",
                    f"{times['plain'] / times['folded']:.1f}x",
                ]
            )
            print(speed[-1], flush=True)
        for per_class in (5, 20):
            cells = {label: ([], []) for label in widths}
            lr = []
            for seed in range(args.draws):
                y_semi = few_labels(y, per_class, np.random.RandomState(seed))
                unlabelled = y_semi == -1
                for label, hidden in widths.items():
                    clf, seconds = fit(X, y_semi, seed, hidden_layer_size=hidden)
                    pred = clf.transduction_[unlabelled]
                    cells[label][0].append(np.mean(pred == y[unlabelled]))
                    cells[label][1].append(seconds)
                model = LogisticRegression(max_iter=1000)
                model.fit(X[~unlabelled], y_semi[~unlabelled])
                lr.append(np.mean(model.predict(X[unlabelled]) == y[unlabelled]))
            row = [name, per_class]
            for label in widths:
                acc, seconds = cells[label]
                row += [f"{np.mean(acc):.3f}", f"{np.mean(seconds):.1f}"]
            accuracy.append(row + [f"{np.mean(lr):.3f}"])
            print(accuracy[-1], flush=True)

    threads = torch.get_num_threads()
    write_table(
        "wide",
        "Wide inputs: ms per training epoch, plain and folded class scores",
        ["data", "rows x features", "hidden width", "plain", "folded", "ratio"],
        speed,
        notes=[
            f"Default classifier, 5 labels per class (draw 0), max_epochs="
            f"{args.epochs}, median epoch time in ms; {threads} torch threads.",
            "Plain: the classifier after the residual block's n x width output;"
            " folded: DiffResNetModule.class_scores. Same weights and data,"
            " run one after the other.",
        ],
    )
    header = ["data", "labels per class"]
    for label in ("paper width", "default width"):
        header += [f"{label}: accuracy", f"{label}: fit s"]
    write_table(
        "wide_accuracy",
        "Wide inputs: the paper's hidden width against the default",
        header + ["LogisticRegression"],
        accuracy,
        notes=[
            f"Default classifier (folded class scores), hidden_layer_size="
            f"n_features (the paper's) or None (the default); mean over "
            f"{args.draws} label draws; accuracy on the unlabelled rows; "
            f"{threads} torch threads.",
        ],
    )


if __name__ == "__main__":
    main()
