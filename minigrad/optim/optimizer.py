"""Optimizer: the base class that every update rule extends.

An optimizer is built from ``model.parameters()`` and, after each backward
pass, ``step()`` moves every ``Parameter.value`` in place (``layer.W`` stays
the same array). Buffers such as momentum are allocated once, next to each
parameter, and every update writes into them with ``out=`` and in-place
operators, so a step allocates nothing.

``state_dict()`` returns everything needed to resume bit-identically, under
flat string keys: ``"type"``, ``"lr"``, ``"step"``, the hyperparameters, and
one array per buffer and parameter index (``"m.0"``, ``"v.0"``, ...).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, ClassVar

import attrs
import numpy as np
from attrs import define, field

from minigrad._typing import Array
from minigrad.errors import InputError
from minigrad.layer import Layer, Parameter
from minigrad.optim.clip import clip_grad_norm


def real(value: Any) -> Any:
    """attrs converter: numbers (numpy scalars included) become Python floats.

    Python floats keep float32 arrays float32 (NEP 50); anything else is left
    for the validator to refuse with a clear message.
    """
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    ):
        return float(value)
    return value


def positive(instance: Any, attribute: Any, value: Any) -> None:
    """attrs validator: a finite number > 0, named after the optimizer."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
        math.isfinite(value) and value > 0
    ):
        raise ValueError(
            f"{type(instance).__name__}: {attribute.name} must be a finite number > 0, "
            f"got {value!r}"
        )


def non_negative(instance: Any, attribute: Any, value: Any) -> None:
    """attrs validator: a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
        math.isfinite(value) and value >= 0
    ):
        raise ValueError(
            f"{type(instance).__name__}: {attribute.name} must be a finite number >= 0, "
            f"got {value!r}"
        )


def unit_interval(instance: Any, attribute: Any, value: Any) -> None:
    """attrs validator: a number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise ValueError(
            f"{type(instance).__name__}: {attribute.name} must lie in [0, 1), got {value!r}"
        )


def _optional_positive(instance: Any, attribute: Any, value: Any) -> None:
    if value is not None:
        positive(instance, attribute, value)


@define(eq=False, repr=False, init=False)
class Optimizer:
    """Base class: holds the parameters, the learning rate and per-parameter buffers.

    Subclasses list their buffer names in ``BUFFERS`` and their
    hyperparameters in ``HYPERPARAMETERS`` (both go into ``state_dict``), and
    implement ``_update()``. ``step()`` clips the gradients first when
    ``max_grad_norm`` is set (see :func:`minigrad.optim.clip_grad_norm`).
    """

    BUFFERS: ClassVar[tuple[str, ...]] = ()
    HYPERPARAMETERS: ClassVar[tuple[str, ...]] = ()

    params: tuple[Parameter, ...]
    lr: float = field(converter=real, validator=positive)
    max_grad_norm: float | None = field(
        default=None, converter=real, validator=_optional_positive
    )
    step_count: int = field(default=0, init=False)
    buffers: dict[str, list[Array]] = field(factory=dict, init=False)
    _scratch: list[Array] = field(factory=list, init=False)

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float,
        max_grad_norm: float | None = None,
        **hyperparameters: Any,
    ) -> None:
        checked = _check_params(type(self).__name__, params)
        self.__attrs_init__(checked, lr, max_grad_norm, **hyperparameters)
        self._scratch = [np.empty_like(p.value) for p in self.params]
        self.buffers = {
            name: [np.zeros_like(p.value) for p in self.params] for name in self._active_buffers()
        }

    def step(self) -> None:
        """Apply one update to every parameter, in place, from its current ``grad``."""
        if self.max_grad_norm is not None:
            clip_grad_norm(self.params, self.max_grad_norm)
        # a plain counter: skip the attrs on-setattr hooks meant for the hyperparameters
        object.__setattr__(self, "step_count", self.step_count + 1)
        self._update()

    def _update(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _update()")

    def _active_buffers(self) -> tuple[str, ...]:
        """The buffers this configuration uses (SGD without momentum needs none)."""
        return self.BUFFERS

    # -- state ------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: plain scalars and copies of the buffers.

        >>> import minigrad as mg
        >>> opt = mg.optim.SGD(mg.Dense(2, 1, rng=0).parameters(), lr=0.1, momentum=0.9)
        >>> sorted(opt.state_dict())
        ['lr', 'momentum', 'nesterov', 'step', 'type', 'velocity.0', 'velocity.1', 'weight_decay']
        """
        state: dict[str, Any] = {"type": type(self).__name__, "lr": float(self.lr),
                                 "step": int(self.step_count)}
        for name in self.HYPERPARAMETERS:
            state[name] = _plain(getattr(self, name))
        if self.max_grad_norm is not None:  # absent means no clipping
            state["max_grad_norm"] = float(self.max_grad_norm)
        for name, arrays in self.buffers.items():
            for i, array in enumerate(arrays):
                state[f"{name}.{i}"] = array.copy()
        return state

    def load_state_dict(self, state: dict[str, Any], /) -> None:
        """Restore a ``state_dict()``; everything is checked before anything changes.

        Raises ``InputError`` (a ValueError) naming the missing, unexpected or
        mis-shaped entry. Buffers are copied into the existing arrays.
        """
        me = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state, dict):
            raise InputError(f"{me}: expected a dict, got {type(state).__name__}")
        kind = _scalar(state.get("type"))
        if kind != type(self).__name__:
            raise InputError(f"{me}: the state is for {kind!r}, not {type(self).__name__!r}")
        buffers = {name: len(self.params) for name in self._active_buffers_for(state)}
        expected = {"type", "lr", "step", *self.HYPERPARAMETERS}
        expected |= {f"{name}.{i}" for name, n in buffers.items() for i in range(n)}
        missing = sorted(expected - set(state))
        extra = sorted(set(state) - expected - {"max_grad_norm"})
        if missing or extra:
            parts = [f"missing keys {missing}"] if missing else []
            parts += [f"unexpected keys {extra}"] if extra else []
            raise InputError(f"{me}: {' and '.join(parts)} (for {len(self.params)} parameters)")
        arrays: dict[str, Array] = {}
        for name in buffers:
            for i, p in enumerate(self.params):
                key = f"{name}.{i}"
                arr = np.asarray(state[key])
                if arr.dtype.kind not in "fiu" or arr.shape != p.shape:
                    raise InputError(
                        f"{me}: {key} must be a float array of shape {p.shape} like parameter "
                        f"{i} ({p.name}), got {arr.dtype} array of shape {arr.shape}"
                    )
                arrays[key] = arr
        step = _scalar(state["step"])
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise InputError(f"{me}: step must be an int >= 0, got {step!r}")
        hyper = {name: _scalar(state[name]) for name in self.HYPERPARAMETERS}
        trial = dict(hyper, lr=_scalar(state["lr"]),
                     max_grad_norm=_scalar(state.get("max_grad_norm")))
        self._validate(trial)
        for name, value in trial.items():
            setattr(self, name, value)
        self.step_count = step
        self.buffers = {
            name: [np.zeros_like(p.value) for p in self.params] for name in buffers
        }
        for name, arrays_of in self.buffers.items():
            for i, buffer in enumerate(arrays_of):
                buffer[...] = arrays[f"{name}.{i}"]

    def _active_buffers_for(self, state: dict[str, Any]) -> tuple[str, ...]:
        """The buffers a state with these hyperparameters carries."""
        return self.BUFFERS

    def _validate(self, values: dict[str, Any]) -> None:
        """Run the attrs validators on candidate values without assigning them."""
        fields = attrs.fields_dict(type(self))
        for name, value in values.items():
            converter = fields[name].converter
            if callable(converter):
                value = converter(value)
                values[name] = value
            validator = fields[name].validator
            if validator is not None:
                try:
                    validator(self, fields[name], value)
                except (TypeError, ValueError) as err:
                    raise InputError(f"{type(self).__name__}.load_state_dict: {err}") from None

    def __repr__(self) -> str:
        hyper = "".join(f", {name}={getattr(self, name)!r}" for name in self.HYPERPARAMETERS)
        clip = f", max_grad_norm={self.max_grad_norm!r}" if self.max_grad_norm else ""
        name, n = type(self).__name__, len(self.params)
        return f"{name}(<{n} parameters>, lr={self.lr!r}{hyper}{clip})"


def _check_params(owner: str, params: Iterable[Parameter]) -> tuple[Parameter, ...]:
    if isinstance(params, Layer):
        raise TypeError(f"{owner}: pass model.parameters(), not the model itself")
    if isinstance(params, Parameter):
        raise TypeError(f"{owner}: expected an iterable of Parameters such as model.parameters()")
    found = tuple(params)
    if not found:
        raise ValueError(f"{owner}: got an empty parameter list; the model has no weights")
    seen: set[int] = set()
    for i, p in enumerate(found):
        if not isinstance(p, Parameter):
            raise TypeError(
                f"{owner}: parameter {i} is a {type(p).__name__}, not a minigrad Parameter; "
                "pass model.parameters()"
            )
        if id(p) in seen:
            raise ValueError(f"{owner}: parameter {i} ({p!r}) is listed twice")
        seen.add(id(p))
    return found


def _scalar(value: Any) -> Any:
    """A plain Python scalar from a scalar or a 0-d array (as a .npz round trip gives)."""
    if isinstance(value, np.ndarray | np.generic) and np.ndim(value) == 0:
        return value.item()
    return value


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
