"""Weight initializers for Dense: each returns W of shape (n_out, n_in) in float64.

* ``"he"``:     W ~ N(0, 2 / n_in)             (ReLU family; He et al. 2015)
* ``"xavier"``: W ~ N(0, 2 / (n_in + n_out))   (tanh, sigmoid; Glorot and Bengio 2010)
* ``"normal"``: W ~ 0.01 * N(0, 1)             (the notes' small random start)

Biases always start at zero.

Layers allocate their arrays through :func:`initialised` (or its shorthands
:func:`initial_weights` and :func:`filled`).
While :func:`deferred` is active (in the current thread or task only: it is a
``contextvars`` switch), both hand back *uninitialised* arrays instead: the
model loader builds a model this way and then reads every array from the file
straight into place, so no weight is drawn or filled only to be overwritten,
and untouched memory costs nothing. The switch also charges every array
against a byte budget and refuses, before allocating, an array that would
exceed it (a file cannot make the loader allocate more than it holds).
"""

from __future__ import annotations

import contextvars
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from minigrad._typing import Array, DTypeLike
from minigrad.errors import ModelFileError

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


class _Budget:
    """Bytes that deferred allocations may still take: what the file holds, plus some slack.

    The slack (``DEFERRED_SLACK`` bytes of untouched memory) lets a model that
    is a little off still be built, so that the loader can say exactly which
    array is missing or has the wrong shape or dtype.
    """

    def __init__(self, declared: int) -> None:
        self.declared = declared
        self.used = 0

    def charge(self, shape: tuple[int, ...], dtype: np.dtype[Any], owner: str) -> None:
        nbytes = math.prod(shape) * dtype.itemsize
        if self.used + nbytes > self.declared + DEFERRED_SLACK:
            raise ModelFileError(
                f"{owner} needs an array of shape {shape} ({dtype}, {nbytes:,} bytes): the "
                f"layers would need more than the {self.declared:,} bytes that the file's "
                "arrays hold in all"
            )
        self.used += nbytes


DEFERRED_SLACK = 64 << 20
_DEFERRED: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "minigrad_deferred_init", default=None
)


@contextmanager
def deferred(declared: int) -> Iterator[None]:
    """Layers built inside get uninitialised arrays, about ``declared`` bytes at most in all."""
    token = _DEFERRED.set(_Budget(declared))
    try:
        yield
    finally:
        _DEFERRED.reset(token)


def initialised(
    shape: tuple[int, ...], dtype: DTypeLike, owner: str, make: Callable[[], Array]
) -> Array:
    """``make()`` as ``dtype`` (it must give ``shape``), or an uninitialised array while deferred.

    The one hook a layer needs so that loading neither draws nor fills its
    arrays: ``Conv2D`` would allocate ``W`` as
    ``initialised((c_out, c_in, kh, kw), dtype, repr(self), lambda: he_draw(...))``.
    """
    dt: np.dtype[Any] = np.dtype(dtype)
    budget = _DEFERRED.get()
    if budget is None:
        out = make().astype(dt, copy=False)
        if out.shape != shape:  # pragma: no cover - a layer's own bug
            raise ValueError(f"{owner}: made an array of shape {out.shape}, not {shape}")
        return out
    budget.charge(shape, dt, owner)
    return np.empty(shape, dtype=dt)


def filled(shape: tuple[int, ...], value: float, dtype: DTypeLike, owner: str) -> Array:
    """``np.full(shape, value, dtype)``, or an uninitialised array while :func:`deferred`."""
    return initialised(shape, dtype, owner, lambda: np.full(shape, value, dtype=dtype))


def initial_weights(
    init: str, n_in: int, n_out: int, dtype: DTypeLike, rng: np.random.Generator, owner: str
) -> Array:
    """W (n_out, n_in) from ``INITIALIZERS[init]`` in ``dtype`` (while deferred: uninitialised)."""
    return initialised((n_out, n_in), dtype, owner, lambda: INITIALIZERS[init](n_in, n_out, rng))
