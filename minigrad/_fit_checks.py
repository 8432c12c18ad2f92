"""Argument checks for :func:`minigrad.fit` and :func:`minigrad.evaluate`.

All of them run before training starts, so a refused call changes nothing.
X is cast here, once, to the model's dtype.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from minigrad import metrics as metrics_module
from minigrad._checks import as_float_batch, check_finite
from minigrad._typing import Array
from minigrad.errors import DTypeError, InputError, ShapeError
from minigrad.layer import Layer
from minigrad.losses import BinaryCrossEntropy, CategoricalCrossEntropy, Loss, MeanSquaredError
from minigrad.optim.optimizer import Optimizer

LOSSES: dict[str, type[Loss]] = {
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "bce": BinaryCrossEntropy, "binary_crossentropy": BinaryCrossEntropy,
    "cce": CategoricalCrossEntropy, "categorical_crossentropy": CategoricalCrossEntropy,
}


class _Owner(str):
    """A name that shows without quotes in the shared check messages."""

    def __repr__(self) -> str:
        return str(self)


def prepare(owner: str, model: Layer, X: Any, Y: Any) -> tuple[Array, Any]:
    """X cast once to the model's dtype and Y checked against it; or a clear error."""
    if not isinstance(model, Layer):
        raise TypeError(f"{owner}: model must be a minigrad Layer, got {type(model).__name__}")
    who = _Owner(owner)
    X = as_float_batch(who, X, model.dtype, "X")
    check_finite(who, X, "X")
    m = X.shape[-1]
    try:
        out_shape = model.output_shape(X.shape[:-1])
    except ShapeError as err:
        hint = ""
        try:
            if X.ndim == 2:
                model.output_shape((m,))
                hint = "\nExamples are columns; did you pass X instead of X.T?"
        except ShapeError:
            pass
        raise ShapeError(
            f"{owner}: X of shape {X.shape} does not fit the model: {err}{hint}"
        ) from None
    n_out = out_shape[0] if out_shape is not None and len(out_shape) == 1 else None
    Y_arr = Y if isinstance(Y, np.ndarray) else np.asarray(Y)
    if Y_arr.dtype.kind not in "fiub":
        raise DTypeError(f"{owner}: expected Y to hold numbers, got dtype {Y_arr.dtype}")
    if Y_arr.ndim not in (1, 2) or Y_arr.shape[-1] != m:
        hint = "; examples are columns: did you pass Y.T?" if Y_arr.shape[:1] == (m,) else ""
        raise ShapeError(
            f"{owner}: X has {m} examples (columns), so Y must be (n_out, {m}) or ({m},); "
            f"got shape {Y_arr.shape}{hint}"
        )
    if Y_arr.dtype.kind == "f":
        check_finite(who, Y_arr, "Y")
    if Y_arr.ndim == 2 and n_out is not None and Y_arr.shape[0] != n_out:
        hint = "; class labels go in a 1-D array of shape (m,)" if Y_arr.shape[0] == 1 else ""
        raise ShapeError(
            f"{owner}: the model outputs {n_out} rows but Y has {Y_arr.shape[0]}{hint}"
        )
    if Y_arr.ndim == 1 and n_out is not None and n_out > 1:
        if not np.array_equal(Y_arr, np.round(Y_arr)) or Y_arr.min() < 0 or Y_arr.max() >= n_out:
            raise InputError(
                f"{owner}: 1-D Y holds class labels, which must be whole numbers in "
                f"[0, {n_out - 1}] for {n_out} outputs; got values from {Y_arr.min()} "
                f"to {Y_arr.max()}"
            )
        return X, Y_arr.astype(np.int64, copy=False)
    dtype = X.dtype if Y_arr.ndim == 2 or Y_arr.dtype.kind in "fb" else Y_arr.dtype
    return X, Y_arr.astype(dtype, copy=False)


def prepare_validation(model: Layer, validation: Any) -> tuple[Array, Any]:
    if not isinstance(validation, tuple | list) or len(validation) != 2:
        raise InputError(
            f"fit: validation must be a pair (X_val, Y_val), got {type(validation).__name__}"
        )
    return prepare("fit (validation)", model, validation[0], validation[1])


def check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise InputError(f"fit: {name} must be an int >= {low}, got {value!r}")


def check_optimizer(model: Layer, optimizer: Any) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"fit: optimizer must be a minigrad optimizer such as "
            f"mg.optim.SGD(model.parameters(), lr=0.1), got {type(optimizer).__name__}"
        )
    ours = {id(p) for p in model.parameters()}
    strangers = [p for p in optimizer.params if id(p) not in ours]
    if strangers:
        raise InputError(
            f"fit: the optimizer updates {len(strangers)} parameters that are not the model's "
            f"(first {strangers[0]!r}); build it from this model's parameters()"
        )


def as_loss(loss: Any) -> Loss:
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss in LOSSES:
        return LOSSES[loss]()
    raise InputError(
        f"loss must be a minigrad Loss or one of {', '.join(sorted(LOSSES))}, got {loss!r}"
    )


def named_metrics_of(
    metrics: Iterable[Any] | str, loss: Loss | None
) -> list[tuple[str, metrics_module.Metric]]:
    items = [metrics] if isinstance(metrics, str) or callable(metrics) else list(metrics)
    named = [metrics_module.get(item, loss) for item in items]
    names = [name for name, _ in named]
    if len(set(names)) != len(names) or "loss" in names:
        raise InputError(f"metrics need distinct names other than 'loss', got {names}")
    return named
