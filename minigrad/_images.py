"""Input checks for layers on image batches ``(c, h, w, m)``, with hints for other layouts.

People bring images as rows: ``(m, h, w, c)`` (Keras, the course's notebooks)
or ``(m, c, h, w)`` (PyTorch). When a batch looks like one of those, the
error names the :mod:`minigrad.data` helper that converts it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from minigrad._checks import as_float_batch
from minigrad._typing import Array
from minigrad.errors import ShapeError


def as_image_batch(owner: object, X: Any, dtype: np.dtype[Any] | None, what: str,
                   channels: int | None = None) -> Array:
    """``X`` as a float batch ``(c, h, w, m)`` (with ``channels`` channels when given).

    Casts like :func:`minigrad._checks.as_float_batch`; a 2-D or 3-D X, or a
    4-D X with the wrong channel count, gets a ShapeError with a hint.
    """
    arr = np.asarray(X) if not isinstance(X, np.ndarray) else X
    if arr.ndim in (2, 3) and arr.dtype.kind in "fiu":
        raise ShapeError(
            f"{owner!r}: expected {what} to be 4-D (channels, height, width, m) with examples "
            f"on the last axis, got {arr.ndim}-D shape {arr.shape}; "
            f"{_flat_hint(arr.shape, channels)}"
        )
    A = as_float_batch(owner, X, dtype, what, ndim=4)
    if channels is not None and A.shape[0] != channels:
        hint = row_layout_hint(A.shape, channels)
        raise ShapeError(
            f"{owner!r}: expected {what} of shape ({channels}, height, width, m), images with "
            f"{channels} channel{'s' if channels != 1 else ''} on axis 0, got {A.shape}"
            + (f"; {hint}" if hint else "")
        )
    return A


def row_layout_hint(shape: tuple[int, ...], channels: int | None = None) -> str:
    """Which helper turns a 4-D ``shape`` that looks like rows of images into ``(c, h, w, m)``.

    ``(m, h, w, c)`` has few channels last; ``(m, c, h, w)`` has them second.
    ``channels`` (when known) must then match. Empty when neither fits.
    """
    if len(shape) != 4:
        return ""
    few = (channels,) if channels is not None else (1, 2, 3, 4)
    if shape[3] in few and shape[0] not in few and shape[1] > shape[3]:
        return ("it looks like images as rows (m, height, width, channels), the Keras layout: "
                "convert them with mg.data.from_nhwc(X)")
    if shape[1] in few and shape[0] not in few and shape[2] > shape[1]:
        return ("it looks like images as rows (m, channels, height, width), the PyTorch layout: "
                "convert them with mg.data.from_nchw(X)")
    return ""


def _flat_hint(shape: tuple[int, ...], channels: int | None) -> str:
    if len(shape) == 3:
        return ("for grayscale images as rows (m, height, width) use mg.data.from_nhwc(X); "
                "for (height, width, m) add the channel axis with X[None]")
    n = shape[0]
    c = channels or 1
    side = math.isqrt(n // c) if n % c == 0 else 0
    if side and c * side * side == n:
        return (f"columns hold flat examples: reshape them to images with "
                f"X.reshape({c}, {side}, {side}, -1)")
    return "columns hold flat examples: reshape them to images with X.reshape(c, h, w, m)"
