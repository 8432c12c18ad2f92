"""Every row of docs/errors.md: a bad input, and the documented error it gets.

Each case runs against a fresh model; whatever happens, the model's weights
(and buffers) are unchanged afterwards. ``test_the_docs_table_is_this_table``
keeps docs/errors.md and ``CASES`` in step: a row without a test, or a test
without a row, fails.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from attrs import frozen

import minigrad as mg
from minigrad import optim
from minigrad.errors import DTypeError, InputError, ModelFileError, ShapeError, StateError

DOCS = Path(__file__).resolve().parent.parent / "docs" / "errors.md"
RNG = np.random.default_rng(7)


class Setup:
    """A small trained-looking model, data for it, and a folder for files."""

    def __init__(self, tmp_path: Path) -> None:
        self.model = mg.Sequential([
            mg.Dense(3, 4, rng=0), mg.Tanh(), mg.Dense(4, 2, rng=1), mg.Sigmoid(),
        ])
        self.X = RNG.normal(size=(3, 5))
        self.Y = (RNG.random((2, 5)) > 0.5).astype(float)
        self.labels = np.array([0, 1, 1, 0, 1])
        self.tmp_path = tmp_path
        self.weights = [p.value.copy() for p in self.model.parameters()]

    @property
    def A(self) -> np.ndarray:
        """The model's output on X (a fresh forward pass)."""
        return self.model.forward(self.X)

    @property
    def probs(self) -> np.ndarray:
        """Softmax outputs over the 2 rows, for the categorical loss."""
        return mg.Softmax().forward(self.A)

    def with_nan(self, array: np.ndarray, value: float = np.nan) -> np.ndarray:
        out = array.astype(float)
        out[0, 1] = value
        return out

    def file(self, content: bytes) -> Path:
        path = self.tmp_path / "model.npz"
        path.write_bytes(content)
        return path


def _bce(A: Any, Y: Any, **kwargs: Any) -> float:
    return mg.losses.BinaryCrossEntropy(**kwargs).forward(A, Y)


def _cce(A: Any, Y: Any, **kwargs: Any) -> float:
    return mg.losses.CategoricalCrossEntropy(**kwargs).forward(A, Y)


def _mse(A: Any, Y: Any) -> float:
    return mg.losses.MeanSquaredError().forward(A, Y)


def _dtype_is(dtype: Any) -> Callable[[Any], None]:
    def check(result: Any) -> None:
        assert isinstance(result, np.ndarray) and result.dtype == dtype, result
        assert np.isfinite(result).all()
    return check


def _finite_number(result: Any) -> None:
    assert isinstance(result, float) and np.isfinite(result)


def _has_nan(result: Any) -> None:
    assert np.isnan(result).any()


@frozen
class Case:
    """One row: what is called, and what must come of it."""

    id: str
    call: Callable[[Setup], Any]
    error: type[BaseException] | None  # None: the call works and ``check`` holds
    match: str | None = None
    check: Callable[[Any], None] | None = None
    keeps_weights: bool = True  # False only where the docs say what the weights become


def _overflow(s: Setup) -> Any:
    """Weights of 1 sum three inputs of 1e308 into inf."""
    s.model[0].W[...] = 1.0  # type: ignore[union-attr]
    s.weights = [p.value.copy() for p in s.model.parameters()]
    return s.model[0].predict(np.full((3, 5), 1e308))


def _fit(s: Setup, X: Any = None, Y: Any = None, lr: float = 0.1, **kwargs: Any) -> Any:
    return mg.fit(
        s.model, s.X if X is None else X, s.Y if Y is None else Y, loss="bce",
        optimizer=optim.SGD(s.model.parameters(), lr=lr), epochs=kwargs.pop("epochs", 2),
        verbose=False, **kwargs,
    )


def _diverge(s: Setup) -> Any:
    """Linear regression with lr = 10: each step multiplies the error by more than 1."""
    s.model = mg.Sequential([mg.Dense(3, 1, rng=0)])
    s.weights = [p.value.copy() for p in s.model.parameters()]
    return mg.fit(s.model, s.X, np.ones((1, 5)), loss="mse", epochs=1000, verbose=False,
                  optimizer=optim.SGD(s.model.parameters(), lr=10.0))


def _truncated(s: Setup) -> Any:
    mg.save(s.model, s.tmp_path / "good.npz")
    data = (s.tmp_path / "good.npz").read_bytes()
    return mg.load(s.file(data[: len(data) // 2]))


def _unregistered(s: Setup) -> Any:
    class Mine(mg.Activation):
        def g(self, Z: np.ndarray) -> np.ndarray:  # type: ignore[override]
            return Z

    return mg.save(mg.Sequential([mg.Dense(3, 2), Mine()]), s.tmp_path / "m.npz")


CASES = [
    # -- shapes and ranks ---------------------------------------------------------
    Case("x-rank-1", lambda s: s.model.predict(s.X[:, 0]), ShapeError,
         r"got 1-D shape \(3,\); a single example is a column: use X.reshape\(-1, 1\)"),
    Case("x-rank-3", lambda s: s.model.predict(s.X[None]), ShapeError, "got 3-D shape"),
    Case("x-scalar", lambda s: s.model.predict(3.0), ShapeError, "got 0-D shape"),
    Case("x-wrong-rows", lambda s: s.model.predict(s.X[:2]), ShapeError,
         r"expected A_prev of shape \(3, m\), got \(2, 5\)"),
    Case("x-transposed", lambda s: s.model.predict(s.X.T), ShapeError,
         r"got \(5, 3\)\.\nExamples are columns; did you pass X instead of X.T\?"),
    Case("x-empty-batch", lambda s: s.model.predict(s.X[:, :0]), ShapeError,
         r"empty batch \(shape \(3, 0\)\); need m >= 1"),
    Case("x-ragged-list", lambda s: s.model.predict([[1.0, 2.0], [3.0]]), DTypeError,
         "cannot read A_prev as an array of numbers"),
    # -- dtypes -------------------------------------------------------------------
    Case("x-object", lambda s: s.model.predict(s.X.astype(object)), DTypeError,
         "expected A_prev to hold real numbers, got dtype object"),
    Case("x-none", lambda s: s.model.predict(None), DTypeError, "got dtype object"),
    Case("x-strings", lambda s: s.model.predict(s.X.astype(str)), DTypeError, "got dtype <U"),
    Case("x-bools", lambda s: s.model.predict(s.X > 0), DTypeError,
         r"got dtype bool \(cast booleans with .astype\(float\) if you mean 0/1\)"),
    Case("x-complex", lambda s: s.model.predict(s.X + 1j), DTypeError, "got dtype complex128"),
    Case("x-ints", lambda s: s.model.predict(np.arange(15).reshape(3, 5)), None,
         check=_dtype_is(np.float64)),
    Case("x-float32-into-float64", lambda s: s.model.predict(s.X.astype(np.float32)), None,
         check=_dtype_is(np.float64)),
    Case("x-float64-into-float32",
         lambda s: mg.Dense(3, 2, dtype=np.float32, rng=0).predict(s.X), None,
         check=_dtype_is(np.float32)),
    Case("x-nested-list", lambda s: s.model.predict(s.X.tolist()), None,
         check=_dtype_is(np.float64)),
    # -- NaN and inf ----------------------------------------------------------------
    Case("x-nan-predict", lambda s: s.model.predict(s.with_nan(s.X)), InputError,
         r"Sequential.predict: X holds non-finite values \(first at index \(0, 1\): nan\)"),
    Case("x-inf-predict", lambda s: s.model.predict(s.with_nan(s.X, np.inf)), InputError,
         r"X holds non-finite values \(first at index \(0, 1\): inf\)"),
    Case("x-overflow-predict", _overflow, InputError,
         "the output holds non-finite values although X is finite .* an overflow"),
    Case("x-nan-forward", lambda s: s.model.forward(s.with_nan(s.X)), None, check=_has_nan),
    Case("x-nan-gradcheck", lambda s: mg.gradcheck(s.model, s.with_nan(s.X)), InputError,
         "gradcheck: X holds non-finite values"),
    Case("y-nan", lambda s: _mse(s.A, s.with_nan(s.Y)), InputError,
         r"MeanSquaredError\(\): Y holds non-finite values \(first at index \(0, 1\): nan\)"),
    Case("y-inf", lambda s: _bce(s.A, s.with_nan(s.Y, np.inf)), InputError,
         "Y holds non-finite values"),
    Case("a-nan", lambda s: _mse(s.with_nan(s.A), s.Y), InputError,
         r"A \(the model's output\) holds non-finite values"),
    Case("logits-inf", lambda s: _bce(s.with_nan(s.A, np.inf), s.Y, from_logits=True),
         InputError, r"A \(the model's output\) holds non-finite values"),
    # -- targets: shapes, dtypes, ranges ---------------------------------------------
    Case("y-m-mismatch", lambda s: _bce(s.A, s.Y[:, :3]), ShapeError,
         r"expected Y of shape \(2, 5\) like A \(outputs, m\), got \(2, 3\)"),
    Case("y-transposed", lambda s: _mse(s.A, s.Y.T), ShapeError, r"did you pass Y.T\?"),
    Case("y-object", lambda s: _mse(s.A, s.Y.astype(object)), DTypeError,
         "expected Y to hold numbers, got dtype object"),
    Case("y-strings", lambda s: _mse(s.A, s.Y.astype(str)), DTypeError, "got dtype <U"),
    Case("y-complex", lambda s: _mse(s.A, s.Y + 0j), DTypeError, "got dtype complex128"),
    Case("y-bools", lambda s: _bce(s.A, s.Y > 0), None, check=_finite_number),
    Case("y-ints", lambda s: _bce(s.A, s.Y.astype(int)), None, check=_finite_number),
    Case("labels-out-of-range", lambda s: _cce(s.probs, np.array([0, 1, 2, 0, 1])), InputError,
         r"labels must lie in \[0, 1\] for 2 classes \(rows of A\), got values from 0 to 2"),
    Case("labels-negative", lambda s: _cce(s.probs, np.array([0, -1, 1, 0, 1])), InputError,
         "got values from -1 to 1"),
    Case("labels-fractional", lambda s: _cce(s.probs, np.array([0, 0.5, 1, 0, 1])), DTypeError,
         "integer labels of shape"),
    Case("labels-whole-floats", lambda s: _cce(s.probs, np.array([0.0, 1, 1, 0, 1])), None,
         check=_finite_number),
    Case("labels-m-mismatch", lambda s: _cce(s.probs, s.labels[:3]), ShapeError,
         r"expected labels of shape \(5,\), got \(3,\)"),
    Case("labels-bools", lambda s: _cce(s.probs, s.labels > 0), DTypeError, "got dtype bool"),
    Case("bce-probabilities-outside", lambda s: _bce(s.A + 1, s.Y), InputError,
         r"A \(probabilities\) must lie in \[0, 1\].*if these are logits, use from_logits=True"),
    Case("cce-probabilities-outside", lambda s: _cce(s.A * 3, s.labels), InputError,
         r"A \(probabilities\) must lie in \[0, 1\]"),
    Case("bce-targets-outside", lambda s: _bce(s.A, 2 * s.Y), InputError,
         r"Y must lie in \[0, 1\], got values from 0.0 to 2.0"),
    # -- calls out of order --------------------------------------------------------------
    Case("backward-before-forward", lambda s: s.model.backward(np.ones((2, 5))), StateError,
         "backward called before forward"),
    Case("loss-backward-before-forward",
         lambda s: mg.losses.MeanSquaredError().backward(), StateError,
         "backward called before forward; compute the loss first"),
    Case("backward-wrong-shape", lambda s: (s.A, s.model.backward(np.ones((2, 4)))), ShapeError,
         r"expected dA of shape \(2, 5\) like A, got \(2, 4\)"),
    # -- building models -------------------------------------------------------------
    Case("dense-zero-units", lambda s: mg.Dense(0, 3), ValueError,
         "Dense: n_in must be a positive int, got 0"),
    Case("dense-fractional-units", lambda s: mg.Dense(3, 2.5), ValueError,  # type: ignore[arg-type]
         "n_out must be a positive int, got 2.5"),
    Case("dense-int-dtype", lambda s: mg.Dense(3, 2, dtype=np.int32), TypeError,
         "dtype must be a float type"),
    Case("dense-unknown-init", lambda s: mg.Dense(3, 2, init="zeros"), ValueError,
         "init must be one of"),
    Case("activation-nan-parameter", lambda s: mg.LeakyReLU(float("nan")), ValueError,
         "alpha must be a finite number, got nan"),
    Case("sequential-mismatch", lambda s: mg.Sequential([mg.Dense(3, 4), mg.Dense(5, 2)]),
         ShapeError, "does not fit after layer 0"),
    Case("sequential-layer-twice", lambda s: mg.Sequential([s.model[0], s.model[0]]), ValueError,
         "appears twice"),
    Case("sequential-not-a-layer", lambda s: mg.Sequential([mg.Dense(3, 2), np.tanh]),
         TypeError, "must be a minigrad Layer, got ufunc"),
    Case("optimizer-zero-lr", lambda s: optim.SGD(s.model.parameters(), lr=0), ValueError,
         "lr must be a finite number > 0, got 0.0"),
    Case("optimizer-nan-lr", lambda s: optim.Adam(s.model.parameters(), lr=float("nan")),
         ValueError, "lr must be a finite number > 0, got nan"),
    # -- training -------------------------------------------------------------------------
    Case("fit-nan-x", lambda s: _fit(s, X=s.with_nan(s.X)), InputError,
         r"fit: X holds non-finite values \(first at index \(0, 1\): nan\)"),
    Case("fit-inf-y", lambda s: _fit(s, Y=s.with_nan(s.Y, np.inf)), InputError,
         "fit: Y holds non-finite values"),
    Case("fit-m-mismatch", lambda s: _fit(s, Y=s.Y[:, :4]), ShapeError,
         r"X has 5 examples \(columns\), so Y must be \(n_out, 5\) or \(5,\)"),
    Case("fit-transposed-x", lambda s: _fit(s, X=s.X.T), ShapeError,
         "did you pass X instead of X.T"),
    Case("fit-empty-batch", lambda s: _fit(s, X=s.X[:, :0], Y=s.Y[:, :0]), ShapeError,
         "empty batch"),
    Case("fit-bool-x", lambda s: _fit(s, X=s.X > 0), DTypeError, "got dtype bool"),
    Case("fit-labels-out-of-range",
         lambda s: mg.fit(s.model, s.X, np.array([0, 1, 2, 0, 1]), loss="bce", epochs=1,
                          optimizer=optim.SGD(s.model.parameters(), lr=0.1), verbose=False),
         InputError, r"1-D Y holds class labels, which must be whole numbers in \[0, 1\]"),
    Case("fit-zero-batch-size", lambda s: _fit(s, batch_size=0), InputError,
         "batch_size must be an int >= 1, got 0"),
    Case("fit-zero-epochs", lambda s: _fit(s, epochs=0), InputError,
         "epochs must be an int >= 1, got 0"),
    Case("evaluate-nan-y", lambda s: mg.evaluate(s.model, s.X, s.with_nan(s.Y), loss="bce"),
         InputError, "evaluate: Y holds non-finite values"),
    Case("fit-diverging-lr", _diverge, mg.DivergenceError,
         r"Training diverged at epoch \d+/1000.*the loss is inf.*Try a lower learning rate: "
         r"lr=10 now, so perhaps lr=1", keeps_weights=False),
    # -- model files (the full table is in tests/test_io.py) -------------------------------
    Case("file-missing", lambda s: mg.load(s.tmp_path / "nope.npz"), FileNotFoundError),
    Case("file-random-bytes", lambda s: mg.load(s.file(RNG.bytes(512))), ModelFileError,
         "not a minigrad model file"),
    Case("file-truncated", _truncated, ModelFileError, "damaged or truncated"),
    Case("file-unregistered-class", _unregistered, ModelFileError,
         r"its class is not registered.*@mg\.register"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gets_its_documented_error_and_changes_nothing(
    case: Case, tmp_path: Path
) -> None:
    setup = Setup(tmp_path)
    if case.error is None:
        result = case.call(setup)
        assert case.check is not None
        case.check(result)
    else:
        with pytest.raises(case.error, match=case.match) as caught:
            case.call(setup)
        assert isinstance(caught.value, ValueError | TypeError | OSError | RuntimeError)
    for p, before in zip(setup.model.parameters(), setup.weights, strict=True):
        if case.keeps_weights:
            np.testing.assert_array_equal(p.value, before)
        else:  # training stopped before the bad step: the last finite weights
            assert np.isfinite(p.value).all()


def _docs_rows() -> dict[str, str]:
    """``{case id: result}`` from the table rows of docs/errors.md."""
    rows = {}
    table = DOCS.read_text(encoding="utf-8").split("\n## The table", 1)[1].split("\n## ", 1)[0]
    for line in table.splitlines():
        match = re.match(r"\|\s*`([a-z0-9-]+)`\s*\|.*\|\s*([^|]+?)\s*\|\s*$", line)
        if match:
            rows[match.group(1)] = match.group(2)
    return rows


def test_the_docs_table_is_this_table() -> None:
    rows = _docs_rows()
    assert sorted(rows) == sorted(c.id for c in CASES)
    for case in CASES:
        documented = rows[case.id]
        expected = "works" if case.error is None else case.error.__name__
        assert documented.strip("*`").startswith(expected), (case.id, documented)


def test_every_documented_error_is_a_value_error_or_says_why_not() -> None:
    """Bad values are ValueErrors; TypeError, StateError and OSError are the named exceptions."""
    for case in CASES:
        if case.error is not None and not issubclass(case.error, ValueError):
            assert case.error in (TypeError, StateError, FileNotFoundError), case.id
        assert case.keeps_weights or case.error is mg.DivergenceError, case.id
