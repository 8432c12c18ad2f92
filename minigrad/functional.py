"""Numerically stable building blocks shared by activations and losses."""

from __future__ import annotations

import numpy as np

from minigrad._typing import Array


def sigmoid(Z: Array) -> Array:
    """sigmoid(Z) = 1 / (1 + exp(-Z)), without a warning and exact in both tails.

    exp(-Z) overflows to inf for Z below about -709 (float64), and then
    1 / (1 + inf) = 0 is the right answer, so that overflow is silenced rather
    than avoided: four array operations, as few as the unguarded formula, with
    full relative precision for large negative Z (no 1 - (1 - tiny) loss).

    >>> float(sigmoid(np.array(0.0)))
    0.5
    """
    E = np.negative(Z)
    with np.errstate(over="ignore"):
        E = np.exp(E, out=E) if E.ndim else np.exp(E)
    E += 1.0
    A: Array = np.reciprocal(E, out=E) if E.ndim else np.reciprocal(E)
    return A


def softplus(Z: Array) -> Array:
    """softplus(Z) = log(1 + exp(Z)) = max(Z, 0) + log1p(exp(-|Z|))."""
    result: Array = np.maximum(Z, 0) + np.log1p(np.exp(-np.abs(Z)))
    return result


def logsumexp(Z: Array, axis: int = 0) -> Array:
    """log(sum(exp(Z), axis)) with the max shifted out; keeps the reduced axis."""
    Z_max = Z.max(axis=axis, keepdims=True)
    result: Array = Z_max + np.log(np.exp(Z - Z_max).sum(axis=axis, keepdims=True))
    return result


def softmax(Z: Array, axis: int = 0) -> Array:
    """softmax(Z)_k = exp(Z_k) / sum_j exp(Z_j) over ``axis`` (the class axis, 0)."""
    E: Array = np.exp(Z - Z.max(axis=axis, keepdims=True))
    E /= E.sum(axis=axis, keepdims=True)
    return E
