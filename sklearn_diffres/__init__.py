"""Diffusion Residual Networks (Diff-ResNet) for scikit-learn."""

# Authors: The sklearn-diffres developers
# SPDX-License-Identifier: BSD-3-Clause

from ._auto import (
    AUTO_HEDGE_STANDARD_ERRORS,
    AUTO_MIN_SEPARATION_KEPT,
    AUTO_MIN_VARIANCE_KEPT,
    AUTO_N_LAYERS,
    AUTO_ONE_SHOT_VARIANCE_KEPT,
    AUTO_UNLABELLED_N_LAYERS,
)
from ._classifier import DiffusionResNetClassifier
from ._graph import diffusion_graph, normalize_adjacency
from ._laplacian import graph_laplacian
from ._neighbors import EXACT_NEIGHBORS_MAX_SAMPLES, EXACT_NEIGHBORS_MAX_WORK
from ._net import GRADIENT_CLIP_NORM
from ._polynomial import POLYNOMIAL_TOLERANCE, TRAINING_POLYNOMIAL_TOLERANCE
from ._split import SemiSupervisedKFold
from ._transformer import DiffusionTransformer
from ._utils import unlabelled_mask
from ._weight_decay import (
    AUTO_WEIGHT_DECAY,
    AUTO_WEIGHT_DECAY_FOLDS,
    AUTO_WEIGHT_DECAY_GRID,
    AUTO_WEIGHT_DECAY_MAX_WORK,
    AUTO_WEIGHT_DECAY_MIN_PER_CLASS,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "AUTO_HEDGE_STANDARD_ERRORS",
    "AUTO_MIN_SEPARATION_KEPT",
    "AUTO_MIN_VARIANCE_KEPT",
    "AUTO_N_LAYERS",
    "AUTO_ONE_SHOT_VARIANCE_KEPT",
    "AUTO_UNLABELLED_N_LAYERS",
    "AUTO_WEIGHT_DECAY",
    "AUTO_WEIGHT_DECAY_FOLDS",
    "AUTO_WEIGHT_DECAY_GRID",
    "AUTO_WEIGHT_DECAY_MAX_WORK",
    "AUTO_WEIGHT_DECAY_MIN_PER_CLASS",
    "EXACT_NEIGHBORS_MAX_SAMPLES",
    "EXACT_NEIGHBORS_MAX_WORK",
    "GRADIENT_CLIP_NORM",
    "POLYNOMIAL_TOLERANCE",
    "SemiSupervisedKFold",
    "TRAINING_POLYNOMIAL_TOLERANCE",
    "DiffusionResNetClassifier",
    "DiffusionTransformer",
    "diffusion_graph",
    "graph_laplacian",
    "normalize_adjacency",
    "unlabelled_mask",
]
