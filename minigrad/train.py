"""The training loop: ``mg.fit``, ``mg.evaluate`` and the ``History`` they record.

One epoch is one pass over the m examples. With ``batch_size=None`` it is
one full-batch gradient-descent step, as in the notes; otherwise the columns
are shuffled once per epoch (one gather into a reused buffer) and cut into
contiguous column slices. Each step is

    A = model.forward(X_batch);  J = loss.forward(A, Y_batch)
    model.backward(loss.backward());  optimizer.step()

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
from minigrad._checks import as_float_matrix, check_finite
from minigrad._divergence import DivergenceWatch
from minigrad._typing import Array
from minigrad.callbacks import HOOKS, Callback, TrainState, hooks
from minigrad.errors import DTypeError, InputError, ShapeError
from minigrad.layer import Layer
from minigrad.losses import BinaryCrossEntropy, CategoricalCrossEntropy, Loss, MeanSquaredError
from minigrad.optim.optimizer import Optimizer
from minigrad.progress import ProgressLogger

LOSSES: dict[str, type[Loss]] = {
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "bce": BinaryCrossEntropy, "binary_crossentropy": BinaryCrossEntropy,
    "cce": CategoricalCrossEntropy, "categorical_crossentropy": CategoricalCrossEntropy,
}


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

    def append(self, epoch_logs: Mapping[str, float]) -> None:
        """Record one epoch."""
        self.epochs.append(len(self.epochs) + 1)
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
) -> History:
    """Train ``model`` on (X, Y) for ``epochs`` passes; returns the :class:`History`.

    Args:
        model: any Layer, usually a Sequential.
        X: inputs, shape (n_x, m): examples are columns. Cast once to the
            model's dtype.
        Y: targets as the loss takes them: (n_out, m), or class labels (m,).
        loss: a Loss, or "mse", "binary_crossentropy", "categorical_crossentropy".
        optimizer: built on ``model.parameters()``.
        epochs: passes over the data.
        batch_size: examples per step; None is full-batch gradient descent.
        shuffle: reshuffle the columns every epoch (with minibatches).
        seed: seeds the shuffling; by default the generator of :func:`minigrad.seed`.
        validation: (X_val, Y_val), evaluated in eval mode after each epoch.
        metrics: names (``"accuracy"``) or functions ``metric(A, Y) -> float``.
        callbacks: :class:`minigrad.callbacks.Callback` objects.
        verbose: print progress (see :mod:`minigrad.progress`).

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
    loss = _as_loss(loss)
    X, Y = _prepare("fit", model, X, Y)
    m = X.shape[1]
    val = None if validation is None else _prepare_validation(model, validation)
    _check_int("epochs", epochs, low=1)
    if batch_size is not None:
        _check_int("batch_size", batch_size, low=1)
    if seed is not None:
        _check_int("seed", seed, low=0)
    _check_optimizer(model, optimizer)
    named_metrics = _metrics(metrics, loss)
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
    calls = {name: hooks(cbs, name) for name in HOOKS}
    shuffling = shuffle and n_batches > 1
    rng = np.random.default_rng(seed) if seed is not None else _rng.default_rng()
    X_epoch, Y_epoch = (np.empty_like(X), np.empty_like(Y)) if shuffling else (X, Y)
    watch = DivergenceWatch(model, loss, optimizer)
    was_training = model.training
    finished = False
    model.train()
    try:
        for call in calls["on_train_begin"]:
            call(state)
        for epoch in range(epochs):
            state.epoch = epoch
            for call in calls["on_epoch_begin"]:
                call(state)
            lr = optimizer.lr
            start = time.perf_counter()
            if shuffling:
                order = rng.permutation(m)
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
                    model.backward(loss.backward())
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
            history.append(logs)
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
    loss_obj = None if loss is None else _as_loss(loss)
    X, Y = _prepare("evaluate", model, X, Y)
    if batch_size is not None:
        _check_int("batch_size", batch_size, low=1)
    return _evaluate(model, X, Y, loss_obj, _metrics(metrics, loss_obj), batch_size)


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


# -- argument checks (all before any state changes) ------------------------------------


class _Owner(str):
    """A name that shows without quotes in the shared check messages."""

    def __repr__(self) -> str:
        return str(self)


def _prepare(owner: str, model: Layer, X: Any, Y: Any) -> tuple[Array, Any]:
    """X cast once to the model's dtype and Y checked against it; or a clear error."""
    if not isinstance(model, Layer):
        raise TypeError(f"{owner}: model must be a minigrad Layer, got {type(model).__name__}")
    who = _Owner(owner)
    X = as_float_matrix(who, X, model.dtype, "X")
    check_finite(who, X, "X")
    n_x, m = X.shape
    try:
        n_out = model.output_size(n_x)
    except ShapeError as err:
        hint = ""
        try:
            model.output_size(m)
            hint = "\nExamples are columns; did you pass X instead of X.T?"
        except ShapeError:
            pass
        raise ShapeError(
            f"{owner}: X of shape {X.shape} does not fit the model: {err}{hint}"
        ) from None
    Y_arr = Y if isinstance(Y, np.ndarray) else np.asarray(Y)
    if Y_arr.dtype.kind not in "fiub":
        raise DTypeError(f"{owner}: expected Y to hold numbers, got dtype {Y_arr.dtype}")
    if Y_arr.ndim not in (1, 2) or Y_arr.shape[-1] != m:
        hint = "; examples are columns: did you pass Y.T?" if Y_arr.shape[:1] == (m,) else ""
        raise ShapeError(
            f"{owner}: X has {m} examples (columns), so Y must be (n_out, {m}) or ({m},); "
            f"got shape {Y_arr.shape}{hint}"
        )
    if Y_arr.dtype.kind == "f":
        check_finite(who, Y_arr, "Y")
    if Y_arr.ndim == 2 and n_out is not None and Y_arr.shape[0] != n_out:
        hint = "; class labels go in a 1-D array of shape (m,)" if Y_arr.shape[0] == 1 else ""
        raise ShapeError(
            f"{owner}: the model outputs {n_out} rows but Y has {Y_arr.shape[0]}{hint}"
        )
    if Y_arr.ndim == 1 and n_out is not None and n_out > 1:
        if not np.array_equal(Y_arr, np.round(Y_arr)) or Y_arr.min() < 0 or Y_arr.max() >= n_out:
            raise InputError(
                f"{owner}: 1-D Y holds class labels, which must be whole numbers in "
                f"[0, {n_out - 1}] for {n_out} outputs; got values from {Y_arr.min()} "
                f"to {Y_arr.max()}"
            )
        return X, Y_arr.astype(np.int64, copy=False)
    dtype = X.dtype if Y_arr.ndim == 2 or Y_arr.dtype.kind in "fb" else Y_arr.dtype
    return X, Y_arr.astype(dtype, copy=False)


def _prepare_validation(model: Layer, validation: Any) -> tuple[Array, Any]:
    if not isinstance(validation, tuple | list) or len(validation) != 2:
        raise InputError(
            f"fit: validation must be a pair (X_val, Y_val), got {type(validation).__name__}"
        )
    return _prepare("fit (validation)", model, validation[0], validation[1])


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise InputError(f"fit: {name} must be an int >= {low}, got {value!r}")


def _check_optimizer(model: Layer, optimizer: Any) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"fit: optimizer must be a minigrad optimizer such as "
            f"mg.optim.SGD(model.parameters(), lr=0.1), got {type(optimizer).__name__}"
        )
    ours = {id(p) for p in model.parameters()}
    strangers = [p for p in optimizer.params if id(p) not in ours]
    if strangers:
        raise InputError(
            f"fit: the optimizer updates {len(strangers)} parameters that are not the model's "
            f"(first {strangers[0]!r}); build it from this model's parameters()"
        )


def _as_loss(loss: Any) -> Loss:
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss in LOSSES:
        return LOSSES[loss]()
    raise InputError(
        f"loss must be a minigrad Loss or one of {', '.join(sorted(LOSSES))}, got {loss!r}"
    )


def _metrics(
    metrics: Iterable[Any] | str, loss: Loss | None
) -> list[tuple[str, metrics_module.Metric]]:
    items = [metrics] if isinstance(metrics, str) or callable(metrics) else list(metrics)
    named = [metrics_module.get(item, loss) for item in items]
    names = [name for name, _ in named]
    if len(set(names)) != len(names) or "loss" in names:
        raise InputError(f"metrics need distinct names other than 'loss', got {names}")
    return named
