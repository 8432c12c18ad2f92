"""The window tricks behind Conv2D and the pooling layers, kept out of the layers' code.

A batch of images is ``(c, h, w, m)``: examples on the last axis. A k x k
window at output position ``(i, j)`` covers ``A[:, s*i : s*i+kh, s*j : s*j+kw, :]``.

What the tricks buy:

* :func:`windows` is a strided *view* ``(c, kh, kw, oh, ow, m)`` of a padded
  batch: every window of every image without copying a number and without a
  Python loop over pixels or examples.
* :func:`im2col` copies that view once into a ``(c*kh*kw, oh*ow*m)`` matrix,
  "one window per column". With examples last, ``W.reshape(c_out, -1) @ cols``
  is ``(c_out, oh*ow*m)``, which *is* ``Z`` of shape ``(c_out, oh, ow, m)``
  after a free reshape: the whole convolution is one matrix product.
* :func:`col2im` adds the columns' gradients back onto the image, one numpy
  addition per kernel offset (kh*kw of them), each over the whole batch.
* :class:`BufferPool` hands a layer back a window matrix it has finished with,
  so that a training loop on batches of one shape does not allocate (and
  page-fault) megabytes every step.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from minigrad._typing import Array
from minigrad.errors import ShapeError

Pair = tuple[int, int]
Pads = tuple[int, int, int, int]
"""Zero padding ``(top, bottom, left, right)``."""


def output_hw(owner: object, hw: Pair, kernel: Pair, stride: Pair, pads: Pads) -> Pair:
    """``(oh, ow)``: ``o = (n + pad - k) / s + 1`` per axis, or a ShapeError naming ``owner``.

    An image smaller than the kernel is refused, and so is a stride that does
    not tile the padded image exactly (frameworks drop the leftover silently;
    the message says what output that would give, and how to tile).
    """
    out = []
    for (axis, unit, size), n, k, s, p in zip(
        (("height", "row", "high"), ("width", "column", "wide")), hw, kernel, stride,
        (pads[0] + pads[1], pads[2] + pads[3]), strict=True,
    ):
        padded = n + p
        with_pad = f" (padded to {padded})" if p else ""
        if padded < k:
            raise ShapeError(
                f"{owner!r}: the images are {n} {unit}s {size}{with_pad}, smaller than the "
                f"kernel's {k}; use a smaller kernel, padding, or larger images"
            )
        left_over = (padded - k) % s
        if left_over:
            dropped = (padded - k) // s + 1
            raise ShapeError(
                f"{owner!r}: stride {s} does not tile the {axis}: (n + padding - kernel) / stride "
                f"+ 1 = ({n} + {p} - {k}) / {s} + 1 is not a whole number; dropping the last "
                f"{left_over} {unit}(s) would give an output "
                f"{axis} of {dropped}. Crop the images to {padded - left_over - p} or pad them "
                f"to {padded + s - left_over - p} in {axis}"
            )
        out.append((padded - k) // s + 1)
    return out[0], out[1]


def windows(A_pad: Array, kernel: Pair, stride: Pair, out_hw: Pair) -> Array:
    """The view ``(c, kh, kw, oh, ow, m)`` with ``[:, a, b, i, j, :] = A_pad[:, s*i+a, s*j+b, :]``."""
    c, _, _, m = A_pad.shape
    sc, sh, sw, sm = A_pad.strides
    (kh, kw), (st_h, st_w), (oh, ow) = kernel, stride, out_hw
    view: Array = as_strided(
        A_pad,
        shape=(c, kh, kw, oh, ow, m),
        strides=(sc, sh, sw, sh * st_h, sw * st_w, sm),
        writeable=False,
    )
    return view


def im2col(A_pad: Array, kernel: Pair, stride: Pair, out_hw: Pair, out: Array) -> Array:
    """Copy every window into ``out`` (c*kh*kw, oh*ow*m): row ``(ch, a, b)``, column ``(i, j, ex)``."""
    c, (kh, kw), (oh, ow), m = A_pad.shape[0], kernel, out_hw, A_pad.shape[3]
    np.copyto(out.reshape(c, kh, kw, oh, ow, m), windows(A_pad, kernel, stride, out_hw))
    return out


def col2im(dcols: Array, padded_shape: tuple[int, ...], kernel: Pair, stride: Pair,
           out_hw: Pair) -> Array:
    """The gradient of the padded image from the gradient of its window matrix.

    Each pixel gets the sum over the windows that saw it: one strided addition
    per kernel offset ``(a, b)``.
    """
    c, _, _, m = padded_shape
    (kh, kw), (oh, ow) = kernel, out_hw
    dwin = dcols.reshape(c, kh, kw, oh, ow, m)
    dA_pad = np.zeros(padded_shape, dtype=dcols.dtype)
    for a, b, rows, cols in offsets(kernel, stride, out_hw):
        dA_pad[:, rows, cols, :] += dwin[:, a, b]
    return dA_pad


def offsets(kernel: Pair, stride: Pair, out_hw: Pair) -> Iterator[tuple[int, int, slice, slice]]:
    """``(a, b, rows, cols)`` for each kernel offset: ``A[:, rows, cols, :]`` is ``(c, oh, ow, m)``
    holding the entry ``(a, b)`` of every window."""
    (kh, kw), (st_h, st_w), (oh, ow) = kernel, stride, out_hw
    for a in range(kh):
        for b in range(kw):
            yield a, b, slice(a, a + st_h * (oh - 1) + 1, st_h), slice(b, b + st_w * (ow - 1) + 1, st_w)


def pad(A: Array, pads: Pads, buffer: Array | None) -> Array:
    """``A`` with zero borders; ``buffer`` (same padded shape and dtype) is reused when given,
    its borders being zero already."""
    top, bottom, left, right = pads
    if not any(pads):
        return A
    c, h, w, m = A.shape
    shape = (c, h + top + bottom, w + left + right, m)
    if buffer is None or buffer.shape != shape or buffer.dtype != A.dtype:
        buffer = np.zeros(shape, dtype=A.dtype)
    buffer[:, top:top + h, left:left + w, :] = A
    return buffer


def unpad(A_pad: Array, pads: Pads) -> Array:
    """The inside of a padded batch (a contiguous copy when there was padding)."""
    top, bottom, left, right = pads
    if not any(pads):
        return A_pad
    _, hp, wp, _ = A_pad.shape
    return np.ascontiguousarray(A_pad[:, top:hp - bottom, left:wp - right, :])


class BufferPool:
    """Arrays a layer has finished with, lent out again for the next batch of the same shape.

    ``give_back`` is called once a cache has served its backward; ``take`` never
    returns ``busy`` (the cache the layer holds now), so a forward that fails
    half-way, or a second use of the layer in a graph, never overwrites a cache
    that someone may still read.
    """

    __slots__ = ("_free",)

    def __init__(self) -> None:
        self._free: list[Array] = []

    def take(self, shape: tuple[int, ...], dtype: np.dtype[Any], busy: Array | None) -> Array:
        for k, array in enumerate(self._free):
            if array.shape == shape and array.dtype == dtype and array is not busy:
                return self._free.pop(k)
        return np.empty(shape, dtype=dtype)

    def give_back(self, array: Array) -> None:
        if all(array is not kept for kept in self._free):
            self._free.append(array)
            del self._free[:-2]  # two suffice: the one in use and the next

    def __deepcopy__(self, memo: dict[int, Any]) -> BufferPool:
        return BufferPool()  # a copied layer gets its own buffers

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._free = []


def to_pair(value: Any) -> Any:
    """An int ``k`` as ``(k, k)``, a list or tuple of two as a tuple; anything else unchanged
    (for the layer's validator to refuse with its own name)."""
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return (int(value), int(value))
    if isinstance(value, list | tuple) and len(value) == 2 and all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) for v in value
    ):
        return (int(value[0]), int(value[1]))
    return value


def check_pair(owner: str, name: str, value: Any, minimum: int = 1) -> None:
    """Refuse anything but a pair of ints >= ``minimum``, naming the layer class."""
    if not (
        isinstance(value, tuple) and len(value) == 2
        and all(isinstance(v, int) and v >= minimum for v in value)
    ):
        raise ValueError(
            f"{owner}: {name} must be an int >= {minimum} or a pair of them, got {value!r}"
        )
