"""What the exporters share: how a model is built, what it takes and gives, and a registry.

A model is a leaf layer or a container, and the exporters only need to know which of four
kinds a layer is (:func:`kind`):

* ``"sequential"``: ``Sequential``, run child after child;
* ``"graph"``: a Graph, whose ``nodes`` (in topological order) each apply ``node.layer`` to
  the outputs of ``node.inputs``; a layer object at several nodes is one shared layer;
* ``"residual"``: ``Residual(block)``, ``A = X + block(X)``;
* ``"leaf"``: anything else, converted by a function looked up by its exact class.

Batch-first is the exporters' layout: minigrad's per-example axis ``k`` (``(n,)`` for vectors,
``(c, h, w)`` for images, examples last) is axis ``k + 1`` of a batch-first ``(m, ...)`` array.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Generic, Literal, TypeVar

from minigrad.activations import Activation
from minigrad.dropout import Dropout
from minigrad.layer import Layer
from minigrad.sequential import Sequential

Shape = tuple[int | None, ...]
Kind = Literal["sequential", "graph", "residual", "leaf"]
F = TypeVar("F", bound=Callable[..., Any])


def optional(module: str, extra: str, what: str) -> Any:
    """Import an optional package, or say which extra brings it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(
            f"{what} needs the {module!r} package, which is not installed: "
            f"pip install 'minigrad[{extra}]'"
        ) from err


def _residual_type() -> type | None:
    try:
        found: type = importlib.import_module("minigrad.residual").Residual
    except (ImportError, AttributeError):  # main before the Residual block existed
        return None
    return found


def is_graph(layer: Any) -> bool:
    """A Graph: a layer with ``nodes``, ``input_nodes`` and ``output_nodes`` (the contract)."""
    return isinstance(layer, Layer) and all(
        hasattr(layer, name) for name in ("nodes", "input_nodes", "output_nodes")
    )


def kind(layer: Layer) -> Kind:
    """Which of the four kinds ``layer`` is, for the exporters."""
    if type(layer) is Sequential:
        return "sequential"
    if is_graph(layer):
        return "graph"
    residual = _residual_type()
    if residual is not None and type(layer) is residual:
        return "residual"
    return "leaf"


def residual_block(layer: Layer) -> Layer:
    """The block of a ``Residual`` (its only child)."""
    children = layer.children() if hasattr(layer, "children") else []
    block = getattr(layer, "block", None) or (children[0] if children else None)
    if not isinstance(block, Layer):
        raise TypeError(f"{layer!r}: a Residual without a block layer")
    return block


def input_shapes(layer: Layer) -> list[Shape | None]:
    """The per-example shape of each input of ``layer`` (None where it cannot be told).

    A Graph's come from its Input nodes; a Sequential or Residual takes its first layer's;
    a leaf tells by its size attributes: Dense ``n_in``, BatchNorm ``n_features``, a
    convolution ``c_in`` (height and width unknown).
    """
    what = kind(layer)
    if what == "graph":
        return [_shape(node.shape) for node in graph_inputs(layer)]
    if what == "sequential":
        for child in layer.layers:  # type: ignore[attr-defined]
            found = input_shapes(child)
            # an activation or dropout in front keeps the shape: the next layer tells it
            if found != [None] or not isinstance(child, Activation | Dropout):
                return found
        return [None]
    if what == "residual":
        return input_shapes(residual_block(layer))
    for name in ("n_in", "n_features"):
        value = getattr(layer, name, None)
        if isinstance(value, int):
            return [(value,)]
    c_in = getattr(layer, "c_in", None)
    if isinstance(c_in, int):
        return [(c_in, None, None)]
    return [None]


def output_shape(layer: Layer, shape: Shape | None) -> Shape | None:
    """The per-example output shape for a per-example input shape, when the layer tells."""
    if shape is None or any(d is None for d in shape):
        known = None
    else:
        known = tuple(int(d) for d in shape if d is not None)
    try:
        if hasattr(layer, "output_shape"):
            return _shape(layer.output_shape(known))
        if known is not None and len(known) == 1:
            n_out = layer.output_size(known[0])
            return None if n_out is None else (n_out,)
        n_out = layer.output_size(None)
        return None if n_out is None else (n_out,)
    except Exception:  # a shape the exporter cannot tell is left dynamic
        return None


def graph_inputs(graph: Any) -> list[Any]:
    return list(graph.input_nodes) if isinstance(graph.input_nodes, list | tuple) else [
        graph.input_nodes]


def graph_outputs(graph: Any) -> list[Any]:
    return list(graph.output_nodes) if isinstance(graph.output_nodes, list | tuple) else [
        graph.output_nodes]


def io_names(layer: Layer) -> tuple[list[str], list[str]]:
    """Input and output names: a Graph's node names, else ``["input"]`` and ``["output"]``."""
    if kind(layer) == "graph":
        return ([str(n.name) for n in graph_inputs(layer)],
                [str(n.name) for n in graph_outputs(layer)])
    return ["input"], ["output"]


def _shape(shape: Any) -> Shape | None:
    if shape is None:
        return None
    if isinstance(shape, int):
        return (shape,)
    return tuple(None if d is None else int(d) for d in shape)


def batch_first_axis(owner: Layer, axis: int) -> int:
    """minigrad's array axis ``axis`` (examples last) as an axis of the batch-first array."""
    if axis == -1:
        raise ValueError(f"{owner!r}: axis -1 is the examples axis; it has no batch-first twin")
    return axis + 1


class Registry(Generic[F]):
    """Converters by exact layer class: a subclass may compute something else, so it must
    register its own (a clear error names it otherwise)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.table: dict[type, F] = {}

    def register(self, cls: type, converter: F) -> F:
        if not isinstance(cls, type):
            raise TypeError(f"{self.what}: expected a class to register, got {cls!r}")
        if not callable(converter):
            raise TypeError(f"{self.what}: the converter for {cls.__name__} must be callable")
        self.table[cls] = converter
        return converter

    def decorator(self, cls: type) -> Callable[[F], F]:
        def register(converter: F) -> F:
            return self.register(cls, converter)

        return register

    def find(self, cls: type) -> F | None:
        return self.table.get(cls)

    def names(self) -> str:
        return ", ".join(sorted(c.__name__ for c in self.table))
