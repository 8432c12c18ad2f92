"""Optional cross-check: minigrad's gradients equal PyTorch's autograd on random deep nets
and on random layer graphs (residuals, concatenations, a shared layer, several inputs).

Skipped when torch is not installed (no test needs it). Every built-in activation and
every loss appears; nets are float64, examples are columns in minigrad and rows in torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from test_graph import random_graph  # the random DAGs of tests/test_graph.py

import minigrad as mg

torch = pytest.importorskip("torch")
F = torch.nn.functional

# (minigrad activation, the same function in torch on a (m, n) tensor)
PAIRS: list[tuple[Callable[[], mg.Activation], Callable[[Any], Any]]] = [
    (mg.Identity, lambda z: z),
    (mg.Sigmoid, torch.sigmoid),
    (mg.Tanh, torch.tanh),
    (mg.ReLU, F.relu),
    (lambda: mg.LeakyReLU(0.2), lambda z: F.leaky_relu(z, 0.2)),
    (lambda: mg.ELU(0.7), lambda z: F.elu(z, 0.7)),
    (mg.SELU, F.selu),
    (mg.GELU, lambda z: F.gelu(z)),
    (lambda: mg.GELU(approximate="tanh"), lambda z: F.gelu(z, approximate="tanh")),
    (mg.SiLU, F.silu),
    (mg.Softplus, lambda z: F.softplus(z, threshold=1e9)),
    (mg.Softsign, F.softsign),
    (lambda: mg.HardTanh(-1.5, 0.5), lambda z: F.hardtanh(z, -1.5, 0.5)),
    (mg.Softmax, lambda z: F.softmax(z, dim=1)),
]


def _losses(n_out: int, m: int, rng: np.random.Generator) -> list[tuple[str, Any, Any, Any]]:
    """(name, minigrad loss, targets, torch cost of (output, targets)) for one net."""
    probs = rng.random((n_out, m))
    labels = rng.integers(0, n_out, size=m)
    onehot = np.eye(n_out)[:, labels]

    def mean_over_columns(per_entry: Any) -> Any:
        return per_entry.sum() / m

    return [
        ("mse", mg.losses.MeanSquaredError(), probs,
         lambda A, Y: mean_over_columns((A - Y) ** 2)),
        ("bce logits", mg.losses.BinaryCrossEntropy(from_logits=True), probs,
         lambda Z, Y: F.binary_cross_entropy_with_logits(Z, Y, reduction="sum") / m),
        ("cce logits, labels", mg.losses.CategoricalCrossEntropy(from_logits=True), labels,
         lambda Z, y: F.cross_entropy(Z, y, reduction="sum") / m),
        ("cce logits, one-hot", mg.losses.CategoricalCrossEntropy(from_logits=True), onehot,
         lambda Z, Y: F.cross_entropy(Z, Y, reduction="sum") / m),
    ]


def _run_torch(weights: list[tuple[np.ndarray, np.ndarray]], acts: list[Any], X: np.ndarray,
               head: Callable[[Any], Any] | None, cost: Callable[[Any, Any], Any],
               Y: np.ndarray) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray, float]:
    tensors = [(torch.tensor(W, requires_grad=True), torch.tensor(b[:, 0], requires_grad=True))
               for W, b in weights]
    x = torch.tensor(X.T, requires_grad=True)
    a = x
    for (W, b), act in zip(tensors, acts, strict=True):
        a = act(a @ W.T + b)
    if head is not None:
        a = head(a)
    y = torch.tensor(Y if Y.ndim == 1 else Y.T)
    J = cost(a, y)
    J.backward()
    grads = [(W.grad.numpy(), b.grad.numpy()[:, None]) for W, b in tensors]
    return grads, x.grad.numpy().T, float(J.detach())


@pytest.mark.parametrize("seed", range(6))
def test_random_deep_nets_match_torch_autograd(seed: int) -> None:
    rng = np.random.default_rng(seed)
    depth = int(rng.integers(3, 6))
    sizes = [int(s) for s in rng.integers(2, 7, size=depth + 1)]
    m = int(rng.integers(1, 9))
    chosen = [PAIRS[int(i)] for i in rng.permutation(len(PAIRS))[:depth - 1]]
    layers: list[mg.Layer] = []
    for i in range(depth):
        layers.append(mg.Dense(sizes[i], sizes[i + 1], rng=int(rng.integers(1 << 30))))
        if i < depth - 1:
            layers.append(chosen[i][0]())
    X = rng.normal(size=(sizes[0], m))
    weights = [(d.W.copy(), d.b.copy()) for d in layers if isinstance(d, mg.Dense)]
    torch_acts = [pair[1] for pair in chosen] + [lambda z: z]

    for name, loss, Y, cost in _losses(sizes[-1], m, rng):
        net = mg.Sequential(layers)
        J = loss.forward(net.forward(X), Y)
        dX = net.backward(loss.backward())
        grads, dX_torch, J_torch = _run_torch(weights, torch_acts, X, None, cost, Y)
        np.testing.assert_allclose(J, J_torch, rtol=1e-12, atol=1e-12, err_msg=name)
        # minigrad's dX is per example (no 1/m); torch's is dJ/dX
        np.testing.assert_allclose(dX / m, dX_torch, rtol=1e-9, atol=1e-12, err_msg=name)
        dense = [x for x in layers if isinstance(x, mg.Dense)]
        for k, (layer, (dW, db)) in enumerate(zip(dense, grads, strict=True)):
            np.testing.assert_allclose(layer.dW, dW, rtol=1e-9, atol=1e-12,
                                       err_msg=f"{name}: dW of Dense {k}")
            np.testing.assert_allclose(layer.db, db, rtol=1e-9, atol=1e-12,
                                       err_msg=f"{name}: db of Dense {k}")


@pytest.mark.parametrize(("head", "torch_head", "loss", "cost"), [
    (mg.Sigmoid, torch.sigmoid, mg.losses.BinaryCrossEntropy(),
     lambda A, Y, m: F.binary_cross_entropy(A, Y, reduction="sum") / m),
    (mg.Softmax, lambda z: F.softmax(z, dim=1), mg.losses.CategoricalCrossEntropy(),
     lambda A, Y, m: -(Y * torch.log(A)).sum() / m),
])
def test_probability_outputs_match_torch(head: Any, torch_head: Any, loss: Any, cost: Any) -> None:
    rng = np.random.default_rng(11)
    m = 7
    layers: list[mg.Layer] = [mg.Dense(4, 5, rng=1), mg.Tanh(), mg.Dense(5, 3, rng=2), head()]
    X = rng.normal(size=(4, m))
    Y = np.eye(3)[:, rng.integers(0, 3, size=m)]
    net = mg.Sequential(layers)
    J = loss.forward(net.forward(X), Y)
    dX = net.backward(loss.backward())
    weights = [(d.W.copy(), d.b.copy()) for d in layers if isinstance(d, mg.Dense)]
    grads, dX_torch, J_torch = _run_torch(weights, [torch.tanh, lambda z: z], X, torch_head,
                                          lambda A, y: cost(A, y, m), Y)
    np.testing.assert_allclose(J, J_torch, rtol=1e-12)
    np.testing.assert_allclose(dX / m, dX_torch, rtol=1e-9, atol=1e-12)
    for layer, (dW, db) in zip([layers[0], layers[2]], grads, strict=True):
        np.testing.assert_allclose(layer.dW, dW, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(layer.db, db, rtol=1e-9, atol=1e-12)


def test_every_builtin_activation_is_cross_checked() -> None:
    from minigrad.activations import BUILTIN_ACTIVATIONS

    assert {type(make()) for make, _ in PAIRS} == set(BUILTIN_ACTIVATIONS)


# -- graphs: residuals, concatenations, a shared layer, several inputs and outputs ------------

TORCH_OF: dict[type, Callable[[Any], Any]] = {
    mg.Tanh: torch.tanh, mg.Sigmoid: torch.sigmoid, mg.SiLU: F.silu,
    mg.Softplus: lambda z: F.softplus(z, threshold=1e9), mg.Identity: lambda z: z,
}


def _torch_layer(layer: mg.Layer, args: list[Any], weights: dict[int, Any]) -> Any:
    """``layer`` on torch rows (m, n): the same function, written with torch operations."""
    if isinstance(layer, mg.Dense):
        W, b = (weights[id(p)] for p in layer.parameters())  # one tensor per parameter
        return args[0] @ W.T + b.T
    if type(layer) in TORCH_OF:
        return TORCH_OF[type(layer)](args[0])
    if isinstance(layer, mg.Add):
        return sum(args[1:], args[0])
    if isinstance(layer, mg.Multiply):
        out = args[0]
        for other in args[1:]:
            out = out * other
        return out
    if isinstance(layer, mg.Concat):
        return torch.cat(args, dim=1)  # minigrad stacks rows of columns; torch, columns of rows
    if isinstance(layer, mg.Residual):
        return args[0] + _torch_layer(layer.block, args, weights)
    if isinstance(layer, mg.Sequential):
        out = args[0]
        for child in layer.children():
            out = _torch_layer(child, [out], weights)
        return out
    if isinstance(layer, mg.Graph):
        outs = _torch_graph(layer, args, weights)
        return outs[0]
    raise NotImplementedError(f"no torch twin for {layer!r}")


def _torch_graph(model: mg.Graph, inputs: list[Any], weights: dict[int, Any]) -> list[Any]:
    values = {id(node): X for node, X in zip(model.input_nodes, inputs, strict=True)}
    for node in model.nodes:
        if node.layer is not None:
            values[id(node)] = _torch_layer(node.layer, [values[id(s)] for s in node.inputs],
                                            weights)
    return [values[id(node)] for node in model.output_nodes]


@pytest.mark.parametrize("seed", range(12))
def test_random_graph_gradients_equal_torch_autograd(seed: int) -> None:
    g = random_graph(seed, m=5)
    model, X = g.model, g.inputs
    rng = np.random.default_rng(seed)
    m = X[0].shape[1]
    outs = model.forward(X if len(X) > 1 else X[0])
    outs = outs if isinstance(outs, list) else [outs]
    # the cost: MSE on the first output plus a random linear function of the others
    Y = rng.normal(size=outs[0].shape)
    Gs = [rng.normal(size=A.shape) for A in outs[1:]]
    cost = float(np.sum((outs[0] - Y) ** 2)) / m + sum(
        float(np.vdot(G, A)) for G, A in zip(Gs, outs[1:], strict=True)) / m
    dA = [2 * (outs[0] - Y), *Gs]
    dX = model.backward(dA if len(dA) > 1 else dA[0])
    dX = dX if isinstance(dX, list) else [dX]

    weights = {id(p): torch.tensor(p.value, requires_grad=True) for p in model.parameters()}
    rows = [torch.tensor(X_i.T, requires_grad=True) for X_i in X]
    t_outs = _torch_graph(model, rows, weights)
    t_cost = ((t_outs[0] - torch.tensor(Y.T)) ** 2).sum() / m
    for G, A in zip(Gs, t_outs[1:], strict=True):
        t_cost = t_cost + (torch.tensor(G.T) * A).sum() / m
    t_cost.backward()

    assert len(weights) == len(model.parameters())  # a shared layer's tensors once
    np.testing.assert_allclose(cost, t_cost.item(), rtol=1e-12)
    for A, t_A in zip(outs, t_outs, strict=True):
        np.testing.assert_allclose(A, t_A.detach().numpy().T, rtol=1e-12, atol=1e-15)
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, weights[id(p)].grad.numpy(), rtol=1e-9, atol=1e-13,
                                   err_msg=f"graph {seed}, {name}")
    for i, (d, t_X) in enumerate(zip(dX, rows, strict=True)):
        # minigrad's dX is per example: m times the gradient of the mean cost
        np.testing.assert_allclose(d, m * t_X.grad.numpy().T, rtol=1e-9, atol=1e-13,
                                   err_msg=f"graph {seed}, input {i}")


def test_the_torch_graphs_include_residuals_concats_shared_layers_and_two_inputs() -> None:
    kinds: set[str] = set()
    n_inputs: set[int] = set()
    for seed in range(12):
        g = random_graph(seed, m=5)
        kinds |= g.kinds
        n_inputs.add(len(g.inputs))
    assert {"Residual", "Concat", "shared", "Add", "Multiply"} <= kinds
    assert max(n_inputs) > 1
