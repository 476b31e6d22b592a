"""The torch module and its kernels against dense references."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from sklearn_diffres import diffusion_graph, graph_laplacian
from sklearn_diffres._kernels import to_torch
from sklearn_diffres._module import DiffResNetModule


def dense_reference_forward(module, X, L, kind):
    """The reference formula written densely with the module's weights."""
    x = torch.as_tensor(X, dtype=torch.float32)
    for block in module.blocks:
        if kind == "relu_linear":
            x = x + torch.relu(x @ block.fc1.weight.T + block.fc1.bias)
        else:
            inner = torch.relu(x @ block.fc1.weight.T + block.fc1.bias)
            x = x + inner @ block.fc2.weight.T + block.fc2.bias
    L = torch.as_tensor(L, dtype=torch.float32)
    for _ in range(module.n_layers):
        x = x - module.step_size * (L @ x)
    return x @ module.classifier.weight.T + module.classifier.bias


@pytest.mark.parametrize("kind", ["mlp", "relu_linear"])
@pytest.mark.parametrize("sparse", [False, True])
def test_forward_matches_dense_reference(kind, sparse):
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(60, 5))
    X[X < 0.4] = 0
    L = graph_laplacian(diffusion_graph(X, 6, 3))
    torch.manual_seed(0)
    module = DiffResNetModule(
        5, 3, step_size=0.5, n_layers=7, residual_block=kind, n_blocks=2
    )
    module.set_graph(to_torch(sp.csr_matrix(X) if sparse else X), L)
    expected = dense_reference_forward(module, X, L.toarray(), kind).detach()
    idx = torch.tensor([3, 10, 0])
    with torch.no_grad():
        h = module.encode(module.features, module.features_dense)
        wide = module.classifier(module._diffuse(h))  # diffuse the features
        narrow = module._diffuse(module.classifier(h))  # diffuse class scores
        readout_eval = module.eval()(idx)  # precomputed readout rows
        readout_train = module.train()(idx)
        module.READOUT_MAX_ENTRIES = 0  # too large: diffuse class scores
        narrow_idx = module(idx)
    for got in (narrow, wide):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-5)
    for got in (readout_eval, readout_train, narrow_idx):
        np.testing.assert_allclose(got.numpy(), expected[idx].numpy(), atol=1e-5)


@pytest.mark.parametrize("kind", ["mlp", "relu_linear"])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("n_blocks", [1, 2])
def test_class_scores_match_the_plain_path(kind, sparse, n_blocks):
    # class_scores folds the classifier into the last 'mlp' block (never
    # forming its n x width output): the same scores and gradients as the
    # classifier applied to the blocks' output, on wide sparse rows.
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(80, 30))
    X[X < 0.8] = 0
    torch.manual_seed(0)
    module = DiffResNetModule(30, 4, residual_block=kind, n_blocks=n_blocks)
    module.set_graph(to_torch(sp.csr_matrix(X) if sparse else X))
    weights = [rng.normal(size=(80, 4)) for _ in range(2)]
    params = list(module.parameters())

    def scores_and_grads(forward):
        out = forward(module.features, module.features_dense)
        loss = (out * torch.as_tensor(weights[0], dtype=torch.float32)).sum()
        return out.detach().numpy(), torch.autograd.grad(loss, params)

    got, got_grads = scores_and_grads(module.class_scores)
    expected, expected_grads = scores_and_grads(
        lambda x, x_dense: module.classifier(module.encode(x, x_dense))
    )
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    for g, e in zip(got_grads, expected_grads):
        assert e.abs().sum() > 0
        np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-4, atol=1e-5)
    # Rows given as numpy (predict's path) score alike.
    np.testing.assert_allclose(module.scores(X), expected, rtol=1e-5, atol=1e-5)


def small_module(n_classes, dropout):
    """A module with 5 layers over the graph of 40 Gaussian points in 4-d;
    returns ``(X, L, module)``."""
    X = np.random.RandomState(0).normal(size=(40, 4))
    L = graph_laplacian(diffusion_graph(X, 5, 2))
    torch.manual_seed(0)
    module = DiffResNetModule(4, n_classes, step_size=0.5, n_layers=5, dropout=dropout)
    module.set_graph(to_torch(X), L)
    return X, L, module


def test_gradients_flow_through_diffusion():
    X, L, module = small_module(2, dropout=0.3)
    module.eval()  # dense reference has no dropout; compare the gradients
    idx = torch.arange(6)
    target = torch.tensor([0, 1, 0, 1, 0, 1])
    loss = torch.nn.functional.cross_entropy(module(idx), target)
    grad = torch.autograd.grad(loss, module.blocks[0].fc1.weight)[0]
    ref = torch.nn.functional.cross_entropy(
        dense_reference_forward(module, X, L.toarray(), "mlp")[idx], target
    )
    ref_grad = torch.autograd.grad(ref, module.blocks[0].fc1.weight)[0]
    assert grad.abs().sum() > 0
    np.testing.assert_allclose(grad.numpy(), ref_grad.numpy(), atol=1e-6)
    # The training path with dropout is differentiable too.
    module.train()
    loss = torch.nn.functional.cross_entropy(module(idx), target)
    loss.backward()
    assert module.blocks[0].fc1.weight.grad.abs().sum() > 0


def test_training_with_dropout_classifies_only_the_asked_rows():
    # In training with dropout the classifier runs on the rows idx alone;
    # with the same noise that equals the rows idx of the full pass.
    _, _, module = small_module(3, dropout=0.25)
    module.train()
    idx = torch.tensor([7, 0, 33])
    module._noise_rng = np.random.Generator(np.random.PCG64(1))
    rows = module(idx)
    module._noise_rng = np.random.Generator(np.random.PCG64(1))
    full = module.classifier(module._diffuse(module.encode(module.features)))
    np.testing.assert_allclose(
        rows.detach().numpy(), full[idx].detach().numpy(), atol=1e-6
    )
    # The masks really drop entries: another noise stream gives other rows.
    module._noise_rng = np.random.Generator(np.random.PCG64(2))
    assert not torch.allclose(module(idx), rows)


def test_dropout_diffusion_matches_plain_autograd():
    # The fused training path (one autograd node, reused buffers, masks
    # recomputed from int16 noise) against plain torch autograd with the same
    # masks, forward and gradient, twice in a row so that reused buffers
    # cannot leak between calls.
    from sklearn_diffres._kernels import (
        _DropoutDiffusion,
        diffusion_operator,
        dropout_noise,
        dropout_threshold,
    )
    from sklearn_diffres._utils import to_torch_sparse

    rng = np.random.RandomState(0)
    X = rng.normal(size=(50, 3))
    P_sym = diffusion_operator(graph_laplacian(diffusion_graph(X, 5, 2)), 0.5)
    # A graph whose nodes carry masses has P = M^-1 S M, not symmetric.
    mass = rng.randint(1, 4, size=50).astype(float)
    P_mass = sp.csr_matrix(sp.diags(1 / mass) @ P_sym @ sp.diags(mass))
    dtype, threshold, keep = dropout_threshold(0.25)
    assert (dtype, keep) == (torch.int8, 0.75)
    workspace = []
    generator = np.random.Generator(np.random.PCG64(0))
    for seed, P in [(0, P_sym), (1, P_sym), (2, P_mass), (3, P_mass)]:
        P_dense = torch.as_tensor(P.toarray(), dtype=torch.float32) / keep
        P_torch = to_torch_sparse(P / keep)
        P_torch_t = to_torch_sparse(sp.csr_matrix(P.T) / keep)
        torch.manual_seed(seed)
        x = torch.randn(50, 4, requires_grad=True)
        noises = dropout_noise(6, x.shape, dtype, x.device, generator)
        weight = torch.randn(50, 4)
        out = _DropoutDiffusion.apply(
            x, P_torch, P_torch_t, workspace, threshold, *noises
        )
        (grad,) = torch.autograd.grad((out * weight).sum(), x)
        ref = x
        for noise in noises:
            ref = P_dense @ (ref * (noise >= threshold))
        (ref_grad,) = torch.autograd.grad((ref * weight).sum(), x)
        np.testing.assert_allclose(
            out.detach().numpy(), ref.detach().numpy(), atol=1e-5
        )
        np.testing.assert_allclose(grad.numpy(), ref_grad.numpy(), atol=1e-5)
    # The masks keep 1 - p of the entries, independently from mask to mask,
    # with 8-bit noise where p is a multiple of 2^-8 and 16-bit otherwise.
    for p in (0.25, 0.1):
        dtype, threshold, keep = dropout_threshold(p)
        assert keep == pytest.approx(1 - p, abs=2**-16)
        noises = dropout_noise(3, (400, 501), dtype, torch.device("cpu"), generator)
        assert noises[0].dtype == (torch.int8 if p == 0.25 else torch.int16)
        kept = [(noise >= threshold).double() for noise in noises]
        for mask in kept:
            assert mask.mean().item() == pytest.approx(keep, abs=0.005)
        assert (kept[0] * kept[1]).mean().item() == pytest.approx(keep**2, abs=0.005)
    # p is never rounded to a mask that drops everything.
    assert dropout_threshold(1 - 1e-9)[2] == 2**-16


def test_sparse_input_layer_keeps_values_and_trains_like_dense():
    # With sparse features the first layer's weight is laid out as the
    # transpose of a contiguous matrix (no copy per sparse product): the same
    # parameter, values and gradients as the dense-input module, and an
    # optimizer step keeps working on it.
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(50, 6))
    X[X < 0.5] = 0
    L = graph_laplacian(diffusion_graph(X, 5, 2))
    idx, target = torch.arange(10), torch.arange(10) % 3
    results = []
    for features in (X, sp.csr_matrix(X)):
        module = DiffResNetModule(6, 3, step_size=0.5, n_layers=4)
        module.reset_parameters(0)
        weight = module.blocks[0].fc1.weight
        before = weight.detach().clone()
        module.set_graph(to_torch(features), L)
        assert module.blocks[0].fc1.weight is weight  # the optimizer's param
        assert weight.T.is_contiguous() == sp.issparse(features)
        assert torch.equal(weight.detach(), before)
        optimizer = torch.optim.Adam(module.parameters(), lr=0.01)
        loss = torch.nn.functional.cross_entropy(module(idx), target)
        loss.backward()
        results.append(weight.grad.clone())
        optimizer.step()
        results.append(weight.detach().clone())
    grad_dense, step_dense, grad_sparse, step_sparse = results
    assert grad_dense.abs().sum() > 0
    np.testing.assert_allclose(grad_sparse.numpy(), grad_dense.numpy(), atol=1e-6)
    np.testing.assert_allclose(step_sparse.numpy(), step_dense.numpy(), atol=1e-6)


def test_sparse_first_layer_sums_weight_rows_like_the_dense_product():
    # On the CPU a sparse input's first layer sums the weight rows its
    # entries select (F.embedding_bag): the dense product's values and
    # gradient, with an empty row and with the weight in either layout.
    from sklearn_diffres._module import _ResidualBlock, _transposed_layout

    rng = np.random.RandomState(0)
    X = rng.uniform(size=(30, 12)).astype(np.float32)
    X[X < 0.7] = 0
    X[4] = 0  # a row without entries
    for transposed in (False, True):
        torch.manual_seed(0)
        block = _ResidualBlock(12, "mlp", 7)
        if transposed:
            _transposed_layout(block.fc1.weight)
        grad = torch.randn(30, 7)
        results = []
        for x in (torch.from_numpy(X), to_torch(sp.csr_matrix(X))):
            block.fc1.weight.grad = None
            out = block.inner(x)
            out.backward(grad)
            results += [out.detach(), block.fc1.weight.grad.clone()]
        dense_out, dense_grad, sparse_out, sparse_grad = results
        np.testing.assert_allclose(sparse_out.numpy(), dense_out.numpy(), atol=1e-6)
        np.testing.assert_allclose(sparse_grad.numpy(), dense_grad.numpy(), atol=1e-5)
        assert dense_grad.abs().sum() > 0


def test_sparse_product_into_ignores_what_the_buffer_held():
    from sklearn_diffres._kernels import _spmm_into

    A = sp.random(30, 30, density=0.2, random_state=0, format="csr")
    operator = to_torch(A)
    x = torch.randn(30, 4)
    out = torch.full((30, 4), float("nan"))  # a reused buffer's leftovers
    _spmm_into(out, operator, x)
    np.testing.assert_allclose(out.numpy(), A @ x.numpy(), rtol=1e-5, atol=1e-6)
