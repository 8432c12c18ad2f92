"""mg.export.to_onnx: ONNX Runtime's outputs equal model.predict, batch-first.

Needs onnx and onnxruntime (``pip install 'minigrad[onnx]'``, part of the ``test`` extra);
skipped without them. Tolerances: float32 to 1e-5 and float64 to 1e-12, relative to the
largest output (an entry near 0 is compared at the output's scale).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ACTIVATIONS

import minigrad as mg
from minigrad.export.onnx import ONNX_CONVERTERS

onnx = pytest.importorskip(
    "onnx", reason="mg.export.to_onnx needs onnx: pip install 'minigrad[onnx]'"
)
ort = pytest.importorskip(
    "onnxruntime", reason="running exported models needs onnxruntime: pip install 'minigrad[onnx]'"
)

TOLERANCE = {np.float32: 1e-5, np.float64: 1e-12}
DTYPES = [np.float32, np.float64]


def run_onnx(proto: Any, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    outputs: list[np.ndarray] = session.run(None, inputs)
    return outputs


def assert_close(actual: np.ndarray, expected: np.ndarray, dtype: Any) -> None:
    assert actual.dtype == np.dtype(dtype)
    scale = float(np.abs(expected).max()) or 1.0
    tol = TOLERANCE[dtype]
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * scale)


def check(model: mg.Layer, X: np.ndarray, dtype: Any, **kwargs: Any) -> Any:
    """Export, check, run; compare with model.predict (X has examples as columns)."""
    model.astype(dtype)
    X = X.astype(dtype)
    proto = mg.export.to_onnx(model, **kwargs)
    onnx.checker.check_model(proto, full_check=True)
    (out,) = run_onnx(proto, {"input": np.ascontiguousarray(X.T)})
    assert_close(out, model.predict(X).T, dtype)
    return proto


def trained_batchnorm(n: int, seed: int) -> mg.BatchNorm:
    """A BatchNorm whose running statistics and gamma, beta are not the defaults."""
    bn = mg.BatchNorm(n, momentum=0.5)
    rng = np.random.default_rng(seed)
    for _ in range(3):
        bn.forward(rng.normal(2.0, 3.0, size=(n, 16)))
    bn.gamma[...] = rng.uniform(0.5, 2.0, size=(n, 1))
    bn.beta[...] = rng.normal(size=(n, 1))
    return bn


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_every_activation_matches_predict(name: str, dtype: Any) -> None:
    # a wide range of pre-activations: the tails of exp, erf and tanh, and both signs
    model = mg.Sequential([mg.Dense(4, 6, rng=0), ACTIVATIONS[name]()])
    model[0].W[...] *= 3.0
    check(model, np.random.default_rng(1).normal(size=(4, 64)) * 2.0, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_dense_dropout_batchnorm_in_eval_mode(dtype: Any) -> None:
    model = mg.Sequential([mg.Dense(5, 8, rng=0), trained_batchnorm(8, 1), mg.ReLU(),
                           mg.Dropout(0.5, rng=2), mg.Dense(8, 3, rng=3)])
    proto = check(model, np.random.default_rng(4).normal(size=(5, 33)), dtype)
    ops = [node.op_type for node in proto.graph.node]
    assert ops == ["Gemm", "BatchNormalization", "Relu", "Identity", "Gemm", "Identity"]


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_gelu_far_tails_in_float64_follow_minigrads_erf(dtype: Any) -> None:
    # every branch of Cody's erfc (|x| <= 0.47, <= 4, > 4, beyond 26.5) and both signs
    Z = np.array([[-40.0, -8.0, -5.0, -3.0, -0.5, -0.1, 0.0, 0.1, 0.5, 3.0, 5.0, 8.0, 40.0]])
    model = mg.Sequential([mg.Dense(1, 1, rng=0), mg.GELU()])
    model[0].W[...] = 1.0
    proto = mg.export.to_onnx(model.astype(dtype))
    (out,) = run_onnx(proto, {"input": Z.T.astype(dtype)})
    assert_close(out, model.predict(Z.astype(dtype)).T, dtype)


def random_net(seed: int) -> tuple[mg.Sequential, int]:
    """A seeded random Sequential: 1 to 4 hidden layers of random width and activation,
    sometimes batch norm or dropout, sometimes nested, ending in a random output layer."""
    rng = np.random.default_rng(seed)
    names = [n for n in ACTIVATIONS if n != "Softmax"]
    n_in = int(rng.integers(1, 7))
    layers: list[mg.Layer] = []
    n = n_in
    for _ in range(int(rng.integers(1, 5))):
        width = int(rng.integers(1, 9))
        block: list[mg.Layer] = [mg.Dense(n, width, init=str(rng.choice(["he", "xavier"])),
                                          rng=int(rng.integers(1000)))]
        if rng.random() < 0.3:
            block.append(trained_batchnorm(width, int(rng.integers(1000))))
        block.append(ACTIVATIONS[str(rng.choice(names))]())
        if rng.random() < 0.3:
            block.append(mg.Dropout(0.3))
        layers.extend(block if rng.random() < 0.7 else [mg.Sequential(block)])
        n = width
    n_out = int(rng.integers(1, 5))
    layers += [mg.Dense(n, n_out, rng=int(rng.integers(1000))),
               ACTIVATIONS[str(rng.choice(["Softmax", "Sigmoid", "Identity"]))]()]
    return mg.Sequential(layers), n_in


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("seed", range(12))
def test_random_nets_match_predict(seed: int, dtype: Any) -> None:
    model, n_in = random_net(seed)
    check(model, np.random.default_rng(seed).normal(size=(n_in, 25)) * 1.5, dtype)


def test_the_batch_axis_is_dynamic_and_names_come_from_the_model(tmp_path: Path) -> None:
    model = mg.Sequential([mg.Dense(3, 4, rng=0), mg.Tanh(), mg.Dense(4, 2, rng=1)])
    path = tmp_path / "net.onnx"
    mg.export.to_onnx(model, path)
    loaded = onnx.load(str(path))
    (inp,), (out,) = loaded.graph.input, loaded.graph.output
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert (inp.name, dims) == ("input", ["batch", 3])
    assert (out.name, [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim]) == (
        "output", ["batch", 2])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for m in (1, 7, 100):
        X = np.random.default_rng(m).normal(size=(3, m))
        (A,) = session.run(None, {"input": X.T})
        assert A.shape == (m, 2)
        assert_close(A, model.predict(X).T, np.float64)


@pytest.mark.parametrize("opset", [13, 17, 20])
def test_opsets(opset: int) -> None:
    model = mg.Sequential([mg.Dense(2, 3, rng=0), mg.GELU(approximate="tanh"), mg.Softmax()])
    proto = check(model, np.random.default_rng(0).normal(size=(2, 9)), np.float64, opset=opset)
    assert proto.opset_import[0].version == opset


def test_a_bad_opset_is_refused() -> None:
    model = mg.Sequential([mg.Dense(2, 3, rng=0)])
    with pytest.raises(ValueError, match=r"to_onnx: opset must be an int from 13 to \d+.*got 12"):
        mg.export.to_onnx(model, opset=12)


def test_a_leading_activation_needs_no_input_shape_but_a_lone_one_does() -> None:
    check(mg.Sequential([mg.Tanh(), mg.Dense(3, 2, rng=0)]),
          np.random.default_rng(0).normal(size=(3, 4)), np.float64)
    with pytest.raises(ValueError, match=r"cannot tell the input shape of Tanh.*input_shape="):
        mg.export.to_onnx(mg.Tanh())
    check(mg.Tanh(), np.random.default_rng(0).normal(size=(3, 4)), np.float64, input_shape=(3,))


class Scale(mg.Layer):
    """A = factor * A_prev: a user's own layer for the hook tests."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, A_prev: np.ndarray) -> np.ndarray:
        return self.factor * A_prev

    def backward(self, dA: np.ndarray) -> np.ndarray:
        return self.factor * dA


@pytest.fixture
def registered_scale() -> Iterator[None]:
    @mg.export.register_onnx(Scale)
    def scale_to_onnx(builder: mg.export.OnnxBuilder, layer: Scale, inputs: list[str]) -> str:
        return builder.op("Mul", inputs[0], builder.scalar(layer.factor))

    yield
    del ONNX_CONVERTERS.table[Scale]


def test_an_unknown_layer_is_named_in_the_error() -> None:
    model = mg.Sequential([mg.Dense(2, 3, rng=0), mg.Sequential([mg.ReLU(), Scale(2.0)])])
    with pytest.raises(mg.ExportError, match=r"cannot export Scale\(.*\) \(at 1\.1\): no ONNX "
                       r"converter for Scale\..*register_onnx\(Scale\)"):
        mg.export.to_onnx(model)


def test_a_subclass_is_not_taken_for_its_parent() -> None:
    class Steeper(mg.Tanh):
        def g(self, Z: np.ndarray) -> np.ndarray:
            return np.tanh(2 * Z)

    with pytest.raises(mg.ExportError, match="no ONNX converter for Steeper"):
        mg.export.to_onnx(mg.Sequential([mg.Dense(2, 2, rng=0), Steeper()]))


def test_a_users_layer_exports_through_the_hook(registered_scale: None) -> None:
    model = mg.Sequential([mg.Dense(2, 3, rng=0), Scale(-1.5), mg.Sigmoid()])
    check(model, np.random.default_rng(0).normal(size=(2, 5)), np.float32)


def test_the_converter_registry_refuses_a_non_class() -> None:
    with pytest.raises(TypeError, match="expected a class"):
        mg.export.register_onnx("Dense")(lambda b, layer, inputs: inputs[0])  # type: ignore[arg-type]


def test_missing_onnx_says_which_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    with pytest.raises(ImportError, match=r"to_onnx needs the 'onnx' package.*"
                       r"pip install 'minigrad\[onnx\]'"):
        mg.export.to_onnx(mg.Sequential([mg.Dense(2, 1, rng=0)]))


# -- graphs (issue 9's Graph; skipped on a minigrad without it) ----------------------------

needs_graph = pytest.mark.skipif(not hasattr(mg, "Graph"), reason="this minigrad has no Graph yet")


def graph_case(seed: int) -> tuple[mg.Layer, dict[str, np.ndarray]]:
    """Two inputs, two outputs, a shared Dense, Concat, Add, Multiply and a Residual."""
    rng = np.random.default_rng(seed)
    x = mg.Input(3, name="x")
    t = mg.Input(2, name="t")
    shared = mg.Dense(3, 4, rng=1)
    h1 = mg.Tanh()(shared(x))
    h2 = mg.GELU()(mg.Dense(2, 4, rng=2)(t))
    both = mg.Concat()([h1, h2])
    summed = mg.Add()([h1, h2])
    prod = mg.Multiply()([summed, mg.Sigmoid()(shared(x))])
    res = mg.Residual(mg.Sequential([mg.Dense(4, 4, rng=3), mg.ReLU()]))(prod)
    y = mg.Softmax()(mg.Dense(8, 3, rng=4)(both))
    z = mg.Dense(4, 1, rng=5)(res)
    graph = mg.Graph(inputs=[x, t], outputs=[y, z])
    return graph, {"x": rng.normal(size=(3, 11)), "t": rng.normal(size=(2, 11))}


@needs_graph
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_a_graph_with_two_inputs_and_outputs(dtype: Any) -> None:
    graph, data = graph_case(0)
    graph.astype(dtype)
    proto = mg.export.to_onnx(graph)
    assert [i.name for i in proto.graph.input] == ["x", "t"]
    expected = graph.predict([data["x"].astype(dtype), data["t"].astype(dtype)])
    outputs = run_onnx(proto, {k: np.ascontiguousarray(v.T.astype(dtype)) for k, v in data.items()})
    assert len(outputs) == 2
    for out, ref in zip(outputs, expected, strict=True):
        assert_close(out, ref.T, dtype)


def _seeded_graph_layers(rng: np.random.Generator) -> Callable[[int, int], mg.Layer]:
    names = [n for n in ACTIVATIONS if n != "Softmax"]

    def make(n_in: int, n_out: int) -> mg.Layer:
        return mg.Sequential([mg.Dense(n_in, n_out, rng=int(rng.integers(1000))),
                              ACTIVATIONS[str(rng.choice(names))]()])

    return make


@needs_graph
@pytest.mark.parametrize("seed", range(6))
def test_random_graphs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    make = _seeded_graph_layers(rng)
    x = mg.Input(4, name="x")
    nodes = [x]
    for _ in range(int(rng.integers(2, 6))):
        picks = rng.choice(len(nodes), size=min(len(nodes), 2), replace=False)
        a = make(4, 4)(nodes[int(picks[0])])
        if len(picks) > 1 and rng.random() < 0.5:
            merge = [mg.Add(), mg.Multiply()][int(rng.integers(2))]
            a = merge([a, nodes[int(picks[1])]])
        nodes.append(a)
    graph = mg.Graph(inputs=x, outputs=nodes[-1])
    X = rng.normal(size=(4, 10))
    proto = mg.export.to_onnx(graph)
    (out,) = run_onnx(proto, {"x": X.T})
    assert_close(out, graph.predict(X).T, np.float64)


# -- image layers (the conv branch; skipped on a minigrad without them) --------------------

needs_images = pytest.mark.skipif(not hasattr(mg, "Conv2D"),
                                  reason="this minigrad has no image layers yet")


def image_nets() -> list[tuple[mg.Sequential, tuple[int, int, int]]]:
    """Two small convolutional nets and their per-example input shapes (c, h, w)."""
    bn = mg.BatchNorm(4, momentum=0.5)
    rng = np.random.default_rng(0)
    for _ in range(3):
        bn.forward(rng.normal(1.0, 2.0, size=(4, 8, 8, 5)))
    bn.gamma[...] = rng.uniform(0.5, 2.0, size=bn.gamma.shape)
    lenet = mg.Sequential([
        mg.Conv2D(1, 4, 3, padding="same", rng=1), bn, mg.ReLU(), mg.MaxPool2D(2),
        mg.Conv2D(4, 6, 2, padding="same", rng=2), mg.Tanh(), mg.AvgPool2D(2), mg.Flatten(),
        mg.Dense(24, 3, rng=3), mg.Softmax(),
    ])
    strided = mg.Sequential([mg.Conv2D(2, 3, 3, stride=2, padding=1, rng=4), mg.GELU(),
                             mg.GlobalAvgPool2D(), mg.Dense(3, 2, rng=5)])
    return [(lenet, (1, 8, 8)), (strided, (2, 9, 9))]


@needs_images
@pytest.mark.parametrize("case", [0, 1], ids=["lenet", "strided"])
def test_image_nets_take_batch_first_images(case: int) -> None:
    model, shape = image_nets()[case]
    model.astype(np.float32)
    X = np.random.default_rng(case).normal(size=(*shape, 6)).astype(np.float32)
    proto = mg.export.to_onnx(model)
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", shape[0], "input_2", "input_3"]  # height and width stay free
    (out,) = run_onnx(proto, {"input": np.ascontiguousarray(X.transpose(3, 0, 1, 2))})
    assert_close(out, model.predict(X).T, np.float32)


@needs_images
def test_float64_image_nets_are_standard_onnx_that_onnx_runtime_cannot_run() -> None:
    # ONNX Runtime's CPU kernels for Conv and AveragePool are float32 only (docs/interop.md)
    model, _ = image_nets()[0]
    proto = mg.export.to_onnx(model.astype(np.float64))
    onnx.checker.check_model(proto, full_check=True)
    with pytest.raises(Exception, match="NOT_IMPLEMENTED"):
        ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


@needs_images
@pytest.mark.parametrize("opset", [13, 18])
def test_global_average_pooling_runs_in_float64(opset: int) -> None:
    model = mg.Sequential([mg.MaxPool2D(2), mg.GlobalAvgPool2D(), mg.Dense(3, 2, rng=0)])
    X = np.random.default_rng(0).normal(size=(3, 4, 6, 5))
    proto = mg.export.to_onnx(model, opset=opset, input_shape=(3, 4, 6))
    (out,) = run_onnx(proto, {"input": np.ascontiguousarray(X.transpose(3, 0, 1, 2))})
    assert_close(out, model.predict(X).T, np.float64)


@needs_graph
def test_a_trained_graph_runs_in_onnx_runtime_as_in_minigrad(tmp_path: Path) -> None:
    # two branches (one through a shared layer), a residual block, Concat and Add
    rng = np.random.default_rng(0)
    x = mg.Input(2, name="point")
    shared = mg.Dense(2, 4, rng=1)
    h = mg.Residual(mg.Sequential([mg.Dense(4, 4, rng=2), mg.Tanh()]))(mg.ReLU()(shared(x)))
    g = mg.GELU()(shared(mg.Tanh()(x)))
    out = mg.Sigmoid()(mg.Dense(8, 1, rng=3)(mg.Concat()([h, mg.Add()([h, g])])))
    graph = mg.Graph(inputs=x, outputs=out)
    X, Y = mg.datasets.moons(200, noise=0.1)
    history = mg.fit(graph, X, Y, loss="bce", epochs=150, verbose=False, metrics=["accuracy"],
                     optimizer=mg.optim.Adam(graph.parameters(), lr=0.05))
    assert history["accuracy"][-1] > 0.9
    mg.export.to_onnx(graph, tmp_path / "graph.onnx")
    session = ort.InferenceSession(str(tmp_path / "graph.onnx"),
                                   providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["point"]
    X_new = rng.normal(size=(2, 50))
    (probabilities,) = session.run(None, {"point": X_new.T})
    assert_close(probabilities, graph.predict(X_new).T, np.float64)
