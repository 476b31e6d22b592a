"""LabelSpreading on the real tables: which rows the labels reach, and class order.

    python benchmarks/label_order.py [--draws 5] [--per-class 5 20]

The same tables, features and label draws as ``tables.py``. For
``LabelSpreading(kernel='knn')`` (scikit-learn's defaults) and
``LabelSpreading(kernel='knn', n_neighbors=10, max_iter=1000)``, the peers of
``tables.py``: accuracy on the unlabelled rows, the share of unlabelled rows
whose label distribution is all zero (no labelled row can be reached along
the directed kNN graph), and the accuracy when the classes are renamed in
reverse order (the same partition, the same draws; only which class is
``classes_[0]`` changes; the same rows are labelled).

A row that no label reaches gets ``classes_[0]``, whatever the data: where
that row share is large, the accuracy depends on how the classes are named.
A method that reads the data alone scores the same either way, up to the
random initialisation: ``DiffusionResNetClassifier(random_state=draw)`` with
its defaults is in the table for that check. The table says how much of
LabelSpreading's accuracy on each table is the artefact; ``tables.py``
reports the peers as a user gets them.
"""

import argparse
import warnings

import numpy as np
from sklearn.semi_supervised import LabelSpreading

from _common import few_labels, write_table
from tables import TABLES, load

PEERS = {
    "LabelSpreading(knn)": dict(kernel="knn"),
    "LabelSpreading(knn, 10)": dict(kernel="knn", n_neighbors=10, max_iter=1000),
}


def spread(X, y, y_semi, params):
    """(accuracy, unreached share) on the unlabelled rows of one draw."""
    unlabelled = y_semi == -1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings of max_iter=30
        ls = LabelSpreading(**params).fit(X, y_semi)
    acc = (ls.transduction_[unlabelled] == y[unlabelled]).mean()
    unreached = (ls.label_distributions_[unlabelled].sum(axis=1) == 0).mean()
    return acc, unreached


def ours(X, y, y_semi, seed):
    """Accuracy of the defaults on the unlabelled rows of one draw."""
    from sklearn_diffres import DiffusionResNetClassifier

    unlabelled = y_semi == -1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = DiffusionResNetClassifier(random_state=seed).fit(X, y_semi)
    return (clf.transduction_[unlabelled] == y[unlabelled]).mean()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--per-class", type=int, nargs="+", default=[5, 20])
    parser.add_argument("--tables", nargs="+", default=TABLES)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)

    rows = []
    shifts = {peer: [] for peer in [*PEERS, "defaults"]}
    for k in args.per_class:
        for name in args.tables:
            X, y = load(name)
            classes = np.unique(y)

            def renamed(labels):
                # Class classes[i] becomes classes[-1 - i]; -1 stays -1.
                out = labels.copy()
                known = labels != -1
                out[known] = classes[::-1][np.searchsorted(classes, labels[known])]
                return out

            draws = [
                few_labels(y, k, np.random.RandomState(s)) for s in range(args.draws)
            ]
            row = [name, k]
            for peer, params in PEERS.items():
                given = [spread(X, y, y_semi, params) for y_semi in draws]
                renamed_runs = [
                    spread(X, renamed(y), renamed(y_semi), params) for y_semi in draws
                ]
                acc = np.mean([a for a, _ in given])
                acc_r = np.mean([a for a, _ in renamed_runs])
                unreached = np.mean([u for _, u in given])
                shifts[peer].append((name, k, acc_r - acc))
                row += [f"{acc:.3f}", f"{unreached:.2f}", f"{acc_r:.3f}"]
            acc = np.mean([ours(X, y, y_semi, s) for s, y_semi in enumerate(draws)])
            acc_r = np.mean(
                [
                    ours(X, renamed(y), renamed(y_semi), s)
                    for s, y_semi in enumerate(draws)
                ]
            )
            shifts["defaults"].append((name, k, acc_r - acc))
            row += [f"{acc:.3f}", f"{acc_r:.3f}"]
            rows.append(row)
            print(row, flush=True)

    header = ["table", "labels per class"]
    for peer in PEERS:
        header += [
            f"{peer} accuracy",
            "unreached rows",
            "accuracy, classes in reverse order",
        ]
    header += ["defaults accuracy", "accuracy, classes in reverse order"]
    notes = []
    for peer, changes in shifts.items():
        big = [(n, k, d) for n, k, d in changes if abs(d) > 0.05]
        listed = ", ".join(f"{n} ({k} per class: {d:+.3f})" for n, k, d in big)
        notes.append(
            f"{peer}: accuracy moves by more than 0.05 when only the class "
            f"names are reversed on {len(big)} of {len(changes)} table settings"
            + (f": {listed}." if big else ".")
        )
    notes += [
        f"{args.draws} label draws per table and labels per class, drawn as in "
        "tables.py; standardised features; accuracy on the unlabelled rows.",
        "Unreached rows: unlabelled rows whose label distribution is all zero "
        "after fitting (LabelSpreading then predicts classes_[0] for them).",
    ]
    write_table(
        "label_order",
        "LabelSpreading on the real tables: unreached rows and class order",
        header,
        rows,
        notes=notes,
    )


if __name__ == "__main__":
    main()
