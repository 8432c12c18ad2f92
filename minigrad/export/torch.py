"""PyTorch both ways: ``to_torch(model)`` and ``from_torch(module)``, with the same weights.

PyTorch is batch-first: a ``Linear`` maps rows ``(m, n_in)`` to ``(m, n_out)`` with
``y = x W^T + b``, where minigrad's ``Dense`` maps columns with ``Z = W A_prev + b``. Both
store ``W`` as ``(n_out, n_in)``, so the weights copy over unchanged and only ``b`` changes
shape (``(n_out, 1)`` here, ``(n_out,)`` there). minigrad's class axis 0 (Softmax, Concat)
is PyTorch's ``dim=1``. Convolution weights ``(c_out, c_in, kh, kw)`` are the same in both.

``to_torch`` gives a Sequential as ``nn.Sequential`` (nested the same way), a Graph as a
:class:`~minigrad.export._torch_modules.GraphModule` that runs the same nodes in the same
order (a shared layer stays one module), and each layer as the matching ``torch.nn``
module in the model's dtype and train/eval mode. ``from_torch`` goes back from an
``nn.Sequential`` of the modules minigrad has (and from a GraphModule).

A layer of your own adds its conversions with :func:`register_torch` (minigrad to
PyTorch) and :func:`register_from_torch` (PyTorch to minigrad).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

from minigrad import activations as act
from minigrad.batchnorm import BatchNorm
from minigrad.dense import Dense
from minigrad.dropout import Dropout
from minigrad.errors import ExportError
from minigrad.export._walk import (
    Registry,
    Shape,
    batch_first_axis,
    graph_inputs,
    graph_outputs,
    input_shapes,
    kind,
    optional,
    output_shape,
    residual_block,
)
from minigrad.graph import Graph
from minigrad.layer import Input, Layer
from minigrad.sequential import Sequential

TorchConverter = Callable[[Any], Any]
"""``converter(layer) -> torch.nn.Module``, batch-first, holding the layer's weights."""
FromTorchConverter = Callable[[Any], Layer]
"""``converter(module) -> Layer``, holding the module's weights."""

TORCH_CONVERTERS: Registry[TorchConverter] = Registry("register_torch")
FROM_TORCH_CONVERTERS: Registry[FromTorchConverter] = Registry("register_from_torch")

_MERGES = ("Add", "Concat", "Multiply")


def register_torch(layer_class: type) -> Callable[[TorchConverter], TorchConverter]:
    """Decorator: ``converter(layer) -> torch.nn.Module`` converts a ``layer_class`` layer.

    The module takes and returns batch-first tensors and holds copies of the weights, in
    the layer's dtype. The class must match exactly: a subclass registers its own.
    """
    return TORCH_CONVERTERS.decorator(layer_class)


def register_from_torch(
    module_class: type,
) -> Callable[[FromTorchConverter], FromTorchConverter]:
    """Decorator: ``converter(module) -> Layer`` converts a module of ``module_class``."""
    return FROM_TORCH_CONVERTERS.decorator(module_class)


def to_torch(model: Layer) -> Any:
    """A ``torch.nn.Module`` computing what ``model`` computes, batch-first, same weights.

    Weights are copied (training either model leaves the other as it was); dtype and
    train/eval mode are the model's. Needs ``pip install 'minigrad[torch]'``.
    """
    torch = optional("torch", "torch", "to_torch")
    if not isinstance(model, Layer):
        raise TypeError(
            f"to_torch: expected a minigrad model (a Layer), got {type(model).__name__}"
        )
    module = _to_module(torch, model, "", {}, input_shapes(model)[0])
    module.train(model.training)
    return module


def _to_module(torch: Any, layer: Layer, where: str, done: dict[int, Any],
               shape: Shape | None) -> Any:
    """``layer`` as a module; ``shape`` is its per-example input shape when known (or at
    least its rank: a None in it is an axis of unknown size), for BatchNorm1d or 2d."""
    if id(layer) in done:  # a layer shared between Graph nodes stays one module
        return done[id(layer)]
    what = kind(layer)
    modules = optional("minigrad.export._torch_modules", "torch", "to_torch")
    if what == "sequential":
        children = []
        for i, child in enumerate(layer.layers):  # type: ignore[attr-defined]
            children.append(_to_module(torch, child, f"{where}.{i}" if where else str(i), done,
                                       shape))
            shape = _shape_after(child, shape)
        module = torch.nn.Sequential(*children)
    elif what == "residual":
        module = modules.Residual(_to_module(torch, residual_block(layer), f"{where}.block",
                                             done, shape))
    elif what == "graph":
        module = _graph_module(torch, modules, layer, where, done)
    elif type(layer) in SHAPED_CONVERTERS:
        module = SHAPED_CONVERTERS[type(layer)](layer, shape)
    else:
        converter = TORCH_CONVERTERS.find(type(layer))
        if converter is None:
            place = f" (at {where})" if where else ""
            raise ExportError(
                f"to_torch: cannot convert {layer!r}{place}: no PyTorch converter for "
                f"{type(layer).__name__}. Built-in: {TORCH_CONVERTERS.names()}. A layer of "
                f"your own adds one with @mg.export.register_torch({type(layer).__name__})"
            )
        module = converter(layer)
    done[id(layer)] = module
    return module


def _graph_module(torch: Any, modules: Any, graph: Any, where: str, done: dict[int, Any]) -> Any:
    inputs = graph_inputs(graph)
    value_of = {id(node): i for i, node in enumerate(inputs)}
    layers: list[Any] = []
    index_of: dict[int, int] = {}
    program: list[tuple[int, tuple[int, ...]]] = []
    names: list[str] = []
    for node in graph.nodes:
        if node.layer is None:
            continue
        if id(node.layer) not in index_of:
            inner = f"{where}.{node.name}" if where else str(node.name)
            index_of[id(node.layer)] = len(layers)
            shape = node.inputs[0].shape if len(node.inputs) == 1 else None
            layers.append(_to_module(torch, node.layer, inner, done, _shape(shape)))
        program.append((index_of[id(node.layer)], tuple(value_of[id(n)] for n in node.inputs)))
        value_of[id(node)] = len(inputs) + len(program) - 1
        names.append(str(node.name))
    outputs = graph_outputs(graph)
    module = modules.GraphModule(
        layers, program, [str(n.name) for n in inputs], [value_of[id(n)] for n in outputs],
        [str(n.name) for n in outputs], names,
    )
    module.input_shapes = [None if n.shape is None else tuple(n.shape) for n in inputs]
    return module


def _shape_after(layer: Layer, shape: Shape | None) -> Shape | None:
    """The per-example output shape, or one of the right rank where sizes are unknown."""
    if shape is None:
        return None
    if all(d is not None for d in shape):
        return output_shape(layer, shape)
    # sizes unknown (images of any height and width): try a size most strides tile
    found = output_shape(layer, tuple(96 if d is None else d for d in shape))
    return None if found is None else tuple(None for _ in found)


def _shape(shape: Any) -> Shape | None:
    return None if shape is None else tuple(shape)


SHAPED_CONVERTERS: dict[type, Callable[[Any, Shape | None], Any]] = {}
"""Built-in layers whose module depends on the input's rank (BatchNorm: 1d or 2d)."""


def _torch_dtype(torch: Any, dtype: np.dtype[Any]) -> Any:
    return {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[dtype]


@register_torch(Dense)
def _dense(layer: Dense) -> Any:
    torch = optional("torch", "torch", "to_torch")
    linear = torch.nn.Linear(layer.n_in, layer.n_out, dtype=_torch_dtype(torch, layer.dtype))
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(np.array(layer.W)))
        linear.bias.copy_(torch.from_numpy(np.array(layer.b[:, 0])))
    return linear


def _batchnorm(layer: BatchNorm, shape: Shape | None) -> Any:
    torch = optional("torch", "torch", "to_torch")
    images = shape is not None and len(shape) == 3  # (c, h, w): per channel, BatchNorm2d
    cls = torch.nn.BatchNorm2d if images else torch.nn.BatchNorm1d
    bn = cls(layer.n_features, eps=layer.eps, momentum=layer.momentum,
             dtype=_torch_dtype(torch, layer.dtype))
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(layer.gamma[:, 0].copy()))
        bn.bias.copy_(torch.from_numpy(layer.beta[:, 0].copy()))
        bn.running_mean.copy_(torch.from_numpy(layer.running_mean[:, 0].copy()))
        bn.running_var.copy_(torch.from_numpy(layer.running_var[:, 0].copy()))
    return bn


SHAPED_CONVERTERS[BatchNorm] = _batchnorm


@register_torch(Dropout)
def _dropout(layer: Dropout) -> Any:
    return optional("torch", "torch", "to_torch").nn.Dropout(layer.rate)


def _plain(name: str) -> TorchConverter:
    def convert(layer: Layer) -> Any:
        return getattr(optional("torch", "torch", "to_torch").nn, name)()

    return convert


for _cls, _name in ((act.Identity, "Identity"), (act.Sigmoid, "Sigmoid"), (act.Tanh, "Tanh"),
                    (act.ReLU, "ReLU"), (act.SELU, "SELU"), (act.SiLU, "SiLU"),
                    (act.Softsign, "Softsign")):
    TORCH_CONVERTERS.register(_cls, _plain(_name))


@register_torch(act.LeakyReLU)
def _leaky_relu(layer: act.LeakyReLU) -> Any:
    return optional("torch", "torch", "to_torch").nn.LeakyReLU(layer.alpha)


@register_torch(act.ELU)
def _elu(layer: act.ELU) -> Any:
    return optional("torch", "torch", "to_torch").nn.ELU(layer.alpha)


@register_torch(act.GELU)
def _gelu(layer: act.GELU) -> Any:
    return optional("torch", "torch", "to_torch").nn.GELU(approximate=layer.approximate)


SOFTPLUS_THRESHOLD = 40.0
"""PyTorch's Softplus returns Z itself above this; log(1 + e^Z) = Z to float64 there."""


@register_torch(act.Softplus)
def _softplus(layer: act.Softplus) -> Any:
    return optional("torch", "torch", "to_torch").nn.Softplus(threshold=SOFTPLUS_THRESHOLD)


@register_torch(act.HardTanh)
def _hardtanh(layer: act.HardTanh) -> Any:
    return optional("torch", "torch", "to_torch").nn.Hardtanh(layer.min_val, layer.max_val)


@register_torch(act.Softmax)
def _softmax(layer: act.Softmax) -> Any:
    return optional("torch", "torch", "to_torch").nn.Softmax(dim=1)


def _merge_converters() -> None:
    """Add, Concat and Multiply, where this minigrad has them (the Graph's merge layers)."""
    try:
        merge = importlib.import_module("minigrad.merge")
    except ImportError:
        return
    for name in _MERGES:
        cls = getattr(merge, name, None)
        if cls is None:
            continue

        def convert(layer: Layer, name: str = name) -> Any:
            modules = optional("minigrad.export._torch_modules", "torch", "to_torch")
            if name == "Concat":
                return modules.Concat(batch_first_axis(layer, int(getattr(layer, "axis", 0))))
            return getattr(modules, name)()

        TORCH_CONVERTERS.register(cls, convert)


_merge_converters()


# -- from PyTorch -----------------------------------------------------------------------


def from_torch(module: Any) -> Layer:
    """A minigrad model computing what the PyTorch ``module`` computes, with its weights.

    Converts an ``nn.Sequential`` (nested too) of ``Linear``, ``Dropout``, ``BatchNorm1d``,
    ``Identity`` and the activations minigrad has (``Sigmoid``, ``Tanh``, ``ReLU``,
    ``LeakyReLU``, ``ELU``, ``SELU``, ``GELU``, ``SiLU``, ``Softplus`` with ``beta=1``,
    ``Softsign``, ``Hardtanh``, ``Softmax(dim=1)``) and, where minigrad has image layers,
    ``Conv2d``, ``BatchNorm2d``, ``MaxPool2d``, ``AvgPool2d``, ``Flatten`` and
    ``AdaptiveAvgPool2d(1)`` then ``Flatten``; a single such module; or a module made by
    :func:`to_torch`. Weights are copied; a ``Linear`` without bias gets ``b = 0``. The
    train/eval mode is the module's. An ``ExportError`` names the first submodule that has
    no minigrad equivalent.
    """
    torch = optional("torch", "torch", "from_torch")
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"from_torch: expected a torch.nn.Module, got {type(module).__name__}")
    layer = _from_module(torch, module, "")
    layer.train(bool(module.training))
    return layer


def _from_module(torch: Any, module: Any, where: str) -> Layer:
    nn = torch.nn
    modules = optional("minigrad.export._torch_modules", "torch", "from_torch")
    if type(module) is nn.Sequential:
        from minigrad.export._images import global_pool_pair

        children = list(module.named_children())
        layers: list[Layer] = []
        i = 0
        while i < len(children):
            name, child = children[i]
            if i + 1 < len(children) and global_pool_pair(torch, child, children[i + 1][1]):
                layers.append(importlib.import_module("minigrad.pooling").GlobalAvgPool2D())
                i += 2
                continue
            layers.append(_from_module(torch, child, f"{where}.{name}" if where else name))
            i += 1
        return Sequential(layers)
    if type(module) is modules.GraphModule:
        return _from_graph_module(torch, module, where)
    if type(module) is modules.Residual:
        residual = optional("minigrad.residual", "torch", "from_torch").Residual
        return residual(_from_module(torch, module.block, f"{where}.block"))  # type: ignore[no-any-return]
    if type(module) in (modules.Add, modules.Multiply, modules.Concat):
        return _merge_from(module)
    converter = FROM_TORCH_CONVERTERS.find(type(module)) or _builtin_from(torch).get(type(module))
    if converter is None:
        place = f"submodule {where!r}" if where else "module"
        known = ", ".join(sorted(c.__name__ for c in _builtin_from(torch)))
        name = type(module).__name__
        raise ExportError(
            f"from_torch: cannot convert {place} {module!r}: minigrad has no equivalent of "
            f"{name}. Convertible: Sequential, {known}; a module of your own converts with "
            f"@mg.export.register_from_torch({name})"
        )
    try:
        return converter(module)
    except ExportError as err:
        raise ExportError(f"from_torch: cannot convert submodule {where!r}: {err}") from None


def _from_graph_module(torch: Any, module: Any, where: str) -> Layer:
    graph_cls, input_cls = Graph, Input
    layers = [
        _from_module(torch, child, f"{where}.layers.{i}" if where else f"layers.{i}")
        for i, child in enumerate(module.layers)
    ]
    shapes = getattr(module, "input_shapes", [None] * len(module.input_names))
    values: list[Any] = [input_cls(shape, name=name)
                         for shape, name in zip(shapes, module.input_names, strict=True)]
    merges = tuple(getattr(optional("minigrad.export._torch_modules", "torch", "from_torch"), n)
                   for n in _MERGES)
    for (index, args), name in zip(module.program, module.node_names, strict=True):
        layer, nodes = layers[index], [values[i] for i in args]
        is_merge = isinstance(module.layers[index], merges)
        values.append(layer(nodes) if is_merge else layer(*nodes))
        _ = name
    outputs = [values[i] for i in module.output_values]
    inputs = values[:len(module.input_names)]
    built: Layer = graph_cls(inputs=inputs if len(inputs) > 1 else inputs[0],
                             outputs=outputs if len(outputs) > 1 else outputs[0])
    return built


def _merge_from(module: Any) -> Layer:
    merge = optional("minigrad.merge", "torch", "from_torch")
    name = type(module).__name__
    if name == "Concat" and module.dim != 1:
        raise ExportError(f"{module!r}: minigrad's Concat joins along the feature axis, dim=1")
    layer: Layer = getattr(merge, name)()
    return layer


def _numpy(tensor: Any) -> Any:
    return tensor.detach().cpu().numpy()


def _dtype_of(module: Any, tensor: Any) -> np.dtype[Any]:
    dtype: np.dtype[Any] = np.dtype(_numpy(tensor).dtype)
    if dtype not in (np.float32, np.float64):
        raise ExportError(f"{module!r}: weights of dtype {dtype}; minigrad takes float32 and "
                          "float64 (convert with module.double() or module.float())")
    return dtype


def _linear(module: Any) -> Layer:
    dense = Dense(module.in_features, module.out_features, dtype=_dtype_of(module, module.weight),
                  rng=0)  # rng=0: the copied weights replace the draw; the default stays put
    dense.W = _numpy(module.weight)
    if module.bias is not None:  # else b stays 0 (Dense's biases start at zero)
        dense.b = _numpy(module.bias)[:, None]
    return dense


def _batchnorm_from(module: Any) -> Layer:
    if module.momentum is None:
        raise ExportError(f"{module!r}: momentum=None (a cumulative average) has no minigrad "
                          "equivalent; minigrad's BatchNorm takes a momentum in (0, 1]")
    if not module.track_running_stats:
        raise ExportError(f"{module!r}: track_running_stats=False has no minigrad equivalent")
    dtype = _dtype_of(module, module.running_mean)
    bn = BatchNorm(module.num_features, momentum=float(module.momentum), eps=float(module.eps),
                   dtype=dtype)
    if module.affine:
        bn.gamma[...] = _numpy(module.weight)[:, None]
        bn.beta[...] = _numpy(module.bias)[:, None]
    bn.running_mean[...] = _numpy(module.running_mean)[:, None]
    bn.running_var[...] = _numpy(module.running_var)[:, None]
    return bn


def _softplus_from(module: Any) -> Layer:
    if module.beta != 1:
        raise ExportError(f"{module!r}: beta={module.beta}; minigrad's Softplus has beta 1")
    return act.Softplus()


def _softmax_from(module: Any) -> Layer:
    if module.dim != 1:
        raise ExportError(f"{module!r}: dim={module.dim}; minigrad's Softmax is over the class "
                          "axis, dim=1 in PyTorch")
    return act.Softmax()


def _builtin_from(torch: Any) -> dict[type, FromTorchConverter]:
    from minigrad.export._images import from_torch_image_converters

    nn = torch.nn
    return from_torch_image_converters(torch) | {
        nn.Linear: _linear,
        nn.BatchNorm1d: _batchnorm_from,
        nn.BatchNorm2d: _batchnorm_from,  # the same numbers, per channel
        nn.Dropout: lambda m: Dropout(float(m.p)),
        nn.Identity: lambda m: act.Identity(),
        nn.Sigmoid: lambda m: act.Sigmoid(),
        nn.Tanh: lambda m: act.Tanh(),
        nn.ReLU: lambda m: act.ReLU(),
        nn.LeakyReLU: lambda m: act.LeakyReLU(float(m.negative_slope)),
        nn.ELU: lambda m: act.ELU(float(m.alpha)),
        nn.SELU: lambda m: act.SELU(),
        nn.GELU: lambda m: act.GELU(approximate=m.approximate),
        nn.SiLU: lambda m: act.SiLU(),
        nn.Softplus: _softplus_from,
        nn.Softsign: lambda m: act.Softsign(),
        nn.Hardtanh: lambda m: act.HardTanh(float(m.min_val), float(m.max_val)),
        nn.Softmax: _softmax_from,
    }
