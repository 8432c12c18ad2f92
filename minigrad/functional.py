"""Numerically stable building blocks shared by activations and losses."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from minigrad._typing import Array


class Constants(NamedTuple):
    """Numbers of one float dtype for the hot paths.

    A ufunc takes a 0-d array of the operand's own dtype with less overhead
    than a Python float (about 0.15 us less per call on small arrays), and it
    never changes the result's dtype.
    """

    one: Array
    zero: Array
    minus_one: Array
    exp_safe: float
    """exp(x) is finite for every x <= exp_safe (709 in float64, 88 in float32)."""
    eps_floor: float
    """eps * (1 - eps) with eps the dtype's resolution: the least A (1 - A) of a
    probability A in [eps, 1 - eps], the range binary cross-entropy clips to."""


_CONSTANTS: dict[np.dtype[Any], Constants] = {}


def constants(dtype: np.dtype[Any]) -> Constants:
    """The :class:`Constants` of a float dtype (made once per dtype)."""
    found = _CONSTANTS.get(dtype)
    if found is None:
        info = np.finfo(dtype)
        eps = float(info.eps)
        found = _CONSTANTS[dtype] = Constants(
            np.array(1.0, dtype=dtype),
            np.array(0.0, dtype=dtype),
            np.array(-1.0, dtype=dtype),
            float(math.floor(math.log(float(info.max)))),
            float(np.asarray(eps, dtype) * (np.asarray(1.0, dtype) - np.asarray(eps, dtype))),
        )
    return found


def sigmoid(Z: Array) -> Array:
    """sigmoid(Z) = 1 / (1 + exp(-Z)), without a warning and exact in both tails.

    exp(-Z) overflows to inf for Z below about -709 (float64), and then
    1 / (1 + inf) = 0 is the right answer, so that overflow is silenced rather
    than avoided: four array operations, as few as the unguarded formula, with
    full relative precision for large negative Z (no 1 - (1 - tiny) loss).
    The error-state context that silences it costs more than the four
    operations on a small array, so it is entered only when the largest -Z
    could overflow (one argmax tells).

    >>> float(sigmoid(np.array(0.0)))
    0.5
    """
    E = np.negative(Z)
    if not E.ndim:
        with np.errstate(over="ignore"):
            A0: Array = np.reciprocal(np.exp(E) + 1.0)
        return A0
    c = constants(E.dtype)
    if E.item(E.argmax()) <= c.exp_safe:  # NaN goes the careful way
        np.exp(E, out=E)
    else:
        with np.errstate(over="ignore"):
            np.exp(E, out=E)
    E += c.one
    A: Array = np.reciprocal(E, out=E)
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
