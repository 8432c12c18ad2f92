"""Merge layers: where paths of a graph join. ``forward`` takes a list of arrays.

Each takes the outputs of several nodes, ``[A1, A2, ...]``, and returns one
array; ``backward`` returns one gradient per input, in the same order:

    Add:       A = A1 + A2 + ...        dA1 = dA,  dA2 = dA, ...
    Multiply:  A = A1 * A2 * ...        dA1 = dA * (A2 * ...), ...
    Concat:    A = [A1; A2; ...]        dA1, dA2, ... = the rows of dA that each gave

Concat stacks along axis 0 (features, or channels for images), so examples
stay on the last axis.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
from attrs import define, field
from typing_extensions import override

from minigrad._checks import as_float_batch
from minigrad._typing import Array
from minigrad.equations import Grad, Tape, Term, Var
from minigrad.errors import ShapeError
from minigrad.layer import Layer, Shape


@define(eq=False, repr=False)
class Merge(Layer):
    """Base class of layers that join several inputs; checks that they fit."""

    takes_list: ClassVar[bool] = True

    shapes: tuple[tuple[int, ...], ...] | None = field(default=None, init=False, repr=False)

    def _inputs(self, As: Any, what: str = "A") -> list[Array]:
        """The inputs as float arrays of one dtype with m columns each, or a clear error."""
        if not isinstance(As, list | tuple) or len(As) < 2:
            raise ShapeError(
                f"{self!r}: expected a list of at least 2 arrays to merge, got "
                f"{type(As).__name__}" + (f" of {len(As)}" if isinstance(As, list | tuple) else "")
            )
        arrays = [as_float_batch(self, A, None, f"{what}{i + 1}") for i, A in enumerate(As)]
        m = {A.shape[-1] for A in arrays}
        if len(m) > 1:
            raise ShapeError(
                f"{self!r}: its inputs have different numbers of examples: "
                + ", ".join(f"{what}{i + 1} {A.shape}" for i, A in enumerate(arrays))
            )
        dtype = np.result_type(*arrays)
        return [A.astype(dtype, copy=False) for A in arrays]

    def _elementwise_inputs(self, As: Any) -> list[Array]:
        """The inputs of an elementwise merge: all of one shape."""
        # the hot path: a list of float arrays of one dtype and one shape, a comparison each
        if As.__class__ is list and len(As) >= 2:
            first = As[0]
            if (first.__class__ is np.ndarray and first.dtype.kind == "f" and first.ndim >= 2
                    and first.shape[-1] and all(
                        A.__class__ is np.ndarray and A.dtype is first.dtype
                        and A.shape == first.shape for A in As[1:])):
                return As
        arrays = self._inputs(As)
        if any(A.shape != arrays[0].shape for A in arrays):
            raise ShapeError(f"{self!r}: its inputs must have one shape, got "
                             + ", ".join(f"A{i + 1} {A.shape}" for i, A in enumerate(arrays)))
        return arrays

    def _check_grad(self, dA: Any, shape: tuple[int, ...]) -> Array:
        if dA.__class__ is not np.ndarray or dA.shape != shape:
            raise ShapeError(
                f"{self!r}: expected dA of shape {shape} like A, "
                f"got {getattr(dA, 'shape', type(dA).__name__)}"
            )
        checked: Array = dA
        return checked

    def _merge_lines(self, tape: Tape, letter: str, rhs: Callable[[list[str]], str],
                     terms: Callable[[Grad, list[str]], list[Term]]) -> None:
        """``S2 = A1 + A2`` on ``tape.currents``; backward gives each input its term."""
        inputs = tape.currents
        names = [var.name for var in inputs]
        shape = self.node_shape([var.shape for var in inputs])
        out = tape.fresh(f"{letter}{tape.level}")
        tape.forward_line(out, rhs(names), tape.named_shape(out, shape))
        tape.advance(self, Var(out, shape), lambda grad: terms(grad, names))

    def _cached_shapes(self) -> tuple[tuple[int, ...], ...]:
        if self.shapes is None:
            self._cached(None)
        assert self.shapes is not None  # for mypy: _cached raised
        return self.shapes


def _same_shapes(layer: Layer, shapes: Sequence[Shape | None]) -> Shape | None:
    """The one shape all inputs share (elementwise merges), or a ShapeError naming them."""
    if len(shapes) < 2:
        raise ShapeError(f"{layer!r}: merges at least 2 nodes, got {len(shapes)}")
    known = [s for s in shapes if s is not None]
    if any(s != known[0] for s in known):
        shown = ", ".join(f"input {i + 1} {s}" for i, s in enumerate(shapes))
        raise ShapeError(f"{layer!r}: its inputs must have the same shape per example, got {shown}")
    return known[0] if len(known) == len(shapes) else None


@define(eq=False, repr=False)
class Add(Merge):
    """Elementwise sum of the inputs (a residual connection adds a block's input to its output).

    Forward:  A = A1 + A2 + ...
    Backward: dA_k = dA for every input k (a sum passes its gradient on unchanged)

    >>> import numpy as np, minigrad as mg
    >>> mg.Add().forward([np.ones((2, 1)), np.full((2, 1), 2.0)])
    array([[3.],
           [3.]])
    """

    @override
    def node_shape(self, shapes: Sequence[Shape | None]) -> Shape | None:
        return _same_shapes(self, shapes)

    @override
    def forward(self, As: list[Array]) -> Array:
        arrays = self._elementwise_inputs(As)
        self.shapes = (arrays[0].shape,) * len(arrays)  # one shape, checked
        return _sum(arrays)

    @override
    def infer(self, As: list[Array]) -> Array:
        return _sum(self._elementwise_inputs(As))

    @override
    def backward(self, dA: Array) -> list[Array]:
        shapes = self._cached_shapes()
        dA = self._check_grad(dA, shapes[0])
        return [dA for _ in shapes]

    @override
    def explain_lines(self, tape: Tape) -> None:
        """``S = A1 + A2``; each input's gradient is dS."""
        self._merge_lines(tape, "S", " + ".join,
                          lambda grad, names: [Term(grad.name) for _ in names])


@define(eq=False, repr=False)
class Multiply(Merge):
    """Elementwise product of the inputs (gating).

    Forward:  A = A1 * A2 * ...
    Backward: dA_k = dA * (the product of the other inputs)

    >>> import numpy as np, minigrad as mg
    >>> mg.Multiply().forward([np.full((1, 2), 2.0), np.full((1, 2), 3.0)])
    array([[6., 6.]])
    """

    inputs: list[Array] | None = field(default=None, init=False, repr=False)

    @override
    def node_shape(self, shapes: Sequence[Shape | None]) -> Shape | None:
        return _same_shapes(self, shapes)

    @override
    def forward(self, As: list[Array]) -> Array:
        arrays = self._elementwise_inputs(As)
        self.inputs, self.shapes = arrays, (arrays[0].shape,) * len(arrays)
        return _product(arrays)

    @override
    def infer(self, As: list[Array]) -> Array:
        return _product(self._elementwise_inputs(As))

    @override
    def backward(self, dA: Array) -> list[Array]:
        arrays = self.inputs
        if arrays is None:
            self._cached(None)
            return []
        dA = self._check_grad(dA, arrays[0].shape)
        return [dA * _product(arrays[:k] + arrays[k + 1:]) for k in range(len(arrays))]

    @override
    def explain_lines(self, tape: Tape) -> None:
        """``P = A1 * A2``; each input's gradient is dP times the other inputs."""

        def terms(grad: Grad, names: list[str]) -> list[Term]:
            return [Term(" * ".join([grad.name, *names[:k], *names[k + 1:]]))
                    for k in range(len(names))]

        self._merge_lines(tape, "P", " * ".join, terms)


def _sum(arrays: list[Array]) -> Array:
    out: Array = arrays[0] + arrays[1]
    for other in arrays[2:]:
        out += other
    return out


def _product(arrays: list[Array]) -> Array:
    out: Array = arrays[0] * arrays[1] if len(arrays) > 1 else arrays[0].copy()  # 1: dA_k
    for other in arrays[2:]:
        out *= other
    return out


@define(eq=False, repr=False)
class Concat(Merge):
    """Stack the inputs' rows (axis 0): features, or channels of images.

    Forward:  A = [A1; A2; ...]            rows n1 + n2 + ...
    Backward: dA1 = dA[:n1],  dA2 = dA[n1:n1 + n2], ...

    >>> import numpy as np, minigrad as mg
    >>> mg.Concat().forward([np.zeros((1, 2)), np.ones((2, 2))]).shape
    (3, 2)
    """

    @override
    def node_shape(self, shapes: Sequence[Shape | None]) -> Shape | None:
        if len(shapes) < 2:
            raise ShapeError(f"{self!r}: merges at least 2 nodes, got {len(shapes)}")
        if any(s is None for s in shapes):
            return None
        known = [s for s in shapes if s is not None]
        if any(len(s) != len(known[0]) or s[1:] != known[0][1:] for s in known):
            shown = ", ".join(f"input {i + 1} {s}" for i, s in enumerate(known))
            raise ShapeError(
                f"{self!r}: stacks rows, so its inputs must agree on every axis but the first, "
                f"got {shown}"
            )
        return (sum(s[0] for s in known), *known[0][1:])

    @override
    def forward(self, As: list[Array]) -> Array:
        arrays = self._stack_inputs(As)
        self.shapes = tuple(A.shape for A in arrays)
        return np.concatenate(arrays, axis=0)

    @override
    def infer(self, As: list[Array]) -> Array:
        return np.concatenate(self._stack_inputs(As), axis=0)

    def _stack_inputs(self, As: Any) -> list[Array]:
        arrays = self._inputs(As)
        if any(A.ndim != arrays[0].ndim or A.shape[1:] != arrays[0].shape[1:] for A in arrays):
            raise ShapeError(
                f"{self!r}: stacks rows, so its inputs must agree on every axis but the first, "
                "got " + ", ".join(f"A{i + 1} {A.shape}" for i, A in enumerate(arrays))
            )
        return arrays

    @override
    def backward(self, dA: Array) -> list[Array]:
        shapes = self._cached_shapes()
        rows = sum(s[0] for s in shapes)
        dA = self._check_grad(dA, (rows, *shapes[0][1:]))
        ends = np.cumsum([s[0] for s in shapes])[:-1]
        return list(np.split(dA, ends, axis=0))

    @override
    def explain_lines(self, tape: Tape) -> None:
        """``C = [A1; A2]``, rows stacked; each input's gradient is its rows of dC."""
        rows = [var.shape[0] if var.shape else None for var in tape.currents]

        def terms(grad: Grad, names: list[str]) -> list[Term]:
            if any(n is None for n in rows):
                return [Term(f"{grad.name}[the rows of {name}]") for name in names]
            ends = np.cumsum([n or 0 for n in rows]).tolist()
            return [Term(f"{grad.name}[{start}:{end}]")
                    for start, end in zip([0, *ends[:-1]], ends, strict=True)]

        self._merge_lines(tape, "C", lambda names: f"[{'; '.join(names)}]", terms)
