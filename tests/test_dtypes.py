"""float32 end to end: every layer, loss and a whole training step keep the model's dtype."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ACTIVATIONS, away_from_kinks, normal

import minigrad as mg

L = mg.losses
F32, F64 = np.float32, np.float64


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activations_keep_the_dtype(name: str, dtype: type) -> None:
    layer = ACTIVATIONS[name]()
    Z = away_from_kinks(0, (3, 4)).astype(dtype)
    A = layer.forward(Z)
    dZ = layer.backward(normal(1, (3, 4)).astype(dtype))
    assert A.dtype == dtype
    assert dZ.dtype == dtype
    if dtype is F32:  # and agree with the float64 computation to float32 precision
        reference = ACTIVATIONS[name]()
        A64 = reference.forward(Z.astype(F64))
        dZ64 = reference.backward(normal(1, (3, 4)).astype(F32).astype(F64))
        np.testing.assert_allclose(A, A64, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(dZ, dZ64, rtol=1e-5, atol=1e-6)


def test_dense_float32_forward_and_backward() -> None:
    layer = mg.Dense(3, 2, dtype=F32, rng=0)
    X = normal(2, (3, 5)).astype(F32)
    Z = layer.forward(X)
    dA_prev = layer.backward(np.ones((2, 5), dtype=F32))
    for array in (Z, dA_prev, layer.W, layer.b, layer.dW, layer.db):
        assert array.dtype == F32
    reference = mg.Dense(3, 2, rng=0)  # the same draws, kept in float64
    np.testing.assert_allclose(Z, reference.forward(X.astype(F64)), rtol=1e-5, atol=1e-6)


def test_float64_input_is_cast_to_a_float32_layer() -> None:
    layer = mg.Dense(3, 2, dtype=F32, rng=0)
    Z = layer.forward(normal(3, (3, 4)))
    assert Z.dtype == F32
    assert layer.A_prev is not None and layer.A_prev.dtype == F32


def _loss_cases() -> list[tuple[L.Loss, np.ndarray, np.ndarray]]:
    Z = normal(4, (3, 5), scale=2)
    P = np.exp(Z) / np.exp(Z).sum(axis=0)
    S = 1 / (1 + np.exp(-Z))
    labels = np.array([0, 2, 1, 1, 0])
    binary = (normal(5, (3, 5)) > 0).astype(F64)  # float64 targets: cast, not upcasting
    return [
        (L.MeanSquaredError(), Z, normal(6, (3, 5))),
        (L.BinaryCrossEntropy(), S, binary),
        (L.BinaryCrossEntropy(from_logits=True), Z, binary),
        (L.CategoricalCrossEntropy(), P, labels),
        (L.CategoricalCrossEntropy(), P, np.eye(3)[:, labels]),
        (L.CategoricalCrossEntropy(from_logits=True), Z, labels),
        (L.CategoricalCrossEntropy(from_logits=True), Z, np.eye(3)[:, labels]),
    ]


@pytest.mark.parametrize("case", range(7))
def test_losses_keep_the_dtype_of_A(case: int) -> None:
    loss, A, Y = _loss_cases()[case]
    J32 = loss.forward(A.astype(F32), Y)
    dA32 = loss.backward()
    J64 = loss.forward(A, Y)
    dA64 = loss.backward()
    assert isinstance(J32, float) and isinstance(J64, float)
    assert dA32.dtype == F32 and dA64.dtype == F64
    assert pytest.approx(J64, rel=1e-5) == J32
    np.testing.assert_allclose(dA32, dA64, rtol=1e-4, atol=1e-5)


def _float32_net() -> mg.Sequential:
    return mg.Sequential([
        mg.Dense(4, 6, dtype=F32, rng=0), mg.GELU(),
        mg.Dense(6, 5, dtype=F32, rng=1), mg.ELU(0.5),
        mg.Dense(5, 3, dtype=F32, rng=2), mg.Softmax(),
    ])


def test_a_float32_training_step_never_upcasts() -> None:
    net = _float32_net()
    X = normal(7, (4, 8)).astype(F32)
    labels = np.arange(8) % 3
    loss = L.CategoricalCrossEntropy()
    weights = [p.value for p in net.parameters()]
    for _ in range(3):
        A = X
        for layer in net:  # step by step, so that every intermediate array is seen
            A = layer.forward(A)
            assert A.dtype == F32, f"{layer!r} forward gave {A.dtype}"
        J = loss.forward(A, labels)
        dA = loss.backward()
        assert dA.dtype == F32
        for layer in reversed(list(net)):
            dA = layer.backward(dA)
            assert dA.dtype == F32, f"{layer!r} backward gave {dA.dtype}"
        for p in net.parameters():
            assert p.grad.dtype == F32
            p.value -= 0.5 * p.grad  # a Python float keeps float32 (NEP 50)
    assert np.isfinite(J)
    for p, array in zip(net.parameters(), weights, strict=True):
        assert p.value is array and array.dtype == F32
    assert net.forward(X).dtype == F32
    assert net.predict(X).dtype == F32


def test_a_float32_net_with_fused_logits_loss_stays_float32() -> None:
    net = mg.Sequential([mg.Dense(2, 3, dtype=F32, rng=0), mg.Tanh(), mg.Dense(3, 1, dtype=F32,
                                                                               rng=1)])
    loss = L.BinaryCrossEntropy(from_logits=True)
    X = normal(8, (2, 6)).astype(F32)
    loss.forward(net.forward(X), np.array([0, 1, 1, 0, 1, 0]))
    assert net.backward(loss.backward()).dtype == F32
    assert all(p.grad.dtype == F32 for p in net.parameters())


def test_astype_round_trip_and_default_dtype() -> None:
    net = mg.Sequential([mg.Dense(2, 3, rng=0), mg.Tanh(), mg.Dense(3, 1, rng=1)])
    assert net.dtype == F64
    before = [p.value.copy() for p in net.parameters()]
    net.astype(F32).astype(F64)
    assert net.dtype == F64
    for p, saved in zip(net.parameters(), before, strict=True):
        np.testing.assert_allclose(p.value, saved, rtol=1e-7)  # float32 rounding only


def test_a_float32_layer_cannot_join_a_float64_net() -> None:
    net = mg.Sequential([mg.Dense(2, 3), mg.Tanh()])
    with pytest.raises(mg.DTypeError, match="different dtypes"):
        net.append(mg.Dense(3, 1, dtype=F32))
    assert len(net) == 2
    net.append(mg.Dense(3, 1, dtype=F32).astype(F64))
    assert net.dtype == F64


def test_integer_data_becomes_the_model_dtype() -> None:
    net = _float32_net()
    assert net.forward(np.arange(8).reshape(4, 2)).dtype == F32
    assert mg.Tanh().forward(np.arange(4).reshape(2, 2)).dtype == F64
