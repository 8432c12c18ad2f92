"""Weight initializers for Dense: each returns W of shape (n_out, n_in) in float64.

* ``"he"``:     W ~ N(0, 2 / n_in)             (ReLU family; He et al. 2015)
* ``"xavier"``: W ~ N(0, 2 / (n_in + n_out))   (tanh, sigmoid; Glorot and Bengio 2010)
* ``"normal"``: W ~ 0.01 * N(0, 1)             (the notes' small random start)

Biases always start at zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from minigrad._typing import Array

Initializer = Callable[[int, int, np.random.Generator], Array]


def he(n_in: int, n_out: int, rng: np.random.Generator) -> Array:
    """W = randn(n_out, n_in) * sqrt(2 / n_in)."""
    return rng.standard_normal((n_out, n_in)) * math.sqrt(2.0 / n_in)


def xavier(n_in: int, n_out: int, rng: np.random.Generator) -> Array:
    """W = randn(n_out, n_in) * sqrt(2 / (n_in + n_out))."""
    return rng.standard_normal((n_out, n_in)) * math.sqrt(2.0 / (n_in + n_out))


def small_normal(n_in: int, n_out: int, rng: np.random.Generator) -> Array:
    """W = randn(n_out, n_in) * 0.01."""
    return rng.standard_normal((n_out, n_in)) * 0.01


INITIALIZERS: dict[str, Initializer] = {"he": he, "xavier": xavier, "normal": small_normal}
