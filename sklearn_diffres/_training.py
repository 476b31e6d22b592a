"""Training the network on a fitted graph: seeding, warm starts, interrupts."""

# Authors: The sklearn-diffres developers
# SPDX-License-Identifier: BSD-3-Clause

import copy

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.preprocessing import StandardScaler

from ._auto import select_n_layers
from ._fitted_graph import FittedGraph
from ._kernels import to_torch
from ._module import DiffResNetModule
from ._net import build_net, hidden_units, plain_training_settings, rectified_prototypes
from ._targets import class_weights
from ._weight_decay import (
    resolved_weight_decay,
    search_is_affordable,
    search_weight_decay,
    weight_decay_is_searched,
)

#: The graph parameters a warm start must find unchanged to reuse the graph.
_GRAPH_SETTINGS = (
    "n_neighbors",
    "sigma",
    "step_size",
    "adjacency",
    "neighbors_algorithm",
)


def warm_state(estimator, X, classes):
    """What ``warm_start`` carries over from ``estimator``'s fitted model.

    None when it is not fitted. Raises when ``X``'s number of features or
    the new ``classes`` differ from the fitted ones. Otherwise a dict:
    ``same_X(X32)`` (whether the fitted graph can be reused
    for ``X32``: same rows and graph settings), ``restore(net)``, which
    loads the fitted weights into a new net, and the optimizer's state
    (momentum, Adam's moments) when the optimizer class is the same, and
    ``plain``: the same for the fitted network without diffusion
    (``net_without_diffusion_``), or None where there is none. Raises too
    when ``standardize`` or the sparsity of ``X`` would change whether the
    network's input is standardised (see :func:`input_standardization`).
    """
    if not hasattr(estimator, "net_"):
        return None
    n_features = estimator.diffusion_.n_features_in_
    if X.shape[1] != n_features:
        raise ValueError(
            f"warm_start=True continues training the fitted network, which "
            f"takes {n_features} features; X has shape {X.shape}. Use "
            "warm_start=False to start afresh."
        )
    if not np.array_equal(estimator.classes_, classes):
        raise ValueError(
            f"warm_start=True continues training the fitted network, whose "
            f"classes are {estimator.classes_.tolist()!r}; y has classes "
            f"{classes.tolist()!r}. Use warm_start=False to start afresh."
        )
    mean = getattr(estimator, "input_mean_", None)
    standardized = estimator.standardize and not sp.issparse(X)
    if standardized != (mean is not None):
        seen = "standardised" if mean is not None else "as given"
        raise ValueError(
            f"warm_start=True continues training the fitted network, which saw "
            f"its features {seen}; with standardize={estimator.standardize} and "
            f"{'sparse' if sp.issparse(X) else 'dense'} X it would see them "
            f"{'standardised' if standardized else 'as given'}. Use "
            "warm_start=False to start afresh."
        )
    graph, old_net = estimator._graph, estimator.net_
    fitted_X = graph.fit_X[graph.nodes]
    built_with = graph.get_params()
    same_settings = all(
        built_with[name] is getattr(estimator, name)
        if name == "adjacency"
        else built_with[name] == getattr(estimator, name)
        for name in _GRAPH_SETTINGS
    )

    def same_X(X32):
        if not same_settings or X32.shape != fitted_X.shape:
            return False
        if sp.issparse(X32) != sp.issparse(fitted_X):
            return False
        if sp.issparse(X32):
            return (X32 != fitted_X).nnz == 0
        return np.array_equal(X32, fitted_X)

    def restorer(old):
        def restore(net):
            net.module_.load_state_dict(old.module_.state_dict())
            if type(net.optimizer_) is type(old.optimizer_):
                state = old.optimizer_.state_dict()["state"]
                groups = net.optimizer_.state_dict()["param_groups"]
                net.optimizer_.load_state_dict({"state": state, "param_groups": groups})

        return restore

    # The network without diffusion of n_layers='auto', if there was one.
    old_plain = getattr(estimator, "net_without_diffusion_", None)
    plain = None if old_plain is None else {"restore": restorer(old_plain)}
    return {"same_X": same_X, "restore": restorer(old_net), "plain": plain}


def training_graph(estimator, X32, tr, y_tr, seed, previous):
    """The graph the network of ``estimator`` trains on, over ``X32``.

    A warm start on the fitted ``X`` reuses the fitted graph and, with
    ``n_layers='auto'``, its ``n_layers_``; otherwise the graph is built.
    'auto' chooses the number of layers from the training samples ``tr``
    (class codes ``y_tr``) only: validation labels stay unseen. Returns a
    new graph object with ``n_layers`` set (the fitted one is never changed
    in place), the number of layers, and the criterion's scores (None when
    nothing was chosen now).
    """
    same_graph = previous is not None and previous["same_X"](X32)
    if same_graph:
        graph = estimator._graph
    else:
        # Only the graph is needed: diffusing the raw features is skipped.
        params = {name: getattr(estimator, name) for name in FittedGraph.PARAMETERS}
        params.update(n_layers=0, random_state=seed)
        graph = FittedGraph(**params).fit(X32)
    n_layers, scores = estimator.n_layers, None
    if n_layers == "auto" and same_graph:
        n_layers = estimator.n_layers_
    elif n_layers == "auto":
        n_layers, scores = select_n_layers(
            graph.operator(graph.fit_X.dtype),
            graph.step,
            graph.fit_X,
            graph.nodes[tr],
            y_tr,
            len(estimator.classes_),
            random_state=seed,
            lambda_max=graph.lambda_max,
        )
    graph = copy.copy(graph)
    graph.n_layers = n_layers
    return graph, n_layers, scores


def training_weight_decay(estimator, X_tr, y_tr, weights_tr, seed):
    """The weight decay ``estimator``'s network trains with, and the scores
    of its cross-validation (None where 'auto' did not search).

    ``optimizer__weight_decay`` wins where set; a number is taken as given;
    'auto' is ``c / n`` (``n`` the training samples of nonzero weight), ``c``
    cross-validated on the training rows ``X_tr`` (as the network sees them;
    class codes ``y_tr``) where :func:`weight_decay_is_searched` and
    :func:`search_is_affordable`, else ``AUTO_WEIGHT_DECAY``.
    """
    routed = estimator._routed_params()
    if "optimizer__weight_decay" in routed:
        return routed["optimizer__weight_decay"], None
    n_trained = len(y_tr) if weights_tr is None else np.count_nonzero(weights_tr)
    if not weight_decay_is_searched(estimator, y_tr, weights_tr):
        return resolved_weight_decay(estimator.weight_decay, n_trained), None
    n_classes = len(estimator.classes_)
    module = DiffResNetModule(
        X_tr.shape[1],
        n_classes,
        n_layers=0,
        residual_block=estimator.residual_block,
        hidden_layer_size=hidden_units(estimator, X_tr.shape[1]),
        n_blocks=estimator.n_blocks,
    )
    if not search_is_affordable(module, n_trained):
        return resolved_weight_decay(estimator.weight_decay, n_trained), None
    # The initial weights of the network that will train (train_network).
    module.to(estimator._device).reset_parameters(seed)
    weights = class_weights(estimator.class_weight, estimator.classes_, y_tr)
    settings = plain_training_settings(estimator, weights, weights_tr)
    c, scores = search_weight_decay(
        module, X_tr, y_tr, settings, seed, estimator._device
    )
    return resolved_weight_decay("auto", n_trained, c), scores


def _raise_if_interrupted(net, max_epochs):
    """Re-raise a Ctrl-C that skorch's ``partial_fit`` swallowed.

    A fit cut short would otherwise return a half-trained model that looks
    fitted; scikit-learn users (and grid searches) expect Ctrl-C to stop.
    The estimator is then left as it was before ``fit``.
    """
    callbacks = dict(net.callbacks_)
    done = callbacks["training_guard"].epochs_done_
    stopped = (
        "paper_early_stopping" in callbacks
        and callbacks["paper_early_stopping"].stopped_
    )
    if done < max_epochs and not stopped:
        raise KeyboardInterrupt(
            f"fit was interrupted after {done} of max_epochs={max_epochs} "
            "epochs; the estimator is left as it was before fit."
        )


def input_standardization(estimator, X, previous):
    """``(mean, scale)`` of the network's input map for the fit of ``X``, or
    ``(None, None)`` where the network sees ``X`` as given.

    Dense ``X`` with ``estimator.standardize``: per feature, the mean and the
    standard deviation over the rows (as ``StandardScaler``; 1 for a constant
    feature). A warm start (``previous``, see :func:`warm_state`) keeps the
    fitted map, the one its weights were trained with.
    """
    if previous is not None:
        return estimator.input_mean_, estimator.input_scale_
    if not estimator.standardize or sp.issparse(X):
        return None, None
    scaler = StandardScaler().fit(X)
    return scaler.mean_, scaler.scale_


def train_network(
    estimator, graph, X_nodes, split, weights_tr, seed, previous, n_layers=None
):
    """Train ``estimator``'s network on the nodes of ``graph``.

    ``X_nodes`` are the features of the graph's nodes as the network sees
    them (see :func:`input_standardization`). ``split`` is ``(tr, y_tr, va,
    y_va)``: training nodes and their class codes, and the early-stopping
    ones (None without). ``weights_tr`` are the training samples' weights
    (or None), ``previous`` what a warm start carries over (see
    :func:`warm_state`); ``n_layers`` overrides ``estimator.n_layers_`` (0:
    the network without diffusion). Returns the trained skorch net in eval
    mode, its module without the graph (the estimator's fitted graph holds
    it; pickles stay small).
    """
    tr, y_tr, va, y_va = split
    n_classes = len(estimator.classes_)
    weights = class_weights(estimator.class_weight, estimator.classes_, y_tr)
    net = build_net(estimator, X_nodes.shape[1], n_classes, va, y_va, weights, n_layers)
    if weights_tr is not None:
        net.set_params(train_weight=torch.as_tensor(weights_tr))
    proto = None
    if estimator.alpha > 0:
        proto = torch.as_tensor(
            rectified_prototypes(X_nodes, tr, y_tr, n_classes), dtype=torch.float32
        )
    # Weights and dropout noise come from per-fit generators, not torch's
    # global one: the same results when fits run in threads. fork_rng leaves
    # the global generator as it was (torch's data loader draws from it every
    # epoch).
    with torch.random.fork_rng(devices=[]):
        net.initialize()
        net.module_.reset_parameters(seed)
        if previous is not None:
            previous["restore"](net)
        net.module_.set_graph(
            to_torch(X_nodes), graph.laplacian, proto, reorder=not graph.renumbered
        )
        net.partial_fit(tr, y_tr)
    _raise_if_interrupted(net, estimator.max_epochs)
    net.module_.eval()
    net.module_.set_graph()
    return net
