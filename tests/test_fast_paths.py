"""The fast paths of issue 6 give the same numbers and the same errors as the plain ones.

fit's full-batch loop, its fused loss step (no dA, Y checked once), the
divergence check of small gradients, binary cross-entropy after a Sigmoid
without clipping, the sigmoid without an error-state context, Tanh's in-place
backward and the finiteness check without a temporary as large as X.
"""

from __future__ import annotations

import math
import tracemalloc
from typing import Any

import numpy as np
import pytest
from attrs import define, field
from typing_extensions import override

import minigrad as mg
from minigrad._checks import FINITE_BLOCK, check_finite
from minigrad.callbacks import Callback, TrainState
from minigrad.functional import sigmoid
from minigrad.losses import BinaryCrossEntropy


def planar_like(seed: int, m: int = 40) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(2, m))
    Y = (X[0:1] * X[1:2] > 0).astype(float)
    return X, Y


def notes_net(seed: int, dtype: Any = np.float64) -> mg.Sequential:
    return mg.Sequential([mg.Dense(2, 4, rng=seed), mg.Tanh(), mg.Dense(4, 1, rng=seed + 1),
                          mg.Sigmoid()]).astype(dtype)


def manual_costs(model: mg.Layer, X: np.ndarray, Y: np.ndarray, lr: float, steps: int,
                 loss: mg.losses.Loss | None = None) -> list[float]:
    loss = loss or BinaryCrossEntropy()
    opt = mg.optim.SGD(model.parameters(), lr=lr)
    costs = []
    for _ in range(steps):
        costs.append(loss.forward(model.forward(X), Y))
        model.backward(loss.backward())
        opt.step()
    return costs


def values(model: mg.Layer) -> list[np.ndarray]:
    return [p.value.copy() for p in model.parameters()]


# -- fit's fused step ---------------------------------------------------------------------


def test_a_callback_asking_for_dA_gets_the_plain_forwards_dA() -> None:
    X, Y = planar_like(0)
    seen: list[tuple[np.ndarray, np.ndarray]] = []

    class AskForDA(Callback):
        @override
        def on_batch_end(self, state: TrainState) -> None:
            # the step did not need dA; backward() makes it on request, as forward would
            A = state.model.layers[-1].A  # type: ignore[attr-defined]
            seen.append((state.loss.backward(), A))

    model, twin = notes_net(1), notes_net(1)
    history = mg.fit(model, X, Y, loss="bce", optimizer=mg.optim.SGD(model.parameters(), lr=0.5),
                     epochs=3, callbacks=[AskForDA()], verbose=False)
    assert history["loss"] == manual_costs(twin, X, Y, 0.5, 3)
    for a, b in zip(values(model), values(twin), strict=True):
        np.testing.assert_array_equal(a, b)
    for dA, A in seen:
        assert not dA.flags.writeable
        np.testing.assert_allclose(dA, (A - Y) / (A * (1 - A)), rtol=1e-13)
    # the Sigmoid still fuses the dA it was handed: its backward is dZ = A - Y
    sigmoid_layer = model.layers[-1]
    np.testing.assert_allclose(sigmoid_layer.backward(seen[-1][0]), seen[-1][1] - Y, atol=1e-15)


def test_minibatches_and_float32_take_the_fused_step_too() -> None:
    X, Y = planar_like(2, m=30)
    for dtype in (np.float64, np.float32):
        model = notes_net(3, dtype)
        opt = mg.optim.SGD(model.parameters(), lr=0.3)
        history = mg.fit(model, X, Y, loss="bce", optimizer=opt, epochs=4, batch_size=8,
                         shuffle=False, verbose=False)
        twin, loss = notes_net(3, dtype), BinaryCrossEntropy()
        twin_opt = mg.optim.SGD(twin.parameters(), lr=0.3)
        X_t, Y_t = X.astype(dtype), Y.astype(dtype)
        for _ in range(4):
            for lo in range(0, 30, 8):
                loss.forward(twin.forward(X_t[:, lo:lo + 8]), Y_t[:, lo:lo + 8])
                twin.backward(loss.backward())
                twin_opt.step()
        for a, b in zip(values(model), values(twin), strict=True):
            assert a.dtype == dtype
            np.testing.assert_array_equal(a, b)
        assert all(isinstance(J, float) for J in history["loss"])


def test_a_subclass_of_the_loss_is_not_fused_away() -> None:
    @define(eq=False, repr=False)
    class Doubled(BinaryCrossEntropy):
        @override
        def forward(self, A: np.ndarray, Y: Any) -> float:
            return 2.0 * super().forward(A, Y)

    X, Y = planar_like(4)
    model = notes_net(5)
    history = mg.fit(model, X, Y, loss=Doubled(), optimizer=mg.optim.SGD(model.parameters(),
                     lr=0.1), epochs=2, verbose=False)
    plain = manual_costs(notes_net(5), X, Y, 0.1, 2)
    assert history["loss"] == [2.0 * J for J in plain]


@define(eq=False)
class PassThrough(mg.Layer):
    """Hands its input on as it is: the loss then sees the Sigmoid's own output array."""

    @override
    def forward(self, A_prev: np.ndarray) -> np.ndarray:
        return A_prev

    @override
    def backward(self, dA: np.ndarray) -> np.ndarray:
        return 0.5 * dA  # not the identity's gradient, so that fusing past it would show

    @override
    def output_size(self, n_in: int | None) -> int | None:
        return n_in


def test_no_fused_step_when_a_layer_follows_the_sigmoid() -> None:
    X, Y = planar_like(6)
    layers = [mg.Dense(2, 3, rng=0), mg.Tanh(), mg.Dense(3, 1, rng=1), mg.Sigmoid()]
    model = mg.Sequential([*layers, PassThrough()])
    mg.fit(model, X, Y, loss="bce", optimizer=mg.optim.SGD(model.parameters(), lr=0.2),
           epochs=3, verbose=False)
    twin = mg.Sequential([mg.Dense(2, 3, rng=0), mg.Tanh(), mg.Dense(3, 1, rng=1), mg.Sigmoid(),
                          PassThrough()])
    manual_costs(twin, X, Y, 0.2, 3)
    for a, b in zip(values(model), values(twin), strict=True):
        np.testing.assert_array_equal(a, b)


def test_saturated_outputs_take_the_clipped_path_in_fit_as_in_forward() -> None:
    X, Y = planar_like(7, m=10)
    model = mg.Sequential([mg.Dense(2, 1, rng=0), mg.Sigmoid()])
    model[0].W[...] = [[60.0, 0.0]]  # sigmoid rounds to 0 or 1: A (1 - A) < eps (1 - eps)
    twin = mg.Sequential([mg.Dense(2, 1, rng=0), mg.Sigmoid()])
    twin[0].W[...] = [[60.0, 0.0]]
    history = mg.fit(model, X, Y, loss="bce", optimizer=mg.optim.SGD(model.parameters(),
                     lr=0.01), epochs=2, verbose=False)
    assert history["loss"] == manual_costs(twin, X, Y, 0.01, 2)
    assert history["loss"][0] > 1.0  # the wrong half pays -log(eps) each, clipped
    for a, b in zip(values(model), values(twin), strict=True):
        np.testing.assert_array_equal(a, b)


def test_bad_targets_are_refused_before_training_with_forwards_message() -> None:
    X, Y = planar_like(8)
    model = notes_net(9)
    before = values(model)
    started: list[bool] = []

    class Started(Callback):
        @override
        def on_train_begin(self, state: TrainState) -> None:
            started.append(True)

    with pytest.raises(mg.InputError, match=r"BinaryCrossEntropy\(\): Y must lie in \[0, 1\], "
                                            r"got values from 0.0 to 2.0"):
        mg.fit(model, X, 2 * Y, loss="bce", optimizer=mg.optim.SGD(model.parameters(), lr=0.1),
               epochs=2, callbacks=[Started()], verbose=False)
    assert not started
    for a, b in zip(before, values(model), strict=True):
        np.testing.assert_array_equal(a, b)


# -- fit's full-batch loop ------------------------------------------------------------------


def test_the_plain_full_batch_loop_keeps_history_when_training_diverges() -> None:
    X, Y = mg.datasets.curve()
    net = mg.Sequential([mg.Dense(1, 8, rng=0), mg.Tanh(), mg.Dense(8, 1, rng=1)])
    with pytest.raises(mg.DivergenceError, match="the loss is inf") as info:
        mg.fit(net, X, Y, loss="mse", optimizer=mg.optim.SGD(net.parameters(), lr=3.0),
               epochs=200, verbose=False)
    history = info.value.history
    finished = info.value.epoch - 1
    assert history.epochs == list(range(1, finished + 1)) and finished > 10
    assert list(history) == ["loss", "lr", "time"]
    assert all(len(history[name]) == finished for name in history)
    assert history.lr == [3.0] * finished and all(t > 0 for t in history.epoch_times)
    assert all(np.isfinite(p.value).all() for p in net.parameters())


def test_the_plain_full_batch_loop_resumes_at_initial_epoch() -> None:
    X, Y = planar_like(10)
    model = notes_net(11)
    history = mg.fit(model, X, Y, loss="bce", optimizer=mg.optim.SGD(model.parameters(), lr=0.5),
                     epochs=5, initial_epoch=2, verbose=False)
    assert history.epochs == [3, 4, 5] and len(history["loss"]) == 3


# -- the divergence check -------------------------------------------------------------------


@define(eq=False)
class NewGradEachStep(mg.Layer):
    """A layer with a weight that puts a new gradient array in place each backward."""

    value: float = np.nan
    armed: bool = False
    p: mg.Parameter = field(factory=lambda: mg.Parameter("w", np.ones((2, 1)), np.zeros((2, 1))))

    @override
    def forward(self, A_prev: np.ndarray) -> np.ndarray:
        return A_prev * self.p.value

    @override
    def backward(self, dA: np.ndarray) -> np.ndarray:
        grad = np.zeros_like(self.p.value)
        if self.armed:
            grad[1, 0] = self.value
        self.p.grad = grad  # rebinding, not writing in place
        return dA * self.p.value

    @override
    def parameters(self) -> list[mg.Parameter]:
        return [self.p]

    @override
    def output_size(self, n_in: int | None) -> int | None:
        return n_in


@pytest.mark.parametrize("value", [np.nan, np.inf, 1e200], ids=["nan", "inf", "too-large"])
def test_a_bad_gradient_in_a_rebound_array_is_still_caught(value: float) -> None:
    X, Y = planar_like(12)
    layer = NewGradEachStep(value)
    model = mg.Sequential([layer, mg.Dense(2, 1, rng=0), mg.Sigmoid()])

    class Arm(Callback):
        @override
        def on_epoch_begin(self, state: TrainState) -> None:
            layer.armed = state.epoch == 2

    before: list[list[np.ndarray]] = []

    class Keep(Callback):
        @override
        def on_epoch_end(self, state: TrainState) -> None:
            before.append(values(state.model))

    with pytest.raises(mg.DivergenceError, match="epoch 3/5") as info:
        mg.fit(model, X, Y, loss="bce", optimizer=mg.optim.SGD(model.parameters(), lr=0.1),
               epochs=5, callbacks=[Arm(), Keep()], verbose=False)
    what = "too large to square" if value == 1e200 else "a gradient holds NaN or inf"
    assert what in str(info.value)
    for a, b in zip(values(model), before[-1], strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("n_in", [2, 40], ids=["small-gradients", "large-gradients"])
def test_too_large_gradients_stop_training_whatever_their_size(n_in: int) -> None:
    X = np.random.default_rng(13).normal(size=(n_in, 20))
    model = mg.Sequential([mg.Dense(n_in, 1, rng=0)])
    Y = np.full((1, 20), 1e160)  # squared errors overflow; the gradients are about 1e160
    with pytest.raises(mg.DivergenceError):
        mg.fit(model, X, Y, loss="mse", optimizer=mg.optim.SGD(model.parameters(), lr=1e-3),
               epochs=3, verbose=False)
    assert all(np.isfinite(p.value).all() for p in model.parameters())


# -- binary cross-entropy after a Sigmoid ---------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bce_after_a_sigmoid_matches_the_clipped_formula(dtype: Any) -> None:
    rng = np.random.default_rng(14)
    Z = (rng.normal(size=(3, 50)) * 6).astype(dtype)
    Y = (rng.uniform(size=(3, 50)) < 0.5).astype(dtype)
    layer, loss = mg.Sigmoid(), BinaryCrossEntropy()
    A = layer.forward(Z)
    J = loss.forward(A, Y)
    dA = loss.backward()
    eps = float(np.finfo(dtype).eps)
    A64, Y64 = A.astype(np.float64), Y.astype(np.float64)
    Ac = np.clip(A64, eps, 1 - eps)
    expected = -np.mean(np.sum(Y64 * np.log(Ac) + (1 - Y64) * np.log(1 - Ac), axis=0))
    assert pytest.approx(expected, rel=1e-12 if dtype == np.float64 else 1e-5) == J
    assert dA.dtype == dtype and layer.backward(dA).dtype == dtype
    np.testing.assert_allclose(dA, (A64 - Y64) / (Ac * (1 - Ac)),
                               rtol=1e-12 if dtype == np.float64 else 1e-5)
    np.testing.assert_array_equal(layer.backward(dA), A - Y)


def test_bce_after_a_saturated_sigmoid_is_finite_and_warning_free() -> None:
    Z = np.array([[-800.0, -40.0, 0.0, 40.0, 800.0]])
    Y = np.array([[1.0, 0.0, 1.0, 1.0, 0.0]])
    layer, loss = mg.Sigmoid(), BinaryCrossEntropy()
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        A = layer.forward(Z)
        J = loss.forward(A, Y)
        dZ = layer.backward(loss.backward())
    eps = np.finfo(np.float64).eps
    assert pytest.approx((-2 * math.log(eps) + math.log(2)) / 5, rel=1e-12) == J
    np.testing.assert_array_equal(dZ, A - Y)


def test_bce_with_nan_from_the_sigmoid_names_the_output() -> None:
    layer, loss = mg.Sigmoid(), BinaryCrossEntropy()
    A = layer.forward(np.array([[0.0, np.nan]]))
    with pytest.raises(mg.InputError, match=r"A \(the model's output\) holds non-finite values "
                                            r"\(first at index \(0, 1\): nan\)"):
        loss.forward(A, np.array([[0.0, 1.0]]))


# -- sigmoid and Tanh -----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_takes_the_overflow_path_only_when_it_must(dtype: Any) -> None:
    big = 800.0 if dtype == np.float64 else 100.0
    Z = np.array([[-big, -30.0, 0.0, 30.0, big]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        A = sigmoid(Z)
        A_safe = sigmoid(Z[:, 1:4])
    assert A.dtype == dtype and A[0, 0] == 0.0 and A[0, -1] == 1.0
    np.testing.assert_array_equal(A[:, 1:4], A_safe)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(A, 1 / (1 + np.exp(-Z)))
    assert np.isnan(sigmoid(np.array([[np.nan, 0.0]]))[0, 0])


def test_tanh_backward_is_the_notes_formula_bit_for_bit() -> None:
    rng = np.random.default_rng(15)
    layer = mg.Tanh()
    A = layer.forward(rng.normal(size=(4, 9)))
    dA = rng.normal(size=(4, 9))
    np.testing.assert_array_equal(layer.backward(dA), dA * (1 - np.power(A, 2)))
    # another dtype than A's goes the general way, promoting as numpy does
    assert layer.backward(dA.astype(np.float32)).dtype == np.float64
    with pytest.raises(mg.ShapeError, match=r"expected dA of shape \(4, 9\) like A"):
        layer.backward(dA[:, :3])

    class Steeper(mg.Tanh):  # a subclass's own g' is used
        @override
        def g_prime(self, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
            return 2 * (1 - A * A)

    steeper = Steeper()
    A = steeper.forward(rng.normal(size=(4, 9)))
    np.testing.assert_array_equal(steeper.backward(dA), dA * (2 * (1 - A * A)))


# -- check_finite ---------------------------------------------------------------------------


def test_check_finite_needs_no_temporary_as_large_as_x() -> None:
    X = np.ones((300, 2000), dtype=np.float32, order="F")
    tracemalloc.start()
    try:
        check_finite("fit", X, "X")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < X.size // 10  # np.isfinite(X) would be X.size bytes


@pytest.mark.parametrize("order", ["C", "F"])
def test_check_finite_names_the_first_bad_entry_in_row_major_order(order: str) -> None:
    X = np.zeros((3, 3 * FINITE_BLOCK), order=order)
    X[2, 5] = np.inf
    X[1, 2 * FINITE_BLOCK + 7] = np.nan
    with pytest.raises(mg.InputError, match=rf"fit: X holds non-finite values \(first at index "
                                            rf"\(1, {2 * FINITE_BLOCK + 7}\): nan\)"):
        check_finite("fit", X, "X")


def test_check_finite_lets_finite_values_whose_sum_overflows_pass() -> None:
    check_finite("fit", np.full((2, 3), 1e308), "X")
    check_finite("fit", np.full((2, 3), 3e38, dtype=np.float32), "X")
    with pytest.raises(mg.InputError, match=r"first at index \(1,\): -inf"):
        check_finite("fit", np.array([1e308, -np.inf, 1e308]), "Y")


def test_after_fit_the_loss_holds_the_last_steps_dA() -> None:
    X, Y = planar_like(16)
    model, loss = notes_net(17), BinaryCrossEntropy()
    mg.fit(model, X, Y, loss=loss, optimizer=mg.optim.SGD(model.parameters(), lr=0.5),
           epochs=3, verbose=False)
    A = model.layers[-1].A  # type: ignore[attr-defined]
    assert loss.dA is not None and not loss.dA.flags.writeable
    np.testing.assert_allclose(loss.dA, (A - Y) / (A * (1 - A)), rtol=1e-13)
    assert loss.backward() is loss.dA
