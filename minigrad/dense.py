"""Dense: the fully connected layer, Z = W A_prev + b."""

from __future__ import annotations

from typing import Any

import numpy as np
from attrs import define, field
from typing_extensions import override

from minigrad._checks import as_float_matrix, check_rows
from minigrad._rng import resolve_rng
from minigrad._typing import Array, DTypeLike
from minigrad.equations import Grad, Tape, Term, Var, generic_lines
from minigrad.errors import ShapeError
from minigrad.init import INITIALIZERS, filled, initial_weights
from minigrad.layer import Layer, Parameter


def _positive_int(instance: Dense, attribute: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise ValueError(f"Dense: {attribute.name} must be a positive int, got {value!r}")


def _known_init(instance: Dense, attribute: Any, value: Any) -> None:
    if value not in INITIALIZERS:
        raise ValueError(f"Dense: init must be one of {sorted(INITIALIZERS)}, got {value!r}")


def _float_dtype(value: Any) -> np.dtype[Any]:
    dtype: np.dtype[Any] = np.dtype(value)
    if dtype.kind != "f":
        raise TypeError(f"Dense: dtype must be a float type such as float64, got {dtype}")
    return dtype


@define(eq=False, repr=False, init=False)
class Dense(Layer):
    """Fully connected layer.

    Forward:  Z = W A_prev + b
    Backward: dW = (1/m) dZ A_prev^T,  db = (1/m) sum_columns(dZ),  dA_prev = W^T dZ

    Shapes: A_prev (n_in, m), W (n_out, n_in), b (n_out, 1), Z (n_out, m).

    Args:
        n_in: rows of the input (features, or units of the previous layer).
        n_out: units of this layer.
        init: ``"xavier"`` (default), ``"he"`` or ``"normal"`` (randn * 0.01);
            see :mod:`minigrad.init`. Biases start at zero.
        dtype: float64 (default) or float32; inputs of another dtype are cast.
        rng: a ``numpy.random.Generator`` or an int seed; by default the
            generator that :func:`minigrad.seed` reseeds.

    >>> import numpy as np, minigrad as mg
    >>> layer = mg.Dense(3, 2, rng=0)
    >>> layer
    Dense(n_in=3, n_out=2)
    >>> layer.forward(np.ones((3, 5))).shape
    (2, 5)
    """

    n_in: int = field(validator=_positive_int)
    n_out: int = field(validator=_positive_int)
    init: str = field(default="xavier", validator=_known_init)
    dtype_: np.dtype[Any] = field(
        default=np.dtype(np.float64), converter=_float_dtype, alias="dtype"
    )
    _W: Parameter = field(init=False, repr=False)
    _b: Parameter = field(init=False, repr=False)
    A_prev: Array | None = field(default=None, init=False, repr=False)
    # (m, 1/m as a 0-d array of the layer's dtype): numpy scales by a 0-d array
    # faster than by a Python float, and m rarely changes between batches
    _inv_m: tuple[int, Array] = field(default=(0, np.ones(())), init=False, repr=False)

    def __init__(
        self,
        n_in: int,
        n_out: int,
        *,
        init: str = "xavier",
        dtype: DTypeLike = np.float64,
        rng: np.random.Generator | int | None = None,
    ) -> None:
        self.__attrs_init__(n_in, n_out, init, dtype)  # validators run here
        dt, owner = self.dtype_, repr(self)
        W = initial_weights(self.init, self.n_in, self.n_out, dt, resolve_rng(rng), owner)
        self._W = Parameter("W", W, np.zeros(W.shape, dt))  # np.zeros: untouched pages are free
        b = filled((self.n_out, 1), 0.0, dt, owner)
        self._b = Parameter("b", b, np.zeros(b.shape, dt))

    # The parameters' arrays *are* the layer's W and b: assigning copies in place.
    @property
    def W(self) -> Array:
        return self._W.value

    @W.setter
    def W(self, value: Array) -> None:
        self._W.assign(value, self)

    @property
    def b(self) -> Array:
        return self._b.value

    @b.setter
    def b(self, value: Array) -> None:
        self._b.assign(value, self)

    @property
    def dW(self) -> Array:
        return self._W.grad

    @property
    def db(self) -> Array:
        return self._b.grad

    @override
    def parameters(self) -> list[Parameter]:
        return [self._W, self._b]

    @property
    @override
    def dtype(self) -> np.dtype[Any]:
        return self._W.value.dtype

    @override
    def astype(self, dtype: DTypeLike) -> Dense:
        super().astype(dtype)
        self.dtype_ = self._W.value.dtype
        return self

    @override
    def output_size(self, n_in: int | None) -> int:
        if n_in is not None and n_in != self.n_in:
            raise ShapeError(f"{self!r}: expects {self.n_in} input rows, but is given {n_in}")
        return self.n_out

    @override
    def forward(self, A_prev: Array) -> Array:
        A_prev = self._checked(A_prev)
        # W.dot(A) is np.dot(W, A) without np.dot's dispatch: 0.25 us less a call, a few
        # percent of a small net's step (benchmarks/bench.py, planar); the same result bit for bit
        Z: Array = self._W.value.dot(A_prev)
        Z += self._b.value
        _set_cache(self, "A_prev", A_prev)
        return Z

    @override
    def infer(self, A_prev: Array) -> Array:
        Z: Array = self._W.value.dot(self._checked(A_prev))
        Z += self._b.value
        return Z

    def _checked(self, A_prev: Any) -> Array:
        """A_prev as a (n_in, m) array of W's dtype, or a ShapeError/DTypeError naming the layer."""
        W = self._W.value
        # one comparison each on the hot path; anything unusual takes the full check
        if (
            A_prev.__class__ is not np.ndarray
            or A_prev.dtype is not W.dtype
            or A_prev.ndim != 2
            or A_prev.shape[0] != self.n_in
            or not A_prev.size
        ):
            A_prev = as_float_matrix(self, A_prev, W.dtype, "A_prev")
            check_rows(self, A_prev, self.n_in, "A_prev")
        checked: Array = A_prev
        return checked

    @override
    def backward(self, dZ: Array) -> Array:
        self.backward_params(dZ)
        dA_prev: Array = self._W.value.T.dot(dZ)
        return dA_prev

    @override
    def backward_params(self, dZ: Array) -> None:
        """Set dW and db from dZ without computing dA_prev (for the first layer)."""
        A_prev = self.A_prev
        if A_prev is None:
            self._cached(A_prev)
            return
        m = A_prev.shape[1]
        W, b = self._W, self._b
        if dZ.__class__ is not np.ndarray or dZ.shape != (self.n_out, m):
            raise ShapeError(
                f"{self!r}: expected dZ of shape ({self.n_out}, {m}) like Z, "
                f"got {getattr(dZ, 'shape', type(dZ).__name__)}"
            )
        if dZ.dtype is not W.value.dtype:
            dZ = as_float_matrix(self, dZ, W.value.dtype, "dZ")
        dW, db = W.grad, b.grad
        m_seen, inv_m = self._inv_m
        if m_seen != m or inv_m.dtype is not dW.dtype:
            inv_m = np.array(1.0 / m, dtype=dW.dtype)
            _set_cache(self, "_inv_m", (m, inv_m))
        try:
            dZ.dot(A_prev.T, out=dW)  # straight into dW, no temporary
        except ValueError:  # dot wants a C-contiguous out of dZ's dtype
            np.matmul(dZ, A_prev.T, out=dW)
        # scale after the products, as (1/m) * dZ A_prev^T reads: the numbers then match
        # a hand-written loop bit for bit (scaling dZ first rounds differently)
        dW *= inv_m
        # db = (1/m) sum(dZ) is not scaled in place: numpy 2 spends 0.8 us on an in-place
        # ufunc over a one-element array (a 1-output layer's db), 0.25 us over more
        np.multiply(np.add.reduce(dZ, axis=1, keepdims=True), inv_m, out=db)

    @override
    def explain_lines(self, tape: Tape) -> None:
        """Z = W A_prev + b forward; dW, db and dA_prev = W^T dZ backward."""
        if type(self).forward is not Dense.forward:  # a subclass that computes something else
            generic_lines(self, tape)
            return
        prev = tape.current
        level = tape.level_of(self)
        W, b, Z = f"W{level}", f"b{level}", tape.fresh(f"Z{level}")
        tape.reserve(W)
        tape.reserve(b)
        shapes = (f"{tape.named_shape(Z, self.n_out)}  {tape.named_shape(W, self.n_out, self.n_in)}"
                  f"  {tape.named_shape(b, self.n_out, 1)}")
        tape.forward_line(Z, f"{W} {prev.name} + {b}", shapes)

        def backward(grad: Grad) -> Term:
            dZ = grad.name
            tape.parameter_line(f"d{W}", f"(1/m) {dZ} {prev.name}^T",
                                tape.named_shape(f"d{W}", self.n_out, self.n_in))
            tape.parameter_line(f"d{b}", f"(1/m) sum({dZ}, axis=1)",
                                tape.named_shape(f"d{b}", self.n_out, 1))
            return Term(f"{W}^T {dZ}", carry=f"{W}^T {dZ}")

        tape.advance(self, Var(Z, self.n_out), backward)


# Caches are plain slots: skip attrs' on-setattr validators, which only concern
# the constructor arguments (n_in, n_out, ...), on every forward.
_set_cache = object.__setattr__
