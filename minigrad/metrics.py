"""Metrics: ``metric(A, Y) -> float``, the model's output first, as losses take it.

A is the model's output, shape (n_out, m): probabilities or logits. Y is
what the loss takes: targets of A's shape, or integer class labels of shape
(m,). Every metric here is a mean over examples, so batch values average
into the epoch value by weighting with the batch size.

By name in :func:`minigrad.fit` and :func:`minigrad.evaluate`:
``"accuracy"`` (or ``"acc"``), ``"binary_accuracy"``, ``"categorical_accuracy"``,
``"mse"``, ``"mae"``. Next to a binary cross-entropy with ``from_logits=True``,
``"accuracy"`` thresholds at 0 instead of 0.5.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt

from minigrad._typing import Array
from minigrad.errors import DTypeError, InputError, ShapeError

Metric = Callable[[Array, Any], float]


def binary_accuracy(A: Array, Y: Any, threshold: float = 0.5) -> float:
    """Fraction of entries where the thresholded output matches the 0/1 target.

        accuracy = mean over all entries of [(A > threshold) == (Y > 0.5)]

    Use ``threshold=0`` for logits. Several outputs are several independent
    yes/no answers (multi-label), each counted.

    >>> binary_accuracy(np.array([[0.9, 0.2, 0.6]]), np.array([[1, 0, 0]]))
    0.6666666666666666
    """
    A, Y_arr = _same_shape("binary_accuracy", A, Y)
    predicted, target = np.greater(A, threshold), np.greater(Y_arr, 0.5)
    return float(np.mean(predicted == target))


def categorical_accuracy(A: Array, Y: Any) -> float:
    """Fraction of examples whose highest-scoring row is the true class.

        accuracy = (1/m) sum_i [argmax_k A_ki == y_i]

    Y is one-hot (n_classes, m) or integer labels (m,). Works the same on
    probabilities and logits, since softmax keeps the order.

    >>> categorical_accuracy(np.array([[0.7, 0.1], [0.3, 0.9]]), np.array([0, 0]))
    0.5
    """
    predicted, true = _class_labels("categorical_accuracy", A, Y)
    return float(np.mean(predicted == true))


def accuracy(A: Array, Y: Any, threshold: float | None = None) -> float:
    """Binary accuracy for one output row, categorical accuracy for several.

    One row is thresholded at ``threshold``. Without one (a plain "accuracy",
    with no loss to tell whether A holds probabilities or logits) A must be
    probabilities: outputs outside [0, 1] are refused rather than silently
    thresholded at 0.5, since logits would need 0.

    >>> accuracy(np.array([[0.8, 0.4]]), np.array([1, 1]))
    0.5
    """
    A = _output("accuracy", A)
    if A.shape[0] != 1:
        return categorical_accuracy(A, Y)
    if threshold is None:
        lo, hi = float(A.min()), float(A.max())
        if not (lo >= 0.0 and hi <= 1.0):
            raise InputError(
                f"accuracy: the model's outputs are not probabilities (values from {lo:.4g} to "
                f"{hi:.4g}), so the 0.5 threshold does not apply. If they are logits, pass the "
                "loss, e.g. loss=mg.losses.BinaryCrossEntropy(from_logits=True) (accuracy then "
                "thresholds at 0), or use metrics=[partial(mg.metrics.binary_accuracy, "
                "threshold=0.0)]"
            )
        threshold = 0.5
    return binary_accuracy(A, Y, threshold)


def mean_squared_error(A: Array, Y: Any) -> float:
    """Mean over all entries of (A - Y)**2.

    With several output rows this is the loss MeanSquaredError divided by n_out
    (the loss sums over outputs; the metric averages).

    >>> mean_squared_error(np.array([[1.0, 3.0]]), np.array([[0.0, 1.0]]))
    2.5
    """
    A, Y_arr = _same_shape("mean_squared_error", A, Y)
    diff = A - Y_arr
    return float(np.vdot(diff, diff)) / diff.size


def mean_absolute_error(A: Array, Y: Any) -> float:
    """Mean over all entries of |A - Y|.

    >>> mean_absolute_error(np.array([[1.0, 3.0]]), np.array([[0.0, 1.0]]))
    1.5
    """
    A, Y_arr = _same_shape("mean_absolute_error", A, Y)
    return float(np.mean(np.abs(A - Y_arr)))


def confusion_matrix(A: Array, Y: Any, n_classes: int | None = None) -> npt.NDArray[np.int64]:
    """Counts C[true, predicted]: row i holds the examples of class i by predicted class.

    One output row is a binary classifier (A > 0.5 predicts class 1); several
    rows predict the argmax. The diagonal holds the correct answers.

    >>> confusion_matrix(np.array([[0.9, 0.8, 0.1, 0.3]]), np.array([1, 0, 0, 0]))
    array([[2, 1],
           [0, 1]])
    """
    A = _output("confusion_matrix", A)
    if A.shape[0] == 1:
        _, Y_arr = _pair("confusion_matrix", A, Y)
        predicted = (A[0] > 0.5).astype(np.int64)
        true = (Y_arr.reshape(-1) > 0.5).astype(np.int64)
        if true.shape != predicted.shape:
            raise ShapeError(f"confusion_matrix: expected {A.shape[1]} targets, got {Y_arr.shape}")
        k = 2
    else:
        predicted, true = _class_labels("confusion_matrix", A, Y)
        k = A.shape[0]
    if n_classes is not None:
        if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < k:
            raise InputError(
                f"confusion_matrix: n_classes must be an int >= {k}, got {n_classes!r}"
            )
        k = n_classes
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (true, predicted), 1)
    return counts


METRICS: dict[str, Metric] = {
    "accuracy": accuracy,
    "acc": accuracy,
    "binary_accuracy": binary_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "mse": mean_squared_error,
    "mean_squared_error": mean_squared_error,
    "mae": mean_absolute_error,
    "mean_absolute_error": mean_absolute_error,
}


def get(metric: str | Metric, loss: object = None) -> tuple[str, Metric]:
    """``(name, function)`` for a metric given by name or as a function.

    ``loss`` tunes ``"accuracy"``: binary (threshold 0 for logits) next to a
    binary cross-entropy, categorical next to a categorical one.

    >>> get("acc")[0], get(mean_absolute_error)[0]
    ('accuracy', 'mean_absolute_error')
    """
    if callable(metric):
        return getattr(metric, "__name__", type(metric).__name__), metric
    if not isinstance(metric, str) or metric not in METRICS:
        raise InputError(
            f"unknown metric {metric!r}; known: {', '.join(sorted(METRICS))}, "
            "or pass a function metric(A, Y) -> float"
        )
    name = "accuracy" if metric == "acc" else metric
    fn = METRICS[metric]
    kind = type(loss).__name__
    if fn is accuracy and kind == "BinaryCrossEntropy":
        threshold = 0.0 if getattr(loss, "from_logits", False) else 0.5
        return name, partial(binary_accuracy, threshold=threshold)
    if fn is accuracy and loss is not None and kind != "CategoricalCrossEntropy":
        return name, partial(accuracy, threshold=0.5)  # e.g. MSE on 0/1 targets
    if fn is accuracy and kind == "CategoricalCrossEntropy":
        return name, categorical_accuracy
    return name, fn


# -- input checks ---------------------------------------------------------------------


def _output(owner: str, A: Any) -> Array:
    arr = A if isinstance(A, np.ndarray) else np.asarray(A)
    if arr.dtype.kind not in "fiub" or arr.ndim != 2:
        raise ShapeError(
            f"{owner}: expected A, the model output, as a 2-D numeric array (n_out, m), "
            f"got a {arr.ndim}-D {arr.dtype} array of shape {arr.shape}"
        )
    out: Array = arr
    return out


def _pair(owner: str, A: Any, Y: Any) -> tuple[Array, Array]:
    A = _output(owner, A)
    Y_arr = Y if isinstance(Y, np.ndarray) else np.asarray(Y)
    if Y_arr.dtype.kind not in "fiub":
        raise DTypeError(f"{owner}: expected Y to hold numbers, got dtype {Y_arr.dtype}")
    if Y_arr.shape[-1:] != A.shape[-1:]:
        raise ShapeError(
            f"{owner}: A has {A.shape[1]} examples (columns) but Y has shape {Y_arr.shape}"
        )
    return A, Y_arr


def _same_shape(owner: str, A: Any, Y: Any) -> tuple[Array, Array]:
    A, Y_arr = _pair(owner, A, Y)
    if Y_arr.ndim == 1 and A.shape[0] == 1:
        Y_arr = Y_arr.reshape(1, -1)
    if Y_arr.shape != A.shape:
        raise ShapeError(f"{owner}: expected Y of shape {A.shape} like A, got {Y_arr.shape}")
    return A, Y_arr


def _class_labels(owner: str, A: Any, Y: Any) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """Predicted (argmax over rows) and true class labels, both of shape (m,)."""
    A, Y_arr = _pair(owner, A, Y)
    if Y_arr.ndim == 2 and Y_arr.shape[0] == 1:
        Y_arr = Y_arr[0]
    if Y_arr.ndim == 2:
        if Y_arr.shape != A.shape:
            raise ShapeError(
                f"{owner}: expected one-hot Y of shape {A.shape} or labels of shape "
                f"({A.shape[1]},), got {Y_arr.shape}"
            )
        true = np.argmax(Y_arr, axis=0)
    elif Y_arr.ndim == 1:
        if Y_arr.dtype.kind == "f" and not np.array_equal(Y_arr, np.round(Y_arr)):
            raise DTypeError(f"{owner}: class labels must be whole numbers, got {Y_arr.dtype}")
        true = Y_arr.astype(np.int64, copy=False)
        if true.size and (true.min() < 0 or true.max() >= A.shape[0]):
            raise InputError(
                f"{owner}: labels must lie in [0, {A.shape[0] - 1}] for {A.shape[0]} output "
                f"rows, got values from {true.min()} to {true.max()}"
            )
    else:
        raise ShapeError(
            f"{owner}: expected Y of shape {A.shape} or ({A.shape[1]},), got {Y_arr.shape}"
        )
    return np.argmax(A, axis=0), true
