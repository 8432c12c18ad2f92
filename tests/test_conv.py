"""Conv2D: the equation, hand-computed values, exact gradients, float32, saving, bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import normal

import minigrad as mg
from minigrad import _windows


def reference_conv(A_prev: np.ndarray, W: np.ndarray, b: np.ndarray, stride: tuple[int, int],
                   pads: tuple[int, int, int, int]) -> np.ndarray:
    """The issue's equation, a loop over output positions (slow, obviously right)."""
    top, bottom, left, right = pads
    A = np.pad(A_prev, ((0, 0), (top, bottom), (left, right), (0, 0)))
    c_out, _, kh, kw = W.shape
    oh = (A.shape[1] - kh) // stride[0] + 1
    ow = (A.shape[2] - kw) // stride[1] + 1
    Z = np.zeros((c_out, oh, ow, A.shape[3]))
    for c in range(c_out):
        for i in range(oh):
            for j in range(ow):
                si, sj = stride[0] * i, stride[1] * j
                window = A[:, si:si + kh, sj:sj + kw, :]
                Z[c, i, j, :] = np.einsum("xyz,xyzm->m", W[c], window) + b[c, 0, 0, 0]
    return Z


# (c_in, c_out, kernel, stride, padding, input shape (c, h, w, m))
CASES: list[tuple[int, int, Any, Any, Any, tuple[int, int, int, int]]] = [
    (1, 1, 3, 1, 0, (1, 5, 5, 1)),  # m = 1
    (2, 3, 3, 1, 1, (2, 5, 5, 4)),
    (3, 2, (3, 2), 2, 0, (3, 7, 6, 2)),
    (2, 3, (2, 4), 1, "same", (2, 5, 6, 3)),  # even kernel: one more row below
    (3, 2, 3, (2, 1), (1, 0), (3, 7, 5, 2)),
    (2, 2, 1, 1, 0, (2, 3, 4, 2)),  # a 1x1 convolution
    (1, 2, 4, 4, 0, (1, 8, 8, 1)),  # windows side by side
    (2, 2, 3, 1, "valid", (2, 3, 3, 5)),  # one output pixel
]
IDS = [f"k{k}-s{s}-p{p}-{shape}" for _, _, k, s, p, shape in CASES]


def make(case: tuple[Any, ...], **kwargs: Any) -> tuple[mg.Conv2D, np.ndarray]:
    c_in, c_out, kernel, stride, padding, shape = case
    layer = mg.Conv2D(c_in, c_out, kernel, stride=stride, padding=padding, rng=0, **kwargs)
    layer.b[...] = normal(1, layer.b.shape)
    return layer, normal(2, shape)


# -- the equation ---------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_is_the_cross_correlation_of_the_issue(case: tuple[Any, ...]) -> None:
    layer, X = make(case)
    Z = layer.forward(X)
    expected = reference_conv(X, layer.W, layer.b, layer.stride, layer._pads)
    assert Z.shape == expected.shape
    np.testing.assert_allclose(Z, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradients_match_numerical_ones(case: tuple[Any, ...]) -> None:
    layer, X = make(case)
    report = mg.gradcheck(layer, X)
    assert report.max_relative_error <= 1e-7, str(report)


@pytest.mark.parametrize("case", CASES[1:5], ids=IDS[1:5])
def test_blocks_of_part_of_a_row_give_the_same_numbers(
    case: tuple[Any, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    layer, X = make(case)
    Z = layer.forward(X)
    dZ = normal(3, Z.shape)
    dA_prev = layer.backward(dZ)
    dW = layer.dW.copy()
    monkeypatch.setattr(_windows, "BLOCK_BYTES", 1)  # one output position per block
    small, _ = make(case)
    np.testing.assert_allclose(small.forward(X), Z, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(small.backward(dZ), dA_prev, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(small.dW, dW, rtol=1e-13, atol=1e-13)
    assert mg.gradcheck(small, X)


def test_vertical_edge_detector_by_hand() -> None:
    # a 6x6 image, bright (10) on the left half, dark (0) on the right, and the 3x3
    # filter [[1, 0, -1]] * 3: each window sums 10*3 - 0*3 where it straddles the edge
    image = np.array([[10.0] * 3 + [0.0] * 3] * 6)
    layer = mg.Conv2D(1, 1, 3)
    layer.W = np.array([[1.0, 0.0, -1.0]] * 3).reshape(1, 1, 3, 3)
    Z = layer.forward(image.reshape(1, 6, 6, 1))
    np.testing.assert_array_equal(Z[0, :, :, 0], [[0.0, 30.0, 30.0, 0.0]] * 4)


def test_a_small_case_worked_by_hand() -> None:
    # X = [[1, 2, 3], [4, 5, 6], [7, 8, 9]], W = [[1, 0], [0, -1]], b = 1, stride 1:
    # Z[i, j] = X[i, j] - X[i+1, j+1] + 1 = -4 + 1 everywhere
    X = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    layer = mg.Conv2D(1, 1, 2)
    layer.W = np.array([[1.0, 0.0], [0.0, -1.0]]).reshape(1, 1, 2, 2)
    layer.b = np.ones((1, 1, 1, 1))
    Z = layer.forward(X)
    np.testing.assert_array_equal(Z[0, :, :, 0], [[-3.0, -3.0], [-3.0, -3.0]])
    # dZ = [[1, 0], [0, 2]]: dW[a, b] = sum_ij dZ[i, j] X[i+a, j+b] (m = 1), so
    # dW = [[1*1 + 2*5, 1*2 + 2*6], [1*4 + 2*8, 1*5 + 2*9]] = [[11, 14], [20, 23]]
    # db = 3; dA_prev adds W times dZ at each window: 1 at (0, 0), -1 at (1, 1) from
    # dZ[0, 0]; 2 at (1, 1), -2 at (2, 2) from dZ[1, 1]
    dA_prev = layer.backward(np.array([[1.0, 0.0], [0.0, 2.0]]).reshape(1, 2, 2, 1))
    np.testing.assert_array_equal(layer.dW[0, 0], [[11.0, 14.0], [20.0, 23.0]])
    np.testing.assert_array_equal(layer.db.ravel(), [3.0])
    np.testing.assert_array_equal(dA_prev[0, :, :, 0], [[1.0, 0, 0], [0, 1.0, 0], [0, 0, -2.0]])


def test_parameter_gradients_carry_one_over_m() -> None:
    layer, X = make(CASES[1])
    Z = layer.forward(X)
    dZ = normal(3, Z.shape)
    layer.backward(dZ)
    dW, db = layer.dW.copy(), layer.db.copy()
    # the same examples twice: dW and db are means, so they do not change
    layer.forward(np.concatenate([X, X], axis=3))
    dA_prev = layer.backward(np.concatenate([dZ, dZ], axis=3))
    np.testing.assert_allclose(layer.dW, dW, rtol=1e-13)
    np.testing.assert_allclose(layer.db, db, rtol=1e-13)
    np.testing.assert_allclose(dA_prev[..., :4], dA_prev[..., 4:], rtol=1e-13)  # per example
    np.testing.assert_allclose(db.ravel(), dZ.sum(axis=(1, 2, 3)) / 4, rtol=1e-13)


def test_backward_params_sets_the_same_gradients_as_backward() -> None:
    layer, X = make(CASES[2])
    dZ = normal(3, layer.forward(X).shape)
    layer.backward(dZ)
    dW, db = layer.dW.copy(), layer.db.copy()
    layer.dW[...] = 0
    layer.backward_params(dZ)
    np.testing.assert_array_equal(layer.dW, dW)
    np.testing.assert_array_equal(layer.db, db)


def test_batches_of_other_sizes_reuse_nothing_stale() -> None:
    layer, _ = make(CASES[1])
    for m in (4, 1, 7, 4):
        X = normal(m, (2, 5, 5, m))
        expected = reference_conv(X, layer.W, layer.b, layer.stride, layer._pads)
        np.testing.assert_allclose(layer.forward(X), expected, rtol=1e-12, atol=1e-12)


def test_parameters_and_shapes() -> None:
    layer = mg.Conv2D(3, 8, (5, 3), rng=0)
    assert layer.W.shape == (8, 3, 5, 3) and layer.b.shape == (8, 1, 1, 1)
    assert [p.name for p in layer.parameters()] == ["W", "b"]
    assert layer.dW.shape == layer.W.shape and layer.db.shape == layer.b.shape
    assert layer.n_parameters() == 8 * 3 * 5 * 3 + 8
    assert layer.output_shape((3, 28, 28)) == (8, 24, 26)
    assert layer.output_shape(None) is None
    assert mg.Conv2D(3, 8, 3, padding="same").output_shape((3, 7, 9)) == (8, 7, 9)
    assert mg.Conv2D(3, 8, 4, padding="same").output_shape((3, 7, 9)) == (8, 7, 9)
    assert mg.Conv2D(3, 8, 3, stride=2, padding=1).output_shape((3, 7, 9)) == (8, 4, 5)


@pytest.mark.parametrize("init", ["he", "xavier", "normal"])
def test_initializers_scale_with_the_fan_in(init: str) -> None:
    layer = mg.Conv2D(16, 32, 3, init=init, rng=0)
    fan_in, fan_out = 16 * 9, 32 * 9
    expected = {"he": np.sqrt(2 / fan_in), "xavier": np.sqrt(2 / (fan_in + fan_out)),
                "normal": 0.01}[init]
    assert abs(layer.W.std() / expected - 1) < 0.05
    assert not layer.b.any()


def test_seeded_layers_are_equal() -> None:
    np.testing.assert_array_equal(mg.Conv2D(2, 3, 3, rng=5).W, mg.Conv2D(2, 3, 3, rng=5).W)


# -- float32 ---------------------------------------------------------------------------


def test_float32_never_upcasts() -> None:
    layer = mg.Conv2D(2, 3, 3, padding=1, dtype=np.float32, rng=0)
    X = normal(0, (2, 6, 6, 4)).astype(np.float32)
    Z = layer.forward(X)
    dA_prev = layer.backward(np.ones_like(Z))
    for array in (Z, dA_prev, layer.W, layer.b, layer.dW, layer.db):
        assert array.dtype == np.float32
    assert layer.forward(X.astype(np.float64)).dtype == np.float32  # input cast down
    layer.backward_params(np.ones_like(Z))
    assert layer.dW.dtype == np.float32


def test_astype_converts_and_keeps_working() -> None:
    layer, X = make(CASES[1])
    Z64 = layer.forward(X)
    layer.astype(np.float32)
    assert layer.dtype == np.float32 and layer.A_prev is None
    Z32 = layer.forward(X)
    assert Z32.dtype == np.float32
    np.testing.assert_allclose(Z32, Z64, rtol=1e-5, atol=1e-5)


# -- saving ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_cnn_round_trips_through_a_file(dtype: Any, tmp_path: Path) -> None:
    model = mg.Sequential(
        mg.Conv2D(1, 4, 3, padding="same", dtype=dtype, rng=0), mg.BatchNorm(4, dtype=dtype),
        mg.ReLU(), mg.MaxPool2D(2),
        mg.Conv2D(4, 6, (3, 2), stride=(1, 2), padding=(1, 0), dtype=dtype, rng=1), mg.Tanh(),
        mg.AvgPool2D(2, stride=1), mg.Dropout(0.2, rng=0), mg.Flatten(),
        mg.Dense(6 * 3 * 1, 5, dtype=dtype, rng=2),
    )
    X = normal(0, (1, 8, 8, 6)).astype(dtype)
    model.forward(X)  # moves BatchNorm's running statistics
    path = tmp_path / "cnn.npz"
    mg.save(model, path)
    loaded = mg.load(path)
    assert repr(loaded) == repr(model)
    for (name, p), (name2, q) in zip(model.named_parameters(), loaded.named_parameters(),
                                     strict=True):
        assert name == name2 and p.value.dtype == q.value.dtype
        np.testing.assert_array_equal(p.value, q.value)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded[4].config() == model[4].config()


def test_config_rebuilds_the_layer() -> None:
    layer = mg.Conv2D(3, 4, (3, 5), stride=(2, 1), padding=(1, 2),
                      init="he", dtype=np.float32)
    again = mg.Conv2D(**{k: v for k, v in layer.config().items()})
    assert repr(again) == repr(layer)
    assert repr(layer) == ("Conv2D(c_in=3, c_out=4, kernel_size=(3, 5), stride=(2, 1), "
                           "padding=(1, 2), init='he', dtype=float32)")
    lists = {k: list(v) if isinstance(v, tuple) else v for k, v in layer.config().items()}
    assert repr(mg.Conv2D(**lists)) == repr(layer)  # JSON gives lists back


# -- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(c_in=0, c_out=2, kernel_size=3), "c_in must be a positive int"),
    (dict(c_in=1, c_out=2, kernel_size=0), "kernel_size must be an int >= 1"),
    (dict(c_in=1, c_out=2, kernel_size=(3, 3, 3)), "kernel_size must be an int >= 1"),
    (dict(c_in=1, c_out=2, kernel_size=3, stride=0), "stride must be an int >= 1"),
    (dict(c_in=1, c_out=2, kernel_size=3, padding=-1), "padding must be an int >= 0"),
    (dict(c_in=1, c_out=2, kernel_size=3, padding="full"), "padding must be an int, a pair"),
    (dict(c_in=1, c_out=2, kernel_size=3, stride=2, padding="same"), "'same' needs stride 1"),
    (dict(c_in=1, c_out=2, kernel_size=3, init="zeros"), "init must be one of"),
])
def test_bad_arguments_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=f"Conv2D: .*{message}"):
        mg.Conv2D(**kwargs)


def test_an_integer_dtype_is_refused() -> None:
    with pytest.raises(TypeError, match="Conv2D: dtype must be a float type"):
        mg.Conv2D(1, 2, 3, dtype=np.int32)


@pytest.mark.parametrize(("X", "message"), [
    (np.zeros((784, 5)), r"got 2-D shape \(784, 5\); columns hold flat examples: reshape them "
                         r"to images with X.reshape\(1, 28, 28, -1\)"),
    (np.zeros((5, 28, 28)), r"mg.data.from_nhwc\(X\); for \(height, width, m\) add the channel"),
    (np.zeros((5, 28, 28, 1)), r"channel on axis 0, got \(5, 28, 28, 1\); it looks like images "
                               r"as rows \(m, height, width, channels\), the Keras layout: "
                               r"convert them with mg.data.from_nhwc\(X\)"),
    (np.zeros((5, 1, 28, 28)), r"the PyTorch layout: convert them with mg.data.from_nchw\(X\)"),
    (np.zeros((3, 28, 28, 5)), r"expected A_prev of shape \(1, height, width, m\), images with "
                               r"1 channel on axis 0, got \(3, 28, 28, 5\)$"),
    (np.zeros((1, 2, 28, 5)), r"the images are 2 rows high, smaller than the kernel's 3"),
    (np.zeros((1, 28, 28, 0)), r"empty batch"),
    (np.zeros((1, 28, 28, 2), dtype=bool), r"real numbers"),
])
def test_bad_input_names_the_layer_and_changes_nothing(X: np.ndarray, message: str) -> None:
    layer = mg.Conv2D(1, 2, 3, rng=0)
    good = normal(0, (1, 5, 5, 2))
    layer.forward(good)
    W = layer.W.copy()
    with pytest.raises(mg.ShapeError if X.dtype != bool else mg.DTypeError,
                       match=r"Conv2D\(c_in=1, c_out=2, kernel_size=\(3, 3\)\): .*" + message):
        layer.forward(X)
    assert layer.A_prev is good
    np.testing.assert_array_equal(layer.W, W)


def test_a_stride_that_does_not_tile_says_what_output_would_result() -> None:
    layer = mg.Conv2D(1, 2, 3, stride=2)
    with pytest.raises(mg.ShapeError, match=(
        r"stride 2 does not tile the width: .* \(8 \+ 0 - 3\) / 2 \+ 1 is not a whole number; "
        r"dropping the last 1 column\(s\) would give an output width of 3. Crop the images to 7 "
        r"or pad them to 9 in width"
    )):
        layer.forward(np.zeros((1, 7, 8, 2)))
    with pytest.raises(mg.ShapeError, match="stride 2 does not tile the height"):
        layer.output_shape((1, 8, 7))


def test_padding_counts_in_the_size_checks() -> None:
    layer = mg.Conv2D(1, 2, 5, padding=1)
    with pytest.raises(mg.ShapeError, match=r"2 columns wide \(padded to 4\), smaller than"):
        layer.forward(np.zeros((1, 6, 2, 1)))


def test_output_shape_names_the_problem() -> None:
    layer = mg.Conv2D(3, 2, 3)
    with pytest.raises(mg.ShapeError, match=r"expects 3 input channels, got 1"):
        layer.output_shape((1, 8, 8))
    with pytest.raises(mg.ShapeError, match=r"expects images .* got examples of shape \(64,\); "
                                            r"put the columns back into images"):
        layer.output_shape((64,))


def test_summary_says_that_a_dense_needs_a_flatten() -> None:
    with pytest.raises(mg.ShapeError, match=r"Dense\(n_in=10, n_out=2\): expects examples as "
                                            r"columns .* put mg.Flatten\(\) before it"):
        mg.Sequential(mg.Conv2D(1, 2, 3), mg.Dense(10, 2)).summary((1, 8, 8))


def test_backward_checks_dZ_and_the_order() -> None:
    layer = mg.Conv2D(1, 2, 3)
    with pytest.raises(mg.StateError, match="backward called before forward"):
        layer.backward(np.zeros((2, 3, 3, 1)))
    layer.forward(np.zeros((1, 5, 5, 2)))
    with pytest.raises(mg.ShapeError, match=r"expected dZ of shape \(2, 3, 3, 2\) like Z, got "
                                            r"\(2, 3, 3, 1\)"):
        layer.backward(np.zeros((2, 3, 3, 1)))


@pytest.mark.parametrize(("bad", "message"), [
    (np.full((2, 1, 3, 3), "x"), r"W must hold real numbers, got dtype <U1"),
    (np.full((2, 1, 3, 3), np.nan), r"W \(as float64\) holds non-finite values"),
    (np.ones((2, 1, 2, 2)), r"W must keep shape \(2, 1, 3, 3\), got \(2, 1, 2, 2\)"),
])
def test_assigning_bad_weights_is_refused_naming_the_layer(bad: np.ndarray, message: str) -> None:
    layer = mg.Conv2D(1, 2, 3, rng=0)
    before = layer.W.copy()
    with pytest.raises(ValueError, match=r"Conv2D\(.*\): " + message):
        layer.W = bad
    np.testing.assert_array_equal(layer.W, before)
