"""
Diffusion moving the points of two moons
========================================

:class:`~sklearn_diffres.DiffusionTransformer` with more and more steps:
neighbours are pulled together, each moon contracts along itself, and the
distance-diameter ratio (smallest distance between the moons over the largest
moon diameter) grows -- the effect the paper's animation shows.
"""

import matplotlib.pyplot as plt
from scipy.spatial.distance import cdist
from sklearn.datasets import make_moons

from sklearn_diffres import DiffusionTransformer

X, y = make_moons(n_samples=600, noise=0.08, random_state=0)


def ratio(Z):
    a, b = Z[y == 0], Z[y == 1]
    return cdist(a, b).min() / max(cdist(a, a).max(), cdist(b, b).max())


steps = [0, 5, 20, 80]
fig, axes = plt.subplots(1, len(steps), figsize=(3.2 * len(steps), 3.2))
for ax, n_steps in zip(axes, steps):
    Z = DiffusionTransformer(n_layers=n_steps).fit_transform(X)
    ax.scatter(Z[:, 0], Z[:, 1], c=y, s=5, cmap="coolwarm")
    ax.set_title(f"{n_steps} steps, ratio {ratio(Z):.3f}")
    ax.set_xticks([])
    ax.set_yticks([])
    print(f"{n_steps:3d} steps: distance-diameter ratio {ratio(Z):.4f}")
fig.tight_layout()
plt.show()
