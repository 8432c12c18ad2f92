"""Flatten: images (c, h, w, m) to columns (c*h*w, m), so that a Dense can follow."""

from __future__ import annotations

import math

import numpy as np
from attrs import define, field
from typing_extensions import override

from minigrad._checks import as_float_batch
from minigrad._typing import Array
from minigrad.equations import Grad, Tape, Term, Var, generic_lines
from minigrad.errors import ShapeError
from minigrad.layer import Layer, Shape


@define(eq=False, repr=False)
class Flatten(Layer):
    """Each example's array read in C order as one column; backward restores the shape.

    Forward:  A[(ch*h + i)*w + j, :] = A_prev[ch, i, j, :]   (A = A_prev.reshape(c*h*w, m))
    Backward: dA_prev = dA.reshape(c, h, w, m)

    Examples stay on the last axis, so no transpose is needed either way (a
    reshape of a contiguous batch is free). Any batch of 2 or more axes works.

    >>> import numpy as np, minigrad as mg
    >>> mg.Flatten().forward(np.zeros((16, 5, 5, 64))).shape
    (400, 64)
    """

    in_shape: tuple[int, ...] | None = field(default=None, init=False, repr=False)

    @override
    def output_shape(self, shape: Shape | None) -> Shape | None:
        return None if shape is None else (math.prod(shape),)

    @override
    def forward(self, A_prev: Array) -> Array:
        A = self.infer(A_prev)
        _set(self, "in_shape", np.shape(A_prev))
        return A

    @override
    def infer(self, A_prev: Array) -> Array:
        if A_prev.__class__ is not np.ndarray or A_prev.ndim < 2 or A_prev.dtype.kind != "f":
            A_prev = as_float_batch(self, A_prev, None, "A_prev")
        if not A_prev.shape[-1]:
            as_float_batch(self, A_prev, None, "A_prev")  # raises: an empty batch
        return A_prev.reshape(-1, A_prev.shape[-1])

    @override
    def explain_lines(self, tape: Tape) -> None:
        if type(self).forward is not Flatten.forward:
            generic_lines(self, tape)
            return
        prev = tape.current
        shape = self.output_shape(prev.shape)
        out = tape.fresh(f"{prev.name}_flat")
        tape.forward_line(out, f"{prev.name}.reshape(-1, m)", tape.named_shape(out, shape),
                          "each example's pixels as one column, C order")
        dims = ", ".join(str(n) for n in prev.shape) if prev.shape is not None else "c, h, w"

        def backward(grad: Grad) -> Term:
            return Term(f"{grad.name}.reshape({dims}, m)")

        tape.advance(self, Var(out, shape), backward)

    @override
    def backward(self, dA: Array) -> Array:
        if self.in_shape is None:
            return self._cached(None)  # raises: backward before forward
        m = self.in_shape[-1]
        expected = (math.prod(self.in_shape[:-1]), m)
        if dA.__class__ is not np.ndarray or dA.shape != expected:
            raise ShapeError(f"{self!r}: expected dA of shape {expected} like A, "
                             f"got {getattr(dA, 'shape', type(dA).__name__)}")
        return dA.reshape(self.in_shape)


# Caches are plain slots: skip attrs' on-setattr validators on every forward.
_set = object.__setattr__
