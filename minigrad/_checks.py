"""Input checks shared by layers and losses; all run before any state changes."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad._typing import Array
from minigrad.errors import DTypeError, InputError, ShapeError


def as_float_matrix(owner: object, X: Any, dtype: np.dtype[Any] | None, what: str) -> Array:
    """``X`` as a 2-D float array ``(features, m)`` of ``dtype`` (its own float dtype when None).

    Integers and other float widths are cast; bools, complex, strings and
    objects are refused, as are arrays that are not 2-D or have no columns.
    """
    return as_float_batch(owner, X, dtype, what, ndim=2)


def as_float_batch(
    owner: object, X: Any, dtype: np.dtype[Any] | None, what: str, ndim: int | None = None
) -> Array:
    """``X`` as a float batch with examples on the last axis, of ``dtype`` (or its own).

    ``ndim`` fixes the number of axes (2 for columns ``(features, m)``, 4 for
    images ``(c, h, w, m)``); None accepts any batch of at least 2 axes.
    Integers and other float widths are cast; bools, complex, strings and
    objects are refused, as is a batch with no examples.
    """
    try:
        arr = np.asarray(X) if not isinstance(X, np.ndarray) else X
    except (ValueError, TypeError) as err:  # ragged nested lists, odd objects
        raise DTypeError(f"{owner!r}: cannot read {what} as an array of numbers: {err}") from None
    if type(arr) is not np.ndarray:  # np.matrix and other subclasses: a plain view
        arr = np.asarray(arr).view(np.ndarray)
    kind = arr.dtype.kind
    if kind not in "fiu":
        raise DTypeError(
            f"{owner!r}: expected {what} to hold real numbers, got dtype {arr.dtype}"
            + (" (cast booleans with .astype(float) if you mean 0/1)" if kind == "b" else "")
        )
    if (arr.ndim != ndim) if ndim is not None else arr.ndim < 2:
        hint = ""
        if arr.ndim == 1:
            hint = "; a single example is a column: use X.reshape(-1, 1)"
        elif ndim == 2 and arr.ndim == 4:
            hint = "; images (c, h, w, m) become columns through mg.Flatten()"
        elif ndim == 4 and arr.ndim == 2:
            hint = "; columns hold flat examples: reshape them to images with X.reshape(c, h, w, m)"
        expected = (
            "2-D (features, m) with examples as columns" if ndim == 2
            else f"{ndim}-D (channels, height, width, m) with examples on the last axis"
            if ndim == 4 else "at least 2-D with examples on the last axis"
        )
        raise ShapeError(
            f"{owner!r}: expected {what} to be {expected}, "
            f"got {arr.ndim}-D shape {arr.shape}{hint}"
        )
    if arr.shape[-1] == 0:
        raise ShapeError(f"{owner!r}: {what} is an empty batch (shape {arr.shape}); need m >= 1")
    target = dtype if dtype is not None else (arr.dtype if kind == "f" else np.dtype(np.float64))
    return arr.astype(target, copy=False)


def as_plain_array(Y: Any) -> Any:
    """``Y`` as a plain ndarray: ``np.matrix`` (and other subclasses) as a view, whose
    ``*`` and reductions would otherwise behave as matrices; lists through np.asarray."""
    arr = Y if isinstance(Y, np.ndarray) else np.asarray(Y)
    return arr if type(arr) is np.ndarray else arr.view(np.ndarray)


def check_rows(owner: object, A: Array, n_rows: int, what: str) -> None:
    """Refuse ``A`` unless it has ``n_rows`` rows, hinting at a transpose when it fits."""
    if A.shape[0] != n_rows:
        hint = ""
        if A.shape[1] == n_rows:
            hint = "\nExamples are columns; did you pass X instead of X.T?"
        raise ShapeError(
            f"{owner!r}: expected {what} of shape ({n_rows}, m), got {A.shape}.{hint}"
        )


def check_finite(owner: object, X: Array, what: str) -> None:
    """Refuse arrays holding NaN or inf, naming the first bad position (in C order).

    No temporary as large as X: the sum of all entries is finite exactly when
    every entry is, unless the sum overflows, and only then (or when an entry
    is NaN or inf) are the entries looked at, a block of at most
    ``FINITE_BLOCK`` of them at a time. ``np.isfinite(X).all()`` would make a
    boolean array the size of X (47 MB for 60,000 MNIST images).
    """
    if X.dtype.kind not in "fc":
        return  # integers and booleans are always finite
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.add.reduce(X, axis=None)
    if np.isfinite(total):
        return
    rows = X.reshape(X.shape[0] if X.ndim else 1, -1)  # a view for 1-D and 2-D arrays
    for i in range(rows.shape[0]):
        row = rows[i]
        for lo in range(0, row.shape[0], FINITE_BLOCK):
            bad = ~np.isfinite(row[lo:lo + FINITE_BLOCK])
            if bad.any():
                flat = i * row.shape[0] + lo + int(bad.argmax())
                where = tuple(int(k) for k in np.unravel_index(flat, X.shape))
                raise InputError(
                    f"{owner}: {what} holds non-finite values "
                    f"(first at index {where}: {X[where]})"
                )


FINITE_BLOCK = 1 << 16
"""Entries that check_finite tests at once when it must look (a 64 KB boolean temporary)."""
