"""Activations: closed forms, derivatives, stability at huge |Z|, and bad input."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from conftest import ACTIVATIONS, away_from_kinks, normal

import minigrad as mg

NAMES = list(ACTIVATIONS)
SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def _phi(z: float) -> float:
    return math.exp(-z * z / 2) / math.sqrt(2 * math.pi)


def _Phi(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2))


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


def _gelu_tanh(z: float) -> float:
    return 0.5 * z * (1 + math.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z**3)))


def _gelu_tanh_prime(z: float) -> float:
    c = math.sqrt(2 / math.pi)
    u = c * (z + 0.044715 * z**3)
    return 0.5 * (1 + math.tanh(u)) + 0.5 * z * c * (1 + 3 * 0.044715 * z * z) / math.cosh(u) ** 2


# (g, g') written out with math, one value at a time: an independent reference
REFERENCE = {
    "Identity": (lambda z: z, lambda z: 1.0),
    "Sigmoid": (_sigmoid, lambda z: _sigmoid(z) * (1 - _sigmoid(z))),
    "Tanh": (math.tanh, lambda z: 1 / math.cosh(z) ** 2),
    "ReLU": (lambda z: max(z, 0.0), lambda z: float(z > 0)),
    "LeakyReLU": (lambda z: z if z > 0 else 0.01 * z, lambda z: 1.0 if z > 0 else 0.01),
    "LeakyReLU(0.2)": (lambda z: z if z > 0 else 0.2 * z, lambda z: 1.0 if z > 0 else 0.2),
    "ELU": (lambda z: z if z > 0 else math.expm1(z), lambda z: 1.0 if z > 0 else math.exp(z)),
    "ELU(0.5)": (
        lambda z: z if z > 0 else 0.5 * math.expm1(z),
        lambda z: 1.0 if z > 0 else 0.5 * math.exp(z),
    ),
    "SELU": (
        lambda z: SELU_SCALE * (z if z > 0 else SELU_ALPHA * math.expm1(z)),
        lambda z: SELU_SCALE * (1.0 if z > 0 else SELU_ALPHA * math.exp(z)),
    ),
    "GELU": (lambda z: z * _Phi(z), lambda z: _Phi(z) + z * _phi(z)),
    "GELU(tanh)": (_gelu_tanh, lambda z: _gelu_tanh_prime(z)),
    "SiLU": (lambda z: z * _sigmoid(z), lambda z: _sigmoid(z) * (1 + z * (1 - _sigmoid(z)))),
    "Softplus": (lambda z: math.log1p(math.exp(-abs(z))) + max(z, 0.0), _sigmoid),
    "Softsign": (lambda z: z / (1 + abs(z)), lambda z: 1 / (1 + abs(z)) ** 2),
    "HardTanh": (lambda z: min(max(z, -1.0), 1.0), lambda z: float(-1 < z < 1)),
    "HardTanh(-2, 0.5)": (lambda z: min(max(z, -2.0), 0.5), lambda z: float(-2 < z < 0.5)),
}


# -- values and derivatives against an independent reference ---------------------------


@pytest.mark.parametrize("name", list(REFERENCE))
def test_values_and_derivatives_match_the_reference(name: str) -> None:
    g, g_prime = REFERENCE[name]
    layer = ACTIVATIONS[name]()
    Z = away_from_kinks(11, (3, 7)) * 2
    A = layer.forward(Z)
    dZ = layer.backward(np.ones_like(Z))
    expected_A = np.vectorize(g)(Z)
    expected_dZ = np.vectorize(g_prime)(Z)
    np.testing.assert_allclose(A, expected_A, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(dZ, expected_dZ, rtol=1e-12, atol=5e-15)


def test_reference_table_covers_every_elementwise_case() -> None:
    assert set(REFERENCE) == set(ACTIVATIONS) - {"Softmax"}


@pytest.mark.parametrize("name", NAMES)
def test_backward_scales_with_dA(name: str) -> None:
    layer = ACTIVATIONS[name]()
    Z = away_from_kinks(12, (4, 5))
    layer.forward(Z)
    dA = normal(13, (4, 5))
    np.testing.assert_allclose(layer.backward(3.0 * dA), 3.0 * layer.backward(dA), rtol=1e-14)


# -- closed forms ---------------------------------------------------------------------


def test_sigmoid_closed_forms() -> None:
    layer = mg.Sigmoid()
    np.testing.assert_array_equal(layer.forward(np.zeros((2, 3))), 0.5)
    np.testing.assert_array_equal(layer.backward(np.ones((2, 3))), 0.25)
    Z = normal(0, (3, 6), scale=4)
    # sigmoid(-z) = 1 - sigmoid(z)
    np.testing.assert_allclose(layer.forward(-Z), 1 - layer.forward(Z), rtol=0, atol=1e-15)
    A = layer.forward(np.array([[-800.0, 800.0, -40.0]]))
    assert A[0, 0] == 0.0 and A[0, 1] == 1.0
    assert A[0, 2] == pytest.approx(math.exp(-40), rel=1e-14)  # no 1 - (1 - tiny) loss


def test_tanh_is_odd_and_bounded() -> None:
    Z = normal(1, (3, 6), scale=3)
    layer = mg.Tanh()
    np.testing.assert_array_equal(layer.forward(-Z), -layer.forward(Z))
    np.testing.assert_array_equal(layer.forward(np.zeros((1, 2))), 0.0)
    assert np.all(np.abs(layer.forward(Z * 100)) <= 1)


def test_softmax_columns_are_probability_vectors() -> None:
    Z = normal(2, (5, 7), scale=5)
    A = mg.Softmax().forward(Z)
    np.testing.assert_allclose(A.sum(axis=0), 1.0, rtol=0, atol=1e-15)
    assert np.all(A > 0)
    np.testing.assert_allclose(mg.Softmax().forward(Z + 1000.0), A, rtol=1e-12)  # shift-free
    np.testing.assert_allclose(A[:, 3], np.exp(Z[:, 3]) / np.exp(Z[:, 3]).sum(), rtol=1e-13)
    np.testing.assert_array_equal(mg.Softmax().forward(np.zeros((4, 2))), 0.25)


def test_softmax_backward_is_the_jacobian_vector_product() -> None:
    Z = normal(3, (4, 3))
    dA = normal(4, (4, 3))
    layer = mg.Softmax()
    A = layer.forward(Z)
    dZ = layer.backward(dA)
    for i in range(3):
        a = A[:, i]
        jacobian = np.diag(a) - np.outer(a, a)
        np.testing.assert_allclose(dZ[:, i], jacobian.T @ dA[:, i], rtol=1e-13, atol=1e-16)
    # a gradient constant down a column changes nothing (softmax is shift-invariant)
    np.testing.assert_allclose(layer.backward(np.ones((4, 3)) * 5.0), 0.0, atol=1e-15)


def test_softmax_g_prime_refuses_to_pretend_to_be_elementwise() -> None:
    with pytest.raises(TypeError, match="Jacobian"):
        mg.Softmax().g_prime(np.zeros((2, 1)), np.full((2, 1), 0.5))


def test_gelu_closed_forms() -> None:
    np.testing.assert_array_equal(mg.GELU().forward(np.zeros((1, 3))), 0.0)
    np.testing.assert_array_equal(mg.GELU(approximate="tanh").forward(np.zeros((1, 3))), 0.0)
    layer = mg.GELU()
    layer.forward(np.zeros((1, 1)))
    assert layer.backward(np.ones((1, 1)))[0, 0] == 0.5


def test_gelu_exact_matches_math_erf_to_double_precision() -> None:
    z = np.concatenate([np.linspace(-8, 8, 4001), [-30.0, -20.0, -12.5, 12.5, 40.0]])
    A = mg.GELU().forward(z.reshape(1, -1))[0]
    # the same rounded argument -z * sqrt(1/2): erfc's tail magnifies a one-ulp change of
    # its argument x by 2 x**2, which is the argument's rounding, not GELU's error
    reference = np.array([v * 0.5 * math.erfc(-v * math.sqrt(0.5)) for v in z])
    np.testing.assert_allclose(A, reference, rtol=2e-15, atol=0)
    # the familiar erf form agrees to double precision in absolute terms
    erf_form = np.array([v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in z])
    assert np.all(np.abs(A - erf_form) <= 1e-15 * np.maximum(1, np.abs(z)))


def test_gelu_tanh_approximation_stays_close_to_exact() -> None:
    Z = np.linspace(-6, 6, 241).reshape(1, -1)
    exact = mg.GELU().forward(Z)
    approx = mg.GELU(approximate="tanh").forward(Z)
    difference = np.abs(exact - approx).max()
    assert 1e-5 < difference < 1e-3  # close, but a different function


def test_piecewise_closed_forms() -> None:
    Z = np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]])
    np.testing.assert_array_equal(mg.ReLU().forward(Z), [[0, 0, 0, 0.5, 2]])
    np.testing.assert_array_equal(mg.LeakyReLU(0.1).forward(Z), [[-0.2, -0.05, 0, 0.5, 2]])
    np.testing.assert_array_equal(mg.HardTanh().forward(Z), [[-1, -0.5, 0, 0.5, 1]])
    np.testing.assert_array_equal(mg.Identity().forward(Z), Z)
    elu = mg.ELU(2.0).forward(Z)
    np.testing.assert_allclose(elu, [[2 * math.expm1(-2), 2 * math.expm1(-0.5), 0, 0.5, 2]])
    np.testing.assert_allclose(mg.Softplus().forward(np.zeros((1, 1))), [[math.log(2)]])
    np.testing.assert_array_equal(mg.Softsign().forward(np.array([[-3.0, 1.0]])), [[-0.75, 0.5]])
    np.testing.assert_array_equal(mg.SiLU().forward(np.zeros((1, 2))), 0.0)


def test_derivative_at_the_relu_kink_is_zero() -> None:
    for layer in (mg.ReLU(), mg.HardTanh()):
        layer.forward(np.array([[0.0, 1.0, -1.0]]) if isinstance(layer, mg.HardTanh)
                      else np.array([[0.0]]))
        dZ = layer.backward(np.ones_like(layer.A))
        if isinstance(layer, mg.ReLU):
            assert dZ[0, 0] == 0.0
        else:
            np.testing.assert_array_equal(dZ, [[1.0, 0.0, 0.0]])


def test_selu_keeps_zero_mean_unit_variance() -> None:
    Z = np.random.default_rng(5).normal(size=(1, 400_000))
    A = mg.SELU().forward(Z)
    assert abs(A.mean()) < 0.01
    assert abs(A.std() - 1) < 0.01


# -- stability ------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_huge_inputs_give_finite_values_and_gradients_without_warnings(
    name: str, dtype: type
) -> None:
    Z = np.array([[-1e4, -1e3, -100.0, -20.0, -1.0, 0.0, 1.0, 20.0, 100.0, 1e3, 1e4]], dtype=dtype)
    Z = np.vstack([Z, -Z[:, ::-1], Z * 0.5])  # Softmax sees a column of mixed signs too
    layer = ACTIVATIONS[name]()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            A = layer.forward(Z)
            dZ = layer.backward(np.ones_like(Z))
    assert np.isfinite(A).all() and np.isfinite(dZ).all()
    assert A.dtype == dtype and dZ.dtype == dtype


@pytest.mark.parametrize(("dtype", "magnitude"), [(np.float32, 1e30), (np.float64, 1e300)])
@pytest.mark.parametrize("name", NAMES)
def test_far_beyond_1e4_still_finite(name: str, dtype: type, magnitude: float) -> None:
    Z = np.array([[-magnitude, magnitude], [magnitude, -magnitude]], dtype=dtype)
    layer = ACTIVATIONS[name]()
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        A = layer.forward(Z)
        dZ = layer.backward(np.ones_like(Z))
    assert np.isfinite(A).all() and np.isfinite(dZ).all()


def test_saturated_limits_are_exact() -> None:
    Z = np.array([[-1e4, 1e4]])
    for name, (low, high) in {
        "Sigmoid": (0.0, 1.0), "Tanh": (-1.0, 1.0), "Softsign": (-1 + 1e-4 - 1e-8, 1 - 1e-4 + 1e-8)
    }.items():
        A = ACTIVATIONS[name]().forward(Z)
        assert A[0, 0] == pytest.approx(low, abs=1e-8) and A[0, 1] == pytest.approx(high, abs=1e-8)
    np.testing.assert_array_equal(mg.GELU().forward(Z), [[0.0, 1e4]])
    np.testing.assert_array_equal(mg.SiLU().forward(Z), [[0.0, 1e4]])
    np.testing.assert_array_equal(mg.Softplus().forward(Z), [[0.0, 1e4]])
    np.testing.assert_allclose(mg.ELU().forward(Z), [[-1.0, 1e4]])


# -- the base class -------------------------------------------------------------------


def test_forward_caches_Z_and_A_for_backward() -> None:
    layer = mg.Tanh()
    Z = normal(6, (2, 3))
    A = layer.forward(Z)
    assert layer.Z is Z
    assert layer.A is A


def test_integer_input_becomes_float64() -> None:
    A = mg.Sigmoid().forward(np.array([[0, 1], [2, 3]]))
    assert A.dtype == np.float64
    assert A[0, 0] == 0.5


def test_call_is_forward() -> None:
    Z = normal(7, (2, 2))
    np.testing.assert_array_equal(mg.Tanh()(Z), np.tanh(Z))


def test_repr_shows_only_the_parameters_that_differ_from_defaults() -> None:
    assert repr(mg.ReLU()) == "ReLU()"
    assert repr(mg.LeakyReLU()) == "LeakyReLU()"
    assert repr(mg.LeakyReLU(0.2)) == "LeakyReLU(alpha=0.2)"
    assert repr(mg.ELU(alpha=0.5)) == "ELU(alpha=0.5)"
    assert repr(mg.GELU(approximate="tanh")) == "GELU(approximate='tanh')"
    assert repr(mg.HardTanh(-2, 0.5)) == "HardTanh(min_val=-2.0, max_val=0.5)"


def test_swish_is_silu() -> None:
    assert mg.Swish is mg.SiLU


def test_activations_have_no_parameters() -> None:
    for make in ACTIVATIONS.values():
        layer = make()
        assert layer.parameters() == []
        assert layer.n_parameters() == 0
        assert layer.dtype is None


# -- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        (np.ones(3), mg.ShapeError, r"Tanh\(\): expected Z to be at least 2-D with examples "
         r"on the last axis, got 1-D shape \(3,\); a single example is a column"),
        (np.ones((2, 0)), mg.ShapeError, r"Tanh\(\): Z is an empty batch \(shape \(2, 0\)\)"),
        (np.array([["a", "b"]]), mg.DTypeError, r"Tanh\(\): expected Z to hold real numbers"),
        (np.ones((2, 2), dtype=object), mg.DTypeError, "got dtype object"),
        (np.ones((2, 2), dtype=bool), mg.DTypeError, r"cast booleans with \.astype\(float\)"),
        (np.ones((2, 2), dtype=complex), mg.DTypeError, "got dtype complex128"),
    ],
    ids=["1-D", "empty", "strings", "object", "bool", "complex"],
)
def test_bad_Z_is_refused_and_the_cache_is_unchanged(
    bad: object, error: type, message: str
) -> None:
    layer = mg.Tanh()
    Z = normal(8, (2, 3))
    layer.forward(Z)
    Z_cached, A_cached = layer.Z, layer.A
    with pytest.raises(error, match=message):
        layer.forward(bad)  # type: ignore[arg-type]
    assert issubclass(error, ValueError)
    assert layer.Z is Z_cached and layer.A is A_cached
    np.testing.assert_array_equal(layer.Z, Z)


@pytest.mark.parametrize("name", NAMES)
def test_backward_before_forward_says_so(name: str) -> None:
    layer = ACTIVATIONS[name]()
    with pytest.raises(mg.StateError, match="backward called before forward"):
        layer.backward(np.ones((2, 2)))


@pytest.mark.parametrize("name", NAMES)
def test_dA_of_the_wrong_shape_is_refused(name: str) -> None:
    layer = ACTIVATIONS[name]()
    layer.forward(normal(9, (3, 4)))
    with pytest.raises(mg.ShapeError, match=r"expected dA of shape \(3, 4\) like A, got \(4, 3\)"):
        layer.backward(np.ones((4, 3)))
    with pytest.raises(mg.ShapeError, match="got list"):
        layer.backward([[1.0] * 4] * 3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: mg.LeakyReLU(float("nan")), "LeakyReLU: alpha must be a finite number"),
        (lambda: mg.ELU(float("inf")), "ELU: alpha must be a finite number"),
        (lambda: mg.GELU(approximate="fast"), "GELU: approximate must be 'none' or 'tanh'"),
        (lambda: mg.HardTanh(1.0, -1.0), "HardTanh: min_val must be below max_val"),
        (lambda: mg.HardTanh(0.5, 0.5), "HardTanh: min_val must be below max_val"),
    ],
)
def test_bad_settings_are_refused(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]


def test_a_subclass_without_g_says_what_is_missing() -> None:
    class Half(mg.Activation):
        pass

    with pytest.raises(NotImplementedError, match=r"Half must define g\(Z\)"):
        Half().forward(np.ones((1, 1)))


def test_activations_are_elementwise_on_batches_of_any_shape() -> None:
    Z = normal(9, (2, 3, 4, 5))
    A = mg.Tanh().forward(Z)
    assert A.shape == Z.shape
    np.testing.assert_allclose(A, np.tanh(Z))
