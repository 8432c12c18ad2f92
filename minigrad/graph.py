"""Graph: layers wired as a directed acyclic graph; backprop is the chain rule on it.

Build it by calling layers on nodes, then name the ends::

    x = mg.Input(2, name="x")
    h = mg.Tanh()(mg.Dense(2, 8)(x))
    r = mg.Add()([h, mg.Tanh()(mg.Dense(8, 8)(h))])     # a residual connection
    model = mg.Graph(inputs=x, outputs=mg.Sigmoid()(mg.Dense(8, 1)(r)))

Forward visits the nodes in topological order, each layer on its inputs'
values. Backward visits them in reverse, and is the chain rule for a graph:

    dA_node = sum over the nodes c that read node of  (c's backward)(dA_c)

so where a node's output forks into several layers, **the gradients that
come back along the paths add** before flowing on: for ``r = h + f(h)``,
``dh = dr + (f's backward)(dr)``. A chain is the special case with one
path, where the sum has one term and this is Sequential's backward.

A layer object used at several nodes shares its weights. The graph keeps
what each use's forward cached and hands it back before that use's
backward; the parameter gradients are summed over the uses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Self

import numpy as np
from attrs import define, field
from typing_extensions import override

from minigrad._checks import as_float_batch
from minigrad._notebook import show_summary
from minigrad._typing import Array
from minigrad.equations import Tape, Var
from minigrad.errors import DTypeError, InputError, ShapeError
from minigrad.layer import Input, Layer, Node, Parameter, Shape, is_container, leaves

Structure = Any
"""An array, or a list of arrays (one per graph input or output)."""


class Step(NamedTuple):
    """One node's work, worked out once when the graph is built.

    Values and gradients are kept in lists by node position, so that a step
    reads its inputs by index: ``sources`` are the positions of the nodes it
    reads.
    """

    position: int
    layer: Layer
    sources: tuple[int, ...]
    shared: bool  # the layer is used at several nodes (its caches are swapped per use)
    reads_data: bool  # every source is a graph input: its input gradient is the data's dX


@define(eq=False, repr=False, init=False)
class Graph(Layer):
    """A model whose layers form a directed acyclic graph of nodes; itself a Layer.

    Args:
        inputs: the input node (``mg.Input``), or a list of them.
        outputs: the output node, or a list of them.

    With several inputs, ``forward`` takes a list of arrays in the order of
    ``inputs`` (or a dict by input name); with several outputs it returns a
    list. ``backward`` takes and returns the same structures.

    >>> import minigrad as mg
    >>> x = mg.Input(2, name="x")
    >>> h = mg.Tanh()(mg.Dense(2, 3, rng=0)(x))
    >>> model = mg.Graph(inputs=x, outputs=mg.Add()([h, mg.Dense(3, 3, rng=1)(h)]))
    >>> [node.name for node in model.nodes]
    ['x', 'dense', 'tanh', 'dense_1', 'add']
    """

    nodes: tuple[Node, ...] = field(factory=tuple)
    input_nodes: tuple[Node, ...] = field(factory=tuple)
    output_nodes: tuple[Node, ...] = field(factory=tuple)
    _layers: tuple[Layer, ...] = field(factory=tuple)
    # the layers used at several nodes, held as objects, not ids, so that a copy
    # (copy.deepcopy in gradcheck, pickle) refers to its own copies of them
    _shared: tuple[Layer, ...] = field(factory=tuple)
    _use_caches: dict[int, list[dict[str, Any]]] = field(factory=dict, repr=False)  # by position
    _check_caches: bool = field(default=False)
    _plan: tuple[Step, ...] = field(factory=tuple, repr=False)  # the layer nodes, in order
    _outputs_at: tuple[int, ...] = field(factory=tuple, repr=False)  # the output nodes' positions

    def __init__(self, inputs: Node | Sequence[Node], outputs: Node | Sequence[Node]) -> None:
        ins = _node_list(inputs, "inputs")
        outs = _node_list(outputs, "outputs")
        nodes = _topological(ins, outs)
        _name_nodes(nodes)
        layers: list[Layer] = []
        uses: dict[int, int] = {}
        for node in nodes:
            if node.layer is None:
                continue
            if id(node.layer) not in uses:
                layers.append(node.layer)
            uses[id(node.layer)] = uses.get(id(node.layer), 0) + 1
        _check_dtypes(layers)
        position = {id(node): i for i, node in enumerate(nodes)}
        plan = tuple(
            Step(i, node.layer, tuple(position[id(s)] for s in node.inputs),
                 uses[id(node.layer)] > 1, all(s.layer is None for s in node.inputs))
            for i, node in enumerate(nodes) if node.layer is not None
        )
        self.__attrs_init__(
            tuple(nodes), tuple(ins), tuple(outs), tuple(layers),
            tuple(layer for layer in layers if uses[id(layer)] > 1), {},
            not all(_validates_first(leaf) for leaf in leaves_of(layers)), plan,
            tuple(position[id(node)] for node in outs),
        )

    # -- container --------------------------------------------------------------

    @override
    def children(self) -> list[Layer]:
        return list(self._layers)

    @override
    def explain_lines(self, tape: Tape) -> None:
        """Each node's layer writes its lines on its inputs' quantities, in graph order.

        ``tape.currents`` holds the graph's inputs (in ``input_nodes`` order) and,
        after, its outputs. The tape adds up the gradients where a node feeds several.
        """
        values = dict(zip((id(node) for node in self.input_nodes), tape.currents, strict=True))
        for node in self.nodes:
            if node.layer is not None:
                tape.currents = tuple(values[id(source)] for source in node.inputs)
                node.layer.explain_lines(tape)
                values[id(node)] = tape.current
        tape.currents = tuple(values[id(node)] for node in self.output_nodes)

    def explain_inputs(self) -> list[Var]:
        """The inputs ``model.explain()`` starts from: named and shaped as the Input nodes."""
        return [Var(str(node.name), node.shape) for node in self.input_nodes]

    @override
    def named_children(self) -> list[tuple[str, Layer]]:
        """Each layer once, keyed by the name of the first node that uses it."""
        seen: set[int] = set()
        out = []
        for node in self.nodes:
            if node.layer is not None and id(node.layer) not in seen:
                seen.add(id(node.layer))
                out.append((str(node.name), node.layer))
        return out

    @property
    def input_names(self) -> list[str]:
        return [str(node.name) for node in self.input_nodes]

    @property
    def output_names(self) -> list[str]:
        return [str(node.name) for node in self.output_nodes]

    def node(self, name: str) -> Node:
        """The node called ``name``."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"Graph has no node {name!r}; its nodes are "
                       + ", ".join(str(n.name) for n in self.nodes))

    # -- the Layer contract -------------------------------------------------------

    @override
    def forward(self, X: Structure) -> Structure:
        return self._run(X, train=True)

    @override
    def infer(self, X: Structure) -> Structure:
        return self._run(X, train=False)

    @override
    def forward_trace(self, X: Structure) -> tuple[Any, list[tuple[Layer, Any, Any]]]:
        trace: list[tuple[Layer, Any, Any]] = []
        return self._run(X, train=True, trace=trace), trace

    def _run(
        self, X: Structure, *, train: bool, trace: list[tuple[Layer, Any, Any]] | None = None
    ) -> Structure:
        """Each node's layer on its inputs' values, in topological order."""
        values: list[Any] = self.bind_inputs(X)  # by node position: the inputs come first
        values += [None] * len(self._plan)
        snapshot = (
            [(leaf, leaf._snapshot()) for leaf in leaves(self)]
            if train and self._check_caches else None
        )
        previous = self._use_caches  # put back if this forward fails
        if train:
            self._use_caches = {}
        step = None
        try:
            for step in self._plan:
                position, layer, sources = step.position, step.layer, step.sources
                A_in = values[sources[0]] if len(sources) == 1 else [values[i] for i in sources]
                if trace is not None:
                    values[position], inner = layer.forward_trace(A_in)
                    trace += inner
                elif train:
                    values[position] = layer.forward(A_in)
                else:
                    values[position] = layer.infer(A_in)
                if train and step.shared:
                    self._use_caches[position] = [x._snapshot() for x in leaves(layer)]
        except Exception as err:
            if snapshot is not None:
                for leaf, saved in snapshot:
                    leaf._restore(saved)
            self._use_caches = previous
            err.add_note(self._where(step))
            raise
        outputs = [values[i] for i in self._outputs_at]
        return outputs[0] if len(outputs) == 1 else outputs

    @override
    def backward(self, dA: Structure, *, input_grad: bool = True) -> Structure:
        """Run the output gradients back through the nodes; return the inputs' gradients.

        ``grads[k]`` collects the gradient of the loss with respect to the
        output of node k. A node read by several layers receives one term from
        each: *gradients add where paths fork*. With ``input_grad=False`` the
        layers that read only graph inputs set their parameter gradients and
        skip the input gradient (the data's dX, which training never uses);
        None is returned.
        """
        grads: list[Array | None] = [None] * len(self.nodes)  # by node position
        for position, d_out in zip(self._outputs_at, self._bind_grads(dA), strict=True):
            grads[position] = _added(grads[position], d_out)
        done: set[int] = set()  # shared layers whose gradients are already set once
        step = None
        try:
            for step in reversed(self._plan):
                position, layer, sources = step.position, step.layer, step.sources
                d = grads[position]
                if d is None:  # no output depends on this use (the data's dX was skipped)
                    continue
                grads[position] = None  # used once: let it go
                earlier = self._restore_use(step, done) if step.shared else None
                if step.reads_data and not input_grad:
                    layer.backward_params(d)
                elif len(sources) == 1:
                    grads[sources[0]] = _added(grads[sources[0]], layer.backward(d))
                else:  # a merge: one gradient per input
                    for source, d_source in zip(sources, layer.backward(d), strict=True):
                        grads[source] = _added(grads[source], d_source)
                if earlier is not None:
                    _accumulate(layer.parameters(), earlier)
        except Exception as err:
            err.add_note(self._where(step))
            raise
        if not input_grad:
            return None
        dX = [grads[i] for i in range(len(self.input_nodes))]  # every input reaches an output
        return dX[0] if len(dX) == 1 else dX

    def _restore_use(self, step: Step, done: set[int]) -> list[Array] | None:
        """Put back what a shared layer cached at this use; its gradients from later uses."""
        layer = step.layer
        if step.position not in self._use_caches:
            layer._cached(None)  # a StateError: backward before forward
        for leaf, saved in zip(leaves(layer), self._use_caches[step.position], strict=True):
            leaf._restore(saved)
        earlier = [p.grad.copy() for p in layer.parameters()] if id(layer) in done else None
        done.add(id(layer))
        return earlier

    @override
    def backward_params(self, dA: Structure) -> None:
        self.backward(dA, input_grad=False)

    @override
    def output_shape(self, shape: Shape | None) -> Shape | None:
        if len(self.input_nodes) != 1 or len(self.output_nodes) != 1:
            raise ShapeError(
                f"{self._short()}: has {len(self.input_nodes)} inputs and "
                f"{len(self.output_nodes)} outputs; only a graph with one of each is a layer "
                "in a chain"
            )
        expected = self.input_nodes[0].shape
        if shape is not None and expected is not None and shape != expected:
            raise ShapeError(
                f"{self._short()}: input {self.input_names[0]!r} takes examples of shape "
                f"{expected}, got {shape}"
            )
        return self.output_nodes[0].shape

    @override
    def node_shape(self, shapes: Sequence[Shape | None]) -> Shape | None:
        if len(shapes) != len(self.input_nodes):
            raise ShapeError(f"{self._short()}: takes {len(self.input_nodes)} inputs, "
                             f"got {len(shapes)}")
        for node, shape in zip(self.input_nodes, shapes, strict=True):
            if shape is not None and node.shape is not None and shape != node.shape:
                raise ShapeError(f"{self._short()}: input {node.name!r} takes examples of "
                                 f"shape {node.shape}, got {shape}")
        if len(self.output_nodes) != 1:
            raise ShapeError(f"{self._short()}: has {len(self.output_nodes)} outputs; "
                             "a node holds one")
        return self.output_nodes[0].shape

    @override
    def output_size(self, n_in: int | None) -> int | None:
        shape = self.output_shape(None if n_in is None else (n_in,))
        return shape[0] if shape is not None and len(shape) == 1 else None

    @override
    def config(self) -> dict[str, Any]:
        """The wiring as plain data, and the layers (each once) that the nodes refer to."""
        index = {id(layer): i for i, layer in enumerate(self._layers)}
        return {
            "inputs": [{"name": n.name, "shape": list(n.shape or ())} for n in self.input_nodes],
            "nodes": [
                {"name": n.name, "layer": index[id(n.layer)], "inputs": [s.name for s in n.inputs]}
                for n in self.nodes if n.layer is not None
            ],
            "outputs": self.output_names,
            "layers": list(self._layers),
        }

    @classmethod
    @override
    def check_config(cls, config: dict[str, Any]) -> None:
        """The wiring refers only to nodes defined before it and to layers that exist."""
        if set(config) != {"inputs", "nodes", "outputs", "layers"}:
            raise ValueError(
                f"expected the keys inputs, nodes, outputs, layers; got {sorted(config)}"
            )
        layers, known = config["layers"], set[str]()
        if not isinstance(layers, list):
            raise TypeError("layers must be a list")
        for entry in _entries(config["inputs"], "inputs", {"name", "shape"}):
            shape = entry["shape"]
            if not isinstance(shape, list) or not all(
                    isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape):
                raise ValueError(f"input {entry['name']!r}: shape must be a list of positive "
                                 f"ints, got {shape!r}")
            known.add(_name(entry["name"], known))
        for entry in _entries(config["nodes"], "nodes", {"name", "layer", "inputs"}):
            k = entry["layer"]
            if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < len(layers):
                raise ValueError(f"node {entry['name']!r}: layer must index the {len(layers)} "
                                 f"layers, got {k!r}")
            sources = entry["inputs"]
            if not isinstance(sources, list) or not sources or any(s not in known for s in sources):
                raise ValueError(f"node {entry['name']!r}: inputs must name nodes defined before "
                                 f"it, got {sources!r}")
            known.add(_name(entry["name"], known))
        outputs = config["outputs"]
        if not isinstance(outputs, list) or not outputs or any(o not in known for o in outputs):
            raise ValueError(f"outputs must name nodes, got {outputs!r}")

    @classmethod
    @override
    def from_config(cls, config: dict[str, Any]) -> Self:
        """Rebuild a graph from :meth:`config` (with its layers already built)."""
        layers = config["layers"]
        made: dict[str, Node] = {}
        inputs = []
        for entry in config["inputs"]:
            node = Input(tuple(entry["shape"]), name=entry["name"])
            made[entry["name"]] = node
            inputs.append(node)
        for entry in config["nodes"]:
            sources = [made[name] for name in entry["inputs"]]
            node = layers[entry["layer"]](sources[0] if len(sources) == 1 else sources)
            node.name = entry["name"]
            made[entry["name"]] = node
        return cls(inputs, [made[name] for name in config["outputs"]])


    # -- inputs and outputs -------------------------------------------------------

    def bind_inputs(self, X: Structure) -> list[Array]:
        """The arrays for the input nodes, checked against their shapes, in their order."""
        if len(self.input_nodes) == 1 and X.__class__ is np.ndarray and X.dtype.kind == "f" \
                and X.shape[:-1] == self.input_nodes[0].shape and X.shape[-1]:
            return [X]  # one input, already right: the common case costs one comparison each
        names = self.input_names
        if isinstance(X, Mapping):
            if set(X) != set(names):
                raise InputError(
                    f"{self._short()}: expected inputs named {names}, got {sorted(map(str, X))}"
                )
            arrays = [X[name] for name in names]
        elif isinstance(X, list | tuple):
            arrays = list(X)
        else:
            arrays = [X]
        if len(arrays) != len(names):
            raise InputError(
                f"{self._short()}: has {len(names)} inputs ({', '.join(names)}); pass a list of "
                f"{len(names)} arrays or a dict by name, got {len(arrays)}"
            )
        checked = []
        for node, array in zip(self.input_nodes, arrays, strict=True):
            A = as_float_batch(_Named(self), array, None, f"input {node.name!r}")
            if node.shape is not None and A.shape[:-1] != node.shape:
                hint = ""
                if A.ndim == 2 and len(node.shape) == 1 and A.shape[1] == node.shape[0]:
                    hint = "\nExamples are columns; did you pass X instead of X.T?"
                raise ShapeError(
                    f"{self._short()}: input {node.name!r} takes examples of shape {node.shape}, "
                    f"so an array of shape {(*node.shape, 'm')}; got {A.shape}{hint}"
                )
            checked.append(A)
        if len({A.shape[-1] for A in checked}) > 1:
            raise ShapeError(
                f"{self._short()}: the inputs hold different numbers of examples: "
                + ", ".join(f"{n} {A.shape}" for n, A in zip(names, checked, strict=True))
            )
        return checked

    def _bind_grads(self, dA: Structure) -> list[Array]:
        names = self.output_names
        if isinstance(dA, Mapping):
            if set(dA) != set(names):
                raise InputError(f"{self._short()}: expected gradients for the outputs {names}, "
                                 f"got {sorted(map(str, dA))}")
            grads = [dA[name] for name in names]
        elif len(names) > 1:
            if not isinstance(dA, list | tuple) or len(dA) != len(names):
                raise InputError(f"{self._short()}: has {len(names)} outputs ({', '.join(names)}); "
                                 f"backward takes a list of {len(names)} gradients")
            grads = list(dA)
        else:
            grads = [dA]
        return grads

    # -- printing -------------------------------------------------------------------

    def _short(self) -> str:
        return (f"Graph(inputs={self.input_names}, outputs={self.output_names}, "
                f"{len(self.nodes)} nodes)")

    def __repr__(self) -> str:
        lines = [f"  {_describe(node)}" for node in self.nodes]
        return "Graph(\n" + "\n".join(lines) + "\n)"

    def _where(self, step: Step | None) -> str:
        if step is None:
            return f"(in {self._short()})"
        node = self.nodes[step.position]
        return f"(at node {node.name!r} of {self._short()}: {_describe(node)})"

    def summary(self, *, print_fn: Any = print) -> str:
        """Print and return a table of nodes: layer, output shape, parameters, inputs.

        In a notebook (IPython), with the default ``print_fn``, the table shows as
        HTML; ``print_fn=None`` only returns it.
        """
        rows = [("Node", "Layer", "Output shape", "Params", "Connected to")]
        counted: set[int] = set()
        for node in self.nodes:
            shape = "?, m" if node.shape is None else ", ".join(map(str, node.shape)) + ", m"
            if node.layer is None:
                rows.append((str(node.name), "Input", f"({shape})", "0", ""))
                continue
            n = node.layer.n_parameters()
            shown = f"{n:,}" if id(node.layer) not in counted else f"(shared) {n:,}"
            counted.add(id(node.layer))
            rows.append((str(node.name), _one_line(node.layer), f"({shape})", shown,
                         ", ".join(str(s.name) for s in node.inputs)))
        widths = [max(len(r[c]) for r in rows) for c in range(5)]
        fmt = "  ".join(f"{{:{a}{w}}}" for a, w in zip("<<<><", widths, strict=True))
        rule = "-" * (sum(widths) + 8)
        lines = [fmt.format(*rows[0]), rule, *(fmt.format(*r).rstrip() for r in rows[1:]), rule,
                 f"Total parameters: {self.n_parameters():,}"]
        return show_summary(lines, rows[0], rows[1:], print_fn)


# -- helpers --------------------------------------------------------------------------


class _Named:
    """Names a graph in an input check's message, made only if the check fails."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph

    def __repr__(self) -> str:
        return self.graph._short()


def _added(total: Array | None, d: Array) -> Array:
    """Gradients add where paths fork: a second path's term is summed in (never in place,
    since a layer may hand the same array to several inputs, as Add does)."""
    return d if total is None else total + d


def _accumulate(params: list[Parameter], earlier: list[Array]) -> None:
    """A shared layer's parameter gradients: this use's plus the uses already run."""
    for p, grad in zip(params, earlier, strict=True):
        p.grad += grad


def _node_list(value: Any, what: str) -> list[Node]:
    items = list(value) if isinstance(value, list | tuple) else [value]
    if not items:
        raise InputError(f"Graph: {what} must name at least one node")
    for i, item in enumerate(items):
        if not isinstance(item, Node):
            raise TypeError(
                f"Graph: {what}[{i}] must be a node (from mg.Input(...) or calling a layer on a "
                f"node), got {type(item).__name__}"
            )
    if len({id(n) for n in items}) != len(items):
        raise InputError(f"Graph: {what} lists a node twice")
    return items


def _topological(inputs: list[Node], outputs: list[Node]) -> list[Node]:
    """Every node the outputs depend on, each after its inputs (depth-first, post-order).

    Refuses a cycle, a path that reaches an Input not among ``inputs``, an
    input that is not an Input node, and an input no output depends on.
    """
    for i, node in enumerate(inputs):
        if node.layer is not None:
            raise InputError(
                f"Graph: inputs[{i}] is {node!r}, the output of a layer; graph inputs are "
                "made with mg.Input(...)"
            )
    declared = {id(n) for n in inputs}
    order: list[Node] = []
    state: dict[int, int] = {}  # 1: being visited, 2: done
    for output in outputs:
        stack: list[tuple[Node, int]] = [(output, 0)]
        path: list[Node] = []
        while stack:
            node, i = stack.pop()
            if i == 0:
                if state.get(id(node)) == 2:
                    continue
                if state.get(id(node)) == 1:
                    cycle = " -> ".join(str(n.name or n) for n in [*path, node])
                    raise InputError(f"Graph: the nodes form a cycle: {cycle}")
                state[id(node)] = 1
                path.append(node)
                if node.layer is None and id(node) not in declared:
                    raise InputError(
                        f"Graph: output {output!r} depends on the input {node!r}, which is not "
                        "among the graph's inputs; add it to inputs=[...]"
                    )
            if i < len(node.inputs):
                stack.append((node, i + 1))
                stack.append((node.inputs[i], 0))
            else:
                state[id(node)] = 2
                path.pop()
                order.append(node)
    for node in inputs:
        if state.get(id(node)) != 2:
            raise InputError(
                f"Graph: the input {node!r} does not reach any output; remove it from inputs or "
                "connect it"
            )
    # inputs first, in the order given; then the rest in dependency order
    rest = [n for n in order if n.layer is not None]
    return [*inputs, *rest]


def _name_nodes(nodes: list[Node]) -> None:
    """Give unnamed nodes unique names: the layer's class in lower case, numbered."""
    names = [n.name for n in nodes if n.name is not None]
    for name in names:  # checked before any node is named, so that an error changes nothing
        if names.count(name) > 1:
            raise InputError(f"Graph: two nodes are named {name!r}")
    taken = set(names)
    for node in nodes:
        if node.name is not None:
            continue
        base = "x" if node.layer is None else type(node.layer).__name__.lower()
        name, k = base, 0
        while name in taken:
            k += 1
            name = f"{base}_{k}"
        taken.add(name)
        node.name = name


def _check_dtypes(layers: list[Layer]) -> None:
    dtypes = {str(layer.dtype): layer for layer in layers if layer.dtype is not None}
    if len(dtypes) > 1:
        found = ", ".join(f"{d} (from {layer!r})" for d, layer in dtypes.items())
        raise DTypeError(
            f"Graph: layers have different dtypes: {found}; convert them with .astype(dtype)"
        )


def leaves_of(layers: Sequence[Layer]) -> list[Layer]:
    return [leaf for layer in layers for leaf in leaves(layer)]


def _validates_first(layer: Layer) -> bool:
    """Built-in layers check their input before touching any state."""
    return type(layer).__module__.startswith("minigrad.") and not is_container(layer)


def _one_line(layer: Layer) -> str:
    """A layer's repr on one line: a container's spans several, so it is shortened."""
    lines = repr(layer).splitlines()
    return lines[0] if len(lines) == 1 else f"{type(layer).__name__}(...)"


def _describe(node: Node) -> str:
    if node.layer is None:
        shape = "?" if node.shape is None else ", ".join(map(str, node.shape))
        return f"{node.name}: Input ({shape}, m)"
    sources = ", ".join(str(s.name) for s in node.inputs)
    return f"{node.name}: {_one_line(node.layer)} <- {sources}"


def _entries(value: Any, what: str, keys: set[str]) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(e, dict) and set(e) == keys
                                              for e in value):
        raise ValueError(f"{what} must be a list of objects with keys {sorted(keys)}")
    return value


def _name(name: Any, known: set[str]) -> str:
    if not isinstance(name, str) or not name or name in known:
        raise ValueError(f"node names must be distinct non-empty strings, got {name!r}")
    return name
