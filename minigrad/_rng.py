"""The library's default random generator, reseeded by :func:`seed`."""

from __future__ import annotations

import numpy as np

_default = np.random.default_rng()


def seed(value: int) -> None:
    """Reseed minigrad's default generator, so that weight initialization is reproducible.

    >>> import minigrad as mg
    >>> mg.seed(0); a = mg.Dense(2, 3).W.copy()
    >>> mg.seed(0); b = mg.Dense(2, 3).W.copy()
    >>> bool((a == b).all())
    True
    """
    global _default
    _default = np.random.default_rng(value)


def default_rng() -> np.random.Generator:
    """The generator layers draw from when no explicit ``rng`` is given."""
    return _default


def resolve_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """An explicit generator, a seed for a fresh one, or the library default."""
    if rng is None:
        return _default
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None, got {rng!r}")
