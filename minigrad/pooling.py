"""Pooling layers on image batches (c, h, w, m): MaxPool2D, AvgPool2D, GlobalAvgPool2D."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from attrs import define, field
from typing_extensions import override

from minigrad._images import as_image_batch
from minigrad._typing import Array
from minigrad._windows import Pair, check_pair, offsets, output_hw, to_pair
from minigrad.equations import Grad, Tape, Term, Var, function_name, generic_lines
from minigrad.errors import ShapeError
from minigrad.layer import Layer, Shape


def _pair(instance: Any, attribute: Any, value: Any) -> None:
    check_pair(type(instance).__name__, attribute.name, value)


def _pair_or_none(instance: Any, attribute: Any, value: Any) -> None:
    if value is not None:
        check_pair(type(instance).__name__, attribute.name, value)


def _to_pair_or_none(value: Any) -> Any:
    return None if value is None else to_pair(value)


@define(eq=False, repr=False)
class _Pool2D(Layer):
    """What max and average pooling share: the window geometry and the checks."""

    pool_size: tuple[int, int] = field(converter=to_pair, validator=_pair)
    stride: tuple[int, int] | None = field(
        default=None, converter=_to_pair_or_none, validator=_pair_or_none
    )
    in_shape: tuple[int, ...] | None = field(default=None, init=False, repr=False)

    @property
    def step(self) -> Pair:
        """The stride in effect: ``stride``, or ``pool_size`` when None."""
        return self.stride if self.stride is not None else self.pool_size

    @override
    def output_shape(self, shape: Shape | None) -> Shape | None:
        if shape is None:
            return None
        if len(shape) != 3:
            raise ShapeError(f"{self!r}: expects images (channels, height, width) per example, "
                             f"got examples of shape {shape}")
        return (shape[0], *self._out_hw(shape[1], shape[2]))

    def _out_hw(self, h: int, w: int) -> Pair:
        return output_hw(self, (h, w), self.pool_size, self.step, (0, 0, 0, 0))

    def _input(self, A_prev: Any) -> tuple[Array, Pair]:
        if A_prev.__class__ is not np.ndarray or A_prev.ndim != 4 or A_prev.dtype.kind != "f":
            A_prev = as_image_batch(self, A_prev, None, "A_prev")
        if not A_prev.shape[3]:
            as_image_batch(self, A_prev, None, "A_prev")  # raises: an empty batch
        return A_prev, self._out_hw(A_prev.shape[1], A_prev.shape[2])

    def _check_grad(self, dA: Any) -> tuple[int, ...]:
        if self.in_shape is None:
            self._cached(None)  # raises: backward before forward
        c, h, w, m = self.in_shape or ()
        expected = (c, *self._out_hw(h, w), m)
        if dA.__class__ is not np.ndarray or dA.shape != expected:
            raise ShapeError(f"{self!r}: expected dA of shape {expected} like A, "
                             f"got {getattr(dA, 'shape', type(dA).__name__)}")
        return expected

    def _overlapping(self) -> bool:
        return self.step[0] < self.pool_size[0] or self.step[1] < self.pool_size[1]

    def _explain(self, tape: Tape, forward: str, backward: str, note: str) -> None:
        """Lines for a pooling layer: ``A = forward`` and ``dA_prev = backward`` with
        ``{A_prev}``, ``{dA}`` and ``{window}`` filled in."""
        prev = tape.current
        try:
            shape = self.output_shape(prev.shape)
        except ShapeError:
            shape = None
        out = tape.fresh(f"{prev.name}_{function_name(self).removesuffix('2d')}")
        ph, pw = self.pool_size
        window = f"{ph}x{pw}" + (f" stride {self.step}" if self.step != self.pool_size else "")
        tape.forward_line(out, forward.format(A_prev=prev.name, window=window),
                          tape.named_shape(out, shape))

        def back(grad: Grad) -> Term:
            return Term(backward.format(dA=grad.name, A_prev=prev.name, A=out), note=note)

        tape.advance(self, Var(out, shape), back)


@define(eq=False, repr=False)
class MaxPool2D(_Pool2D):
    """Max pooling: each output is the largest entry of its window, per channel.

    Forward:  A[c, i, j, :] = max over (a, b) of A_prev[c, s*i + a, s*j + b, :]
    Backward: the whole dA[c, i, j, :] goes to the entry that was the max;
              the other entries of the window get 0 (they did not affect A).

    Ties: when several entries of a window share the max, the gradient goes
    to the first of them, reading the window row by row (as PyTorch does),
    so the gradient's total is kept and no entry gets a fraction.

    Shapes: A_prev (c, h, w, m), A (c, oh, ow, m) with
    oh = (h - pool_h) / stride + 1 (the stride must tile the image).

    Args:
        pool_size: the window, an int or a pair.
        stride: an int or a pair; by default the pool size (windows side by side).

    >>> import numpy as np, minigrad as mg
    >>> X = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> mg.MaxPool2D(2).forward(X)[0, :, :, 0]
    array([[ 5.,  7.],
           [13., 15.]])
    """

    # the forward cache: the input and the output (the max of each window)
    A_prev: Array | None = field(default=None, init=False, repr=False)
    A: Array | None = field(default=None, init=False, repr=False)

    @override
    def forward(self, A_prev: Array) -> Array:
        A_prev, out_hw = self._input(A_prev)
        A = self._max(A_prev, out_hw)
        _set(self, "A_prev", A_prev)
        _set(self, "A", A)
        _set(self, "in_shape", A_prev.shape)
        return A

    @override
    def infer(self, A_prev: Array) -> Array:
        A_prev, out_hw = self._input(A_prev)
        return self._max(A_prev, out_hw)

    @override
    def explain_lines(self, tape: Tape) -> None:
        if type(self).forward is not MaxPool2D.forward:
            generic_lines(self, tape)
            return
        self._explain(tape, "max of each {window} window of {A_prev}",
                      "{dA} to the max of each window of {A_prev}, 0 elsewhere",
                      "a tie: to the first max, row by row")

    def _max(self, A_prev: Array, out_hw: Pair) -> Array:
        views = [A_prev[:, rows, cols, :]
                 for _, _, rows, cols in offsets(self.pool_size, self.step, out_hw)]
        A = views[0].copy()
        for view in views[1:]:
            np.maximum(A, view, out=A)
        return A

    @override
    def backward(self, dA: Array) -> Array:
        self._check_grad(dA)
        A_prev, A = self._cached(self.A_prev), self._cached(self.A)
        dA_prev = np.zeros(A_prev.shape, dtype=dA.dtype)
        overlapping = self._overlapping()
        claimed: npt.NDArray[np.bool_] | None = None  # windows whose max has had its gradient
        for _, _, rows, cols in offsets(self.pool_size, self.step, A.shape[1:3]):
            hit = A_prev[:, rows, cols, :] == A
            if claimed is None:
                claimed = hit.copy()
            else:  # a tie: only the first max of the window, row by row, gets dA
                np.greater(hit, claimed, out=hit)  # hit and not claimed
                claimed |= hit
            target = dA_prev[:, rows, cols, :]
            if overlapping:
                target += dA * hit
            else:  # each input entry lies in one window: assigning is enough
                np.multiply(dA, hit, out=target)
        return dA_prev


@define(eq=False, repr=False)
class AvgPool2D(_Pool2D):
    """Average pooling: each output is the mean of its window, per channel.

    Forward:  A[c, i, j, :] = (1 / (ph*pw)) sum over (a, b) of A_prev[c, s*i + a, s*j + b, :]
    Backward: each entry of a window gets dA[c, i, j, :] / (ph*pw), summed
              over the windows it lies in.

    Shapes and arguments as for :class:`MaxPool2D`.

    >>> import numpy as np, minigrad as mg
    >>> X = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> mg.AvgPool2D(2).forward(X)[0, :, :, 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    """

    @override
    def forward(self, A_prev: Array) -> Array:
        A = self.infer(A_prev)
        _set(self, "in_shape", np.shape(A_prev))
        return A

    @override
    def infer(self, A_prev: Array) -> Array:
        A_prev, out_hw = self._input(A_prev)
        views = [A_prev[:, rows, cols, :]
                 for _, _, rows, cols in offsets(self.pool_size, self.step, out_hw)]
        A = views[0].copy()
        for view in views[1:]:
            A += view
        A *= A.dtype.type(1.0 / len(views))
        return A

    @override
    def explain_lines(self, tape: Tape) -> None:
        if type(self).forward is not AvgPool2D.forward:
            generic_lines(self, tape)
            return
        ph, pw = self.pool_size
        self._explain(tape, "mean of each {window} window of {A_prev}",
                      f"{{dA}} / {ph * pw} to every entry of its window", "")

    @override
    def backward(self, dA: Array) -> Array:
        out_shape = self._check_grad(dA)
        shape = self.in_shape or ()
        ph, pw = self.pool_size
        share = dA * dA.dtype.type(1.0 / (ph * pw))
        dA_prev = np.zeros(shape, dtype=dA.dtype)
        for _, _, rows, cols in offsets(self.pool_size, self.step, (out_shape[1], out_shape[2])):
            dA_prev[:, rows, cols, :] += share
        return dA_prev


@define(eq=False, repr=False)
class GlobalAvgPool2D(Layer):
    """The mean of each channel over the whole image, giving columns (c, m).

    Forward:  A[c, :] = (1 / (h*w)) sum over (i, j) of A_prev[c, i, j, :]
    Backward: dA_prev[c, i, j, :] = dA[c, :] / (h*w)

    Shapes: A_prev (c, h, w, m), A (c, m): a Dense can follow directly.

    >>> import numpy as np, minigrad as mg
    >>> mg.GlobalAvgPool2D().forward(np.ones((3, 4, 4, 2))).shape
    (3, 2)
    """

    in_shape: tuple[int, ...] | None = field(default=None, init=False, repr=False)

    @override
    def output_shape(self, shape: Shape | None) -> Shape | None:
        if shape is None:
            return None
        if len(shape) != 3:
            raise ShapeError(f"{self!r}: expects images (channels, height, width) per example, "
                             f"got examples of shape {shape}")
        return (shape[0],)

    @override
    def forward(self, A_prev: Array) -> Array:
        A = self.infer(A_prev)
        _set(self, "in_shape", np.shape(A_prev))
        return A

    @override
    def infer(self, A_prev: Array) -> Array:
        if A_prev.__class__ is not np.ndarray or A_prev.ndim != 4 or A_prev.dtype.kind != "f":
            A_prev = as_image_batch(self, A_prev, None, "A_prev")
        if not A_prev.shape[3]:
            as_image_batch(self, A_prev, None, "A_prev")  # raises: an empty batch
        A: Array = A_prev.mean(axis=(1, 2))
        return A

    @override
    def explain_lines(self, tape: Tape) -> None:
        if type(self).forward is not GlobalAvgPool2D.forward:
            generic_lines(self, tape)
            return
        prev = tape.current
        shape = self.output_shape(prev.shape) if prev.shape is None or len(prev.shape) == 3 \
            else None
        out = tape.fresh(f"{prev.name}_gap")
        tape.forward_line(out, f"(1/(h*w)) sum({prev.name}, axis=(1, 2))",
                          tape.named_shape(out, shape), "the mean of each channel")

        def backward(grad: Grad) -> Term:
            return Term(f"{grad.name} / (h*w) to every pixel of its channel")

        tape.advance(self, Var(out, shape), backward)

    @override
    def backward(self, dA: Array) -> Array:
        if self.in_shape is None:
            return self._cached(None)  # raises: backward before forward
        c, h, w, m = self.in_shape
        if dA.__class__ is not np.ndarray or dA.shape != (c, m):
            raise ShapeError(f"{self!r}: expected dA of shape {(c, m)} like A, "
                             f"got {getattr(dA, 'shape', type(dA).__name__)}")
        dA_prev = np.empty(self.in_shape, dtype=dA.dtype)
        dA_prev[...] = (dA * dA.dtype.type(1.0 / (h * w)))[:, None, None, :]
        return dA_prev


# Caches are plain slots: skip attrs' on-setattr validators on every forward.
_set = object.__setattr__
