"""Stochastic gradient descent, with optional momentum, Nesterov momentum and L2 weight decay."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np
from attrs import define, field
from typing_extensions import override

from minigrad._typing import Array
from minigrad.errors import InputError
from minigrad.layer import Parameter
from minigrad.optim.optimizer import Optimizer, non_negative, real, unit_interval
from minigrad.optim.optimizer import _scalar as scalar


def _nesterov_needs_momentum(instance: SGD, attribute: Any, value: Any) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"SGD: nesterov must be True or False, got {value!r}")
    if value and instance.momentum == 0:
        raise ValueError("SGD: nesterov=True needs momentum > 0")


@define(eq=False, repr=False, init=False)
class SGD(Optimizer):
    """Gradient descent, the notes' update rule, plus momentum and weight decay.

        g = dW + weight_decay * W          (L2 regularization, added to the gradient)
        v = momentum * v + g               (when momentum > 0; v starts at 0)
        d = g + momentum * v  if nesterov  else  v    (d = g without momentum)
        W = W - lr * d

    With the defaults this is plain W = W - lr * dW, as in the notes.

    Args:
        params: ``model.parameters()``.
        lr: the learning rate (settable: ``opt.lr = 0.01``).
        momentum: the factor mu in [0, 1) of the velocity v.
        nesterov: look ahead along the velocity (needs momentum > 0).
        weight_decay: the L2 coefficient lambda; the cost gains (lambda/2) ||W||**2.
        max_grad_norm: clip the gradients to this global norm before each step.

    >>> import numpy as np, minigrad as mg
    >>> layer = mg.Dense(1, 1, rng=0)
    >>> opt = mg.optim.SGD(layer.parameters(), lr=0.5)
    >>> layer.W[...] = 1.0; layer.dW[...] = 0.2
    >>> opt.step(); layer.W
    array([[0.9]])
    """

    HYPERPARAMETERS: ClassVar[tuple[str, ...]] = ("momentum", "nesterov", "weight_decay")
    SHOWS_BAD_GRADIENTS: ClassVar[bool] = True  # g reaches d through lr > 0: inf stays inf

    momentum: float = field(default=0.0, converter=real, validator=unit_interval)
    nesterov: bool = field(default=False, validator=_nesterov_needs_momentum)
    weight_decay: float = field(default=0.0, converter=real, validator=non_negative)
    # lr as a 0-d array of the parameters' dtype (numpy multiplies by one faster than
    # by a Python float), made again when lr changes
    _lr_array: Array | None = field(default=None, init=False)
    _lr_of_array: float = field(default=math.nan, init=False)

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        *,
        max_grad_norm: float | None = None,
    ) -> None:
        super().__init__(
            params, lr, max_grad_norm,
            momentum=momentum, nesterov=nesterov, weight_decay=weight_decay,
        )

    @override
    def _active_buffers(self) -> tuple[str, ...]:
        return ("velocity",) if self.momentum else ()

    @override
    def _active_buffers_for(self, state: dict[str, Any]) -> tuple[str, ...]:
        return ("velocity",) if scalar(state.get("momentum", 0.0)) else ()

    @override
    def _validate(self, values: dict[str, Any]) -> None:
        # nesterov's validator reads self.momentum; check the pair as loaded instead.
        nesterov = values.pop("nesterov")
        super()._validate(values)
        if not isinstance(nesterov, bool) or (nesterov and values["momentum"] == 0):
            raise InputError(
                f"SGD.load_state_dict: nesterov must be a bool, True only with momentum > 0, "
                f"got nesterov={nesterov!r} with momentum={values['momentum']!r}"
            )
        values["nesterov"] = nesterov

    @override
    def _propose(self) -> None:
        lr, mu, decay = self.lr, self.momentum, self.weight_decay
        if not mu and not decay:  # the hot path: d = lr * dW
            lr_array = self._lr_array
            if lr_array is None or lr != self._lr_of_array:
                with np.errstate(over="ignore"):  # lr=1e39 in float32: d is inf, refused
                    lr_array = np.array(lr, dtype=self._scratch_flat[0].dtype)
                object.__setattr__(self, "_lr_array", lr_array)
                object.__setattr__(self, "_lr_of_array", lr)
            for p, d in self._pairs:
                np.multiply(p.grad, lr_array, d)  # out as an argument: 0.1 us less
            return
        velocities = self.buffers.get("velocity", self._scratch)
        nexts = self._next.get("velocity", self._scratch)
        for p, d, v, v_next in zip(self.params, self._scratch, velocities, nexts, strict=True):
            g = p.grad
            if decay:
                np.multiply(p.value, decay, out=d)
                d += g
                g = d
            if mu:
                np.multiply(v, mu, out=v_next)
                v_next += g  # v = mu v + g
                if self.nesterov:  # d = lr (g + mu v)
                    if g is d:  # d holds g + decay W already
                        d += mu * v_next
                    else:
                        np.multiply(v_next, mu, out=d)
                        d += g
                    d *= lr
                else:
                    np.multiply(v_next, lr, out=d)
            else:
                d *= lr  # g is d here: decay without momentum
