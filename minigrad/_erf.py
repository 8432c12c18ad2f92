"""Vectorized erf and erfc, accurate to double precision.

numpy has no error function, and GELU needs one. This evaluates W. J. Cody's
rational Chebyshev approximations (Math. Comp. 23, 1969) on three ranges of
|x|: a rational function of x**2 near zero, and rational functions of |x| and
1/x**2 for erfc farther out, scaled by exp(-x**2) computed in two pieces so
that the rounding of x**2 costs no accuracy.
"""

from __future__ import annotations

import math

import numpy as np

from minigrad._typing import Array

# |x| <= 0.46875: erf(x) = x * P(x^2) / Q(x^2)
_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
      3.20937758913846947e03, 1.85777706184603153e-1)
_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
      2.84423683343917062e03)
# 0.46875 < |x| <= 4: erfc(x) = exp(-x^2) * P(x) / Q(x)
_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
      2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
      2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)
_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
      1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
      3.43936767414372164e03, 1.23033935480374942e03)
# |x| > 4: erfc(x) = exp(-x^2) / x * (1/sqrt(pi) - R(1/x^2) / x^2)
_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
      1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)
_Q = (2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
      6.05183413124413191e-2, 2.33520497626869185e-3)
_INV_SQRT_PI = 1.0 / math.sqrt(math.pi)
_SMALL, _MID = 0.46875, 4.0
_XBIG = 26.543  # erfc(x) underflows to 0 in float64 beyond this


def _small_erf(x: Array) -> Array:
    y = x * x
    num, den = _A[4] * y, y
    for i in range(3):
        num, den = (num + _A[i]) * y, (den + _B[i]) * y
    result: Array = x * (num + _A[3]) / (den + _B[3])
    return result


def _exp_minus_square(y: Array) -> Array:
    """exp(-y*y) without the rounding error of forming y*y in one go."""
    y_hi = np.trunc(y * 16.0) / 16.0
    result: Array = np.exp(-y_hi * y_hi) * np.exp(-(y - y_hi) * (y + y_hi))
    return result


def _large_erfc(y: Array) -> Array:
    """erfc(y) for y > 0.46875 (y already >= 0)."""
    mid = y <= _MID
    y_mid = np.where(mid, y, _MID)
    num, den = _C[8] * y_mid, y_mid
    for i in range(7):
        num, den = (num + _C[i]) * y_mid, (den + _D[i]) * y_mid
    r_mid = (num + _C[7]) / (den + _D[7])

    y_far = np.where(mid, _MID + 1.0, np.minimum(y, _XBIG))
    inv = 1.0 / (y_far * y_far)
    num, den = _P[5] * inv, inv
    for i in range(4):
        num, den = (num + _P[i]) * inv, (den + _Q[i]) * inv
    r_far = (_INV_SQRT_PI - inv * (num + _P[4]) / (den + _Q[4])) / y_far

    scaled = np.where(mid, r_mid, r_far) * _exp_minus_square(np.minimum(y, _XBIG))
    result: Array = np.where(y >= _XBIG, 0.0, scaled)
    return result


def erf(x: Array) -> Array:
    """The error function, erf(x) = 2/sqrt(pi) * integral_0^x exp(-t^2) dt, elementwise.

    >>> round(float(erf(np.array(0.5))), 15)
    0.520499877813047
    """
    x64 = np.asarray(x, dtype=np.float64)
    y = np.abs(x64)
    small = y <= _SMALL
    tail = 1.0 - _large_erfc(np.where(small, 1.0, y))
    result = np.where(small, _small_erf(np.where(small, x64, 0.0)), np.copysign(tail, x64))
    return result.astype(np.result_type(x, np.float32), copy=False)


def erfc(x: Array) -> Array:
    """The complementary error function, erfc(x) = 1 - erf(x), accurate in the far tail.

    >>> float(erfc(np.array(10.0)))  # doctest: +ELLIPSIS
    2.088487583762...e-45
    """
    x64 = np.asarray(x, dtype=np.float64)
    y = np.abs(x64)
    small = y <= _SMALL
    upper = _large_erfc(np.where(small, 1.0, y))
    positive = np.where(x64 >= 0, upper, 2.0 - upper)
    result = np.where(small, 1.0 - _small_erf(np.where(small, x64, 0.0)), positive)
    return result.astype(np.result_type(x, np.float32), copy=False)
