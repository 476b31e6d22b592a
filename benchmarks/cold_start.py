"""Cold start: a fresh Python process imports the package, fits, predicts.

    python benchmarks/cold_start.py [--repeats 3]

Two moons, 1,000 points, 10 labels (5 per class), default parameters. The
child process reports the time spent importing, building the neighbour graph
(measured separately on the same data), fitting and predicting, and whether
numba or pynndescent were imported (they must not be on this small input:
exact neighbours are used below ``EXACT_NEIGHBORS_MAX_SAMPLES``).

torch's optimizers import ``torch._dynamo`` on the first optimizer built in a
process (``torch.optim.Optimizer.__init__`` is wrapped to import it lazily),
so every first fit pays for that import, whatever the model. The child times
the import on its own, just before the fit, so that the fit's column is the
fit itself; the total is the same either way.
"""

import argparse
import json
import subprocess
import sys
import time

from _common import write_table

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
from sklearn.datasets import make_moons
import sklearn_diffres
from sklearn_diffres import DiffusionResNetClassifier, diffusion_graph
t_import = time.perf_counter() - t0
t = time.perf_counter()
import torch._dynamo
t_dynamo = time.perf_counter() - t
X, y = make_moons(n_samples=1000, noise=0.1, random_state=0)
rng = np.random.RandomState(0)
y_semi = np.full_like(y, -1)
for c in (0, 1):
    keep = rng.choice(np.flatnonzero(y == c), 5, replace=False)
    y_semi[keep] = c
t = time.perf_counter()
clf = DiffusionResNetClassifier(random_state=0).fit(X, y_semi)
t_fit = time.perf_counter() - t
t = time.perf_counter()
clf.predict(X + 0.01)
t_predict = time.perf_counter() - t
t = time.perf_counter()
diffusion_graph(X, 20, 10)
t_graph = time.perf_counter() - t
unl = y_semi == -1
print(json.dumps(dict(
    t_import=t_import, t_dynamo=t_dynamo, t_fit=t_fit, t_predict=t_predict, t_graph=t_graph,
    accuracy=float((clf.transduction_[unl] == y[unl]).mean()),
    numba="numba" in sys.modules, pynndescent="pynndescent" in sys.modules,
)))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for i in range(args.repeats):
        t = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", CHILD], capture_output=True, text=True, check=True
        )
        wall = time.perf_counter() - t
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(
            [
                i + 1,
                f"{wall:.2f}",
                f"{r['t_import']:.2f} ({100 * r['t_import'] / wall:.0f}%)",
                f"{r['t_dynamo']:.2f} ({100 * r['t_dynamo'] / wall:.0f}%)",
                f"{r['t_graph']:.3f} ({100 * r['t_graph'] / wall:.1f}%)",
                f"{r['t_fit']:.2f}",
                f"{r['t_predict']:.3f}",
                f"{r['accuracy']:.4f}",
                r["numba"],
                r["pynndescent"],
            ]
        )
    write_table(
        "cold_start",
        "Cold start: fresh process, two moons (1,000 points, 10 labels), default parameters",
        [
            "run",
            "total wall s",
            "imports s (share)",
            "torch._dynamo import s (share)",
            "neighbour graph s (share)",
            "fit s",
            "predict s",
            "transduction accuracy",
            "numba imported",
            "pynndescent imported",
        ],
        rows,
        notes=[
            "Total wall includes interpreter start-up; the graph is built once more, "
            "outside fit, to time it on its own (fit s includes its own graph build).",
            "torch._dynamo: imported by torch on the first optimizer a process "
            "builds (any torch training pays it once); timed on its own before the "
            "fit, which would otherwise include it.",
        ],
    )


if __name__ == "__main__":
    main()
