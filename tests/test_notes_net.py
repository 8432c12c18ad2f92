"""The notes' 2-layer net (Dense, Tanh, Dense, Sigmoid + binary cross-entropy).

The framework's gradients must equal the hand-written numpy formulas of the
notes, with nothing special-cased: Sigmoid.backward(BCE.backward()) gives
dZ2 = A2 - Y, and Dense.backward then Tanh.backward give dZ1.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import minigrad as mg

N_X, N_H, M = 2, 4, 7


def _notes_net(seed: int) -> mg.Sequential:
    return mg.Sequential(
        [
            mg.Dense(N_X, N_H, init="normal", rng=seed),
            mg.Tanh(),
            mg.Dense(N_H, 1, init="normal", rng=seed + 1),
            mg.Sigmoid(),
        ]
    )


def _data(seed: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N_X, m))
    Y = (rng.uniform(size=(1, m)) < 0.5).astype(float)
    return X, Y


def _by_hand(
    W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray, X: np.ndarray, Y: np.ndarray
) -> dict[str, np.ndarray | float]:
    """Forward and backward exactly as the notes write them."""
    m = X.shape[1]
    Z1 = np.dot(W1, X) + b1
    A1 = np.tanh(Z1)
    Z2 = np.dot(W2, A1) + b2
    A2 = 1 / (1 + np.exp(-Z2))
    cost = -np.sum(Y * np.log(A2) + (1 - Y) * np.log(1 - A2)) / m
    dZ2 = A2 - Y
    dW2 = (1 / m) * np.dot(dZ2, A1.T)
    db2 = (1 / m) * np.sum(dZ2, axis=1, keepdims=True)
    dZ1 = np.multiply(np.dot(W2.T, dZ2), 1 - np.power(A1, 2))
    dW1 = (1 / m) * np.dot(dZ1, X.T)
    db1 = (1 / m) * np.sum(dZ1, axis=1, keepdims=True)
    return {"A2": A2, "cost": float(cost), "dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}


@pytest.mark.parametrize(("seed", "m"), [(0, M), (1, 1), (2, 50)])
def test_framework_gradients_equal_the_notes_formulas(seed: int, m: int) -> None:
    net = _notes_net(seed)
    dense1, _, dense2, _ = net
    assert isinstance(dense1, mg.Dense) and isinstance(dense2, mg.Dense)
    # biases start at zero; give them values so that db and the b terms are exercised
    dense1.b[...] = np.random.default_rng(seed + 10).normal(size=(N_H, 1)) * 0.1
    dense2.b[...] = 0.3
    X, Y = _data(seed, m)
    expected = _by_hand(dense1.W, dense1.b, dense2.W, dense2.b, X, Y)

    loss = mg.losses.BinaryCrossEntropy()
    A2 = net.forward(X)
    cost = loss.forward(A2, Y)
    net.backward(loss.backward())

    np.testing.assert_allclose(A2, expected["A2"], rtol=1e-14, atol=0)
    assert cost == pytest.approx(expected["cost"], rel=1e-12)
    for name, got in [
        ("dW1", dense1.dW), ("db1", dense1.db), ("dW2", dense2.dW), ("db2", dense2.db)
    ]:
        np.testing.assert_allclose(got, expected[name], rtol=0, atol=1e-12, err_msg=name)
        # and relative to the size of the gradient, not only absolutely
        scale = np.abs(expected[name]).max()
        assert np.abs(got - expected[name]).max() <= 1e-12 * max(scale, 1e-300) + 1e-17, name


def test_sigmoid_then_bce_backward_is_A_minus_Y() -> None:
    X, Y = _data(3, 9)
    net = _notes_net(3)
    loss = mg.losses.BinaryCrossEntropy()
    A2 = net.forward(X)
    loss.forward(A2, Y)
    dZ2 = net[3].backward(loss.backward())
    np.testing.assert_allclose(dZ2, A2 - Y, rtol=0, atol=1e-14)


def test_from_logits_gives_the_same_gradients() -> None:
    X, Y = _data(4, 8)
    with_sigmoid = _notes_net(4)
    logits = mg.Sequential(list(_notes_net(4))[:3])
    loss_p, loss_z = mg.losses.BinaryCrossEntropy(), mg.losses.BinaryCrossEntropy(from_logits=True)
    J_p = loss_p.forward(with_sigmoid.forward(X), Y)
    J_z = loss_z.forward(logits.forward(X), Y)
    with_sigmoid.backward(loss_p.backward())
    logits.backward(loss_z.backward())
    assert J_z == pytest.approx(J_p, rel=1e-13)
    for p, q in zip(with_sigmoid.parameters(), logits.parameters(), strict=True):
        np.testing.assert_allclose(q.grad, p.grad, rtol=0, atol=1e-14)


def test_gradients_are_assigned_not_accumulated() -> None:
    X, Y = _data(5, 6)
    net = _notes_net(5)
    loss = mg.losses.BinaryCrossEntropy()
    for _ in range(3):
        loss.forward(net.forward(X), Y)
        net.backward(loss.backward())
    once = _notes_net(5)
    loss.forward(once.forward(X), Y)
    once.backward(loss.backward())
    for p, q in zip(net.parameters(), once.parameters(), strict=True):
        np.testing.assert_array_equal(p.grad, q.grad)


def test_a_few_gradient_steps_lower_the_cost() -> None:
    X, Y = _data(6, 40)
    net = _notes_net(6)
    loss = mg.losses.BinaryCrossEntropy()
    costs = []
    for _ in range(30):
        costs.append(loss.forward(net.forward(X), Y))
        net.backward(loss.backward())
        for p in net.parameters():
            p.value -= 1.0 * p.grad
    assert costs[-1] < costs[0] - 1e-3
    assert all(b <= a + 1e-12 for a, b in itertools.pairwise(costs))


def test_training_the_planar_net_matches_the_hand_written_loop_bit_for_bit() -> None:
    """The tutorial's run: flower set, randn * 0.01 weights from seed 2, SGD lr = 1.2.

    Near iteration 8000 that run is chaotic (the cost rises again), so any change in the
    order of floating-point operations shows up in the printed costs; minigrad's must be
    the notes' own numbers, not merely close to them.
    """
    X, Y = mg.datasets.planar()
    legacy = np.random.RandomState(2)
    W1, W2 = legacy.randn(4, 2) * 0.01, legacy.randn(1, 4) * 0.01
    b1, b2 = np.zeros((4, 1)), np.zeros((1, 1))
    net = mg.Sequential([mg.Dense(2, 4), mg.Tanh(), mg.Dense(4, 1), mg.Sigmoid()])
    net[0].W[...], net[2].W[...] = W1, W2
    history = mg.fit(net, X, Y, loss="bce", optimizer=mg.optim.SGD(net.parameters(), lr=1.2),
                     epochs=10_000, verbose=False)

    m = X.shape[1]
    costs = []
    for _ in range(10_000):
        A1 = np.tanh(np.dot(W1, X) + b1)
        A2 = 1 / (1 + np.exp(-(np.dot(W2, A1) + b2)))
        costs.append(-np.sum(Y * np.log(A2) + (1 - Y) * np.log(1 - A2)) / m)
        dZ2 = A2 - Y
        dW2, db2 = (1 / m) * np.dot(dZ2, A1.T), (1 / m) * np.sum(dZ2, axis=1, keepdims=True)
        dZ1 = np.dot(W2.T, dZ2) * (1 - A1**2)
        dW1, db1 = (1 / m) * np.dot(dZ1, X.T), (1 / m) * np.sum(dZ1, axis=1, keepdims=True)
        W1, b1, W2, b2 = W1 - 1.2 * dW1, b1 - 1.2 * db1, W2 - 1.2 * dW2, b2 - 1.2 * db2

    for mine, by_hand in zip(net.parameters(), [W1, b1, W2, b2], strict=True):
        np.testing.assert_array_equal(mine.value, by_hand)
    every_1000 = [round(history["loss"][i], 6) for i in range(0, 10_000, 1000)]
    assert every_1000 == [round(float(costs[i]), 6) for i in range(0, 10_000, 1000)]
    assert every_1000[:3] == [0.693048, 0.288083, 0.254385]  # the published curve's start
