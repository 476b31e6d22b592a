"""Scale: graph build, fit and predict time, peak memory, accuracy.

    python benchmarks/scale.py --sizes 10000 100000 1000000 [--device cuda]

``make_classification`` (32 features, 10 classes, 1% labelled) at each size;
every (size, method) runs in a fresh subprocess so that its peak RSS is its
own. Our classifier: graph build time (exact neighbours up to 131,072
points in 32-d, pynndescent above with its numba compile included), fit
time, prediction time for 100,000 new points, peak RSS and transduction
accuracy on the unlabelled points. The peer,
``LabelSpreading(kernel='knn')``, on the same data in the same run, with its
fit time, peak RSS and accuracy; ``--ls-max`` skips it above a size (its
exact neighbour search grows with n squared).
"""

import argparse
import json
import os
import subprocess
import sys

from _common import write_table

CHILD = r"""
import json, resource, sys, time
import numpy as np
from sklearn.datasets import make_classification
method, n, device, n_layers, epochs, n_predict = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
X, y = make_classification(n_samples=n + n_predict, n_features=32, n_informative=16,
                           n_redundant=4, n_classes=10, n_clusters_per_class=2,
                           class_sep=1.5, random_state=0)
X = X.astype(np.float32)
X_new, y_new, X, y = X[n:], y[n:], X[:n], y[:n]
rng = np.random.RandomState(0)
y_semi = np.full_like(y, -1)
lab = rng.choice(n, n // 100, replace=False)
y_semi[lab] = y[lab]
unl = y_semi == -1
out = {}
if method == "diffres":
    from sklearn_diffres import DiffusionResNetClassifier, DiffusionTransformer
    graph_time = []
    fit_graph = DiffusionTransformer._fit_graph
    def timed(self, X):
        t = time.perf_counter(); fit_graph(self, X); graph_time.append(time.perf_counter() - t)
    DiffusionTransformer._fit_graph = timed
    clf = DiffusionResNetClassifier(n_neighbors=10, sigma=5, n_layers=n_layers, step_size="auto",
                                    max_epochs=epochs, optimizer="adam", lr=0.01, weight_decay=5e-4, device=device, random_state=0)
    t = time.perf_counter(); clf.fit(X, y_semi); out["fit"] = time.perf_counter() - t
    out["graph"] = graph_time[0]
    out["accuracy"] = float((clf.transduction_[unl] == y[unl]).mean())
    t = time.perf_counter(); pred = clf.predict(X_new); out["predict"] = time.perf_counter() - t
    out["predict_accuracy"] = float((pred == y_new).mean())
else:
    from sklearn.semi_supervised import LabelSpreading
    ls = LabelSpreading(kernel="knn", n_neighbors=10, max_iter=100)
    t = time.perf_counter(); ls.fit(X, y_semi); out["fit"] = time.perf_counter() - t
    out["accuracy"] = float((ls.transduction_[unl] == y[unl]).mean())
out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
print(json.dumps(out))
"""


def run(method, n, args):
    cmd = [
        sys.executable,
        "-c",
        CHILD,
        method,
        str(n),
        args.device,
        str(args.n_layers),
        str(args.max_epochs),
        str(args.n_predict),
    ]
    try:
        res = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=args.timeout,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish in {args.timeout} s"}
    if res.returncode != 0:
        return {"error": res.stderr.strip().splitlines()[-1][:80]}
    return json.loads(res.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n-layers", type=int, default=10)
    parser.add_argument("--max-epochs", type=int, default=100)
    parser.add_argument("--n-predict", type=int, default=100000)
    parser.add_argument("--ls-max", type=int, default=10**9)
    parser.add_argument("--timeout", type=int, default=3600)
    parser.add_argument("--name", default=None)
    args = parser.parse_args()
    rows = []
    ratios = []
    for n in args.sizes:
        ours = run("diffres", n, args)
        ls = run("ls", n, args) if n <= args.ls_max else {"error": "skipped (--ls-max)"}
        if "fit" in ours and "fit" in ls:
            ratios.append(
                f"n={n:,}: our fit time / LabelSpreading's = "
                f"{ours['fit'] / ls['fit']:.2f}; accuracy, ours minus "
                f"LabelSpreading's = {ours['accuracy'] - ls['accuracy']:+.4f}."
            )

        def cell(r, key, fmt):
            return fmt.format(r[key]) if key in r else r.get("error", "")

        rows.append(
            [
                f"{n:,}",
                "DiffusionResNetClassifier",
                cell(ours, "graph", "{:.1f}"),
                cell(ours, "fit", "{:.1f}"),
                cell(ours, "predict", "{:.1f}"),
                cell(ours, "peak_rss_gb", "{:.2f}"),
                cell(ours, "accuracy", "{:.4f}"),
            ]
        )
        rows.append(
            [
                f"{n:,}",
                "LabelSpreading(kernel='knn')",
                "",
                cell(ls, "fit", "{:.1f}"),
                "",
                cell(ls, "peak_rss_gb", "{:.2f}"),
                cell(ls, "accuracy", "{:.4f}"),
            ]
        )
        print(rows[-2], rows[-1], flush=True)
    write_table(
        args.name or f"scale_{args.device}",
        f"Scale, make_classification (32 features, 10 classes, 1% labelled), device={args.device}",
        [
            "n",
            "method",
            "graph s",
            "fit s",
            f"predict {args.n_predict:,} new s",
            "peak RSS GB",
            "transduction accuracy",
        ],
        rows,
        notes=[
            f"Diff-ResNet: n_neighbors=10, sigma=5, n_layers={args.n_layers}, step_size=auto, "
            f"max_epochs={args.max_epochs}; LabelSpreading: n_neighbors=10, max_iter=100.",
            "fit s includes the graph; each row is a fresh process. Neighbours are exact "
            "up to n^2 * 32 <= 2^39 (131,072 points) and found by pynndescent above, "
            "its numba compile inside graph s.",
            *ratios,
        ],
    )


if __name__ == "__main__":
    main()
