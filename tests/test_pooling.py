"""MaxPool2D, AvgPool2D, GlobalAvgPool2D and Flatten: values by hand, ties, gradients, bad input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import normal

import minigrad as mg

X16 = np.arange(16.0).reshape(1, 4, 4, 1)  # [[0 1 2 3] [4 5 6 7] [8 9 10 11] [12 13 14 15]]

# (layer, input shape (c, h, w, m))
CASES: list[tuple[Any, tuple[int, int, int, int]]] = [
    (lambda: mg.MaxPool2D(2), (2, 4, 6, 3)),
    (lambda: mg.MaxPool2D(2), (1, 2, 2, 1)),  # m = 1, one window
    (lambda: mg.MaxPool2D(3, stride=1), (2, 5, 5, 2)),  # overlapping windows
    (lambda: mg.MaxPool2D((2, 3), stride=(2, 1)), (2, 6, 5, 2)),
    (lambda: mg.AvgPool2D(2), (2, 4, 6, 3)),
    (lambda: mg.AvgPool2D(2), (1, 2, 2, 1)),
    (lambda: mg.AvgPool2D((2, 3), stride=(1, 2)), (2, 5, 7, 2)),
    (lambda: mg.GlobalAvgPool2D(), (3, 4, 5, 2)),
    (lambda: mg.GlobalAvgPool2D(), (1, 1, 1, 1)),
    (lambda: mg.Flatten(), (3, 4, 5, 2)),
    (lambda: mg.Flatten(), (2, 3, 1)),
    (lambda: mg.Flatten(), (4, 1)),
]


@pytest.mark.parametrize(("make", "shape"), CASES,
                         ids=[f"{make()!r}-{shape}" for make, shape in CASES])
def test_gradients_match_numerical_ones(make: Any, shape: tuple[int, ...]) -> None:
    report = mg.gradcheck(make(), normal(0, shape))
    assert report.max_relative_error <= 1e-7, str(report)


# -- values by hand ------------------------------------------------------------------


def test_max_and_average_pooling_by_hand() -> None:
    np.testing.assert_array_equal(mg.MaxPool2D(2).forward(X16)[0, :, :, 0], [[5, 7], [13, 15]])
    np.testing.assert_array_equal(mg.AvgPool2D(2).forward(X16)[0, :, :, 0],
                                  [[2.5, 4.5], [10.5, 12.5]])
    # 3x3 windows moved by 1: the max is the bottom-right entry of each window
    np.testing.assert_array_equal(mg.MaxPool2D(3, stride=1).forward(X16)[0, :, :, 0],
                                  [[10, 11], [14, 15]])
    np.testing.assert_array_equal(mg.GlobalAvgPool2D().forward(X16), [[7.5]])


def test_max_pooling_sends_the_gradient_to_the_max() -> None:
    pool = mg.MaxPool2D(2)
    pool.forward(X16)
    dA_prev = pool.backward(np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1))
    expected = np.zeros((4, 4))
    expected[1, 1], expected[1, 3], expected[3, 1], expected[3, 3] = 1, 2, 3, 4
    np.testing.assert_array_equal(dA_prev[0, :, :, 0], expected)


def test_average_pooling_spreads_the_gradient() -> None:
    pool = mg.AvgPool2D(2, stride=1)  # overlapping: the centre lies in all four windows
    pool.forward(np.zeros((1, 3, 3, 1)))
    dA_prev = pool.backward(np.ones((1, 2, 2, 1)))
    np.testing.assert_array_equal(dA_prev[0, :, :, 0],
                                  [[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]])


def test_global_average_pooling_spreads_the_gradient() -> None:
    pool = mg.GlobalAvgPool2D()
    pool.forward(np.zeros((2, 2, 2, 3)))
    dA_prev = pool.backward(np.arange(6.0).reshape(2, 3))
    assert dA_prev.shape == (2, 2, 2, 3)
    np.testing.assert_array_equal(dA_prev[1, :, :, 2], np.full((2, 2), 5.0 / 4))


# -- ties ------------------------------------------------------------------------------


def test_a_tie_sends_the_gradient_to_the_first_max_row_by_row() -> None:
    pool = mg.MaxPool2D(2)
    X = np.array([[0.0, 3.0, 1.0, 1.0], [3.0, 3.0, 1.0, 1.0]]).reshape(1, 2, 4, 1)
    pool.forward(X)
    dA_prev = pool.backward(np.array([[5.0, 7.0]]).reshape(1, 1, 2, 1))
    # window 1: max 3 at (0, 1), (1, 0) and (1, 1): all of dA to (0, 1); window 2: all 1s
    np.testing.assert_array_equal(dA_prev[0, :, :, 0], [[0, 5.0, 7.0, 0], [0, 0, 0, 0]])
    assert dA_prev.sum() == 12.0  # nothing lost, nothing doubled


def test_overlapping_windows_with_ties_each_send_to_their_first_max() -> None:
    pool = mg.MaxPool2D(2, stride=1)
    pool.forward(np.ones((1, 3, 3, 1)))  # every entry ties everywhere
    dA_prev = pool.backward(np.ones((1, 2, 2, 1)))
    # each window's first entry is its top-left corner
    np.testing.assert_array_equal(dA_prev[0, :, :, 0], [[1, 1, 0], [1, 1, 0], [0, 0, 0]])


def test_examples_and_channels_are_pooled_apart() -> None:
    X = normal(0, (3, 4, 4, 5))
    A = mg.MaxPool2D(2).forward(X)
    for c in range(3):
        for ex in range(5):
            expected = X[c, :, :, ex].reshape(2, 2, 2, 2).max(axis=(1, 3))
            np.testing.assert_array_equal(A[c, :, :, ex], expected)


# -- Flatten -------------------------------------------------------------------------


def test_flatten_reads_each_example_in_c_order() -> None:
    X = normal(0, (2, 3, 4, 5))
    A = mg.Flatten().forward(X)
    assert A.shape == (24, 5)
    for ex in range(5):
        np.testing.assert_array_equal(A[:, ex], X[..., ex].ravel())
    assert np.shares_memory(A, X)  # a view: no copy


def test_flatten_backward_restores_the_shape() -> None:
    flat = mg.Flatten()
    X = normal(0, (2, 3, 4, 5))
    dA = normal(1, (24, 5))
    flat.forward(X)
    dA_prev = flat.backward(dA)
    assert dA_prev.shape == X.shape
    np.testing.assert_array_equal(mg.Flatten().forward(dA_prev), dA)
    assert flat.output_shape((2, 3, 4)) == (24,) and flat.output_shape(None) is None


def test_a_dense_follows_a_flatten_with_no_transpose() -> None:
    model = mg.Sequential(mg.Conv2D(1, 2, 3, rng=0), mg.MaxPool2D(2), mg.Flatten(),
                          mg.Dense(2 * 2 * 2, 3, rng=1))
    assert model.output_shape((1, 6, 6)) == (3,)
    assert model.forward(normal(0, (1, 6, 6, 4))).shape == (3, 4)
    assert mg.gradcheck(model, normal(0, (1, 6, 6, 4)))


# -- float32 and bad input -------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda: mg.MaxPool2D(2), lambda: mg.AvgPool2D(2),
                                  lambda: mg.MaxPool2D(2, stride=1), mg.GlobalAvgPool2D,
                                  mg.Flatten])
def test_float32_stays_float32(make: Any) -> None:
    layer = make()
    A = layer.forward(normal(0, (2, 4, 4, 3)).astype(np.float32))
    assert A.dtype == np.float32
    assert layer.backward(np.ones_like(A)).dtype == np.float32


@pytest.mark.parametrize(("make", "X", "message"), [
    (lambda: mg.MaxPool2D(2), np.zeros((1, 5, 4, 2)),
     r"stride 2 does not tile the height: .* \(5 \+ 0 - 2\) / 2 \+ 1 is not a whole number; "
     r"dropping the last 1 row\(s\) would give an output height of 2. Crop the images to 4 "
     r"or pad them to 6"),
    (lambda: mg.AvgPool2D(3), np.zeros((1, 2, 3, 2)), r"2 rows high, smaller than the kernel's 3"),
    (lambda: mg.MaxPool2D(2), np.zeros((16, 4)), r"expected A_prev to be 4-D"),
    (lambda: mg.MaxPool2D(2), np.zeros((1, 4, 4, 0)), r"empty batch"),
    (mg.GlobalAvgPool2D, np.zeros((16, 4)), r"expected A_prev to be 4-D"),
    (mg.Flatten, np.zeros(16), r"expected A_prev to be at least 2-D"),
])
def test_bad_input_names_the_layer(make: Any, X: np.ndarray, message: str) -> None:
    layer = make()
    with pytest.raises(mg.ShapeError, match=rf"{type(layer).__name__}\(.*\): .*{message}"):
        layer.forward(X)


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(pool_size=0),
     r"MaxPool2D: pool_size must be an int >= 1 or a pair of them, got \(0, 0\)"),
    (dict(pool_size=2, stride=(1, 0)), r"MaxPool2D: stride must be an int >= 1"),
    (dict(pool_size="2"), r"MaxPool2D: pool_size must be"),
])
def test_bad_arguments_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        mg.MaxPool2D(**kwargs)


@pytest.mark.parametrize("make", [lambda: mg.MaxPool2D(2), lambda: mg.AvgPool2D(2),
                                  mg.GlobalAvgPool2D, mg.Flatten])
def test_backward_checks_dA_and_the_order(make: Any) -> None:
    layer = make()
    with pytest.raises(mg.StateError, match="backward called before forward"):
        layer.backward(np.zeros((1, 2, 2, 1)))
    layer.forward(np.zeros((1, 4, 4, 2)))
    with pytest.raises(mg.ShapeError, match=r"expected dA of shape .* like A, got \(9, 9\)"):
        layer.backward(np.zeros((9, 9)))


def test_output_shapes() -> None:
    assert mg.MaxPool2D(2).output_shape((6, 28, 28)) == (6, 14, 14)
    assert mg.AvgPool2D(3, stride=1).output_shape((6, 5, 7)) == (6, 3, 5)
    assert mg.GlobalAvgPool2D().output_shape((6, 5, 7)) == (6,)
    with pytest.raises(mg.ShapeError, match=r"expects images .* got examples of shape \(6,\)"):
        mg.MaxPool2D(2).output_shape((6,))
