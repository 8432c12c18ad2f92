"""Pictures of what a net learned (needs matplotlib: ``pip install "minigrad[plot]"``).

Each function returns a ``matplotlib.figure.Figure`` and, given ``path=``,
saves it as a PNG of ``figsize * dpi`` pixels. Figures are made without
pyplot, so nothing piles up in a global figure list; a notebook shows the
returned figure, and a script saves it with ``path=`` or ``fig.savefig``.
matplotlib is imported inside the functions, so ``import minigrad`` never
needs it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from minigrad._typing import Array
from minigrad.errors import InputError, ShapeError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from minigrad.activations import Activation
    from minigrad.graph import Graph

INSTALL_HINT = 'pip install "minigrad[plot]"  (or: pip install matplotlib)'
CLASS_COLORS = ("#3b6fb6", "#d9544d", "#49a35b", "#e0a526", "#8a5fbf", "#3bb3c3",
                "#c46aa7", "#7f7f7f", "#b5b83e", "#8c564b")
# Names in a History that are not per-epoch curves worth a panel by default.
_NOT_CURVES = frozenset({"lr", "learning_rate", "time", "times", "epoch", "epochs",
                         "epoch_time", "epoch_times", "seconds"})

Model = Any
"""A Layer (its ``predict`` is used) or any callable mapping X (n_x, m) to (k, m)."""


def decision_boundary(
    model: Model,
    X: Any,
    Y: Any,
    *,
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
    threshold: float = 0.5,
    resolution: int = 250,
    figsize: tuple[float, float] = (6.0, 5.0),
    dpi: int = 100,
) -> Figure:
    """The regions a 2-D classifier assigns to each class, with the data on top.

    ``X`` is (2, m). ``Y`` holds the true classes: (1, m) of 0/1, integer
    labels (m,), or one-hot (k, m). A model with one output row is read as
    binary, class 1 where output >= ``threshold`` (use 0.0 for logits);
    with k rows, the class is the row of the largest output.
    """
    plt_figure = _figure_class()
    X_arr = np.asarray(X, dtype=np.float64)
    if X_arr.ndim != 2 or X_arr.shape[0] != 2:
        raise ShapeError(f"decision_boundary: X must be (2, m) with two features as rows, "
                         f"got shape {X_arr.shape}")
    labels = _labels(Y, X_arr.shape[1], "decision_boundary")
    lo, hi = X_arr.min(axis=1), X_arr.max(axis=1)
    pad = 0.1 * np.maximum(hi - lo, 1e-9)
    axis_0 = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
    axis_1 = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
    grid_0, grid_1 = np.meshgrid(axis_0, axis_1)
    grid = np.stack([grid_0.ravel(), grid_1.ravel()])
    scores = _predict(model, grid)
    predicted = _classes(scores, threshold).reshape(grid_0.shape)
    n_classes = int(max(labels.max(initial=0), predicted.max(initial=0))) + 1

    from matplotlib.colors import ListedColormap

    colors = ListedColormap([CLASS_COLORS[k % len(CLASS_COLORS)] for k in range(n_classes)])
    fig = plt_figure(figsize=figsize, dpi=dpi)
    ax = fig.add_subplot()
    ax.contourf(grid_0, grid_1, predicted, levels=np.arange(n_classes + 1) - 0.5, cmap=colors,
                alpha=0.35)
    ax.scatter(X_arr[0], X_arr[1], c=labels, cmap=colors, vmin=-0.5, vmax=n_classes - 0.5,
               s=14, edgecolors="black", linewidths=0.4)
    accuracy = float(np.mean(_classes(_predict(model, X_arr), threshold) == labels))
    ax.set_title(title if title is not None else f"Decision boundary (accuracy {accuracy:.1%})")
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    fig.tight_layout()
    return _saved(fig, path)


def training_curves(
    history: Mapping[str, Sequence[float]],
    *,
    keys: Sequence[str] | None = None,
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: int = 100,
) -> Figure:
    """One panel per metric over the epochs, validation ("val_" + name) drawn beside it.

    ``history`` is a History from ``mg.fit`` or any mapping of name -> list
    of per-epoch values. ``keys`` picks the panels (default: every name that
    is not a "val_" twin, a learning rate or a time).
    """
    plt_figure = _figure_class()
    names = list(keys) if keys is not None else [
        k for k in history if not k.startswith("val_") and k not in _NOT_CURVES
    ]
    if not names:
        raise InputError(f"training_curves: nothing to plot; the history holds {sorted(history)}")
    for name in names:
        if name not in history:
            raise InputError(f"training_curves: {name!r} is not in the history "
                             f"(it holds {sorted(history)})")
    if not any(len(history[name]) for name in names):  # names, but no values yet
        raise InputError(f"training_curves: nothing to plot; no epoch recorded a value of "
                         f"{', '.join(names)}")
    size = figsize if figsize is not None else (4.0 * len(names), 3.5)
    fig = plt_figure(figsize=size, dpi=dpi)
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names, strict=True):
        _curve(ax, history[name], "train" if f"val_{name}" in history else name, "C0")
        if f"val_{name}" in history:
            _curve(ax, history[f"val_{name}"], "validation", "C1")
            ax.legend()
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.set_title(name)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _saved(fig, path)


def activation(
    layer: Activation | type[Activation],
    *,
    z_range: tuple[float, float] = (-5.0, 5.0),
    points: int = 401,
    path: str | os.PathLike[str] | None = None,
    figsize: tuple[float, float] = (9.0, 3.5),
    dpi: int = 100,
) -> Figure:
    """An activation g(Z) and its derivative g'(Z) side by side.

    g' is what the layer's ``backward`` returns for dA = 1; dots show the
    central difference (g(Z + h) - g(Z - h)) / 2h, so a wrong g_prime shows
    as dots off the line. The derivative panel's title gives the largest gap.
    """
    plt_figure = _figure_class()
    act = layer() if isinstance(layer, type) else layer
    Z = np.linspace(z_range[0], z_range[1], points).reshape(1, -1)
    A = act.forward(Z)
    dZ = act.backward(np.ones_like(A))
    h = 1e-5
    numeric = (act.forward(Z + h) - act.forward(Z - h)) / (2 * h)
    act.forward(Z)  # leave the caches describing Z, as after a normal forward
    gap = float(np.max(np.abs(numeric - dZ)))
    name = type(act).__name__
    fig = plt_figure(figsize=figsize, dpi=dpi)
    ax_g, ax_d = fig.subplots(1, 2)
    ax_g.plot(Z[0], A[0], color="C0")
    ax_g.set_title(f"{name}: g(Z)")
    ax_d.plot(Z[0], dZ[0], color="C1", label="g'(Z) from backward")
    every = max(1, points // 40)
    ax_d.plot(Z[0, ::every], numeric[0, ::every], "o", color="black", markersize=3,
              label="numerical")
    ax_d.set_title(f"{name}: g'(Z)  (max gap {gap:.1e})")
    ax_d.legend(fontsize="small")
    for ax in (ax_g, ax_d):
        ax.axhline(0, color="grey", linewidth=0.5)
        ax.axvline(0, color="grey", linewidth=0.5)
        ax.set_xlabel("Z")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _saved(fig, path)


def fit_curve(
    model: Model,
    X: Any,
    Y: Any,
    *,
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
    figsize: tuple[float, float] = (6.0, 4.0),
    dpi: int = 100,
) -> Figure:
    """A 1-D regression: the data (X (1, m), Y (1, m)) and the model's curve through it."""
    plt_figure = _figure_class()
    X_arr, Y_arr = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    if X_arr.ndim != 2 or X_arr.shape[0] != 1 or Y_arr.shape != X_arr.shape:
        raise ShapeError(f"fit_curve: X and Y must both be (1, m), got {X_arr.shape} and "
                         f"{Y_arr.shape}")
    line = np.linspace(X_arr.min(), X_arr.max(), 400).reshape(1, -1)
    fig = plt_figure(figsize=figsize, dpi=dpi)
    ax = fig.add_subplot()
    ax.scatter(X_arr[0], Y_arr[0], s=10, color="C0", alpha=0.6, label="data")
    ax.plot(line[0], _predict(model, line)[0], color="C3", linewidth=2, label="model")
    ax.set_title(title if title is not None else "Regression fit")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _saved(fig, path)


def graph(
    model: Graph,
    *,
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: int = 100,
) -> Figure:
    """A picture of a :class:`~minigrad.Graph`: a box per node, an arrow per edge.

    Each box gives the node's name, its layer and the shape of its output;
    inputs are at the top and outputs at the bottom, each node in the row of
    its longest path from an input (see ``minigrad._layout``). Inputs, merges
    and outputs are coloured; a layer used at several nodes is marked shared.
    ``figsize`` defaults to a size that fits the widest row.
    """
    from minigrad._layout import layered
    from minigrad.graph import Graph as GraphClass

    if not isinstance(model, GraphClass):
        raise TypeError(f"plot.graph: expected an mg.Graph, got {type(model).__name__}")
    plt_figure = _figure_class()
    place = layered(model)
    n_rows = 1 + max(r for r, _ in place.values())
    width = max(sum(1 for r, _ in place.values() if r == row) for row in range(n_rows))
    if figsize is None:
        figsize = (max(4.0, 2.6 * width), max(2.5, 1.15 * n_rows + (0.4 if title else 0.1)))
    fig = plt_figure(figsize=figsize, dpi=dpi)
    ax = fig.add_axes((0.0, 0.0, 1.0, 0.92 if title else 1.0))
    ax.set_xlim(-width / 2 - 0.1, width / 2 + 0.1)
    ax.set_ylim(-n_rows + 0.45, 0.55)
    ax.axis("off")
    uses: dict[int, int] = {}
    for node in model.nodes:
        if node.layer is not None:
            uses[id(node.layer)] = uses.get(id(node.layer), 0) + 1
    outputs = {id(n) for n in model.output_nodes}
    box = 0.32  # half the height of a box, in rows
    for node in model.nodes:
        rank, x = place[str(node.name)]
        for source in node.inputs:
            s_rank, s_x = place[str(source.name)]
            # an edge that skips rows bends around the boxes between; in one column, by
            # about one box width however many rows it skips
            span = rank - s_rank
            bend = 0.0 if span == 1 else min(0.9, 2.4 / span) if x == s_x else (
                0.25 if x > s_x else -0.25)
            ax.annotate("", xy=(x, -rank + box), xytext=(s_x, -s_rank - box),
                        arrowprops={"arrowstyle": "-|>", "color": "#555555", "linewidth": 1.0,
                                    "shrinkA": 0, "shrinkB": 0,
                                    "connectionstyle": f"arc3,rad={bend}"})
    for node in model.nodes:
        rank, x = place[str(node.name)]
        shape = "?" if node.shape is None else ", ".join(map(str, node.shape))
        if node.layer is None:
            what, colour = "Input", "#d6e4f5"
        else:
            what = _layer_label(node.layer)
            colour = "#fbe3c4" if node.layer.takes_list else "#f4f4f4"
            if uses[id(node.layer)] > 1:
                what += "  (shared)"
        if id(node) in outputs:
            colour = "#d5ecd4"
        ax.text(x, -rank, f"{node.name}\n{what}\n({shape}, m)", ha="center", va="center",
                fontsize=8, linespacing=1.3,
                bbox={"boxstyle": "round,pad=0.4", "facecolor": colour, "edgecolor": "#444444"})
    if title:
        fig.suptitle(title)
    return _saved(fig, path)


def _layer_label(layer: Any, limit: int = 30) -> str:
    """A layer's one-line repr, or its class name for a container (whose repr spans lines)."""
    text = repr(layer)
    if "\n" in text:
        text = type(layer).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- internals ----------------------------------------------------------------


def _figure_class() -> Callable[..., Figure]:
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError(f"mg.plot needs matplotlib, an optional extra. Install it with: "
                          f"{INSTALL_HINT}") from err
    return Figure


def _saved(fig: Figure, path: str | os.PathLike[str] | None) -> Figure:
    if path is not None:
        fig.savefig(os.fspath(path), format="png")
    return fig


def _curve(ax: Axes, values: Sequence[float], label: str, color: str) -> None:
    y = np.asarray(values, dtype=np.float64)
    ax.plot(np.arange(1, y.size + 1), y, color=color, label=label)


def _predict(model: Model, X: Array) -> Array:
    predict = getattr(model, "predict", None)
    out = np.asarray(predict(X) if callable(predict) else model(X))
    if out.ndim != 2 or out.shape[1] != X.shape[1]:
        raise ShapeError(f"plot: the model must map ({X.shape[0]}, m) inputs to (k, m) outputs, "
                         f"got {out.shape} for m={X.shape[1]}")
    return out


def _classes(scores: Array, threshold: float) -> npt.NDArray[np.int64]:
    picked: npt.NDArray[Any] = (
        scores[0] >= threshold if scores.shape[0] == 1 else np.argmax(scores, axis=0)
    )
    return picked.astype(np.int64)


def _labels(Y: Any, m: int, owner: str) -> npt.NDArray[np.int64]:
    arr: npt.NDArray[Any] = np.asarray(Y)
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    elif arr.ndim == 2:
        arr = np.argmax(arr, axis=0)
    if arr.shape != (m,):
        raise ShapeError(f"{owner}: Y must hold one class per column of X (m={m}), got shape "
                         f"{np.asarray(Y).shape}")
    labels: npt.NDArray[np.int64] = np.rint(arr).astype(np.int64)
    return labels
