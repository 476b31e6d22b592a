"""
Diffused features for a linear model, with the labels given to fit
===================================================================

``DiffusionTransformer`` diffuses the features alone, for a model of your
choice. Given the labels in ``fit`` (``-1`` for unlabelled rows, which is
what a ``Pipeline`` hands it), ``n_layers='auto'`` chooses the number of
steps from them with the classifier's criterion; without labels it takes
two steps. Here: digits (standardised pixels), 5 labelled images per class,
and logistic regression trained on the labelled rows of each set of
features, scored on the unlabelled rows. Each printed line gives the
number of steps used.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from sklearn_diffres import DiffusionTransformer

X, y = load_digits(return_X_y=True)
X = StandardScaler().fit_transform(X)
rng = np.random.RandomState(0)
y_semi = np.full_like(y, -1)
for c in range(10):
    y_semi[rng.choice(np.flatnonzero(y == c), 5, replace=False)] = c
labelled = y_semi != -1

with_labels = DiffusionTransformer(random_state=0)
without_labels = DiffusionTransformer(random_state=0)
twenty_steps = DiffusionTransformer(n_layers=20, random_state=0)
features = {
    "raw pixels": (X, 0),
    "fit(X)": (without_labels.fit_transform(X), without_labels.n_layers_),
    "n_layers=20": (twenty_steps.fit_transform(X), twenty_steps.n_layers_),
    "fit(X, y_semi)": (with_labels.fit_transform(X, y_semi), with_labels.n_layers_),
}
accuracy = {}
for name, (Z, steps) in features.items():
    lr = LogisticRegression(max_iter=1000).fit(Z[labelled], y[labelled])
    accuracy[name] = (lr.predict(Z[~labelled]) == y[~labelled]).mean()
    print(f"{name:15s} {steps:3d} steps: accuracy {accuracy[name]:.3f}")

fig, ax = plt.subplots(figsize=(5, 3))
ax.barh(list(accuracy), list(accuracy.values()))
ax.set_xlim(0.5, 1.0)
ax.set_xlabel("accuracy on the unlabelled images")
ax.set_title("Logistic regression, 5 labels per class (digits)")
fig.tight_layout()
plt.show()
