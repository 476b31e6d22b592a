import numpy as np
import pytest
import torch
from sklearn.datasets import make_moons

from sklearn_diffres import DiffusionTransformer
from sklearn_diffres._diffusion import diffuse
from sklearn_diffres._kernels import polynomial_diffusion, to_torch
from sklearn_diffres._module import DiffResNetModule
from sklearn_diffres._polynomial import (
    POLYNOMIAL_TOLERANCE,
    TRAINING_POLYNOMIAL_TOLERANCE,
    DiffusionPolynomial,
)
from sklearn_diffres._utils import to_torch_sparse


@pytest.fixture(scope="module")
def graph():
    """A kNN graph whose nodes carry masses (repeated rows): L is not symmetric."""
    X, _ = make_moons(300, noise=0.1, random_state=0)
    X = np.vstack([X, X[:40], X[:10]])
    t = DiffusionTransformer(n_neighbors=8, sigma=4, n_layers=0).fit(X)
    L = t.laplacian_
    assert abs(L - L.T).max() > 1e-3  # the transposed path is exercised
    return t._graph.fit_X, L, t.lambda_max_


# (layers, step_size * lambda_max / 2): 'auto' is 0.5; near the limit of 1,
# twenty layers save nothing and stay explicit.
@pytest.mark.parametrize(
    "n_steps, limit", [(20, 0.5), (60, 0.5), (200, 0.5), (60, 0.99), (200, 0.99)]
)
def test_polynomial_matches_explicit_layers(graph, n_steps, limit):
    X, L, lam = graph
    step = 2 * limit / lam
    polynomial = DiffusionPolynomial.build(step, lam, n_steps)
    assert polynomial is not None and polynomial.degree < n_steps
    Z = np.random.RandomState(0).normal(size=(X.shape[0], 3))
    plain = diffuse(L, Z, step, n_steps)
    fast = diffuse(L, Z, step, n_steps, lambda_max=lam)
    # The bound of the truncated series, in the mass norm; a small slack
    # for the conversion to the plain norm.
    assert np.abs(fast - plain).max() <= 20 * POLYNOMIAL_TOLERANCE * np.abs(Z).max()
    # float32 stays float32, and as close.
    Z32, L32 = Z.astype(np.float32), L.astype(np.float32)
    fast32 = diffuse(L32, Z32, step, n_steps, lambda_max=lam)
    assert fast32.dtype == np.float32
    np.testing.assert_allclose(fast32, plain, atol=1e-5)


def test_in_place_recurrence_matches_the_plain_one(graph):
    # The fused terms in two reused buffers give the recurrence's values,
    # for every degree, shape and dtype in turn through one workspace; the
    # input is left alone and the result is a new tensor each time.
    X, L, lam = graph
    step = 1.0 / lam
    rng = np.random.RandomState(0)
    workspace = []
    for n_steps, columns, dtype in [
        (200, 3, torch.float32),
        (30, 5, torch.float64),
        (200, 3, torch.float32),
        (12, 1, torch.float32),
    ]:
        polynomial = DiffusionPolynomial.build(step, lam, n_steps)
        M = to_torch_sparse(polynomial.recurrence_operator(L, step), dtype=dtype)
        x = torch.from_numpy(rng.normal(size=(X.shape[0], columns))).to(dtype)
        before = x.clone()
        plain = polynomial.evaluate(x, lambda v: M @ v)
        fast = polynomial_diffusion(polynomial, M, x, workspace)
        assert fast.dtype == dtype and torch.equal(x, before)
        torch.testing.assert_close(fast, plain, rtol=0, atol=1e-6)
        assert all(fast.data_ptr() != b.data_ptr() for b in workspace)
        assert workspace[0].shape == x.shape and workspace[0].dtype == dtype
    # The fitted graph's own diffusion takes this path: it matches the layers.
    Z = rng.normal(size=(X.shape[0], 2)).astype(np.float32)
    np.testing.assert_allclose(
        diffuse(L.astype(np.float32), Z, step, 200, lambda_max=lam),
        diffuse(L, Z.astype(np.float64), step, 200),
        atol=1e-5,
    )


def test_polynomial_only_where_it_saves_products():
    # The paper's ten layers and fewer keep the explicit layers exactly.
    assert all(DiffusionPolynomial.build(1.0, 1.0, n) is None for n in range(11))
    assert DiffusionPolynomial.build(1.0, 0.0, 200) is None  # no edges: P = I
    # 'auto' step (1 / lambda_max): products for 20, 50, 100, 200 layers.
    degrees = [
        DiffusionPolynomial.build(1.0, 1.0, n).degree for n in (20, 50, 100, 200)
    ]
    assert degrees == sorted(degrees) and degrees[-1] <= 55, degrees


def test_module_polynomial_forward_and_gradients_match_layers(graph):
    # Training runs the polynomial truncated at TRAINING_POLYNOMIAL_TOLERANCE,
    # eval mode (early stopping's validation) at POLYNOMIAL_TOLERANCE; both
    # against the explicit layers, with the readout and without.
    X, L, lam = graph
    step, n_layers = 1.0 / lam, 120
    idx = torch.arange(0, 300, 15)
    target = torch.arange(idx.numel()) % 2
    results = {}
    for lambda_max in (None, lam):
        module = DiffResNetModule(
            2, 2, step_size=step, n_layers=n_layers, lambda_max=lambda_max
        )
        module.reset_parameters(0)
        module.set_graph(to_torch(X), L)
        for training in (True, False):
            module.train(training)
            assert (module._polynomial is None) == (lambda_max is None)
            module.READOUT_MAX_ENTRIES = 2**25
            readout = module(idx)  # precomputed readout rows
            module.READOUT_MAX_ENTRIES = 0  # diffuse every node's class scores
            logits = module(idx)
            loss = torch.nn.functional.cross_entropy(logits, target)
            grad = torch.autograd.grad(loss, module.blocks[0].fc1.weight)[0]
            results[lambda_max is None, training] = (readout, logits, grad)
        if lambda_max is not None:
            # Training truncates the series earlier than eval mode does.
            module.train()
            degree = module._polynomial.degree
            assert degree < module.eval()._polynomial.degree
    layers = results[True, False]
    assert layers[2].abs().sum() > 0
    for (plain, training), (readout, logits, grad) in results.items():
        # The readout is the same diffusion, computed once.
        np.testing.assert_allclose(readout.detach(), logits.detach(), atol=1e-5)
        tolerance = TRAINING_POLYNOMIAL_TOLERANCE if training else 1e-5
        for got, want in zip((logits, grad), layers[1:]):
            want = want.detach().numpy()
            bound = 2 * tolerance * np.abs(want).max()
            np.testing.assert_allclose(got.detach(), want, rtol=0, atol=bound)


@pytest.mark.parametrize("sparse, alpha", [(False, False), (True, True)])
def test_module_reordered_nodes_match_graph_order(graph, sparse, alpha):
    # Large graphs run in reverse Cuthill-McKee order; forward(idx) still
    # speaks the graph's node order: same logits, same gradients.
    import scipy.sparse as sp

    X, L, lam = graph
    features = sp.csr_matrix(X) if sparse else X
    idx = torch.arange(0, 300, 7)
    target = torch.arange(idx.numel()) % 2
    proto = torch.rand(X.shape[0], 2) if alpha else None
    results = []
    for reorder_min in (10**9, 1):
        module = DiffResNetModule(
            2, 2, step_size=1.0 / lam, n_layers=60, lambda_max=lam
        )
        module.REORDER_MIN_NODES = reorder_min
        module.reset_parameters(0)
        module.set_graph(to_torch(features), L, proto)
        if reorder_min == 1:  # a real permutation of the nodes
            assert not torch.equal(module.position, torch.arange(X.shape[0]))
        else:
            assert module.position is None
        module.train()
        out = module(idx)
        logits, all_logits = out if alpha else (out, None)
        loss = torch.nn.functional.cross_entropy(logits, target)
        if alpha:
            loss = loss + (all_logits.softmax(1) * module.proto_distance).sum()
        grad = torch.autograd.grad(loss, module.blocks[0].fc1.weight)[0]
        module.eval()
        results.append((logits.detach(), loss.detach(), grad, module(idx).detach()))
    for got, want in zip(*results):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "n_steps, limit", [(20, 0.5), (60, 0.5), (200, 0.5), (200, 0.99)]
)
def test_attached_summary_from_chebyshev_terms_matches_the_steps(graph, n_steps, limit):
    # The summary of the fitted trajectory that new rows are interpolated
    # from: built from the operator's Chebyshev terms, or step by step.
    from sklearn_diffres._diffusion import AttachedDiffusion

    X, L, lam = graph
    step = 2 * limit / lam
    assert DiffusionPolynomial.build(step, lam, n_steps, tolerance=1e-9) is not None
    G = np.random.RandomState(0).normal(size=(X.shape[0], 3))
    W = DiffusionTransformer(n_neighbors=8, sigma=4, n_layers=0).fit(X).graph_
    delta_max = float((np.asarray(W.sum(axis=1)).ravel() - W.diagonal()).max())
    steps = AttachedDiffusion(L, G, step, n_steps, delta_max)
    fast = AttachedDiffusion(L, G, step, n_steps, delta_max, lambda_max=lam)
    scale = np.abs(steps.values).max()
    assert scale > 1
    np.testing.assert_allclose(fast.values, steps.values, rtol=0, atol=1e-6 * scale)


@pytest.mark.parametrize(
    "n_steps, limit, way",
    [(20, 0.5, "steps"), (200, 0.5, "terms"), (200, 0.99, "terms")],
)
def test_new_rows_from_chebyshev_terms_match_the_steps(graph, n_steps, limit, way):
    # The plain path for new rows (above the summary's size, or rows the
    # summary does not cover): the fitted trajectory from the operator's
    # Chebyshev terms against the steps, for rows attached from nearly cut
    # off (a = 1 - step * delta near 1) to the stability limit (a near -1).
    import scipy.sparse as sp

    from sklearn_diffres._diffusion import _attached_by_terms, diffuse_attached

    X, L, lam = graph
    step = 2 * limit / lam
    rng = np.random.RandomState(0)
    G = rng.normal(size=(X.shape[0], 3))
    n_new = 40
    W_new = sp.random(n_new, X.shape[0], density=0.03, random_state=rng, format="csr")
    W_new.data += 0.1
    sums = np.asarray(W_new.sum(axis=1)).ravel()
    W_new = sp.csr_matrix(
        sp.diags(np.geomspace(1e-4, 1.99, n_new) / step / sums) @ W_new
    )
    Z = rng.normal(size=(n_new, 3))
    steps = diffuse_attached(L, W_new, Z, G, step, n_steps)
    polynomial = DiffusionPolynomial.build(step, lam, n_steps, tolerance=1e-9)
    assert polynomial is not None and polynomial.degree < n_steps
    terms = _attached_by_terms(L, W_new, Z, G, step, n_steps, polynomial)
    scale = np.abs(steps).max()
    assert scale > 0.1
    np.testing.assert_allclose(terms, steps, rtol=0, atol=1e-7 * scale)
    # Given lambda_max, diffuse_attached takes the cheaper way: the steps
    # when the polynomial saves few products (20 steps), the terms for 200.
    np.testing.assert_array_equal(
        diffuse_attached(L, W_new, Z, G, step, n_steps, lambda_max=lam),
        terms if way == "terms" else steps,
    )
    # float32 values stay float32.
    out = diffuse_attached(
        L, W_new, Z.astype(np.float32), G.astype(np.float32), step, n_steps, lam
    )
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, steps, rtol=0, atol=1e-5 * scale)
