"""Optimizers against their published update equations, worked out step by step.

The tiny problem: one parameter w0 = [1, -2] and the cost J(w) = 0.5 * ||w||**2,
so that the gradient is g = w itself. Step 1 is worked by hand in the comments;
later steps come from a scalar transcription of the same equations.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

import minigrad as mg
from minigrad.optim import SGD, Adam, AdamW, Optimizer, RMSProp, clip_grad_norm, global_norm

W0 = [1.0, -2.0]


def quadratic(optimizer_factory: Callable[[list[mg.Parameter]], Optimizer], steps: int,
              dtype: type = np.float64) -> tuple[np.ndarray, list[np.ndarray]]:
    """Run ``steps`` updates on J = 0.5 ||w||**2; returns w and its value after each step."""
    value = np.array(W0, dtype=dtype)
    p = mg.Parameter("w", value, np.zeros_like(value))
    opt = optimizer_factory([p])
    trace = []
    for _ in range(steps):
        p.grad[...] = p.value  # dJ/dw = w
        opt.step()
        trace.append(p.value.copy())
    assert p.value is value  # updated in place
    return value, trace


# -- SGD ------------------------------------------------------------------------------


def test_sgd_plain_steps() -> None:
    # W = W - lr * g with g = W: each step multiplies by 0.9
    _, trace = quadratic(lambda ps: SGD(ps, lr=0.1), 3)
    np.testing.assert_allclose(trace[0], [0.9, -1.8], rtol=1e-15)
    np.testing.assert_allclose(trace[1], [0.81, -1.62], rtol=1e-15)
    np.testing.assert_allclose(trace[2], [0.729, -1.458], rtol=1e-15)


def test_sgd_momentum_steps() -> None:
    # v1 = g0 = [1, -2];                         w1 = w0 - 0.1 v1 = [0.9, -1.8]
    # v2 = 0.9 v1 + g1 = [1.8, -3.6];            w2 = [0.72, -1.44]
    # v3 = 0.9 v2 + g2 = [2.34, -4.68];          w3 = [0.486, -0.972]
    _, trace = quadratic(lambda ps: SGD(ps, lr=0.1, momentum=0.9), 3)
    np.testing.assert_allclose(trace, [[0.9, -1.8], [0.72, -1.44], [0.486, -0.972]], rtol=1e-14)


def test_sgd_nesterov_steps() -> None:
    # v1 = g0 = [1, -2];       d1 = g0 + 0.9 v1 = [1.9, -3.8];       w1 = [0.81, -1.62]
    # v2 = 0.9 v1 + g1 = [1.71, -3.42];  d2 = g1 + 0.9 v2 = [2.349, -4.698];  w2 = [0.5751, -1.1502]
    _, trace = quadratic(lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True), 2)
    np.testing.assert_allclose(trace, [[0.81, -1.62], [0.5751, -1.1502]], rtol=1e-14)


def test_sgd_weight_decay_adds_l2_gradient() -> None:
    # g = dW + 0.5 W = 1.5 W, so each step multiplies by 1 - 0.1 * 1.5 = 0.85
    _, trace = quadratic(lambda ps: SGD(ps, lr=0.1, weight_decay=0.5), 2)
    np.testing.assert_allclose(trace, [[0.85, -1.7], [0.7225, -1.445]], rtol=1e-14)


def test_sgd_weight_decay_with_momentum() -> None:
    # g0 = 1.5 w0 = [1.5, -3]; v1 = g0; w1 = w0 - 0.1 v1 = [0.85, -1.7]
    # g1 = 1.5 w1 = [1.275, -2.55]; v2 = 0.9 v1 + g1 = [2.625, -5.25]; w2 = [0.5875, -1.175]
    _, trace = quadratic(lambda ps: SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.5), 2)
    np.testing.assert_allclose(trace, [[0.85, -1.7], [0.5875, -1.175]], rtol=1e-14)


# -- RMSProp --------------------------------------------------------------------------


def rmsprop_reference(w: float, lr: float, rho: float, eps: float, steps: int) -> list[float]:
    v, out = 0.0, []
    for _ in range(steps):
        g = w
        v = rho * v + (1 - rho) * g * g
        w = w - lr * g / (math.sqrt(v) + eps)
        out.append(w)
    return out


def test_rmsprop_steps() -> None:
    # step 1: v = 0.1 g**2, so g / sqrt(v) = sign(g) / sqrt(0.1) = +-3.16227766
    #         w1 = w0 - 0.1 * 3.16227766 * sign = [0.683772234, -1.683772234]
    _, trace = quadratic(lambda ps: RMSProp(ps, lr=0.1, rho=0.9), 3)
    np.testing.assert_allclose(trace[0], [0.683772234, -1.683772234], rtol=1e-7)  # eps aside
    for i, w0 in enumerate(W0):
        expected = rmsprop_reference(w0, 0.1, 0.9, 1e-8, 3)
        np.testing.assert_allclose([t[i] for t in trace], expected, rtol=1e-13)


# -- Adam and AdamW -------------------------------------------------------------------


def adam_reference(w: float, lr: float, b1: float, b2: float, eps: float, steps: int,
                   decoupled: float = 0.0) -> list[float]:
    """Kingma and Ba's Algorithm 1 in scalars; ``decoupled`` is AdamW's weight decay."""
    m = v = 0.0
    out = []
    for t in range(1, steps + 1):
        g = w
        w = w - lr * decoupled * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        w = w - lr * m_hat / (math.sqrt(v_hat) + eps)
        out.append(w)
    return out


def test_adam_steps() -> None:
    # step 1: m_hat = g, v_hat = g**2, so the step is lr * sign(g): w1 = [0.9, -1.9]
    # step 2: m = 0.9 * 0.1 g0 + 0.1 g1 = [0.18, -0.37]; v = [0.001809, 0.007606]
    #         m_hat = m / 0.19, v_hat = v / 0.001999 -> w2 = [0.80041..., -1.80016...]
    _, trace = quadratic(lambda ps: Adam(ps, lr=0.1), 3)
    np.testing.assert_allclose(trace[0], [0.9, -1.9], rtol=1e-8)  # eps shifts the 9th digit
    m2 = np.array([0.18, -0.37])
    v2 = np.array([0.001809, 0.007606])
    w2 = np.array([0.9, -1.9]) - 0.1 * (m2 / 0.19) / (np.sqrt(v2 / 0.001999) + 1e-8)
    np.testing.assert_allclose(trace[1], w2, rtol=1e-8)  # w1 = 0.9 up to eps
    for i, w0 in enumerate(W0):
        expected = adam_reference(w0, 0.1, 0.9, 0.999, 1e-8, 3)
        np.testing.assert_allclose([t[i] for t in trace], expected, rtol=1e-13)


def test_adam_l2_weight_decay_enters_the_moments() -> None:
    # g = dW + 0.5 W = 1.5 W: the first step is still lr * sign(g) = [0.9, -1.9]
    _, trace = quadratic(lambda ps: Adam(ps, lr=0.1, weight_decay=0.5), 1)
    np.testing.assert_allclose(trace[0], [0.9, -1.9], rtol=1e-8)  # eps shifts the 9th digit


def test_adamw_steps() -> None:
    # step 1: shrink w0 by 1 - 0.1 * 0.1 = 0.99 -> [0.99, -1.98], then -0.1 sign(g0): [0.89, -1.88]
    _, trace = quadratic(lambda ps: AdamW(ps, lr=0.1, weight_decay=0.1), 3)
    np.testing.assert_allclose(trace[0], [0.89, -1.88], rtol=1e-8)
    for i, w0 in enumerate(W0):
        expected = adam_reference(w0, 0.1, 0.9, 0.999, 1e-8, 3, decoupled=0.1)
        np.testing.assert_allclose([t[i] for t in trace], expected, rtol=1e-13)


# -- common behaviour -----------------------------------------------------------------

ALL: list[Callable[[list[mg.Parameter]], Optimizer]] = [
    lambda ps: SGD(ps, lr=0.1),
    lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    lambda ps: RMSProp(ps, lr=0.01, weight_decay=0.01),
    lambda ps: Adam(ps, lr=0.01),
    lambda ps: AdamW(ps, lr=0.01),
]
IDS = ["sgd", "nesterov", "rmsprop", "adam", "adamw"]


@pytest.mark.parametrize("factory", ALL, ids=IDS)
def test_float32_stays_float32(factory: Callable[[list[mg.Parameter]], Optimizer]) -> None:
    w, trace = quadratic(factory, 3, dtype=np.float32)
    assert w.dtype == np.float32
    assert all(t.dtype == np.float32 for t in trace)
    w64, _ = quadratic(factory, 3)
    np.testing.assert_allclose(w, w64, rtol=1e-5)


@pytest.mark.parametrize("factory", ALL, ids=IDS)
def test_updates_layer_arrays_in_place(factory: Callable[[list[mg.Parameter]], Optimizer]) -> None:
    layer = mg.Dense(3, 2, rng=0)
    W, b = layer.W, layer.b
    before = W.copy()
    opt = factory(layer.parameters())
    layer.forward(np.ones((3, 4)))
    layer.backward(np.ones((2, 4)))
    opt.step()
    assert layer.W is W and layer.b is b
    assert not np.array_equal(W, before)
    assert opt.step_count == 1


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("factory", ALL, ids=IDS)
def test_one_element_parameters_step_as_the_others(
    factory: Callable[[list[mg.Parameter]], Optimizer], dtype: type
) -> None:
    # a one-element parameter (a 1-output layer's b) is committed through its scalar:
    # it must take bit for bit the step it takes inside a larger array
    rng = np.random.default_rng(0)
    values = rng.standard_normal((5, 2)).astype(dtype)
    single = [mg.Parameter(f"p{i}", values[i:i + 1, :1].copy(), np.zeros((1, 1), dtype))
              for i in range(5)]
    whole = mg.Parameter("all", values[:, :1].copy(), np.zeros((5, 1), dtype))
    opt_single, opt_whole = factory(single), factory([whole])
    for _ in range(3):
        grads = rng.standard_normal((5, 1)).astype(dtype)
        for i, p in enumerate(single):
            p.grad[...] = grads[i]
        whole.grad[...] = grads
        opt_single.step()
        opt_whole.step()
    assert np.concatenate([p.value for p in single]).tobytes() == whole.value.tobytes()


@pytest.mark.parametrize("factory", ALL, ids=IDS)
def test_state_dict_resumes_bit_identically(
    factory: Callable[[list[mg.Parameter]], Optimizer],
) -> None:
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal((2, 3)) for _ in range(6)]

    def run(layer: mg.Dense, opt: Optimizer, gs: list[np.ndarray]) -> None:
        for g in gs:
            layer.dW[...] = g
            layer.db[...] = g[:, :1]
            opt.step()

    a = mg.Dense(3, 2, rng=1)
    opt_a = factory(a.parameters())
    run(a, opt_a, grads[:3])
    state = opt_a.state_dict()
    W_mid, b_mid = a.W.copy(), a.b.copy()
    run(a, opt_a, grads[3:])

    b = mg.Dense(3, 2, rng=2)
    b.W, b.b = W_mid, b_mid
    opt_b = factory(b.parameters())
    opt_b.lr = 0.5  # overwritten by the state
    opt_b.load_state_dict(state)
    assert opt_b.lr == opt_a.lr
    run(b, opt_b, grads[3:])
    assert np.array_equal(a.W, b.W) and np.array_equal(a.b, b.b)
    assert opt_b.step_count == 6


def test_state_dict_holds_plain_values_under_flat_keys() -> None:
    opt = Adam(mg.Dense(3, 2, rng=0).parameters(), lr=0.01)
    state = opt.state_dict()
    assert set(state) == {"type", "lr", "step", "beta1", "beta2", "eps", "weight_decay",
                          "m.0", "m.1", "v.0", "v.1"}
    for key, value in state.items():
        assert isinstance(value, np.ndarray | int | float | str), key
    assert state["m.0"].shape == (2, 3) and state["m.1"].shape == (2, 1)
    assert state["m.0"] is not opt.buffers["m"][0]  # a copy


def test_state_dict_accepts_zero_d_arrays_as_from_npz() -> None:
    opt = SGD(mg.Dense(2, 1, rng=0).parameters(), lr=0.1, momentum=0.9)
    opt.step_count = 4
    state = {k: np.asarray(v) for k, v in opt.state_dict().items()}
    other = SGD(mg.Dense(2, 1, rng=0).parameters(), lr=1.0)  # no momentum yet
    other.load_state_dict(state)
    assert other.momentum == 0.9 and other.step_count == 4 and other.lr == 0.1
    assert isinstance(other.lr, float)


def test_load_state_dict_errors_name_the_problem_and_change_nothing() -> None:
    layer = mg.Dense(3, 2, rng=0)
    opt = Adam(layer.parameters(), lr=0.01)
    good = opt.state_dict()
    cases = {
        "missing keys \\['v.1'\\]": {k: v for k, v in good.items() if k != "v.1"},
        "unexpected keys \\['extra'\\]": dict(good, extra=1.0),
        "m.0 must be a float array of shape \\(2, 3\\)": dict(good, **{"m.0": np.zeros((3, 2))}),
        "the state is for 'SGD', not 'Adam'": dict(good, type="SGD"),
        "lr must be a finite number > 0": dict(good, lr=-1.0),
        "step must be an int >= 0": dict(good, step=-2),
    }
    for message, state in cases.items():
        with pytest.raises(ValueError, match=message):
            opt.load_state_dict(state)
    assert opt.lr == 0.01 and opt.step_count == 0
    with pytest.raises(ValueError, match="expected a dict"):
        opt.load_state_dict([])  # type: ignore[arg-type]


def test_lr_is_settable_and_validated() -> None:
    opt = SGD(mg.Dense(2, 1, rng=0).parameters(), lr=0.1)
    opt.lr = np.float64(0.05)
    assert opt.lr == 0.05 and type(opt.lr) is float
    for bad in (0.0, -1.0, math.nan, math.inf, "0.1", True):
        with pytest.raises(ValueError, match="SGD: lr must be a finite number > 0"):
            opt.lr = bad  # type: ignore[assignment]
    assert opt.lr == 0.05


def test_constructor_errors() -> None:
    model = mg.Sequential([mg.Dense(2, 3, rng=0), mg.Tanh()])
    with pytest.raises(TypeError, match=r"pass model.parameters\(\), not the model"):
        SGD(model, lr=0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty parameter list"):
        SGD(mg.Tanh().parameters(), lr=0.1)
    params = model.parameters()
    with pytest.raises(ValueError, match="listed twice"):
        SGD([params[0], params[0]], lr=0.1)
    with pytest.raises(TypeError, match="parameter 0 is a ndarray"):
        SGD([np.zeros(2)], lr=0.1)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="nesterov=True needs momentum > 0"):
        SGD(params, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match=r"momentum must lie in \[0, 1\)"):
        SGD(params, lr=0.1, momentum=1.0)
    with pytest.raises(ValueError, match="betas must be two numbers"):
        Adam(params, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="RMSProp: eps must be a finite number > 0"):
        RMSProp(params, eps=0.0)


def test_repr_names_the_hyperparameters() -> None:
    opt = SGD(mg.Dense(2, 1, rng=0).parameters(), lr=0.1, momentum=0.9)
    assert repr(opt) == (
        "SGD(<2 parameters>, lr=0.1, momentum=0.9, nesterov=False, weight_decay=0.0)"
    )


# -- clipping -------------------------------------------------------------------------


def test_clip_grad_norm_scales_all_gradients_by_one_factor() -> None:
    a = mg.Parameter("a", np.zeros(2), np.array([3.0, 0.0]))
    b = mg.Parameter("b", np.zeros((1, 1)), np.array([[4.0]]))
    assert global_norm([a, b]) == 5.0
    assert clip_grad_norm([a, b], 2.5) == 5.0
    np.testing.assert_allclose(a.grad, [1.5, 0.0])
    np.testing.assert_allclose(b.grad, [[2.0]])
    assert clip_grad_norm([a, b], 10.0) == pytest.approx(2.5)  # under the limit: unchanged
    np.testing.assert_allclose(a.grad, [1.5, 0.0])


def test_clip_leaves_non_finite_gradients_alone() -> None:
    a = mg.Parameter("a", np.zeros(2), np.array([np.nan, 1.0]))
    assert math.isnan(clip_grad_norm([a], 1.0))
    assert a.grad[1] == 1.0
    with pytest.raises(ValueError, match="max_norm must be a number > 0"):
        clip_grad_norm([a], 0.0)


def test_optimizer_clips_before_stepping() -> None:
    # g = [3, 4] has norm 5; clipped to norm 1 it is [0.6, 0.8]; SGD lr=1 subtracts it
    p = mg.Parameter("w", np.zeros(2), np.array([3.0, 4.0]))
    SGD([p], lr=1.0, max_grad_norm=1.0).step()
    np.testing.assert_allclose(p.value, [-0.6, -0.8])
