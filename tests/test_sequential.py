"""Sequential: the container, the chain rule through it, its checks and its errors."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import normal

import minigrad as mg


def _net() -> mg.Sequential:
    return mg.Sequential(
        [mg.Dense(2, 4, rng=0), mg.Tanh(), mg.Dense(4, 3, rng=1), mg.ReLU(), mg.Dense(3, 1, rng=2),
         mg.Sigmoid()]
    )


# -- the container ------------------------------------------------------------------


def test_len_indexing_iteration() -> None:
    layers = [mg.Dense(2, 4, rng=0), mg.Tanh(), mg.Dense(4, 1, rng=1)]
    net = mg.Sequential(layers)
    assert len(net) == 3
    assert net[0] is layers[0] and net[-1] is layers[2]
    assert list(net) == layers
    assert net.layers == tuple(layers)
    with pytest.raises(IndexError):
        net[3]


def test_slicing_gives_a_sequential_of_the_same_layers() -> None:
    net = _net()
    head = net[:2]
    assert isinstance(head, mg.Sequential)
    assert list(head) == list(net)[:2]
    X = normal(0, (2, 5))
    np.testing.assert_array_equal(head.forward(X), np.tanh(net[0].forward(X)))


def test_layers_as_separate_arguments() -> None:
    first, second = mg.Dense(2, 3, rng=0), mg.ReLU()
    assert list(mg.Sequential(first, second)) == [first, second]
    assert len(mg.Sequential()) == 0


def test_append_checks_and_returns_the_container() -> None:
    net = mg.Sequential([mg.Dense(2, 4, rng=0)])
    out = net.append(mg.Tanh()).append(mg.Dense(4, 1, rng=1))
    assert out is net
    assert len(net) == 3
    assert net.forward(normal(1, (2, 3))).shape == (1, 3)


def test_append_refuses_what_is_not_a_layer() -> None:
    net = mg.Sequential([mg.Dense(2, 2, rng=0)])
    with pytest.raises(TypeError, match="Sequential: layer 1 must be a minigrad Layer, got str"):
        net.append("relu")  # type: ignore[arg-type]
    assert len(net) == 1


def test_forward_and_backward_are_the_chain_of_layers() -> None:
    net = _net()
    X, dA = normal(2, (2, 6)), normal(3, (1, 6))
    A = net.forward(X)
    dX = net.backward(dA)
    grads = [p.grad.copy() for p in net.parameters()]
    # the same steps by hand, on a copy of the weights
    twin = _net()
    out = X
    for layer in twin:
        out = layer.forward(out)
    grad = dA
    for layer in reversed(list(twin)):
        grad = layer.backward(grad)
    np.testing.assert_array_equal(A, out)
    np.testing.assert_array_equal(dX, grad)
    for got, p in zip(grads, twin.parameters(), strict=True):
        np.testing.assert_array_equal(got, p.grad)


def test_nested_containers_behave_like_the_flat_stack() -> None:
    flat = _net()
    nested = mg.Sequential([
        mg.Sequential([mg.Dense(2, 4, rng=0), mg.Tanh()]),
        mg.Sequential([mg.Dense(4, 3, rng=1), mg.Sequential([mg.ReLU()])]),
        mg.Dense(3, 1, rng=2), mg.Sigmoid(),
    ])
    X, dA = normal(4, (2, 5)), normal(5, (1, 5))
    np.testing.assert_array_equal(nested.forward(X), flat.forward(X))
    np.testing.assert_array_equal(nested.backward(dA), flat.backward(dA))
    for p, q in zip(nested.parameters(), flat.parameters(), strict=True):
        np.testing.assert_array_equal(p.grad, q.grad)
    assert mg.gradcheck(nested, X)


def test_repr() -> None:
    net = mg.Sequential([mg.Dense(2, 4), mg.LeakyReLU(0.2),
                         mg.Sequential([mg.Dense(4, 1), mg.Sigmoid()])])
    assert repr(net) == (
        "Sequential([\n"
        "  (0) Dense(n_in=2, n_out=4)\n"
        "  (1) LeakyReLU(alpha=0.2)\n"
        "  (2) Sequential([\n"
        "    (0) Dense(n_in=4, n_out=1)\n"
        "    (1) Sigmoid()\n"
        "  ])\n"
        "])"
    )
    assert repr(mg.Sequential()) == "Sequential([])"


def test_parameters_in_order_and_named() -> None:
    net = mg.Sequential([mg.Dense(2, 4, rng=0), mg.Tanh(),
                         mg.Sequential([mg.Dense(4, 3, rng=1), mg.Dense(3, 1, rng=2)])])
    dense = [net[0], net[2][0], net[2][1]]  # type: ignore[index]
    expected = [p for layer in dense for p in layer.parameters()]
    params = net.parameters()
    assert len(params) == 6
    assert all(p is q for p, q in zip(params, expected, strict=True))
    named = net.named_parameters()
    assert [name for name, _ in named] == ["0.W", "0.b", "2.0.W", "2.0.b", "2.1.W", "2.1.b"]
    assert all(p is q for (_, p), q in zip(named, params, strict=True))
    assert net.n_parameters() == (8 + 4) + (12 + 3) + (3 + 1)


def test_summary_table() -> None:
    net = mg.Sequential([mg.Dense(2, 4), mg.Tanh(), mg.Dense(4, 1), mg.Sigmoid()])
    printed: list[str] = []
    text = net.summary(2, print_fn=printed.append)
    assert printed == [text]
    lines = text.splitlines()
    assert lines[0].split() == ["#", "Layer", "Output", "shape", "Params"]
    assert set(lines[1]) == {"-"}
    rows = [line.split("  ") for line in lines[2:6]]
    cells = [[cell.strip() for cell in row if cell.strip()] for row in rows]
    assert cells == [
        ["0", "Dense(n_in=2, n_out=4)", "(4, m)", "12"],
        ["1", "Tanh()", "(4, m)", "0"],
        ["2", "Dense(n_in=4, n_out=1)", "(1, m)", "5"],
        ["3", "Sigmoid()", "(1, m)", "0"],
    ]
    assert lines[-1] == "Total parameters: 17"


def test_summary_of_a_wide_net_groups_thousands() -> None:
    net = mg.Sequential([mg.Dense(784, 128), mg.ReLU(), mg.Dense(128, 10)])
    text = net.summary(784, print_fn=lambda _: None)
    assert "100,480" in text and "1,290" in text
    assert text.splitlines()[-1] == "Total parameters: 101,770"


def test_dtype_and_output_size() -> None:
    net = _net()
    assert net.dtype == np.float64
    assert net.output_size(2) == 1
    assert mg.Sequential([mg.Tanh()]).dtype is None


# -- checks at construction ------------------------------------------------------------


def test_layers_that_do_not_chain_are_refused_on_construction() -> None:
    with pytest.raises(mg.ShapeError) as info:
        mg.Sequential([mg.Dense(2, 4), mg.Dense(5, 1)])
    message = str(info.value)
    assert message.startswith(
        "Sequential: layer 1 Dense(n_in=5, n_out=1) does not fit after layer 0 "
        "Dense(n_in=2, n_out=4), which gives 4 rows"
    )
    # activations in between do not hide the mismatch
    with pytest.raises(mg.ShapeError, match=r"layer 2 Dense.* after layer 0"):
        mg.Sequential([mg.Dense(2, 4), mg.ReLU(), mg.Dense(3, 1)])


def test_a_failed_append_leaves_the_container_as_it_was() -> None:
    net = mg.Sequential([mg.Dense(2, 4, rng=0), mg.Tanh()])
    with pytest.raises(mg.ShapeError, match="does not fit"):
        net.append(mg.Dense(5, 1))
    assert len(net) == 2
    assert net.forward(normal(6, (2, 3))).shape == (4, 3)


def test_the_same_layer_twice_is_refused() -> None:
    dense = mg.Dense(3, 3)
    with pytest.raises(ValueError, match=r"Dense\(n_in=3, n_out=3\) appears twice"):
        mg.Sequential([dense, mg.Tanh(), dense])
    tanh = mg.Tanh()
    inner = mg.Sequential([mg.Dense(3, 3), tanh])
    with pytest.raises(ValueError, match=r"Tanh\(\) appears twice"):
        mg.Sequential([inner, mg.Dense(3, 3), tanh])
    with pytest.raises(ValueError, match="appears twice"):
        mg.Sequential([inner, inner])


def test_a_container_cannot_be_put_inside_itself() -> None:
    net = mg.Sequential()
    with pytest.raises(ValueError, match="cannot append a container to itself"):
        net.append(net)
    inner = mg.Sequential()
    outer = mg.Sequential([mg.Dense(2, 2), inner])
    with pytest.raises(ValueError, match="cannot append a container to itself"):
        inner.append(outer)
    assert len(inner) == 0


def test_mixed_dtypes_are_refused() -> None:
    with pytest.raises(mg.DTypeError) as info:
        mg.Sequential([mg.Dense(2, 4), mg.Tanh(), mg.Dense(4, 1, dtype=np.float32)])
    assert isinstance(info.value, TypeError) and isinstance(info.value, ValueError)
    assert "float64 (from layer 0), float32 (from layer 2)" in str(info.value)
    assert "astype" in str(info.value)


# -- modes ---------------------------------------------------------------------------


def test_train_and_eval_reach_every_layer() -> None:
    net = mg.Sequential([mg.Dense(2, 2), mg.Sequential([mg.Tanh(), mg.Dense(2, 1)])])
    everything = [net, net[0], net[1], net[1][0], net[1][1]]  # type: ignore[index]
    assert all(layer.training for layer in everything)
    assert net.eval() is net
    assert not any(layer.training for layer in everything)
    assert net.train() is net
    assert all(layer.training for layer in everything)
    net.train(False)
    assert not any(layer.training for layer in everything)


def test_predict_computes_in_eval_mode_and_leaves_the_model_as_it_was() -> None:
    net = mg.Sequential([mg.Dense(2, 4, rng=0), mg.Dropout(0.5, rng=1), mg.BatchNorm(4),
                         mg.Tanh()])
    X = normal(7, (2, 6))
    net.forward(X)  # training caches and running statistics as after a step
    caches = [(leaf, leaf._snapshot()) for leaf in mg.layer.leaves(net)]
    stats = {k: v.copy() for k, v in net.buffers().items()}
    A = net.predict(normal(8, (2, 3)))
    assert net.training and all(leaf.training for leaf in net)
    for leaf, saved in caches:
        assert all(getattr(leaf, k) is v for k, v in saved.items()), leaf
    for k, v in net.buffers().items():
        np.testing.assert_array_equal(v, stats[k])
    net.eval()
    np.testing.assert_array_equal(A, net.forward(normal(8, (2, 3))))
    net.train()
    with pytest.raises(mg.ShapeError):
        net.predict(np.ones((3, 3)))
    assert net.training and net[1].training


# -- astype ------------------------------------------------------------------------------


def test_astype_converts_the_whole_model() -> None:
    net = _net()
    X = normal(8, (2, 4))
    A64 = net.forward(X)
    assert net.astype(np.float32) is net
    assert net.dtype == np.float32
    for layer in net:
        if isinstance(layer, mg.Dense):
            assert layer.dtype == np.float32
            W, b = layer.parameters()
            assert layer.W is W.value and layer.b is b.value
            assert W.grad.dtype == b.grad.dtype == np.float32
            assert repr(layer).endswith("dtype=float32)")
    A32 = net.forward(X.astype(np.float32))
    assert A32.dtype == np.float32
    np.testing.assert_allclose(A32, A64, rtol=1e-5)
    # the converted W is still the one forward uses
    first = net[0]
    assert isinstance(first, mg.Dense)
    first.W[...] = 0.0
    first.b[...] = 0.0
    np.testing.assert_array_equal(net[:2].forward(X.astype(np.float32)), 0.0)


def test_astype_clears_the_caches() -> None:
    net = _net()
    net.forward(normal(9, (2, 3)))
    net.astype(np.float32)
    with pytest.raises(mg.StateError, match="backward called before forward"):
        net.backward(np.ones((1, 3), dtype=np.float32))


def test_astype_refuses_non_float_types() -> None:
    net = _net()
    with pytest.raises(TypeError, match="dtype must be a float type"):
        net.astype(np.int64)
    assert net.dtype == np.float64


# -- errors name the position ----------------------------------------------------------


def test_forward_error_names_the_layer_and_its_index() -> None:
    net = _net()
    with pytest.raises(mg.ShapeError) as info:
        net.forward(np.ones((5, 2)))
    assert str(info.value) == (
        "Dense(n_in=2, n_out=4): expected A_prev of shape (2, m), got (5, 2).\n"
        "Examples are columns; did you pass X instead of X.T?"
    )
    assert info.value.__notes__ == ["(in layer 0 of 6 in Sequential: Dense(n_in=2, n_out=4))"]


def test_nested_error_notes_give_the_path() -> None:
    inner = mg.Sequential([mg.Tanh(), mg.Dense(3, 2)])
    net = mg.Sequential([mg.Sigmoid(), inner])
    with pytest.raises(mg.ShapeError, match=r"expected A_prev of shape \(3, m\)") as info:
        net.forward(np.ones((4, 2)))
    inner_note, outer_note = info.value.__notes__
    assert inner_note == "(in layer 1 of 2 in Sequential: Dense(n_in=3, n_out=2))"
    assert outer_note.startswith("(in layer 1 of 2 in Sequential: Sequential")


def test_backward_errors_name_the_layer_and_its_index() -> None:
    net = _net()
    with pytest.raises(mg.StateError, match="backward called before forward") as info:
        net.backward(np.ones((1, 3)))
    assert info.value.__notes__ == ["(in layer 5 of 6 in Sequential: Sigmoid())"]
    net.forward(normal(10, (2, 3)))
    with pytest.raises(mg.ShapeError, match=r"expected dA of shape \(1, 3\) like A, got \(3, 1\)"):
        net.backward(np.ones((3, 1)))


# -- a failing forward changes nothing ---------------------------------------------------


def _caches(net: mg.Layer) -> list[tuple[mg.Layer, str, object]]:
    found = []
    for layer in net if isinstance(net, mg.Sequential) else [net]:
        if isinstance(layer, mg.Sequential):
            found += _caches(layer)
            continue
        for name in ("A_prev", "Z", "A", "X"):
            if hasattr(layer, name):
                found.append((layer, name, getattr(layer, name)))
    return found


def _assert_caches(saved: list[tuple[mg.Layer, str, object]]) -> None:
    for layer, name, value in saved:
        assert getattr(layer, name) is value, f"{layer!r}.{name} changed"


@pytest.mark.parametrize(
    "bad", [np.ones((5, 3)), np.ones(2), np.ones((2, 3, 1)), np.ones((2, 0)), np.ones((2, 3), bool)]
)
def test_failing_forward_leaves_every_cache_and_weight(bad: np.ndarray) -> None:
    net = _net()
    net.forward(normal(11, (2, 3)))
    saved = _caches(net)
    weights = [(p.value, p.value.copy()) for p in net.parameters()]
    with pytest.raises(ValueError):
        net.forward(bad)
    _assert_caches(saved)
    for p, (array, copy) in zip(net.parameters(), weights, strict=True):
        assert p.value is array
        np.testing.assert_array_equal(array, copy)


def test_failing_forward_after_an_activation_first_restores_its_cache() -> None:
    net = mg.Sequential([mg.Tanh(), mg.Dense(4, 3, rng=0), mg.ReLU()])
    net.forward(normal(12, (4, 2)))
    saved = _caches(net)
    with pytest.raises(mg.ShapeError, match=r"expected A_prev of shape \(4, m\), got \(5, 2\)"):
        net.forward(np.ones((5, 2)))  # Tanh accepts it, the Dense after it does not
    _assert_caches(saved)


class Flaky(mg.Layer):
    """A custom layer that caches, then fails on batches of odd size (written as a plain class)."""

    def __init__(self) -> None:
        super().__init__()
        self.X: np.ndarray | None = None

    def forward(self, A_prev: np.ndarray) -> np.ndarray:
        self.X = A_prev
        if A_prev.shape[1] % 2:
            raise ValueError("Flaky: odd batch")
        return A_prev

    def backward(self, dA: np.ndarray) -> np.ndarray:
        return dA


def test_custom_layer_failing_mid_stack_restores_the_earlier_caches() -> None:
    net = mg.Sequential([mg.Dense(2, 3, rng=0), mg.Tanh(), Flaky(), mg.Dense(3, 1, rng=1)])
    net.forward(normal(13, (2, 4)))
    saved = _caches(net)
    with pytest.raises(ValueError, match="Flaky: odd batch") as info:
        net.forward(normal(14, (2, 5)))
    assert info.value.__notes__ == ["(in layer 2 of 4 in Sequential: Flaky())"]
    _assert_caches(saved)  # Flaky's own cache too: the container restores it


def test_a_plain_custom_layer_before_the_failure_is_restored() -> None:
    net = mg.Sequential([Flaky(), mg.Dense(2, 3, rng=0)])
    net.forward(normal(15, (2, 4)))
    saved = _caches(net)
    with pytest.raises(mg.ShapeError):
        net.forward(np.ones((3, 4)))
    _assert_caches(saved)
