"""Serving: what ``predict`` of new rows costs, and how it grows with n.

    python benchmarks/serving.py [--sizes 2000 10000 30000] [--repeats 5] [--name serving]

``make_classification`` (32 features, 16 informative, 10 classes), 1% of the
points labelled, ``DiffusionResNetClassifier`` with default parameters
(``n_layers='auto'``, so the number of diffusion steps a prediction runs is
the fitted ``n_layers_``, printed). For each fitted size: the median time of
``predict`` for one new row and for 1,000 new rows, and for comparison
``LabelSpreading(kernel='knn')``'s ``predict`` of the same rows (fitted on the
same data). One torch thread.

A new row is attached to the fitted graph and diffused alongside it one way.
The first prediction summarises the fitted trajectory (the operator's
Chebyshev terms, at 48 values of a row's attachment weight); later rows cost
their neighbours' stored values, nothing that grows with ``n``. Graphs too
large for the summary (``ATTACH_MAX_ENTRIES``) sum the terms per chunk of
new rows instead.
"""

import argparse
import time

import numpy as np
import torch
from _common import few_labels, write_table
from sklearn.datasets import make_classification
from sklearn.semi_supervised import LabelSpreading

from sklearn_diffres import DiffusionResNetClassifier


def median_time(f, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000, 30000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--name", default="serving", help="results file name")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for n in args.sizes:
        X, y = make_classification(
            n + 1000, 32, n_informative=16, n_classes=10, random_state=0
        )
        X_fit, X_new = X[:n], X[n:]
        y_semi = few_labels(y[:n], max(2, n // 1000), np.random.RandomState(0))
        t = time.perf_counter()
        clf = DiffusionResNetClassifier(random_state=0).fit(X_fit, y_semi)
        fit_time = time.perf_counter() - t
        ls = LabelSpreading(kernel="knn").fit(X_fit, y_semi)
        first = median_time(lambda: clf.predict(X_new[:1]), 1)
        one = median_time(lambda: clf.predict(X_new[:1]), args.repeats)
        many = median_time(lambda: clf.predict(X_new), args.repeats)
        ls_one = median_time(lambda: ls.predict(X_new[:1]), args.repeats)
        ls_many = median_time(lambda: ls.predict(X_new), args.repeats)
        rows.append(
            [
                f"{n:,}",
                clf.n_layers_,
                f"{fit_time:.1f}",
                f"{first * 1e3:.1f}",
                f"{one * 1e3:.1f}",
                f"{many * 1e3:.1f}",
                f"{ls_one * 1e3:.1f}",
                f"{ls_many * 1e3:.1f}",
            ]
        )
        print(rows[-1], flush=True)
    write_table(
        args.name,
        "Serving: predict of new rows against the fitted graph",
        [
            "fitted n",
            "n_layers_ chosen",
            "fit (s)",
            "first predict, 1 row (ms)",
            "predict 1 row (ms)",
            "predict 1,000 rows (ms)",
            "LabelSpreading 1 row (ms)",
            "LabelSpreading 1,000 rows (ms)",
        ],
        rows,
        notes=[
            "make_classification, 32 features, 10 classes, 1% labelled; "
            "DiffusionResNetClassifier(random_state=0), all other parameters "
            "default; first predict timed alone (it builds the summary of the "
            f"fitted trajectory), then the median of {args.repeats} calls; one "
            "torch thread.",
        ],
    )


if __name__ == "__main__":
    main()
