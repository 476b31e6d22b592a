"""LabelSpreading on the real tables: which rows the labels reach, and class order.

    python benchmarks/label_order.py [--draws 5] [--per-class 5 20]

The same tables, features and label draws as ``tables.py``. For
``LabelSpreading(kernel='knn')`` (scikit-learn's defaults) and
``LabelSpreading(kernel='knn', n_neighbors=10, max_iter=1000)``, the peers of
``tables.py``: accuracy on the unlabelled rows, the share of unlabelled rows
whose label distribution is all zero (no labelled row can be reached along
the directed kNN graph), and the accuracy when the classes are renamed in
reverse order (the same partition, the same draws; only which class is
``classes_[0]`` changes; the same rows are labelled). On the rows that
LabelSpreading does reach, its accuracy and that of our defaults are put side
by side: there both methods predict from the data.

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


def spread(X, y_semi, params):
    """LabelSpreading's labels for every row, and which rows a label reached."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings of max_iter=30
        ls = LabelSpreading(**params).fit(X, y_semi)
    return ls.transduction_, ls.label_distributions_.sum(axis=1) > 0


def ours(X, y_semi, seed):
    """The defaults' labels for every row of one draw."""
    from sklearn_diffres import DiffusionResNetClassifier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = DiffusionResNetClassifier(random_state=seed).fit(X, y_semi)
    return clf.transduction_


def accuracy(y, pred, rows):
    return (pred[rows] == y[rows]).mean()


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
    reached = {peer: [] for peer in PEERS}
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
            unlabelled = [y_semi == -1 for y_semi in draws]
            every_y = np.tile(y, len(draws))  # y once per draw, as the pooled rows
            defaults = [ours(X, y_semi, s) for s, y_semi in enumerate(draws)]
            row = [name, k]
            for peer, params in PEERS.items():
                given = [spread(X, y_semi, params) for y_semi in draws]
                renamed_runs = [
                    spread(X, renamed(y_semi), params)[0] for y_semi in draws
                ]
                acc = np.mean(
                    [accuracy(y, p, u) for (p, _), u in zip(given, unlabelled)]
                )
                acc_r = np.mean(
                    [
                        accuracy(renamed(y), p, u)
                        for p, u in zip(renamed_runs, unlabelled)
                    ]
                )
                unreached = np.mean(
                    [1 - r[u].mean() for (_, r), u in zip(given, unlabelled)]
                )
                # Pooled over the draws: the rows reached in each draw, counted once.
                reached_rows = np.concatenate(
                    [u & r for (_, r), u in zip(given, unlabelled)]
                )
                shifts[peer].append((name, k, acc_r - acc))
                if reached_rows.any():
                    peer_r = accuracy(
                        every_y, np.concatenate([p for p, _ in given]), reached_rows
                    )
                    ours_r = accuracy(every_y, np.concatenate(defaults), reached_rows)
                    reached[peer].append((name, k, peer_r, ours_r))
                    on_reached = f"{peer_r:.3f} / {ours_r:.3f}"
                else:
                    on_reached = "no row reached"
                row += [f"{acc:.3f}", f"{unreached:.2f}", f"{acc_r:.3f}", on_reached]
            acc = np.mean([accuracy(y, d, u) for d, u in zip(defaults, unlabelled)])
            acc_r = np.mean(
                [
                    accuracy(renamed(y), ours(X, renamed(y_semi), s), u)
                    for s, (y_semi, u) in enumerate(zip(draws, unlabelled))
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
            "on the rows it reaches: it / defaults",
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
    for peer, pairs in reached.items():
        ahead = [(n, k, a, b) for n, k, a, b in pairs if a - b > 0.05]
        listed = ", ".join(
            f"{n} ({k} per class: {a:.3f} / {b:.3f})" for n, k, a, b in ahead
        )
        notes.append(
            f"{peer}: on the rows it reaches (pooled over the draws), more than 0.05 "
            "above the defaults on "
            f"{len(ahead)} of {len(pairs)} table settings"
            + (f": {listed}." if ahead else ".")
        )
    notes += [
        f"{args.draws} label draws per table and labels per class, drawn as in "
        "tables.py; standardised features; accuracy on the unlabelled rows.",
        "Unreached rows: unlabelled rows whose label distribution is all zero "
        "after fitting (LabelSpreading then predicts classes_[0] for them).",
        "On the rows it reaches: accuracy of LabelSpreading and of the defaults on "
        "the unlabelled rows that LabelSpreading's labels reach, pooled over the draws.",
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
