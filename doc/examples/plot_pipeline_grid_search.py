"""
DiffusionTransformer in a Pipeline with GridSearchCV
=====================================================

The diffusion layers alone, as a feature transformer before a logistic
regression, with the number of steps and neighbours chosen by grid search.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_circles
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_diffres import DiffusionTransformer

X, y = make_circles(n_samples=600, noise=0.08, factor=0.5, random_state=0)
pipe = make_pipeline(StandardScaler(), DiffusionTransformer(), LogisticRegression())
grid = GridSearchCV(
    pipe,
    {
        "diffusiontransformer__n_layers": [0, 10, 40, 160],
        "diffusiontransformer__n_neighbors": [10, 20],
    },
    cv=5,
).fit(X, y)
print("best parameters:", grid.best_params_)
print(f"best cross-validated accuracy: {grid.best_score_:.3f}")

results = grid.cv_results_
fig, ax = plt.subplots(figsize=(5, 3.5))
for k in (10, 20):
    mask = np.array(results["param_diffusiontransformer__n_neighbors"]) == k
    ax.plot(
        np.array(results["param_diffusiontransformer__n_layers"])[mask],
        results["mean_test_score"][mask],
        marker="o",
        label=f"n_neighbors={k}",
    )
ax.set_xlabel("n_layers")
ax.set_ylabel("CV accuracy")
ax.set_title("Linear model on diffused features (two circles)")
ax.legend()
fig.tight_layout()
plt.show()
