"""Property tests: random stacks pass gradcheck, shapes follow the contract, for any sizes.

Examples are derandomized, so every run checks the same cases, and kept few
so that the whole file runs in seconds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from conftest import ACTIVATIONS
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg

L = mg.losses
FEW = settings(max_examples=25, deadline=None, derandomize=True)
SOME = settings(max_examples=60, deadline=None, derandomize=True)

sizes = st.integers(min_value=1, max_value=4)
activation_names = st.sampled_from(sorted(ACTIVATIONS))
inits = st.sampled_from(["he", "xavier", "normal"])
seeds = st.integers(min_value=0, max_value=2**16)


@st.composite
def stacks(draw: st.DrawFn) -> tuple[mg.Sequential, int]:
    """Dense layers of random sizes, each followed by a random activation (or none)."""
    n_x = draw(sizes)
    layers: list[mg.Layer] = []
    n = n_x
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        n_out = draw(sizes)
        layers.append(mg.Dense(n, n_out, init=draw(inits), rng=draw(seeds)))
        if draw(st.booleans()):
            layers.append(ACTIVATIONS[draw(activation_names)]())
        n = n_out
    return mg.Sequential(layers), n_x


def _inputs(seed: int, n_x: int, m: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n_x, m))


@FEW
@given(stack=stacks(), m=sizes, seed=seeds)
def test_random_stacks_pass_gradcheck(stack: tuple[mg.Sequential, int], m: int, seed: int) -> None:
    net, n_x = stack
    report = mg.gradcheck(net, _inputs(seed, n_x, m))
    assert report, f"{net!r}\n{report}"


@st.composite
def stacks_with_a_loss(draw: st.DrawFn) -> tuple[mg.Sequential, int, Any, L.Loss]:
    net, n_x = draw(stacks())
    n_out = net.output_size(n_x)
    assert n_out is not None
    m = draw(sizes)
    rng = np.random.default_rng(draw(seeds))
    kind = draw(st.sampled_from(["mse", "bce", "bce-logits", "cce", "cce-logits"]))
    if kind == "mse":
        return net, m, rng.normal(size=(n_out, m)), L.MeanSquaredError()
    if kind.startswith("bce"):
        Y = rng.integers(0, 2, size=(n_out, m))
        if kind == "bce":
            net.append(mg.Sigmoid())
        return net, m, Y, L.BinaryCrossEntropy(from_logits=kind == "bce-logits")
    labels = rng.integers(0, n_out, size=m)
    if kind == "cce":
        net.append(mg.Softmax())
    return net, m, labels, L.CategoricalCrossEntropy(from_logits=kind == "cce-logits")


@FEW
@given(case=stacks_with_a_loss(), seed=seeds)
def test_random_stacks_with_every_loss_pass_gradcheck(
    case: tuple[mg.Sequential, int, Any, L.Loss], seed: int
) -> None:
    net, m, Y, loss = case
    n_x = net[0].n_in  # type: ignore[attr-defined]
    report = mg.gradcheck(net, _inputs(seed, n_x, m), Y, loss)
    assert report, f"{net!r} {loss!r}\n{report}"


# -- shape contracts --------------------------------------------------------------


@SOME
@given(n_in=sizes, n_out=sizes, m=st.integers(1, 9), seed=seeds)
def test_dense_shape_contract(n_in: int, n_out: int, m: int, seed: int) -> None:
    layer = mg.Dense(n_in, n_out, rng=seed)
    X = _inputs(seed, n_in, m)
    Z = layer.forward(X)
    dA_prev = layer.backward(np.ones_like(Z))
    assert Z.shape == (n_out, m)
    assert dA_prev.shape == X.shape
    assert layer.dW.shape == layer.W.shape == (n_out, n_in)
    assert layer.db.shape == layer.b.shape == (n_out, 1)


@SOME
@given(
    name=activation_names,
    Z=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6),
        elements=st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False),
    ),
)
def test_activation_shape_contract_and_finiteness(name: str, Z: np.ndarray) -> None:
    layer = ACTIVATIONS[name]()
    Z_saved = Z.copy()
    A = layer.forward(Z)
    dZ = layer.backward(np.ones_like(A))
    assert A.shape == Z.shape and dZ.shape == Z.shape
    assert np.isfinite(A).all() and np.isfinite(dZ).all()
    np.testing.assert_array_equal(Z, Z_saved)  # forward never writes into its input


@SOME
@given(stack=stacks(), m=st.integers(1, 7), seed=seeds)
def test_sequential_shape_contract(stack: tuple[mg.Sequential, int], m: int, seed: int) -> None:
    net, n_x = stack
    X = _inputs(seed, n_x, m)
    A = net.forward(X)
    assert A.shape == (net.output_size(n_x), m)
    assert net.backward(np.ones_like(A)).shape == X.shape
    for p in net.parameters():
        assert p.grad.shape == p.value.shape


@SOME
@given(
    Z=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6),
        elements=st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False),
    )
)
def test_softmax_columns_sum_to_one_and_sigmoid_stays_in_range(Z: np.ndarray) -> None:
    A = mg.Softmax().forward(Z)
    np.testing.assert_allclose(A.sum(axis=0), 1.0, rtol=0, atol=1e-12)
    assert np.all((A >= 0) & (A <= 1))
    S = mg.Sigmoid().forward(Z)
    assert np.all((S >= 0) & (S <= 1))


@SOME
@given(
    Z=hnp.arrays(
        np.float64, st.tuples(sizes, sizes), elements=st.floats(-5, 5, allow_nan=False)
    ),
    seed=seeds,
)
def test_fused_logit_losses_equal_the_unfused_ones(Z: np.ndarray, seed: int) -> None:
    # moderate logits only: beyond them the unfused loss is the inaccurate one (1 - A
    # rounds, probabilities are clipped), which is why from_logits exists
    rng = np.random.default_rng(seed)
    Y = rng.integers(0, 2, size=Z.shape)
    J_fused = L.BinaryCrossEntropy(from_logits=True).forward(Z, Y)
    J_plain = L.BinaryCrossEntropy().forward(mg.Sigmoid().forward(Z), Y)
    assert abs(J_fused - J_plain) <= 1e-9 * max(1.0, abs(J_plain))
    labels = rng.integers(0, Z.shape[0], size=Z.shape[1])
    J_fused = L.CategoricalCrossEntropy(from_logits=True).forward(Z, labels)
    J_plain = L.CategoricalCrossEntropy().forward(mg.Softmax().forward(Z), labels)
    assert abs(J_fused - J_plain) <= 1e-9 * max(1.0, abs(J_plain))
