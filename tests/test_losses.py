"""Losses: values and per-example gradients, from_logits, stability, bad input."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest
from conftest import normal

import minigrad as mg

L = mg.losses


def _sigmoid(Z: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1 / (1 + np.exp(-Z))
    return out


def _softmax(Z: np.ndarray) -> np.ndarray:
    E = np.exp(Z - Z.max(axis=0))
    out: np.ndarray = E / E.sum(axis=0)
    return out


def _probabilities(seed: int, shape: tuple[int, int]) -> np.ndarray:
    return _softmax(normal(seed, shape, scale=2))


def _labels(seed: int, m: int, n_classes: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n_classes, size=m)


# -- values and gradients against the formulas ------------------------------------------


def test_mse_value_and_gradient() -> None:
    A, Y = normal(0, (3, 5)), normal(1, (3, 5))
    loss = L.MeanSquaredError()
    J = loss.forward(A, Y)
    assert isinstance(J, float)
    assert pytest.approx(np.sum((A - Y) ** 2) / 5, rel=1e-14) == J
    np.testing.assert_allclose(loss.backward(), 2 * (A - Y), rtol=1e-15)


def test_bce_value_and_gradient() -> None:
    A = _sigmoid(normal(2, (2, 6)))
    Y = (normal(3, (2, 6)) > 0).astype(float)
    loss = L.BinaryCrossEntropy()
    J = loss.forward(A, Y)
    expected = -np.sum(Y * np.log(A) + (1 - Y) * np.log(1 - A)) / 6
    assert pytest.approx(expected, rel=1e-14) == J
    np.testing.assert_allclose(loss.backward(), (A - Y) / (A * (1 - A)), rtol=1e-13)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_probabilities_at_0_and_1_are_clipped_and_the_rest_left_exact(dtype: Any) -> None:
    eps = float(np.finfo(dtype).eps)
    Y = np.array([[1.0, 0.0, 1.0, 0.0]], dtype=dtype)
    inside = np.array([[0.3, 0.6, eps, 1 - eps]], dtype=dtype)  # the clip's own bounds
    for A in (inside, np.array([[0.0, 1.0, 0.3, 0.6]], dtype=dtype)):
        before = A.copy()
        Ac = np.clip(A.astype(np.float64), eps, 1 - eps)
        bce, cce = L.BinaryCrossEntropy(), L.CategoricalCrossEntropy()
        J = bce.forward(A, Y)
        assert A.tobytes() == before.tobytes()  # the input is never clipped in place
        assert pytest.approx(-np.sum(Y * np.log(Ac) + (1 - Y) * np.log(1 - Ac)) / 4,
                             rel=1e-6) == J
        np.testing.assert_allclose(bce.backward(), (Ac - Y) / (Ac * (1 - Ac)), rtol=1e-6)
        assert np.isfinite(bce.forward_fused(A, Y)[0])
        columns = np.vstack([A, 1 - A]).astype(dtype)
        labels = np.array([0, 1, 0, 1])
        J = cce.forward(columns, labels)
        assert np.isfinite(J) and np.isfinite(cce.backward()).all()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bce_clips_exactly_the_probabilities_outside_eps_and_one_minus_eps(dtype: Any) -> None:
    # forward tells in-range A by one read of A (1 - A) >= eps (1 - eps): the floats on either
    # side of each bound must fall on the same side as the two-sided test A in [eps, 1 - eps]
    eps = dtype(np.finfo(dtype).eps)
    one = dtype(1.0)
    bounds = [eps, one - eps]
    edges = [np.nextafter(x, towards) for x in bounds for towards in (dtype(0), one)]
    Y = np.zeros((1, 1), dtype)
    for a in [*bounds, *edges, dtype(0.5)]:
        A = np.array([[a]], dtype)
        clipped = np.clip(A, eps, one - eps)
        loss = L.BinaryCrossEntropy()
        loss.forward(A, Y)
        expected = (clipped - Y) / ((one - clipped) * clipped)
        assert loss.backward().tobytes() == expected.tobytes(), a


def test_bce_accepts_1d_labels_for_a_single_output() -> None:
    A = _sigmoid(normal(4, (1, 5)))
    Y = np.array([0, 1, 1, 0, 1])
    with_1d, with_2d = L.BinaryCrossEntropy(), L.BinaryCrossEntropy()
    assert with_1d.forward(A, Y) == with_2d.forward(A, Y.reshape(1, -1))
    np.testing.assert_array_equal(with_1d.backward(), with_2d.backward())
    assert with_1d.forward(A, Y.astype(bool)) == with_2d.forward(A, Y.reshape(1, -1))


def test_bce_from_logits_value_and_gradient() -> None:
    Z = normal(5, (3, 7), scale=3)
    Y = (normal(6, (3, 7)) > 0).astype(float)
    logits, probabilities = L.BinaryCrossEntropy(from_logits=True), L.BinaryCrossEntropy()
    J = logits.forward(Z, Y)
    assert pytest.approx(np.sum(np.log1p(np.exp(Z)) - Z * Y) / 7, rel=1e-13) == J
    assert pytest.approx(probabilities.forward(_sigmoid(Z), Y), rel=1e-12) == J
    np.testing.assert_allclose(logits.backward(), _sigmoid(Z) - Y, rtol=1e-14, atol=1e-16)


def test_cce_value_and_gradient_one_hot() -> None:
    A = _probabilities(7, (4, 6))
    labels = _labels(8, 6, 4)
    Y = np.eye(4)[:, labels]
    loss = L.CategoricalCrossEntropy()
    J = loss.forward(A, Y)
    assert pytest.approx(-np.mean(np.log(A[labels, np.arange(6)])), rel=1e-14) == J
    np.testing.assert_allclose(loss.backward(), -Y / A, rtol=1e-15)


@pytest.mark.parametrize("from_logits", [False, True])
def test_cce_integer_labels_equal_one_hot(from_logits: bool) -> None:
    Z = normal(9, (4, 6), scale=2)
    A = Z if from_logits else _softmax(Z)
    labels = _labels(10, 6, 4)
    by_label = L.CategoricalCrossEntropy(from_logits=from_logits)
    by_one_hot = L.CategoricalCrossEntropy(from_logits=from_logits)
    J = by_label.forward(A, labels)
    assert by_one_hot.forward(A, np.eye(4)[:, labels]) == J
    np.testing.assert_array_equal(by_label.backward(), by_one_hot.backward())
    # also integer-valued floats and plain lists
    assert by_label.forward(A, labels.astype(float)) == J
    assert by_label.forward(A, labels.tolist()) == J


def test_cce_from_logits_value_and_gradient() -> None:
    Z = normal(11, (5, 8), scale=4)
    Y = np.eye(5)[:, _labels(12, 8, 5)]
    logits, probabilities = L.CategoricalCrossEntropy(from_logits=True), L.CategoricalCrossEntropy()
    J = logits.forward(Z, Y)
    lse = np.log(np.exp(Z).sum(axis=0))
    assert pytest.approx(np.mean(lse - (Y * Z).sum(axis=0)), rel=1e-13) == J
    assert pytest.approx(probabilities.forward(_softmax(Z), Y), rel=1e-12) == J
    np.testing.assert_allclose(logits.backward(), _softmax(Z) - Y, rtol=1e-13, atol=1e-16)


def test_cce_from_logits_with_soft_labels() -> None:
    Z = normal(13, (3, 4))
    Y = _probabilities(14, (3, 4))
    loss = L.CategoricalCrossEntropy(from_logits=True)
    J = loss.forward(Z, Y)
    assert pytest.approx(-np.sum(Y * np.log(_softmax(Z))) / 4, rel=1e-13) == J
    np.testing.assert_allclose(loss.backward(), _softmax(Z) - Y, atol=1e-15)


def test_softmax_then_cce_backward_is_A_minus_Y() -> None:
    Z = normal(15, (4, 5))
    Y = np.eye(4)[:, _labels(16, 5, 4)]
    softmax, loss = mg.Softmax(), L.CategoricalCrossEntropy()
    A = softmax.forward(Z)
    loss.forward(A, Y)
    np.testing.assert_allclose(softmax.backward(loss.backward()), A - Y, rtol=0, atol=1e-15)


@pytest.mark.parametrize(
    "make", [L.MeanSquaredError, L.BinaryCrossEntropy, L.CategoricalCrossEntropy]
)
def test_cost_is_a_mean_and_the_gradient_is_per_example(make: type[L.Loss]) -> None:
    A = _probabilities(17, (3, 4))
    Y = np.eye(3)[:, [0, 2, 1, 1]]
    once, twice = make(), make()
    J1 = once.forward(A, Y)
    J2 = twice.forward(np.hstack([A, A]), np.hstack([Y, Y]))
    assert pytest.approx(J1, rel=1e-14) == J2  # the mean does not grow with m
    np.testing.assert_array_equal(twice.backward()[:, 4:], once.backward())  # no 1/m in dA


def test_call_is_forward_and_repr() -> None:
    A, Y = normal(18, (1, 3)), normal(19, (1, 3))
    assert L.MeanSquaredError()(A, Y) == L.MeanSquaredError().forward(A, Y)
    assert repr(L.MeanSquaredError()) == "MeanSquaredError()"
    assert repr(L.BinaryCrossEntropy()) == "BinaryCrossEntropy()"
    assert repr(L.CategoricalCrossEntropy(from_logits=True)) == (
        "CategoricalCrossEntropy(from_logits=True)"
    )


# -- precision and stability --------------------------------------------------------------


def test_bce_from_logits_keeps_small_losses_next_to_a_huge_logit() -> None:
    # true losses: softplus(20) - 20 = log1p(exp(-20)) and 0
    J = L.BinaryCrossEntropy(from_logits=True).forward(np.array([[20.0, 1e8]]), [[1, 1]])
    assert pytest.approx(math.log1p(math.exp(-20)) / 2, rel=1e-12) == J
    Z32 = np.array([[1e4, 0.0, -3.0]], dtype=np.float32)
    J32 = L.BinaryCrossEntropy(from_logits=True).forward(Z32, [[1, 0, 0]])
    assert pytest.approx((math.log(2) + math.log1p(math.exp(-3))) / 3, rel=1e-6) == J32


def test_cce_from_logits_keeps_small_losses_next_to_a_huge_logit() -> None:
    Z = np.array([[1e4, 0.0], [0.0, 0.0]], dtype=np.float32)
    J = L.CategoricalCrossEntropy(from_logits=True).forward(Z, np.array([0, 0]))
    assert pytest.approx(math.log(2) / 2, rel=1e-6) == J
    Z64 = np.array([[1e8, 30.0], [0.0, 0.0]])
    J64 = L.CategoricalCrossEntropy(from_logits=True).forward(Z64, np.array([0, 0]))
    assert pytest.approx(math.log1p(math.exp(-30)) / 2, rel=1e-12) == J64


def _stability_cases(dtype: type) -> list[tuple[L.Loss, np.ndarray, np.ndarray]]:
    Z = np.array([[-1e4, -1e3, -50.0, 0.0, 50.0, 1e3, 1e4]] * 3, dtype=dtype)
    Z[1] = Z[1, ::-1]
    Y_binary = np.array([[0, 1, 0, 1, 0, 1, 1]] * 3, dtype=dtype)
    labels = np.array([0, 1, 2, 0, 1, 2, 0])
    with np.errstate(over="ignore", under="ignore"):  # the references saturate to exact 0 and 1
        A_sigmoid = (1 / (1 + np.exp(-Z.astype(np.float64)))).astype(dtype)
    A_softmax = _softmax(Z.astype(np.float64)).astype(dtype)
    return [
        (L.MeanSquaredError(), Z, Y_binary),
        (L.BinaryCrossEntropy(), A_sigmoid, Y_binary),
        (L.BinaryCrossEntropy(from_logits=True), Z, Y_binary),
        (L.CategoricalCrossEntropy(), A_softmax, labels),
        (L.CategoricalCrossEntropy(from_logits=True), Z, labels),
        (L.CategoricalCrossEntropy(from_logits=True), Z, np.eye(3, dtype=dtype)[:, labels]),
    ]


@pytest.mark.parametrize("case", range(6))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_logits_and_saturated_probabilities_stay_finite(case: int, dtype: type) -> None:
    loss, A, Y = _stability_cases(dtype)[case]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            J = loss.forward(A, Y)
            dA = loss.backward()
    assert math.isfinite(J)
    assert np.isfinite(dA).all()
    assert dA.dtype == dtype


def test_confident_and_right_costs_nothing_confident_and_wrong_costs_a_lot() -> None:
    Z = np.array([[1e4, -1e4]])
    assert L.BinaryCrossEntropy(from_logits=True).forward(Z, [[1, 0]]) == 0.0
    assert L.BinaryCrossEntropy(from_logits=True).forward(Z, [[0, 1]]) == pytest.approx(1e4)
    Zc = np.array([[1e4], [0.0]])
    assert L.CategoricalCrossEntropy(from_logits=True).forward(Zc, [0]) == 0.0
    assert L.CategoricalCrossEntropy(from_logits=True).forward(Zc, [1]) == pytest.approx(1e4)


# -- bad input ------------------------------------------------------------------------


def _failing_forward_keeps_the_cache(loss: L.Loss, A: object, Y: object, error: type,
                                     message: str) -> None:
    loss.forward(*_good_input(loss))
    cached = loss.dA
    with pytest.raises(error, match=message):
        loss.forward(A, Y)  # type: ignore[arg-type]
    assert loss.dA is cached
    assert issubclass(error, ValueError)


def _good_input(loss: L.Loss) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(loss, L.CategoricalCrossEntropy):
        A = _probabilities(20, (3, 4))
        return (3 * A - 1 if loss.from_logits else A), np.array([0, 1, 2, 1])
    return _sigmoid(normal(20, (1, 4))), np.array([[0.0, 1.0, 1.0, 0.0]])


P = _probabilities(21, (3, 4))
BAD_INPUT = {
    "Y wrong shape": (L.MeanSquaredError(), np.ones((1, 4)), np.ones((1, 3)), mg.ShapeError,
                      r"MeanSquaredError\(\): expected Y of shape \(1, 4\) like A .* "
                      r"got \(1, 3\)$"),
    "Y transposed": (L.MeanSquaredError(), np.ones((2, 4)), np.ones((4, 2)), mg.ShapeError,
                     r"got \(4, 2\); examples are columns: did you pass Y\.T\?"),
    "Y strings": (L.BinaryCrossEntropy(), np.full((1, 2), 0.5), np.array([["a", "b"]]),
                  mg.DTypeError, "expected Y to hold numbers"),
    "A object": (L.MeanSquaredError(), np.ones((1, 2), dtype=object), np.ones((1, 2)),
                 mg.DTypeError, "got dtype object"),
    "A 1-D": (L.MeanSquaredError(), np.ones(3), np.ones(3), mg.ShapeError, "1-D"),
    "A 3-D": (L.MeanSquaredError(), np.ones((1, 2, 2)), np.ones((1, 2, 2)), mg.ShapeError, "3-D"),
    "A empty": (L.MeanSquaredError(), np.ones((1, 0)), np.ones((1, 0)), mg.ShapeError, "empty"),
    "A NaN": (L.MeanSquaredError(), np.array([[0.5, np.nan]]), np.ones((1, 2)), mg.InputError,
              "non-finite"),
    "BCE A outside [0, 1]": (L.BinaryCrossEntropy(), np.array([[0.5, 2.0]]), [[0, 1]],
                             mg.InputError, r"must lie in \[0, 1\].*use from_logits=True"),
    "BCE Y outside [0, 1]": (L.BinaryCrossEntropy(), np.full((1, 2), 0.5), [[0, 2]],
                             mg.InputError, r"Y must lie in \[0, 1\], got values from 0\.0 to 2"),
    "CCE label too big": (L.CategoricalCrossEntropy(), P, np.array([0, 1, 3, 2]), mg.InputError,
                          r"labels must lie in \[0, 2\] for 3 classes .* from 0 to 3"),
    "CCE label negative": (L.CategoricalCrossEntropy(from_logits=True), 3 * P - 1,
                           np.array([0, -1, 1, 2]),
                           mg.InputError, r"labels must lie in \[0, 2\] .* from -1 to 2"),
    "CCE too few labels": (L.CategoricalCrossEntropy(), P, np.array([0, 1, 2]), mg.ShapeError,
                           r"expected labels of shape \(4,\), got \(3,\)"),
    "CCE fractional labels": (L.CategoricalCrossEntropy(), P, np.array([0, 1.5, 2, 1]),
                              mg.DTypeError, "integer labels of shape"),
    "CCE one-hot wrong shape": (L.CategoricalCrossEntropy(), P, np.eye(4), mg.ShapeError,
                                r"expected Y of shape \(3, 4\)"),
    "CCE negative one-hot": (L.CategoricalCrossEntropy(), P, -np.eye(3)[:, [0, 1, 2, 0]],
                             mg.InputError, r"Y must lie in \[0, 1\]"),
    "CCE A not probabilities": (L.CategoricalCrossEntropy(), P * 3 - 1, np.array([0, 1, 2, 0]),
                                mg.InputError, "use from_logits=True"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_refused_before_the_cache_changes(case: str) -> None:
    _failing_forward_keeps_the_cache(*BAD_INPUT[case])


@pytest.mark.parametrize(
    "loss", [L.MeanSquaredError(), L.BinaryCrossEntropy(), L.CategoricalCrossEntropy(True)]
)
def test_backward_before_forward_says_so(loss: L.Loss) -> None:
    with pytest.raises(mg.StateError, match=r"backward called before forward"):
        loss.backward()
