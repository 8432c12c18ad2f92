"""Conv2D: the convolutional layer, Z = W * A_prev + b (cross-correlation), examples last."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from attrs import define, field
from typing_extensions import override

from minigrad._images import as_image_batch
from minigrad._rng import resolve_rng
from minigrad._typing import Array, DTypeLike
from minigrad._windows import (
    Pads,
    check_pair,
    conv_dA,
    conv_dW,
    conv_forward,
    output_hw,
    pad,
    to_pair,
    unpad,
    window_buffer,
)
from minigrad.equations import Grad, Tape, Term, Var, generic_lines
from minigrad.errors import ShapeError
from minigrad.layer import Layer, Parameter, Shape

# the standard deviation of each initializer of minigrad.init, for fan_in = c_in*kh*kw
# and fan_out = c_out*kh*kw (the numbers each output and each input meets)
_STD = {
    "he": lambda fan_in, fan_out: math.sqrt(2.0 / fan_in),
    "xavier": lambda fan_in, fan_out: math.sqrt(2.0 / (fan_in + fan_out)),
    "normal": lambda fan_in, fan_out: 0.01,
}


def _positive_int(instance: Any, attribute: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise ValueError(f"Conv2D: {attribute.name} must be a positive int, got {value!r}")


def _pair(instance: Any, attribute: Any, value: Any) -> None:
    check_pair("Conv2D", attribute.name, value)


def _padding_value(value: Any) -> Any:
    if value == "valid":
        return (0, 0)
    return value if isinstance(value, str) else to_pair(value)


def _padding(instance: Conv2D, attribute: Any, value: Any) -> None:
    if value == "same":
        if instance.stride != (1, 1):
            raise ValueError(
                f"Conv2D: padding='same' needs stride 1, got stride={instance.stride}; "
                "give the padding as numbers"
            )
        return
    if isinstance(value, str):
        raise ValueError(
            f"Conv2D: padding must be an int, a pair, 'valid' or 'same', got {value!r}"
        )
    check_pair("Conv2D", "padding", value, minimum=0)


def _known_init(instance: Any, attribute: Any, value: Any) -> None:
    if value not in _STD:
        raise ValueError(f"Conv2D: init must be one of {sorted(_STD)}, got {value!r}")


def _float_dtype(value: Any) -> np.dtype[Any]:
    dtype: np.dtype[Any] = np.dtype(value)
    if dtype.kind != "f":
        raise TypeError(f"Conv2D: dtype must be a float type such as float64, got {dtype}")
    return dtype


@define(eq=False, repr=False, init=False)
class Conv2D(Layer):
    """2-D convolution (cross-correlation, as in every framework and in the notes).

    Forward, for output channel c and position (i, j), with stride s:
        Z[c, i, j, :] = sum over (c', a, b) of W[c, c', a, b] * A_prev[c', s*i + a, s*j + b, :]
                        + b[c]
    that is, ``Z = W * A_prev + b``. Each window becomes a column, so the
    whole layer is one matrix product (see :mod:`minigrad._windows`).

    Backward (per-example dZ, the library's convention):
        dW[c, c', a, b] = (1/m) sum over (i, j, examples) of
                          dZ[c, i, j, :] * A_prev[c', s*i + a, s*j + b, :]
        db[c]           = (1/m) sum over (i, j, examples) of dZ[c, i, j, :]
        dA_prev         = the full convolution of dZ with the flipped W (each input
                          pixel collects W times the dZ of every window that saw it)

    Shapes: A_prev (c_in, h, w, m), W (c_out, c_in, kh, kw), b (c_out, 1, 1, 1),
    Z (c_out, oh, ow, m) with oh = (h + padding - kh) / s + 1, and the same for ow.

    Args:
        c_in, c_out: input and output channels.
        kernel_size: kh and kw, an int or a pair.
        stride: an int or a pair (default 1); it must tile the padded image.
        padding: zeros around each image: an int, a pair (rows, columns),
            ``"valid"`` (none, the default) or ``"same"`` (output as large as the
            input; stride 1 only; an even kernel pads one more below and right).
        init: ``"xavier"`` (default), ``"he"`` or ``"normal"``, as for Dense with
            fan_in = c_in*kh*kw and fan_out = c_out*kh*kw. Biases start at zero.
        dtype: float64 (default) or float32; inputs of another dtype are cast.
        rng: a ``numpy.random.Generator`` or an int seed; by default the
            generator that :func:`minigrad.seed` reseeds.

    >>> import numpy as np, minigrad as mg
    >>> conv = mg.Conv2D(1, 4, 3, padding="same", rng=0)
    >>> conv
    Conv2D(c_in=1, c_out=4, kernel_size=(3, 3), padding='same')
    >>> conv.forward(np.ones((1, 8, 8, 5))).shape
    (4, 8, 8, 5)
    """

    c_in: int = field(validator=_positive_int)
    c_out: int = field(validator=_positive_int)
    kernel_size: tuple[int, int] = field(converter=to_pair, validator=_pair)
    stride: tuple[int, int] = field(default=(1, 1), converter=to_pair, validator=_pair)
    padding: tuple[int, int] | str = field(
        default=(0, 0), converter=_padding_value, validator=_padding
    )
    init: str = field(default="xavier", validator=_known_init)
    dtype_: np.dtype[Any] = field(
        default=np.dtype(np.float64), converter=_float_dtype, alias="dtype"
    )
    _W: Parameter = field(init=False, repr=False)
    _b: Parameter = field(init=False, repr=False)
    A_prev: Array | None = field(default=None, init=False, repr=False)  # the forward cache
    _pads: Pads = field(default=(0, 0, 0, 0), init=False, repr=False)
    # scratch reused from step to step, never a cache: the padded input, the window block
    _padded: Array | None = field(default=None, init=False, repr=False)
    _buffer: Array | None = field(default=None, init=False, repr=False)
    _inv_m: tuple[int, Array] = field(default=(0, np.ones(())), init=False, repr=False)

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int | tuple[int, int],
        *,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        init: str = "xavier",
        dtype: DTypeLike = np.float64,
        rng: np.random.Generator | int | None = None,
    ) -> None:
        self.__attrs_init__(c_in, c_out, kernel_size, stride, padding, init, dtype)
        kh, kw = self.kernel_size
        if self.padding == "same":
            self._pads = ((kh - 1) // 2, kh // 2, (kw - 1) // 2, kw // 2)
        elif isinstance(self.padding, tuple):
            ph, pw = self.padding
            self._pads = (ph, ph, pw, pw)
        shape = (self.c_out, self.c_in, kh, kw)
        std = _STD[self.init](self.c_in * kh * kw, self.c_out * kh * kw)
        W = (resolve_rng(rng).standard_normal(shape) * std).astype(self.dtype_)
        self._W = Parameter("W", W, np.zeros_like(W))
        zeros = np.zeros((self.c_out, 1, 1, 1), dtype=self.dtype_)
        self._b = Parameter("b", zeros, zeros.copy())

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
    def astype(self, dtype: DTypeLike) -> Conv2D:
        super().astype(dtype)
        self.dtype_ = self._W.value.dtype
        return self

    @override
    def output_shape(self, shape: Shape | None) -> Shape | None:
        if shape is None:
            return None
        if len(shape) != 3:
            hint = (f"; put the columns back into images first, e.g. "
                    f"X.reshape({self.c_in}, h, w, m)"
                    if len(shape) == 1 else "")
            raise ShapeError(
                f"{self!r}: expects images (channels, height, width) per example, "
                f"got examples of shape {shape}{hint}"
            )
        if shape[0] != self.c_in:
            raise ShapeError(f"{self!r}: expects {self.c_in} input channels, got {shape[0]} "
                             f"(examples of shape {shape})")
        oh, ow = output_hw(self, (shape[1], shape[2]), self.kernel_size, self.stride, self._pads)
        return (self.c_out, oh, ow)

    @override
    def forward(self, A_prev: Array) -> Array:
        W = self._W.value
        if (
            A_prev.__class__ is not np.ndarray
            or A_prev.dtype is not W.dtype
            or A_prev.ndim != 4
            or A_prev.shape[0] != self.c_in
            or not A_prev.shape[3]
        ):
            A_prev = as_image_batch(self, A_prev, W.dtype, "A_prev", self.c_in)
        out_hw = output_hw(self, A_prev.shape[1:3], self.kernel_size, self.stride, self._pads)
        A_pad = self._pad(A_prev)
        # every window becomes a column of a matrix, and Z = W cols + b is one product
        # (done a block of columns at a time: see minigrad._windows)
        Z = conv_forward(A_pad, W, self.stride, out_hw, self._window_buffer(A_pad, out_hw))
        Z += self._b.value
        _set(self, "A_prev", A_prev)
        return Z

    @override
    def infer(self, A_prev: Array) -> Array:
        """Z for inference: forward without caching, with buffers of its own (thread-safe)."""
        W = self._W.value
        A_prev = as_image_batch(self, A_prev, W.dtype, "A_prev", self.c_in)
        out_hw = output_hw(self, A_prev.shape[1:3], self.kernel_size, self.stride, self._pads)
        A_pad = pad(A_prev, self._pads, None)
        Z = conv_forward(A_pad, W, self.stride, out_hw, window_buffer(A_pad, self.kernel_size,
                                                                        out_hw, None))
        Z += self._b.value
        return Z

    @override
    def backward(self, dZ: Array) -> Array:
        dZ = self._dZ(dZ)
        self.backward_params(dZ)
        A_prev = self._cached(self.A_prev)
        c, h, w, m = A_prev.shape
        top, bottom, left, right = self._pads
        padded = (c, h + top + bottom, w + left + right, m)
        return unpad(conv_dA(dZ, self._W.value, padded, self.stride), self._pads)

    @override
    def backward_params(self, dZ: Array) -> None:
        """Set dW and db from dZ without computing dA_prev (for the first layer)."""
        dZ = self._dZ(dZ)
        A_pad = self._pad(self._cached(self.A_prev))
        m = dZ.shape[3]
        dW, db = self._W.grad, self._b.grad
        m_seen, inv_m = self._inv_m
        if m_seen != m or inv_m.dtype is not dW.dtype:
            inv_m = np.array(1.0 / m, dtype=dW.dtype)
            _set(self, "_inv_m", (m, inv_m))
        buffer = self._window_buffer(A_pad, dZ.shape[1:3])
        conv_dW(A_pad, dZ, self.kernel_size, self.stride, buffer, dW.reshape(self.c_out, -1))
        np.add.reduce(dZ.reshape(self.c_out, -1), axis=1, out=db.reshape(self.c_out))
        dW *= inv_m
        db *= inv_m

    @override
    def explain_lines(self, tape: Tape) -> None:
        """Z = W * A_prev + b forward; dW, db and the full convolution for dA_prev backward."""
        if type(self).forward is not Conv2D.forward:  # a subclass that computes something else
            generic_lines(self, tape)
            return
        prev = tape.current
        level = tape.level_of(self)
        W, b, Z = f"W{level}", f"b{level}", tape.fresh(f"Z{level}")
        tape.reserve(W)
        tape.reserve(b)
        try:
            shape = self.output_shape(prev.shape)
        except ShapeError:
            shape = None
        kh, kw = self.kernel_size
        W_shape = (self.c_out, self.c_in, kh, kw)
        settings = ", ".join(
            part for part in (
                "" if self.stride == (1, 1) else f"stride {self.stride[0]}"
                if self.stride[0] == self.stride[1] else f"stride {self.stride}",
                f"padding {self.padding!r}" if self.padding == "same"
                else f"padding {self.padding}" if self.padding != (0, 0) else "",
            ) if part
        )
        note = "cross-correlation: each window times W" + (f"; {settings}" if settings else "")
        tape.forward_line(
            Z, f"{W} * {prev.name} + {b}",
            f"{tape.named_shape(Z, shape)}  {tape.fixed_shape(W, W_shape)}  "
            f"{tape.fixed_shape(b, (self.c_out, 1, 1, 1))}", note)

        def backward(grad: Grad) -> Term:
            dZ = grad.name
            tape.parameter_line(
                f"d{W}", f"(1/m) sum over positions and examples of {dZ} * windows of {prev.name}",
                tape.fixed_shape(f"d{W}", W_shape))
            tape.parameter_line(f"d{b}", f"(1/m) sum({dZ}, axis=(1, 2, 3))",
                                tape.fixed_shape(f"d{b}", (self.c_out, 1, 1, 1)))
            return Term(f"full convolution of {dZ} with the flipped {W}")

        tape.advance(self, Var(Z, shape), backward)

    def _pad(self, A_prev: Array) -> Array:
        A_pad = pad(A_prev, self._pads, self._padded)
        if A_pad is not A_prev:
            _set(self, "_padded", A_pad)  # its borders stay zero: the next batch copies the inside
        return A_pad

    def _window_buffer(self, A_pad: Array, out_hw: tuple[int, int]) -> Array:
        buffer = window_buffer(A_pad, self.kernel_size, out_hw, self._buffer)
        _set(self, "_buffer", buffer)
        return buffer

    def _dZ(self, dZ: Array) -> Array:
        """dZ checked against the cached forward: the shape of Z, the layer's dtype, contiguous."""
        A_prev = self._cached(self.A_prev)
        _, h, w, m = A_prev.shape
        expected = (self.c_out, *output_hw(self, (h, w), self.kernel_size, self.stride,
                                           self._pads), m)
        if dZ.__class__ is not np.ndarray or dZ.shape != expected:
            raise ShapeError(
                f"{self!r}: expected dZ of shape {expected} like Z, "
                f"got {getattr(dZ, 'shape', type(dZ).__name__)}"
            )
        if dZ.dtype is not self._W.value.dtype or not dZ.flags.c_contiguous:
            dZ = np.ascontiguousarray(dZ, dtype=self._W.value.dtype)
        return dZ


# Caches are plain slots: skip attrs' on-setattr validators on every forward.
_set = object.__setattr__
