"""mg.Graph: random DAGs pass gradcheck and round-trip through save/load; a chain trains
like a Sequential bit for bit; bad wiring and bad input are clear errors that change
nothing; shared layers sum their gradients; containers nest; predict is thread-safe."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from attrs import define, field
from hypothesis import given, settings
from hypothesis import strategies as st
from typing_extensions import override

import minigrad as mg
from minigrad.layer import Node, leaves

SMOOTH: tuple[Callable[[], mg.Layer], ...] = (mg.Tanh, mg.Sigmoid, mg.SiLU, mg.Softplus)

# -- random graphs --------------------------------------------------------------------


@define
class RandomGraph:
    model: mg.Graph
    inputs: list[Array]
    kinds: set[str]


Array = np.ndarray[Any, np.dtype[np.float64]]


def random_graph(seed: int, m: int = 4) -> RandomGraph:
    """A random DAG of 1 to 3 inputs: dense blocks, merges, residuals, a shared Dense,
    nested containers; its outputs are the nodes no other node reads."""
    rng = np.random.default_rng(seed)
    n_inputs = int(rng.integers(1, 4))
    ins = [mg.Input(int(rng.integers(1, 5)), name=f"in{i}") for i in range(n_inputs)]
    pool: list[Node] = list(ins)
    dense_layers: list[mg.Dense] = []
    kinds: set[str] = set()
    k = 0

    def fresh_rng() -> int:
        nonlocal k
        k += 1
        return seed * 1000 + k

    def size(node: Node) -> int:
        assert node.shape is not None
        return node.shape[0]

    def dense(node: Node, n_out: int) -> Node:
        layer = mg.Dense(size(node), n_out, rng=fresh_rng())
        dense_layers.append(layer)
        act = SMOOTH[int(rng.integers(len(SMOOTH)))]()
        return act(layer(node))

    def to_size(node: Node, n: int) -> Node:
        return node if size(node) == n else dense(node, n)

    for _ in range(int(rng.integers(3, 8))):
        op = int(rng.integers(8))
        a = pool[int(rng.integers(len(pool)))]
        b = pool[int(rng.integers(len(pool)))]
        if op == 0:
            pool.append(dense(a, int(rng.integers(1, 5))))
        elif op in (1, 2) and a is not b:
            merge = mg.Add() if op == 1 else mg.Multiply()
            kinds.add(type(merge).__name__)
            pool.append(merge([a, to_size(b, size(a))]))
        elif op == 3 and a is not b:
            kinds.add("Concat")
            pool.append(mg.Concat()([a, b]))
        elif op == 4:
            n = size(a)
            block = mg.Sequential([mg.Dense(n, n, rng=fresh_rng()), mg.Tanh()])
            kinds.add("Residual")
            pool.append(mg.Residual(block)(a))
        elif op == 5:
            shared = [d for d in dense_layers if d.n_in == size(a)]
            if shared:
                kinds.add("shared")
                pool.append(mg.Tanh()(shared[int(rng.integers(len(shared)))](a)))
            else:
                pool.append(dense(a, size(a)))
        elif op == 6:
            kinds.add("Sequential node")
            n = size(a)
            pool.append(mg.Sequential([mg.Dense(n, 3, rng=fresh_rng()), mg.SiLU()])(a))
        else:
            kinds.add("Graph node")
            n = size(a)
            x = mg.Input(n)
            inner = mg.Add()([x, mg.Tanh()(mg.Dense(n, n, rng=fresh_rng())(x))])
            pool.append(mg.Graph(inputs=x, outputs=inner)(a))
    read = {id(source) for node in pool for source in node.inputs}
    outs = [node for node in pool if id(node) not in read]
    model = mg.Graph(inputs=ins, outputs=outs)
    data = np.random.default_rng(seed + 1)
    X = [data.normal(size=(size(x), m)) for x in ins]
    return RandomGraph(model, X, kinds)


def as_arg(X: list[Array]) -> Any:
    return X if len(X) > 1 else X[0]


@settings(max_examples=25, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000))
def test_random_graph_gradients_match_finite_differences(seed: int) -> None:
    g = random_graph(seed)
    result = mg.gradcheck(g.model, as_arg(g.inputs), tolerance=1e-7)
    assert result, f"{result}\n{g.model!r}"


def test_the_random_graphs_cover_every_kind_of_node() -> None:
    kinds: set[str] = set()
    outputs, inputs = set(), set()
    for seed in range(40):
        g = random_graph(seed)
        kinds |= g.kinds
        outputs.add(len(g.model.output_nodes))
        inputs.add(len(g.model.input_nodes))
    assert kinds >= {"Add", "Multiply", "Concat", "Residual", "shared", "Sequential node",
                     "Graph node"}
    assert {1, 2, 3} <= inputs and max(outputs) > 1


@settings(max_examples=10, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000))
def test_random_graph_round_trips_through_save_and_load(seed: int, tmp_path_factory:
                                                         pytest.TempPathFactory) -> None:
    g = random_graph(seed)
    path = tmp_path_factory.mktemp("graph") / "model.npz"
    mg.save(g.model, path)
    loaded = mg.load(path)
    assert isinstance(loaded, mg.Graph)
    assert loaded.input_names == g.model.input_names
    assert loaded.output_names == g.model.output_names
    before, after = g.model.predict(as_arg(g.inputs)), loaded.predict(as_arg(g.inputs))
    for A, B in zip(before if isinstance(before, list) else [before],
                    after if isinstance(after, list) else [after], strict=True):
        assert np.array_equal(A, B)
    assert len(loaded.parameters()) == len(g.model.parameters())


# -- a chain trains like a Sequential ---------------------------------------------------


def chain_layers() -> list[mg.Layer]:
    return [mg.Dense(2, 6, rng=0), mg.Tanh(), mg.Dense(6, 4, rng=1), mg.ReLU(),
            mg.Dense(4, 1, rng=2), mg.Sigmoid()]


@pytest.mark.parametrize("batch_size", [None, 7])
def test_a_chain_graph_trains_bit_for_bit_like_sequential(batch_size: int | None) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2, 30))
    Y = (X[0:1] * X[1:2] > 0).astype(np.float64)
    layers = chain_layers()
    seq = mg.Sequential(copy.deepcopy(layers))
    node = x = mg.Input(2)
    for layer in copy.deepcopy(layers):
        node = layer(node)
    graph = mg.Graph(inputs=x, outputs=node)
    histories = []
    for model in (seq, graph):
        opt = mg.optim.SGD(model.parameters(), lr=0.5)
        histories.append(mg.fit(model, X, Y, loss="binary_crossentropy", optimizer=opt,
                                epochs=5, batch_size=batch_size, seed=3, verbose=False))
    assert histories[0]["loss"] == histories[1]["loss"]
    for p, q in zip(seq.parameters(), graph.parameters(), strict=True):
        assert np.array_equal(p.value, q.value), p.name
    assert not np.array_equal(seq.parameters()[0].value, layers[0].parameters()[0].value)


# -- errors -----------------------------------------------------------------------------


def state_of(model: mg.Layer) -> list[Any]:
    """Every weight and every leaf's caches and mode, copied, to compare before and after."""
    weights = [p.value.copy() for p in model.parameters()]
    caches = [(leaf.training, {k: copy.copy(v) for k, v in leaf._snapshot().items()})
              for leaf in leaves(model)]
    return [weights, caches]


def same_state(a: list[Any], b: list[Any]) -> bool:
    if not all(np.array_equal(x, y) for x, y in zip(a[0], b[0], strict=True)):
        return False
    for (mode_a, cache_a), (mode_b, cache_b) in zip(a[1], b[1], strict=True):
        if mode_a != mode_b or cache_a.keys() != cache_b.keys():
            return False
        for key in cache_a:
            x, y = cache_a[key], cache_b[key]
            if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
                if not (isinstance(x, np.ndarray) and isinstance(y, np.ndarray)
                        and np.array_equal(x, y)):
                    return False
            elif x is not y and x != y:
                return False
    return True


def two_input_model() -> mg.Graph:
    x, z = mg.Input(2, name="x"), mg.Input(3, name="z")
    h = mg.Concat()([mg.Tanh()(mg.Dense(2, 2, rng=0)(x)), z])
    return mg.Graph(inputs=[x, z], outputs=mg.Dense(5, 1, rng=1)(h))


def test_an_output_that_needs_an_input_not_given_is_refused() -> None:
    x, stray = mg.Input(2, name="x"), mg.Input(2, name="stray")
    y = mg.Add()([mg.Dense(2, 2)(x), stray])
    with pytest.raises(mg.InputError, match=r"depends on the input <Node stray: Input.*"
                                            r"not among the graph's inputs"):
        mg.Graph(inputs=x, outputs=y)
    assert y.name is None  # nothing was named


def test_a_cycle_is_refused_naming_its_nodes() -> None:
    x = mg.Input(2, name="x")
    a = mg.Dense(2, 2)(x)
    a.name = "a"
    b = mg.Tanh()(a)
    b.name = "b"
    c = mg.Add()([b, x])
    object.__setattr__(a, "inputs", (c,))  # a now reads c, which reads b, which reads a
    with pytest.raises(mg.InputError, match=r"cycle: .*b -> .*a"):
        mg.Graph(inputs=x, outputs=c)


def test_an_input_that_reaches_no_output_is_refused() -> None:
    x, unused = mg.Input(2, name="x"), mg.Input(3, name="unused")
    with pytest.raises(mg.InputError, match=r"input <Node unused.*does not reach any output"):
        mg.Graph(inputs=[x, unused], outputs=mg.Dense(2, 1)(x))


def test_an_output_that_is_not_a_node_is_refused() -> None:
    x = mg.Input(2, name="x")
    with pytest.raises(TypeError, match=r"outputs\[1\] must be a node.*got Dense"):
        mg.Graph(inputs=x, outputs=[mg.Dense(2, 1)(x), mg.Dense(2, 1)])  # type: ignore[list-item]


def test_an_input_made_by_a_layer_is_refused() -> None:
    x = mg.Input(2, name="x")
    h = mg.Dense(2, 2)(x)
    with pytest.raises(mg.InputError, match=r"inputs\[0\] is .*Dense.*made with mg.Input"):
        mg.Graph(inputs=h, outputs=mg.Tanh()(h))


def test_merges_refuse_inputs_that_do_not_fit() -> None:
    a, b = mg.Input(3, name="a"), mg.Input(4, name="b")
    with pytest.raises(mg.ShapeError, match=r"Add\(\).*same shape.*\(3,\).*\(4,\)"):
        mg.Add()([a, b])
    with pytest.raises(mg.ShapeError, match=r"Multiply\(\).*same shape"):
        mg.Multiply()([a, b])
    left, right = mg.Input((2, 5, 5), name="left"), mg.Input((2, 6, 5), name="right")
    with pytest.raises(mg.ShapeError, match=r"Concat\(\).*every axis but the first.*"
                                            r"\(2, 5, 5\).*\(2, 6, 5\)"):
        mg.Concat()([left, right])
    assert mg.Concat()([left, mg.Input((3, 5, 5))]).shape == (5, 5, 5)
    with pytest.raises(mg.ShapeError, match=r"Add\(\).*inputs must have one shape.*A1 \(3, 2\)"):
        mg.Add().forward([np.ones((3, 2)), np.ones((4, 2))])


@pytest.mark.parametrize("merge", [mg.Add, mg.Multiply])
def test_an_elementwise_merge_checks_whatever_is_not_plain_floats_of_one_dtype(
    merge: type[mg.Merge],
) -> None:
    # the hot path takes float arrays of one dtype and shape; the rest gets the full check
    a32, b32 = np.full((2, 3), 2.0, np.float32), np.full((2, 3), 3.0, np.float32)
    assert merge().forward([a32, b32]).dtype == np.float32
    assert merge().forward([a32, b32.astype(np.float64)]).dtype == np.float64
    assert merge().forward([np.ones((2, 3), int), b32]).dtype == np.float64
    assert merge().forward((a32, b32)).shape == (2, 3)
    with pytest.raises(mg.ShapeError, match="empty batch"):
        merge().forward([np.ones((2, 0)), np.ones((2, 0))])
    with pytest.raises(mg.ShapeError, match="a single example is a column"):
        merge().forward([np.ones(3), np.ones(3)])
    with pytest.raises(mg.DTypeError, match="real numbers, got dtype bool"):
        merge().forward([a32, np.ones((2, 3), bool)])
    with pytest.raises(mg.ShapeError, match="a list of at least 2 arrays"):
        merge().forward([a32])
    with pytest.raises(mg.ShapeError, match="one shape"):
        merge().forward([a32, np.ones((2, 1, 3), np.float32)])


def test_a_layer_called_on_two_nodes_asks_for_a_merge() -> None:
    a, b = mg.Input(3, name="a"), mg.Input(3, name="b")
    with pytest.raises(mg.ShapeError, match=r"Dense\(n_in=3, n_out=2\) takes one input.*2 nodes"
                                            r".*mg.Add\(\), mg.Concat\(\) or mg.Multiply\(\)"):
        mg.Dense(3, 2)([a, b])


def test_forward_with_the_wrong_inputs_is_refused_and_changes_nothing() -> None:
    model = two_input_model()
    good = [np.ones((2, 4)), np.ones((3, 4))]
    model.forward(good)
    before = state_of(model)
    bad: list[tuple[Any, str]] = [
        ([np.ones((2, 4))], r"has 2 inputs \(x, z\).*got 1"),
        ([*good, np.ones((1, 4))], r"has 2 inputs \(x, z\).*got 3"),
        ({"x": good[0], "w": good[1]}, r"expected inputs named \['x', 'z'\], got \['w', 'x'\]"),
        (np.ones((2, 4)), r"has 2 inputs"),
        ([np.ones((2, 4)), np.ones((4, 4))], r"input 'z' takes examples of shape \(3,\)"),
        ([np.ones((2, 4)), np.ones((3, 5))], r"different numbers of examples"),
    ]
    for X, message in bad:
        with pytest.raises((mg.InputError, mg.ShapeError), match=message):
            model.forward(X)
        with pytest.raises((mg.InputError, mg.ShapeError), match=message):
            model.predict(X)
        assert same_state(before, state_of(model)), message


def test_fit_with_the_wrong_inputs_is_refused_and_changes_nothing() -> None:
    model = two_input_model()
    before = state_of(model)
    Y = np.zeros((1, 4))
    opt = mg.optim.SGD(model.parameters(), lr=0.1)
    bad: list[tuple[Any, str]] = [
        ([np.ones((2, 4))], r"2 inputs \(x, z\).*got a list of 1"),
        ({"x": np.ones((2, 4)), "w": np.ones((3, 4))},
         r"given for \['x', 'z'\], got \['w', 'x'\]"),
        ([np.ones((2, 4)), np.ones((3, 5))], r"x.*z|examples"),
    ]
    for X, message in bad:
        with pytest.raises((mg.InputError, mg.ShapeError), match=message):
            mg.fit(model, X, Y, loss="mse", optimizer=opt, epochs=1, verbose=False)
        assert same_state(before, state_of(model))


@define(eq=False, repr=False)
class Picky(mg.Layer):
    """A user's layer that refuses batches of 3 examples, but only once it runs."""

    @override
    def forward(self, A: Array) -> Array:
        if A.shape[-1] == 3:
            raise ValueError("Picky: no batches of 3")
        return A

    @override
    def backward(self, dA: Array) -> Array:
        return dA


def test_a_forward_that_fails_midway_leaves_a_shared_layers_caches_as_they_were() -> None:
    x = mg.Input(3, name="x")
    shared = mg.Dense(3, 3, rng=0)
    out = Picky()(shared(mg.Tanh()(shared(x))))
    model = mg.Graph(inputs=x, outputs=out)
    X, dA = np.random.default_rng(0).normal(size=(2, 3, 4))
    model.forward(X)
    model.backward(dA)
    expected = shared.dW.copy()
    model.forward(X)
    before = state_of(model)
    with pytest.raises(ValueError, match="no batches of 3") as info:
        model.forward(np.ones((3, 3)))
    assert any("at node 'picky'" in note for note in info.value.__notes__)
    assert same_state(before, state_of(model))
    model.backward(dA)  # the backward of the last forward that succeeded
    assert np.array_equal(shared.dW, expected)


def test_layers_of_different_dtypes_are_refused() -> None:
    x = mg.Input(2, name="x")
    a, b = mg.Dense(2, 2), mg.Dense(2, 2, dtype=np.float32)
    with pytest.raises(mg.DTypeError, match=r"float64 \(from Dense.*float32 \(from Dense.*"
                                            r"astype"):
        mg.Graph(inputs=x, outputs=mg.Add()([a(x), b(x)]))
    assert b.dtype == np.float32 and a.dtype == np.float64


def test_two_nodes_with_one_name_are_refused() -> None:
    x = mg.Input(2, name="x")
    h = mg.Dense(2, 2)(x)
    j = mg.Tanh()(h)
    j.name = "x"
    with pytest.raises(mg.InputError, match=r"two nodes are named 'x'"):
        mg.Graph(inputs=x, outputs=j)
    j.name = "twice"
    out = mg.Sigmoid()(j)
    out.name = "twice"
    with pytest.raises(mg.InputError, match=r"two nodes are named 'twice'"):
        mg.Graph(inputs=x, outputs=out)
    assert h.name is None  # refused before any node was named


def test_an_error_inside_backward_names_the_node() -> None:
    x = mg.Input(2, name="x")
    model = mg.Graph(inputs=x, outputs=mg.Tanh()(mg.Dense(2, 2)(x)))
    with pytest.raises(mg.StateError, match="backward called before forward") as info:
        model.backward(np.ones((2, 4)))  # no forward yet: the Tanh has no cache
    assert any("at node 'tanh'" in note for note in getattr(info.value, "__notes__", []))


# -- shared layers ----------------------------------------------------------------------


def shared_and_twin() -> tuple[mg.Graph, mg.Graph, mg.Dense, mg.Dense, mg.Dense]:
    """The same net twice: one Dense used at two nodes, and two Dense holding copies of it."""
    shared = mg.Dense(3, 3, rng=0)
    head = mg.Dense(3, 1, rng=1)

    def build(first: mg.Dense, second: mg.Dense, out: mg.Dense) -> mg.Graph:
        a, b = mg.Input(3, name="a"), mg.Input(3, name="b")
        h = mg.Tanh()(first(a))
        j = mg.Tanh()(second(mg.Tanh()(b)))
        return mg.Graph(inputs=[a, b], outputs=out(mg.Multiply()([h, j])))

    twin_a, twin_b = copy.deepcopy(shared), copy.deepcopy(shared)
    return (build(shared, shared, head), build(twin_a, twin_b, copy.deepcopy(head)),
            shared, twin_a, twin_b)


def test_a_shared_layers_gradient_is_the_sum_over_its_uses() -> None:
    model, twin, shared, twin_a, twin_b = shared_and_twin()
    rng = np.random.default_rng(2)
    X = [rng.normal(size=(3, 6)), rng.normal(size=(3, 6))]
    dA = rng.normal(size=(1, 6))
    assert np.array_equal(model.forward(X), twin.forward(X))
    dX, dX_twin = model.backward(dA), twin.backward(dA)
    assert np.allclose(shared.dW, twin_a.dW + twin_b.dW, rtol=1e-12, atol=0)
    assert np.allclose(shared.db, twin_a.db + twin_b.db, rtol=1e-12, atol=0)
    assert not np.allclose(twin_a.dW, twin_b.dW)  # both uses matter
    for d, e in zip(dX, dX_twin, strict=True):
        assert np.allclose(d, e, rtol=1e-12, atol=1e-15)
    assert mg.gradcheck(model, X)
    # input_grad=False sets the same parameter gradients
    dW = shared.dW.copy()
    model.forward(X)
    assert model.backward(dA, input_grad=False) is None
    assert np.allclose(shared.dW, dW, rtol=1e-12, atol=0)


def test_a_shared_layer_is_counted_once_and_marked_in_the_summary() -> None:
    model, twin, *_ = shared_and_twin()
    assert len(model.parameters()) == len(twin.parameters()) - 2
    assert model.n_parameters() == twin.n_parameters() - 12
    text = model.summary(print_fn=lambda _: None)
    assert text.count("(shared)") == 1
    assert "(shared)" not in twin.summary(print_fn=lambda _: None)
    assert f"Total parameters: {model.n_parameters():,}" in text


def test_a_shared_layer_trains_like_the_twin_with_summed_gradients() -> None:
    model, _, shared, *_ = shared_and_twin()
    rng = np.random.default_rng(3)
    X = [rng.normal(size=(3, 20)), rng.normal(size=(3, 20))]
    Y = rng.normal(size=(1, 20))
    W0 = shared.W.copy()
    out = model.forward(X)
    model.backward(out - Y)
    expected = W0 - 0.1 * shared.dW
    mg.optim.SGD(model.parameters(), lr=0.1).step()
    assert np.array_equal(shared.W, expected)


def test_a_shared_layer_is_still_shared_after_save_and_load(tmp_path: Path) -> None:
    model, *_ = shared_and_twin()
    mg.save(model, tmp_path / "siamese.npz")
    loaded = mg.load(tmp_path / "siamese.npz")
    assert isinstance(loaded, mg.Graph)
    uses = [n.layer for n in loaded.nodes if isinstance(n.layer, mg.Dense) and n.layer.n_out == 3]
    assert len(uses) == 2 and uses[0] is uses[1]
    rng = np.random.default_rng(4)
    X, dA = [rng.normal(size=(3, 5)), rng.normal(size=(3, 5))], rng.normal(size=(1, 5))
    for net in (model, loaded):
        net.forward(X)
        net.backward(dA)
    for p, q in zip(model.parameters(), loaded.parameters(), strict=True):
        assert np.array_equal(p.value, q.value) and np.array_equal(p.grad, q.grad)


def test_sequential_refuses_a_repeated_layer_or_a_copy_pointing_to_graph() -> None:
    dense = mg.Dense(2, 2, rng=0)
    with pytest.raises(ValueError, match=r"appears twice.*mg.Graph"):
        mg.Sequential([dense, mg.Tanh(), dense])
    with pytest.raises(ValueError, match=r"shares its weights.*mg.Graph"):
        mg.Sequential([dense, mg.Tanh(), copy.copy(dense)])
    mg.Sequential([dense, mg.Tanh(), copy.deepcopy(dense)])  # its own weights: fine


# -- nesting ----------------------------------------------------------------------------


def small_graph(n: int, seed: int) -> mg.Graph:
    x = mg.Input(n)
    h = mg.Tanh()(mg.Dense(n, n, rng=seed)(x))
    return mg.Graph(inputs=x, outputs=mg.Add()([x, mg.Sigmoid()(mg.Dense(n, n, rng=seed + 1)(h))]))


NESTED: dict[str, Callable[[], mg.Layer]] = {
    "Graph in Sequential": lambda: mg.Sequential(
        [mg.Dense(3, 4, rng=0), mg.Tanh(), small_graph(4, 1), mg.Dense(4, 2, rng=3)]),
    "Sequential as a node": lambda: _graph_of(
        mg.Sequential([mg.Dense(3, 4, rng=0), mg.Tanh(), mg.Dense(4, 3, rng=1)])),
    "Residual(Sequential)": lambda: mg.Sequential(
        [mg.Residual(mg.Sequential([mg.Dense(3, 3, rng=0), mg.Tanh()])), mg.Dense(3, 2, rng=1)]),
    "Residual(Graph)": lambda: mg.Sequential([mg.Residual(small_graph(3, 0)), mg.Sigmoid()]),
    "Graph in Graph in Sequential": lambda: mg.Sequential(
        [_graph_of(small_graph(3, 0)), mg.Dense(3, 3, rng=5), mg.BatchNorm(3),
         mg.Dropout(0.3, rng=0)]),
}


def _graph_of(layer: mg.Layer) -> mg.Graph:
    x = mg.Input(3)
    return mg.Graph(inputs=x, outputs=mg.Add()([x, layer(x)]))


@pytest.mark.parametrize("name", list(NESTED))
def test_nested_containers_pass_gradcheck(name: str) -> None:
    model = NESTED[name]()
    X = np.random.default_rng(0).normal(size=(3, 5))
    result = mg.gradcheck(model, X)
    assert result, str(result)
    assert result.n_checked > 0


@pytest.mark.parametrize("name", list(NESTED))
def test_predict_leaves_a_nested_model_exactly_as_it_was(name: str) -> None:
    model = NESTED[name]()
    X = np.random.default_rng(0).normal(size=(3, 5))
    model.forward(X)  # training caches to keep
    before = state_of(model)
    model.predict(X)
    assert same_state(before, state_of(model))
    assert all(leaf.training for leaf in leaves(model))


def test_four_threads_predicting_get_the_eval_result_and_change_nothing() -> None:
    model = NESTED["Graph in Graph in Sequential"]()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3, 64))
    opt = mg.optim.SGD(model.parameters(), lr=0.1)
    mg.fit(model, X, rng.normal(size=(3, 64)), loss="mse", optimizer=opt, epochs=2,
           batch_size=16, seed=0, verbose=False)  # running statistics that differ from a batch's
    model.forward(X)
    model.train()
    expected = copy.deepcopy(model).eval().forward(X)
    before = state_of(model)
    results: list[Array] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(20):
                results.append(model.predict(X))
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 80
    assert all(np.array_equal(r, expected) for r in results)
    assert not np.array_equal(expected, model.forward(X))  # train mode differs (dropout)
    model.forward(X)  # back to what forward cached before: predict changed nothing else
    after = state_of(model)
    assert all(np.array_equal(a, b) for a, b in zip(before[0], after[0], strict=True))
    assert all(leaf.training for leaf in leaves(model))


# -- the container protocol -------------------------------------------------------------


@mg.register(name="GraphTestGate")
@define(eq=False, repr=False)
class Gate(mg.Layer):
    """A user's own container: A = sigmoid(gate(X)) * body(X)."""

    gate: mg.Layer
    body: mg.Layer
    G: Array | None = field(default=None, init=False)
    B: Array | None = field(default=None, init=False)

    @override
    def children(self) -> list[mg.Layer]:
        return [self.gate, self.body]

    @override
    def forward(self, X: Array) -> Array:
        self.G = 1 / (1 + np.exp(-self.gate.forward(X)))
        self.B = self.body.forward(X)
        return self.G * self.B

    @override
    def forward_trace(self, X: Array) -> tuple[Any, list[tuple[mg.Layer, Any, Any]]]:
        Z, t1 = self.gate.forward_trace(X)
        self.G = 1 / (1 + np.exp(-Z))
        self.B, t2 = self.body.forward_trace(X)
        return self.G * self.B, t1 + t2

    @override
    def backward(self, dA: Array) -> Array:
        G, B = self._cached(self.G), self._cached(self.B)
        dX: Array = self.gate.backward(dA * B * G * (1 - G)) + self.body.backward(dA * G)
        return dX


def gate() -> Gate:
    return Gate(mg.Sequential([mg.Dense(3, 3, rng=0), mg.BatchNorm(3)]),
                mg.Sequential([mg.Dense(3, 3, rng=1), mg.Tanh()]))


def test_a_users_container_gets_the_container_protocol() -> None:
    layer = gate()
    assert len(layer.parameters()) == 6  # W, b, gamma, beta, W, b
    assert [name for name, _ in layer.named_parameters()][:2] == ["0.0.W", "0.0.b"]
    assert set(layer.buffers()) == {"0.1.running_mean", "0.1.running_var"}
    layer.eval()
    assert not any(leaf.training for leaf in leaves(layer))
    layer.train()
    layer.astype(np.float32)
    assert layer.dtype == np.float32 and all(p.value.dtype == np.float32
                                             for p in layer.parameters())
    layer.astype(np.float64)
    X = np.random.default_rng(0).normal(size=(3, 6))
    result = mg.gradcheck(layer, X)
    assert result, str(result)
    parts = {e.part for e in result.entries}
    assert any(p.startswith("layer 0.0 (Dense") for p in parts), parts
    assert any(p.startswith("model, layer 1.0") for p in parts), parts
    x = mg.Input(3)
    model = mg.Graph(inputs=x, outputs=mg.Add()([x, layer(x)]))
    assert mg.gradcheck(model, X)


def test_a_users_container_round_trips_through_save_and_load(tmp_path: Path) -> None:
    layer = gate()
    X = np.random.default_rng(0).normal(size=(3, 6))
    layer.forward(X)
    mg.save(layer, tmp_path / "gate.npz")
    loaded = mg.load(tmp_path / "gate.npz")
    assert isinstance(loaded, Gate)
    assert np.array_equal(loaded.predict(X), layer.predict(X))
    for name, array in layer.buffers().items():  # BatchNorm's running statistics too
        assert np.array_equal(loaded.buffers()[name], array)


def test_the_summary_shows_a_nested_container_on_one_line() -> None:
    model = NESTED["Sequential as a node"]()
    assert isinstance(model, mg.Graph)
    text = model.summary(print_fn=lambda _: None)
    assert "sequential  Sequential(...)  (3, m)" in text
    assert "sequential: Sequential(...) <- x" in repr(model)


def test_a_graph_on_images_concatenates_channels_and_passes_gradcheck() -> None:
    a, b = mg.Input((2, 3, 3), name="a"), mg.Input((1, 3, 3), name="b")
    c = mg.Concat()([mg.Tanh()(a), b])
    gated = mg.Multiply()([c, mg.Sigmoid()(c)])
    model = mg.Graph(inputs=[a, b], outputs=mg.Add()([gated, mg.Residual(mg.Tanh())(c)]))
    assert c.shape == (3, 3, 3) and model.output_nodes[0].shape == (3, 3, 3)
    rng = np.random.default_rng(0)
    X = [rng.normal(size=(2, 3, 3, 4)), rng.normal(size=(1, 3, 3, 4))]
    assert model.predict({"a": X[0], "b": X[1]}).shape == (3, 3, 3, 4)
    result = mg.gradcheck(model, X)
    assert result, str(result)
    with pytest.raises(mg.ShapeError, match=r"input 'b' takes examples of shape \(1, 3, 3\)"):
        model.forward([X[0], np.ones((1, 3, 4, 4))])


# -- fit with several inputs ------------------------------------------------------------


def two_input_data(m: int = 24) -> tuple[list[Array], Array]:
    rng = np.random.default_rng(5)
    X = [rng.normal(size=(2, m)), rng.normal(size=(3, m))]
    return X, np.tanh(X[0][:1] + X[1][1:2])


def test_fit_takes_several_inputs_as_a_list_or_a_dict_with_the_same_result() -> None:
    X, Y = two_input_data()
    models = [two_input_model(), two_input_model()]
    for model, inputs in zip(models, (X, {"z": X[1], "x": X[0]}), strict=True):
        mg.fit(model, inputs, Y, loss="mse", optimizer=mg.optim.SGD(model.parameters(), lr=0.1),
               epochs=4, batch_size=5, seed=1, verbose=False)
    for p, q in zip(models[0].parameters(), models[1].parameters(), strict=True):
        assert np.array_equal(p.value, q.value)
    assert not np.array_equal(models[0].parameters()[0].value,
                              two_input_model().parameters()[0].value)


def test_full_batch_fit_with_two_inputs_is_gradient_descent_on_the_graph() -> None:
    X, Y = two_input_data()
    model, by_hand = two_input_model(), two_input_model()
    history = mg.fit(model, X, Y, loss="mse", optimizer=mg.optim.SGD(model.parameters(), lr=0.1),
                     epochs=3, verbose=False)
    loss = mg.losses.MeanSquaredError()
    costs = []
    for _ in range(3):
        costs.append(loss.forward(by_hand.forward(X), Y))
        by_hand.backward(loss.backward())
        for p in by_hand.parameters():
            p.value -= 0.1 * p.grad
    np.testing.assert_allclose(history["loss"], costs, rtol=1e-12)
    for p, q in zip(model.parameters(), by_hand.parameters(), strict=True):
        np.testing.assert_allclose(p.value, q.value, rtol=1e-12, atol=1e-15)


def test_a_shared_container_with_batchnorm_and_a_shared_dropout_pass_gradcheck() -> None:
    rng = np.random.default_rng(0)
    encoder = mg.Sequential([mg.Dense(3, 4, rng=0), mg.BatchNorm(4), mg.Tanh()])
    a, b = mg.Input(3, name="a"), mg.Input(3, name="b")
    siamese = mg.Graph(inputs=[a, b], outputs=mg.Multiply()([encoder(a), encoder(b)]))
    result = mg.gradcheck(siamese, [rng.normal(size=(3, 6)), rng.normal(size=(3, 6))])
    assert result, str(result)
    dropout = mg.Dropout(0.5, rng=0)  # each use draws its own mask, kept for its backward
    h = mg.Tanh()(mg.Dense(3, 3, rng=1)(a))
    model = mg.Graph(inputs=a, outputs=mg.Add()([dropout(h), dropout(mg.Sigmoid()(h))]))
    result = mg.gradcheck(model, rng.normal(size=(3, 6)))
    assert result, str(result)


def two_output_model() -> mg.Graph:
    x = mg.Input(3, name="x")
    h = mg.Tanh()(mg.Dense(3, 4, rng=0)(x))
    value = mg.Dense(4, 1, rng=1)(h)
    value.name = "value"
    label = mg.Sigmoid()(mg.Dense(4, 1, rng=2)(h))
    label.name = "label"
    return mg.Graph(inputs=x, outputs=[value, label])


def test_fit_with_two_outputs_a_loss_each_and_loss_weights_is_gradient_descent() -> None:
    rng = np.random.default_rng(6)
    X = rng.normal(size=(3, 16))
    Y = [rng.normal(size=(1, 16)), (X[:1] > 0).astype(np.float64)]
    model, by_hand = two_output_model(), two_output_model()
    history = mg.fit(model, X, Y, loss=["mse", "bce"], loss_weights=[1.0, 0.5],
                     optimizer=mg.optim.SGD(model.parameters(), lr=0.2), epochs=3, verbose=False)
    mse, bce = mg.losses.MeanSquaredError(), mg.losses.BinaryCrossEntropy()
    costs = []
    for _ in range(3):
        value, label = by_hand.forward(X)
        costs.append(mse.forward(value, Y[0]) + 0.5 * bce.forward(label, Y[1]))
        by_hand.backward([mse.backward(), 0.5 * bce.backward()])
        for p in by_hand.parameters():
            p.value -= 0.2 * p.grad
    np.testing.assert_allclose(history["loss"], costs, rtol=1e-12)
    for p, q in zip(model.parameters(), by_hand.parameters(), strict=True):
        np.testing.assert_allclose(p.value, q.value, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("merge", [mg.Add, mg.Multiply, mg.Concat], ids=lambda c: c.__name__)
@pytest.mark.parametrize("m", [1, 5])
def test_each_merge_layer_passes_gradcheck_on_its_own(merge: type[mg.Merge], m: int) -> None:
    """Each input's gradient of a merge, checked against finite differences in float64."""
    rng = np.random.default_rng(m)
    rows = (3, 3, 3) if merge is not mg.Concat else (2, 3, 1)
    inputs = [rng.normal(size=(n, m)) for n in rows]
    report = mg.gradcheck(merge(), inputs)
    assert report.passed and report.n_checked == sum(rows) * m, str(report)
