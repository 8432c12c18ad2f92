"""mg.fit and mg.evaluate: learning, batching, History, checks, divergence, reproducibility."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from attrs import define
from typing_extensions import override

import minigrad as mg
from minigrad.callbacks import Callback, TrainState


def blobs(seed: int, m: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Two well separated Gaussian blobs in 2-D, labels (1, m)."""
    rng = np.random.default_rng(seed)
    Y = (np.arange(m) % 2).reshape(1, m).astype(float)
    X = rng.normal(scale=0.5, size=(2, m)) + np.where(Y == 1, 2.0, -2.0)
    return X, Y


def flower(seed: int = 1, n: int = 200, petals: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """The notes' planar flower set, generated from the facts in the data-set notes."""
    legacy = np.random.RandomState(seed)
    X = np.zeros((2, 2 * n))
    Y = np.zeros((1, 2 * n))
    for j in range(2):
        t = np.linspace(j * 3.12, (j + 1) * 3.12, n) + legacy.randn(n) * 0.2
        r = petals * np.sin(4 * t) + legacy.randn(n) * 0.2
        X[:, j * n:(j + 1) * n] = np.vstack([r * np.sin(t), r * np.cos(t)])
        Y[0, j * n:(j + 1) * n] = j
    return X, Y


def notes_net(seed: int) -> mg.Sequential:
    return mg.Sequential([mg.Dense(2, 4, init="normal", rng=seed), mg.Tanh(),
                          mg.Dense(4, 1, init="normal", rng=seed + 1), mg.Sigmoid()])


def weights(model: mg.Layer) -> list[np.ndarray]:
    return [p.value.copy() for p in model.parameters()]


# -- learning ---------------------------------------------------------------------------


def test_separable_data_reaches_100_percent() -> None:
    X, Y = blobs(0)
    model = mg.Sequential([mg.Dense(2, 8, rng=0), mg.ReLU(), mg.Dense(8, 1, rng=1), mg.Sigmoid()])
    opt = mg.optim.Adam(model.parameters(), lr=0.05)
    history = mg.fit(model, X, Y, loss="binary_crossentropy", optimizer=opt, epochs=30,
                     batch_size=16, seed=0, metrics=["accuracy"], verbose=False)
    assert history["accuracy"][-1] == 1.0
    assert mg.evaluate(model, X, Y, metrics=["accuracy"]) == {"accuracy": 1.0}
    assert history["loss"][-1] < 0.1 < history["loss"][0]


def test_softmax_classes_with_integer_labels() -> None:
    rng = np.random.default_rng(3)
    centers = np.array([[3.0, 0.0], [-3.0, 3.0], [0.0, -3.0]]).T
    labels = np.arange(90) % 3
    X = centers[:, labels] + rng.normal(scale=0.4, size=(2, 90))
    model = mg.Sequential([mg.Dense(2, 3, rng=0)])
    opt = mg.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    history = mg.fit(model, X, labels, loss=mg.losses.CategoricalCrossEntropy(from_logits=True),
                     optimizer=opt, epochs=20, batch_size=30, metrics="accuracy", verbose=False)
    assert history["accuracy"][-1] == 1.0


def test_the_notes_planar_net_learns_with_sgd_lr_1_2() -> None:
    X, Y = flower()
    assert np.allclose(X[:, 0], [1.204442, 3.576114])
    assert np.allclose(X[:, 200], [-1.070496, 3.682525])
    model = notes_net(2)
    history = mg.fit(model, X, Y, loss=mg.losses.BinaryCrossEntropy(),
                     optimizer=mg.optim.SGD(model.parameters(), lr=1.2), epochs=10_000,
                     metrics=["accuracy"], verbose=False)
    assert history["loss"][0] == pytest.approx(math.log(2), abs=1e-3)  # tiny weights: A2 ~ 0.5
    assert history["loss"][-1] < 0.3
    assert history["accuracy"][-1] >= 0.88  # the notes report about 90%
    assert all(b <= a + 1e-12 for a, b in zip(history["loss"][1000::1000],
                                               history["loss"][2000::1000], strict=False))


def test_full_batch_fit_is_the_manual_loop_bit_for_bit() -> None:
    X, Y = flower()
    a, b = notes_net(5), notes_net(5)
    history = mg.fit(a, X, Y, loss="bce", optimizer=mg.optim.SGD(a.parameters(), lr=1.2),
                     epochs=25, verbose=False)
    loss, opt = mg.losses.BinaryCrossEntropy(), mg.optim.SGD(b.parameters(), lr=1.2)
    costs = []
    for _ in range(25):
        costs.append(loss.forward(b.forward(X), Y))
        b.backward(loss.backward())
        opt.step()
    assert history["loss"] == costs
    for wa, wb in zip(weights(a), weights(b), strict=True):
        np.testing.assert_array_equal(wa, wb)


# -- batching and copies ------------------------------------------------------------------


@define
class Recorder(Callback):
    events: list[str]
    sizes: list[int]

    @override
    def on_train_begin(self, state: TrainState) -> None:
        self.events.append("train_begin")

    @override
    def on_epoch_begin(self, state: TrainState) -> None:
        self.events.append(f"epoch_begin {state.epoch}")

    @override
    def on_batch_begin(self, state: TrainState) -> None:
        self.events.append(f"batch_begin {state.batch}")

    @override
    def on_batch_end(self, state: TrainState) -> None:
        self.events.append(f"batch_end {state.batch}")
        first = state.model.layers[0]  # type: ignore[attr-defined]
        self.sizes.append(first.A_prev.shape[1])

    @override
    def on_epoch_end(self, state: TrainState) -> None:
        self.events.append(f"epoch_end {state.epoch}")

    @override
    def on_train_end(self, state: TrainState) -> None:
        self.events.append("train_end")


def test_minibatches_cover_every_example_once_per_epoch() -> None:
    X, Y = blobs(1, m=10)
    model = mg.Sequential([mg.Dense(2, 1, rng=0), mg.Sigmoid()])
    recorder = Recorder([], [])
    mg.fit(model, X, Y, loss="bce", optimizer=mg.optim.SGD(model.parameters(), lr=0.1),
           epochs=2, batch_size=4, callbacks=[recorder], verbose=False)
    assert recorder.sizes == [4, 4, 2, 4, 4, 2]
    assert recorder.events[:4] == ["train_begin", "epoch_begin 0", "batch_begin 0", "batch_end 0"]
    assert recorder.events[-3:] == ["batch_end 2", "epoch_end 1", "train_end"]


def test_shuffled_batches_are_views_of_one_gathered_copy() -> None:
    X, Y = blobs(2, m=12)
    model = mg.Sequential([mg.Dense(2, 1, rng=0), mg.Sigmoid()])
    seen: list[np.ndarray] = []

    class Grab(Callback):
        @override
        def on_batch_end(self, state: TrainState) -> None:
            seen.append(model[0].A_prev)  # type: ignore[attr-defined]

    mg.fit(model, X, Y, loss="bce", optimizer=mg.optim.SGD(model.parameters(), lr=0.1),
           epochs=1, batch_size=5, seed=0, callbacks=[Grab()], verbose=False)
    base = seen[0].base
    assert base is not None and base.shape == X.shape
    assert all(batch.base is base for batch in seen)
    gathered = np.hstack(seen)
    assert sorted(map(tuple, gathered.T)) == sorted(map(tuple, X.T))  # a permutation of X
    assert not np.array_equal(gathered, X)


def test_full_batch_float64_uses_x_itself() -> None:
    X, Y = blobs(3)
    model = mg.Sequential([mg.Dense(2, 1, rng=0), mg.Sigmoid()])
    mg.fit(model, X, Y, loss="bce", optimizer=mg.optim.SGD(model.parameters(), lr=0.1),
           epochs=2, verbose=False)
    assert model[0].A_prev is X  # type: ignore[attr-defined]


def test_float32_model_trains_in_float32() -> None:
    X, Y = blobs(4)
    model = mg.Sequential([mg.Dense(2, 4, rng=0), mg.Tanh(), mg.Dense(4, 1, rng=1),
                           mg.Sigmoid()]).astype(np.float32)
    history = mg.fit(model, X, Y, loss="bce", optimizer=mg.optim.Adam(model.parameters(), lr=0.05),
                     epochs=20, batch_size=20, metrics=["accuracy"], verbose=False)
    assert all(p.value.dtype == np.float32 for p in model.parameters())
    assert model[0].A_prev.dtype == np.float32  # type: ignore[attr-defined]
    assert history["accuracy"][-1] == 1.0


# -- History, validation, evaluate --------------------------------------------------------


def test_history_records_every_epoch() -> None:
    X, Y = blobs(5)
    Xv, Yv = blobs(6, m=20)
    model = mg.Sequential([mg.Dense(2, 1, rng=0), mg.Sigmoid()])
    opt = mg.optim.SGD(model.parameters(), lr=0.5)
    history = mg.fit(model, X, Y, loss="bce", optimizer=opt, epochs=4, batch_size=15,
                     validation=(Xv, Yv), metrics=["accuracy", "mse"], verbose=False)
    assert list(history) == ["loss", "accuracy", "mse", "val_loss", "val_accuracy", "val_mse",
                             "lr", "time"]
    assert all(len(history[name]) == 4 for name in history)
    assert history.epochs == [1, 2, 3, 4]
    assert history.lr == [0.5] * 4 and all(t > 0 for t in history.epoch_times)
    final = mg.evaluate(model, Xv, Yv, loss="bce", metrics=["accuracy", "mse"])
    assert final == {"loss": history["val_loss"][-1], "accuracy": history["val_accuracy"][-1],
                     "mse": history["val_mse"][-1]}
    epoch, best = history.best("val_loss")
    assert best == min(history["val_loss"]) and history["val_loss"][epoch - 1] == best
    assert repr(history).startswith("History(epochs=4, loss=")
    assert not history.stopped_early
    with pytest.raises(KeyError, match="History has no 'acc'; it holds loss, accuracy"):
        history["acc"]


def test_history_recorder_fills_the_columns_that_append_fills() -> None:
    history = mg.History()
    record = history.recorder(("loss", "lr"))
    assert history.logs == {} and history.epochs == []  # nothing changes before a record
    record([3.0, 0.1], 1)
    history.append({"loss": 2.0, "lr": 0.1, "time": 0.5})  # a dict may bring a new name
    record([1.0, 0.1], 7)
    assert history.logs == {"loss": [3.0, 2.0, 1.0], "lr": [0.1] * 3, "time": [0.5]}
    assert history.epochs == [1, 2, 7]
    with pytest.raises(ValueError, match=r"2 names \(loss, lr\) but 1 values"):
        record([1.0], 8)
    assert history.epochs == [1, 2, 7] and len(history["loss"]) == 3  # nothing recorded


def test_fit_without_callbacks_records_what_callbacks_would_see() -> None:
    X, Y = blobs(7)
    seen: list[dict[str, float]] = []

    class Logs(Callback):
        @override
        def on_epoch_end(self, state: TrainState) -> None:
            seen.append(dict(state.logs))

    histories = []
    for callbacks in ((), (Logs(),)):
        model = mg.Sequential([mg.Dense(2, 1, rng=0), mg.Sigmoid()])
        histories.append(mg.fit(model, X, Y, loss="bce", optimizer=mg.optim.SGD(
            model.parameters(), lr=0.5), epochs=3, metrics=["accuracy"], callbacks=callbacks,
            verbose=False))
    plain, watched = histories
    assert list(plain) == list(watched) == ["loss", "accuracy", "lr", "time"]
    assert plain["loss"] == watched["loss"] == [logs["loss"] for logs in seen]
    assert plain["accuracy"] == watched["accuracy"] and plain.epochs == [1, 2, 3]


def test_evaluate_runs_in_eval_mode_and_batches_agree() -> None:
    X, Y = blobs(7, m=50)
    model = mg.Sequential([mg.Dense(2, 3, rng=0), mg.Tanh(), mg.Dropout(0.5, rng=0),
                           mg.Dense(3, 1, rng=1), mg.Sigmoid()])
    whole = mg.evaluate(model, X, Y, loss="bce", metrics=["accuracy", "mae"])
    assert mg.evaluate(model, X, Y, loss="bce", metrics=["accuracy", "mae"]) == whole  # no dropout
    chunked = mg.evaluate(model, X, Y, loss="bce", metrics=["accuracy", "mae"], batch_size=7)
    assert chunked == pytest.approx(whole, rel=1e-12)
    assert model.training  # the mode is restored


def test_fit_trains_dropout_and_restores_the_mode() -> None:
    X, Y = blobs(8)
    model = mg.Sequential([mg.Dense(2, 8, rng=0), mg.ReLU(), mg.Dropout(0.5, rng=0),
                           mg.Dense(8, 1, rng=1), mg.Sigmoid()]).eval()
    modes: list[bool] = []

    class Mode(Callback):
        @override
        def on_batch_end(self, state: TrainState) -> None:
            modes.append(state.model.layers[2].training)  # type: ignore[attr-defined]

    mg.fit(model, X, Y, loss="bce", optimizer=mg.optim.Adam(model.parameters(), lr=0.01),
           epochs=2, batch_size=30, callbacks=[Mode()], verbose=False)
    assert modes == [True] * 4
    assert not model.training and not model[2].training


# -- reproducibility ----------------------------------------------------------------------


def train_once(fit_seed: int) -> list[np.ndarray]:
    X, Y = flower()
    mg.seed(11)
    model = mg.Sequential([mg.Dense(2, 6), mg.ReLU(), mg.Dropout(0.3), mg.Dense(6, 1),
                           mg.Sigmoid()])
    mg.fit(model, X, Y, loss="bce", optimizer=mg.optim.Adam(model.parameters(), lr=0.01),
           epochs=3, batch_size=64, seed=fit_seed, verbose=False)
    return weights(model)


def test_same_seeds_give_bit_identical_weights() -> None:
    first, again, other = train_once(0), train_once(0), train_once(1)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, c) for a, c in zip(first, other, strict=True))


def test_a_run_resumed_at_initial_epoch_shuffles_as_the_uninterrupted_run() -> None:
    X, Y = blobs(4, m=30)
    settings: dict[str, Any] = {"loss": "bce", "batch_size": 7, "seed": 3, "verbose": False}
    straight = notes_net(0)
    mg.fit(straight, X, Y, optimizer=mg.optim.SGD(straight.parameters(), lr=0.5), epochs=5,
           **settings)
    resumed = notes_net(0)
    opt = mg.optim.SGD(resumed.parameters(), lr=0.5)
    mg.fit(resumed, X, Y, optimizer=opt, epochs=2, **settings)
    history = mg.fit(resumed, X, Y, optimizer=opt, epochs=5, initial_epoch=2, **settings)
    assert history.epochs == [3, 4, 5]
    for a, b in zip(weights(straight), weights(resumed), strict=True):
        np.testing.assert_array_equal(a, b)


# -- checks before training ---------------------------------------------------------------


def test_bad_arguments_are_refused_before_anything_changes() -> None:
    X, Y = blobs(9, m=8)
    model = mg.Sequential([mg.Dense(2, 1, rng=0), mg.Sigmoid()])
    opt = mg.optim.SGD(model.parameters(), lr=0.1)
    before = weights(model)
    other = mg.optim.SGD(mg.Dense(2, 1).parameters(), lr=0.1)
    X_nan = X.copy()
    X_nan[1, 3] = np.nan
    Y_inf = Y.copy()
    Y_inf[0, 2] = np.inf
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"X": X.T}, mg.ShapeError, "did you pass X instead of X.T"),
        ({"X": np.ones((3, 8))}, mg.ShapeError, r"X of shape \(3, 8\) does not fit the model"),
        ({"Y": Y[:, :5]}, mg.ShapeError, r"X has 8 examples \(columns\), so Y must be"),
        ({"Y": np.ones((2, 8))}, mg.ShapeError, "the model outputs 1 rows but Y has 2"),
        ({"X": X_nan}, mg.InputError, r"X holds non-finite values \(first at index \(1, 3\)"),
        ({"Y": Y_inf}, mg.InputError, "Y holds non-finite values"),
        ({"X": X.astype(str)}, mg.DTypeError, "expected X to hold real numbers"),
        ({"epochs": 0}, mg.InputError, "epochs must be an int >= 1, got 0"),
        ({"batch_size": 0}, mg.InputError, "batch_size must be an int >= 1"),
        ({"initial_epoch": 2}, mg.InputError, r"initial_epoch \(2\) must be below epochs \(2\)"),
        ({"optimizer": other}, mg.InputError, "parameters that are not the model's"),
        ({"optimizer": "sgd"}, TypeError, "optimizer must be a minigrad optimizer"),
        ({"loss": "hinge"}, mg.InputError, "loss must be a minigrad Loss or one of"),
        ({"metrics": ["f1"]}, mg.InputError, "unknown metric 'f1'"),
        ({"validation": (X, Y[:, :3])}, mg.ShapeError, r"fit \(validation\): X has 8 examples"),
        ({"validation": X}, mg.InputError, "validation must be a pair"),
        ({"callbacks": [object()]}, TypeError, "has none of the hooks"),
    ]
    for override_args, error, message in cases:
        args: dict[str, Any] = {"X": X, "Y": Y, "loss": "bce", "optimizer": opt, "epochs": 2}
        args.update(override_args)
        x, y = args.pop("X"), args.pop("Y")
        with pytest.raises(error, match=message):
            mg.fit(model, x, y, verbose=False, **args)
    for a, b in zip(before, weights(model), strict=True):
        np.testing.assert_array_equal(a, b)
    assert opt.step_count == 0


def test_class_labels_are_checked_against_the_outputs() -> None:
    X = np.ones((2, 4))
    model = mg.Sequential([mg.Dense(2, 3, rng=0), mg.Softmax()])
    opt = mg.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(mg.InputError, match=r"whole numbers in \[0, 2\] for 3 outputs"):
        mg.fit(model, X, np.array([0, 1, 2, 3]), loss="cce", optimizer=opt, epochs=1,
               verbose=False)
    with pytest.raises(mg.ShapeError, match=r"class labels go in a 1-D array of shape \(m,\)"):
        mg.evaluate(model, X, np.array([[0, 1, 2, 1]]), loss="cce")


# -- divergence ---------------------------------------------------------------------------


@define(eq=False)
class Explode(mg.Layer):
    """Identity until armed; then one entry of its output (or input gradient) is ``value``."""

    armed: bool = False
    value: float = np.inf
    in_backward: bool = False

    @override
    def forward(self, A_prev: np.ndarray) -> np.ndarray:
        A = A_prev.copy()
        if self.armed and not self.in_backward:
            A[0, 0] = self.value
        return A

    @override
    def backward(self, dA: np.ndarray) -> np.ndarray:
        dA_prev = dA.copy()
        if self.armed and self.in_backward:
            dA_prev[0, 0] = self.value
        return dA_prev

    @override
    def output_size(self, n_in: int | None) -> int | None:
        return n_in


def test_divergence_names_epoch_batch_and_layer_and_keeps_the_weights() -> None:
    X, Y = blobs(10, m=40)
    explode = Explode()
    model = mg.Sequential([mg.Dense(2, 3, rng=0), mg.BatchNorm(3), mg.Tanh(), explode,
                           mg.Dense(3, 1, rng=1)])
    snapshots: list[list[np.ndarray]] = []
    buffers: list[dict[str, np.ndarray]] = []

    class Arm(Callback):
        @override
        def on_batch_begin(self, state: TrainState) -> None:
            explode.armed = (state.epoch, state.batch) == (1, 2)

        @override
        def on_batch_end(self, state: TrainState) -> None:
            snapshots.append(weights(state.model))
            buffers.append({k: v.copy() for k, v in state.model.buffers().items()})

    opt = mg.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(mg.DivergenceError) as info:
        mg.fit(model, X, Y, loss="mse", optimizer=opt, epochs=3, batch_size=10,
               callbacks=[Arm()], verbose=False)
    err = info.value
    message = str(err)
    assert "epoch 2/3, batch 3/4" in message
    assert "the output of layer 3 (Explode(" in message
    assert "lower learning rate: lr=0.1 now, so perhaps lr=0.01" in message
    assert (err.epoch, err.batch) == (2, 3) and err.layer is not None
    assert isinstance(err, ValueError) and isinstance(err, FloatingPointError)
    assert len(snapshots) == 6 and opt.step_count == 6  # the 7th step was not applied
    for kept, last in zip(weights(model), snapshots[-1], strict=True):
        np.testing.assert_array_equal(kept, last)
    for name, array in model.buffers().items():
        np.testing.assert_array_equal(array, buffers[-1][name])
    history = err.history
    assert isinstance(history, mg.History) and history.epochs == [1]
    assert model.training


def test_divergence_from_a_too_large_learning_rate() -> None:
    X, Y = blobs(12, m=40)
    Y = Y * 1e3
    model = mg.Sequential([mg.Dense(2, 16, rng=0), mg.ReLU(), mg.Dense(16, 1, rng=1)])
    finite_before: list[bool] = []

    class Watch(Callback):
        @override
        def on_batch_end(self, state: TrainState) -> None:
            finite_before.append(all(np.isfinite(p.value).all() for p in state.model.parameters()))

    with pytest.raises(mg.DivergenceError, match="Try a lower learning rate") as info:
        mg.fit(model, X, Y, loss="mse", optimizer=mg.optim.SGD(model.parameters(), lr=5.0),
               epochs=200, callbacks=[Watch()], verbose=False)
    assert all(finite_before)
    assert all(np.isfinite(p.value).all() for p in model.parameters())
    assert "First non-finite value: " in str(info.value)


@pytest.mark.parametrize(
    ("explode", "loss", "what", "where"),
    [
        (Explode(True, np.nan), "bce", "the model output holds NaN or inf",
         "the output of layer 1 (Explode("),
        (Explode(True, np.inf, in_backward=True), "bce", "a gradient holds NaN or inf",
         "the input gradient of layer 1 (Explode("),
    ],
    ids=["nan-output", "inf-gradient"],
)
def test_divergence_in_the_output_or_the_gradients(
    explode: Explode, loss: str, what: str, where: str
) -> None:
    X, Y = blobs(13, m=8)
    model = mg.Sequential([mg.Dense(2, 1, rng=0), explode, mg.Sigmoid()])
    before = weights(model)
    with pytest.raises(mg.DivergenceError) as info:
        mg.fit(model, X, Y, loss=loss, optimizer=mg.optim.SGD(model.parameters(), lr=0.1),
               epochs=2, verbose=False)
    assert f"epoch 1/2, batch 1/1: {what}" in str(info.value)
    assert where in str(info.value)
    for a, b in zip(before, weights(model), strict=True):
        np.testing.assert_array_equal(a, b)


BUILT_IN_OPTIMIZERS = {
    "sgd": lambda ps: mg.optim.SGD(ps, lr=0.1),
    "momentum": lambda ps: mg.optim.SGD(ps, lr=0.1, momentum=0.9),
    "nesterov": lambda ps: mg.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    "decay": lambda ps: mg.optim.SGD(ps, lr=0.1, weight_decay=0.01),
    "clipped": lambda ps: mg.optim.SGD(ps, lr=0.1, max_grad_norm=1.0),
    "adam": lambda ps: mg.optim.Adam(ps, lr=0.1),
    "adamw": lambda ps: mg.optim.AdamW(ps, lr=0.1),
    "rmsprop": lambda ps: mg.optim.RMSProp(ps, lr=0.1),
}


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("make", BUILT_IN_OPTIMIZERS.values(), ids=BUILT_IN_OPTIMIZERS.keys())
def test_a_built_in_optimizer_refuses_any_bad_gradient_entry(make: Any, value: float) -> None:
    # fit trusts SHOWS_BAD_GRADIENTS to skip its own check: every entry of every gradient,
    # after steps that filled the optimizer's buffers
    layer = mg.Dense(2, 3, rng=0)
    opt = make(layer.parameters())
    assert opt.shows_bad_gradients()
    rng = np.random.default_rng(0)
    for p in layer.parameters():
        for i in range(p.grad.size):
            for q in layer.parameters():
                q.grad[...] = rng.normal(size=q.grad.shape)
            opt.step()
            p.grad.reshape(-1)[i] = value
            before = [q.value.copy() for q in layer.parameters()], opt.state_dict()
            with np.errstate(all="ignore"):
                assert opt.try_step() is not None
            for a, b in zip(before[0], [q.value for q in layer.parameters()], strict=True):
                np.testing.assert_array_equal(a, b)
            assert str(opt.state_dict()) == str(before[1])


def test_an_optimizer_with_its_own_update_keeps_fit_s_gradient_check() -> None:
    class Clipped(mg.optim.SGD):
        """An SGD whose update ignores NaN: fit must look at the gradients itself."""

        @override
        def _propose(self) -> None:
            for p, d in zip(self.params, self._scratch, strict=True):
                np.multiply(np.nan_to_num(p.grad, nan=0.0, posinf=0.0, neginf=0.0), self.lr,
                            out=d)

    X, Y = blobs(13, m=8)
    model = mg.Sequential([mg.Dense(2, 1, rng=0), Explode(True, np.nan, in_backward=True),
                           mg.Sigmoid()])
    opt = Clipped(model.parameters(), lr=0.1)
    assert not opt.shows_bad_gradients()
    before = weights(model)
    with pytest.raises(mg.DivergenceError, match="batch 1/1: a gradient holds NaN or inf"):
        mg.fit(model, X, Y, loss="bce", optimizer=opt, epochs=2, verbose=False)
    for a, b in zip(before, weights(model), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("make", BUILT_IN_OPTIMIZERS.values(), ids=BUILT_IN_OPTIMIZERS.keys())
def test_fit_names_a_bad_gradient_for_every_built_in_optimizer(make: Any) -> None:
    X, Y = blobs(13, m=8)
    model = mg.Sequential([mg.Dense(2, 1, rng=0), Explode(True, np.inf, in_backward=True),
                           mg.Sigmoid()])
    with pytest.raises(mg.DivergenceError) as info:
        mg.fit(model, X, Y, loss="bce", optimizer=make(model.parameters()), epochs=2,
               verbose=False)
    assert "batch 1/1: a gradient holds NaN or inf" in str(info.value)
    assert "the input gradient of layer 1 (Explode(" in str(info.value)


def test_gradients_too_large_to_square_are_named() -> None:
    # finite gradients near 1e30 in float32: their squares overflow, and so do lr * d's
    X, Y = blobs(13, m=8)
    model = mg.Sequential([mg.Dense(2, 1, rng=0), Explode(True, 1e30, in_backward=True),
                           mg.Sigmoid()]).astype(np.float32)
    before = weights(model)
    with pytest.raises(mg.DivergenceError) as info:
        mg.fit(model, X.astype(np.float32), Y.astype(np.float32), loss="bce",
               optimizer=mg.optim.SGD(model.parameters(), lr=0.1), epochs=2, verbose=False)
    assert "batch 1/1: the gradients are too large to square" in str(info.value)
    assert "the largest gradient entry is" in str(info.value)
    for a, b in zip(before, weights(model), strict=True):
        np.testing.assert_array_equal(a, b)
