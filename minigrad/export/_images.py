"""Conversions of the image layers: Conv2D, MaxPool2D, AvgPool2D, GlobalAvgPool2D, Flatten.

Registered only where this minigrad has them. minigrad's images are ``(c, h, w, m)`` and
ONNX's and PyTorch's ``(m, c, h, w)``: the per-example axes ``(c, h, w)`` are the same, so
Conv2D's weights ``(c_out, c_in, kh, kw)`` copy over unchanged, and Flatten's C order of
``(c, h, w)`` is ``nn.Flatten``'s and ONNX ``Flatten(axis=1)``'s.

Padding: minigrad pads ``(top, bottom, left, right)``; "same" with an even kernel puts the
extra row and column below and to the right, as ONNX's ``pads`` written out here and
PyTorch's ``padding="same"`` do.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from minigrad.errors import ExportError
from minigrad.export._walk import Registry, optional
from minigrad.export.onnx import OnnxBuilder
from minigrad.layer import Layer


def _module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:  # a minigrad before the image layers
        return None


def conv_pads(layer: Any) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)`` zeros around each image, as Conv2D pads."""
    kh, kw = layer.kernel_size
    if layer.padding == "same":
        return ((kh - 1) // 2, kh // 2, (kw - 1) // 2, kw // 2)
    ph, pw = layer.padding
    return (ph, ph, pw, pw)


# -- ONNX -------------------------------------------------------------------------------


def _conv_onnx(b: OnnxBuilder, layer: Any, inputs: list[str]) -> str:
    top, bottom, left, right = conv_pads(layer)
    return b.op("Conv", inputs[0], b.constant(layer.W, "W"), b.constant(layer.b.reshape(-1), "b"),
                kernel_shape=list(layer.kernel_size), strides=list(layer.stride),
                pads=[top, left, bottom, right])


def _max_pool_onnx(b: OnnxBuilder, layer: Any, inputs: list[str]) -> str:
    return b.op("MaxPool", inputs[0], kernel_shape=list(layer.pool_size), strides=list(layer.step))


def _avg_pool_onnx(b: OnnxBuilder, layer: Any, inputs: list[str]) -> str:
    return b.op("AveragePool", inputs[0], kernel_shape=list(layer.pool_size),
                strides=list(layer.step))


def _global_avg_pool_onnx(b: OnnxBuilder, layer: Any, inputs: list[str]) -> str:
    # (m, c, h, w) -> (m, c): the mean over the pixels (ReduceMean also runs in float64)
    if b.opset >= 18:  # axes became an input in opset 18
        axes = b.constant(np.array([2, 3]), "axes", dtype=np.int64)
        return b.op("ReduceMean", inputs[0], axes, keepdims=0)
    return b.op("ReduceMean", inputs[0], axes=[2, 3], keepdims=0)


def _flatten_onnx(b: OnnxBuilder, layer: Any, inputs: list[str]) -> str:
    return b.op("Flatten", inputs[0], axis=1)


# -- PyTorch ----------------------------------------------------------------------------


def _torch() -> Any:
    return optional("torch", "torch", "to_torch")


def _conv_torch(layer: Any) -> Any:
    torch = _torch()
    top, bottom, left, right = conv_pads(layer)
    # numbers where the padding is symmetric; "same" (extra below and right) where it is not
    padding: Any = (top, left) if (top, left) == (bottom, right) else "same"
    dtype = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}
    conv = torch.nn.Conv2d(layer.c_in, layer.c_out, tuple(layer.kernel_size),
                           stride=tuple(layer.stride), padding=padding,
                           dtype=dtype[np.dtype(layer.dtype)])
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(np.array(layer.W)))
        conv.bias.copy_(torch.from_numpy(layer.b.reshape(-1).copy()))
    return conv


def _max_pool_torch(layer: Any) -> Any:
    return _torch().nn.MaxPool2d(tuple(layer.pool_size), stride=tuple(layer.step))


def _avg_pool_torch(layer: Any) -> Any:
    return _torch().nn.AvgPool2d(tuple(layer.pool_size), stride=tuple(layer.step))


def _global_avg_pool_torch(layer: Any) -> Any:
    return optional("minigrad.export._torch_modules", "torch", "to_torch").GlobalAvgPool2d()


def _flatten_torch(layer: Any) -> Any:
    return _torch().nn.Flatten()


# -- from PyTorch -----------------------------------------------------------------------


def _pair(value: Any) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _conv_from(module: Any) -> Layer:
    conv_module = _module("minigrad.conv")
    if module.groups != 1 or _pair(module.dilation) != (1, 1) or module.padding_mode != "zeros":
        raise ExportError(f"{module!r}: minigrad's Conv2D has groups=1, dilation=1 and zero "
                          "padding only")
    padding = module.padding if isinstance(module.padding, str) else _pair(module.padding)
    dtype = np.dtype(module.weight.detach().cpu().numpy().dtype)
    conv: Layer = conv_module.Conv2D(module.in_channels, module.out_channels,
                                     _pair(module.kernel_size), stride=_pair(module.stride),
                                     padding=padding, dtype=dtype, rng=0)
    conv.W[...] = module.weight.detach().cpu().numpy()  # type: ignore[attr-defined]
    if module.bias is not None:
        conv.b[...] = module.bias.detach().cpu().numpy().reshape(conv.b.shape)  # type: ignore[attr-defined]
    return conv


def _pool_from(name: str) -> Any:
    def convert(module: Any) -> Layer:
        if (_pair(module.padding) != (0, 0) or module.ceil_mode
                or _pair(getattr(module, "dilation", 1)) != (1, 1)
                or getattr(module, "divisor_override", None) is not None):
            raise ExportError(f"{module!r}: minigrad's {name} has no padding, dilation 1, "
                              "ceil_mode=False and no divisor_override")
        stride = module.stride if module.stride is not None else module.kernel_size
        pool: Layer = getattr(_module("minigrad.pooling"), name)(
            _pair(module.kernel_size), stride=_pair(stride))
        return pool

    return convert


def _flatten_from(module: Any) -> Layer:
    if module.start_dim != 1 or module.end_dim != -1:
        raise ExportError(f"{module!r}: minigrad's Flatten flattens every axis of an example "
                          "(start_dim=1, end_dim=-1)")
    flatten: Layer = _module("minigrad.flatten").Flatten()
    return flatten


def _global_avg_pool_from(module: Any) -> Layer:
    pool: Layer = _module("minigrad.pooling").GlobalAvgPool2D()
    return pool


def register_image_layers(onnx_table: Registry[Any], torch_table: Registry[Any]) -> None:
    """Add the image layers' conversions to the tables, where this minigrad has them."""
    conv, pooling, flatten = (_module(f"minigrad.{n}") for n in ("conv", "pooling", "flatten"))
    pairs: list[tuple[Any, str, Any, Any]] = []
    if conv is not None:
        pairs.append((conv, "Conv2D", _conv_onnx, _conv_torch))
    if pooling is not None:
        pairs += [(pooling, "MaxPool2D", _max_pool_onnx, _max_pool_torch),
                  (pooling, "AvgPool2D", _avg_pool_onnx, _avg_pool_torch),
                  (pooling, "GlobalAvgPool2D", _global_avg_pool_onnx, _global_avg_pool_torch)]
    if flatten is not None:
        pairs.append((flatten, "Flatten", _flatten_onnx, _flatten_torch))
    for module, name, to_onnx, to_torch in pairs:
        cls = getattr(module, name, None)
        if isinstance(cls, type):
            onnx_table.register(cls, to_onnx)
            torch_table.register(cls, to_torch)


def from_torch_image_converters(torch: Any) -> dict[type, Any]:
    """The torch.nn image modules minigrad has, with their conversions (empty without them)."""
    nn = torch.nn
    found: dict[type, Any] = {}
    if _module("minigrad.conv") is not None:
        found[nn.Conv2d] = _conv_from
    if _module("minigrad.pooling") is not None:
        found[nn.MaxPool2d] = _pool_from("MaxPool2D")
        found[nn.AvgPool2d] = _pool_from("AvgPool2D")
        modules = optional("minigrad.export._torch_modules", "torch", "from_torch")
        found[modules.GlobalAvgPool2d] = _global_avg_pool_from
    if _module("minigrad.flatten") is not None:
        found[nn.Flatten] = _flatten_from
    return found


def global_pool_pair(torch: Any, first: Any, second: Any) -> bool:
    """``AdaptiveAvgPool2d(1)`` then ``Flatten()``: minigrad's GlobalAvgPool2D."""
    return (_module("minigrad.pooling") is not None
            and type(first) is torch.nn.AdaptiveAvgPool2d
            and _pair(first.output_size) == (1, 1)
            and type(second) is torch.nn.Flatten
            and second.start_dim == 1 and second.end_dim == -1)

