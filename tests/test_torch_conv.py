"""Optional cross-check: convolutional nets' gradients equal PyTorch's autograd.

Skipped when torch is not installed (no test needs it). Random stacks of Conv2D (random
kernels, strides and paddings), activations, max and average pooling, BatchNorm, Flatten
and Dense, in float64, with the same weights in both. minigrad's images are
(c, h, w, m) and torch's (m, c, h, w): the batch is transposed on the way in, the
gradients on the way out; weights have the same layout in both, (c_out, c_in, kh, kw).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import minigrad as mg

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _random_stack(rng: np.random.Generator) -> tuple[list[mg.Layer], list[Any], tuple[int, ...]]:
    """(minigrad layers, the same steps in torch, input shape (c, h, w, m))."""
    c = int(rng.integers(1, 4))
    h, w = int(rng.integers(7, 12)), int(rng.integers(7, 12))
    m = int(rng.integers(1, 5))
    shape = (c, h, w, m)
    ours: list[mg.Layer] = []
    theirs: list[Any] = []
    for _ in range(int(rng.integers(1, 4))):
        c_out = int(rng.integers(1, 5))
        kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        stride = (1, 1) if rng.random() < 0.5 else (1, 2)
        ph, pw = int(rng.integers(0, kh)), int(rng.integers(0, kw))
        # keep the stride tiling: make the padded width minus the kernel even
        if stride[1] == 2 and (w + 2 * pw - kw) % 2:
            kw = kw + 1 if kw < 3 else kw - 1
            pw = min(pw, kw - 1)
        conv = mg.Conv2D(c, c_out, (kh, kw), stride=stride, padding=(ph, pw),
                         rng=int(rng.integers(1 << 30)))
        conv.b = rng.normal(size=conv.b.shape)
        ours.append(conv)
        theirs.append(("conv", conv, stride, (ph, pw)))
        c, h, w = c_out, (h + 2 * ph - kh) // stride[0] + 1, (w + 2 * pw - kw) // stride[1] + 1
        kind = rng.integers(3)
        if kind == 0:
            ours.append(mg.Tanh())
            theirs.append(("fn", torch.tanh))
        elif kind == 1:
            ours.append(mg.SiLU())
            theirs.append(("fn", F.silu))
        else:
            ours.append(mg.BatchNorm(c))
            theirs.append(("bn", c))
        if h >= 4 and w >= 4 and h % 2 == 0 and w % 2 == 0:
            if rng.random() < 0.5:
                ours.append(mg.MaxPool2D(2))
                theirs.append(("fn", lambda a: F.max_pool2d(a, 2)))
            else:
                ours.append(mg.AvgPool2D(2))
                theirs.append(("fn", lambda a: F.avg_pool2d(a, 2)))
            h, w = h // 2, w // 2
        elif h >= 3 and w >= 3:
            ours.append(mg.MaxPool2D(3, stride=1))
            theirs.append(("fn", lambda a: F.max_pool2d(a, 3, stride=1)))
            h, w = h - 2, w - 2
    ours.append(mg.Flatten())
    theirs.append(("fn", lambda a: a.flatten(1)))
    dense = mg.Dense(c * h * w, 3, rng=int(rng.integers(1 << 30)))
    ours.append(dense)
    theirs.append(("dense", dense))
    return ours, theirs, shape


def _torch_forward(steps: list[Any], x: Any) -> tuple[Any, list[Any]]:
    params = []
    a = x
    for step in steps:
        if step[0] == "conv":
            _, conv, stride, padding = step
            W = torch.tensor(conv.W, requires_grad=True)
            b = torch.tensor(conv.b.ravel(), requires_grad=True)
            params += [W, b]
            a = F.conv2d(a, W, b, stride=stride, padding=padding)
        elif step[0] == "dense":
            W = torch.tensor(step[1].W, requires_grad=True)
            b = torch.tensor(step[1].b.ravel(), requires_grad=True)
            params += [W, b]
            a = a @ W.T + b
        elif step[0] == "bn":
            gamma = torch.ones(step[1], dtype=torch.float64, requires_grad=True)
            beta = torch.zeros(step[1], dtype=torch.float64, requires_grad=True)
            params += [gamma, beta]
            a = F.batch_norm(a, None, None, gamma, beta, training=True, eps=1e-5)
        else:
            a = step[1](a)
    return a, params


@pytest.mark.parametrize("seed", range(8))
def test_random_conv_stacks_match_torch_autograd(seed: int) -> None:
    rng = np.random.default_rng(seed)
    layers, steps, shape = _random_stack(rng)
    if shape[3] == 1 and any(isinstance(layer, mg.BatchNorm) for layer in layers):
        shape = (*shape[:3], 2)  # BatchNorm trains on m >= 2
    model = mg.Sequential(layers)
    X = rng.normal(size=shape)
    labels = rng.integers(0, 3, size=shape[3])
    loss = mg.losses.CategoricalCrossEntropy(from_logits=True)
    J = loss.forward(model.forward(X), labels)
    dX = model.backward(loss.backward())

    x = torch.tensor(X.transpose(3, 0, 1, 2).copy(), requires_grad=True)
    logits, params = _torch_forward(steps, x)
    J_torch = F.cross_entropy(logits, torch.tensor(labels))
    J_torch.backward()

    np.testing.assert_allclose(J, float(J_torch.detach()), rtol=1e-10)
    np.testing.assert_allclose(dX.transpose(3, 0, 1, 2), x.grad.numpy() * shape[3],
                               rtol=1e-8, atol=1e-10)  # dX is per example: m times torch's
    grads = [p.grad for p in model.parameters()]
    assert len(grads) == len(params)
    for ours, theirs in zip(grads, params, strict=True):
        np.testing.assert_allclose(ours.reshape(theirs.shape), theirs.grad.numpy(),
                                   rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize(("kernel", "stride", "padding"), [
    (5, 1, 2), (3, 2, 1), ((3, 1), (2, 1), (0, 0)), (4, 1, "same"),
])
def test_one_conv_layer_matches_torch_forward_and_backward(kernel: Any, stride: Any,
                                                            padding: Any) -> None:
    rng = np.random.default_rng(0)
    conv = mg.Conv2D(3, 4, kernel, stride=stride, padding=padding, rng=1)
    conv.b = rng.normal(size=conv.b.shape)
    X = rng.normal(size=(3, 9, 9, 5))
    Z = conv.forward(X)
    dZ = rng.normal(size=Z.shape)
    dX = conv.backward(dZ)

    x = torch.tensor(X.transpose(3, 0, 1, 2).copy(), requires_grad=True)
    W = torch.tensor(conv.W, requires_grad=True)
    b = torch.tensor(conv.b.ravel(), requires_grad=True)
    top, bottom, left, right = conv._pads
    z = F.conv2d(F.pad(x, (left, right, top, bottom)), W, b, stride=conv.stride)
    np.testing.assert_allclose(Z.transpose(3, 0, 1, 2), z.detach().numpy(), rtol=1e-12,
                               atol=1e-12)
    # torch's cost sum(dZ * Z) / m: the same gradient scale as minigrad's
    (z * torch.tensor(dZ.transpose(3, 0, 1, 2).copy())).sum().div(5).backward()
    np.testing.assert_allclose(conv.dW, W.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(conv.db.ravel(), b.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dX.transpose(3, 0, 1, 2), 5 * x.grad.numpy(), rtol=1e-10,
                               atol=1e-12)


def test_max_pool_ties_go_where_torch_sends_them() -> None:
    X = np.round(np.random.default_rng(0).normal(size=(2, 6, 6, 3)))  # many ties
    pool = mg.MaxPool2D(2)
    A = pool.forward(X)
    dA = np.random.default_rng(1).normal(size=A.shape)
    dX = pool.backward(dA)
    x = torch.tensor(X.transpose(3, 0, 1, 2).copy(), requires_grad=True)
    a = F.max_pool2d(x, 2)
    a.backward(torch.tensor(dA.transpose(3, 0, 1, 2).copy()))
    np.testing.assert_array_equal(dX.transpose(3, 0, 1, 2), x.grad.numpy())
