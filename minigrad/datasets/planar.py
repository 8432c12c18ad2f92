"""The planar "flower" data set of the notes: two classes of points in petals.

For class j in (0, 1), with N = m / 2 points each and a = 4:
    t = linspace(3.12 j, 3.12 (j + 1), N) + noise * randn(N)
    r = a sin(4 t) + noise * randn(N)
    x = (r sin(t), r cos(t)),  label j
With an int seed the noise comes from numpy's legacy ``RandomState(seed)``,
so ``planar(seed=1)`` reproduces the classic set point for point.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from minigrad._typing import Array, DTypeLike
from minigrad.datasets._common import Seed, check_count, check_nonnegative, float_dtype

_PETAL_LENGTH = 4.0
_ARC = 3.12


def planar(
    m: int = 400, *, noise: float = 0.2, seed: Seed = 1, dtype: DTypeLike = np.float64
) -> tuple[Array, Array]:
    """The 2-class "flower": X of shape (2, m) and Y of shape (1, m) holding 0.0 or 1.0.

    The first half of the columns is class 0, the second half class 1 (not
    shuffled). The default ``seed=1`` gives the classic set. A 2-4-1 net
    with tanh hidden units separates it to about 90%; logistic regression,
    whose boundary is a line, to under 50%.

    Args:
        m: number of points, even (m / 2 per class).
        noise: standard deviation of the noise on the angle t and radius r.
        seed: an int (legacy RandomState, as the classic set), a
            ``numpy.random.Generator``, or None for a fresh draw.
        dtype: float64 (default) or float32.

    >>> X, Y = planar()
    >>> X.shape, Y.shape
    ((2, 400), (1, 400))
    >>> [round(float(v), 6) for v in X[:, 0]]
    [1.204442, 3.576114]
    """
    owner = "planar"
    m = check_count(m, owner, minimum=2)
    if m % 2:
        raise ValueError(f"{owner}: m must be even (m / 2 points per class), got {m}")
    noise = check_nonnegative(noise, owner, "noise")
    target = float_dtype(dtype, owner)
    randn = _normal_source(seed, owner)
    per_class = m // 2
    X = np.empty((2, m))
    Y = np.empty((1, m))
    for j in range(2):
        columns = slice(per_class * j, per_class * (j + 1))
        t = np.linspace(_ARC * j, _ARC * (j + 1), per_class) + noise * randn(per_class)
        r = _PETAL_LENGTH * np.sin(4 * t) + noise * randn(per_class)
        X[0, columns] = r * np.sin(t)
        X[1, columns] = r * np.cos(t)
        Y[0, columns] = j
    return X.astype(target), Y.astype(target)


def _normal_source(seed: Seed, owner: str) -> Callable[[int], Array]:
    """A ``randn(n)`` function; int seeds use the legacy generator of the classic set."""
    if isinstance(seed, np.random.Generator):
        return seed.standard_normal
    if seed is None or (isinstance(seed, int | np.integer) and not isinstance(seed, bool)):
        return np.random.RandomState(None if seed is None else int(seed)).randn
    raise TypeError(f"{owner}: seed must be an int, a numpy.random.Generator or None, got {seed!r}")
