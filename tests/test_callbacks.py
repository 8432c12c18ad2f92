"""Callbacks: EarlyStopping, schedules, ReduceLROnPlateau, ModelCheckpoint, clean stops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typing_extensions import override

import minigrad as mg
from minigrad import callbacks as cb_module
from minigrad.callbacks import Callback, TrainState


def line_data(seed: int, m: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """y = 3 x - 1 plus a little noise, x ~ N(0, 1)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(1, m))
    return X, 3 * X - 1 + 0.1 * rng.normal(size=(1, m))


def linear_model() -> mg.Sequential:
    return mg.Sequential([mg.Dense(1, 1, rng=0)])


def weights(model: mg.Layer) -> list[np.ndarray]:
    return [p.value.copy() for p in model.parameters()]


def test_early_stopping_stops_and_restores_the_best_epoch() -> None:
    X, Y = line_data(0)
    Xv, Yv = line_data(1)
    model = linear_model()
    # lr 0.1 for 3 epochs, then 1.5: each step overshoots (|1 - 2 lr E[x^2]| > 1), val_loss grows
    schedule = mg.LearningRateScheduler(lambda t: 0.1 if t < 3 else 1.5)
    stopper = mg.EarlyStopping(patience=2)
    history = mg.fit(model, X, Y, loss="mse", optimizer=mg.optim.SGD(model.parameters(), lr=0.1),
                     epochs=50, validation=(Xv, Yv), callbacks=[schedule, stopper], verbose=False)
    val = history["val_loss"]
    assert len(val) == 5  # best at epoch 3 (index 2), then two worse ones
    assert stopper.best_epoch == 2 and val[2] == min(val) and val[3] > val[2] < val[4]
    assert history.lr == [0.1, 0.1, 0.1, 1.5, 1.5]
    assert mg.evaluate(model, Xv, Yv, loss="mse")["loss"] == val[2]  # best weights are back
    assert history.stopped_early
    assert "EarlyStopping: val_loss did not improve for 2 epochs (best" in history.stop_reason
    assert "restored the best weights (epoch 3)" in history.stop_reason


def test_early_stopping_without_restoring_keeps_the_last_weights() -> None:
    X, Y = line_data(0)
    model = linear_model()
    schedule = mg.LearningRateScheduler(lambda t: 0.1 if t < 3 else 1.5)
    stopper = mg.EarlyStopping(monitor="loss", patience=1, restore_best_weights=False)
    history = mg.fit(model, X, Y, loss="mse", optimizer=mg.optim.SGD(model.parameters(), lr=0.1),
                     epochs=50, callbacks=[schedule, stopper], verbose=False)
    assert len(history.epochs) < 50 and stopper.best_weights is None
    assert "restored" not in history.stop_reason


def test_early_stopping_monitors_accuracy_upwards() -> None:
    stopper = mg.EarlyStopping(monitor="val_accuracy")
    state = TrainState(linear_model(), mg.optim.SGD(linear_model().parameters(), lr=0.1),
                       mg.losses.MeanSquaredError(), mg.History(), 3, 10, 10, 1,
                       ("loss", "accuracy", "val_loss", "val_accuracy"))
    stopper.on_train_begin(state)
    assert stopper.best == -np.inf


def test_a_monitor_that_is_not_logged_is_refused_before_training() -> None:
    X, Y = line_data(0)
    model = linear_model()
    opt = mg.optim.SGD(model.parameters(), lr=0.1)
    before = weights(model)
    cases: list[tuple[Callback, str]] = [
        (mg.EarlyStopping(monitor="val_loss"), r"pass validation=\(X_val, Y_val\) to fit"),
        (mg.ReduceLROnPlateau(monitor="accuracy"), "fit logs loss, lr, time"),
        (mg.ModelCheckpoint("unused.npz", monitor="val_mae"), "monitor 'val_mae' is not logged"),
    ]
    for callback, message in cases:
        with pytest.raises(mg.InputError, match=message):
            mg.fit(model, X, Y, loss="mse", optimizer=opt, epochs=3, callbacks=[callback],
                   verbose=False)
    for a, b in zip(before, weights(model), strict=True):
        np.testing.assert_array_equal(a, b)
    assert opt.step_count == 0


def test_learning_rate_scheduler_per_epoch_and_per_step() -> None:
    X, Y = line_data(2)
    model = linear_model()
    opt = mg.optim.SGD(model.parameters(), lr=1.0)
    decay = mg.optim.StepDecay(0.2, step_size=2, gamma=0.5)
    history = mg.fit(model, X, Y, loss="mse", optimizer=opt, epochs=5,
                     callbacks=[mg.LearningRateScheduler(decay)], verbose=False)
    assert history.lr == [0.2, 0.2, 0.1, 0.1, 0.05]
    seen: list[float] = []

    class Spy(Callback):
        @override
        def on_batch_end(self, state: TrainState) -> None:
            seen.append(state.optimizer.lr)

    cosine = mg.optim.CosineDecay(0.1, total_steps=8, warmup_steps=2)
    mg.fit(model, X, Y, loss="mse", optimizer=opt, epochs=2, batch_size=10,
           callbacks=[mg.LearningRateScheduler(cosine, per="step"), Spy()], verbose=False)
    assert seen == [cosine(t) for t in range(8)]
    with pytest.raises(ValueError, match="per must be 'epoch' or 'step'"):
        mg.LearningRateScheduler(decay, per="batch")  # type: ignore[arg-type]


def test_reduce_lr_on_plateau_callback() -> None:
    X, Y = line_data(3)
    model = linear_model()
    opt = mg.optim.SGD(model.parameters(), lr=1e-6)  # the loss barely moves: a plateau
    history = mg.fit(model, X, Y, loss="mse", optimizer=opt, epochs=7,
                     callbacks=[mg.ReduceLROnPlateau(factor=0.5, patience=2, min_delta=0.1)],
                     verbose=False)
    # epoch 1 sets the best; epochs 2, 3 are bad -> halve; epochs 4, 5 -> halve; 6, 7 -> halve
    assert history.lr == [1e-6, 1e-6, 1e-6, 5e-7, 5e-7, 2.5e-7, 2.5e-7]
    assert opt.lr == 1.25e-7


def test_model_checkpoint_saves_the_best_model_through_minigrad_io(tmp_path: Path) -> None:
    X, Y = line_data(4)
    Xv, Yv = line_data(5)
    model = linear_model()
    path = tmp_path / "best.npz"
    checkpoint = mg.ModelCheckpoint(path)
    schedule = mg.LearningRateScheduler(lambda t: 0.1 if t < 3 else 1.5)
    history = mg.fit(model, X, Y, loss="mse", optimizer=mg.optim.SGD(model.parameters(), lr=0.1),
                     epochs=6, validation=(Xv, Yv), callbacks=[schedule, checkpoint],
                     verbose=False)
    best = int(np.argmin(history["val_loss"]))
    assert checkpoint.best_epoch == best and path.exists()
    loaded = mg.load(path)
    assert mg.evaluate(loaded, Xv, Yv, loss="mse")["loss"] == history["val_loss"][best]
    restored = mg.load_checkpoint(path)
    assert restored.optimizer.step_count == best + 1  # one full-batch step per epoch
    checkpoint.restore(model)
    assert mg.evaluate(model, Xv, Yv, loss="mse")["loss"] == history["val_loss"][best]


def test_model_checkpoint_every_epoch_with_a_path_pattern(tmp_path: Path) -> None:
    X, Y = line_data(6)
    model = linear_model()
    checkpoint = mg.ModelCheckpoint(str(tmp_path / "m-{epoch:02d}-{loss:.2f}.npz"),
                                    save_best_only=False, save_optimizer=False)
    mg.fit(model, X, Y, loss="mse", optimizer=mg.optim.SGD(model.parameters(), lr=0.1),
           epochs=3, callbacks=[checkpoint], verbose=False)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 3 and names[0].startswith("m-01-") and names[2].startswith("m-03-")
    assert checkpoint.saved_paths == [str(tmp_path / n) for n in names]


def test_model_checkpoint_keeps_the_best_weights_in_memory_too(tmp_path: Path) -> None:
    X, Y = line_data(7)
    model = linear_model()
    checkpoint = mg.ModelCheckpoint(tmp_path / "best.npz", monitor="loss")
    with pytest.raises(mg.InputError, match="no epoch has been recorded yet"):
        checkpoint.restore(model)
    mg.fit(model, X, Y, loss="mse", optimizer=mg.optim.SGD(model.parameters(), lr=0.1),
           epochs=4, callbacks=[checkpoint], verbose=False)
    assert checkpoint.saved_paths == [str(tmp_path / "best.npz")] * 4  # the loss fell each epoch
    assert checkpoint.best_epoch == 3 and checkpoint.best_weights is not None
    final = weights(model)
    model[0].W[...] = 0.0  # type: ignore[attr-defined]
    checkpoint.restore(model)
    for a, b in zip(final, weights(model), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_callback_can_stop_training_cleanly_mid_epoch() -> None:
    X, Y = line_data(8)
    model = linear_model()
    ends: list[str] = []

    class StopAtStep(Callback):
        @override
        def on_batch_end(self, state: TrainState) -> None:
            if state.step == 7:
                state.stop("enough steps")

        @override
        def on_train_end(self, state: TrainState) -> None:
            ends.append(state.stop_reason)

    opt = mg.optim.SGD(model.parameters(), lr=0.1)
    history = mg.fit(model, X, Y, loss="mse", optimizer=opt, epochs=10, batch_size=10,
                     callbacks=[StopAtStep()], verbose=False)
    assert opt.step_count == 7 and history.epochs == [1, 2]  # 4 steps, then 3 of the second
    assert history.stop_reason == "enough steps" and ends == ["enough steps"]


def test_only_overridden_hooks_are_called() -> None:
    class OnlyEpochEnd(Callback):
        @override
        def on_epoch_end(self, state: TrainState) -> None:
            pass

    callback = OnlyEpochEnd()
    assert cb_module.hooks([callback], "on_epoch_end") == [callback.on_epoch_end]
    assert cb_module.hooks([callback], "on_batch_end") == []


def test_weights_snapshot_and_restore_cover_buffers() -> None:
    model = mg.Sequential([mg.Dense(2, 3, rng=0), mg.BatchNorm(3)])
    saved = cb_module.snapshot(model)
    assert sorted(saved) == ["buffer:1.running_mean", "buffer:1.running_var", "param:0.W",
                             "param:0.b", "param:1.beta", "param:1.gamma"]
    model.forward(np.random.default_rng(0).normal(size=(2, 5)))
    model[0].W[...] = 9.0  # type: ignore[attr-defined]
    cb_module.restore(model, saved)
    np.testing.assert_array_equal(model[1].running_mean, 0.0)  # type: ignore[attr-defined]
    np.testing.assert_array_equal(model[0].W, saved["param:0.W"])  # type: ignore[attr-defined]


def test_callback_argument_errors() -> None:
    with pytest.raises(ValueError, match="EarlyStopping: patience must be an int >= 0"):
        mg.EarlyStopping(patience=-1)
    with pytest.raises(ValueError, match="mode must be 'auto', 'min' or 'max'"):
        mg.ModelCheckpoint("x.npz", mode="best")  # type: ignore[arg-type]
