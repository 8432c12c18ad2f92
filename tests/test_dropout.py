"""Dropout: mask statistics, inverted scaling, eval identity, gradcheck, seeding."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.dropout import Dropout


def test_mask_drops_the_rate_and_keeps_the_mean() -> None:
    drop = Dropout(0.3, rng=0)
    A = np.ones((200, 500))
    out = drop.forward(A)
    dropped = float((out == 0).mean())
    # 100,000 Bernoulli(0.3) draws: the standard error is 0.0014
    assert abs(dropped - 0.3) < 0.006
    kept = out[out != 0]
    np.testing.assert_allclose(kept, 1 / 0.7)  # inverted dropout scales the survivors
    assert abs(out.mean() - 1.0) < 0.01  # E[out] = A
    assert drop.mask is not None and np.array_equal(drop.mask, out)


def test_backward_uses_the_same_mask() -> None:
    drop = Dropout(0.5, rng=1)
    A = np.arange(1.0, 13.0).reshape(3, 4)
    out = drop.forward(A)
    dA = np.full((3, 4), 3.0)
    np.testing.assert_array_equal(drop.backward(dA), 3.0 * out / A)


def test_eval_mode_is_the_identity() -> None:
    drop = Dropout(0.9, rng=0).eval()
    A = np.random.default_rng(0).normal(size=(4, 5))
    assert drop.forward(A) is A
    dA = np.ones((4, 5))
    assert drop.backward(dA) is dA
    net = mg.Sequential([mg.Dense(4, 3, rng=0), Dropout(0.5, rng=0)])
    X = np.ones((4, 6))
    np.testing.assert_array_equal(net.predict(X), net[0].forward(X))
    assert net.training and net[1].training  # predict restores the mode


def test_rate_zero_is_the_identity_in_training() -> None:
    A = np.ones((2, 3))
    assert Dropout(0.0).forward(A) is A


def test_a_new_mask_each_forward_and_seeded_masks_repeat() -> None:
    A = np.ones((10, 10))
    drop = Dropout(0.5, rng=3)
    first, second = drop.forward(A), drop.forward(A)
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(Dropout(0.5, rng=3).forward(A), first)
    mg.seed(7)
    a = Dropout(0.5).forward(A)
    mg.seed(7)
    np.testing.assert_array_equal(Dropout(0.5).forward(A), a)


def test_float32_stays_float32() -> None:
    out = Dropout(0.5, rng=0).forward(np.ones((3, 4), dtype=np.float32))
    assert out.dtype == np.float32
    assert set(np.unique(out).tolist()) <= {0.0, 2.0}


def test_gradcheck_in_train_mode() -> None:
    X = np.random.default_rng(0).normal(size=(3, 5))
    report = mg.gradcheck(Dropout(0.4, rng=0), X)
    assert report.max_relative_error < 1e-7, str(report)
    layers = [mg.Dense(3, 4, rng=0), mg.Tanh(), Dropout(0.5, rng=1), mg.Dense(4, 2, rng=2)]
    net = mg.Sequential(layers)
    report = mg.gradcheck(net, X)
    assert report.max_relative_error < 1e-7, str(report)


def test_errors() -> None:
    for bad in (1.0, -0.1, float("nan"), "0.5", True):
        with pytest.raises(ValueError, match=r"Dropout: rate must lie in \[0, 1\)"):
            Dropout(bad)  # type: ignore[arg-type]
    drop = Dropout(0.5, rng=0)
    with pytest.raises(mg.StateError, match="backward called before forward"):
        drop.backward(np.ones((2, 2)))
    drop.forward(np.ones((2, 3)))
    with pytest.raises(mg.ShapeError, match=r"expected dA of shape \(2, 3\)"):
        drop.backward(np.ones((3, 2)))


def test_repr_and_config() -> None:
    drop = Dropout(0.25, rng=0)
    assert repr(drop) == "Dropout(rate=0.25)"
    assert drop.config() == {"rate": 0.25}


def test_images_drop_each_pixel_on_its_own() -> None:
    drop = Dropout(0.5, rng=0)
    X = np.ones((3, 8, 8, 50))
    A = drop.forward(X)
    assert A.shape == X.shape
    assert set(np.unique(A).tolist()) == {0.0, 2.0}
    assert 0.4 < (A == 0).mean() < 0.6
    dA_prev = drop.backward(np.ones_like(A))
    np.testing.assert_array_equal(dA_prev, A)  # the same mask
    assert drop.output_shape((3, 8, 8)) == (3, 8, 8)
    assert mg.gradcheck(Dropout(0.3, rng=1), np.random.default_rng(0).normal(size=(2, 3, 3, 4)))
