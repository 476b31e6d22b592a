"""
Accuracy against the number of labels on digits
===============================================

``load_digits`` (1,797 images, 64 pixels, centred and L2-normalised as the
paper's few-shot code does): Diff-ResNet, the same network without
diffusion, and ``LabelSpreading``, with 1 to 10 labelled images per class and
every other image unlabelled. Diff-ResNet runs with its defaults:
``n_layers='auto'`` chooses the amount of diffusion from the labelled images
alone (long diffusion over-smooths these 64-dimensional features once there
are 10 labels per class: 400 layers gave 0.90 there, 20 layers 0.95). Each
printed line gives the number of layers it chose.
"""

import numpy as np
from sklearn.datasets import load_digits
from sklearn.semi_supervised import LabelSpreading

from sklearn_diffres import DiffusionResNetClassifier

X, y = load_digits(return_X_y=True)
X = X - X.mean(axis=0)
X = X / np.linalg.norm(X, axis=1, keepdims=True)
models = {
    "Diff-ResNet": lambda: DiffusionResNetClassifier(random_state=0),
    "no diffusion": lambda: DiffusionResNetClassifier(n_layers=0, random_state=0),
    "LabelSpreading": lambda: LabelSpreading(
        kernel="knn", n_neighbors=20, max_iter=200
    ),
}
per_class = [1, 3, 5, 10]
scores = {name: [] for name in models}
for k in per_class:
    rng = np.random.RandomState(k)
    y_semi = np.full_like(y, -1)
    for c in range(10):
        pick = rng.choice(np.flatnonzero(y == c), k, replace=False)
        y_semi[pick] = c
    unl = y_semi == -1
    chosen = None
    for name, make in models.items():
        model = make().fit(X, y_semi)
        scores[name].append((model.transduction_[unl] == y[unl]).mean())
        if name == "Diff-ResNet":
            chosen = model.n_layers_
    print(
        f"{k:2d} labels/class: "
        + ", ".join(f"{n} {s[-1]:.3f}" for n, s in scores.items())
        + f" (n_layers_={chosen})"
    )

# %%
# Accuracy on the unlabelled images against the number of labels.
try:
    import matplotlib.pyplot as plt
except ImportError:  # the figure is optional; the numbers above are the result
    plt = None

if plt is not None:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, s in scores.items():
        ax.plot(per_class, s, marker="o", label=name)
    ax.set_xlabel("labelled images per class")
    ax.set_ylabel("accuracy on unlabelled images")
    ax.legend()
    fig.tight_layout()
    plt.show()
