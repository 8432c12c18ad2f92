"""Faults in training and inference: every row of the "Faults" table in docs/errors.md.

Each row ``case-id`` is the test ``test_case_id`` here (``test_the_faults_table_is_these_tests``
keeps the two in step). Each reproduces a report of issue 13 and checks the documented outcome:
a clear error that changes nothing, or a result that is right.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim
from minigrad.errors import DTypeError, InputError
from minigrad.layer import leaves

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "errors.md"
RNG = np.random.default_rng(13)


def _state(model: mg.Layer, opt: optim.Optimizer | None = None) -> dict[str, Any]:
    """Copies of everything a step may write: weights, buffers, optimizer state."""
    out: dict[str, Any] = {f"p.{n}": p.value.copy() for n, p in model.named_parameters()}
    out |= {f"b.{n}": a.copy() for n, a in model.buffers().items()}
    if opt is not None:
        out |= {f"o.{k}": v for k, v in opt.state_dict().items()}
    return out


def _assert_same(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


# -- Ctrl-C ------------------------------------------------------------------------------

ROUNDS = 24

CHILD = f"""
import sys
import numpy as np
import minigrad as mg
sys.path.insert(0, {str(ROOT / "tests")!r})
from test_faults import build_interrupted, train_interrupted

class Ready(mg.callbacks.Callback):
    def on_batch_begin(self, state):
        if state.step == 0:
            print("go", flush=True)

for r in range({ROUNDS}):
    model, opt = build_interrupted()
    history = train_interrupted(model, opt, [Ready()])
    np.savez(sys.argv[1] + f"/{{r}}.npz", **{{k: np.asarray(v) for k, v in
             __import__("test_faults")._state(model, opt).items()}})
    print("done", opt.step_count, history.stop_reason.replace(chr(10), " "), flush=True)
"""


def build_interrupted() -> tuple[mg.Sequential, optim.Adam]:
    """A BatchNorm + Adam net: a torn step shows in its statistics and moments."""
    model = mg.Sequential([
        mg.Dense(4, 16, rng=0), mg.BatchNorm(16), mg.Tanh(), mg.Dense(16, 1, rng=1), mg.Sigmoid(),
    ])
    return model, optim.Adam(model.parameters(), lr=0.01)


def train_interrupted(model: mg.Layer, opt: optim.Optimizer, callbacks: list[Any],
                      epochs: int = 10**6) -> mg.History:
    data = np.random.default_rng(0)
    X = data.normal(size=(4, 96))
    Y = (X[:1] + X[1:2] > 0).astype(float)
    # validation: a Ctrl-C may also land in the evaluation after an epoch's last step
    return mg.fit(model, X, Y, loss="bce", optimizer=opt, epochs=epochs, batch_size=16, seed=0,
                  validation=(X[:, :32], Y[:, :32]), verbose=False, callbacks=callbacks)


class StopAt(mg.callbacks.Callback):
    def __init__(self, steps: int) -> None:
        self.steps = steps

    def on_batch_end(self, state: Any) -> None:
        if state.step == self.steps:
            state.stop("replayed")


def test_fit_ctrl_c(tmp_path: Path) -> None:
    """SIGINT at random moments of many fits: each stops at a step boundary and says so."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    pick = random.Random(5)
    results = []
    with subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as child:
        assert child.stdout is not None
        try:
            for _ in range(ROUNDS):
                assert child.stdout.readline().strip() == "go"
                time.sleep(pick.uniform(0.0, 0.02))
                child.send_signal(signal.SIGINT)
                line = child.stdout.readline().split(maxsplit=2)
                assert line[0] == "done", line
                results.append((int(line[1]), line[2]))
        finally:
            child.kill()
            _, errors = child.communicate()
        assert not errors.strip(), errors
    for r, (steps, reason) in enumerate(results):
        assert reason.startswith("interrupted (Ctrl-C) after epoch "), reason
        assert "the model and optimizer are at that" in reason
        model, opt = build_interrupted()
        train_interrupted(model, opt, [StopAt(steps)])
        with np.load(tmp_path / f"{r}.npz") as saved:
            _assert_same(dict(saved), {k: np.asarray(v) for k, v in _state(model, opt).items()})


# -- the update, buffers and norms overflowing ------------------------------------------------


def test_fit_update_overflows() -> None:
    """float32 SGD with lr=1e39: lr * dW is inf although dW is finite."""
    X = RNG.normal(size=(2, 8)).astype(np.float32)
    Y = RNG.normal(size=(1, 8)).astype(np.float32)
    for epochs in (1, 5):
        model = mg.Sequential([mg.Dense(2, 1, dtype=np.float32, rng=0)])
        opt = optim.SGD(model.parameters(), lr=1e39)
        before = _state(model, opt)
        with pytest.raises(mg.DivergenceError, match=(
            r"epoch 1/\d, batch 1/1: the update SGD computed holds NaN or inf .*the update of "
            r"W of layer 0 \(Dense\(n_in=2, n_out=1, dtype=float32\)\).*keeps its last finite "
            r"weights and the optimizer its state. Try a lower learning rate: lr=1e\+39"
        )):
            mg.fit(model, X, Y, loss="mse", optimizer=opt, epochs=epochs, verbose=False)
        _assert_same(_state(model, opt), before)


OPTIMIZERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=1e19),
    "momentum": lambda ps: optim.SGD(ps, lr=1e19, momentum=0.9),
    "nesterov": lambda ps: optim.SGD(ps, lr=1e19, momentum=0.9, nesterov=True),
    "rmsprop": lambda ps: optim.RMSProp(ps, lr=1e-3),
    "adam": lambda ps: optim.Adam(ps, lr=1e-3),
    "adamw": lambda ps: optim.AdamW(ps, lr=1e-3),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_step_update_overflows(name: str) -> None:
    """A manual step() that would write inf changes nothing: no weight, no moment, no count.

    The first layer's gradients are fine; the second's are finite but huge (1e20 in float32:
    lr * g overflows for SGD with lr=1e19, g**2 overflows Adam's and RMSProp's v, which would
    leave d = 0).
    """
    model = mg.Sequential([mg.Dense(2, 3, dtype=np.float32, rng=0),
                           mg.Dense(3, 1, dtype=np.float32, rng=1)])
    opt = OPTIMIZERS[name](model.parameters())
    for p in model.parameters():
        p.grad[...] = 0.1
    opt.step()  # a good step first (SGD's moves W by 1e18), so that the moments are not zero
    model[1].dW[...] = 1e20  # type: ignore[union-attr]
    before = _state(model, opt)
    with pytest.raises(RuntimeWarning, match="overflow"):  # warnings are errors in the tests
        opt.step()  # numpy's warning stops the step before anything is committed
    _assert_same(_state(model, opt), before)
    with np.errstate(over="ignore", invalid="ignore"), pytest.raises(mg.DivergenceError, match=(
        rf"{type(opt).__name__}.step: the update of parameter 2 \(Parameter\('W', shape=\(1, 3\)"
        r".*nothing was changed"
    )):
        opt.step()
    _assert_same(_state(model, opt), before)
    model[1].dW[...] = 0.1  # type: ignore[union-attr]
    opt.step()  # and training goes on from there
    assert opt.step_count == 2


def test_fit_batchnorm_variance_overflows() -> None:
    """A float32 feature near 1e21: var overflows while the loss and gradients stay finite."""
    data = np.random.default_rng(0)
    X = (data.normal(size=(1, 32)) * 1e21).astype(np.float32)
    Y = data.normal(size=(1, 32)).astype(np.float32)
    model = mg.Sequential([mg.BatchNorm(1, dtype=np.float32), mg.Dense(1, 1, dtype=np.float32)])
    opt = optim.SGD(model.parameters(), lr=0.01)
    before = _state(model, opt)
    with pytest.raises(mg.DivergenceError, match=(
        r"the running statistic 0.running_var overflowed. First non-finite value: running_var "
        r"of layer 0 \(BatchNorm\(n_features=1, dtype=float32\)\), whose input reaches "
        r"\|x\| = [\d.]+e\+2[01]\..*too large for float32: scale the inputs"
    )):
        mg.fit(model, X, Y, loss="mse", optimizer=opt, epochs=2, batch_size=8, seed=0,
               verbose=False)
    _assert_same(_state(model, opt), before)


@pytest.mark.parametrize("size", [1e19, 1e20, 3e38])
def test_clip_huge_gradients(size: float) -> None:
    """max_grad_norm with finite float32 gradients whose squares overflow: still clipped."""
    w = mg.Parameter("w", np.zeros((2, 1), np.float32), np.full((2, 1), size, np.float32))
    assert mg.optim.global_norm([w]) == pytest.approx(size * np.sqrt(2), rel=1e-6)
    optim.SGD([w], lr=1.0, max_grad_norm=1.0).step()
    np.testing.assert_allclose(w.value, -np.sqrt(0.5), rtol=1e-5)
    bad = mg.Parameter("w", np.zeros(2), np.array([1.0, np.inf]))
    assert mg.optim.global_norm([bad]) == np.inf


def test_fit_batchnorm_one_example_batch() -> None:
    X, Y = RNG.normal(size=(3, 17)), RNG.normal(size=(1, 17))
    model = mg.Sequential([mg.Dense(3, 4, rng=0), mg.BatchNorm(4), mg.Dense(4, 1, rng=1)])
    opt = optim.SGD(model.parameters(), lr=0.1)
    before = _state(model, opt)
    with pytest.raises(InputError, match=(
        r"with 17 examples and batch_size=16 the last batch of each epoch holds 1 example, and "
        r"BatchNorm cannot normalize one example in training. Choose a batch_size that leaves "
        r"at least 2 \(for example 17 or 15\)"
    )):
        mg.fit(model, X, Y, loss="mse", optimizer=opt, epochs=3, batch_size=16, verbose=False)
    _assert_same(_state(model, opt), before)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cce_logits_far_apart(dtype: Any) -> None:
    """Logits of +-0.9 max: the true losses are 0 (right class) and 1.8 max (wrong), never NaN."""
    big = float(np.finfo(dtype).max) * 0.9
    Z = np.array([[big, -big], [-big, big]], dtype=dtype)
    with np.errstate(invalid="raise", divide="raise"):  # no NaN made on the way
        cce = mg.losses.CategoricalCrossEntropy(from_logits=True)
        assert cce.forward(Z, np.array([0, 1])) == 0.0
        dZ = cce.backward()
        assert dZ.dtype == dtype and np.array_equal(dZ, np.zeros((2, 2)))
        assert cce.forward(Z, np.eye(2)) == 0.0
        wrong = cce.forward(Z, np.array([1, 0]))  # the true mean, 1.8 max, overflows
        assert wrong == np.inf
        np.testing.assert_array_equal(cce.backward(), [[1, -1], [-1, 1]])
        bce = mg.losses.BinaryCrossEntropy(from_logits=True)
        assert bce.forward(Z[:1], np.array([[1.0, 0.0]])) == 0.0
        assert np.array_equal(bce.backward(), np.zeros((1, 2)))


# -- threads and inputs -------------------------------------------------------------------------


def test_predict_from_threads() -> None:
    """Four threads predicting (and evaluating) with one model in training mode."""
    X = RNG.normal(size=(3, 64))
    labels = (X[0] > 0).astype(int)
    model = mg.Sequential([mg.Dense(3, 16, rng=0), mg.BatchNorm(16), mg.ReLU(),
                           mg.Dropout(0.5, rng=1), mg.Dense(16, 2, rng=2), mg.Softmax()])
    mg.fit(model, X, labels, loss="cce", optimizer=optim.SGD(model.parameters(), lr=0.1),
           epochs=3, batch_size=16, verbose=False)
    model.forward(X)  # leave training caches in place, as after a training step
    assert model.training
    before = _state(model)
    caches = [(leaf, dict(leaf._snapshot())) for leaf in leaves(model)]
    expected = model.predict(X)
    expected_loss = mg.evaluate(model, X, labels, loss="cce")
    model.eval()
    np.testing.assert_allclose(model.forward(X), expected, rtol=1e-12)  # eval mode's output
    model.train()
    for leaf, saved in caches:  # what that eval forward cached is put back for the check below
        leaf._restore(saved)
    wrong: list[str] = []

    def work() -> None:
        for i in range(150):
            if not np.array_equal(model.predict(X), expected):
                wrong.append("predict")
            if i % 10 == 0 and mg.evaluate(model, X, labels, loss="cce") != expected_loss:
                wrong.append("evaluate")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
    assert model.training and all(leaf.training for leaf in leaves(model))
    _assert_same(_state(model), before)
    for leaf, saved in caches:
        now = leaf._snapshot()
        assert all(now[name] is value for name, value in saved.items()), leaf


MATRIX = pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")


@MATRIX
def test_matrix_input() -> None:
    """np.matrix X and Y work as the plain arrays they hold (no matrix products by `*`)."""
    X, Y = RNG.normal(size=(2, 6)), RNG.normal(size=(1, 6))
    model_a = mg.Sequential([mg.Dense(2, 1, rng=0)])
    model_b = mg.Sequential([mg.Dense(2, 1, rng=0)])
    for model, (X_in, Y_in) in ((model_a, (X, Y)), (model_b, (np.matrix(X), np.matrix(Y)))):
        mg.fit(model, X_in, Y_in, loss="mse", optimizer=optim.SGD(model.parameters(), lr=0.1),
               epochs=3, verbose=False)
    np.testing.assert_array_equal(model_a[0].W, model_b[0].W)  # type: ignore[union-attr]
    A = model_b.predict(np.matrix(X))
    assert type(A) is np.ndarray
    assert mg.losses.MeanSquaredError().forward(np.matrix(A), np.matrix(Y)) == \
        mg.losses.MeanSquaredError().forward(A, Y)
    probs = np.full((2, 6), 0.5)
    assert mg.losses.CategoricalCrossEntropy().forward(probs, np.matrix(np.eye(2)[:, [0] * 6])) \
        == pytest.approx(np.log(2))


DENSE_VALUES = {
    "strings": (np.array([["a", "b"], ["c", "d"], ["e", "f"]]), DTypeError,
                r"W must hold real numbers, got dtype <U1"),
    "complex": (np.ones((3, 2)) + 1j, DTypeError,
                r"W must hold real numbers, got dtype complex128 \(take .real"),
    "ragged": ([[1.0, 2.0], [3.0]], DTypeError, "cannot read W .* as an array of numbers"),
    "bools": (np.ones((3, 2), bool), DTypeError, "W must hold real numbers, got dtype bool"),
    "nan": (np.full((3, 2), np.nan), InputError,
            r"W \(as float64\) holds non-finite values \(first at index \(0, 0\): nan\)"),
}


@MATRIX
@pytest.mark.parametrize("kind", sorted(DENSE_VALUES))
def test_dense_bad_weights(kind: str) -> None:
    layer = mg.Dense(2, 3, rng=0)
    W = layer.W.copy()
    value, error, message = DENSE_VALUES[kind]
    with pytest.raises(error, match=r"^Dense\(n_in=2, n_out=3\): " + message):
        layer.W = value
    np.testing.assert_array_equal(layer.W, W)
    with pytest.raises(InputError, match=r"b \(as float32\) holds non-finite values"):
        mg.Dense(2, 3, dtype=np.float32).b = np.full((3, 1), 1e39)  # inf once cast
    layer.W = np.matrix(np.ones((3, 2)))  # a matrix is its numbers
    assert type(layer.W) is np.ndarray and np.array_equal(layer.W, np.ones((3, 2)))


@pytest.mark.parametrize("where", ["forward", "predict", "fit", "loss"])
def test_complex_values(where: str) -> None:
    """Complex numbers are refused with the library's error, never a ComplexWarning."""
    model = mg.Sequential([mg.Dense(2, 1, rng=0)])
    X = np.ones((2, 4)) + 1j
    with np.errstate(all="raise"), pytest.raises(DTypeError, match="got dtype complex128"):
        if where == "fit":
            mg.fit(model, X, np.ones((1, 4)), loss="mse",
                   optimizer=optim.SGD(model.parameters(), lr=0.1), epochs=1, verbose=False)
        elif where == "loss":
            mg.losses.BinaryCrossEntropy(from_logits=True).forward(X[:1], np.ones((1, 4)))
        else:
            getattr(model, where)(X)


@pytest.mark.parametrize("from_logits", [False, True])
def test_fit_one_class_softmax(from_logits: bool) -> None:
    """A softmax over one row is always 1: refused before training, saying what to use."""
    X = RNG.normal(size=(3, 20))
    layers: list[mg.Layer] = [mg.Dense(3, 1, rng=0)]
    if not from_logits:
        layers.append(mg.Softmax())
    model = mg.Sequential(layers)
    opt = optim.SGD(model.parameters(), lr=0.1)
    before = _state(model, opt)
    loss = mg.losses.CategoricalCrossEntropy(from_logits=from_logits)
    what = (r"has 1 output row, scored by CategoricalCrossEntropy\(from_logits=True\)"
            if from_logits else r"ends in Softmax\(\) over 1 row")
    with pytest.raises(InputError, match=(
        rf"fit: the model {what}: a softmax over one class is always 1, so the loss is constant "
        r"and nothing trains. For two classes end in Dense\(n, 1\) and Sigmoid"
    )):
        mg.fit(model, X, np.zeros(20, int), loss=loss, optimizer=opt, epochs=2, verbose=False)
    _assert_same(_state(model, opt), before)


def test_fit_read_only_weights() -> None:
    """A read-only weight array would fail mid-update, after the others were written."""
    X, Y = RNG.normal(size=(2, 8)), RNG.normal(size=(1, 8))
    model = mg.Sequential([mg.Dense(2, 3, rng=0), mg.Tanh(), mg.Dense(3, 1, rng=1)])
    model[2].b.flags.writeable = False  # type: ignore[union-attr]
    opt = optim.SGD(model.parameters(), lr=0.1)
    before = _state(model, opt)
    with pytest.raises(InputError, match=(
        r"fit: parameter 2.b \(Parameter\('b', shape=\(1, 1\), dtype=float64\)\) is read-only"
    )):
        mg.fit(model, X, Y, loss="mse", optimizer=opt, epochs=1, verbose=False)
    _assert_same(_state(model, opt), before)


# -- the table ----------------------------------------------------------------------------


def _faults_rows() -> list[str]:
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("\n## Faults", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\|\s*`([a-z0-9-]+)`\s*\|", section, flags=re.MULTILINE)


def test_the_faults_table_is_these_tests() -> None:
    rows = _faults_rows()
    tests = sorted(name[len("test_"):].replace("_", "-") for name in globals()
                   if name.startswith("test_") and name != "test_the_faults_table_is_these_tests")
    assert sorted(rows) == tests
