"""Gradient clipping by global norm.

    norm = sqrt(sum over parameters of sum(grad**2))
    if norm > max_norm:  grad <- grad * (max_norm / norm)   for every parameter

Scaling all gradients by one factor keeps the direction of the whole update
and only shortens it (Pascanu et al. 2013).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from minigrad.layer import Parameter


def global_norm(params: Iterable[Parameter]) -> float:
    """sqrt(sum of squared gradient entries over all ``params``); inf or nan if any is.

    Finite gradients give their finite norm (a Python float) even where their
    squares overflow the gradients' dtype (float32 entries of 1e19 or more).

    >>> import numpy as np, minigrad as mg
    >>> p = mg.Parameter("w", np.zeros(2), np.array([3.0, 4.0]))
    >>> global_norm([p])
    5.0
    """
    params = list(params)
    total = 0.0
    for p in params:
        total += float(np.vdot(p.grad, p.grad))
    if math.isfinite(total):
        return math.sqrt(total)
    # NaN or inf in a gradient, or squares that overflow (float32 entries of 1e19 or
    # more): scale by the largest entry first, norm = s * sqrt(sum((g / s)**2))
    largest = max(float(np.max(np.abs(p.grad), initial=0.0)) for p in params)
    if not math.isfinite(largest):
        return largest if math.isnan(largest) else math.inf
    scaled = 0.0
    for p in params:
        g = p.grad.astype(np.float64) / largest
        scaled += float(np.vdot(g, g))
    return largest * math.sqrt(scaled)


def clip_grad_norm(params: Iterable[Parameter], max_norm: float) -> float:
    """Scale the gradients in place so that their global norm is at most ``max_norm``.

    Returns the norm before clipping. Gradients holding NaN or inf are left
    as they are (the norm returned says so), since no factor fixes them.

    >>> import numpy as np, minigrad as mg
    >>> p = mg.Parameter("w", np.zeros(2), np.array([3.0, 4.0]))
    >>> clip_grad_norm([p], 1.0), p.grad
    (5.0, array([0.6, 0.8]))
    """
    if isinstance(max_norm, bool) or not (isinstance(max_norm, int | float) and max_norm > 0):
        raise ValueError(f"clip_grad_norm: max_norm must be a number > 0, got {max_norm!r}")
    params = list(params)
    norm = global_norm(params)
    if math.isfinite(norm) and norm > max_norm:
        scale = float(max_norm) / norm
        for p in params:
            p.grad *= scale  # a scale below the dtype's smallest number still gives 0, not NaN
    return norm
