"""Learning-rate schedules.

A schedule is any callable ``schedule(t) -> lr`` of the step or epoch
count t = 0, 1, 2, ... (a plain function works too). In a manual loop:

    for epoch in range(epochs):
        opt.lr = schedule(epoch)
        ...

and in :func:`minigrad.fit` through the ``LearningRateScheduler`` callback.
:class:`ReduceLROnPlateau` is different: it watches a monitored value and
cuts ``opt.lr`` itself when progress stalls.
"""

from __future__ import annotations

import math
from typing import Any, Literal, Protocol

from attrs import define, field, frozen

from minigrad.errors import InputError
from minigrad.optim.optimizer import Optimizer, non_negative, positive, real, unit_interval


class Schedule(Protocol):
    """What ``LearningRateScheduler`` accepts: the learning rate at step or epoch t."""

    def __call__(self, t: int, /) -> float: ...


def _count(instance: Any, attribute: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(
            f"{type(instance).__name__}: {attribute.name} must be an int >= 0, got {value!r}"
        )


def _positive_count(instance: Any, attribute: Any, value: Any) -> None:
    _count(instance, attribute, value)
    if value == 0:
        raise ValueError(f"{type(instance).__name__}: {attribute.name} must be >= 1, got 0")


def _step_index(owner: object, t: int) -> int:
    if isinstance(t, bool) or not isinstance(t, int) or t < 0:
        raise ValueError(f"{owner!r}: t must be an int >= 0 (the step or epoch), got {t!r}")
    return t


@frozen
class StepDecay:
    """Multiply the rate by ``gamma`` every ``step_size`` steps.

        lr(t) = initial_lr * gamma ** floor(t / step_size)

    >>> StepDecay(0.1, step_size=2, gamma=0.5)(5)
    0.025
    """

    initial_lr: float = field(converter=real, validator=positive)
    step_size: int = field(validator=_positive_count)
    gamma: float = field(default=0.1, converter=real, validator=positive)

    def __call__(self, t: int, /) -> float:
        return self.initial_lr * self.gamma ** (_step_index(self, t) // self.step_size)


@frozen
class ExponentialDecay:
    """Multiply the rate by ``gamma`` every step.

        lr(t) = initial_lr * gamma ** t

    >>> round(ExponentialDecay(0.1, gamma=0.9)(2), 10)
    0.081
    """

    initial_lr: float = field(converter=real, validator=positive)
    gamma: float = field(converter=real, validator=positive)

    def __call__(self, t: int, /) -> float:
        return self.initial_lr * self.gamma ** _step_index(self, t)


def _warmup_fits(instance: CosineDecay, attribute: Any, value: int) -> None:
    _count(instance, attribute, value)
    if value >= instance.total_steps:
        raise ValueError(
            f"CosineDecay: warmup_steps ({value}) must be less than total_steps "
            f"({instance.total_steps})"
        )


@frozen
class CosineDecay:
    """Linear warm-up, then half a cosine from ``initial_lr`` down to ``min_lr``.

        t <  w:       lr(t) = initial_lr * (t + 1) / w                  (w = warmup_steps)
        w <= t < T:   p = (t - w) / (T - w)                             (T = total_steps)
                      lr(t) = min_lr + (initial_lr - min_lr) * (1 + cos(pi * p)) / 2
        t >= T:       lr(t) = min_lr

    The warm-up ends at ``initial_lr`` on its last step, so no step has rate 0
    (Loshchilov and Hutter 2017; Goyal et al. 2017 for the warm-up).

    >>> CosineDecay(1.0, total_steps=4, warmup_steps=2)(0), CosineDecay(1.0, 4, 0)(2)
    (0.5, 0.5)
    """

    initial_lr: float = field(converter=real, validator=positive)
    total_steps: int = field(validator=_positive_count)
    warmup_steps: int = field(default=0, validator=_warmup_fits)
    min_lr: float = field(default=0.0, converter=real, validator=non_negative)

    def __attrs_post_init__(self) -> None:
        if self.min_lr > self.initial_lr:
            raise ValueError(
                f"CosineDecay: min_lr ({self.min_lr}) must not exceed initial_lr "
                f"({self.initial_lr})"
            )

    def __call__(self, t: int, /) -> float:
        t = _step_index(self, t)
        w, total = self.warmup_steps, self.total_steps
        if t < w:
            return self.initial_lr * (t + 1) / w
        if t >= total:
            return self.min_lr
        progress = (t - w) / (total - w)
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.min_lr + (self.initial_lr - self.min_lr) * cosine


def _mode(instance: Any, attribute: Any, value: Any) -> None:
    if value not in ("min", "max"):
        raise ValueError(f"{type(instance).__name__}: mode must be 'min' or 'max', got {value!r}")


@define(eq=False)
class ReduceLROnPlateau:
    """Cut the learning rate by ``factor`` when a monitored value stops improving.

    Call ``step(value)`` once per epoch with the monitored value (say the
    validation loss). A value improves on the best so far when it is lower
    by more than ``min_delta`` (higher, for ``mode="max"``). After
    ``patience`` epochs in a row without improvement:

        opt.lr = max(opt.lr * factor, min_lr)

    then ``cooldown`` epochs pass before counting starts again. ``factor`` lies in (0, 1).

    >>> import minigrad as mg
    >>> opt = mg.optim.SGD(mg.Dense(1, 1, rng=0).parameters(), lr=1.0)
    >>> plateau = ReduceLROnPlateau(opt, factor=0.5, patience=1)
    >>> [plateau.step(v) for v in (3.0, 2.0, 2.0, 2.0)]
    [1.0, 1.0, 0.5, 0.25]
    """

    optimizer: Optimizer
    factor: float = field(default=0.1, converter=real, validator=unit_interval)
    patience: int = field(default=10, validator=_count)
    min_delta: float = field(default=1e-4, converter=real, validator=non_negative)
    mode: Literal["min", "max"] = field(default="min", validator=_mode)
    cooldown: int = field(default=0, validator=_count)
    min_lr: float = field(default=0.0, converter=real, validator=non_negative)
    best: float = field(default=math.inf, init=False)
    bad_epochs: int = field(default=0, init=False)
    cooldown_left: int = field(default=0, init=False)

    def __attrs_post_init__(self) -> None:
        if self.factor == 0:
            raise ValueError("ReduceLROnPlateau: factor must lie in (0, 1), got 0")
        self.best = math.inf if self.mode == "min" else -math.inf

    def improves(self, value: float) -> bool:
        """Whether ``value`` beats the best so far by more than ``min_delta``."""
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def step(self, value: float) -> float:
        """Record this epoch's monitored value; returns the (possibly reduced) rate."""
        value = float(value)
        if not math.isfinite(value):
            raise InputError(f"ReduceLROnPlateau: the monitored value is {value}")
        cooling = self.cooldown_left > 0
        if cooling:
            self.cooldown_left -= 1
            self.bad_epochs = 0
        if self.improves(value):
            self.best, self.bad_epochs = value, 0
        elif not cooling:
            self.bad_epochs += 1
            if self.bad_epochs >= self.patience:
                new_lr = max(self.optimizer.lr * self.factor, self.min_lr)
                if new_lr > 0:
                    self.optimizer.lr = new_lr
                self.bad_epochs, self.cooldown_left = 0, self.cooldown
        return self.optimizer.lr

    def state_dict(self) -> dict[str, Any]:
        """The counters, as plain scalars (the optimizer saves its own lr)."""
        return {"best": self.best, "bad_epochs": self.bad_epochs,
                "cooldown_left": self.cooldown_left}

    def load_state_dict(self, state: dict[str, Any], /) -> None:
        """Restore ``state_dict()``; raises InputError naming a missing or bad key."""
        expected = {"best", "bad_epochs", "cooldown_left"}
        if not isinstance(state, dict) or set(state) != expected:
            raise InputError(
                f"ReduceLROnPlateau.load_state_dict: expected keys {sorted(expected)}, got "
                f"{sorted(state) if isinstance(state, dict) else type(state).__name__}"
            )
        counts = {k: state[k] for k in ("bad_epochs", "cooldown_left")}
        for key, count in counts.items():
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise InputError(f"ReduceLROnPlateau.load_state_dict: {key} must be an int >= 0")
        self.best = float(state["best"])
        self.bad_epochs, self.cooldown_left = counts["bad_epochs"], counts["cooldown_left"]
