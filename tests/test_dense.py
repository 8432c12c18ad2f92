"""Dense: the formulas, the parameters' identity, initializers, seeding, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import normal

import minigrad as mg

# -- forward and backward are the notes' formulas --------------------------------------


def test_forward_is_W_A_plus_b() -> None:
    layer = mg.Dense(3, 4, rng=0)
    layer.b[...] = normal(1, (4, 1))
    X = normal(2, (3, 5))
    Z = layer.forward(X)
    assert Z.shape == (4, 5)
    np.testing.assert_allclose(Z, layer.W @ X + layer.b, rtol=1e-15)
    assert layer.A_prev is X  # cached as given: no copy on the fast path


@pytest.mark.parametrize("m", [1, 2, 9])
def test_backward_formulas(m: int) -> None:
    layer = mg.Dense(3, 4, rng=0)
    X = normal(3, (3, m))
    dZ = normal(4, (4, m))
    layer.forward(X)
    dA_prev = layer.backward(dZ)
    np.testing.assert_allclose(layer.dW, dZ @ X.T / m, rtol=1e-14, atol=1e-16)
    np.testing.assert_allclose(layer.db, dZ.sum(axis=1, keepdims=True) / m, rtol=1e-14)
    np.testing.assert_allclose(dA_prev, layer.W.T @ dZ, rtol=1e-14, atol=1e-16)
    assert dA_prev.shape == X.shape
    assert layer.dW.shape == layer.W.shape and layer.db.shape == layer.b.shape


def test_backward_assigns_gradients_instead_of_accumulating() -> None:
    layer = mg.Dense(2, 3, rng=0)
    X, dZ = normal(5, (2, 4)), normal(6, (3, 4))
    layer.forward(X)
    layer.backward(dZ * 100)
    layer.backward(dZ)
    dW, db = layer.dW.copy(), layer.db.copy()
    fresh = mg.Dense(2, 3, rng=0)
    fresh.forward(X)
    fresh.backward(dZ)
    np.testing.assert_array_equal(dW, fresh.dW)
    np.testing.assert_array_equal(db, fresh.db)


def test_backward_uses_the_cached_input_of_the_last_forward() -> None:
    layer = mg.Dense(2, 2, rng=0)
    layer.forward(normal(7, (2, 3)))
    X = normal(8, (2, 5))
    layer.forward(X)
    layer.backward(np.ones((2, 5)))
    np.testing.assert_allclose(layer.dW, np.ones((2, 5)) @ X.T / 5)


# -- parameters: W and b are the arrays the Parameters hold ------------------------------


def test_W_and_b_are_the_parameters_arrays() -> None:
    layer = mg.Dense(3, 2, rng=0)
    W, b = layer.parameters()
    assert (W.name, b.name) == ("W", "b")
    assert layer.W is W.value and layer.b is b.value
    assert [name for name, _ in layer.named_parameters()] == ["W", "b"]
    assert layer.n_parameters() == 3 * 2 + 2
    layer.forward(normal(9, (3, 4)))
    layer.backward(normal(10, (2, 4)))
    assert layer.dW is W.grad and layer.db is b.grad
    assert W.shape == W.grad.shape == (2, 3)
    assert b.shape == b.grad.shape == (2, 1)


def test_setting_weights_in_place_changes_forward() -> None:
    layer = mg.Dense(2, 2, rng=0)
    W_array = layer.W
    layer.W[...] = [[1.0, 2.0], [3.0, 4.0]]
    layer.b[...] = [[10.0], [20.0]]
    X = np.array([[1.0], [1.0]])
    np.testing.assert_array_equal(layer.forward(X), [[13.0], [27.0]])
    # assignment copies into the same array, so optimizers and parameters() stay in step
    layer.W = np.eye(2)
    assert layer.W is W_array is layer.parameters()[0].value
    np.testing.assert_array_equal(layer.forward(X), [[11.0], [21.0]])
    layer.b = np.zeros((2, 1))
    np.testing.assert_array_equal(layer.forward(X), [[1.0], [1.0]])
    # an optimizer step on the Parameter is seen by forward
    layer.parameters()[0].value -= 1.0
    np.testing.assert_array_equal(layer.forward(X), [[-1.0], [-1.0]])


def test_assigning_a_wrong_shape_is_refused() -> None:
    layer = mg.Dense(2, 3, rng=0)
    before = layer.W.copy()
    with pytest.raises(mg.ShapeError, match=r"W must keep shape \(3, 2\), got \(2, 3\)"):
        layer.W = np.ones((2, 3))
    with pytest.raises(mg.ShapeError, match=r"b must keep shape \(3, 1\), got \(3,\)"):
        layer.b = np.ones(3)
    np.testing.assert_array_equal(layer.W, before)


def test_repr_and_config() -> None:
    assert repr(mg.Dense(3, 4)) == "Dense(n_in=3, n_out=4)"
    assert repr(mg.Dense(3, 4, init="he")) == "Dense(n_in=3, n_out=4, init='he')"
    assert repr(mg.Dense(3, 4, dtype=np.float32)) == "Dense(n_in=3, n_out=4, dtype=float32)"
    assert mg.Dense(3, 4, init="normal").config() == {
        "n_in": 3, "n_out": 4, "init": "normal", "dtype": "float64"
    }


def test_dtype() -> None:
    assert mg.Dense(2, 2).dtype == np.float64
    layer = mg.Dense(2, 2, dtype=np.float32)
    assert layer.dtype == np.float32
    assert layer.W.dtype == layer.b.dtype == layer.dW.dtype == layer.db.dtype == np.float32


# -- initializers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("init", "std"),
    [("he", math.sqrt(2 / 400)), ("xavier", math.sqrt(2 / (400 + 500))), ("normal", 0.01)],
)
def test_initializer_scale(init: str, std: float) -> None:
    layer = mg.Dense(400, 500, init=init, rng=0)
    W = layer.W
    # 200 000 draws: the sample std is within 1% of the target, the mean near 0
    assert abs(W.std() / std - 1) < 0.01
    assert abs(W.mean()) < 5 * std / math.sqrt(W.size)
    np.testing.assert_array_equal(layer.b, 0.0)
    # roughly Gaussian: about 68% within one std
    assert 0.66 < np.mean(np.abs(W) < std) < 0.70


def test_default_init_is_xavier() -> None:
    np.testing.assert_array_equal(
        mg.Dense(5, 7, rng=3).W, mg.Dense(5, 7, init="xavier", rng=3).W
    )


def test_He_differs_from_Xavier_only_by_scale() -> None:
    he, xavier = mg.Dense(6, 4, init="he", rng=4), mg.Dense(6, 4, init="xavier", rng=4)
    np.testing.assert_allclose(he.W / xavier.W, math.sqrt(2 / 6) / math.sqrt(2 / 10), rtol=1e-14)


# -- seeding ------------------------------------------------------------------------------


def test_mg_seed_makes_initialization_reproducible() -> None:
    mg.seed(7)
    first = [mg.Dense(3, 4).W.copy(), mg.Dense(4, 2).W.copy()]
    mg.seed(7)
    second = [mg.Dense(3, 4).W.copy(), mg.Dense(4, 2).W.copy()]
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0][:2, :2], first[1][:2, :2])  # the generator moves on
    mg.seed(8)
    assert not np.array_equal(mg.Dense(3, 4).W, first[0])


def test_int_seed_is_independent_of_the_default_generator() -> None:
    mg.seed(1)
    a = mg.Dense(3, 3, rng=42).W.copy()
    mg.seed(2)
    mg.Dense(10, 10)  # move the default generator on
    b = mg.Dense(3, 3, rng=42).W.copy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, mg.Dense(3, 3, rng=43).W)


def test_explicit_generator_is_used_and_advanced() -> None:
    gen = np.random.default_rng(5)
    first, second = mg.Dense(2, 3, rng=gen).W.copy(), mg.Dense(2, 3, rng=gen).W.copy()
    assert not np.array_equal(first, second)
    again = np.random.default_rng(5)
    np.testing.assert_array_equal(mg.Dense(2, 3, rng=again).W, first)
    np.testing.assert_array_equal(mg.Dense(2, 3, rng=again).W, second)
    # with the same draws as the formula: W = randn(n_out, n_in) * sqrt(2 / (n_in + n_out))
    expected = np.random.default_rng(5).standard_normal((3, 2)) * math.sqrt(2 / 5)
    np.testing.assert_allclose(first, expected, rtol=1e-15)


# -- construction errors ---------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3", None])
def test_sizes_must_be_positive_ints(bad: object) -> None:
    with pytest.raises(ValueError, match=r"Dense: n_in must be a positive int, got "):
        mg.Dense(bad, 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"Dense: n_out must be a positive int, got "):
        mg.Dense(3, bad)  # type: ignore[arg-type]


def test_numpy_integer_sizes_are_fine() -> None:
    layer = mg.Dense(np.int64(3), np.int32(2))  # type: ignore[arg-type]
    assert layer.W.shape == (2, 3)


def test_unknown_init_and_bad_dtype_and_rng() -> None:
    with pytest.raises(ValueError, match=r"init must be one of \['he', 'normal', 'xavier'\], "
                                         r"got 'glorot'"):
        mg.Dense(2, 2, init="glorot")
    with pytest.raises(TypeError, match="dtype must be a float type"):
        mg.Dense(2, 2, dtype=np.int32)
    with pytest.raises(TypeError, match=r"rng must be a numpy\.random\.Generator"):
        mg.Dense(2, 2, rng="seed")  # type: ignore[arg-type]


# -- bad input: a clear error, nothing changed --------------------------------------------


def _trained_layer() -> tuple[mg.Dense, np.ndarray]:
    layer = mg.Dense(4, 3, rng=0)
    X = normal(11, (4, 10))
    layer.forward(X)
    layer.backward(normal(12, (3, 10)))
    return layer, X


def _assert_unchanged(layer: mg.Dense, X: np.ndarray, saved: dict[str, np.ndarray]) -> None:
    assert layer.A_prev is X
    for name in ("W", "b", "dW", "db"):
        np.testing.assert_array_equal(getattr(layer, name), saved[name], err_msg=name)
    W, b = layer.parameters()
    assert layer.W is W.value and layer.b is b.value


def _saved(layer: mg.Dense) -> dict[str, np.ndarray]:
    return {name: getattr(layer, name).copy() for name in ("W", "b", "dW", "db")}


def test_wrong_rows_name_the_layer_and_both_shapes() -> None:
    layer, X = _trained_layer()
    saved = _saved(layer)
    with pytest.raises(ValueError) as info:
        layer.forward(np.ones((5, 10)))
    assert isinstance(info.value, mg.ShapeError)
    assert str(info.value) == (
        "Dense(n_in=4, n_out=3): expected A_prev of shape (4, m), got (5, 10)."
    )
    assert "X.T" not in str(info.value)  # 10 columns cannot be 4 features: no hint
    _assert_unchanged(layer, X, saved)


def test_transpose_hint_exactly_when_it_would_fit() -> None:
    layer, X = _trained_layer()
    saved = _saved(layer)
    with pytest.raises(mg.ShapeError) as info:
        layer.forward(np.ones((10, 4)))  # examples as rows
    assert str(info.value) == (
        "Dense(n_in=4, n_out=3): expected A_prev of shape (4, m), got (10, 4).\n"
        "Examples are columns; did you pass X instead of X.T?"
    )
    _assert_unchanged(layer, X, saved)


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        (np.ones(4), mg.ShapeError, r"to be 2-D .* got 1-D shape \(4,\); a single example is a "
                                    r"column: use X\.reshape\(-1, 1\)"),
        (np.ones((4, 2, 2)), mg.ShapeError, r"to be 2-D .* got 3-D shape \(4, 2, 2\)$"),
        (np.ones((4, 0)), mg.ShapeError, r"A_prev is an empty batch \(shape \(4, 0\)\)"),
        (np.full((4, 2), "x"), mg.DTypeError, "expected A_prev to hold real numbers, got dtype <U"),
        (np.ones((4, 2), dtype=object), mg.DTypeError, "got dtype object"),
        (np.ones((4, 2), dtype=bool), mg.DTypeError, r"got dtype bool \(cast booleans"),
        (np.ones((4, 2), dtype=complex), mg.DTypeError, "got dtype complex128"),
        ([[1, 2], [3]], mg.DTypeError, "cannot read A_prev as an array of numbers"),
    ],
    ids=["1-D", "3-D", "empty", "strings", "object", "bool", "complex", "ragged"],
)
def test_bad_input_is_refused_before_anything_changes(
    bad: object, error: type, message: str
) -> None:
    layer, X = _trained_layer()
    saved = _saved(layer)
    with pytest.raises(error, match=message) as info:
        layer.forward(bad)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith("Dense(n_in=4, n_out=3): ")
    _assert_unchanged(layer, X, saved)


def test_backward_before_forward() -> None:
    with pytest.raises(mg.StateError, match=r"Dense\(n_in=2, n_out=3\): backward called before "
                                            r"forward"):
        mg.Dense(2, 3).backward(np.ones((3, 4)))


@pytest.mark.parametrize("bad", [np.ones((3, 9)), np.ones((4, 10)), np.ones((3, 10, 1)), [[1.0]]])
def test_dZ_of_the_wrong_shape_is_refused_and_gradients_kept(bad: object) -> None:
    layer, X = _trained_layer()
    saved = _saved(layer)
    with pytest.raises(mg.ShapeError, match=r"expected dZ of shape \(3, 10\) like Z, got "):
        layer.backward(bad)  # type: ignore[arg-type]
    _assert_unchanged(layer, X, saved)


# -- inputs that are converted ---------------------------------------------------------


def test_integer_and_list_inputs_are_cast_to_the_layer_dtype() -> None:
    layer = mg.Dense(2, 2, rng=0)
    Z_int = layer.forward(np.array([[1, 2], [3, 4]]))
    assert Z_int.dtype == np.float64
    assert layer.A_prev is not None and layer.A_prev.dtype == np.float64
    np.testing.assert_allclose(layer.forward([[1.0, 2.0], [3.0, 4.0]]), Z_int)


def test_float32_input_to_a_float64_layer_is_cast() -> None:
    layer = mg.Dense(2, 2, rng=0)
    X32 = normal(13, (2, 3)).astype(np.float32)
    Z = layer.forward(X32)
    assert Z.dtype == np.float64
    np.testing.assert_allclose(Z, layer.W @ X32.astype(np.float64), rtol=1e-15)


def test_non_contiguous_input_works() -> None:
    layer = mg.Dense(3, 2, rng=0)
    rows = normal(14, (6, 3))  # examples as rows, transposed to columns
    X = rows.T
    assert not X.flags.c_contiguous
    Z = layer.forward(X)
    layer.backward(np.ones((2, 6)))
    np.testing.assert_allclose(Z, layer.W @ np.ascontiguousarray(X))
    np.testing.assert_allclose(layer.dW, np.ones((2, 6)) @ rows / 6)
