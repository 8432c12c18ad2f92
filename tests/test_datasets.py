"""Generated data sets and scikit-learn's digits."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest

import minigrad as mg
from minigrad.datasets import circles, curve, digits, moons, planar, spirals, xor

BINARY_SETS = [planar, moons, circles, xor]


def test_planar_reproduces_the_classic_set() -> None:
    X, Y = planar()
    assert X.shape == (2, 400) and Y.shape == (1, 400)
    np.testing.assert_allclose(X[:, 0], [1.204442, 3.576114], atol=1e-6)
    np.testing.assert_allclose(X[:, 200], [-1.070496, 3.682525], atol=1e-6)
    assert (Y[0, :200] == 0).all() and (Y[0, 200:] == 1).all()


def test_planar_seed_1_is_the_default_and_other_seeds_differ() -> None:
    np.testing.assert_array_equal(planar()[0], planar(seed=1)[0])
    assert not np.allclose(planar(seed=2)[0], planar(seed=1)[0])
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    np.testing.assert_array_equal(planar(seed=rng_a)[0], planar(seed=rng_b)[0])


def test_planar_points_lie_within_the_petal_radius() -> None:
    X, _ = planar(m=1000, noise=0.0, seed=3)
    assert np.hypot(X[0], X[1]).max() <= 4.0 + 1e-12


def test_planar_refuses_odd_m() -> None:
    with pytest.raises(ValueError, match="m must be even"):
        planar(m=401)


@pytest.mark.parametrize("make", BINARY_SETS, ids=lambda f: f.__name__)
def test_binary_sets_have_column_shape_both_classes_and_are_seeded(make: Any) -> None:
    X, Y = make(m=60, seed=4)
    assert X.shape == (2, 60) and Y.shape == (1, 60)
    assert X.dtype == np.float64 and set(np.unique(Y).tolist()) == {0.0, 1.0}
    X2, Y2 = make(m=60, seed=4)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(Y, Y2)


@pytest.mark.parametrize("make", [*BINARY_SETS, spirals, curve], ids=lambda f: f.__name__)
def test_float32_is_honoured(make: Any) -> None:
    X, Y = make(m=60, dtype=np.float32)
    assert X.dtype == np.float32
    assert Y.dtype in (np.float32, np.int64)


@pytest.mark.parametrize("make", [*BINARY_SETS, spirals, curve], ids=lambda f: f.__name__)
def test_bad_arguments_name_the_data_set(make: Any) -> None:
    with pytest.raises(mg.InputError, match=make.__name__ + ": m must be an int"):
        make(m=0)
    with pytest.raises(TypeError, match="dtype must be a float type"):
        make(m=60, dtype=np.int32)
    with pytest.raises(TypeError, match="seed must be"):
        make(m=60, seed="one")


def test_circles_radii_without_noise() -> None:
    X, Y = circles(m=40, noise=0.0, factor=0.3)
    radius = np.hypot(X[0], X[1])
    np.testing.assert_allclose(radius[Y[0] == 0], 1.0)
    np.testing.assert_allclose(radius[Y[0] == 1], 0.3)
    with pytest.raises(ValueError, match="factor"):
        circles(factor=1.5)


def test_moons_without_noise_lie_on_their_half_circles() -> None:
    X, Y = moons(m=50, noise=0.0)
    outer, inner = X[:, Y[0] == 0], X[:, Y[0] == 1]
    np.testing.assert_allclose(np.hypot(outer[0], outer[1]), 1.0)
    np.testing.assert_allclose(np.hypot(inner[0] - 1.0, inner[1] - 0.5), 1.0)


def test_xor_labels_follow_the_quadrants() -> None:
    X, Y = xor(m=200)
    np.testing.assert_array_equal(Y[0] == 1, X[0] * X[1] < 0)
    assert 0.3 < Y.mean() < 0.7


def test_spirals_give_integer_labels_for_k_classes() -> None:
    X, y = spirals(m=200, classes=4, seed=1)
    assert X.shape == (2, 200) and y.shape == (200,) and y.dtype == np.int64
    assert np.bincount(y).tolist() == [50, 50, 50, 50]
    assert np.hypot(X[0], X[1]).max() <= 1.0 + 1e-12
    with pytest.raises(ValueError, match="multiple of classes"):
        spirals(m=10, classes=3)


def test_curve_is_sorted_and_follows_its_formula_without_noise() -> None:
    X, Y = curve(m=50, noise=0.0)
    assert X.shape == Y.shape == (1, 50)
    assert (np.diff(X[0]) >= 0).all() and X.min() >= -3 and X.max() <= 3
    np.testing.assert_allclose(Y, np.sin(1.5 * X) + 0.25 * X)


def test_digits_shape_scale_and_labels() -> None:
    pytest.importorskip("sklearn")
    X, y = digits()
    assert X.shape == (64, 1797) and y.shape == (1797,)
    assert X.min() == 0.0 and X.max() == 1.0
    assert sorted(set(y.tolist())) == list(range(10))
    assert digits(dtype=np.float32)[0].dtype == np.float32


def test_digits_without_scikit_learn_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sklearn", None)  # what a missing package looks like
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    hint = r"needs scikit-learn.*pip install \"minigrad\[datasets\]\""
    with pytest.raises(ImportError, match=hint):
        digits()
    assert not mg.datasets.sklearn_available()


def test_digits_as_images() -> None:
    pytest.importorskip("sklearn")
    X, y = digits(images=True)
    X_columns, _ = digits()
    assert X.shape == (1, 8, 8, 1797) and y.shape == (1797,)
    np.testing.assert_array_equal(X.reshape(64, -1), X_columns)
    np.testing.assert_array_equal(X[0, :, :, 0].ravel(), X_columns[:, 0])  # read row by row
    assert digits(images=True, dtype=np.float32)[0].dtype == np.float32
