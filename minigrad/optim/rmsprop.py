"""RMSProp: divide each step by a running root-mean-square of the gradient."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

import numpy as np
from attrs import define, field
from typing_extensions import override

from minigrad.layer import Parameter
from minigrad.optim.optimizer import Optimizer, non_negative, positive, real, unit_interval


@define(eq=False, repr=False, init=False)
class RMSProp(Optimizer):
    """RMSProp (Tieleman and Hinton 2012).

        g = dW + weight_decay * W
        v = rho * v + (1 - rho) * g**2         (v starts at 0)
        W = W - lr * g / (sqrt(v) + eps)

    Args:
        params: ``model.parameters()``.
        lr: the learning rate (default 0.001).
        rho: the decay of the running average of g**2 (default 0.9).
        eps: keeps the division finite where v is 0 (default 1e-8).
        weight_decay: L2 coefficient added to the gradient.
        max_grad_norm: clip the gradients to this global norm before each step.

    >>> import minigrad as mg
    >>> layer = mg.Dense(1, 1, rng=0)
    >>> opt = mg.optim.RMSProp(layer.parameters(), lr=0.1, rho=0.5)
    >>> layer.W[...] = 1.0; layer.dW[...] = 2.0   # v = 0.5 * 4 = 2; step 0.1 * 2 / sqrt(2)
    >>> opt.step(); round(float(layer.W[0, 0]), 6)
    0.858579
    """

    BUFFERS: ClassVar[tuple[str, ...]] = ("v",)
    CHECKED: ClassVar[tuple[str, ...]] = ("v",)
    HYPERPARAMETERS: ClassVar[tuple[str, ...]] = ("rho", "eps", "weight_decay")
    SHOWS_BAD_GRADIENTS: ClassVar[bool] = True  # g**2 reaches v (checked) at every step

    rho: float = field(default=0.9, converter=real, validator=unit_interval)
    eps: float = field(default=1e-8, converter=real, validator=positive)
    weight_decay: float = field(default=0.0, converter=real, validator=non_negative)

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        rho: float = 0.9,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        *,
        max_grad_norm: float | None = None,
    ) -> None:
        super().__init__(
            params, lr, max_grad_norm, rho=rho, eps=eps, weight_decay=weight_decay
        )

    @override
    def _propose(self) -> None:
        lr, rho, eps, decay = self.lr, self.rho, self.eps, self.weight_decay
        one_minus_rho = 1.0 - rho
        steps = zip(self.params, self._scratch, self.buffers["v"], self._next["v"], strict=True)
        for p, d, v, v_next in steps:
            g = p.grad
            if decay:
                g = g + decay * p.value
            np.multiply(v, rho, out=v_next)
            np.square(g, out=d)
            d *= one_minus_rho
            v_next += d
            np.sqrt(v_next, out=d)
            d += eps
            np.divide(g, d, out=d)
            d *= lr
