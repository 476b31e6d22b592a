"""Sparse inputs: the first layer as a weighted sum of weight rows, against
torch's sparse product.

    python benchmarks/sparse_input.py [--repeats 31] [--epochs 20]

A sparse CSR input ``x`` (bag-of-words rows) meets the first residual block
as ``x W^T``. On the CPU the block computes it with ``F.embedding_bag``:
each row of the product is the sum of the rows of ``W^T`` that the row's
nonzero entries select, weighted by them. Before, it called
``torch.addmm(bias, x, W^T)`` (a sparse CSR times dense product).

Part 1, the layer alone, on Cora's and CiteSeer's words (row-normalised, as
the citation benchmarks feed them), at the paper's hidden width (the number
of features) and the default (256), on one and two torch threads: median
milliseconds of the forward pass and of the backward pass (the gradient of
``W``; timed as forward and backward, less the forward), for both, and how
far apart their outputs and gradients are.

Part 2, whole fits with both first layers, alternating in one process: the
authors' CiteSeer settings (``cora.py``'s, ``--epochs`` epochs, fewer than
early stopping's patience; median epoch time), and the default classifier on
CiteSeer's words with 5 labels per class (fit seconds). Two torch threads.
"""

import argparse
import contextlib
import time
import warnings

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from _common import few_labels, load_citation, row_normalize, split_per_class
from _common import write_table
from cora import diffresnet
from sklearn_diffres import DiffusionResNetClassifier
from sklearn_diffres._module import _ResidualBlock, _transposed_layout
from sklearn_diffres._utils import to_torch_sparse


def addmm_inner(self, x):
    """The first layer as before: torch's sparse CSR product."""
    if x.layout != torch.sparse_csr:
        return F.relu(self.fc1(x))
    return F.relu(torch.addmm(self.fc1.bias, x, self.fc1.weight.T))


@contextlib.contextmanager
def first_layer(path):
    """Run the block's first layer by ``path``: 'embedding_bag' (as shipped)
    or 'addmm'."""
    shipped = _ResidualBlock.inner
    if path == "addmm":
        _ResidualBlock.inner = addmm_inner
    try:
        yield
    finally:
        _ResidualBlock.inner = shipped


def median_ms(functions, repeats):
    """Median milliseconds of each of ``functions``, called in turn in every
    repeat (so that drift on the machine hits all of them), after one
    warm-up call each."""
    for f in functions:
        f()
    times = [[] for _ in functions]
    for _ in range(repeats):
        for f, kept in zip(functions, times):
            t = time.perf_counter()
            f()
            kept.append(time.perf_counter() - t)
    return [1000 * float(np.median(kept)) for kept in times]


#: The first layer by each path, called on a block.
PATHS = {"addmm": addmm_inner, "embedding_bag": _ResidualBlock.inner}


def layer_rows(repeats):
    rows = []
    for name in ("cora", "citeseer"):
        _, X, _ = load_citation(name)
        X = sp.csr_matrix(row_normalize(X), dtype=np.float32)
        x = to_torch_sparse(X)
        for width in (X.shape[1], 256):
            torch.manual_seed(0)
            block = _ResidualBlock(X.shape[1], "mlp", width)
            _transposed_layout(block.fc1.weight)  # as set_graph lays it out
            grad = torch.randn(X.shape[0], width, generator=torch.Generator())

            def forward(inner):
                with torch.no_grad():
                    return inner(block, x)

            def both(inner):
                block.fc1.weight.grad = None
                inner(block, x).backward(grad)
                return block.fc1.weight.grad

            outputs = {p: (forward(f), both(f)) for p, f in PATHS.items()}
            for threads in (1, 2):
                torch.set_num_threads(threads)
                forwards = median_ms(
                    [lambda f=f: forward(f) for f in PATHS.values()], repeats
                )
                totals = median_ms(
                    [lambda f=f: both(f) for f in PATHS.values()], repeats
                )
                # backward alone: forward and backward, less forward
                cells = {
                    p: (fw, total - fw) for p, fw, total in zip(PATHS, forwards, totals)
                }
                out_diff = (outputs["addmm"][0] - outputs["embedding_bag"][0]).abs()
                grad_diff = outputs["addmm"][1] - outputs["embedding_bag"][1]
                relative = float(grad_diff.norm() / outputs["addmm"][1].norm())
                rows.append(
                    [
                        name,
                        f"{X.shape[0]} x {X.shape[1]}, {X.nnz} nonzeros",
                        width,
                        threads,
                        f"{cells['addmm'][0]:.2f}",
                        f"{cells['embedding_bag'][0]:.2f}",
                        f"{cells['addmm'][0] / cells['embedding_bag'][0]:.2f}x",
                        f"{cells['addmm'][1]:.2f}",
                        f"{cells['embedding_bag'][1]:.2f}",
                        f"{cells['addmm'][1] / cells['embedding_bag'][1]:.2f}x",
                        f"{float(out_diff.max()):.1e} / {relative:.1e}",
                    ]
                )
                print(rows[-1], flush=True)
    return rows


def fit_rows(epochs):
    torch.set_num_threads(2)
    A, X, labels = load_citation("citeseer")
    X = row_normalize(X)
    train, val = split_per_class(labels, np.random.RandomState(0))[:2]
    y_semi = few_labels(labels, 5, np.random.RandomState(0))
    unlabelled = y_semi == -1
    results = {}
    # Alternating, three times each, so that drift on the machine hits both.
    for _ in range(3):
        for path in ("addmm", "embedding_bag"):
            with first_layer(path), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _, history = diffresnet(
                    A,
                    X,
                    labels,
                    train,
                    val,
                    0,
                    "cpu",
                    dataset="citeseer",
                    max_epochs=epochs,
                )
                t = time.perf_counter()
                clf = DiffusionResNetClassifier(random_state=0).fit(X, y_semi)
                seconds = time.perf_counter() - t
            accuracy = np.mean(clf.transduction_[unlabelled] == labels[unlabelled])
            results.setdefault(path, []).append(
                (
                    1000 * float(np.median(history[:, "dur"])),
                    seconds,
                    accuracy,
                    history[-1, "train_loss"],
                )
            )
            print(path, results[path][-1], flush=True)

    def median(path, k):
        return float(np.median([run[k] for run in results[path]]))

    a, b = results["addmm"], results["embedding_bag"]
    return [
        f"Part 2, CiteSeer with the authors' settings (first split of seed 0, "
        f"initialisation 0), {epochs} epochs (early stopping's patience is 50), two torch "
        f"threads, median epoch over the run, median of 3 runs each, "
        f"alternating: addmm {median('addmm', 0):.0f} ms, embedding_bag "
        f"{median('embedding_bag', 0):.0f} ms "
        f"({median('addmm', 0) / median('embedding_bag', 0):.2f}x); training "
        f"loss of the last epoch {a[0][3]:.5f} and {b[0][3]:.5f}.",
        f"Part 2, the default classifier on CiteSeer's words, 5 labels per "
        f"class (draw 0), two torch threads, fit seconds (median of 3 runs "
        f"each): addmm {median('addmm', 1):.2f}, embedding_bag "
        f"{median('embedding_bag', 1):.2f} "
        f"({median('addmm', 1) / median('embedding_bag', 1):.2f}x); accuracy on "
        f"the unlabelled rows {a[0][2]:.3f} and {b[0][2]:.3f}.",
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=31)
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    layer = layer_rows(args.repeats)
    fits = fit_rows(args.epochs)
    write_table(
        "sparse_input",
        "Sparse inputs: the first layer by embedding_bag against torch's sparse product",
        [
            "words",
            "rows x features",
            "width",
            "threads",
            "forward ms: addmm",
            "embedding_bag",
            "ratio",
            "backward ms: addmm",
            "embedding_bag",
            "ratio",
            "largest output difference / relative gradient difference",
        ],
        layer,
        notes=[
            "Part 1: the first residual block's layer relu(x W^T + b) on the "
            "row-normalised words, median of the repeats after one warm-up; "
            "backward computes the gradient of W from a fixed random gradient "
            "of the output, timed as forward and backward less the forward.",
            *fits,
        ],
    )


if __name__ == "__main__":
    main()
