"""Shared helpers for the core tests: seeded data and the table of built-in layers.

Adding a built-in activation to minigrad means adding one line to ``ACTIVATIONS``:
the gradient check, the stability tests and the dtype tests all read it (and
``test_the_table_covers_every_builtin`` fails until the line is there).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

import minigrad as mg

ActivationFactory = Callable[[], mg.Activation]
LayerFactory = Callable[[int], mg.Layer]

ACTIVATIONS: dict[str, ActivationFactory] = {
    "Identity": mg.Identity,
    "Sigmoid": mg.Sigmoid,
    "Tanh": mg.Tanh,
    "ReLU": mg.ReLU,
    "LeakyReLU": mg.LeakyReLU,
    "LeakyReLU(0.2)": lambda: mg.LeakyReLU(0.2),
    "ELU": mg.ELU,
    "ELU(0.5)": lambda: mg.ELU(alpha=0.5),
    "SELU": mg.SELU,
    "GELU": mg.GELU,
    "GELU(tanh)": lambda: mg.GELU(approximate="tanh"),
    "SiLU": mg.SiLU,
    "Softplus": mg.Softplus,
    "Softsign": mg.Softsign,
    "HardTanh": mg.HardTanh,
    "HardTanh(-2, 0.5)": lambda: mg.HardTanh(-2.0, 0.5),
    "Softmax": mg.Softmax,
}
"""Every built-in activation, with the parameters people set. One line per case."""


def _ignore_n_in(make: ActivationFactory) -> LayerFactory:
    return lambda n_in: make()


LAYERS: dict[str, LayerFactory] = {
    **{name: _ignore_n_in(make) for name, make in ACTIVATIONS.items()},
    "Dense(he)": lambda n_in: mg.Dense(n_in, 3, init="he", rng=1),
    "Dense(xavier)": lambda n_in: mg.Dense(n_in, 3, init="xavier", rng=2),
    "Dense(normal)": lambda n_in: mg.Dense(n_in, 3, init="normal", rng=3),
}
"""Every built-in layer, built for ``n_in`` input rows."""


def normal(seed: int, shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
    """Seeded standard-normal float64 data."""
    return np.random.default_rng(seed).normal(size=shape) * scale


def away_from_kinks(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """Seeded float64 data at least 0.1 from every multiple of 0.5 and within |x| < 3.

    The built-in kinks (ReLU family and ELU at 0, HardTanh at +-1, -2 and 0.5)
    all sit on multiples of 0.5, so gradients there are smooth for any finite
    difference step below 0.05.
    """
    rng = np.random.default_rng(seed)
    magnitude = 0.5 * rng.integers(0, 6, size=shape) + rng.uniform(0.1, 0.4, size=shape)
    sign = rng.choice([-1.0, 1.0], size=shape)
    out: np.ndarray = sign * magnitude
    return out
