"""Shared helpers of the benchmark scripts: data loading, splits, tables."""

import os
import platform
import time

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
#: ../shared/data beside the checkout, unless SKLEARN_DIFFRES_DATA names another folder.
DATA = os.environ.get(
    "SKLEARN_DIFFRES_DATA",
    os.path.normpath(os.path.join(HERE, "..", "..", "shared", "data")),
)


def data_path(name):
    """Path of a file in ../shared/data, or a clear error naming it."""
    path = os.path.join(DATA, name)
    if not os.path.exists(path):
        raise SystemExit(
            f"Benchmark data not found: {path}\n"
            "The benchmarks read ../shared/data/ beside the project checkout."
        )
    return path


def load_cora():
    """Cora as the paper's code prepares it: ``load_citation("cora")``."""
    return load_citation("cora")


def load_citation(name):
    """A citation graph as the paper's code prepares it (../shared/data/README.md).

    ``name`` is 'cora' or 'citeseer'. Undirected, unweighted, no self-loops,
    largest connected component (Cora 2485 nodes, CiteSeer 2110), binary
    features. Returns ``(A, X, labels)`` with ``A`` and ``X`` as CSR
    matrices; features are not yet row-normalised.
    """
    z = np.load(data_path(f"{name}.npz"), allow_pickle=True)
    A = sp.csr_matrix(
        (z["adj_data"], z["adj_indices"], z["adj_indptr"]), shape=z["adj_shape"]
    )
    X = sp.csr_matrix(
        (z["attr_data"], z["attr_indices"], z["attr_indptr"]), shape=z["attr_shape"]
    )
    labels = z["labels"]
    A = A + A.T
    A.setdiag(0)
    A.eliminate_zeros()
    A.data[:] = 1.0
    _, comp = connected_components(A, directed=False)
    keep = np.flatnonzero(comp == np.bincount(comp).argmax())
    A = A[keep][:, keep].tocsr()
    X = X[keep].tocsr()
    X.data[:] = 1.0
    return A, X.astype(np.float32), labels[keep]


def few_labels(y, per_class, rng):
    """``per_class`` labels of each class drawn with ``rng``; the rest -1.

    A class with fewer samples keeps all of them.
    """
    y_semi = np.full_like(y, -1)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        keep = rng.choice(idx, min(per_class, len(idx)), replace=False)
        y_semi[keep] = c
    return y_semi


def split_per_class(labels, rng, n_train=20, n_val=30):
    """Random 20 train / 30 validation nodes per class; the rest is test.

    The sampling order of the paper's code (from the gnn-benchmark package):
    the training nodes of every class first, then the validation nodes of
    every class among the rest.
    """
    classes = np.unique(labels)
    train = np.concatenate(
        [
            rng.choice(np.flatnonzero(labels == c), n_train, replace=False)
            for c in classes
        ]
    )
    rest = np.setdiff1d(np.arange(len(labels)), train)
    val = np.concatenate(
        [rng.choice(rest[labels[rest] == c], n_val, replace=False) for c in classes]
    )
    test = np.setdiff1d(rest, val)
    return train, val, test


def row_normalize(X):
    """Features divided by their row sums (rows of zeros stay zero)."""
    s = np.asarray(X.sum(axis=1)).ravel()
    s[s == 0] = 1
    return sp.diags(1.0 / s).astype(np.float32) @ X


def machine():
    return f"{platform.node()} ({os.cpu_count()} CPUs, {platform.processor() or platform.machine()})"


def write_table(name, title, header, rows, notes=()):
    """Print a markdown table and write it to benchmarks/results/<name>.md."""
    lines = [
        f"# {title}",
        "",
        f"Machine: {machine()}; written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
    ]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, f"{name}.md")
    with open(path, "w") as f:
        f.write(text)
    print(f"written to {os.path.relpath(path)}")
