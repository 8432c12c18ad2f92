"""Numerically stable building blocks shared by activations and losses."""

from __future__ import annotations

import numpy as np

from minigrad._typing import Array


def sigmoid(Z: Array) -> Array:
    """sigmoid(Z) = 1 / (1 + exp(-Z)), evaluated without overflow.

    exp is only ever taken of -|Z| <= 0, so it cannot overflow for any Z.

    >>> float(sigmoid(np.array(0.0)))
    0.5
    """
    E = np.exp(-np.abs(Z))
    result: Array = np.where(Z >= 0, 1.0, E) / (1.0 + E)
    return result


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
