"""Optimizer: the base class that every update rule extends.

An optimizer is built from ``model.parameters()`` and, after each backward
pass, ``step()`` moves every ``Parameter.value`` in place (``layer.W`` stays
the same array). Buffers such as momentum are allocated once, next to each
parameter, and every update writes into them with ``out=`` and in-place
operators, so a step allocates nothing.

A step is all or nothing. It is first computed into scratch arrays: the
update d of each parameter, and the next value of each buffer. Only when
every d is finite (so is W - d: see ``_rejected``) and every buffer that d
does not already vouch for (Adam's v) is finite, is it committed: W -= d,
and the next buffers swap places with the current ones. Otherwise nothing
changes and ``step()`` raises :class:`minigrad.errors.DivergenceError`. The
scratch arrays of one dtype are views into one flat array, so the check is
one dot product per dtype and step, whatever the number of parameters.

``state_dict()`` returns everything needed to resume bit-identically, under
flat string keys: ``"type"``, ``"lr"``, ``"step"``, the hyperparameters, and
one array per buffer and parameter index (``"m.0"``, ``"v.0"``, ...).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import attrs
import numpy as np
from attrs import define, field

from minigrad._typing import Array
from minigrad.errors import DivergenceError, InputError
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
    implement ``_propose()``: write each parameter's update d into
    ``self._scratch[i]`` and each buffer's next value into
    ``self._next[name][i]``, changing nothing else; ``step()`` checks and
    commits them. Buffers listed in ``CHECKED`` are checked for NaN and inf
    too (those whose non-finite values would not show in d). A subclass
    that implements ``_update()`` instead updates in place, unchecked.
    ``step()`` clips the gradients first when ``max_grad_norm`` is set (see
    :func:`minigrad.optim.clip_grad_norm`).
    """

    BUFFERS: ClassVar[tuple[str, ...]] = ()
    HYPERPARAMETERS: ClassVar[tuple[str, ...]] = ()
    CHECKED: ClassVar[tuple[str, ...]] = ()
    REPLACES: ClassVar[bool] = False
    """True when ``_propose`` writes the new values of the parameters, not updates d."""
    SHOWS_BAD_GRADIENTS: ClassVar[bool] = False
    """True when a NaN or inf in any gradient always makes the proposed update, or a
    ``CHECKED`` buffer, non-finite, so that ``try_step`` refuses the step. It is read
    from the class that defines ``_propose``; :func:`minigrad.fit` then skips its own
    check of the gradients."""

    params: tuple[Parameter, ...]
    lr: float = field(converter=real, validator=positive)
    max_grad_norm: float | None = field(
        default=None, converter=real, validator=_optional_positive
    )
    step_count: int = field(default=0, init=False)
    buffers: dict[str, list[Array]] = field(factory=dict, init=False)
    _scratch: list[Array] = field(factory=list, init=False)
    _scratch_flat: list[Array] = field(factory=list, init=False)
    # (parameter, its scratch view) pairs, made once: the step's loops zip nothing
    _pairs: tuple[tuple[Parameter, Array], ...] = field(factory=tuple, init=False)
    # _pairs with, for a one-element parameter, the index of its element (else None)
    _commits: tuple[tuple[Parameter, Array, tuple[int, ...] | None], ...] = field(
        factory=tuple, init=False)
    _next: dict[str, list[Array]] = field(factory=dict, init=False)
    # the flat arrays behind buffers and _next, by buffer name (swapped with them)
    _flat: dict[str, list[Array]] = field(factory=dict, init=False)
    _next_flat: dict[str, list[Array]] = field(factory=dict, init=False)

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float,
        max_grad_norm: float | None = None,
        **hyperparameters: Any,
    ) -> None:
        checked = _check_params(type(self).__name__, params)
        self.__attrs_init__(checked, lr, max_grad_norm, **hyperparameters)
        self._scratch, self._scratch_flat = flat_views(self.params)
        self._pairs = tuple(zip(self.params, self._scratch, strict=True))
        self._commits = tuple((p, d, (0,) * d.ndim if d.size == 1 else None)
                              for p, d in self._pairs)
        self._allocate(self._active_buffers())

    def _allocate(self, names: Iterable[str]) -> None:
        """Zeroed buffers ``names`` and their next-step twins, each backed by flat arrays."""
        self.buffers, self._next, self._flat, self._next_flat = {}, {}, {}, {}
        for name in names:
            self.buffers[name], self._flat[name] = flat_views(self.params)
            self._next[name], self._next_flat[name] = flat_views(self.params)

    def step(self) -> None:
        """Apply one update to every parameter, in place, from its current ``grad``.

        Raises DivergenceError, and changes nothing (weights, buffers, step
        count), when the update or a buffer would hold NaN or inf (NumPy may
        warn of the overflow first; inside ``fit`` it does not).
        """
        if (bad := self._try_step(None)) is not None:
            raise DivergenceError(
                f"{type(self).__name__}.step: the update of parameter "
                f"{self.params.index(bad)} ({bad!r}) holds NaN or inf, or would overflow it "
                f"(lr={self.lr:g}); nothing was changed: the weights and the optimizer's state "
                "are as before this step. Try a lower learning rate, or max_grad_norm"
            )

    def try_step(self) -> Parameter | None:
        """``step()``, but return the first parameter whose update is not finite instead of
        raising (nothing is changed then); None when the step was applied."""
        return self._try_step(None)

    def _try_step(self, on_miss: Callable[[], object] | None) -> Parameter | None:
        """``try_step``; ``on_miss`` is called, before anything is committed, when the fast
        check misses (a NaN or inf, or squares that overflow). An exception it raises
        refuses the step, as a bad update does."""
        if self.max_grad_norm is not None:
            clip_grad_norm(self.params, self.max_grad_norm)
        # a plain counter: skip the attrs on-setattr hooks meant for the hyperparameters;
        # counted before _propose (Adam's t), taken back if the step is refused or raises
        object.__setattr__(self, "step_count", self.step_count + 1)
        if type(self)._propose is Optimizer._propose:  # an old-style subclass: in place
            self._update()
            return None
        try:
            self._propose()
            bad = None
            if not self._finite():
                bad = self._rejected()
                if on_miss is not None:
                    on_miss()
        except BaseException:  # a warning turned error, Ctrl-C: nothing was committed
            object.__setattr__(self, "step_count", self.step_count - 1)
            raise
        if bad is not None:
            object.__setattr__(self, "step_count", self.step_count - 1)
            return bad
        self._commit()
        return None

    def _finite(self) -> bool:
        """The fast check: one dot per dtype (see ``_rejected``), the entries only on a miss."""
        for flat in self._scratch_flat:
            if not math.isfinite(flat.dot(flat)) or flat.dtype.itemsize <= 2:
                return False
        for name in self.CHECKED:
            for flat in self._next_flat.get(name, ()):
                if not math.isfinite(flat.dot(flat)):
                    return False
        return True

    def _commit(self) -> None:
        if self.REPLACES:
            for p, new in self._pairs:
                np.copyto(p.value, new)
        else:
            for p, d, at in self._commits:
                if at is None:
                    p.value -= d
                else:  # one element (a 1-output layer's b): numpy 2 takes 0.8 us for an
                    p.value[at] -= d[at]  # in-place ufunc on it, 0.2 us for its scalar
        for name in self._next:  # the next buffers become the current ones
            self.buffers[name], self._next[name] = self._next[name], self.buffers[name]
            self._flat[name], self._next_flat[name] = self._next_flat[name], self._flat[name]

    def shows_bad_gradients(self) -> bool:
        """Whether ``try_step`` refuses every step whose gradients hold NaN or inf
        (``SHOWS_BAD_GRADIENTS`` of the class that wrote this ``_propose``)."""
        owner = next(c for c in type(self).__mro__ if "_propose" in vars(c))
        return owner is not Optimizer and bool(vars(owner).get("SHOWS_BAD_GRADIENTS", False))

    def _propose(self) -> None:
        """Write the updates into ``_scratch`` and the next buffers into ``_next``."""
        raise NotImplementedError(f"{type(self).__name__} must implement _propose()")

    def _update(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _propose()")

    def _rejected(self) -> Parameter | None:
        """The first parameter whose proposed step is not finite, or None.

        When the sum of squares of all the updates of one dtype is finite,
        every update is finite and below sqrt(max) (1.8e19 in float32), and
        then W - d cannot overflow either, since a float near the largest
        number has a spacing far above sqrt(max). Only when the sum is not
        finite (or for float16, where that spacing is small) are the entries
        looked at, which tells a bad entry from squares that merely overflowed.
        (Outside fit, NumPy then warns of the overflow in the dot product; an
        update that large, beyond 1.8e19 in float32, is divergence in all but
        name, and the step is applied if every entry is finite.)
        """
        with np.errstate(over="ignore", invalid="ignore"):  # the rare path: no warnings
            return self._first_bad()

    def _first_bad(self) -> Parameter | None:
        checks = [(flat, self._scratch) for flat in self._scratch_flat]
        checks += [(flat, self._next[name]) for name in self.CHECKED if name in self._next
                   for flat in self._next_flat[name]]
        for flat, views in checks:
            if flat.dtype.itemsize > 2 and math.isfinite(flat.dot(flat)):
                continue
            for p, view in zip(self.params, views, strict=True):
                if view.dtype != flat.dtype:
                    continue
                if not np.isfinite(view).all():
                    return p
                if views is self._scratch and not self.REPLACES and not np.isfinite(
                    p.value - view
                ).all():
                    return p
        return None

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
        self._allocate(buffers)
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


def flat_views(params: tuple[Parameter, ...]) -> tuple[list[Array], list[Array]]:
    """Zeroed arrays shaped like ``params``, as views into one flat array per dtype.

    Returns (the views, in the order of ``params``; the flat arrays).
    """
    groups: dict[np.dtype[Any], list[int]] = {}
    for i, p in enumerate(params):
        groups.setdefault(p.value.dtype, []).append(i)
    views: list[Array] = [np.empty(0)] * len(params)
    flats: list[Array] = []
    for dtype, indices in groups.items():
        flat = np.zeros(sum(params[i].size for i in indices), dtype)
        flats.append(flat)
        lo = 0
        for i in indices:
            size = params[i].size
            views[i] = flat[lo:lo + size].reshape(params[i].shape)
            lo += size
    return views, flats


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
