"""Residual: a block with a skip connection, A = X + block(X)."""

from __future__ import annotations

from typing import Any

from attrs import define, field
from typing_extensions import override

from minigrad._typing import Array
from minigrad.equations import Grad, Tape, Term, Var
from minigrad.errors import ShapeError
from minigrad.layer import Layer, Shape


def _a_layer(instance: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, Layer):
        raise TypeError(f"Residual: block must be a minigrad Layer, got {type(value).__name__}")


@define(eq=False, repr=False)
class Residual(Layer):
    """The block's output plus its input (He et al. 2016): the block learns a correction.

    Forward:  A = X + block(X)
    Backward: dX = dA + block.backward(dA)     (gradients add where paths fork)

    The block must give examples of the shape it takes (any Layer: a
    Sequential, a Graph with one input and one output, ...).

    >>> import numpy as np, minigrad as mg
    >>> res = mg.Residual(mg.Sequential([mg.Dense(3, 3, rng=0), mg.Tanh()]))
    >>> res.forward(np.zeros((3, 2))).shape
    (3, 2)
    """

    block: Layer = field(validator=_a_layer)

    @override
    def children(self) -> list[Layer]:
        return [self.block]

    @override
    def named_children(self) -> list[tuple[str, Layer]]:
        return [("block", self.block)]

    @override
    def forward(self, X: Array) -> Array:
        return self._plus_block(X, self.block.forward(X))

    @override
    def forward_trace(self, X: Array) -> tuple[Any, list[tuple[Layer, Any, Any]]]:
        F, trace = self.block.forward_trace(X)
        return self._plus_block(X, F), trace

    @override
    def infer(self, X: Array) -> Array:
        return self._plus_block(X, self.block.infer(X))

    @override
    def backward(self, dA: Array) -> Array:
        dX: Array = dA + self.block.backward(dA)  # gradients add where paths fork
        return dX

    @override
    def backward_params(self, dA: Array) -> None:
        self.block.backward_params(dA)

    def _plus_block(self, X: Array, F: Array) -> Array:
        if getattr(X, "shape", None) != F.shape:
            raise ShapeError(
                f"{self!r}: the block turns examples of shape {getattr(X, 'shape', '?')} into "
                f"{F.shape}; a residual block must keep the shape"
            )
        A: Array = X + F
        return A

    @override
    def output_shape(self, shape: Shape | None) -> Shape | None:
        out = self.block.output_shape(shape)
        if shape is not None and out is not None and out != shape:
            raise ShapeError(
                f"Residual: the block turns examples of shape {shape} into {out}; "
                "a residual block must keep the shape"
            )
        return shape if shape is not None else out

    @override
    def output_size(self, n_in: int | None) -> int | None:
        shape = self.output_shape(None if n_in is None else (n_in,))
        return shape[0] if shape is not None and len(shape) == 1 else None

    @override
    def explain_lines(self, tape: Tape) -> None:
        """The block's lines, then ``S = X + F``; X feeds both, so dX sums two paths."""
        x = tape.current
        self.block.explain_lines(tape)
        block_out = tape.current
        tape.currents = (x, block_out)
        out = tape.fresh(f"S{tape.level}")
        tape.forward_line(out, f"{x.name} + {block_out.name}", tape.named_shape(out, x.shape))

        def backward(grad: Grad) -> tuple[Term, Term]:
            return Term(grad.name), Term(grad.name)

        tape.advance(self, Var(out, x.shape), backward)

    def __repr__(self) -> str:
        inner = repr(self.block).replace("\n", "\n  ")
        return f"Residual({inner})"


