"""Semi-supervised node classification on citation graphs, the paper's protocol.

    python benchmarks/cora.py                  # Cora, CPU: 5 splits x 1 init
    python benchmarks/cora.py --dataset citeseer --splits 10
    python benchmarks/cora.py --splits 100 --inits 20 --device cuda   # full

Protocol (../shared/data/README.md): largest connected component, binary
row-normalised features, the citation graph with self-loops normalised
``D^-1/2 (A + I) D^-1/2``; per split 20 labelled + 30 validation nodes per
class, the rest tested; ``x + relu(Linear(x))``, 20 diffusion layers, each
after dropout, with the authors' step and dropout per dataset (Cora 0.25 /
0.25, CiteSeer 0.2 / 0.35: ``DATASETS``), Adam (lr 0.01, weight decay 5e-4),
early stopping with patience 50 on the split's validation nodes (named through
``fit(..., validation_mask=)``, so the estimator and the transcription train
and stop on the same nodes). Split and initialisation seeds follow the paper's
code: a master RandomState(42) draws one seed per split, and each split's
RandomState draws the split and then one seed per initialisation.

Peers in the same run and table: the same network without diffusion
(``n_layers=0``), ``LabelSpreading`` on the citation graph, and logistic
regression on the features of the 20 labelled nodes per class. With
``--reference`` the plain-PyTorch transcription of the paper's training loop
(``reference_cora.py``) runs on the same splits too, each run from the
initial weights of the Diff-ResNet run beside it (minutes per run on CPU).
"""

import argparse
import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.semi_supervised import LabelSpreading

from _common import load_citation, row_normalize, split_per_class, write_table
from reference_cora import InitialWeights, run_reference
from sklearn_diffres import DiffusionResNetClassifier

#: The paper's graph settings common to every dataset; ``DATASETS`` adds each
#: dataset's own step, layers and dropout.
PAPER_SETTINGS = dict(
    residual_block="relu_linear",
    optimizer="adam",
    lr=0.01,
    weight_decay=5e-4,
    max_epochs=10000,
    early_stopping=True,  # on the split's 30 validation nodes per class
    patience=50,
    # The paper does not clip gradients. Our default clipping (at norm 1, for
    # full-batch SGD) would bind on most of these Adam steps: on Cora's first
    # split the gradient norm has median 1.66 and exceeds 1 on 93% of steps,
    # and a clipped gradient makes the weight decay relatively stronger.
    callbacks__gradient_clipping=None,
)

#: The authors' step / layers / dropout per dataset (the data README). PubMed
#: (0.4 / 10 / 0.3) is not in ../shared/data: it could not be run offline.
DATASETS = {
    "cora": dict(step_size=0.25, n_layers=20, dropout=0.25),
    "citeseer": dict(step_size=0.2, n_layers=20, dropout=0.35),
}
TITLES = {"cora": "Cora", "citeseer": "CiteSeer"}


def diffresnet(A, X, labels, train, val, seed, device, dataset="cora", **overrides):
    y = np.full_like(labels, -1)
    labelled = np.concatenate([train, val])
    y[labelled] = labels[labelled]
    settings = {**PAPER_SETTINGS, **DATASETS[dataset], **overrides}
    clf = DiffusionResNetClassifier(
        adjacency=A, device=device, random_state=seed, **settings
    )
    # The split's validation nodes, named: the estimator and the reference
    # transcription train and stop on the same nodes.
    clf.fit(X, y, validation_mask=np.isin(np.arange(len(labels)), val))
    return clf.transduction_, clf.net_.history_


def label_spreading(A, labels, train, val):
    y = np.full_like(labels, -1)
    y[train] = labels[train]
    nodes = np.arange(len(labels), dtype=float)[:, None]

    def citation_graph(a, b):
        return A  # the kernel of every node pair is its citation edge

    ls = LabelSpreading(kernel=citation_graph, alpha=0.99, max_iter=1000).fit(nodes, y)
    return ls.transduction_


def report(args, title, settings, runs, times, epochs, done):
    """Write the table of the splits done so far (rewritten after each split,
    so that a long run cut short still leaves its finished splits)."""
    rows = []
    for name, accs in runs.items():
        if not accs:
            continue
        accs = np.array(accs) * 100
        rows.append(
            [
                name,
                f"{accs.mean():.2f} ± {accs.std():.2f}",
                len(accs),
                f"{np.mean(times[name]):.1f}",
            ]
        )
    progress = "" if done == args.splits else f" ({done} of them done so far)"
    write_table(
        args.name or args.dataset,
        f"{title}, {args.splits} splits x {args.inits} inits, device={args.device}"
        + progress,
        ["model", "test accuracy (%)", "runs", "wall s / run"],
        rows,
        notes=[
            f"Diff-ResNet epochs (early stopping): mean {np.mean(epochs):.0f}, min {min(epochs)}, max {max(epochs)}.",
            "Diff-ResNet settings: "
            + ", ".join(f"{k}={v}" for k, v in {**PAPER_SETTINGS, **settings}.items()),
            "LabelSpreading: citation graph as kernel, alpha=0.99, 20 labels per class; "
            "LogisticRegression: row-normalised features of the 20 labelled nodes per class.",
            "Validation nodes: the split's 30 per class, named through validation_mask.",
            "Every figure is measured in this run; the reference transcription "
            "joins the table with --reference (minutes per run on CPU; "
            "cora_speed.py times it against the estimator).",
            "PubMed, the paper's third graph, is not in ../shared/data: it could not "
            "be run offline.",
        ],
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--inits", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--reference", action="store_true", help="also run the transcription"
    )
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="cora")
    parser.add_argument("--name", help="results/<name>.md (default: the dataset)")
    args = parser.parse_args()
    settings = DATASETS[args.dataset]
    title = TITLES[args.dataset]

    A, X, labels = load_citation(args.dataset)
    X = row_normalize(X)
    master = np.random.RandomState(42)
    split_seeds = master.randint(0, 1000000, args.splits)
    runs = {
        k: []
        for k in [
            "Diff-ResNet",
            "no diffusion",
            "LabelSpreading",
            "LogisticRegression",
            "reference",
        ]
    }
    times = {k: [] for k in runs}
    epochs = []
    for s, split_seed in enumerate(split_seeds):
        rng = np.random.RandomState(split_seed)
        train, val, test = split_per_class(labels, rng)
        init_seeds = rng.randint(0, 1000000, args.inits)
        for seed in init_seeds:
            # With --reference the transcription starts from this run's
            # initial weights (the same seed alone would draw others).
            initial = InitialWeights()
            t = time.perf_counter()
            run = (A, X, labels, train, val, int(seed), args.device, args.dataset)
            pred, history = diffresnet(*run, callbacks=[("initial_weights", initial)])
            times["Diff-ResNet"].append(time.perf_counter() - t)
            runs["Diff-ResNet"].append((pred[test] == labels[test]).mean())
            epochs.append(len(history))
            t = time.perf_counter()
            pred, _ = diffresnet(*run, n_layers=0)
            times["no diffusion"].append(time.perf_counter() - t)
            runs["no diffusion"].append((pred[test] == labels[test]).mean())
            if args.reference:
                t = time.perf_counter()
                acc, _ = run_reference(
                    A,
                    X,
                    labels,
                    train,
                    val,
                    test,
                    int(seed),
                    device=args.device,
                    initial_state=initial.state_,
                    **settings,
                )
                times["reference"].append(time.perf_counter() - t)
                runs["reference"].append(acc)
            print(
                f"split {s} seed {seed}: Diff-ResNet {runs['Diff-ResNet'][-1]:.4f} "
                f"({times['Diff-ResNet'][-1]:.1f} s, {len(history)} epochs)",
                flush=True,
            )
        t = time.perf_counter()
        pred = label_spreading(A, labels, train, val)
        times["LabelSpreading"].append(time.perf_counter() - t)
        runs["LabelSpreading"].append((pred[test] == labels[test]).mean())
        t = time.perf_counter()
        lr = LogisticRegression(max_iter=2000).fit(X[train], labels[train])
        times["LogisticRegression"].append(time.perf_counter() - t)
        runs["LogisticRegression"].append((lr.predict(X[test]) == labels[test]).mean())
        report(args, title, settings, runs, times, epochs, s + 1)


if __name__ == "__main__":
    main()
