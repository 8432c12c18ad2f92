"""Hypothesis fuzzing: random architectures, dtypes and inputs, good and bad.

Every call either works (and then its output is finite, its gradients pass
gradcheck and the model survives a save/load round trip bit for bit) or it
raises one of the documented errors (docs/errors.md) and leaves the weights
as they were. Warnings are errors in this test suite, so a numpy warning
leaking out of minigrad fails here too. The runs are derandomized and small:
the whole module takes a few seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from minigrad.errors import DTypeError, InputError, ModelFileError, ShapeError

DOCUMENTED = (InputError, ShapeError, DTypeError)
"""What bad data given to predict, forward, backward and the losses may raise."""

FUZZ = settings(
    max_examples=40, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

Factory = Callable[[], mg.Layer]
DTYPES = [np.float64, np.float32]
BOUNDED = {"allow_nan": False, "allow_infinity": False, "allow_subnormal": False}


@st.composite
def activations(draw: st.DrawFn) -> mg.Layer:
    """Any built-in activation, with drawn settings where it has them."""
    alpha = draw(st.floats(0.01, 2.0, **BOUNDED))
    low = draw(st.floats(-3.0, 0.5, **BOUNDED))
    choices: list[Factory] = [
        mg.Identity, mg.Sigmoid, mg.Tanh, mg.ReLU, mg.SELU, mg.SiLU, mg.Softplus, mg.Softsign,
        mg.Softmax, lambda: mg.LeakyReLU(alpha), lambda: mg.ELU(alpha),
        lambda: mg.GELU(approximate=draw(st.sampled_from(["none", "tanh"]))),
        lambda: mg.HardTanh(low, low + alpha + 0.5),
    ]
    return draw(st.sampled_from(choices))()


@st.composite
def models(draw: st.DrawFn) -> tuple[mg.Sequential, int]:
    """A Sequential of Dense blocks (each maybe with an activation, Dropout or BatchNorm,
    maybe nested), all of one dtype; returns it and its number of inputs."""
    dtype = draw(st.sampled_from(DTYPES))
    n_x = draw(st.integers(1, 4))
    n, layers = n_x, []
    for i in range(draw(st.integers(1, 3))):
        n_out = draw(st.integers(1, 4))
        block: list[mg.Layer] = [mg.Dense(n, n_out, init=draw(st.sampled_from(
            ["xavier", "he", "normal"])), dtype=dtype, rng=draw(st.integers(0, 2**16)))]
        extra = draw(st.sampled_from(["none", "activation", "dropout", "batchnorm"]))
        if extra == "activation":
            block.append(draw(activations()))
        elif extra == "dropout":
            block.append(mg.Dropout(draw(st.floats(0.0, 0.9)), rng=i))
        elif extra == "batchnorm":
            block.append(mg.BatchNorm(n_out, dtype=dtype))
        n = n_out
        layers += [mg.Sequential(block)] if draw(st.booleans()) else block
    return mg.Sequential(layers), n_x


def _weights(model: mg.Layer) -> list[np.ndarray]:
    return [p.value.copy() for p in model.parameters()] + [
        a.copy() for a in model.buffers().values()
    ]


def _unchanged(model: mg.Layer, before: list[np.ndarray]) -> None:
    for now, then in zip(_weights(model), before, strict=True):
        np.testing.assert_array_equal(now, then)


@FUZZ
@given(data=st.data(), built=models())
def test_good_input_works_gradchecks_and_round_trips(
    data: st.DataObject, built: tuple[mg.Sequential, int], tmp_path: Path
) -> None:
    model, n_x = built
    m = data.draw(st.integers(2, 6), label="m")
    # nonzero inputs: with zero biases, X = 0 puts every unit on a kink of ReLU & co.,
    # where gradcheck cannot tell a right subgradient from a wrong one
    magnitude = st.floats(0.05, 3, **BOUNDED)
    elements = magnitude | magnitude.map(float.__neg__)
    X = data.draw(hnp.arrays(np.float64, (n_x, m), elements=elements))
    A = model.predict(X)
    assert A.dtype == model.dtype and np.isfinite(A).all()
    model.eval()  # dropout off and running statistics used: a deterministic function
    # 1e-4, not 1e-7: within a step h of Z = 0, where the second derivative of
    # Softsign, ELU and SELU jumps, the five-point stencil is only O(h) accurate;
    # a wrong derivative is off by far more
    report = mg.gradcheck(model, X, tolerance=1e-4)
    assert report, str(report)
    path = tmp_path / "fuzz.npz"
    mg.save(model, path)
    loaded = mg.load(path)
    assert repr(loaded) == repr(model)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


@st.composite
def bad_inputs(draw: st.DrawFn, n_x: int) -> Any:
    """Inputs that are wrong in one way: rank, rows, m = 0, dtype, NaN or inf, ragged."""
    kind = draw(st.sampled_from(
        ["rank", "rows", "empty", "dtype", "nonfinite", "ragged", "none"]
    ))
    m = draw(st.integers(1, 4))
    if kind == "rank":
        shape = draw(st.sampled_from([(), (n_x,), (n_x, m, 2), (1, n_x, m)]))
        return np.ones(shape)
    if kind == "rows":
        rows = draw(st.integers(0, 6).filter(lambda r: r != n_x))
        return np.ones((rows, m))
    if kind == "empty":
        return np.ones((n_x, 0))
    if kind == "dtype":
        dtype = draw(st.sampled_from([bool, complex, object, "<U3", "datetime64[s]"]))
        return np.zeros((n_x, m), dtype=dtype)
    if kind == "nonfinite":
        X = np.zeros((n_x, m))
        X[draw(st.integers(0, n_x - 1)), draw(st.integers(0, m - 1))] = draw(
            st.sampled_from([np.nan, np.inf, -np.inf]))
        return X
    if kind == "ragged":
        return [[1.0] * m] + [[1.0] * (m + 1)] * (n_x - 1 or 1)
    return None


@FUZZ
@given(data=st.data(), built=models())
def test_bad_input_raises_a_documented_error_and_changes_nothing(
    data: st.DataObject, built: tuple[mg.Sequential, int]
) -> None:
    model, n_x = built
    X = data.draw(bad_inputs(n_x))
    before = _weights(model)
    with pytest.raises(DOCUMENTED):
        model.predict(X)
    _unchanged(model, before)


LOSSES = [
    lambda: mg.losses.MeanSquaredError(),
    lambda: mg.losses.BinaryCrossEntropy(),
    lambda: mg.losses.BinaryCrossEntropy(from_logits=True),
    lambda: mg.losses.CategoricalCrossEntropy(),
    lambda: mg.losses.CategoricalCrossEntropy(from_logits=True),
]


@FUZZ
@given(
    make=st.sampled_from(LOSSES),
    dtype=st.sampled_from(DTYPES),
    A=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4),
                 elements=st.floats(-1e6, 1e6, allow_subnormal=False)
                 | st.sampled_from([np.nan, np.inf, 0.0, 1.0])),
    Y=hnp.arrays(hnp.scalar_dtypes(), hnp.array_shapes(min_dims=1, max_dims=2, max_side=4)),
)
def test_losses_either_give_a_finite_cost_and_gradient_or_a_documented_error(
    make: Callable[[], mg.losses.Loss], dtype: Any, A: np.ndarray, Y: np.ndarray
) -> None:
    loss = make()
    try:
        J = loss.forward(A.astype(dtype), Y)
    except DOCUMENTED:
        return
    dA = loss.backward()
    assert np.isfinite(J) and np.isfinite(dA).all()
    assert dA.shape == A.shape and dA.dtype == dtype


@FUZZ
@given(data=st.data(), built=models())
def test_backward_with_a_bad_gradient_raises_and_changes_nothing(
    data: st.DataObject, built: tuple[mg.Sequential, int]
) -> None:
    model, n_x = built
    m = data.draw(st.integers(2, 4))  # BatchNorm needs m >= 2 in training mode
    A = model.forward(np.ones((n_x, m)))
    shape = data.draw(st.sampled_from([(A.shape[0], m + 1), (A.shape[0] + 1, m), (m,)]))
    grads = [p.grad.copy() for p in model.parameters()]
    before = _weights(model)
    with pytest.raises(DOCUMENTED):
        model.backward(np.ones(shape))
    _unchanged(model, before)
    for p, g in zip(model.parameters(), grads, strict=True):
        np.testing.assert_array_equal(p.grad, g)


@FUZZ
@given(content=st.binary(max_size=600), cut=st.integers(0, 10_000))
def test_arbitrary_bytes_and_damaged_files_never_load_silently(
    content: bytes, cut: int, tmp_path: Path
) -> None:
    path = tmp_path / "x.npz"
    path.write_bytes(content)
    with pytest.raises(ModelFileError):
        mg.load(path)
    good = tmp_path / "good.npz"
    mg.save(mg.Sequential([mg.Dense(2, 2, rng=0), mg.Tanh()]), good)
    data = bytearray(good.read_bytes())
    where = cut % len(data)
    data[where: where + len(content)] = content[: len(data) - where]
    path.write_bytes(bytes(data))
    try:
        loaded = mg.load(path)
    except ModelFileError:
        return
    reference = mg.load(good)
    X = np.ones((2, 3))
    np.testing.assert_array_equal(loaded.predict(X), reference.predict(X))
