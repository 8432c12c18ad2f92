"""Shared helpers for the generated data sets: seeds, dtypes and argument checks."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad._typing import Array, DTypeLike
from minigrad.errors import InputError

Seed = int | np.random.Generator | None
"""An int seed (reproducible), a ``numpy.random.Generator``, or None (fresh entropy)."""


def generator(seed: Seed, owner: str) -> np.random.Generator:
    """A Generator from an int seed, an existing Generator, or None."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (isinstance(seed, int | np.integer) and not isinstance(seed, bool)):
        return np.random.default_rng(None if seed is None else int(seed))
    raise TypeError(f"{owner}: seed must be an int, a numpy.random.Generator or None, got {seed!r}")


def float_dtype(dtype: DTypeLike, owner: str) -> np.dtype[Any]:
    """``dtype`` as a numpy float dtype, or a clear error."""
    result: np.dtype[Any] = np.dtype(dtype)
    if result.kind != "f":
        raise TypeError(f"{owner}: dtype must be a float type such as float64, got {result}")
    return result


def check_count(value: Any, owner: str, name: str = "m", minimum: int = 1) -> int:
    """``value`` as an int of at least ``minimum``, or an InputError naming it."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InputError(f"{owner}: {name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_nonnegative(value: Any, owner: str, name: str) -> float:
    """``value`` as a finite float >= 0, or an InputError naming it."""
    number = float(value)
    if not np.isfinite(number) or number < 0:
        raise InputError(f"{owner}: {name} must be a finite number >= 0, got {value!r}")
    return number


def shuffled(X: Array, labels: Any, rng: np.random.Generator) -> tuple[Array, Any]:
    """The columns of X and the matching labels (last axis) in one random order."""
    order = rng.permutation(X.shape[1])
    return X[:, order], labels[..., order]
