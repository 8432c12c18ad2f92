"""Optional cross-check: minigrad's gradients equal PyTorch's autograd on random deep nets.

Skipped when torch is not installed (no test needs it). Every built-in activation and
every loss appears; nets are float64, examples are columns in minigrad and rows in torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

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
