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

The loss's two calls go through ``loss.train_step`` (see
:class:`minigrad.losses.Loss`): Y is checked once, before training, and a
loss fused with the model's output layer (binary cross-entropy after a
Sigmoid) hands that layer dZ = A - Y without making dA, which nothing in
the step reads. With one full-batch step per epoch and nothing else to do
(no callbacks, metrics or validation) the epoch's bookkeeping is three
appends to History.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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

    def _repr_html_(self) -> str:
        """Jupyter's display: the first and last epochs as a table, and the curves."""
        from minigrad._notebook import history_html

        return history_html(self.logs, self.epochs, self.stop_reason)


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
    targets = loss.prepare_targets(Y)
    named_metrics = named_metrics_of(metrics, loss)
    cbs = list(callbacks)
    for i, cb in enumerate(cbs):
        if not any(callable(getattr(cb, hook, None)) for hook in HOOKS):
            raise TypeError(f"fit: callback {i} ({cb!r}) has none of the hooks {', '.join(HOOKS)}")
    if verbose:
        cbs.append(ProgressLogger())

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
    was_training = model.training
    finished = False
    model.train()
    try:
        for call in calls["on_train_begin"]:
            call(state)
        _train(model, X, Y, targets, loss, optimizer, state, named_metrics, val, calls,
               shuffle=shuffle, seed=seed, initial_epoch=initial_epoch)
        if loss.dA is None and loss._deferred is not None:
            loss.backward()  # a fused last step left dA to be made on request: make it now
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


def _train(
    model: Layer,
    X: Array,
    Y: Any,
    targets: Any,
    loss: Loss,
    optimizer: Optimizer,
    state: TrainState,
    named_metrics: Sequence[tuple[str, metrics_module.Metric]],
    val: tuple[Array, Any] | None,
    calls: dict[str, list[Any]],
    *,
    shuffle: bool,
    seed: int | None,
    initial_epoch: int,
) -> None:
    """The epochs of :func:`fit`, after every check has passed.

    With one step per epoch (full batch) whatever is done per epoch is done
    per step, so everything that can be is decided once, here: the error
    state is entered once (epoch callbacks and validation still run under
    the caller's), batches are column slices made once, hooks that no
    callback overrides cost nothing, and History grows by appending to its
    lists.
    """
    m, size, n_batches = state.n_examples, state.batch_size, state.n_batches
    history = state.history
    shuffling = shuffle and n_batches > 1
    X_epoch, Y_epoch = (np.empty_like(X), np.empty_like(Y)) if shuffling else (X, Y)
    watch = DivergenceWatch(model, loss, optimizer)
    with_buffers = bool(watch.buffers)
    begin_epoch, end_epoch = calls["on_epoch_begin"], calls["on_epoch_end"]
    begin_batch, end_batch = calls["on_batch_begin"], calls["on_batch_end"]
    metric_fns = [metric for _, metric in named_metrics]
    perf_counter = time.perf_counter
    forward, backward_params, optimizer_step = model.forward, model.backward_params, optimizer.step
    step_loss, check_gradients = watch.loss, watch.gradients
    log_names = state.log_names
    history_columns: list[list[float]] | None = None  # History's lists, once they exist
    plain = not (metric_fns or val is not None or end_epoch)
    caller_errors = np.geterr()
    # each batch's X, Y, the loss's targets (see Loss.prepare_targets) and size, made once;
    # the targets of shuffled batches are made again each epoch
    columns: list[tuple[Array, Any, Any, int]] = [(X, Y, targets, m)]
    if n_batches > 1:
        columns = [
            (X_epoch[:, lo:lo + size], Y_b, None if shuffling else loss.prepare_targets(Y_b),
             min(size, m - lo))
            for lo in range(0, m, size)
            for Y_b in [Y_epoch[..., lo:lo + size]]
        ]
    prepare_targets = loss.prepare_targets
    if plain and n_batches == 1 and not (begin_epoch or begin_batch or end_batch or with_buffers):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            _plain_full_batch(X, Y, targets, initial_epoch, optimizer, state, step_loss,
                              check_gradients, forward, backward_params, optimizer_step)
        return
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for epoch in range(initial_epoch, state.epochs):
            state.epoch = epoch
            if begin_epoch:
                with np.errstate(**caller_errors):
                    for call in begin_epoch:
                        call(state)
            lr = optimizer.lr
            start = perf_counter()
            if shuffling:
                order = _epoch_rng(seed, epoch).permutation(m)
                np.take(X, order, axis=1, out=X_epoch)
                np.take(Y, order, axis=-1, out=Y_epoch)
            total = 0.0
            sums = [0.0] * len(metric_fns)
            for b, (X_b, Y_b, targets_b, n) in enumerate(columns):
                if shuffling:
                    targets_b = prepare_targets(Y_b)
                state.batch = b
                for call in begin_batch:
                    call(state)
                if with_buffers:
                    watch.before_step()
                A = forward(X_b)
                J, grad = step_loss(A, X_b, Y_b, targets_b, state)
                backward_params(grad)  # dX of the data is not needed
                check_gradients(X_b, Y_b, state)
                optimizer_step()
                total += J * n
                for i, metric in enumerate(metric_fns):
                    sums[i] += metric(A, Y_b) * n
                state.step += 1
                state.batch_loss = J
                if end_batch:
                    for call in end_batch:
                        call(state)
                    if state.stop_requested:
                        break
            seen = min(m, (b + 1) * size)
            state.train_time = perf_counter() - start
            if plain:  # loss, lr and time only: straight into History's lists
                if history_columns is None:
                    history_columns = [history.logs.setdefault(n, []) for n in log_names]
                history_columns[0].append(total / seen)
                history_columns[1].append(lr)
                history_columns[2].append(perf_counter() - start)
                history.epochs.append(epoch + 1)
            else:
                values = [total / seen, *(s / seen for s in sums)]
                if val is not None:
                    with np.errstate(**caller_errors):
                        scores = _evaluate(model, val[0], val[1], loss, named_metrics, None)
                    values += scores.values()
                values += [lr, perf_counter() - start]
                history.append(dict(zip(log_names, values, strict=True)), epoch=epoch + 1)
                if end_epoch:
                    state.logs = dict(zip(log_names, values, strict=True))
                    with np.errstate(**caller_errors):
                        for call in end_epoch:
                            call(state)
            if state.stop_requested:
                break


def _plain_full_batch(
    X: Array,
    Y: Any,
    targets: Any,
    first: int,
    optimizer: Optimizer,
    state: TrainState,
    step_loss: Callable[[Array, Array, Any, Any, TrainState], tuple[float, Array]],
    check_gradients: Callable[[Array, Any, TrainState], None],
    forward: Callable[[Array], Array],
    backward_params: Callable[[Array], None],
    optimizer_step: Callable[[], None],
) -> None:
    """The epochs of :func:`_train` with one full-batch step each and nothing else to do.

    The notes' way to train, where the step is all there is: the same calls
    in the same order, with the epoch's bookkeeping cut to three appends.
    History gets the finished epochs also when a step fails.
    """
    perf_counter = time.perf_counter
    losses: list[float] = []
    lrs: list[float] = []
    times: list[float] = []
    try:
        for epoch in range(first, state.epochs):
            state.epoch = epoch
            lr = optimizer.lr
            start = perf_counter()
            A = forward(X)
            J, grad = step_loss(A, X, Y, targets, state)
            backward_params(grad)  # dX of the data is not needed
            check_gradients(X, Y, state)
            optimizer_step()
            losses.append(J)
            lrs.append(lr)
            times.append(perf_counter() - start)
    finally:
        done = len(losses)
        if done:
            history = state.history
            for name, column in zip(state.log_names, (losses, lrs, times), strict=True):
                history.logs.setdefault(name, []).extend(column)
            history.epochs.extend(range(first + 1, first + done + 1))
            state.step += done
            state.batch_loss = losses[-1]
            state.train_time = times[-1]
            state.logs = {"loss": losses[-1], "lr": lrs[-1], "time": times[-1]}


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
