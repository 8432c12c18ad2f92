"""The training loop: ``mg.fit``, ``mg.evaluate`` and the ``History`` they record.

One epoch is one pass over the m examples. With ``batch_size=None`` it is
one full-batch gradient-descent step, as in the notes; otherwise the columns
are shuffled once per epoch (one gather into a reused buffer) and cut into
contiguous column slices. Each step is

    A = model.forward(X_batch);  J = loss.forward(A, Y_batch)
    model.backward_params(loss.backward());  optimizer.step()

and an epoch's loss is the mean of its batch losses weighted by batch size.
Before each step the loss and the gradients are checked: NaN or inf stops
training with a :class:`minigrad.errors.DivergenceError`, and the bad step
is not applied.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from attrs import define, field

from minigrad import _rng
from minigrad import metrics as metrics_module
from minigrad._divergence import DivergenceWatch
from minigrad._fit_checks import (
    as_loss,
    check_int,
    check_optimizer,
    named_metrics_of,
    prepare,
    prepare_validation,
)
from minigrad._typing import Array
from minigrad.callbacks import HOOKS, Callback, TrainState, hooks
from minigrad.errors import InputError
from minigrad.layer import Layer
from minigrad.losses import Loss
from minigrad.optim.optimizer import Optimizer
from minigrad.progress import ProgressLogger


@define(eq=False, repr=False)
class History(Mapping[str, list[float]]):
    """Per-epoch values by name: ``history["loss"][i]`` is epoch i's (from 0) loss.

    Names: ``"loss"``, each metric (``"accuracy"``), their ``"val_"`` forms
    with validation data, ``"lr"`` (the learning rate the epoch used) and
    ``"time"`` (the epoch's seconds). ``epochs`` numbers them from 1.
    """

    logs: dict[str, list[float]] = field(factory=dict)
    epochs: list[int] = field(factory=list)
    stop_reason: str = ""

    def __getitem__(self, name: str) -> list[float]:
        try:
            return self.logs[name]
        except KeyError:
            raise KeyError(f"History has no {name!r}; it holds {', '.join(self.logs)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.logs)

    def __len__(self) -> int:
        return len(self.logs)

    def append(self, epoch_logs: Mapping[str, float], epoch: int | None = None) -> None:
        """Record one epoch (numbered from 1; by default the one after the last)."""
        self.epochs.append(epoch if epoch is not None else len(self.epochs) + 1)
        for name, value in epoch_logs.items():
            self.logs.setdefault(name, []).append(value)

    @property
    def lr(self) -> list[float]:
        return self.logs.get("lr", [])

    @property
    def epoch_times(self) -> list[float]:
        return self.logs.get("time", [])

    @property
    def stopped_early(self) -> bool:
        return bool(self.stop_reason)

    def best(self, name: str, mode: str = "auto") -> tuple[int, float]:
        """(epoch counting from 1, value) of the best ``name``: highest for accuracies."""
        values = self[name]
        if not values:
            raise InputError(f"History: no epochs recorded for {name!r}")
        maximize = mode == "max" or (mode == "auto" and "acc" in name)
        pick = max if maximize else min
        i = pick(range(len(values)), key=lambda k: values[k])
        return i + 1, values[i]

    def __repr__(self) -> str:
        last = ", ".join(f"{k}={v[-1]:.4g}" for k, v in self.logs.items() if k != "time" and v)
        return f"History(epochs={len(self.epochs)}{', ' + last if last else ''})"


def fit(
    model: Layer,
    X: Any,
    Y: Any,
    *,
    loss: Loss | str,
    optimizer: Optimizer,
    epochs: int,
    batch_size: int | None = None,
    shuffle: bool = True,
    seed: int | None = None,
    validation: tuple[Any, Any] | None = None,
    metrics: Iterable[str | metrics_module.Metric] | str = (),
    callbacks: Iterable[Callback] = (),
    verbose: bool = True,
    initial_epoch: int = 0,
) -> History:
    """Train ``model`` on (X, Y) for ``epochs`` passes; returns the :class:`History`.

    Args:
        model: any Layer, usually a Sequential.
        X: inputs, shape (n_x, m): examples are columns. Cast once to the
            model's dtype.
        Y: targets as the loss takes them: (n_out, m), or class labels (m,).
        loss: a Loss, or "mse", "binary_crossentropy", "categorical_crossentropy".
        optimizer: built on ``model.parameters()``.
        epochs: the epoch to stop after, counting from 0 (with
            ``initial_epoch=0``, the number of passes over the data).
        batch_size: examples per step; None is full-batch gradient descent.
        shuffle: reshuffle the columns every epoch (with minibatches).
        seed: seeds the shuffling; epoch ``e`` draws its order from
            ``default_rng([seed, e])``, so a run resumed at ``initial_epoch``
            shuffles exactly as the uninterrupted run did. By default the
            generator of :func:`minigrad.seed`.
        validation: (X_val, Y_val), evaluated in eval mode after each epoch.
        metrics: names (``"accuracy"``) or functions ``metric(A, Y) -> float``.
        callbacks: :class:`minigrad.callbacks.Callback` objects.
        verbose: print progress (see :mod:`minigrad.progress`).
        initial_epoch: the epoch to start at, to resume from a checkpoint
            saved after ``initial_epoch`` finished epochs.

    Every argument is checked before training starts. NaN or inf in the loss
    or the gradients raises ``DivergenceError`` before the bad step; the model
    keeps its last finite weights and ``err.history`` the finished epochs.
    The model's train/eval mode is restored at the end.

    >>> import numpy as np, minigrad as mg
    >>> X = np.array([[0.0, 0, 1, 1], [0, 1, 0, 1]]); Y = np.array([[0.0, 1, 1, 1]])
    >>> model = mg.Sequential([mg.Dense(2, 1, rng=0), mg.Sigmoid()])
    >>> history = mg.fit(model, X, Y, loss="bce", optimizer=mg.optim.SGD(model.parameters(),
    ...                  lr=1.0), epochs=300, metrics=["accuracy"], verbose=False)
    >>> history["accuracy"][-1], history["loss"][-1] < history["loss"][0]
    (1.0, True)
    """
    loss = as_loss(loss)
    X, Y = prepare("fit", model, X, Y)
    m = X.shape[1]
    val = None if validation is None else prepare_validation(model, validation)
    check_int("epochs", epochs, low=1)
    check_int("initial_epoch", initial_epoch, low=0)
    if initial_epoch >= epochs:
        raise InputError(
            f"fit: initial_epoch ({initial_epoch}) must be below epochs ({epochs}), "
            "the epoch to stop after"
        )
    if batch_size is not None:
        check_int("batch_size", batch_size, low=1)
    if seed is not None:
        check_int("seed", seed, low=0)
    check_optimizer(model, optimizer)
    named_metrics = named_metrics_of(metrics, loss)
    cbs = list(callbacks)
    for i, cb in enumerate(cbs):
        if not any(callable(getattr(cb, hook, None)) for hook in HOOKS):
            raise TypeError(f"fit: callback {i} ({cb!r}) has none of the hooks {', '.join(HOOKS)}")
    progress = ProgressLogger() if verbose else None
    if progress is not None:
        cbs.append(progress)

    size = m if batch_size is None else min(batch_size, m)
    n_batches = math.ceil(m / size)
    names = ["loss", *(n for n, _ in named_metrics)]
    if val is not None:
        names += [f"val_{n}" for n in names]
    history = History()
    state = TrainState(model, optimizer, loss, history, epochs, m, size, n_batches,
                       (*names, "lr", "time"))
    state.step = initial_epoch * n_batches
    calls = {name: hooks(cbs, name) for name in HOOKS}
    shuffling = shuffle and n_batches > 1
    X_epoch, Y_epoch = (np.empty_like(X), np.empty_like(Y)) if shuffling else (X, Y)
    watch = DivergenceWatch(model, loss, optimizer)
    was_training = model.training
    finished = False
    model.train()
    try:
        for call in calls["on_train_begin"]:
            call(state)
        for epoch in range(initial_epoch, epochs):
            state.epoch = epoch
            for call in calls["on_epoch_begin"]:
                call(state)
            lr = optimizer.lr
            start = time.perf_counter()
            if shuffling:
                order = _epoch_rng(seed, epoch).permutation(m)
                np.take(X, order, axis=1, out=X_epoch)
                np.take(Y, order, axis=-1, out=Y_epoch)
            total, sums, seen = 0.0, [0.0] * len(named_metrics), 0
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                for b in range(n_batches):
                    state.batch = b
                    for call in calls["on_batch_begin"]:
                        call(state)
                    if n_batches == 1:
                        X_b, Y_b = X_epoch, Y_epoch
                    else:
                        lo, hi = b * size, (b + 1) * size
                        X_b, Y_b = X_epoch[:, lo:hi], Y_epoch[..., lo:hi]
                    watch.before_step()
                    A = model.forward(X_b)
                    J = watch.loss(A, X_b, Y_b, state)
                    model.backward_params(loss.backward())  # dX of the data is not needed
                    watch.gradients(X_b, Y_b, state)
                    optimizer.step()
                    n = X_b.shape[1]
                    seen += n
                    total += J * n
                    for i, (_, metric) in enumerate(named_metrics):
                        sums[i] += metric(A, Y_b) * n
                    state.step += 1
                    state.batch_loss = J
                    for call in calls["on_batch_end"]:
                        call(state)
                    if state.stop_requested:
                        break
            state.train_time = time.perf_counter() - start
            logs = {"loss": total / seen}
            logs.update({name: s / seen for (name, _), s in zip(named_metrics, sums, strict=True)})
            if val is not None:
                scores = _evaluate(model, val[0], val[1], loss, named_metrics, None)
                logs.update({f"val_{k}": v for k, v in scores.items()})
            logs["lr"] = lr
            logs["time"] = time.perf_counter() - start
            history.append(logs, epoch=epoch + 1)
            state.logs = logs
            for call in calls["on_epoch_end"]:
                call(state)
            if state.stop_requested:
                break
        history.stop_reason = state.stop_reason
        for call in calls["on_train_end"]:
            call(state)
        history.stop_reason = state.stop_reason
        finished = True
    except BaseException as err:
        if hasattr(err, "history"):
            err.history = history
        raise
    finally:
        if not finished:
            for cb in cbs:
                if isinstance(cb, ProgressLogger):
                    cb.close()
        model.train(was_training)
    return history


def _epoch_rng(seed: int | None, epoch: int) -> np.random.Generator:
    """The generator that orders epoch ``epoch``: a function of (seed, epoch) alone."""
    return np.random.default_rng([seed, epoch]) if seed is not None else _rng.default_rng()


def evaluate(
    model: Layer,
    X: Any,
    Y: Any,
    *,
    loss: Loss | str | None = None,
    metrics: Iterable[str | metrics_module.Metric] | str = (),
    batch_size: int | None = None,
) -> dict[str, float]:
    """The loss and metrics of ``model`` on (X, Y), computed in eval mode.

    Returns ``{"loss": ..., "accuracy": ...}`` (no "loss" without a loss).
    ``batch_size`` bounds memory; the results are the same.

    >>> import numpy as np, minigrad as mg
    >>> model = mg.Sequential([mg.Dense(1, 1, rng=0)])
    >>> model[0].W[...] = 2.0
    >>> mg.evaluate(model, np.array([[1.0, 2.0]]), np.array([[2.0, 5.0]]), loss="mse",
    ...             metrics=["mae"])
    {'loss': 0.5, 'mae': 0.5}
    """
    loss_obj = None if loss is None else as_loss(loss)
    X, Y = prepare("evaluate", model, X, Y)
    if batch_size is not None:
        check_int("batch_size", batch_size, low=1)
    return _evaluate(model, X, Y, loss_obj, named_metrics_of(metrics, loss_obj), batch_size)


def _evaluate(
    model: Layer,
    X: Array,
    Y: Any,
    loss: Loss | None,
    named_metrics: Sequence[tuple[str, metrics_module.Metric]],
    batch_size: int | None,
) -> dict[str, float]:
    m = X.shape[1]
    size = m if batch_size is None else min(batch_size, m)
    names = (["loss"] if loss is not None else []) + [n for n, _ in named_metrics]
    sums = dict.fromkeys(names, 0.0)
    for lo in range(0, m, size):
        X_b, Y_b = X[:, lo:lo + size], Y[..., lo:lo + size]
        A = model.predict(X_b)
        n = X_b.shape[1]
        if loss is not None:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                sums["loss"] += loss.forward(A, Y_b) * n
        for name, metric in named_metrics:
            sums[name] += metric(A, Y_b) * n
    return {name: total / m for name, total in sums.items()}
