"""The window tricks behind Conv2D and the pooling layers, kept out of the layers' code.

A batch of images is ``(c, h, w, m)``: examples on the last axis. A kh x kw
window at output position ``(i, j)`` covers ``A[:, s*i : s*i+kh, s*j : s*j+kw, :]``.

What the tricks buy:

* :func:`windows` is a strided *view* ``(c, kh, kw, oh, ow, m)`` of a padded
  batch: every window of every image, without copying a number and without a
  Python loop over pixels or examples.
* Copying that view into a matrix ``cols`` of shape ``(c*kh*kw, oh*ow*m)``
  puts one window per column ("im2col"). With examples last,
  ``W.reshape(c_out, -1) @ cols`` is ``(c_out, oh*ow*m)``, which *is*
  ``Z (c_out, oh, ow, m)`` after a free reshape: a convolution is a matrix
  product. :func:`conv_forward` and :func:`conv_dW` do it a block of columns
  at a time, in one small buffer that stays in the processor's cache and is
  reused from block to block and from step to step. The whole ``cols`` is
  ``kh*kw`` times larger than the images (20 MB for a 5x5 kernel on 256 MNIST
  images) and only ever read back from main memory; the blocks never leave the
  cache, which makes the layer light on memory and faster on large batches.
  The price is that backward copies the windows again instead of keeping them.
* :func:`conv_dA` forms the input's gradient one kernel row ``a`` at a time:
  a matrix product ``W[:, :, a, :]^T dZ``, whose part for each offset
  ``(a, b)`` is added onto the shifted input. That is the "full convolution
  of dZ with the flipped W", as kh products and kh*kw additions over the
  whole batch.
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
    """The view ``(c, kh, kw, oh, ow, m)`` whose ``[:, a, b, i, j, :]`` is
    ``A_pad[:, s*i+a, s*j+b, :]``."""
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


BLOCK_BYTES = 1 << 19
"""The size aimed at for one block of window columns: inside the processor's cache, and
large enough that a few products do a layer (each product is a call into BLAS, which
wakes its threads). On a 2-core AMD EPYC (OpenBLAS SkylakeX kernels) a LeNet-5 step at
batch 256 took 29 ms with 512 KB blocks against 38 ms with 2 MB (7 shuffled rounds)."""


def column_blocks(out_hw: Pair, m: int, n_rows: int, itemsize: int) -> list[tuple[slice, slice]]:
    """``(rows, cols)`` slices of the output positions, each block of about BLOCK_BYTES of
    windows: several whole output rows at a time, or a part of one row when rows are large."""
    oh, ow = out_hw
    per_position = max(1, n_rows * m * itemsize)
    fit = max(1, BLOCK_BYTES // per_position)
    if fit >= ow:
        step = fit // ow
        return [(slice(i, min(i + step, oh)), slice(0, ow)) for i in range(0, oh, step)]
    return [(slice(i, i + 1), slice(j, min(j + fit, ow)))
            for i in range(oh) for j in range(0, ow, fit)]


def _block_columns(win: Array, rows: slice, cols: slice, buffer: Array) -> Array:
    """Copy the windows of the output positions ``[rows, cols]`` into the start of ``buffer``.

    The block is the buffer's first ``rows * n`` entries read as one contiguous
    ``(rows, n)`` matrix, whatever size an earlier batch left the buffer: the same
    batch then gives the same bits (BLAS sums in an order that can depend on the stride).
    """
    c, kh, kw, _, _, m = win.shape
    n_i, n_j = rows.stop - rows.start, cols.stop - cols.start
    n_rows, n = buffer.shape[0], n_i * n_j * m
    block = buffer.reshape(-1)[:n_rows * n].reshape(n_rows, n)
    np.copyto(block.reshape(c, kh, kw, n_i, n_j, m), win[:, :, :, rows, cols, :])
    return block


def window_buffer(A_pad: Array, kernel: Pair, out_hw: Pair, buffer: Array | None) -> Array:
    """A buffer for the largest block of :func:`column_blocks` (``buffer`` when it is enough)."""
    c, m = A_pad.shape[0], A_pad.shape[3]
    n_rows = c * kernel[0] * kernel[1]
    blocks = column_blocks(out_hw, m, n_rows, A_pad.itemsize)
    rows, cols = blocks[0]
    n_cols = (rows.stop - rows.start) * (cols.stop - cols.start) * m
    if (buffer is None or buffer.dtype != A_pad.dtype or buffer.shape[0] != n_rows
            or buffer.shape[1] < n_cols):
        buffer = np.empty((n_rows, n_cols), dtype=A_pad.dtype)
    return buffer


def conv_forward(A_pad: Array, W: Array, stride: Pair, out_hw: Pair, buffer: Array) -> Array:
    """``Z (c_out, oh, ow, m)`` with ``Z[:, i, j, :] = W . window(i, j)``, block by block."""
    c_out, _, kh, kw = W.shape
    m = A_pad.shape[3]
    W2 = W.reshape(c_out, -1)
    win = windows(A_pad, (kh, kw), stride, out_hw)
    Z: Array = np.empty((c_out, *out_hw, m), dtype=A_pad.dtype)
    for rows, cols in column_blocks(out_hw, m, W2.shape[1], A_pad.itemsize):
        block = _block_columns(win, rows, cols, buffer)
        # Z[:, rows, cols, :] as (c_out, n) is a view with one row stride: BLAS writes it in place
        np.matmul(W2, block, out=Z[:, rows, cols, :].reshape(c_out, block.shape[1]))
    return Z


def conv_dW(A_pad: Array, dZ: Array, kernel: Pair, stride: Pair, buffer: Array, dW2: Array) -> None:
    """``dW2 (c_out, c*kh*kw) = dZ cols^T`` without the 1/m, a block at a time (copied anew)."""
    c_out, oh, ow, m = dZ.shape
    win = windows(A_pad, kernel, stride, (oh, ow))
    dW2[...] = 0
    for rows, cols in column_blocks((oh, ow), m, dW2.shape[1], A_pad.itemsize):
        block = _block_columns(win, rows, cols, buffer)
        dW2 += np.dot(dZ[:, rows, cols, :].reshape(c_out, block.shape[1]), block.T)


def conv_dA(dZ: Array, W: Array, padded_shape: tuple[int, ...], stride: Pair) -> Array:
    """The gradient of the padded input: for each kernel offset (a, b), ``W[:, :, a, b]^T dZ``
    added where that offset of every window lies (one product per kernel row a)."""
    c_out, oh, ow, m = dZ.shape
    c_in, kh, kw = W.shape[1:]
    per_row = np.ascontiguousarray(W.transpose(2, 3, 1, 0)).reshape(kh, kw * c_in, c_out)
    dZ2 = dZ.reshape(c_out, oh * ow * m)
    product = np.empty((kw * c_in, oh * ow * m), dtype=dZ.dtype)
    dA_pad = np.zeros(padded_shape, dtype=dZ.dtype)
    for a, b, rows, cols in offsets((kh, kw), stride, (oh, ow)):
        if b == 0:
            np.dot(per_row[a], dZ2, out=product)  # (kw*c_in, oh*ow*m): offsets (a, 0..kw-1)
        dA_pad[:, rows, cols, :] += product[b * c_in:(b + 1) * c_in].reshape(c_in, oh, ow, m)
    return dA_pad


def offsets(kernel: Pair, stride: Pair, out_hw: Pair) -> Iterator[tuple[int, int, slice, slice]]:
    """``(a, b, rows, cols)`` for each kernel offset: ``A[:, rows, cols, :]`` is ``(c, oh, ow, m)``
    holding the entry ``(a, b)`` of every window."""
    (kh, kw), (st_h, st_w), (oh, ow) = kernel, stride, out_hw
    for a in range(kh):
        for b in range(kw):
            rows = slice(a, a + st_h * (oh - 1) + 1, st_h)
            yield a, b, rows, slice(b, b + st_w * (ow - 1) + 1, st_w)


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
