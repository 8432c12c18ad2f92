"""Dropout: zero a random fraction of activations while training (inverted dropout)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from attrs import define, field
from typing_extensions import override

from minigrad._checks import as_float_batch
from minigrad._rng import resolve_rng
from minigrad._typing import Array
from minigrad.equations import Grad, Tape, Term, Var, generic_lines
from minigrad.errors import ShapeError, StateError
from minigrad.layer import Layer, Shape


def _rate(instance: Dropout, attribute: Any, value: Any) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not (math.isfinite(value) and 0 <= value < 1)
    ):
        raise ValueError(f"Dropout: rate must lie in [0, 1), got {value!r}")


def _as_float(value: Any) -> Any:
    if isinstance(value, int | float | np.floating) and not isinstance(value, bool):
        return float(value)
    return value


@define(eq=False, repr=False, init=False)
class Dropout(Layer):
    """Inverted dropout (Srivastava et al. 2014).

    Training mode, with a fresh mask per forward pass:
        mask = (U >= rate) / (1 - rate),   U ~ uniform[0, 1) of A's shape
        forward:  A_out = A * mask
        backward: dA = dA_out * mask
    Each unit is kept with probability 1 - rate and scaled up by 1 / (1 - rate),
    so E[A_out] = A and eval mode needs no rescaling.

    Eval mode (``model.eval()``, ``predict``): the identity, A_out = A.

    A may have any shape with examples on the last axis: columns (n, m) or
    images (c, h, w, m), where each pixel of each channel is dropped on its own.

    Args:
        rate: the fraction of units dropped, in [0, 1).
        rng: a ``numpy.random.Generator`` or an int seed for the masks; by
            default the generator that :func:`minigrad.seed` reseeds.

    >>> import numpy as np, minigrad as mg
    >>> drop = mg.Dropout(0.5, rng=0)
    >>> A = drop.forward(np.ones((2, 4)))
    >>> sorted(set(A.ravel().tolist()))         # dropped or doubled
    [0.0, 2.0]
    >>> drop.eval().forward(np.ones((1, 2)))
    array([[1., 1.]])
    """

    rate: float = field(converter=_as_float, validator=_rate)
    _rng: np.random.Generator = field(init=False, repr=False)
    mask: Array | None = field(default=None, init=False, repr=False)
    shape: tuple[int, ...] | None = field(default=None, init=False, repr=False)

    def __init__(self, rate: float = 0.5, *, rng: np.random.Generator | int | None = None) -> None:
        self.__attrs_init__(rate)
        self._rng = resolve_rng(rng)

    @override
    def forward(self, A: Array) -> Array:
        if A.__class__ is not np.ndarray or A.ndim < 2 or A.dtype.kind != "f" or not A.shape[-1]:
            A = as_float_batch(self, A, None, "A")
        self.shape = A.shape
        if not self.training or self.rate == 0.0:
            self.mask = None
            return A
        mask = self._rng.random(A.shape, dtype=A.dtype)
        # bool -> float in place: mask becomes 1.0 where kept, 0.0 where dropped
        np.greater_equal(mask, self.rate, out=mask)
        mask *= 1.0 / (1.0 - self.rate)
        self.mask = mask
        return A * mask

    @override
    def backward(self, dA: Array) -> Array:
        if self.shape is None:
            raise StateError(f"{self!r}: backward called before forward; run forward first")
        if dA.__class__ is not np.ndarray or dA.shape != self.shape:
            raise ShapeError(
                f"{self!r}: expected dA of shape {self.shape} like A, "
                f"got {getattr(dA, 'shape', type(dA).__name__)}"
            )
        return dA if self.mask is None else dA * self.mask

    @override
    def output_shape(self, shape: Shape | None) -> Shape | None:
        return shape  # elementwise: columns or images alike

    @override
    def infer(self, A: Array) -> Array:
        """Inference is the identity, as in eval mode; no mask is drawn."""
        if A.__class__ is not np.ndarray or A.ndim < 2 or A.dtype.kind != "f" or not A.shape[-1]:
            A = as_float_batch(self, A, None, "A")
        return A

    @override
    def explain_lines(self, tape: Tape) -> None:
        """As in training: a fresh mask D scales the kept units by 1/(1 - rate)."""
        if type(self).forward is not Dropout.forward:  # a subclass that computes something else
            generic_lines(self, tape)
            return
        if self.rate == 0.0:  # keeps every unit: nothing to write
            return
        prev = tape.current
        D = tape.fresh(f"D{tape.level}")
        out = tape.fresh(f"{prev.name}_drop")
        keep = f"{1 - self.rate:g}"
        tape.forward_line(D, f"(rand{tape.shape(prev.shape)} >= {self.rate:g}) / {keep}",
                          tape.named_shape(D, prev.shape), "new each batch; training only")
        tape.forward_line(out, f"{prev.name} * {D}", tape.named_shape(out, prev.shape),
                          f"in eval mode {out} = {prev.name}")

        def backward(grad: Grad) -> Term:
            return Term(f"{grad.name} * {D}", carry=f"{grad.expr} * {D}" if grad.expr else None)

        tape.advance(self, Var(out, prev.shape), backward)
