"""The demos behind ``minigrad demo``: a data set, a net, a baseline, and pictures.

Each :class:`Demo` trains a one-hidden-layer net with ``mg.fit`` and plain
gradient descent (``mg.optim.SGD``), then the same data with no hidden layer
(logistic, softmax or linear regression, trained the same way by minigrad
itself) so that the gain from the hidden layer shows in one number.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from attrs import frozen

from minigrad import datasets
from minigrad._rng import seed as seed_everything
from minigrad._typing import Array
from minigrad.activations import Activation, ReLU, Sigmoid, Softmax, Tanh
from minigrad.data import train_test_split
from minigrad.dense import Dense
from minigrad.layer import Layer
from minigrad.losses import BinaryCrossEntropy, CategoricalCrossEntropy, Loss, MeanSquaredError
from minigrad.sequential import Sequential

Task = Literal["binary", "multiclass", "regression"]
SWEEP_SIZES = (1, 2, 3, 4, 5, 20, 50)
PROGRESS_LINES = 5  # about this many epoch lines in a pipe or a log


@frozen
class Demo:
    """One demo: where its data comes from and the settings that train it well."""

    name: str
    summary: str
    task: Task
    load: Callable[[int], tuple[Array, Any]]
    hidden: int
    lr: float
    epochs: int
    activation: type[Activation] = Tanh
    init: str = "xavier"
    batch_size: int | None = None
    holdout: float | None = None  # fraction kept aside for a test score
    needs: str | None = None  # an optional package the data needs

    def available(self) -> bool:
        return self.needs != "scikit-learn" or datasets.sklearn_available()


def _digits(seed: int) -> tuple[Array, Any]:
    return datasets.digits()


DEMOS: dict[str, Demo] = {
    demo.name: demo
    for demo in (
        Demo("planar", "the notes' 2-class flower: a 2-4-1 tanh net vs logistic regression",
             "binary", lambda seed: datasets.planar(seed=seed), hidden=4, lr=1.2, epochs=10_000,
             init="normal"),
        Demo("moons", "two interleaving half circles (2 classes)", "binary",
             lambda seed: datasets.moons(seed=seed), hidden=16, lr=2.0, epochs=3_000),
        Demo("spirals", "three spiral arms: softmax over 3 classes", "multiclass",
             lambda seed: datasets.spirals(seed=seed), hidden=32, lr=1.0, epochs=5_000,
             activation=ReLU, init="he"),
        Demo("xor", "the XOR of two signs: no line separates it", "binary",
             lambda seed: datasets.xor(seed=seed), hidden=8, lr=1.0, epochs=3_000),
        Demo("regression", "a noisy 1-D curve fitted with mean squared error", "regression",
             lambda seed: datasets.curve(seed=seed), hidden=16, lr=0.05, epochs=5_000),
        Demo("digits", "scikit-learn's 8x8 digits (10 classes), scored on held-out images",
             "multiclass", _digits, hidden=64, lr=0.1, epochs=30, activation=ReLU, init="he",
             batch_size=32, holdout=0.2, needs="scikit-learn"),
    )
}


@frozen
class Score:
    """A trained model's headline number on the evaluation data."""

    name: str  # "accuracy" or "mse"
    value: float

    def __str__(self) -> str:
        return f"{self.value:.1%}" if self.name == "accuracy" else f"{self.value:.4f}"


@frozen
class Result:
    """What a demo run produced."""

    demo: Demo
    model: Layer
    history: Any
    score: Score
    baseline: Score
    seconds: float
    where: str  # "training set" or "test set (20% held out)"
    sweep: tuple[tuple[int, Score, float], ...] = ()
    images: tuple[Path, ...] = ()


def build_model(demo: Demo, n_x: int, n_out: int, hidden: int | None) -> Sequential:
    """Dense -> activation -> Dense -> output activation; hidden=None drops the hidden layer."""
    head: list[Layer] = [] if hidden is None else [
        Dense(n_x, hidden, init=demo.init), demo.activation()]
    n_in = n_x if hidden is None else hidden
    out: list[Layer] = [Dense(n_in, n_out, init="normal" if demo.init == "normal" else "xavier")]
    if demo.task == "binary":
        out.append(Sigmoid())
    elif demo.task == "multiclass":
        out.append(Softmax())
    return Sequential([*head, *out])


def loss_for(demo: Demo) -> Loss:
    if demo.task == "binary":
        return BinaryCrossEntropy()
    if demo.task == "multiclass":
        return CategoricalCrossEntropy()
    return MeanSquaredError()


def score(demo: Demo, model: Layer, X: Array, Y: Any) -> Score:
    """Accuracy for classification, mean squared error for regression."""
    A = model.predict(X)
    if demo.task == "regression":
        return Score("mse", float(np.mean((A - Y) ** 2)))
    if demo.task == "binary":
        return Score("accuracy", float(np.mean((A >= 0.5) == (np.asarray(Y) >= 0.5))))
    return Score("accuracy", float(np.mean(np.argmax(A, axis=0) == np.asarray(Y))))


def train(
    demo: Demo, X: Array, Y: Any, *, hidden: int | None, lr: float, epochs: int, seed: int,
    verbose: bool,
) -> tuple[Sequential, Any]:
    """Build and train one model with mg.fit and SGD; returns (model, history)."""
    from minigrad.optim import SGD
    from minigrad.progress import ProgressLogger
    from minigrad.train import fit

    seed_everything(seed)
    n_out = 1 if demo.task != "multiclass" else int(np.max(Y)) + 1
    model = build_model(demo, X.shape[0], n_out, hidden)
    # in a pipe or a log, a few progress lines say enough for a demo
    progress = [ProgressLogger(max_lines=PROGRESS_LINES)] if verbose else []
    history = fit(
        model, X, Y, loss=loss_for(demo), optimizer=SGD(model.parameters(), lr=lr),
        epochs=epochs, batch_size=demo.batch_size, seed=seed,
        metrics=() if demo.task == "regression" else ("accuracy",), verbose=False,
        callbacks=progress,
    )
    return model, history


def run(
    demo: Demo,
    *,
    hidden: int | None = None,
    lr: float | None = None,
    epochs: int | None = None,
    seed: int = 1,
    out: Path | None = None,
    sweep: bool = False,
    sweep_sizes: Sequence[int] = SWEEP_SIZES,
    explain: bool = False,
    verbose: bool = True,
    report: Callable[[str], Any] = print,
) -> Result:
    """Run ``demo``: train the net and the no-hidden-layer baseline, sweep, and draw.

    ``report`` receives each line of the summary as it is ready. Images go
    to ``out`` when it is given and matplotlib is installed. ``explain``
    first prints the net's equations for one training batch.
    """
    check_settings(hidden, lr, epochs)
    hidden = demo.hidden if hidden is None else hidden
    lr = demo.lr if lr is None else lr
    epochs = demo.epochs if epochs is None else epochs
    X, Y = demo.load(seed)
    X_train, Y_train, X_eval, Y_eval, where = X, Y, X, Y, "training set"
    if demo.holdout is not None:
        X_train, X_eval, Y_train, Y_eval = train_test_split(
            X, Y, test_size=demo.holdout, seed=seed, stratify=demo.task != "regression")
        where = f"test set ({demo.holdout:.0%} held out)"
    if explain:
        m = demo.batch_size or X_train.shape[1]
        build_model(demo, X.shape[0], _n_out(demo, Y), hidden).explain(
            loss_for(demo), m, print_fn=report)
        report("")
    report(f"{demo.name}: {demo.summary}")
    report(f"  data: X {X.shape}, {X.shape[1]} examples as columns; "
           f"net: {X.shape[0]}-{hidden}-{_n_out(demo, Y)} with {demo.activation.__name__}, "
           f"SGD lr={lr:g}, {epochs} epochs" +
           (f", batches of {demo.batch_size}" if demo.batch_size else ", full batch"))
    start = time.perf_counter()
    model, history = train(demo, X_train, Y_train, hidden=hidden, lr=lr, epochs=epochs,
                           seed=seed, verbose=verbose)
    seconds = time.perf_counter() - start
    net_score = score(demo, model, X_eval, Y_eval)
    baseline_model, _ = train(demo, X_train, Y_train, hidden=None, lr=lr, epochs=epochs,
                              seed=seed, verbose=False)
    baseline = score(demo, baseline_model, X_eval, Y_eval)
    label = "accuracy" if net_score.name == "accuracy" else "mean squared error"
    report(f"  {label} on the {where}: net {net_score}  vs  {_baseline_name(demo)} {baseline}"
           f"   (trained in {seconds:.1f} s)")
    sizes: list[tuple[int, Score, float]] = []
    if sweep:
        report(f"  hidden-size sweep ({epochs} epochs each):")
        for size in sweep_sizes:
            t0 = time.perf_counter()
            swept, _ = train(demo, X_train, Y_train, hidden=size, lr=lr, epochs=epochs,
                             seed=seed, verbose=False)
            sizes.append((size, score(demo, swept, X_eval, Y_eval), time.perf_counter() - t0))
            units = "unit" if size == 1 else "units"
            report(f"    {size:>4} hidden {units:<5}  {label} {sizes[-1][1]}  "
                   f"({sizes[-1][2]:.1f} s)")
    images = _draw(demo, model, history, X, Y, out, report) if out is not None else ()
    return Result(demo, model, history, net_score, baseline, seconds, where, tuple(sizes),
                  images)


def _n_out(demo: Demo, Y: Any) -> int:
    return int(np.max(Y)) + 1 if demo.task == "multiclass" else 1


def _baseline_name(demo: Demo) -> str:
    return {"binary": "logistic regression", "multiclass": "softmax regression",
            "regression": "linear regression"}[demo.task]


def _draw(demo: Demo, model: Layer, history: Any, X: Array, Y: Any, out: Path,
          report: Callable[[str], Any]) -> tuple[Path, ...]:
    from minigrad import plot

    try:
        import matplotlib  # noqa: F401
    except ImportError:
        report(f"  plots skipped: matplotlib is not installed. For the pictures: "
               f"{plot.INSTALL_HINT}")
        return ()
    out.mkdir(parents=True, exist_ok=True)
    images = [out / f"{demo.name}_loss.png"]
    plot.training_curves(history, path=images[0], title=f"{demo.name}: training")
    if X.shape[0] == 2 and demo.task != "regression":
        images.append(out / f"{demo.name}_boundary.png")
        plot.decision_boundary(model, X, Y, path=images[-1])
    elif demo.task == "regression" and X.shape[0] == 1:
        images.append(out / f"{demo.name}_fit.png")
        plot.fit_curve(model, X, Y, path=images[-1], title=f"{demo.name}: the net's curve")
    report("  pictures: " + ", ".join(str(path) for path in images))
    return tuple(images)


def check_settings(hidden: int | None, lr: float | None, epochs: int | None) -> None:
    """Refuse settings that cannot train, before any work starts."""
    if hidden is not None and hidden < 1:
        raise ValueError(f"demo: hidden must be a positive int, got {hidden}")
    if epochs is not None and epochs < 1:
        raise ValueError(f"demo: epochs must be a positive int, got {epochs}")
    if lr is not None and not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"demo: lr must be a positive number, got {lr}")
