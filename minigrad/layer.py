"""The Layer contract: ``forward`` caches what ``backward`` needs.

Gradient scale, stated once for the whole library (the notes' convention):

* The cost is the mean of per-example losses, ``J = (1/m) sum_i L_i``.
* The gradient that flows *between* layers is per example: column ``i`` of
  ``dA`` is ``dL_i/dA[:, i]``, with no ``1/m``. Losses return it that way.
* Parameter gradients are batch means and carry the ``1/m``:
  ``dW = (1/m) dZ A_prev^T`` and ``db = (1/m) sum_i dZ[:, i]``.

Examples sit on the last axis: a batch is ``(n_features, m)`` for vectors and
``(channels, height, width, m)`` for images, so m is always ``X.shape[-1]``.

``backward`` *assigns* parameter gradients (no accumulation), so there is no
``zero_grad`` step. A layer object used at several nodes of a :class:`~minigrad.Graph`
shares its weights: the graph keeps each use's forward cache, and the layer's
parameter gradients are the *sum* over its uses (``dW = dW_use1 + dW_use2``),
as the chain rule gives for a weight that feeds several paths. A Sequential,
which is a chain, refuses a repeated layer.

Containers (Sequential, Graph, Residual, or a user's own) are layers that
override :meth:`Layer.children`; the base class then walks the children for
parameters, buffers, train/eval mode and dtype, and :func:`leaves` and
:func:`indexed_leaves` reach every leaf of any container.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, Self, overload

import attrs
import numpy as np
from attrs import define, field

from minigrad._checks import check_finite
from minigrad._typing import Array, DTypeLike
from minigrad.equations import Tape, generic_lines
from minigrad.errors import DTypeError, InputError, ShapeError, StateError
from minigrad.explanation import Explanation, build_explanation, explain_text

Shape = tuple[int, ...]
"""The shape of one example: ``(n,)`` for a column, ``(c, h, w)`` for an image."""


@define(eq=False, repr=False)
class Node:
    """A symbolic value in a graph: the output of ``layer`` applied to ``inputs``.

    ``mg.Input(2)`` makes an input node (``layer`` is None); calling a layer
    on nodes makes the next one: ``h = mg.Dense(2, 8)(x)``. ``shape`` is the
    shape of one example (``(8,)``), None where a layer cannot tell.
    :class:`minigrad.Graph` turns nodes into a model.
    """

    layer: Layer | None
    inputs: tuple[Node, ...]
    shape: Shape | None
    name: str | None = None

    def __repr__(self) -> str:
        what = "Input" if self.layer is None else repr(self.layer).splitlines()[0]
        shown = "?" if self.shape is None else ", ".join(map(str, self.shape))
        label = f"{self.name}: " if self.name else ""
        return f"<Node {label}{what} -> ({shown}, m)>"


def Input(shape: int | Sequence[int], name: str | None = None) -> Node:
    """A graph input: examples of ``shape`` (an int for columns, ``(c, h, w)`` for images).

    >>> import minigrad as mg
    >>> mg.Input(2, name="x")
    <Node x: Input -> (2, m)>
    """
    dims = (shape,) if isinstance(shape, int | np.integer) else tuple(shape)
    if not dims or any(isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1
                       for n in dims):
        raise ShapeError(f"Input: shape must be a positive int or a tuple of them, got {shape!r}")
    if name is not None and (not isinstance(name, str) or not name.isidentifier()):
        raise ValueError(f"Input: name must be an identifier such as 'x', got {name!r}")
    return Node(None, (), tuple(int(n) for n in dims), name)


@define(eq=False, repr=False)
class Parameter:
    """A named trainable array and its gradient, always of one shape and dtype.

    Optimizers update ``value`` in place, so a layer's ``W`` stays the same array.
    """

    name: str
    value: Array
    grad: Array

    def __attrs_post_init__(self) -> None:
        if self.value.shape != self.grad.shape:
            raise ValueError(
                f"Parameter {self.name!r}: value shape {self.value.shape} "
                f"!= grad shape {self.grad.shape}"
            )

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape

    @property
    def size(self) -> int:
        return int(self.value.size)

    def assign(self, value: Any, owner: object) -> None:
        """Copy ``value`` into ``self.value`` in place: real, finite numbers of its shape, or an
        error naming ``owner`` (the layer), with the parameter unchanged."""
        what = f"{self.name} (a {self.value.shape} weight array)"
        try:
            arr = np.asarray(value)
        except (ValueError, TypeError) as err:  # ragged lists, odd objects
            raise DTypeError(f"{owner!r}: cannot read {what} as an array of numbers: {err}") \
                from None
        if arr.dtype.kind not in "fiu":
            raise DTypeError(
                f"{owner!r}: {self.name} must hold real numbers, got dtype {arr.dtype}"
                + (" (take .real if the imaginary parts are 0)" if arr.dtype.kind == "c" else "")
            )
        if arr.shape != self.value.shape:
            raise ShapeError(
                f"{owner!r}: {self.name} must keep shape {self.value.shape}, got {arr.shape}"
            )
        with np.errstate(over="ignore"):
            cast = arr.astype(self.value.dtype)  # float64 beyond float32's range becomes inf
        check_finite(owner, cast, f"{self.name} (as {self.value.dtype})")
        self.value[...] = cast

    def astype(self, dtype: DTypeLike) -> None:
        """Convert value and grad to ``dtype`` (new arrays)."""
        self.value = self.value.astype(dtype)
        self.grad = self.grad.astype(dtype)

    def __repr__(self) -> str:
        return f"Parameter({self.name!r}, shape={self.shape}, dtype={self.value.dtype})"


@define(eq=False, repr=False)
class Layer:
    """Base class of every layer.

    Subclasses implement ``forward(A_prev) -> A`` and ``backward(dA) -> dA_prev``
    and, if they own weights, ``parameters()``. The base methods are
    positional-only so that subclasses may name the argument after the math.
    """

    training: bool = field(default=True, init=False, repr=False)

    takes_list: ClassVar[bool] = False
    """True for merge layers, whose forward takes a list of arrays (one per input)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # attrs gives each slotted class a __getstate__ that keeps its fields only;
        # owning one stops that, and this one also keeps the __dict__ of a layer
        # written as a plain class (its settings and caches), which
        # copy.deepcopy (gradcheck) and pickle would otherwise drop
        if "__getstate__" not in vars(cls):
            cls.__getstate__ = Layer.__getstate__  # type: ignore[method-assign]
            cls.__setstate__ = Layer.__setstate__  # type: ignore[method-assign]

    def __getstate__(self) -> dict[str, Any]:
        """Every slot that is set and every ``__dict__`` entry: what copy and pickle carry."""
        state = {
            name: getattr(self, name)
            for klass in type(self).__mro__
            for name in _slot_names(klass)
            if hasattr(self, name)
        }
        state.update(getattr(self, "__dict__", {}))
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)

    # A leaf takes and returns an array; a merge layer takes a list, and a Graph with
    # several inputs or outputs takes and returns lists: hence Any in the base contract.
    def forward(self, A_prev: Any, /) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement forward")

    def backward(self, dA: Any, /) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement backward")

    def backward_params(self, dA: Any, /) -> None:
        """Backward when nothing needs dA_prev: set the parameter gradients only.

        ``Sequential.backward(dA, input_grad=False)`` calls it on its first
        layer, whose input is the data. The default runs ``backward`` and drops
        the result; Dense skips its W^T dZ product.
        """
        self.backward(dA)

    @overload
    def __call__(self, A_prev: Node | Sequence[Node], /) -> Node: ...
    @overload
    def __call__(self, A_prev: Array, /) -> Array: ...
    def __call__(self, A_prev: Any, /) -> Any:
        """On arrays, ``forward``; on a node (a list of nodes for a merge), a new graph node."""
        if isinstance(A_prev, Node) or (
            isinstance(A_prev, list | tuple) and A_prev and all(isinstance(n, Node) for n in A_prev)
        ):
            inputs = (A_prev,) if isinstance(A_prev, Node) else tuple(A_prev)
            return Node(self, inputs, self.node_shape([n.shape for n in inputs]))
        return self.forward(A_prev)

    def forward_trace(self, A_prev: Any, /) -> tuple[Any, list[tuple[Layer, Any, Any]]]:
        """``forward``, and each leaf layer run with what it received and gave.

        The trace is ``[(leaf, input, output), ...]`` in the order the leaves
        ran; gradcheck checks each leaf on its own input with it, and fit's
        divergence diagnosis finds the first non-finite output. Containers
        override it to trace their children; a leaf traces itself.
        """
        A = self.forward(A_prev)
        return A, [(self, A_prev, A)]

    def node_shape(self, shapes: Sequence[Shape | None], /) -> Shape | None:
        """The output shape at a graph node whose inputs have ``shapes`` (one for most layers).

        Merge layers override it; the others take exactly one input.
        """
        if len(shapes) != 1:
            raise ShapeError(
                f"{self!r} takes one input, but is called on {len(shapes)} nodes; "
                "merge them first with mg.Add(), mg.Concat() or mg.Multiply()"
            )
        return self.output_shape(shapes[0])

    def infer(self, A_prev: Any, /) -> Any:
        """The output for inference: eval-mode forward that leaves the layer as it was.

        ``predict`` and ``evaluate`` call it, so inference never touches what a
        training ``forward`` cached for ``backward``, nor the train/eval mode,
        nor running statistics: several threads may predict with one model.
        Built-in layers compute it directly; this default, for a layer of your
        own, runs ``forward`` in eval mode and then puts its caches and mode
        back (safe in one thread; override ``infer`` for concurrent use).
        """
        saved = [(leaf, leaf._snapshot(), getattr(leaf, "training", True)) for leaf in leaves(self)]
        was_training = getattr(self, "training", True)
        try:
            self.train(False)
            return self.forward(A_prev)
        finally:
            for leaf, snapshot, mode in saved:
                leaf._restore(snapshot)
                leaf.training = mode
            self.training = was_training

    def children(self) -> list[Layer]:
        """The layers inside this one, each once (none for a leaf). Containers override it."""
        return []

    def named_children(self) -> list[tuple[str, Layer]]:
        """``(key, child)`` pairs; the key prefixes the child's parameter names (``"0"``)."""
        return [(str(i), child) for i, child in enumerate(self.children())]

    def parameters(self) -> list[Parameter]:
        """The trainable parameters, in a fixed order; a container gives its children's."""
        return [p for _, p in self.named_parameters()]

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        """``(name, parameter)`` pairs; a container prefixes each with the child's key
        (``"2.W"``). A layer shared by several children is listed once."""
        if type(self).parameters is not Layer.parameters:  # a leaf that lists its own
            return [(p.name, p) for p in self.parameters()]
        out: list[tuple[str, Parameter]] = []
        seen: set[int] = set()
        for key, child in self.named_children():
            for name, p in child.named_parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    out.append((f"{key}.{name}", p))
        return out

    def n_parameters(self) -> int:
        """Total number of trainable scalars."""
        return sum(p.size for p in self.parameters())

    def buffers(self) -> dict[str, Array]:
        """Non-trainable state arrays (BatchNorm's running statistics), by name.

        The arrays themselves are returned, not copies: a loader restores them
        in place with ``layer.buffers()[name][...] = saved``. A container gives
        its children's, prefixed like parameter names. None for a plain layer.
        """
        out: dict[str, Array] = {}
        seen: set[int] = set()
        for key, child in self.named_children():
            for name, array in child.buffers().items():
                if id(array) not in seen:
                    seen.add(id(array))
                    out[f"{key}.{name}"] = array
        return out

    def train(self, mode: bool = True) -> Self:
        """Switch to training mode (``mode=False``: eval mode), children too; returns the layer."""
        self.training = bool(mode)
        for child in self.children():
            child.train(mode)
        return self

    def eval(self) -> Self:
        """Switch to evaluation mode (dropout off, running statistics used)."""
        return self.train(False)

    def predict(self, X: Any, /) -> Any:
        """The model's output for ``X`` in eval mode (see :meth:`infer`); the layer is unchanged.

        Unlike ``forward``, it refuses to hand back NaN or inf: an InputError
        names the non-finite entry of X, or says that the output overflowed.
        A Graph with several inputs takes a list (or dict) and with several
        outputs returns a list.
        """
        where = f"{type(self).__name__}.predict"
        inputs = list(X.values()) if isinstance(X, dict) else X if isinstance(X, list) else [X]
        for i, X_i in enumerate(inputs):
            if isinstance(X_i, np.ndarray) and X_i.dtype.kind == "f":
                check_finite(where, X_i, "X" if len(inputs) == 1 else f"X[{i}]")
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            A = self.infer(X)  # overflow is reported below, as an error, not a warning
        outputs = A if isinstance(A, list) else [A]
        for A_k in outputs:
            if not np.isfinite(A_k).all():
                for X_i in inputs:
                    check_finite(where, np.asarray(X_i), "X")
                largest = max(float(np.abs(np.asarray(X_i)).max()) for X_i in inputs)
                raise InputError(
                    f"{where}: the output holds non-finite values although X is finite "
                    f"(largest |X| is {largest:.3g}): an overflow; "
                    "scale the inputs, or check the weights for divergence"
                )
        return A

    @property
    def dtype(self) -> np.dtype[Any] | None:
        """The dtype of the layer's parameters, or None for a layer without any."""
        params = self.parameters()
        return params[0].value.dtype if params else None

    def astype(self, dtype: DTypeLike) -> Self:
        """Convert every parameter to ``dtype`` in place; returns the layer.

        The layer's caches are cleared, since they no longer match.
        """
        target = np.dtype(dtype)
        if target.kind != "f":
            raise TypeError(f"{self!r}: dtype must be a float type, got {target}")
        for child in self.children():
            child.astype(target)
        if not is_container(self):
            for p in self.parameters():
                p.astype(target)
        self._restore(dict.fromkeys(self._cache_names()))
        return self

    def output_shape(self, shape: Shape | None, /) -> Shape | None:
        """The shape of one output example for input examples of ``shape`` (None: unknown).

        Containers use it to check that layers fit together. Raise a
        ``ShapeError`` naming the layer when ``shape`` cannot be accepted. The
        default serves layers on columns through :meth:`output_size`; layers
        that take any shape (activations) or images (Conv2D) override this.
        """
        if type(self).output_size is Layer.output_size:
            return None  # a layer that says nothing of shapes accepts any
        if shape is not None and len(shape) != 1:
            raise ShapeError(
                f"{self!r}: expects examples as columns (n_in, m), but each example has shape "
                f"{shape}; put mg.Flatten() before it to turn images into columns"
            )
        n = self.output_size(None if shape is None else shape[0])
        return None if n is None else (n,)

    def output_size(self, n_in: int | None) -> int | None:
        """Rows of the output for ``n_in`` input rows; None when unknown.

        The short form of :meth:`output_shape` for layers on columns. Raise a
        ``ShapeError`` when ``n_in`` cannot be accepted.
        """
        return None

    def explain(
        self,
        loss: Any = None,
        m: int | None = None,
        *,
        n_x: int | Shape | None = None,
        print_fn: Callable[[str], Any] | None = print,
    ) -> str:
        """Print and return the forward and backward pass in the notes' notation.

        Every equation with its shape for a batch of ``m`` examples, generated
        from the layers and the ``loss`` (an instance or class; a list, one per
        output, for a model with several outputs). Fused steps such as sigmoid
        with binary cross-entropy are shown fused. ``print_fn=None`` only
        returns the text. See :mod:`minigrad.explanation`.
        """
        return explain_text(self, loss, m, n_x=n_x, layers=leaves(self),
                                   print_fn=print_fn)

    def explanation(
        self, loss: Any = None, m: int | None = None, *, n_x: int | Shape | None = None
    ) -> Explanation:
        """What :meth:`explain` prints, as an object: ``str()`` is the text, and a
        notebook displays it as LaTeX."""
        return build_explanation(self, loss, m, n_x=n_x, layers=leaves(self))

    def explain_lines(self, tape: Tape, /) -> None:
        """Hook for :meth:`explain`: write this layer's lines onto ``tape``.

        The default names the layer generically; override it to describe a
        custom layer (see :mod:`minigrad.equations`). A container calls its
        children's ``explain_lines`` in the order data flows through them.
        """
        generic_lines(self, tape)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Self:
        """The layer that :meth:`config` describes (its child layers already built)."""
        return cls(**config)

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> None:
        """Raise ValueError or TypeError if ``config`` cannot build a layer of this class.

        A model file is checked with it before anything is built. The default
        has nothing to add to the check of the constructor's arguments.
        """

    def config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this layer (JSON-friendly; a container's
        hold its child layers)."""
        out: dict[str, Any] = {}
        for f in attrs.fields(type(self)):
            if f.init:
                value = getattr(self, f.name)
                out[f.alias or f.name] = str(value) if isinstance(value, np.dtype) else value
        return out

    def __repr__(self) -> str:
        parts = []
        for f in attrs.fields(type(self)):
            if not (f.init and f.repr):
                continue
            value = getattr(self, f.name)
            if f.default is not attrs.NOTHING and _same(value, f.default):
                continue
            shown = str(value) if isinstance(value, np.dtype) else repr(value)
            parts.append(f"{f.alias or f.name}={shown}")
        return f"{type(self).__name__}({', '.join(parts)})"

    # -- caches -------------------------------------------------------------

    def _cached(self, value: Array | None, name: str = "forward cache") -> Array:
        """Return a cached array, or say plainly that forward has not run yet."""
        if value is None:
            raise StateError(
                f"{self!r}: backward called before forward (no {name}); "
                "run forward on a batch first"
            )
        return value

    def _cache_names(self) -> list[str]:
        # a Parameter held in a public field (``alpha: Parameter = field(init=False)``)
        # is not a cache: astype must not clear it
        return [
            f.name
            for f in attrs.fields(type(self))
            if not f.init
            and f.name != "training"
            and not f.name.startswith("_")
            and not isinstance(getattr(self, f.name, None), Parameter)
        ]

    def _snapshot(self) -> dict[str, Any]:
        """The forward caches, so that a failed forward can put them back.

        A subclass written without attrs keeps its caches in ``__dict__``;
        that is saved too (a shallow copy).
        """
        saved = {name: getattr(self, name) for name in self._cache_names()}
        saved.update(getattr(self, "__dict__", {}))
        return saved

    def _restore(self, snapshot: dict[str, Any]) -> None:
        for name, value in snapshot.items():
            setattr(self, name, value)


def leaves(layer: Layer) -> list[Layer]:
    """Every layer under ``layer`` that is not a container, each once, in forward order."""
    return [leaf for _, leaf in indexed_leaves(layer)]


def indexed_leaves(layer: Layer, prefix: str = "") -> list[tuple[str, Layer]]:
    """``(index path, leaf)`` pairs in forward order, each leaf once: ``"2"``, or ``"1.0"``
    inside a nested container; ``""`` for a layer that is not a container."""
    out: list[tuple[str, Layer]] = []
    seen: set[int] = set()
    _walk(layer, prefix, out, seen)
    return out


def is_container(layer: Layer) -> bool:
    """Whether ``layer`` holds other layers (its class overrides ``children``), even if none now."""
    return type(layer).children is not Layer.children


def _walk(layer: Layer, prefix: str, out: list[tuple[str, Layer]], seen: set[int]) -> None:
    children = layer.named_children()
    if not is_container(layer):
        if id(layer) not in seen:
            seen.add(id(layer))
            out.append((prefix, layer))
        return
    for key, child in children:
        _walk(child, f"{prefix}.{key}" if prefix else key, out, seen)


def contains(container: Layer, target: Layer) -> bool:
    """Whether ``target`` is ``container`` itself or nested anywhere inside it."""
    return container is target or any(contains(c, target) for c in container.children())


def generators_of(layer: Layer) -> list[tuple[str, np.random.Generator]]:
    """``(attribute name, generator)`` for each numpy Generator a layer holds (dropout's)."""
    names = [n for klass in type(layer).__mro__ for n in _slot_names(klass)]
    names += list(getattr(layer, "__dict__", {}))
    found = [(n, getattr(layer, n, None)) for n in dict.fromkeys(names)]
    return [(n, g) for n, g in found if isinstance(g, np.random.Generator)]


def rewind_generators(layers: Iterable[Layer]) -> Callable[[], None]:
    """Note where the layers' generators stand; the returned function puts them back there.

    gradcheck rewinds before every evaluation so that dropout draws the same
    mask each time; fit's divergence diagnosis rewinds after replaying a batch.
    """
    saved = [
        (generator, copy.deepcopy(dict(generator.bit_generator.state)))
        for layer in layers
        for _, generator in generators_of(layer)
    ]

    def rewind() -> None:
        for generator, state in saved:
            generator.bit_generator.state = state

    return rewind


def _slot_names(klass: type) -> tuple[str, ...]:
    slots = vars(klass).get("__slots__", ())
    names = (slots,) if isinstance(slots, str) else tuple(slots)
    return tuple(n for n in names if n not in ("__dict__", "__weakref__"))


def _same(value: Any, default: Any) -> bool:
    try:
        if isinstance(value, np.dtype) or isinstance(default, np.dtype | type):
            return bool(np.dtype(value) == np.dtype(default))
        return bool(value == default)
    except (TypeError, ValueError):
        return False
