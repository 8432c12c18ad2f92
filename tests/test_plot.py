"""mg.plot renders real PNGs (Agg, no window) and fails clearly without matplotlib."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg

pytest.importorskip("matplotlib")
import matplotlib

matplotlib.use("Agg")
from matplotlib.image import imread


def read_png(path: Path) -> np.ndarray:
    assert path.stat().st_size > 1000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return np.asarray(imread(path))


def n_colours(image: np.ndarray) -> int:
    return len(np.unique(image.reshape(-1, image.shape[-1]), axis=0))


def right_half_is_class_1(X: np.ndarray) -> np.ndarray:
    return (X[0:1] > 0).astype(np.float64)


def test_decision_boundary_png_has_size_and_both_regions(tmp_path: Path) -> None:
    X, Y = mg.datasets.moons(100, seed=0)
    X = X - X.mean(axis=1, keepdims=True)
    path = tmp_path / "boundary.png"
    fig = mg.plot.decision_boundary(right_half_is_class_1, X, Y, path=path, figsize=(6, 5),
                                    dpi=50)
    image = read_png(path)
    assert image.shape[:2] == (250, 300)
    assert n_colours(image) > 20
    ax = fig.axes[0]
    assert ax.get_title().startswith("Decision boundary (accuracy")
    # sample the shaded regions left and right of x1 = 0, in the middle of the axes
    box = ax.get_position()
    row = int((1 - (box.y0 + 0.05 * box.height)) * image.shape[0])
    left = image[row, int((box.x0 + 0.03 * box.width) * image.shape[1]), :3]
    right = image[row, int((box.x1 - 0.03 * box.width) * image.shape[1]), :3]
    assert left[2] > left[0] and right[0] > right[2]  # blue for class 0, red for class 1


def test_decision_boundary_with_a_softmax_model_and_labels(tmp_path: Path) -> None:
    X, y = mg.datasets.spirals(60, classes=3, seed=0)
    model = mg.Sequential([mg.Dense(2, 5, rng=0), mg.Tanh(), mg.Dense(5, 3, rng=1), mg.Softmax()])
    fig = mg.plot.decision_boundary(model, X, y, path=tmp_path / "s.png", title="spirals")
    assert fig.axes[0].get_title() == "spirals"
    assert read_png(tmp_path / "s.png").shape[:2] == (500, 600)
    with pytest.raises(mg.ShapeError, match=r"X must be \(2, m\)"):
        mg.plot.decision_boundary(model, X.T, y)
    with pytest.raises(mg.ShapeError, match="one class per column"):
        mg.plot.decision_boundary(model, X, y[:-1])


def test_training_curves_pairs_validation_with_training(tmp_path: Path) -> None:
    history = {"loss": [1.0, 0.6, 0.4], "val_loss": [1.1, 0.8, 0.7],
               "accuracy": [0.5, 0.7, 0.9], "lr": [0.1, 0.1, 0.1]}
    path = tmp_path / "curves.png"
    fig = mg.plot.training_curves(history, path=path, dpi=40)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["train", "validation"]
    np.testing.assert_array_equal(fig.axes[0].get_lines()[1].get_ydata(), history["val_loss"])
    image = read_png(path)
    assert image.shape[:2] == (140, 320)
    assert n_colours(image) > 20


def test_training_curves_errors_list_what_the_history_holds() -> None:
    with pytest.raises(mg.InputError, match=r"'acc' is not in the history \(it holds \['loss'\]"):
        mg.plot.training_curves({"loss": [1.0]}, keys=["acc"])
    with pytest.raises(mg.InputError, match="nothing to plot"):
        mg.plot.training_curves({"lr": [1.0]})
    with pytest.raises(mg.InputError, match="no epoch recorded a value of loss"):
        mg.plot.training_curves({"loss": [], "lr": []})


def test_activation_plot_shows_g_and_a_matching_derivative(tmp_path: Path) -> None:
    fig = mg.plot.activation(mg.Tanh, path=tmp_path / "tanh.png", dpi=30)
    ax_g, ax_d = fig.axes
    Z = ax_g.get_lines()[0].get_xdata()
    np.testing.assert_allclose(ax_g.get_lines()[0].get_ydata(), np.tanh(Z))
    np.testing.assert_allclose(ax_d.get_lines()[0].get_ydata(), 1 - np.tanh(Z) ** 2)
    gap = float(ax_d.get_title().split("max gap ")[1].rstrip(")"))
    assert gap < 1e-8
    assert read_png(tmp_path / "tanh.png").shape[:2] == (105, 270)


def test_activation_plot_exposes_a_wrong_derivative() -> None:
    class WrongTanh(mg.Tanh):
        def g_prime(self, Z: np.ndarray, A: np.ndarray, /) -> np.ndarray:
            return 1 - A  # should be 1 - A**2

    fig = mg.plot.activation(WrongTanh())
    gap = float(fig.axes[1].get_title().split("max gap ")[1].rstrip(")"))
    assert gap > 0.1


def test_fit_curve_draws_data_and_model(tmp_path: Path) -> None:
    X, Y = mg.datasets.curve(50)
    fig = mg.plot.fit_curve(lambda X: 0.25 * X, X, Y, path=tmp_path / "fit.png", dpi=30)
    line = fig.axes[0].get_lines()[0]
    np.testing.assert_allclose(line.get_ydata(), 0.25 * line.get_xdata())
    assert read_png(tmp_path / "fit.png").shape[:2] == (120, 180)


def test_missing_matplotlib_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"mg.plot needs matplotlib.*minigrad\[plot\]"):
        mg.plot.training_curves({"loss": [1.0]})


def boxes(fig: object) -> list[object]:
    """The node boxes of a graph picture: its texts other than the (empty) arrows."""
    return [t for t in fig.axes[0].texts if t.get_text()]  # type: ignore[attr-defined]


def residual_graph() -> mg.Graph:
    x = mg.Input(2, name="x")
    h = mg.Tanh()(mg.Dense(2, 8, rng=0)(x))
    r = mg.Add()([h, mg.Tanh()(mg.Dense(8, 8, rng=1)(h))])
    return mg.Graph(inputs=x, outputs=mg.Sigmoid()(mg.Dense(8, 1, rng=2)(r)))


def test_graph_png_shows_a_box_per_node_and_an_arrow_per_edge(tmp_path: Path) -> None:
    model = residual_graph()
    path = tmp_path / "graph.png"
    fig = mg.plot.graph(model, path=path, title="A residual block", dpi=60)
    image = read_png(path)
    width, height = fig.get_size_inches() * 60
    assert image.shape[:2] == (round(height), round(width))
    ax = fig.axes[0]
    labels = [t.get_text() for t in boxes(fig)]
    assert len(labels) == len(model.nodes)
    assert "x\nInput\n(2, m)" in labels
    assert "add\nAdd()\n(8, m)" in labels
    assert "dense_2\nDense(n_in=8, n_out=1)\n(1, m)" in labels
    n_edges = sum(len(node.inputs) for node in model.nodes)
    assert sum(1 for child in ax.get_children() if type(child).__name__ == "Annotation"
               and not child.get_text()) == n_edges
    assert n_colours(image) > 8  # inputs, merges and outputs have their own colours


def test_graph_puts_inputs_on_top_and_outputs_at_the_bottom(tmp_path: Path) -> None:
    encoder = mg.Dense(3, 4, rng=0)
    a, b = mg.Input(3, name="a"), mg.Input(3, name="b")
    ea, eb = mg.Tanh()(encoder(a)), mg.Tanh()(encoder(b))
    main = mg.Sigmoid()(mg.Dense(8, 1, rng=1)(mg.Concat()([ea, eb])))
    aux = mg.Dense(4, 1, rng=2)(ea)
    model = mg.Graph(inputs=[a, b], outputs=[main, aux])
    fig = mg.plot.graph(model, dpi=40)
    heights = {t.get_text().split("\n")[0]: t.get_position()[1] for t in boxes(fig)}
    assert heights["a"] == heights["b"] == max(heights.values())
    assert heights["sigmoid"] == heights["dense_3"] == min(heights.values())  # both outputs
    for node in model.nodes:
        for source in node.inputs:
            assert heights[str(source.name)] > heights[str(node.name)]
    shared = [t.get_text() for t in boxes(fig) if "(shared)" in t.get_text()]
    assert len(shared) == 2


def test_graph_refuses_a_model_that_is_not_a_graph() -> None:
    with pytest.raises(TypeError, match=r"plot\.graph: expected an mg\.Graph, got Sequential"):
        mg.plot.graph(mg.Sequential([mg.Dense(2, 1)]))
