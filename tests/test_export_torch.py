"""mg.export.to_torch and mg.from_torch: the same weights, the same outputs, training on.

Needs PyTorch (``pip install 'minigrad[torch]'``, ``pip install torch==2.13.0`` for the CPU
build); skipped without it, since the ``test`` extra leaves it out (it is large).
Tolerances: 1e-6 in float32 and 1e-12 in float64, relative to the largest output.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ACTIVATIONS

import minigrad as mg
from minigrad.export.torch import FROM_TORCH_CONVERTERS, TORCH_CONVERTERS

torch = pytest.importorskip(
    "torch", reason="mg.export.to_torch needs PyTorch: pip install 'minigrad[torch]' "
    "(torch==2.13.0 for the CPU build); the test extra leaves it out because it is large"
)
nn = torch.nn

TOLERANCE = {np.float32: 1e-6, np.float64: 1e-12}
DTYPES = [np.float32, np.float64]


def assert_close(actual: Any, expected: np.ndarray, dtype: Any) -> None:
    got = actual.detach().numpy() if hasattr(actual, "detach") else actual
    assert got.dtype == np.dtype(dtype)
    scale = float(np.abs(expected).max()) or 1.0
    tol = TOLERANCE[dtype]
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * scale)


def rows(X: np.ndarray) -> Any:
    return torch.from_numpy(np.ascontiguousarray(X.T))


def trained_batchnorm(n: int, seed: int) -> mg.BatchNorm:
    bn = mg.BatchNorm(n, momentum=0.5)
    rng = np.random.default_rng(seed)
    for _ in range(3):
        bn.forward(rng.normal(2.0, 3.0, size=(n, 16)))
    bn.gamma[...] = rng.uniform(0.5, 2.0, size=(n, 1))
    bn.beta[...] = rng.normal(size=(n, 1))
    return bn


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_every_activation_matches(name: str, dtype: Any) -> None:
    model = mg.Sequential([mg.Dense(4, 6, rng=0), ACTIVATIONS[name]()]).astype(dtype)
    model[0].W[...] *= 3.0
    X = (np.random.default_rng(1).normal(size=(4, 64)) * 2.0).astype(dtype)
    module = mg.export.to_torch(model)
    assert isinstance(module, nn.Sequential)
    with torch.no_grad():
        assert_close(module.eval()(rows(X)), model.predict(X).T, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_dense_batchnorm_dropout_and_the_round_trip(dtype: Any) -> None:
    model = mg.Sequential([
        mg.Dense(5, 8, rng=0), trained_batchnorm(8, 1), mg.ReLU(),
        mg.Sequential([mg.Dropout(0.25, rng=2), mg.Dense(8, 3, rng=3)]), mg.Softmax(),
    ]).astype(dtype)
    X = np.random.default_rng(4).normal(size=(5, 21)).astype(dtype)
    module = mg.export.to_torch(model)
    assert [type(m).__name__ for m in module] == [
        "Linear", "BatchNorm1d", "ReLU", "Sequential", "Softmax"]
    assert module.training  # the model's mode
    module.eval()
    with torch.no_grad():
        assert_close(module(rows(X)), model.predict(X).T, dtype)
    back = mg.from_torch(module)
    assert not back.training
    assert repr(back) == repr(model)
    np.testing.assert_array_equal(back.predict(X), model.predict(X))  # the same weights exactly


def test_weights_are_copied_not_shared() -> None:
    model = mg.Sequential([mg.Dense(2, 2, rng=0)])
    module = mg.export.to_torch(model)
    with torch.no_grad():
        module[0].weight.zero_()
    assert np.abs(model[0].W).sum() > 0


def test_batchnorm_training_mode_agrees_with_pytorch() -> None:
    # the normalization, the unbiased running variance and the momentum all match
    bn = trained_batchnorm(4, 0)
    module = mg.export.to_torch(mg.Sequential([bn]))[0]
    X = np.random.default_rng(1).normal(1.0, 2.0, size=(4, 10))
    assert_close(module.train()(rows(X)), bn.forward(X).T, np.float64)
    assert_close(module.running_mean, bn.running_mean[:, 0], np.float64)
    assert_close(module.running_var, bn.running_var[:, 0], np.float64)


def test_the_gradients_pytorch_computes_are_minigrads() -> None:
    # the converted net trains on in PyTorch: one backward there gives minigrad's dW, db
    mg.seed(0)
    model = mg.Sequential([mg.Dense(3, 5), mg.GELU(), mg.Dense(5, 4), mg.Softmax()])
    rng = np.random.default_rng(0)
    X, labels = rng.normal(size=(3, 16)), rng.integers(0, 4, size=16)
    module = mg.export.to_torch(model)
    loss = mg.losses.CategoricalCrossEntropy()
    loss.forward(model.forward(X), labels)
    model.backward(loss.backward())
    cost = nn.functional.nll_loss(torch.log(module(rows(X))), torch.from_numpy(labels))
    cost.backward()
    for dense, linear in ((model[0], module[0]), (model[2], module[2])):
        assert_close(linear.weight.grad, dense.dW, np.float64)
        assert_close(linear.bias.grad, dense.db[:, 0], np.float64)


def test_distributed_data_parallel_trains_it(tmp_path: Path) -> None:
    dist = torch.distributed
    if not dist.is_available():
        pytest.skip("this PyTorch build has no torch.distributed")
    model = mg.Sequential([mg.Dense(3, 8, rng=0), mg.Tanh(), mg.Dense(8, 1, rng=1)])
    module = mg.export.to_torch(model)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}",
                            rank=0, world_size=1)
    try:
        ddp = nn.parallel.DistributedDataParallel(module)
        optimizer = torch.optim.SGD(ddp.parameters(), lr=0.1)
        rng = np.random.default_rng(0)
        X = torch.from_numpy(rng.normal(size=(64, 3)))
        y = X.sum(dim=1, keepdim=True)
        losses = []
        for _ in range(20):
            optimizer.zero_grad()
            cost = nn.functional.mse_loss(ddp(X), y)
            cost.backward()
            optimizer.step()
            losses.append(float(cost.detach()))
    finally:
        dist.destroy_process_group()
    assert losses[-1] < 0.5 * losses[0]
    back = mg.from_torch(module)  # and the trained weights come back to minigrad
    with torch.no_grad():
        assert_close(module(X), back.predict(X.numpy().T).T, np.float64)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")
def test_on_a_gpu() -> None:
    model = mg.Sequential([mg.Dense(3, 8, rng=0), mg.ReLU(), mg.Dense(8, 2, rng=1)])
    X = np.random.default_rng(0).normal(size=(3, 10))
    module = mg.export.to_torch(model).cuda()
    with torch.no_grad():
        out = module(rows(X).cuda()).cpu()
    assert_close(out, model.predict(X).T, np.float64)


# -- from_torch -------------------------------------------------------------------------


def test_from_torch_builds_a_sequential_with_the_weights() -> None:
    torch.manual_seed(0)
    module = nn.Sequential(
        nn.Linear(4, 6), nn.LeakyReLU(0.2), nn.Linear(6, 6, bias=False), nn.BatchNorm1d(6),
        nn.Sequential(nn.ELU(0.5), nn.Dropout(0.1), nn.Linear(6, 3)), nn.Hardtanh(-2.0, 0.5),
        nn.Linear(3, 2), nn.Softmax(dim=1),
    ).double()
    module.train()
    module(torch.randn(32, 4, dtype=torch.float64))  # running statistics that are not 0 and 1
    module.eval()
    model = mg.from_torch(module)
    assert repr(model).splitlines()[1:4] == [
        "  (0) Dense(n_in=4, n_out=6)", "  (1) LeakyReLU(alpha=0.2)",
        "  (2) Dense(n_in=6, n_out=6)"]
    X = np.random.default_rng(0).normal(size=(4, 9))
    with torch.no_grad():
        assert_close(module(rows(X)), model.predict(X).T, np.float64)


def test_from_torch_keeps_float32() -> None:
    module = nn.Sequential(nn.Linear(2, 3), nn.Sigmoid())
    model = mg.from_torch(module)
    assert model.dtype == np.float32
    X = np.random.default_rng(0).normal(size=(2, 5)).astype(np.float32)
    with torch.no_grad():
        assert_close(module(rows(X)), model.predict(X).T, np.float32)


def test_from_torch_names_the_first_unsupported_submodule() -> None:
    module = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU(), nn.Conv1d(1, 1, 1)),
                           nn.LSTM(3, 3))
    with pytest.raises(mg.ExportError, match=r"cannot convert submodule '1\.1' Conv1d\(.*\): "
                       "minigrad has no equivalent of Conv1d"):
        mg.from_torch(module)


@pytest.mark.parametrize(("module", "message"), [
    (nn.Softplus(beta=2.0), "beta=2.0; minigrad's Softplus has beta 1"),
    (nn.Softmax(dim=0), "dim=0; minigrad's Softmax is over the class axis, dim=1"),
    (nn.BatchNorm1d(3, momentum=None), "momentum=None"),
    (nn.Linear(2, 2).half(), "weights of dtype float16"),
])
def test_from_torch_refuses_what_differs(module: Any, message: str) -> None:
    with pytest.raises(mg.ExportError, match=message.replace("(", r"\(")):
        mg.from_torch(nn.Sequential(nn.Identity(), module))


class Scale(mg.Layer):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, A_prev: np.ndarray) -> np.ndarray:
        return self.factor * A_prev

    def backward(self, dA: np.ndarray) -> np.ndarray:
        return self.factor * dA


class TorchScale(nn.Module):  # type: ignore[misc]
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: Any) -> Any:
        return self.factor * x


@pytest.fixture
def registered_scale() -> Iterator[None]:
    mg.export.register_torch(Scale)(lambda layer: TorchScale(layer.factor))
    mg.export.register_from_torch(TorchScale)(lambda module: Scale(module.factor))
    yield
    del TORCH_CONVERTERS.table[Scale]
    del FROM_TORCH_CONVERTERS.table[TorchScale]


def test_a_users_layer_converts_both_ways_through_the_hooks(registered_scale: None) -> None:
    model = mg.Sequential([mg.Dense(2, 3, rng=0), Scale(-2.0), mg.Tanh()])
    module = mg.export.to_torch(model)
    X = np.random.default_rng(0).normal(size=(2, 4))
    with torch.no_grad():
        assert_close(module(rows(X)), model.predict(X).T, np.float64)
    np.testing.assert_array_equal(mg.from_torch(module).predict(X), model.predict(X))


def test_an_unknown_layer_is_named_by_to_torch() -> None:
    with pytest.raises(mg.ExportError, match=r"to_torch: cannot convert Scale\(\) \(at 1\): no "
                       r"PyTorch converter for Scale.*register_torch\(Scale\)"):
        mg.export.to_torch(mg.Sequential([mg.Dense(2, 2, rng=0), Scale(1.0)]))


def test_missing_torch_says_which_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match=r"to_torch needs the 'torch' package.*"
                       r"pip install 'minigrad\[torch\]'"):
        mg.export.to_torch(mg.Sequential([mg.Dense(2, 1, rng=0)]))


# -- graphs (issue 9's Graph; skipped on a minigrad without it) ----------------------------

needs_graph = pytest.mark.skipif(not hasattr(mg, "Graph"), reason="this minigrad has no Graph yet")


@needs_graph
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_a_graph_runs_the_same_nodes_and_comes_back(dtype: Any, tmp_path: Path) -> None:
    x = mg.Input(3, name="x")
    t = mg.Input(2, name="t")
    shared = mg.Dense(3, 4, rng=1)
    h1 = mg.Tanh()(shared(x))
    h2 = mg.GELU()(mg.Dense(2, 4, rng=2)(t))
    prod = mg.Multiply()([mg.Add()([h1, h2]), mg.Sigmoid()(shared(x))])
    res = mg.Residual(mg.Sequential([mg.Dense(4, 4, rng=3), mg.ReLU()]))(prod)
    y = mg.Softmax()(mg.Dense(8, 3, rng=4)(mg.Concat()([h1, h2])))
    z = mg.Dense(4, 1, rng=5)(res)
    graph = mg.Graph(inputs=[x, t], outputs=[y, z]).astype(dtype)
    rng = np.random.default_rng(0)
    X, T = rng.normal(size=(3, 7)).astype(dtype), rng.normal(size=(2, 7)).astype(dtype)
    module = mg.export.to_torch(graph).eval()
    expected = graph.predict([X, T])
    with torch.no_grad():
        got = module(rows(X), rows(T))
    for out, ref in zip(got, expected, strict=True):
        assert_close(out, ref.T, dtype)
    assert sum(1 for m in module.layers if isinstance(m, nn.Linear)) == 4  # shared: one module
    torch.save(module, tmp_path / "graph.pt")
    back = mg.from_torch(module)
    for out, ref in zip(back.predict([X, T]), expected, strict=True):
        np.testing.assert_array_equal(out, ref)


# -- image layers (the conv branch; skipped on a minigrad without them) --------------------

needs_images = pytest.mark.skipif(not hasattr(mg, "Conv2D"),
                                  reason="this minigrad has no image layers yet")


def images(X: np.ndarray) -> Any:
    return torch.from_numpy(np.ascontiguousarray(X.transpose(3, 0, 1, 2)))


@needs_images
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # PyTorch's note
def test_a_convolutional_net_both_ways(dtype: Any) -> None:
    bn = mg.BatchNorm(4, momentum=0.5)
    rng = np.random.default_rng(0)
    for _ in range(3):
        bn.forward(rng.normal(1.0, 2.0, size=(4, 8, 8, 5)))
    model = mg.Sequential([
        mg.Conv2D(1, 4, 3, padding="same", rng=1), bn, mg.ReLU(), mg.MaxPool2D(2),
        mg.Conv2D(4, 6, 2, padding="same", rng=2), mg.Tanh(), mg.AvgPool2D(2), mg.Flatten(),
        mg.Dense(24, 3, rng=3), mg.Softmax(),
    ]).astype(dtype).eval()
    X = rng.normal(size=(1, 8, 8, 6)).astype(dtype)
    module = mg.export.to_torch(model)
    assert [type(m).__name__ for m in module] == [
        "Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Conv2d", "Tanh", "AvgPool2d", "Flatten",
        "Linear", "Softmax"]
    with torch.no_grad():
        assert_close(module(images(X)), model.predict(X).T, dtype)
    back = mg.from_torch(module)
    np.testing.assert_array_equal(back.predict(X), model.predict(X))


@needs_images
def test_from_torch_reads_a_pytorch_cnn() -> None:
    torch.manual_seed(0)
    module = nn.Sequential(
        nn.Conv2d(2, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.Conv2d(4, 4, (3, 1), padding="same", bias=False), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(4, 2),
    ).double()
    module(torch.randn(8, 2, 9, 9, dtype=torch.float64))  # running statistics
    module.eval()
    model = mg.from_torch(module)
    assert [type(x).__name__ for x in model.layers] == [
        "Conv2D", "BatchNorm", "ReLU", "Conv2D", "GlobalAvgPool2D", "Dense"]
    X = np.random.default_rng(0).normal(size=(2, 9, 9, 5))
    with torch.no_grad():
        assert_close(module(images(X)), model.predict(X).T, np.float64)


@needs_images
def test_from_torch_refuses_dilation() -> None:
    with pytest.raises(mg.ExportError, match=r"submodule .0.*dilation=1"):
        mg.from_torch(nn.Sequential(nn.Conv2d(1, 1, 3, dilation=2)))


@needs_graph
@pytest.mark.parametrize("seed", range(6))
def test_random_graphs_both_ways(seed: int) -> None:
    rng = np.random.default_rng(seed)
    names = [n for n in ACTIVATIONS if n != "Softmax"]
    x = mg.Input(4, name="x")
    nodes = [x]
    shared = mg.Dense(4, 4, rng=int(rng.integers(1000)))
    for _ in range(int(rng.integers(2, 6))):
        picks = rng.choice(len(nodes), size=min(len(nodes), 2), replace=False)
        dense = shared if rng.random() < 0.3 else mg.Dense(4, 4, rng=int(rng.integers(1000)))
        a = ACTIVATIONS[str(rng.choice(names))]()(dense(nodes[int(picks[0])]))
        if len(picks) > 1 and rng.random() < 0.6:
            merge = [mg.Add(), mg.Multiply()][int(rng.integers(2))]
            a = merge([a, nodes[int(picks[1])]])
        nodes.append(a)
    graph = mg.Graph(inputs=x, outputs=[nodes[-1], nodes[-2]])
    X = rng.normal(size=(4, 10))
    module = mg.export.to_torch(graph)
    expected = graph.predict(X)
    with torch.no_grad():
        for out, ref in zip(module(rows(X)), expected, strict=True):
            assert_close(out, ref.T, np.float64)
    for out, ref in zip(mg.from_torch(module).predict(X), expected, strict=True):
        np.testing.assert_array_equal(out, ref)
