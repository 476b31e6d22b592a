"""The paper's four toy problems with few labels.

    python benchmarks/synthetic.py [--draws 5] [--per-class 5] [--name synthetic]

Two moons, two circles, two spirals and XOR (1,000 points each), ``per_class``
labelled points per class and the rest ``-1``; accuracy on the unlabelled
points (mean over ``draws`` random label draws) of Diff-ResNet with default
parameters, the same with the network reading the coordinates as given
(``standardize=False``), the same network without diffusion (``n_layers=0``),
``LabelSpreading(kernel='knn')`` and a supervised ``MLPClassifier`` on the
labelled points; and the distance-diameter ratio of the points before and
after ``DiffusionTransformer().fit_transform(X, y_semi)`` with the first
draw's labels, from which ``n_layers='auto'`` chooses the number of steps.
One figure per problem (points before and after diffusion, Diff-ResNet's
labels) goes to ``benchmarks/results/`` unless ``--no-figures``; the table
goes to ``benchmarks/results/<name>.md``.
"""

import argparse
import os

import numpy as np
from scipy.spatial.distance import cdist
from sklearn.datasets import make_circles, make_moons
from sklearn.neural_network import MLPClassifier
from sklearn.semi_supervised import LabelSpreading

from _common import RESULTS, few_labels, write_table
from sklearn_diffres import DiffusionResNetClassifier, DiffusionTransformer


def two_spirals(n, noise, rng):
    t = np.sqrt(rng.uniform(0.05, 1, n // 2)) * 3 * np.pi
    a = np.c_[t * np.cos(t), t * np.sin(t)] / (3 * np.pi)
    X = np.vstack([a, -a]) + rng.normal(scale=noise, size=(2 * (n // 2), 2))
    return X, np.r_[np.zeros(n // 2, int), np.ones(n // 2, int)]


def xor(n, noise, rng):
    centres = np.array([[1, 1], [-1, -1], [1, -1], [-1, 1]])
    which = rng.randint(0, 4, n)
    X = centres[which] + rng.normal(scale=noise, size=(n, 2))
    return X, (which >= 2).astype(int)


def problems():
    rng = np.random.RandomState(0)
    return {
        "two moons": make_moons(n_samples=1000, noise=0.1, random_state=0),
        "two circles": make_circles(
            n_samples=1000, noise=0.05, factor=0.5, random_state=0
        ),
        "two spirals": two_spirals(1000, 0.02, rng),
        "XOR": xor(1000, 0.35, rng),
    }


def ratio(Z, y):
    a, b = Z[y == 0], Z[y == 1]
    return cdist(a, b).min() / max(cdist(a, a).max(), cdist(b, b).max())


def fit_all(X, y_semi, seed):
    lab = y_semi != -1
    out = {
        "Diff-ResNet": DiffusionResNetClassifier(random_state=seed)
        .fit(X, y_semi)
        .transduction_,
        "Diff-ResNet, standardize=False": DiffusionResNetClassifier(
            standardize=False, random_state=seed
        )
        .fit(X, y_semi)
        .transduction_,
        "no diffusion": DiffusionResNetClassifier(n_layers=0, random_state=seed)
        .fit(X, y_semi)
        .transduction_,
        "LabelSpreading": LabelSpreading(kernel="knn", n_neighbors=20, max_iter=1000)
        .fit(X, y_semi)
        .transduction_,
        "MLP (labelled only)": MLPClassifier(max_iter=2000, random_state=seed)
        .fit(X[lab], y_semi[lab])
        .predict(X),
    }
    return out


def figure(name, X, y, Z, pred, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(10, 3.3))
    for ax, P, c, title in [
        (axes[0], X, y, "points"),
        (axes[1], Z, y, "after DiffusionTransformer()"),
        (axes[2], X, pred, "Diff-ResNet labels"),
    ]:
        ax.scatter(P[:, 0], P[:, 1], c=c, s=4, cmap="coolwarm")
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(name)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--per-class", type=int, default=5)
    parser.add_argument("--no-figures", action="store_true")
    parser.add_argument("--name", default="synthetic")
    args = parser.parse_args()
    rows = []
    for name, (X, y) in problems().items():
        accs = {}
        for d in range(args.draws):
            y_semi = few_labels(y, args.per_class, np.random.RandomState(d))
            unl = y_semi == -1
            preds = fit_all(X, y_semi, d)
            for model, pred in preds.items():
                accs.setdefault(model, []).append((pred[unl] == y[unl]).mean())
            if d == 0:
                first_draw = preds["Diff-ResNet"]
                first_labels = y_semi
        diffusion = DiffusionTransformer()
        Z = diffusion.fit_transform(X, first_labels)
        if not args.no_figures:
            slug = name.replace(" ", "_").lower()
            path = os.path.join(RESULTS, f"synthetic_{slug}.png")
            figure(name, X, y, Z, first_draw, path)
        rows.append(
            [name]
            + [f"{np.mean(a):.3f} ± {np.std(a):.3f}" for a in accs.values()]
            + [f"{ratio(X, y):.4f}", f"{ratio(Z, y):.4f}", diffusion.n_layers_]
        )
        print(rows[-1], flush=True)
    write_table(
        args.name,
        f"Toy problems, {args.per_class} labels per class, {args.draws} label draws",
        ["problem"]
        + list(accs)
        + ["ratio before", "ratio after diffusion", "steps 'auto' chose"],
        rows,
        notes=[
            "Accuracy on the unlabelled points, mean ± std over label draws (the "
            f"standard error of a mean is the std over {np.sqrt(args.draws):.2f}); "
            "default parameters for Diff-ResNet and DiffusionTransformer, which "
            "diffuses with the first draw's labels given to fit (n_layers='auto' "
            "chooses the steps from them).",
            "ratio: distance-diameter ratio (smallest distance between the classes over "
            "the largest class diameter).",
        ],
    )


if __name__ == "__main__":
    main()
