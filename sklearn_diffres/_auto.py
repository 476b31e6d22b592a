"""The amount of diffusion chosen from the labelled samples (``n_layers='auto'``).

How long to diffuse depends on the data: on tables whose neighbour graph
follows the classes, long diffusion lets a few labels speak for whole
regions; on tables whose neighbours often disagree in class, every layer
mixes classes and no diffusion at all is best. Measured on the thirteen real
tables of the project's benchmark (``benchmarks/tables.py``, 5 labels per
class), the best fixed number of layers ranged from 0 to 200 depending on the
table, and with 20 labels per class ``n_layers=0`` beat ``n_layers=20`` on
average.

The criterion. For every candidate number of layers ``T``, the features
themselves are diffused, ``Z_T = (I - step_size L)^T X`` (no labels are
involved), standardised, and a linear classifier of the labelled rows of
``Z_T`` is scored by leave-one-out: penalised discriminant analysis, that
is, ridge regression of one-hot targets followed by discriminant analysis on
the fitted scores (:func:`loo_discriminant_scores`), whose leave-one-out
fits have a closed form (the PRESS residuals ``e_i / (1 - H_ii)``). The
candidate with the best leave-one-out accuracy wins, ties going to the
smaller leave-one-out squared error, then to fewer layers. It asks whether
diffusing the inputs makes the labelled samples easier to tell apart from
each other, the property the paper's analysis of the distance-diameter
ratio is about, on a linear model that costs almost nothing next to
training the network once per candidate and fold. (The first version of the
criterion took the largest fitted score as the prediction; with three or
more classes that masks middle classes. On iris with 20 labels per class it
rated the raw features at 0.73 to 0.87 and chose 50 layers on three of five
draws, where the network reached 0.84 against 0.94 without diffusion: the
defaults averaged 0.88 against 0.96 for logistic regression. Discriminant
analysis rates the raw features at 0.92 to 0.97 there and chooses none.)

A candidate whose diffusion keeps less than ``AUTO_MIN_VARIANCE_KEPT`` of the
inputs' total variance is not chosen. Standardising makes the criterion blind
to how flat the diffused features are, while the network reads them at their
scale: on small graphs and on graphs without cluster structure, which mix
within tens of layers, 200 layers can keep under 1e-6 of the variance, the
criterion can rate them as well as the raw features, and the network trained
through them was at chance (60 rows of breast cancer, 5 labels per class: 0.66
against 0.90 for logistic regression on one draw). Measured by
``benchmarks/auto_floor.py`` on 15 such data sets (Gaussian and
``make_classification`` data, small row samples of real data), 5 and 20
labels per class: 0.804 mean accuracy without the rule, 0.827 with a floor of
0.01, 0.814 for logistic regression. Of the 13 tables of ``tables.py``, only
wine and wdbc keep under 0.01 after 200 layers (0.006 and 0.008), so the
floor rules out 200 layers there and nowhere else; over 10 label draws the
tables' mean accuracy did not move (0.727 with 5 labels per class, 0.809
with 20).

Nor is a candidate chosen that brings the labelled centroids of two classes
closer than ``AUTO_MIN_SEPARATION_KEPT`` of their squared distance in the
inputs. The variance floor looks at all of the variance, and where one class
sits apart from the others most of it is between that class and the rest,
which long diffusion keeps: iris on a 20-neighbour graph keeps a third of
its variance after 200 layers but under 0.005 of the squared distance
between the centroids of versicolor and virginica. The criterion read what
was left of that difference, standardised, and rated 200 layers best on two
of three draws with 5 labels per class; the network trained through them
reached 0.87 on average, 0.89 with the rule; logistic regression on the
features ``DiffusionTransformer`` (20 neighbours by default) diffused for
it, 0.75 and 0.86. On the 100,000 points of ``benchmarks/serving.py``
(``make_classification``, 10 classes, 100 labels each) 200 layers kept 0.009
of a pair's distance and the network trained through them reached 0.40,
against 0.68 through the 100 layers now chosen. On the 13 tables, with the
classifier's default graph, the rule changed no choice (5 draws; offline
over 10 draws, none at 0.01 and one at 0.03); on ``auto_floor.py``'s data
sets it moved the mean of the shipped floor by less than 0.001, and alone,
without the variance floor, it gave 0.824 against 0.804 for the criterion
with neither rule. With one label per class (where the rule compares the
labelled samples themselves) it took fewer layers on three tables (13
tables, 5 draws: 0.592 -> 0.595) and moved 5 of 60 choices on digits 5-way
1-shot episodes (0.777 -> 0.776, read off fixed-layer fits).

With a single labelled sample per class, leave-one-out has nothing to score
(every candidate gets 0, and the tie went to the smallest squared error,
which says nothing either). No fixed number of layers suits every graph
then: on digits episodes of 80 points, 5 layers were best and 200 at 0.33;
on all 1,797 digits, 200 were best. 'auto' diffuses as far as the inputs
keep ``AUTO_ONE_SHOT_VARIANCE_KEPT`` (a fifth) of their variance, which
follows the graph's size and structure without labels. One label per class,
mean accuracy of that rule against the criterion's old pick and the best
fixed number: 13 tables (10 draws) 0.585 against 0.561 (fixed 50: 0.589);
the 15 data sets of ``auto_floor.py`` (6 draws) 0.715 against 0.701 (fixed
10: 0.718); digits 5-way 1-shot episodes with default parameters (100)
0.786 against 0.735 (fixed 5: 0.789); all of digits (8 draws, read off
fixed-layer fits) 0.865 (fixed 200: 0.870, fixed 10: 0.798). Averaged
over the four, shares of 0.15 and 0.2 did best (0.734, 0.735; 0.1: 0.730,
0.3: 0.725), against 0.716 for the best fixed number (10).

The choice is made on a few labelled samples, and leave-one-out over 10 to
200 of them is noisy: the best candidate per draw (read off fixed-layer fits)
would have given 3 points more than the criterion's pick. Where it is wrong,
diffusion costs most on tables whose neighbour graph follows the classes
poorly (one-hot encoded categorical columns: monk-2, german, crx of the KEEL
tables that ``benchmarks/tables.py --keel`` runs). So the classifier hedges:
unless the chosen candidate's leave-one-out accuracy beats that of no
diffusion by more than ``AUTO_HEDGE_STANDARD_ERRORS`` binomial standard
errors, it also trains the network without diffusion and averages the two
networks' class probabilities (one more training, without diffusion). With
one labelled sample per class nothing is scored and there is no margin to
judge: the one-shot rule's choice stands alone (averaging there cost the 13
tables 0.599 -> 0.587). On
the 30 KEEL tables the defaults were not chosen on (5 draws, 5 / 20 labels
per class): 0.665 / 0.735 for the pick alone, 0.672 / 0.740 with the hedge,
0.671 / 0.743 for no diffusion, 0.675 / 0.740 for logistic regression. On the
13 tables: 0.732 / 0.810 -> 0.732 / 0.814. Averaging always (offline, from
the same fits) gave as much on real tables (13: 0.732 / 0.815; KEEL: 0.675 /
0.743) but cost eight synthetic sets of 5,000 to 20,000 rows
(``make_classification`` and others, where diffusion is clearly right)
1.0 and 1.1 points; with the standard-error gate 0.8 and 0.3.
"""

# Authors: The sklearn-diffres developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state

from ._diffusion import diffuse

#: Candidate numbers of diffusion layers tried by ``n_layers='auto'``.
AUTO_N_LAYERS = (0, 5, 10, 20, 50, 100, 200)

#: Inputs with more features are projected onto this many random directions
#: before the criterion (a Gaussian projection keeps the linear kernel of the
#: labelled rows approximately), so that its cost does not grow with width.
AUTO_MAX_FEATURES = 128

#: Smallest share of the inputs' variance that a candidate's diffusion may
#: keep. The network's classifier reads the diffused features at their scale,
#: not standardised as the criterion reads them: where diffusion has nearly
#: flattened the features (on small or unstructured graphs, which mix within
#: tens of layers), the criterion can rate the flattened features well while
#: the network, trained from them, is at chance.
AUTO_MIN_VARIANCE_KEPT = 1e-2

#: Smallest share of the squared distance between two classes' labelled
#: centroids that a candidate's diffusion may keep, for every pair of
#: classes. The variance floor above looks at all of the variance; where one
#: class sits apart from the others (setosa in iris), the variance between it
#: and the rest survives long diffusion while the difference between the
#: other classes is flattened, which the standardised criterion still reads
#: and a classifier at the features' scale does not.
AUTO_MIN_SEPARATION_KEPT = 1e-2

#: When every class has a single labelled sample, leaving out a class's only
#: sample leaves nothing to recognise it by: the criterion scores every
#: candidate 0 and cannot choose. 'auto' then diffuses as far as the inputs
#: keep this share of their variance: the largest candidate that keeps it.
AUTO_ONE_SHOT_VARIANCE_KEPT = 0.2

#: Layers :class:`~sklearn_diffres.DiffusionTransformer` takes for
#: ``n_layers='auto'`` when its ``y`` holds no labels of two classes to choose
#: with (``fit(X)`` alone, say). Without labels the choice is blind, and on
#: the benchmark tables few layers are safest: a classifier trained on a few
#: labelled rows of the diffused features did as well after 2 layers as on the
#: raw features, and worse after 20 (``benchmarks/transformer.py``).
AUTO_UNLABELLED_N_LAYERS = 2

#: Unless the leave-one-out accuracy of the candidate 'auto' chose beats that
#: of no diffusion by more than this many binomial standard errors
#: (``sqrt(p (1 - p) / n)``, ``p`` the accuracy without diffusion, ``n`` the
#: labelled samples scored), the classifier's ``n_layers='auto'`` also
#: trains the network without diffusion and averages the two networks'
#: class probabilities. With a few labels the criterion's choice is
#: uncertain, and where it is wrong, diffusion costs the most (one-hot
#: encoded tables, whose neighbour graphs follow the classes poorly).
AUTO_HEDGE_STANDARD_ERRORS = 1.0

#: Ridge penalty of the criterion, on standardised features. Of 1 and 10,
#: 10 chose better layers on the benchmark tables with 5 and with 20 labels
#: per class.
AUTO_RIDGE_ALPHA = 10.0


def loo_discriminant_scores(F, y, n_classes, alpha=AUTO_RIDGE_ALPHA):
    """Leave-one-out accuracy of penalised discriminant analysis.

    Ridge regression of one-hot targets on ``F`` (with an unpenalised
    intercept) gives each sample's fitted class scores; linear discriminant
    analysis in the space of those fits (the nearest class centroid in the
    Mahalanobis metric of the pooled within-class scatter, with the labelled
    class frequencies as priors) is penalised discriminant analysis [1]_.
    Classifying by the largest fitted score instead would suffer *masking*:
    with three or more classes along one direction the middle class's score
    is almost never the largest (raw iris features, 20 labels per class:
    0.73 to 0.87 over five draws, where this rule gives 0.92 to 0.97).

    Leave-one-out: the held-out fit of sample ``i`` is ``Y_i - e_i / (1 -
    H_ii)`` with ``e_i`` its residual and ``H`` the hat matrix, so no model
    is refitted; the centroids and the scatter come from the in-sample fits.

    Parameters
    ----------
    F : ndarray of shape (n_samples, n_features)
        Features of the labelled samples.
    y : ndarray of shape (n_samples,)
        Class codes in ``0 .. n_classes - 1``.
    n_classes : int
        Number of classes.
    alpha : float, default=AUTO_RIDGE_ALPHA
        Ridge penalty.

    Returns
    -------
    accuracy : float
        Share of samples whose leave-one-out prediction is their class.
    squared_error : float
        Sum of the squared leave-one-out residuals of the ridge regression
        (PRESS).

    References
    ----------
    .. [1] T. Hastie, A. Buja, R. Tibshirani, "Penalized discriminant
       analysis", The Annals of Statistics 23(1), 1995.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_diffres._auto import loo_discriminant_scores
    >>> F = np.array([[0.0], [0.1], [0.2], [1.0], [1.1], [1.2], [2.0], [2.1], [2.2]])
    >>> y = np.repeat([0, 1, 2], 3)
    >>> accuracy, _ = loo_discriminant_scores(F, y, 3, 0.01)
    >>> accuracy
    1.0
    """
    n = F.shape[0]
    Y = np.zeros((n, n_classes))
    Y[np.arange(n), y] = 1.0
    Fc = F - F.mean(axis=0)
    Yc = Y - Y.mean(axis=0)
    gram = Fc.T @ Fc + alpha * np.eye(F.shape[1])
    solved = np.linalg.solve(gram, Fc.T).T  # Fc (Fc^T Fc + alpha I)^-1
    fitted = Y.mean(axis=0) + solved @ (Fc.T @ Yc)
    leverage = 1.0 / n + np.einsum("ij,ij->i", solved, Fc)
    residual = (Y - fitted) / np.maximum(1.0 - leverage, 1e-12)[:, None]
    # Every row of the fits sums to 1: the last column adds nothing.
    fits, held_out = fitted[:, :-1], (Y - residual)[:, :-1]
    counts = np.bincount(y, minlength=n_classes)
    present = counts > 0
    centroids = np.zeros((n_classes, n_classes - 1))
    np.add.at(centroids, y, fits)
    centroids[present] /= counts[present, None]
    within = fits - centroids[y]
    scatter = within.T @ within / max(n - present.sum(), 1)
    # A small ridge keeps the scatter invertible when the fits are
    # degenerate (one sample per class, or identical features).
    spread = fits.var(axis=0).sum()
    scatter += (1e-6 * spread / (n_classes - 1) + 1e-12) * np.eye(n_classes - 1)
    diff = held_out[:, None, :] - centroids[None]
    distance = np.einsum("ikj,jl,ikl->ik", diff, np.linalg.inv(scatter), diff)
    with np.errstate(divide="ignore"):
        distance -= 2 * np.log(counts / n)
    predicted = distance.argmin(axis=1)
    accuracy = float((predicted == y).mean())
    return accuracy, float((residual**2).sum())


def select_n_layers(
    laplacian,
    step_size,
    X,
    labelled,
    y,
    n_classes,
    random_state=None,
    lambda_max=None,
):
    """Choose the number of diffusion layers among ``AUTO_N_LAYERS``.

    Parameters
    ----------
    laplacian : sparse matrix of shape (n_samples, n_samples)
        The diffusion operator ``L`` of the fitted graph.
    step_size : float
        Step of each layer, ``x <- x - step_size * L x``.
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Every fitted sample.
    labelled : ndarray of int
        Indices of the labelled samples the criterion may use.
    y : ndarray of shape (len(labelled),)
        Their class codes.
    n_classes : int
        Number of classes.
    random_state : int, RandomState instance or None, default=None
        Seeds the random projection of wide inputs.
    lambda_max : float, default=None
        Largest eigenvalue of ``L``; given, long stretches of layers are
        computed as one polynomial (see :func:`~sklearn_diffres._diffusion.diffuse`).

    Returns
    -------
    n_layers : int
        The chosen number of layers.
    scores : ndarray of shape (len(AUTO_N_LAYERS), 5)
        Per candidate: number of layers, leave-one-out accuracy,
        leave-one-out squared error, the share of the inputs' variance
        that the diffused inputs keep, and the smallest share, over pairs of
        classes, of the squared distance between their labelled centroids
        that they keep. Candidates that keep less than
        ``AUTO_MIN_VARIANCE_KEPT`` of the variance or
        ``AUTO_MIN_SEPARATION_KEPT`` of a pair's distance are not chosen.
        With one labelled sample per class the choice is the largest
        candidate that keeps ``AUTO_ONE_SHOT_VARIANCE_KEPT``, whatever the
        scores.
    """
    if X.shape[1] > AUTO_MAX_FEATURES:
        rng = check_random_state(random_state)
        G = rng.normal(size=(X.shape[1], AUTO_MAX_FEATURES))
        Z = X @ G.astype(X.dtype)
    else:
        Z = X.toarray() if sp.issparse(X) else X
    Z = np.asarray(Z, dtype=laplacian.dtype)
    scores = []
    done = 0
    for n_layers in AUTO_N_LAYERS:
        Z = diffuse(laplacian, Z, step_size, n_layers - done, lambda_max=lambda_max)
        done = n_layers
        # Standardised over every fitted sample, not the labelled ones only:
        # the scale of each diffused feature is a property of the data.
        scale = Z.std(axis=0, dtype=np.float64)
        F = (Z[labelled] - Z.mean(axis=0, dtype=np.float64)) / np.where(
            scale > 0, scale, 1.0
        )
        variance = (scale**2).sum()
        separation = _centroid_distances(Z[labelled], y)
        if not scores:
            initial, initial_separation = variance, separation
        # Inputs without variance (every row alike) have nothing to lose.
        kept = variance / initial if initial > 0 else 1.0
        # A pair whose centroids coincide in the inputs has nothing to lose.
        apart = initial_separation > 0
        separated = (separation[apart] / initial_separation[apart]).min(initial=1.0)
        scores.append(
            (n_layers, *loo_discriminant_scores(F, y, n_classes), kept, separated)
        )
    scores = np.array(scores)
    best = choose_candidate(scores, _one_shot(y))
    return int(scores[best, 0]), scores


def _one_shot(y):
    """Whether every class among the codes ``y`` has a single sample."""
    return np.bincount(y).max() == 1


def _centroid_distances(F, y):
    """Squared distances between the class centroids of the rows ``F``
    (classes ``y``), one per pair of classes present."""
    present = np.unique(y)
    centroids = np.array([F[y == c].mean(axis=0, dtype=np.float64) for c in present])
    first, second = np.triu_indices(len(present), 1)
    return ((centroids[first] - centroids[second]) ** 2).sum(axis=1)


def choose_candidate(
    scores, one_shot, min_variance_kept=None, min_separation_kept=None
):
    """Row of ``scores`` (as :func:`select_n_layers` returns them) to take.

    Among the first candidate (no diffusion) and those that keep at least
    ``min_variance_kept`` of the variance (default ``AUTO_MIN_VARIANCE_KEPT``)
    and ``min_separation_kept`` of every class pair's squared centroid
    distance (default ``AUTO_MIN_SEPARATION_KEPT``): the best leave-one-out
    accuracy, then the smaller squared error, then fewer layers. With
    ``one_shot`` (one labelled sample per class, where leave-one-out cannot
    score anything): the largest of them that keeps
    ``AUTO_ONE_SHOT_VARIANCE_KEPT``.
    """
    if min_variance_kept is None:
        min_variance_kept = AUTO_MIN_VARIANCE_KEPT
    if min_separation_kept is None:
        min_separation_kept = AUTO_MIN_SEPARATION_KEPT
    eligible = [0] + [
        i
        for i in range(1, len(scores))
        if scores[i, 3] >= min_variance_kept and scores[i, 4] >= min_separation_kept
    ]
    if one_shot:
        return max(
            [0] + [i for i in eligible if scores[i, 3] >= AUTO_ONE_SHOT_VARIANCE_KEPT]
        )
    return min(eligible, key=lambda i: (-scores[i, 1], scores[i, 2], i))


def diffusion_is_clear(scores, n_layers, y):
    """Whether the criterion's choice of ``n_layers`` layers stands alone.

    True when the leave-one-out accuracy of ``n_layers`` (a row of
    ``scores``, as :func:`select_n_layers` returns them for the class codes
    ``y`` of the samples it scored) beats that of no diffusion by more than
    ``AUTO_HEDGE_STANDARD_ERRORS`` binomial standard errors of the latter
    over ``len(y)`` samples. True for 0 layers, and with one sample per class,
    where nothing was scored and the one-shot rule chose.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_diffres._auto import diffusion_is_clear
    >>> scores = np.array([[0, 0.8, 1.0, 1.0, 1.0], [5, 0.9, 1.0, 1.0, 1.0]])
    >>> few, many = np.repeat([0, 1], 5), np.repeat([0, 1], 200)
    >>> diffusion_is_clear(scores, 5, few), diffusion_is_clear(scores, 5, many)
    (False, True)
    """
    if n_layers == 0 or _one_shot(y):
        return True
    without, chosen = scores[0, 1], scores[scores[:, 0] == n_layers, 1][0]
    error = np.sqrt(without * (1 - without) / len(y))
    return bool(chosen - without > AUTO_HEDGE_STANDARD_ERRORS * error)
