"""The Layer contract and Parameter, including layers written by users."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from attrs import define, field
from conftest import normal

import minigrad as mg

# -- Parameter -------------------------------------------------------------------------


def test_parameter_holds_value_and_grad_of_one_shape() -> None:
    value = np.ones((2, 3))
    p = mg.Parameter("W", value, np.zeros((2, 3)))
    assert p.value is value
    assert p.shape == (2, 3) and p.size == 6
    assert repr(p) == "Parameter('W', shape=(2, 3), dtype=float64)"
    with pytest.raises(ValueError, match=r"Parameter 'W': value shape \(2, 3\) != grad shape"):
        mg.Parameter("W", value, np.zeros((3, 2)))


def test_parameter_astype_converts_both_arrays() -> None:
    p = mg.Parameter("b", np.ones((2, 1)), np.full((2, 1), 0.5))
    p.astype(np.float32)
    assert p.value.dtype == p.grad.dtype == np.float32
    np.testing.assert_array_equal(p.grad, 0.5)


# -- the base class ------------------------------------------------------------------


def test_base_methods_say_what_is_missing() -> None:
    layer = mg.Layer()
    with pytest.raises(NotImplementedError, match="Layer must implement forward"):
        layer.forward(np.ones((1, 1)))
    with pytest.raises(NotImplementedError, match="Layer must implement backward"):
        layer.backward(np.ones((1, 1)))
    assert layer.parameters() == []
    assert layer.named_parameters() == []
    assert layer.n_parameters() == 0
    assert layer.dtype is None
    assert layer.output_size(3) is None
    assert repr(layer) == "Layer()"


def test_train_eval_and_predict_modes() -> None:
    layer = mg.Tanh()
    assert layer.training
    assert layer.eval() is layer and not layer.training
    assert layer.train() is layer and layer.training
    X = normal(0, (2, 3))
    np.testing.assert_array_equal(layer.predict(X), np.tanh(X))
    assert layer.training


def test_astype_refuses_non_float_types() -> None:
    with pytest.raises(TypeError, match="dtype must be a float type, got int32"):
        mg.Tanh().astype(np.int32)


def test_cached_names_the_missing_cache() -> None:
    layer = mg.Sigmoid()
    with pytest.raises(mg.StateError, match=r"Sigmoid\(\): backward called before forward \(no "
                                            r"forward cache\); run forward on a batch first"):
        layer._cached(None)


def test_errors_are_value_errors_and_state_errors_are_not() -> None:
    assert issubclass(mg.ShapeError, mg.InputError)
    assert issubclass(mg.InputError, ValueError)
    assert issubclass(mg.DTypeError, ValueError) and issubclass(mg.DTypeError, TypeError)
    assert issubclass(mg.StateError, RuntimeError)


# -- custom layers, the two ways people write them ----------------------------------


@define(eq=False, repr=False)
class Scale(mg.Layer):
    """A = alpha * A_prev with a learnable scalar alpha (written with attrs, like the built-ins)."""

    init: float = 2.0
    _alpha: mg.Parameter = field(init=False, repr=False)
    A_prev: np.ndarray | None = field(default=None, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._alpha = mg.Parameter("alpha", np.full((1, 1), self.init), np.zeros((1, 1)))

    def forward(self, A_prev: np.ndarray) -> np.ndarray:
        self.A_prev = A_prev
        out: np.ndarray = self._alpha.value * A_prev
        return out

    def backward(self, dA: np.ndarray) -> np.ndarray:
        A_prev = self._cached(self.A_prev)
        self._alpha.grad[...] = np.sum(dA * A_prev) / A_prev.shape[1]
        out: np.ndarray = self._alpha.value * dA
        return out

    def parameters(self) -> list[mg.Parameter]:
        return [self._alpha]


@define(eq=False, repr=False)
class Bias(mg.Layer):
    """A = A_prev + c, its Parameter in a public field, as the house style writes fields."""

    n: int
    c: mg.Parameter = field(init=False, repr=False)
    A_prev: np.ndarray | None = field(default=None, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self.c = mg.Parameter("c", np.full((self.n, 1), 0.5), np.zeros((self.n, 1)))

    def forward(self, A_prev: np.ndarray) -> np.ndarray:
        self.A_prev = A_prev
        out: np.ndarray = A_prev + self.c.value
        return out

    def backward(self, dA: np.ndarray) -> np.ndarray:
        self._cached(self.A_prev)
        self.c.grad[...] = dA.mean(axis=1, keepdims=True)
        return dA

    def parameters(self) -> list[mg.Parameter]:
        return [self.c]


def test_a_parameter_in_a_public_field_survives_astype_and_failed_forwards() -> None:
    layer = Bias(2)
    net = mg.Sequential([mg.Tanh(), layer, mg.Dense(2, 1, rng=0)])
    X = normal(6, (2, 3))
    assert mg.gradcheck(net, X)
    net.forward(X)
    with pytest.raises(ValueError, match="broadcast"):
        net.forward(np.ones((3, 3)))  # Bias fails: the caches are restored, c is left alone
    assert isinstance(layer.c, mg.Parameter)
    net.astype(np.float32)
    assert isinstance(layer.c, mg.Parameter) and layer.c.value.dtype == np.float32
    assert layer.A_prev is None
    assert net.forward(X.astype(np.float32)).dtype == np.float32


class Shift(mg.Layer):
    """A = A_prev + offset (a plain class with a setting and a cache in its __dict__)."""

    def __init__(self, offset: float) -> None:
        super().__init__()
        self.offset = offset
        self.seen: np.ndarray | None = None

    def forward(self, A_prev: np.ndarray) -> np.ndarray:
        self.seen = A_prev
        out: np.ndarray = A_prev + self.offset
        return out

    def backward(self, dA: np.ndarray) -> np.ndarray:
        self._cached(self.seen)
        return dA


def test_attrs_custom_layer_works_everywhere() -> None:
    layer = Scale(3.0)
    assert repr(layer) == "Scale(init=3.0)"
    net = mg.Sequential([mg.Dense(2, 3, rng=0), layer, mg.Tanh()])
    X = normal(1, (2, 4))
    assert mg.gradcheck(net, X)
    assert [name for name, _ in net.named_parameters()] == ["0.W", "0.b", "1.alpha"]
    net.astype(np.float32)
    assert layer.parameters()[0].value.dtype == np.float32
    assert layer.A_prev is None  # caches cleared by astype
    with pytest.raises(mg.StateError, match=r"Scale\(init=3.0\): backward called before forward"):
        layer.backward(np.ones((3, 4), dtype=np.float32))


def test_plain_custom_layer_survives_copy_pickle_and_gradcheck() -> None:
    layer = Shift(0.5)
    X = normal(2, (3, 2))
    layer.forward(X)
    for twin in (copy.deepcopy(layer), pickle.loads(pickle.dumps(layer))):
        assert isinstance(twin, Shift)
        assert twin.offset == 0.5
        assert twin.training
        assert twin.seen is not None
        np.testing.assert_array_equal(twin.seen, X)
    report = mg.gradcheck(mg.Sequential([mg.Dense(3, 3, rng=0), Shift(-1.0), mg.Tanh()]), X)
    assert report, str(report)


def test_plain_custom_activation_with_a_setting_passes_gradcheck() -> None:
    class ScaledTanh(mg.Activation):
        """g(Z) = tanh(beta Z),  g'(Z) = beta (1 - A**2)."""

        def __init__(self, beta: float) -> None:
            super().__init__()
            self.beta = beta

        def g(self, Z: np.ndarray) -> np.ndarray:
            out: np.ndarray = np.tanh(self.beta * Z)
            return out

        def g_prime(self, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
            out: np.ndarray = self.beta * (1 - A * A)
            return out

    report = mg.gradcheck(ScaledTanh(1.5), normal(3, (2, 5)))
    assert report, str(report)
    assert repr(ScaledTanh(1.5)) == "ScaledTanh()"


def test_copies_of_built_in_layers_are_independent() -> None:
    net = mg.Sequential([mg.Dense(2, 3, rng=0), mg.ReLU(), mg.Dense(3, 1, rng=1)])
    twin = copy.deepcopy(net)
    first = twin[0]
    assert isinstance(first, mg.Dense)
    assert first.W is first.parameters()[0].value
    assert first.W is not net[0].W  # type: ignore[attr-defined]
    np.testing.assert_array_equal(first.W, net[0].W)  # type: ignore[attr-defined]
    first.W[...] = 0.0
    assert np.any(net[0].W != 0.0)  # type: ignore[attr-defined]
    X = normal(4, (2, 3))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(net)).forward(X), net.forward(X))


def test_call_runs_forward() -> None:
    X = normal(5, (2, 2))
    layer = mg.Dense(2, 2, rng=0)
    np.testing.assert_array_equal(layer(X), layer.forward(X))
