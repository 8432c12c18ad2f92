"""Callbacks: code that :func:`minigrad.fit` runs at fixed points of training.

The protocol. Subclass :class:`Callback` and override any of

    on_train_begin(state)    once, before the first epoch
    on_epoch_begin(state)    before each epoch (state.epoch counts from 0)
    on_batch_begin(state)    before each minibatch (state.batch counts from 0)
    on_batch_end(state)      after each optimizer step (state.batch_loss is set)
    on_epoch_end(state)      after each epoch; state.logs holds its values
    on_train_end(state)      once, after the last epoch (also after a clean stop)

Each receives the :class:`TrainState`: the model, optimizer, loss, the
History so far and the counters. To stop training cleanly, call
``state.stop("why")``: fit finishes the current batch or epoch, runs
``on_train_end`` and returns the History. Only overridden hooks are called,
so a callback costs nothing at the points it ignores.

>>> class PrintLR(Callback):
...     def on_epoch_end(self, state):
...         print(f"epoch {state.epoch + 1}: lr {state.optimizer.lr:g}")
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any, Literal

from attrs import define, field

from minigrad._typing import Array
from minigrad.errors import InputError
from minigrad.layer import Layer
from minigrad.optim.optimizer import Optimizer
from minigrad.optim.schedules import ReduceLROnPlateau as _Plateau
from minigrad.optim.schedules import Schedule

if TYPE_CHECKING:
    from minigrad.history import History
    from minigrad.losses import Loss

HOOKS = ("on_train_begin", "on_epoch_begin", "on_batch_begin", "on_batch_end",
         "on_epoch_end", "on_train_end")


@define(eq=False)
class TrainState:
    """What callbacks see: the objects being trained and where training stands."""

    model: Layer
    optimizer: Optimizer
    loss: Loss
    history: History
    epochs: int
    n_examples: int
    batch_size: int
    n_batches: int
    log_names: tuple[str, ...]
    """The names each epoch's logs will hold ("loss", "val_loss", "accuracy", ...)."""
    epoch: int = 0
    batch: int = 0
    step: int = 0
    """Optimizer steps taken so far, counting those of the epochs before ``initial_epoch``."""
    batch_loss: float = math.nan
    logs: dict[str, float] = field(factory=dict)
    train_time: float = 0.0
    """Seconds spent on the training batches of the current epoch."""
    stop_requested: bool = False
    stop_reason: str = ""

    def stop(self, reason: str = "stopped by a callback") -> None:
        """Ask fit to stop after the current batch; ``reason`` is shown and kept in History."""
        self.stop_requested = True
        self.stop_reason = reason


class Callback:
    """Base class with a no-op for every hook; override the ones you need."""

    def on_train_begin(self, state: TrainState) -> None:
        """Before the first epoch."""

    def on_epoch_begin(self, state: TrainState) -> None:
        """Before each epoch."""

    def on_batch_begin(self, state: TrainState) -> None:
        """Before each minibatch."""

    def on_batch_end(self, state: TrainState) -> None:
        """After each minibatch's optimizer step."""

    def on_epoch_end(self, state: TrainState) -> None:
        """After each epoch, with ``state.logs`` filled in."""

    def on_train_end(self, state: TrainState) -> None:
        """After training ends or stops cleanly."""


def hooks(callbacks: list[Any], name: str) -> list[Any]:
    """The bound ``name`` methods of the callbacks that override it."""
    base = getattr(Callback, name)
    found = []
    for cb in callbacks:
        method = getattr(type(cb), name, None)
        if callable(method) and method is not base:
            found.append(getattr(cb, name))
    return found


# -- weights ------------------------------------------------------------------------


def snapshot(model: Layer) -> dict[str, Array]:
    """Copies of every parameter value and buffer, by dotted name."""
    saved = {f"param:{name}": p.value.copy() for name, p in model.named_parameters()}
    saved.update({f"buffer:{name}": a.copy() for name, a in model.buffers().items()})
    return saved


def restore(model: Layer, saved: dict[str, Array]) -> None:
    """Copy a :func:`snapshot` back into the model's arrays, in place."""
    for name, p in model.named_parameters():
        p.value[...] = saved[f"param:{name}"]
    for name, array in model.buffers().items():
        array[...] = saved[f"buffer:{name}"]


# -- monitoring helpers ---------------------------------------------------------------

Mode = Literal["auto", "min", "max"]


def _check_mode(instance: Any, attribute: Any, value: Any) -> None:
    if value not in ("auto", "min", "max"):
        raise ValueError(
            f"{type(instance).__name__}: mode must be 'auto', 'min' or 'max', got {value!r}"
        )


def _non_negative_int(instance: Any, attribute: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(
            f"{type(instance).__name__}: {attribute.name} must be an int >= 0, got {value!r}"
        )


def _non_negative(instance: Any, attribute: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ValueError(
            f"{type(instance).__name__}: {attribute.name} must be a number >= 0, got {value!r}"
        )


def resolve_monitor(owner: object, monitor: str | None, state: TrainState) -> str:
    """``monitor``, or "val_loss" with validation data and "loss" without; checked."""
    name = monitor or ("val_loss" if "val_loss" in state.log_names else "loss")
    if name not in state.log_names:
        hint = "; pass validation=(X_val, Y_val) to fit" if name.startswith("val_") else ""
        raise InputError(
            f"{owner!r}: monitor {name!r} is not logged; fit logs "
            f"{', '.join(state.log_names)}{hint}"
        )
    return name


def resolve_mode(mode: Mode, monitor: str) -> Literal["min", "max"]:
    """``auto`` maximizes accuracies and minimizes everything else."""
    if mode != "auto":
        return mode
    return "max" if "acc" in monitor else "min"


def improves(value: float, best: float, mode: str, min_delta: float) -> bool:
    """Whether ``value`` beats ``best`` by more than ``min_delta``; NaN never does."""
    if mode == "min":
        return value < best - min_delta
    return value > best + min_delta


# -- the built-in callbacks -----------------------------------------------------------


@define(eq=False)
class EarlyStopping(Callback):
    """Stop when the monitored value has not improved for ``patience`` epochs.

    An epoch improves when its value beats the best so far by more than
    ``min_delta`` (lower for losses, higher for accuracies under
    ``mode="auto"``). With ``restore_best_weights`` the model ends training
    with the weights of its best epoch, whether training stopped early or not.

    Args:
        monitor: a name from the epoch logs; by default ``"val_loss"`` when
            fit has validation data, else ``"loss"``.
        patience: epochs without improvement to allow (default 5).
        min_delta: the smallest change that counts as an improvement.
        mode: ``"auto"``, ``"min"`` or ``"max"``.
        restore_best_weights: put back the best epoch's weights at the end.
    """

    monitor: str | None = None
    patience: int = field(default=5, validator=_non_negative_int)
    min_delta: float = field(default=0.0, validator=_non_negative)
    mode: Mode = field(default="auto", validator=_check_mode)
    restore_best_weights: bool = True
    best: float = field(default=math.nan, init=False, repr=False)
    best_epoch: int = field(default=-1, init=False, repr=False)
    """0-based index of the best epoch (-1 before any)."""
    wait: int = field(default=0, init=False, repr=False)
    best_weights: dict[str, Array] | None = field(default=None, init=False, repr=False)
    _monitor: str = field(default="", init=False, repr=False)
    _mode: str = field(default="min", init=False, repr=False)

    def on_train_begin(self, state: TrainState) -> None:
        self._monitor = resolve_monitor(self, self.monitor, state)
        self._mode = resolve_mode(self.mode, self._monitor)
        self.best = math.inf if self._mode == "min" else -math.inf
        self.best_epoch, self.wait, self.best_weights = -1, 0, None

    def on_epoch_end(self, state: TrainState) -> None:
        value = state.logs[self._monitor]
        if improves(value, self.best, self._mode, self.min_delta):
            self.best, self.best_epoch, self.wait = value, state.epoch, 0
            if self.restore_best_weights:
                self.best_weights = snapshot(state.model)
            return
        self.wait += 1
        if self.wait >= self.patience and not state.stop_requested:
            state.stop(
                f"EarlyStopping: {self._monitor} did not improve for {self.wait} epochs "
                f"(best {self.best:.4g} at epoch {self.best_epoch + 1})"
            )

    def on_train_end(self, state: TrainState) -> None:
        last = len(state.history.epochs) - 1
        if self.best_weights is not None and self.best_epoch != last:
            restore(state.model, self.best_weights)
            note = f"restored the best weights (epoch {self.best_epoch + 1})"
            state.stop_reason = f"{state.stop_reason}; {note}" if state.stop_reason else note


@define(eq=False)
class LearningRateScheduler(Callback):
    """Set ``optimizer.lr = schedule(t)`` before each epoch (or each step).

    ``t`` counts epochs from 0 with ``per="epoch"`` and optimizer steps from 0
    with ``per="step"``. Any callable works as the schedule, such as
    :class:`minigrad.optim.CosineDecay` or ``lambda t: 0.1 * 0.5 ** t``.
    """

    schedule: Schedule
    per: Literal["epoch", "step"] = field(default="epoch")

    @per.validator
    def _check_per(self, attribute: Any, value: Any) -> None:
        if value not in ("epoch", "step"):
            raise ValueError(f"LearningRateScheduler: per must be 'epoch' or 'step', got {value!r}")

    def on_epoch_begin(self, state: TrainState) -> None:
        if self.per == "epoch":
            state.optimizer.lr = self.schedule(state.epoch)

    def on_batch_begin(self, state: TrainState) -> None:
        if self.per == "step":
            state.optimizer.lr = self.schedule(state.step)


@define(eq=False)
class ReduceLROnPlateau(Callback):
    """Cut the learning rate by ``factor`` after ``patience`` epochs without improvement.

    The callback form of :class:`minigrad.optim.ReduceLROnPlateau` (see it for
    the rule); ``monitor`` defaults as in :class:`EarlyStopping`.
    """

    monitor: str | None = None
    factor: float = 0.1
    patience: int = 10
    min_delta: float = 1e-4
    mode: Mode = field(default="auto", validator=_check_mode)
    cooldown: int = 0
    min_lr: float = 0.0
    plateau: _Plateau | None = field(default=None, init=False, repr=False)
    _monitor: str = field(default="", init=False, repr=False)

    def on_train_begin(self, state: TrainState) -> None:
        self._monitor = resolve_monitor(self, self.monitor, state)
        self.plateau = _Plateau(
            state.optimizer, factor=self.factor, patience=self.patience,
            min_delta=self.min_delta, mode=resolve_mode(self.mode, self._monitor),
            cooldown=self.cooldown, min_lr=self.min_lr,
        )

    def on_epoch_end(self, state: TrainState) -> None:
        if self.plateau is not None:
            self.plateau.step(state.logs[self._monitor])


@define(eq=False)
class ModelCheckpoint(Callback):
    """Save the model (and optimizer) when the monitored value improves.

    Saving goes through ``minigrad.io.save(model, path, optimizer=optimizer)``,
    the project's model file format (reload with ``mg.load`` or
    ``mg.load_checkpoint``). The best weights are also kept in memory
    (``best_weights``; put them back with ``restore(model)``). ``path`` may hold fields
    such as ``"model-{epoch:03d}-{val_loss:.3f}.npz"``, filled from the epoch
    (counting from 1) and its logs.

    Args:
        path: where to save.
        monitor: a name from the epoch logs; defaults as in :class:`EarlyStopping`.
        save_best_only: save only improving epochs (default); False saves every epoch.
        mode: ``"auto"``, ``"min"`` or ``"max"``.
        save_optimizer: include the optimizer's state, so training can resume.
    """

    path: str = field(converter=str)
    monitor: str | None = None
    save_best_only: bool = True
    mode: Mode = field(default="auto", validator=_check_mode)
    save_optimizer: bool = True
    best: float = field(default=math.nan, init=False, repr=False)
    best_epoch: int = field(default=-1, init=False, repr=False)
    best_weights: dict[str, Array] | None = field(default=None, init=False, repr=False)
    saved_paths: list[str] = field(factory=list, init=False, repr=False)
    _monitor: str = field(default="", init=False, repr=False)
    _mode: str = field(default="min", init=False, repr=False)

    def on_train_begin(self, state: TrainState) -> None:
        self._monitor = resolve_monitor(self, self.monitor, state)
        self._mode = resolve_mode(self.mode, self._monitor)
        self._check_path(state.log_names)
        self.best = math.inf if self._mode == "min" else -math.inf
        self.best_epoch, self.best_weights = -1, None

    def _check_path(self, log_names: tuple[str, ...]) -> None:
        """Fill the path template as an epoch would, and check its folder: before epoch 1."""
        fields = ", ".join(["epoch", *log_names])
        paths = []
        for epoch in (1, 2):
            try:
                paths.append(self.path.format(epoch=epoch, **dict.fromkeys(log_names, 0.5)))
            except (KeyError, IndexError, ValueError, TypeError, AttributeError) as err:
                reason = (f"there is no field {err}" if isinstance(err, KeyError) else
                          "positional fields such as {} get no value"
                          if isinstance(err, IndexError) else str(err))
                raise InputError(
                    f"{self!r}: cannot fill the path {self.path!r} ({reason}); it may use the "
                    f"fields {fields}, e.g. 'model-{{epoch:03d}}.npz'"
                ) from None
        folders = {os.path.dirname(os.path.abspath(p)) for p in paths}
        folder = folders.pop()
        if not folders and not os.path.isdir(folder):  # a folder that depends on the epoch: skip
            what = "is a file" if os.path.exists(folder) else "does not exist"
            raise InputError(f"{self!r}: cannot save to {paths[0]!r}: the folder {folder!r} {what}")

    def on_epoch_end(self, state: TrainState) -> None:
        value = state.logs[self._monitor]
        better = improves(value, self.best, self._mode, 0.0)
        if better:
            self.best, self.best_epoch = value, state.epoch
            self.best_weights = snapshot(state.model)
        if better or not self.save_best_only:
            from minigrad.io import save  # model files build on layers; import when used

            path = self.path.format(epoch=state.epoch + 1, **state.logs)
            save(state.model, path, optimizer=state.optimizer if self.save_optimizer else None)
            self.saved_paths.append(path)

    def restore(self, model: Layer) -> None:
        """Copy the best epoch's weights (kept in memory) into ``model``."""
        if self.best_weights is None:
            raise InputError(f"{self!r}: no epoch has been recorded yet")
        restore(model, self.best_weights)
