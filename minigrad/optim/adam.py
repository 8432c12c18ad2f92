"""Adam and AdamW: momentum plus RMSProp scaling, with bias correction."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np
from attrs import define, field
from typing_extensions import override

from minigrad.layer import Parameter
from minigrad.optim.optimizer import Optimizer, non_negative, positive, real


def _betas(instance: Any, attribute: Any, value: Any) -> None:
    if not (isinstance(value, tuple) and len(value) == 2) or not all(
        isinstance(b, float) and 0 <= b < 1 for b in value
    ):
        raise ValueError(
            f"{type(instance).__name__}: betas must be two numbers in [0, 1), got {value!r}"
        )


def _to_betas(value: Any) -> Any:
    if isinstance(value, list | tuple | np.ndarray) and len(value) == 2:
        return tuple(real(b) for b in value)
    return value


@define(eq=False, repr=False, init=False)
class Adam(Optimizer):
    """Adam (Kingma and Ba 2015).

        g     = dW + weight_decay * W                 (L2, added to the gradient)
        m     = beta1 * m + (1 - beta1) * g           (m, v start at 0; t counts steps from 1)
        v     = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t),   v_hat = v / (1 - beta2**t)
        W     = W - lr * m_hat / (sqrt(v_hat) + eps)

    Args:
        params: ``model.parameters()``.
        lr: the learning rate (default 0.001).
        betas: (beta1, beta2), the decays of m and v (default (0.9, 0.999)).
        eps: keeps the division finite (default 1e-8).
        weight_decay: L2 coefficient added to the gradient (see :class:`AdamW`
            for the decoupled form).
        max_grad_norm: clip the gradients to this global norm before each step.

    >>> import minigrad as mg
    >>> layer = mg.Dense(1, 1, rng=0)
    >>> opt = mg.optim.Adam(layer.parameters(), lr=0.1)
    >>> layer.W[...] = 1.0; layer.dW[...] = 3.0   # first step: m_hat = g, v_hat = g**2
    >>> opt.step(); round(float(layer.W[0, 0]), 6)
    0.9
    """

    BUFFERS: ClassVar[tuple[str, ...]] = ("m", "v")
    CHECKED: ClassVar[tuple[str, ...]] = ("v",)
    HYPERPARAMETERS: ClassVar[tuple[str, ...]] = ("beta1", "beta2", "eps", "weight_decay")
    SHOWS_BAD_GRADIENTS: ClassVar[bool] = True  # g reaches m and v (checked) at every step

    betas: tuple[float, float] = field(default=(0.9, 0.999), converter=_to_betas,
                                       validator=_betas)
    eps: float = field(default=1e-8, converter=real, validator=positive)
    weight_decay: float = field(default=0.0, converter=real, validator=non_negative)

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        *,
        max_grad_norm: float | None = None,
    ) -> None:
        super().__init__(
            params, lr, max_grad_norm, betas=betas, eps=eps, weight_decay=weight_decay
        )

    # beta1 and beta2 are separate scalars in state_dict (plain floats, no tuples).
    @property
    def beta1(self) -> float:
        return self.betas[0]

    @beta1.setter
    def beta1(self, value: float) -> None:
        self.betas = (value, self.betas[1])

    @property
    def beta2(self) -> float:
        return self.betas[1]

    @beta2.setter
    def beta2(self, value: float) -> None:
        self.betas = (self.betas[0], value)

    @override
    def _validate(self, values: dict[str, Any]) -> None:
        betas = (values.pop("beta1"), values.pop("beta2"))
        super()._validate(dict(values, betas=betas))
        values["betas"] = _to_betas(betas)

    @override
    def _propose(self) -> None:
        self._adam(self.weight_decay)

    def _adam(self, l2: float) -> None:
        """The update d into _scratch, and the next m and v (v checked: an overflowing
        g**2 makes v inf but d only 0)."""
        beta1, beta2 = self.betas
        t = self.step_count
        # The paper's equivalent form with the bias corrections folded into two
        # scalars: W -= lr_t * m / (sqrt(v) + eps_t), one array operation fewer.
        root_bias2 = math.sqrt(1.0 - beta2**t)
        lr_t = self.lr * root_bias2 / (1.0 - beta1**t)
        eps_t = self.eps * root_bias2
        one_minus_b1, one_minus_b2 = 1.0 - beta1, 1.0 - beta2
        buffers = zip(self.params, self._scratch, self.buffers["m"], self.buffers["v"],
                      self._next["m"], self._next["v"], strict=True)
        for p, d, m, v, m_next, v_next in buffers:
            g = p.grad
            if l2:
                g = g + l2 * p.value
            np.multiply(m, beta1, out=m_next)
            np.multiply(g, one_minus_b1, out=d)
            m_next += d
            np.multiply(v, beta2, out=v_next)
            np.square(g, out=d)
            d *= one_minus_b2
            v_next += d
            np.sqrt(v_next, out=d)
            d += eps_t
            np.divide(m_next, d, out=d)
            d *= lr_t


@define(eq=False, repr=False, init=False)
class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter 2019).

        W = W - lr * weight_decay * W          (shrink first, outside the moments)
        then the Adam step on g = dW           (no L2 term in m and v)

    Unlike L2 in :class:`Adam`, the decay is not rescaled by sqrt(v_hat), so
    every weight shrinks by the same fraction lr * weight_decay per step.
    The default weight_decay is 0.01.

    >>> import minigrad as mg
    >>> layer = mg.Dense(1, 1, rng=0)
    >>> opt = mg.optim.AdamW(layer.parameters(), lr=0.1, weight_decay=0.5)
    >>> layer.W[...] = 1.0; layer.dW[...] = 3.0   # 1 - 0.1*0.5*1 = 0.95, then - 0.1
    >>> opt.step(); round(float(layer.W[0, 0]), 6)
    0.85
    """

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
        *,
        max_grad_norm: float | None = None,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, max_grad_norm=max_grad_norm)

    REPLACES: ClassVar[bool] = True
    SHOWS_BAD_GRADIENTS: ClassVar[bool] = True  # its _propose runs Adam's, then shrinks

    @override
    def _propose(self) -> None:
        self._adam(0.0)
        shrink = 1.0 - self.lr * self.weight_decay
        with np.errstate(over="ignore", invalid="ignore"):  # refused by the check
            for p, d in zip(self.params, self._scratch, strict=True):
                np.subtract(p.value * shrink if shrink != 1.0 else p.value, d, out=d)

