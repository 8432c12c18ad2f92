"""Small generated data sets in the column convention: X is (n_x, m).

Binary sets (moons, circles, xor) return Y of shape (1, m) holding 0.0 or
1.0, ready for a sigmoid output and binary cross-entropy. ``spirals`` returns
integer labels of shape (m,), ready for softmax and categorical
cross-entropy (or ``mg.data.one_hot``). ``curve`` is a 1-D regression set.
Columns are shuffled; every function takes ``seed`` (int, Generator or None).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from minigrad._typing import Array, DTypeLike
from minigrad.datasets._common import (
    Seed,
    check_count,
    check_nonnegative,
    float_dtype,
    generator,
    shuffled,
)

Labels = npt.NDArray[np.int64]


def moons(
    m: int = 400, *, noise: float = 0.1, seed: Seed = 0, dtype: DTypeLike = np.float64
) -> tuple[Array, Array]:
    """Two interleaving half circles: X (2, m), Y (1, m).

    Class 0: (cos t, sin t); class 1: (1 - cos t, 0.5 - sin t); t in [0, pi];
    plus Gaussian noise of standard deviation ``noise`` on each coordinate.

    >>> X, Y = moons(10)
    >>> X.shape, Y.shape, sorted(set(Y.ravel().tolist()))
    ((2, 10), (1, 10), [0.0, 1.0])
    """
    owner = "moons"
    m = check_count(m, owner, minimum=2)
    noise = check_nonnegative(noise, owner, "noise")
    target = float_dtype(dtype, owner)
    rng = generator(seed, owner)
    n_outer = m - m // 2
    t_outer = np.linspace(0.0, math.pi, n_outer)
    t_inner = np.linspace(0.0, math.pi, m // 2)
    return _two_classes(
        np.stack([np.cos(t_outer), np.sin(t_outer)]),
        np.stack([1.0 - np.cos(t_inner), 0.5 - np.sin(t_inner)]),
        noise, rng, target,
    )


def _two_classes(
    class0: Array, class1: Array, noise: float, rng: np.random.Generator, target: np.dtype[Any]
) -> tuple[Array, Array]:
    """The two classes' points as columns, plus Gaussian noise, labelled 0 and 1, shuffled."""
    X = np.concatenate([class0, class1], axis=1)
    X += noise * rng.standard_normal(X.shape)
    Y = np.concatenate([np.zeros(class0.shape[1]), np.ones(class1.shape[1])]).reshape(1, -1)
    X, Y = shuffled(X, Y, rng)
    return X.astype(target), Y.astype(target)


def circles(
    m: int = 400,
    *,
    noise: float = 0.05,
    factor: float = 0.5,
    seed: Seed = 0,
    dtype: DTypeLike = np.float64,
) -> tuple[Array, Array]:
    """A circle inside a circle: X (2, m), Y (1, m).

    Class 0 on the unit circle, class 1 on the circle of radius ``factor``
    (0 < factor < 1), plus Gaussian noise of standard deviation ``noise``.

    >>> X, Y = circles(8, noise=0.0)
    >>> np.round(np.hypot(X[0], X[1]), 6)[Y[0] == 1].tolist()
    [0.5, 0.5, 0.5, 0.5]
    """
    owner = "circles"
    m = check_count(m, owner, minimum=2)
    noise = check_nonnegative(noise, owner, "noise")
    if not 0.0 < float(factor) < 1.0:
        raise ValueError(f"{owner}: factor must lie strictly between 0 and 1, got {factor!r}")
    target = float_dtype(dtype, owner)
    rng = generator(seed, owner)
    n_outer = m - m // 2
    t_outer = np.linspace(0.0, 2 * math.pi, n_outer, endpoint=False)
    t_inner = np.linspace(0.0, 2 * math.pi, m // 2, endpoint=False)
    return _two_classes(
        np.stack([np.cos(t_outer), np.sin(t_outer)]),
        float(factor) * np.stack([np.cos(t_inner), np.sin(t_inner)]),
        noise, rng, target,
    )


def spirals(
    m: int = 300,
    *,
    classes: int = 3,
    noise: float = 0.2,
    seed: Seed = 0,
    dtype: DTypeLike = np.float64,
) -> tuple[Array, Labels]:
    """``classes`` interleaved spiral arms: X (2, m) and integer labels y (m,).

    For class k, with N = m / classes points, r = linspace(0, 1, N) and
    t = linspace(4 k, 4 (k + 1), N) + noise * randn(N), the points are
    (r sin t, r cos t). No line separates them, so logistic regression
    fails where a small hidden layer succeeds.

    >>> X, y = spirals(30, classes=3)
    >>> X.shape, y.shape, np.bincount(y).tolist()
    ((2, 30), (30,), [10, 10, 10])
    """
    owner = "spirals"
    classes = check_count(classes, owner, "classes", minimum=2)
    m = check_count(m, owner, minimum=classes)
    if m % classes:
        raise ValueError(f"{owner}: m must be a multiple of classes={classes}, got {m}")
    noise = check_nonnegative(noise, owner, "noise")
    target = float_dtype(dtype, owner)
    rng = generator(seed, owner)
    per_class = m // classes
    r = np.tile(np.linspace(0.0, 1.0, per_class), classes)
    t = np.concatenate([np.linspace(4.0 * k, 4.0 * (k + 1), per_class) for k in range(classes)])
    t += noise * rng.standard_normal(m)
    X = np.stack([r * np.sin(t), r * np.cos(t)])
    y = np.repeat(np.arange(classes, dtype=np.int64), per_class)
    X, y = shuffled(X, y, rng)
    return X.astype(target), y


def xor(
    m: int = 400, *, noise: float = 0.0, seed: Seed = 0, dtype: DTypeLike = np.float64
) -> tuple[Array, Array]:
    """The XOR problem: points in the square [-1, 1]^2, X (2, m), Y (1, m).

    Y = 1 where exactly one coordinate is positive (x1 * x2 < 0), else 0.
    ``noise`` adds Gaussian jitter to X after labelling, blurring the axes.

    >>> X, Y = xor(6)
    >>> bool(((X[0] * X[1] < 0) == (Y[0] == 1)).all())
    True
    """
    owner = "xor"
    m = check_count(m, owner)
    noise = check_nonnegative(noise, owner, "noise")
    target = float_dtype(dtype, owner)
    rng = generator(seed, owner)
    X = rng.uniform(-1.0, 1.0, size=(2, m))
    Y = (X[0] * X[1] < 0).astype(np.float64).reshape(1, m)
    if noise:
        X += noise * rng.standard_normal(X.shape)
    return X.astype(target), Y.astype(target)


def curve(
    m: int = 200, *, noise: float = 0.1, seed: Seed = 0, dtype: DTypeLike = np.float64
) -> tuple[Array, Array]:
    """A noisy 1-D curve for regression: X (1, m) sorted in [-3, 3], Y (1, m).

    Y = sin(1.5 X) + 0.25 X + noise * randn. A straight line misses the
    bends; a Dense-Tanh-Dense net with mean squared error follows them.

    >>> X, Y = curve(5, noise=0.0)
    >>> X.round(2).tolist()[0] == sorted(X.round(2).tolist()[0]), Y.shape
    (True, (1, 5))
    """
    owner = "curve"
    m = check_count(m, owner)
    noise = check_nonnegative(noise, owner, "noise")
    target = float_dtype(dtype, owner)
    rng = generator(seed, owner)
    X = np.sort(rng.uniform(-3.0, 3.0, size=m)).reshape(1, m)
    Y = np.sin(1.5 * X) + 0.25 * X + noise * rng.standard_normal((1, m))
    return X.astype(target), Y.astype(target)
