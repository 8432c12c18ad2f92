"""Sequential: layers chained so that backprop falls out of the chain rule.

Forward runs ``A = layer.forward(A)`` down the list; backward runs
``dA = layer.backward(dA)`` back up it. With Dense and an activation stacked,
``dZ1 = W2^T dZ2 * g'(Z1)`` is nothing but Dense.backward followed by
Activation.backward.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Literal, Self, overload

import numpy as np
from attrs import define, field
from typing_extensions import override

from minigrad._notebook import show_summary
from minigrad._typing import Array
from minigrad.equations import Tape, generic_lines
from minigrad.errors import DTypeError, ShapeError
from minigrad.layer import Layer, Shape, contains, leaves


@define(eq=False, repr=False, init=False)
class Sequential(Layer):
    """A chain of layers; itself a Layer, so containers nest.

    >>> import minigrad as mg
    >>> net = mg.Sequential([mg.Dense(2, 4), mg.Tanh(), mg.Dense(4, 1), mg.Sigmoid()])
    >>> len(net), net[0]
    (4, Dense(n_in=2, n_out=4))
    """

    _layers: list[Layer] = field(factory=list)
    _backward_order: tuple[Layer, ...] = field(init=False, repr=False, default=())
    _backward_tail: tuple[Layer, ...] = field(init=False, repr=False, default=())
    _checks_own_caches: bool = field(init=False, repr=False, default=True)

    def __init__(self, layers: Iterable[Layer] | Layer = (), *more: Layer) -> None:
        items = [layers, *more] if isinstance(layers, Layer) else [*layers, *more]
        self.__attrs_init__([])
        self._extend(items)

    # -- container ------------------------------------------------------------

    @property
    def layers(self) -> tuple[Layer, ...]:
        return tuple(self._layers)

    def __len__(self) -> int:
        return len(self._layers)

    def __iter__(self) -> Iterator[Layer]:
        return iter(self._layers)

    @overload
    def __getitem__(self, index: int) -> Layer: ...
    @overload
    def __getitem__(self, index: slice) -> Sequential: ...
    def __getitem__(self, index: int | slice) -> Layer | Sequential:
        if isinstance(index, slice):
            return Sequential(self._layers[index])
        return self._layers[index]

    def append(self, layer: Layer) -> Self:
        """Add ``layer`` at the end, checking that it fits the layers before it."""
        return self._extend([layer])

    def _extend(self, layers: list[Layer]) -> Self:
        """Add ``layers`` at the end, every check made once for all of them (no change on error)."""
        for i, layer in enumerate(layers, start=len(self._layers)):
            if not isinstance(layer, Layer):
                raise TypeError(
                    f"Sequential: layer {i} must be a minigrad Layer, got {type(layer).__name__}"
                )
            if contains(layer, self):
                raise ValueError(
                    "Sequential: cannot append a container to itself or to a container inside it"
                )
        _refuse_repeats(self, layers)
        candidate = [*self._layers, *layers]
        _check_chain(candidate)
        self._layers = candidate
        self._backward_order = tuple(reversed(candidate))
        self._backward_tail = self._backward_order[:-1]  # all but the first layer
        self._checks_own_caches = _only_first_can_fail(leaves(self))
        return self

    # -- the Layer contract -----------------------------------------------------

    @override
    def forward(self, X: Array) -> Array:
        snapshot = None if self._checks_own_caches else [x._snapshot() for x in leaves(self)]
        A = X
        layer = None
        try:
            for layer in self._layers:
                A = layer.forward(A)
        except Exception as err:
            if snapshot is not None:
                for leaf, saved in zip(leaves(self), snapshot, strict=True):
                    leaf._restore(saved)
            err.add_note(self._where(self._index(layer)))
            raise
        return A

    @override
    def forward_trace(self, X: Array) -> tuple[Any, list[tuple[Layer, Any, Any]]]:
        A: Any = X
        trace: list[tuple[Layer, Any, Any]] = []
        for layer in self._layers:
            A, inner = layer.forward_trace(A)
            trace += inner
        return A, trace

    @override
    def infer(self, X: Array) -> Array:
        A = X
        layer = None
        try:
            for layer in self._layers:
                A = layer.infer(A)
        except Exception as err:
            err.add_note(self._where(self._index(layer)))
            raise
        return A

    @overload
    def backward(self, dA: Array) -> Array: ...
    @overload
    def backward(self, dA: Array, *, input_grad: Literal[True]) -> Array: ...
    @overload
    def backward(self, dA: Array, *, input_grad: Literal[False]) -> None: ...
    @override
    def backward(self, dA: Array, *, input_grad: bool = True) -> Array | None:
        """Run dA back through the layers; return dX, the gradient of the input.

        In training X is data and dX goes unused: with ``input_grad=False`` the
        first layer only sets its parameter gradients (``backward_params``) and
        None is returned. That skips W^T dZ of the first Dense, the largest
        product in a net with wide inputs (784 pixels).
        """
        layer = None
        try:
            if input_grad:
                for layer in self._backward_order:
                    dA = layer.backward(dA)
                return dA
            for layer in self._backward_tail:
                dA = layer.backward(dA)
            if self._layers:
                layer = self._layers[0]
                layer.backward_params(dA)
        except Exception as err:
            err.add_note(self._where(self._index(layer)))
            raise
        return None

    @override
    def backward_params(self, dA: Array) -> None:
        self.backward(dA, input_grad=False)

    @override
    def children(self) -> list[Layer]:
        return list(self._layers)

    @override
    def explain_lines(self, tape: Tape) -> None:
        """A Sequential explains itself as its layers, in order."""
        if type(self).forward is not Sequential.forward:  # a subclass that computes something else
            generic_lines(self, tape)
            return
        for layer in self._layers:
            layer.explain_lines(tape)

    @override
    def output_shape(self, shape: Shape | None) -> Shape | None:
        for layer in self._layers:
            shape = layer.output_shape(shape)
        return shape

    @override
    def output_size(self, n_in: int | None) -> int | None:
        shape = self.output_shape(None if n_in is None else (n_in,))
        return shape[0] if shape is not None and len(shape) == 1 else None

    @classmethod
    @override
    def check_config(cls, config: dict[str, Any]) -> None:
        layers = config.get("layers")
        if not isinstance(layers, list):
            raise ValueError(f"config needs a list 'layers', got {layers!r}")

    @override
    def config(self) -> dict[str, Any]:
        return {"layers": list(self._layers)}

    # -- printing -------------------------------------------------------------

    def __repr__(self) -> str:
        if not self._layers:
            return "Sequential([])"
        inner = "\n".join(
            f"  ({i}) " + repr(layer).replace("\n", "\n  ") for i, layer in enumerate(self._layers)
        )
        return f"Sequential([\n{inner}\n])"

    def summary(self, n_x: int | tuple[int, ...], *, print_fn: Any = print) -> str:
        """Print and return a table of layers, output shapes and parameter counts.

        ``n_x`` is the number of input features (rows of X), or the shape of one
        example, ``(c, h, w)`` for images. In a notebook (IPython), with the
        default ``print_fn``, the table shows as HTML.
        """
        rows = [("#", "Layer", "Output shape", "Params")]
        shape: Shape | None = (n_x,) if isinstance(n_x, int) else tuple(n_x)
        for i, layer in enumerate(self._layers):
            shape = layer.output_shape(shape)
            shown = ", ".join(str(n) for n in shape) + ", m" if shape is not None else "?, m"
            rows.append((str(i), repr(layer).replace("\n", " "), f"({shown})",
                         f"{layer.n_parameters():,}"))
        widths = [max(len(r[c]) for r in rows) for c in range(4)]
        aligns = (">", "<", "<", ">")
        fmt = "  ".join(f"{{:{a}{w}}}" for a, w in zip(aligns, widths, strict=True))
        rule = "-" * (sum(widths) + 6)
        lines = [fmt.format(*rows[0]), rule, *(fmt.format(*r) for r in rows[1:]), rule,
                 f"Total parameters: {self.n_parameters():,}"]
        return show_summary(lines, rows[0], rows[1:], print_fn)

    def _index(self, layer: Layer | None) -> int:
        """The position of ``layer`` (each layer object appears once), or -1."""
        return next((i for i, x in enumerate(self._layers) if x is layer), -1)

    def _where(self, i: int) -> str:
        layer = self._layers[i] if 0 <= i < len(self._layers) else None
        shown = repr(layer).splitlines()[0] if layer is not None else "?"
        return f"(in layer {i} of {len(self._layers)} in Sequential: {shown})"


def _refuse_repeats(chain: Sequential, layers: list[Layer]) -> None:
    """A chain uses each layer once: refuse a layer, or a copy sharing its weights, twice."""
    owners = {id(p): leaf for leaf in leaves(chain) for p in leaf.parameters()}
    ids = {id(leaf) for leaf in leaves(chain)}
    for leaf in (leaf for layer in layers for leaf in leaves(layer)):
        shared = next((owners[id(p)] for p in leaf.parameters() if id(p) in owners), None)
        if id(leaf) in ids or shared is not None:
            what = "appears twice" if shared is None or shared is leaf else (
                f"shares its weights with {shared!r} (a shallow copy?)"
            )
            raise ValueError(
                f"Sequential: {leaf!r} {what}; a chain uses each layer once. Create a second "
                "layer, or use mg.Graph to share one layer's weights between several places"
            )
        ids.add(id(leaf))
        owners.update((id(p), leaf) for p in leaf.parameters())


def _only_first_can_fail(leaves: list[Layer]) -> bool:
    """Whether a forward can fail only in the first leaf, before any cache changed.

    Built-in layers check their input before touching any state, and once the
    first leaf has fixed the number of rows (a Dense does; an activation passes
    on whatever it is given), the chain check at construction guarantees that
    every later built-in layer accepts its input. Otherwise forward snapshots.
    """
    if not leaves:
        return True
    rows_fixed = leaves[0].output_shape(None) is not None
    return rows_fixed and all(_validates_first(leaf) for leaf in leaves[1:])


def _validates_first(layer: Layer) -> bool:
    """Built-in layers check their input before touching any state."""
    return type(layer).__module__.startswith("minigrad.")


def _described(shape: Shape | None) -> str:
    if shape is not None and len(shape) == 1:
        return f"{shape[0]} rows"
    return f"examples of shape {shape}"


def _check_chain(layers: list[Layer]) -> None:
    """Refuse a stack whose consecutive layers cannot fit, naming both layers."""
    shape: Shape | None = None
    source = None
    dtypes: dict[np.dtype[Any], int] = {}  # named only in the error: str(dtype) costs 5 us
    for i, layer in enumerate(layers):
        if layer.dtype is not None:
            dtypes.setdefault(layer.dtype, i)
        try:
            out = layer.output_shape(shape)
        except ShapeError as err:
            raise ShapeError(
                f"Sequential: layer {i} {layer!r} does not fit after layer {source[0]} "
                f"{source[1]!r}, which gives {_described(shape)}: {err}"
                if source is not None
                else f"Sequential: layer {i} {layer!r}: {err}"
            ) from None
        if out is not None and out != shape:
            source = (i, layer)
        shape = out
    if len(dtypes) > 1:
        found = ", ".join(f"{d} (from layer {i})" for d, i in dtypes.items())
        raise DTypeError(
            f"Sequential: layers have different dtypes: {found}; "
            "convert them all with .astype(dtype)"
        )
