"""One graph for a whole grid: GridSearchCV with and without ``memory``.

    python benchmarks/grid_reuse.py [--n 100000]

``make_classification`` (32 features, 10 classes, 1% labelled, the data of
``scale.py``); a grid of 8 model-only candidates (``lr`` x ``weight_decay``
x ``max_epochs``) scored by ``SemiSupervisedKFold(3)``, ``refit=False``.
Run twice, side by side in one process: without graph reuse (every
candidate and fold builds its kNN graph) and with ``memory=`` a fresh
folder (one graph per fold). Prints and writes the end-to-end times, their
ratio, and whether the ``cv_results_`` scores are identical.
"""

import argparse
import tempfile
import time

import numpy as np
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV

from _common import write_table
from sklearn_diffres import DiffusionResNetClassifier, SemiSupervisedKFold

GRID = {"lr": [0.05, 0.1], "weight_decay": [1e-4, 1e-3], "max_epochs": [10, 20]}
BASE = dict(n_layers=10, random_state=0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100000)
    parser.add_argument("--name", default="grid_reuse")
    args = parser.parse_args()
    X, y = make_classification(
        n_samples=args.n,
        n_features=32,
        n_informative=16,
        n_redundant=4,
        n_classes=10,
        n_clusters_per_class=2,
        class_sep=1.5,
        random_state=0,
    )
    X = X.astype(np.float32)
    rng = np.random.RandomState(0)
    y_semi = np.full_like(y, -1)
    lab = rng.choice(args.n, args.n // 100, replace=False)
    y_semi[lab] = y[lab]
    cv = SemiSupervisedKFold(n_splits=3, shuffle=True, random_state=0)
    runs = {}
    with tempfile.TemporaryDirectory() as folder:
        for label, extra in (
            ("without reuse", {}),
            ("memory=<folder>", {"memory": folder}),
        ):
            search = GridSearchCV(
                DiffusionResNetClassifier(**BASE, **extra), GRID, cv=cv, refit=False
            )
            t = time.perf_counter()
            search.fit(X, y_semi)
            runs[label] = (time.perf_counter() - t, search.cv_results_)
            print(label, f"{runs[label][0]:.1f} s", flush=True)
    (t0, r0), (t1, r1) = runs.values()
    same = all(
        np.array_equal(r0[key], r1[key])
        for key in r0
        if key.endswith("test_score") or key == "rank_test_score"
    )
    rows = [
        [label, f"{seconds:.1f}", f"{results['mean_test_score'].max():.4f}"]
        for label, (seconds, results) in runs.items()
    ]
    write_table(
        args.name,
        f"GridSearchCV, 8 candidates x 3 folds, n={args.n:,} (32 features, 10 classes, 1% labelled)",
        ["graph", "end-to-end s", "best mean test score"],
        rows,
        notes=[
            f"Grid {GRID} on DiffusionResNetClassifier({', '.join(f'{k}={v}' for k, v in BASE.items())}), "
            "SemiSupervisedKFold(n_splits=3, shuffle=True, random_state=0), refit=False; "
            "exact neighbours (n^2 * 32 <= 2^39).",
            f"Without reuse / with memory: {t0 / t1:.2f}x; cv_results_ scores identical: {same}.",
        ],
    )


if __name__ == "__main__":
    main()
