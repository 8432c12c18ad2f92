"""The training loop: ``mg.fit`` and ``mg.evaluate``.

One epoch is one pass over the m examples. With ``batch_size=None`` it is
one full-batch gradient-descent step, as in the notes; otherwise the
examples are shuffled once per epoch (one gather into a reused buffer) and
cut into contiguous slices of the last axis. Each step is

    A = model.forward(X_batch);  J = loss.forward(A, Y_batch)
    model.backward_params(loss.backward());  optimizer.step()

``backward_params`` is ``backward`` without the gradient of the data X,
which training never uses. Before ``optimizer.step()`` the loss and the
gradients are checked: NaN or inf stops training with a
:class:`minigrad.errors.DivergenceError`, and the bad step is not applied.
An epoch's loss is the mean of its batch losses weighted by batch size.

When the model ends in a Sigmoid and the loss is binary cross-entropy (or
Softmax and categorical cross-entropy), fit decides once, before training,
to take the two together: the step then runs the model up to that layer,
the layer itself, and ``loss.forward_fused`` gives J and dZ = A - Y, which
goes back through the rest. It computes the same gradients (exactly, also
where A saturates) with less work.

A model with several outputs takes one loss for each (or one for all) and
``loss_weights``: J = sum_k w_k J_k, and output k's gradient is w_k dA_k.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from minigrad import _rng
from minigrad import metrics as metrics_module
from minigrad._divergence import DivergenceWatch
from minigrad._fit_checks import (
    Objective,
    Prepared,
    check_int,
    check_optimizer,
    objective_of,
    prepare,
    prepare_validation,
    refuse_one_class,
)
from minigrad._interrupt import DeferredInterrupt
from minigrad.callbacks import HOOKS, Callback, TrainState, hooks
from minigrad.errors import InputError
from minigrad.history import History
from minigrad.layer import Layer
from minigrad.losses import Loss
from minigrad.optim.optimizer import Optimizer
from minigrad.progress import ProgressLogger

__all__ = ["History", "evaluate", "fit"]


def fit(
    model: Layer,
    X: Any,
    Y: Any,
    *,
    loss: Loss | str | Sequence[Loss | str] | dict[str, Loss | str],
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
    loss_weights: Sequence[float] | dict[str, float] | None = None,
) -> History:
    """Train ``model`` on (X, Y) for ``epochs`` passes; returns the :class:`History`.

    Args:
        model: any Layer: a Sequential, a Graph, ...
        X: inputs with examples on the last axis: (n_x, m) columns, or
            (c, h, w, m) images. A Graph with several inputs takes a list (or
            a dict by input name). Cast once to the model's dtype.
        Y: targets as the loss takes them: (n_out, m), or class labels (m,).
            With several outputs, a list (or a dict by output name).
        loss: a Loss, or "mse", "binary_crossentropy", "categorical_crossentropy";
            with several outputs, one for all or a list/dict of one per output.
        optimizer: built on ``model.parameters()``.
        epochs: the epoch to stop after, counting from 0 (with
            ``initial_epoch=0``, the number of passes over the data).
        batch_size: examples per step; None is full-batch gradient descent.
            A last batch of fewer examples is used as it is, except that a
            model with BatchNorm needs at least 2 (checked before training).
        shuffle: reshuffle the examples every epoch (with minibatches).
        seed: seeds the shuffling; epoch ``e`` draws its order from
            ``default_rng([seed, e])``, so a run resumed at ``initial_epoch``
            shuffles exactly as the uninterrupted run did. By default the
            generator of :func:`minigrad.seed`.
        validation: (X_val, Y_val), evaluated after each epoch (as predict does).
        metrics: names (``"accuracy"``) or functions ``metric(A, Y) -> float``;
            with several outputs each is computed per output ("out_accuracy").
        callbacks: :class:`minigrad.callbacks.Callback` objects.
        verbose: print progress (see :mod:`minigrad.progress`).
        initial_epoch: the epoch to start at, to resume from a checkpoint
            saved after ``initial_epoch`` finished epochs.
        loss_weights: w_k for J = sum_k w_k J_k (several outputs; default 1 each).

    Every argument is checked before training starts. NaN or inf in the loss
    or the gradients raises ``DivergenceError`` before the bad step; the model
    keeps its last finite weights and ``err.history`` the finished epochs.
    Ctrl-C (KeyboardInterrupt) is held until the step under way has finished,
    so the model and the optimizer are always at a step boundary; fit then
    returns the History with ``stop_reason`` saying so. The model's train/eval
    mode is restored at the end.

    >>> import numpy as np, minigrad as mg
    >>> X = np.array([[0.0, 0, 1, 1], [0, 1, 0, 1]]); Y = np.array([[0.0, 1, 1, 1]])
    >>> model = mg.Sequential([mg.Dense(2, 1, rng=0), mg.Sigmoid()])
    >>> history = mg.fit(model, X, Y, loss="bce", optimizer=mg.optim.SGD(model.parameters(),
    ...                  lr=1.0), epochs=300, metrics=["accuracy"], verbose=False)
    >>> history["accuracy"][-1], history["loss"][-1] < history["loss"][0]
    (1.0, True)
    """
    data = prepare("fit", model, X, Y)
    objective = objective_of(model, loss, loss_weights, data)
    refuse_one_class(model, objective, data)
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
    m = data.m
    size = m if batch_size is None else min(batch_size, m)
    objective.check_batches(m, size)
    named_metrics = objective.metrics(metrics)
    cbs = list(callbacks)
    for i, cb in enumerate(cbs):
        if not any(callable(getattr(cb, hook, None)) for hook in HOOKS):
            raise TypeError(f"fit: callback {i} ({cb!r}) has none of the hooks {', '.join(HOOKS)}")
    if verbose:
        cbs.append(ProgressLogger())

    n_batches = math.ceil(m / size)
    names = ["loss", *(n for n, _, _ in named_metrics)]
    if val is not None:
        names += [f"val_{n}" for n in names]
    history = History()
    state = TrainState(model, optimizer, objective.losses[0], history, epochs, m, size,
                       n_batches, (*names, "lr", "time"))
    state.step = initial_epoch * n_batches
    calls = {name: hooks(cbs, name) for name in HOOKS}
    was_training = model.training
    finished = False
    model.train()
    try:
        for call in calls["on_train_begin"]:
            call(state)
        with DeferredInterrupt() as interrupt:
            _train(model, data, objective, optimizer, state, named_metrics, val, calls,
                   interrupt, shuffle=shuffle, seed=seed, initial_epoch=initial_epoch)
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
    data: Prepared,
    objective: Objective,
    optimizer: Optimizer,
    state: TrainState,
    named_metrics: Sequence[tuple[str, int, metrics_module.Metric]],
    val: Prepared | None,
    calls: dict[str, list[Any]],
    interrupt: DeferredInterrupt,
    *,
    shuffle: bool,
    seed: int | None,
    initial_epoch: int,
) -> None:
    """The epochs of :func:`fit`, after every check has passed: the loop the docstring shows."""
    m, size, n_batches = state.n_examples, state.batch_size, state.n_batches
    history = state.history
    shuffling = shuffle and n_batches > 1
    # shuffled epochs gather into buffers made once; the batches are slices of them
    X_epoch = [np.empty_like(X) for X in data.X] if shuffling else data.X
    Y_epoch = [np.empty_like(Y) for Y in data.Y] if shuffling else data.Y
    batches = [
        ([X[..., lo:lo + size] for X in X_epoch], [Y[..., lo:lo + size] for Y in Y_epoch],
         min(size, m - lo))
        for lo in range(0, m, size)
    ] if n_batches > 1 else [(X_epoch, Y_epoch, m)]  # full batch: the arrays themselves
    watch = DivergenceWatch(model, objective, optimizer)
    step = objective.step_function(model)
    begin_epoch, end_epoch = calls["on_epoch_begin"], calls["on_epoch_end"]
    begin_batch, end_batch = calls["on_batch_begin"], calls["on_batch_end"]
    logs_read = any(calls.values())  # only callbacks see state.logs
    record = history.recorder(state.log_names)
    clock = time.perf_counter
    caller_errors = np.geterr()
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for epoch in range(initial_epoch, state.epochs):
            state.epoch = epoch
            if begin_epoch:  # entering an error state costs as much as a tiny net's step
                with np.errstate(**caller_errors):
                    for call in begin_epoch:
                        call(state)
            lr = optimizer.lr
            start = clock()
            if shuffling:
                order = _epoch_rng(seed, epoch).permutation(m)
                for source, target in zip([*data.X, *data.Y], [*X_epoch, *Y_epoch], strict=True):
                    np.take(source, order, axis=-1, out=target)
            total = 0.0
            # the guards on metrics look redundant but are not free to drop: without them
            # a tiny net's full-batch epoch runs 1.8k more instructions (callgrind, planar)
            sums = [0.0] * len(named_metrics) if named_metrics else []
            for b, (X_b, Y_b, n) in enumerate(batches):
                state.batch = b
                for call in begin_batch:
                    call(state)
                # forward, loss, backward; optimizer.step(), unless anything is NaN or inf
                J, outputs = watch.step(step, X_b, Y_b, state)
                total += J * n
                if named_metrics:
                    for i, (_, k, metric) in enumerate(named_metrics):
                        sums[i] += metric(outputs[k], Y_b[k]) * n
                state.step += 1
                state.batch_loss = J
                for call in end_batch:
                    call(state)
                if interrupt.requested:
                    state.stop(f"interrupted (Ctrl-C) after epoch {epoch + 1}, batch {b + 1}: "
                               "the model and optimizer are at that step's end")
                if state.stop_requested:
                    break
            seen = min(m, (b + 1) * size)
            end = clock()
            state.train_time = end - start
            if sums or val is not None:
                values = [total / seen, *[s / seen for s in sums]]
                if val is not None:
                    with np.errstate(**caller_errors):
                        scores = _evaluate(model, val, objective, named_metrics, None)
                    values += scores.values()
                    end = clock()
                values += [lr, end - start]
            else:  # the loss alone: one list
                values = [total / seen, lr, end - start]
            if logs_read:  # a dict per epoch is a cost a tiny net's full-batch epoch feels
                state.logs = dict(zip(state.log_names, values, strict=True))
            record(values, epoch + 1)
            if end_epoch:
                with np.errstate(**caller_errors):
                    for call in end_epoch:
                        call(state)
            if interrupt.requested and not state.stop_requested:  # Ctrl-C after the last step
                state.stop(f"interrupted (Ctrl-C) after epoch {epoch + 1}: the model and "
                           "optimizer are at that epoch's end")
            if state.stop_requested:
                break


def _epoch_rng(seed: int | None, epoch: int) -> np.random.Generator:
    """The generator that orders epoch ``epoch``: a function of (seed, epoch) alone."""
    return np.random.default_rng([seed, epoch]) if seed is not None else _rng.default_rng()


def evaluate(
    model: Layer,
    X: Any,
    Y: Any,
    *,
    loss: Loss | str | Sequence[Loss | str] | dict[str, Loss | str] | None = None,
    metrics: Iterable[str | metrics_module.Metric] | str = (),
    batch_size: int | None = None,
    loss_weights: Sequence[float] | dict[str, float] | None = None,
) -> dict[str, float]:
    """The loss and metrics of ``model`` on (X, Y), computed as ``predict`` does.

    Returns ``{"loss": ..., "accuracy": ...}`` (no "loss" without a loss).
    ``batch_size`` bounds memory; the results are the same. The model is left
    exactly as it was (mode, caches, running statistics).

    >>> import numpy as np, minigrad as mg
    >>> model = mg.Sequential([mg.Dense(1, 1, rng=0)])
    >>> model[0].W[...] = 2.0
    >>> mg.evaluate(model, np.array([[1.0, 2.0]]), np.array([[2.0, 5.0]]), loss="mse",
    ...             metrics=["mae"])
    {'loss': 0.5, 'mae': 0.5}
    """
    data = prepare("evaluate", model, X, Y)
    objective = objective_of(model, loss, loss_weights, data)
    if batch_size is not None:
        check_int("batch_size", batch_size, low=1)
    return _evaluate(model, data, objective, objective.metrics(metrics), batch_size)


def _evaluate(
    model: Layer,
    data: Prepared,
    objective: Objective,
    named_metrics: Sequence[tuple[str, int, metrics_module.Metric]],
    batch_size: int | None,
) -> dict[str, float]:
    m = data.m
    size = m if batch_size is None else min(batch_size, m)
    names = (["loss"] if objective.losses else []) + [n for n, _, _ in named_metrics]
    sums = dict.fromkeys(names, 0.0)
    for lo in range(0, m, size):
        X_b = [X[..., lo:lo + size] for X in data.X]
        Y_b = [Y[..., lo:lo + size] for Y in data.Y]
        outputs = data.outputs(model.predict(data.inputs(X_b)))
        n = X_b[0].shape[-1]
        if objective.losses:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                sums["loss"] += objective.cost(outputs, Y_b) * n
        for name, k, metric in named_metrics:
            sums[name] += metric(outputs[k], Y_b[k]) * n
    return {name: total / m for name, total in sums.items()}
