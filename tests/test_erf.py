"""minigrad._erf: erf and erfc against the standard library over a wide range."""

from __future__ import annotations

import math

import numpy as np
import pytest

from minigrad._erf import erf, erfc

TINY = np.finfo(np.float64).tiny


def _grid() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.concatenate(
        [
            np.linspace(-7, 7, 20_001),
            rng.uniform(-30, 30, size=5_000),
            np.geomspace(1e-300, 1e-2, 300),
            -np.geomspace(1e-300, 1e-2, 300),
            # the edges of the three approximation ranges, and the neighbours of each
            np.nextafter([0.46875, 4.0], 0),
            [0.46875, 4.0, -0.46875, -4.0],
            np.nextafter([0.46875, 4.0], 10),
        ]
    )


def _ulps(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.abs(got - want) / np.spacing(np.abs(want))
    return out


def test_erf_matches_math_erf_within_a_few_ulps() -> None:
    x = _grid()
    want = np.array([math.erf(v) for v in x])
    got = erf(x)
    nonzero = want != 0
    assert _ulps(got[nonzero], want[nonzero]).max() <= 4
    np.testing.assert_array_equal(got[~nonzero], 0.0)


def test_erfc_matches_math_erfc_in_relative_terms_far_into_the_tail() -> None:
    x = _grid()
    want = np.array([math.erfc(v) for v in x])
    got = erfc(x)
    # Cody's cut-off 26.543 flushes results below about 1.014 * TINY (the smallest normal
    # number) to 0; above it erfc is accurate in relative terms, however small
    normal = want > 1.02 * TINY
    assert _ulps(got[normal], want[normal]).max() <= 8
    assert normal.sum() > 20_000
    assert want[normal].min() < 1e-300
    assert np.all(np.abs(got[~normal] - want[~normal]) <= 1.02 * TINY)


def test_special_values() -> None:
    x = np.array([0.0, -0.0, np.inf, -np.inf, 30.0, -30.0, 1e300, -1e300])
    np.testing.assert_array_equal(erf(x), [0.0, -0.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0])
    np.testing.assert_array_equal(erfc(x), [1.0, 1.0, 0.0, 2.0, 0.0, 2.0, 0.0, 2.0])
    assert math.copysign(1.0, float(erf(np.array(-0.0)))) == -1.0  # erf is odd, even at zero
    assert np.isnan(erf(np.array(np.nan)))
    assert np.isnan(erfc(np.array(np.nan)))


def test_symmetries() -> None:
    x = np.linspace(-6, 6, 1201)
    np.testing.assert_array_equal(erf(-x), -erf(x))
    np.testing.assert_allclose(erfc(-x), 2 - erfc(x), rtol=0, atol=4e-16)
    np.testing.assert_allclose(erf(x) + erfc(x), 1.0, rtol=0, atol=4e-16)


def test_known_values() -> None:
    assert float(erf(np.array(0.5))) == pytest.approx(0.5204998778130465, rel=1e-15)
    assert float(erfc(np.array(10.0))) == pytest.approx(2.088487583762545e-45, rel=1e-14)
    assert float(erfc(np.array(26.0))) == pytest.approx(5.663192408856143e-296, rel=1e-14)


@pytest.mark.parametrize("function", [erf, erfc])
def test_dtype_and_shape_are_kept(function: object) -> None:
    f = function  # type: ignore[assignment]
    x32 = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)
    x64 = x32.astype(np.float64)
    out32 = f(x32)  # type: ignore[operator]
    assert out32.dtype == np.float32 and out32.shape == (3, 4)
    np.testing.assert_allclose(out32, f(x64), rtol=1e-6)  # type: ignore[operator]
    assert f(np.array([1, 2])).dtype == np.float64  # type: ignore[operator]


def test_no_warnings_anywhere() -> None:
    x = np.concatenate([np.linspace(-1e3, 1e3, 10_001), [-1e308, 1e308, np.inf, -np.inf]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert np.isfinite(erf(x)).all()
        assert np.isfinite(erfc(x)).all()
