"""Scale: fit and predict time, peak memory, accuracy, with default parameters.

    python benchmarks/scale.py --sizes 10000 100000 1000000 [--device cuda]

``make_classification`` (32 features, 10 classes, 1% labelled) at each size;
every (size, method) runs in a fresh subprocess so that its peak RSS is its
own. Three methods, in the same run:

- ``DiffusionResNetClassifier(random_state=0)``: the defaults a user gets
  (``device`` aside);
- the same with the settings the first scale figures were tuned with
  (``n_neighbors=10, sigma=5, n_layers=10, optimizer='adam', lr=0.01,
  weight_decay=5e-4``), labelled as tuned;
- the peer, ``LabelSpreading(kernel='knn', n_neighbors=10, max_iter=100)``.

Fit time (the graph included: exact neighbours up to 131,072 points in
32-d, pynndescent above with its numba compile), prediction time for
100,000 new points, peak RSS and transduction accuracy on the unlabelled
points. ``--ls-max`` skips LabelSpreading above a size (its exact neighbour
search grows with n squared).
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
method, n, device, n_predict = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
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
if method in ("default", "tuned"):
    from sklearn_diffres import DiffusionResNetClassifier
    params = dict(random_state=0, device=device)
    if method == "tuned":
        params.update(TUNED)
    clf = DiffusionResNetClassifier(**params)
    t = time.perf_counter(); clf.fit(X, y_semi); out["fit"] = time.perf_counter() - t
    out["n_layers"] = int(clf.n_layers_)
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

#: The settings of the first scale figures (tuned on this data).
TUNED = dict(
    n_neighbors=10, sigma=5, n_layers=10, optimizer="adam", lr=0.01, weight_decay=5e-4
)

LABELS = {
    "default": "DiffusionResNetClassifier (defaults)",
    "tuned": "DiffusionResNetClassifier (tuned: "
    + ", ".join(f"{k}={v}" for k, v in TUNED.items())
    + ")",
    "ls": "LabelSpreading(kernel='knn', n_neighbors=10, max_iter=100)",
}


def run(method, n, args):
    cmd = [
        sys.executable,
        "-c",
        f"TUNED = {TUNED!r}\n" + CHILD,
        method,
        str(n),
        args.device,
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
    parser.add_argument(
        "--methods", nargs="+", default=list(LABELS), choices=list(LABELS)
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n-predict", type=int, default=100000)
    parser.add_argument("--ls-max", type=int, default=10**9)
    parser.add_argument("--timeout", type=int, default=3600)
    parser.add_argument("--name", default=None)
    args = parser.parse_args()
    rows, notes = [], []
    for n in args.sizes:
        results = {}
        for method in args.methods:
            if method == "ls" and n > args.ls_max:
                results[method] = {"error": "skipped (--ls-max)"}
            else:
                results[method] = run(method, n, args)
            r = results[method]

            def cell(key, fmt, r=r):
                return fmt.format(r[key]) if key in r else r.get("error", "")

            rows.append(
                [
                    f"{n:,}",
                    LABELS[method],
                    cell("n_layers", "{}") if method != "ls" else "",
                    cell("fit", "{:.1f}"),
                    cell("predict", "{:.1f}") if method != "ls" else "",
                    cell("peak_rss_gb", "{:.2f}"),
                    cell("accuracy", "{:.4f}"),
                ]
            )
            print(rows[-1], flush=True)
        ls = results.get("ls", {})
        for method in ("default", "tuned"):
            ours = results.get(method, {})
            if "fit" in ours and "fit" in ls:
                notes.append(
                    f"n={n:,}, {method}: fit time / LabelSpreading's = "
                    f"{ours['fit'] / ls['fit']:.2f}; accuracy minus LabelSpreading's = "
                    f"{ours['accuracy'] - ls['accuracy']:+.4f}."
                )
    write_table(
        args.name or f"scale_{args.device}",
        f"Scale, make_classification (32 features, 10 classes, 1% labelled), device={args.device}",
        [
            "n",
            "method",
            "n_layers_",
            "fit s",
            f"predict {args.n_predict:,} new s",
            "peak RSS GB",
            "transduction accuracy",
        ],
        rows,
        notes=[
            "Each row is a fresh process; fit s includes the neighbour graph (exact up to "
            "n^2 * 32 <= 2^39, i.e. 131,072 points; pynndescent above, its numba compile "
            "included).",
            *notes,
        ],
    )


if __name__ == "__main__":
    main()
