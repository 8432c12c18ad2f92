"""ONNX export: ``to_onnx(model, path)`` writes a standard ONNX model for ONNX Runtime.

The exported graph is batch-first, as every ONNX consumer expects: vectors come in as rows
``(m, n)``, images as ``(m, c, h, w)``, with a dynamic batch axis ``m``. minigrad keeps
examples on the last axis, so each layer's ONNX nodes are written for the batch-first array
directly: ``Z = W A_prev + b`` becomes ``Gemm(X, W, b, transB=1)``, i.e. ``X W^T + b``, the
same numbers transposed; the softmax over minigrad's class axis 0 is ``Softmax(axis=1)``, a
concatenation along axis 0 is one along axis 1. Nothing needs a Transpose node.

Layers export as in eval mode (``model.predict``): Dropout is the identity and BatchNorm
uses its running statistics.

Data types: float32 and float64 models both export. ONNX Runtime's CPU kernels for
LeakyRelu, Elu, Selu, Softplus, Softsign and Erf exist for float32 only, so a float64 model
gets those functions written with elementary operators (Exp, Log, Where, Div, Abs) that it
runs in float64; exact GELU's erf is then W. J. Cody's rational approximation, the one
minigrad itself uses, in elementary operators too. Its Conv and AveragePool kernels are
float32 only as well: a float64 model with Conv2D or AvgPool2D exports as valid ONNX that
ONNX Runtime's CPU provider does not load (export it with ``model.astype("float32")``).

A layer of your own adds its ONNX nodes with :func:`register_onnx`::

    @mg.export.register_onnx(Scale)
    def scale_to_onnx(builder, layer, inputs):
        return builder.op("Mul", inputs[0], builder.constant(layer.factor, "factor"))
"""

from __future__ import annotations

import importlib
import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from attrs import define, field

from minigrad import activations as act
from minigrad._erf import _A, _B, _C, _D, _INV_SQRT_PI, _MID, _P, _Q, _SMALL, _XBIG
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
    io_names,
    kind,
    optional,
    output_shape,
    residual_block,
)
from minigrad.layer import Layer

DEFAULT_OPSET = 17
"""The ONNX opset written unless ``opset=`` says otherwise (ONNX Runtime 1.14 and later)."""
MIN_OPSET = 13
"""The oldest opset the export can write (Softmax over one axis needs 13)."""

OnnxConverter = Callable[["OnnxBuilder", Any, list[str]], str]
"""``converter(builder, layer, inputs) -> output``: ONNX value names, batch-first."""

ONNX_CONVERTERS: Registry[OnnxConverter] = Registry("register_onnx")


def register_onnx(layer_class: type) -> Callable[[OnnxConverter], OnnxConverter]:
    """Decorator: ``converter(builder, layer, inputs) -> output`` writes a layer's nodes.

    ``inputs`` are the names of the layer's input values (one, or several for a merge
    layer), batch-first; the converter adds nodes with ``builder.op`` and constants with
    ``builder.constant`` and returns the name of the output value. The class must match
    exactly: a subclass registers its own converter.
    """
    return ONNX_CONVERTERS.decorator(layer_class)


@define(eq=False, repr=False)
class OnnxBuilder:
    """What a converter writes into: ONNX nodes and initializers with unique names.

    ``dtype`` is the model's float type; ``opset`` the ONNX opset being written;
    ``native`` tells whether ONNX Runtime has float kernels of this dtype for LeakyRelu,
    Elu, Selu, Softplus, Softsign and Erf (float32 only).
    """

    dtype: np.dtype[Any]
    opset: int
    _helper: Any = field(repr=False)
    _numpy_helper: Any = field(repr=False)
    nodes: list[Any] = field(factory=list, init=False)
    initializers: list[Any] = field(factory=list, init=False)
    prefix: str = field(default="", init=False)
    _used: set[str] = field(factory=set, init=False)
    _scalars: dict[tuple[str, float], str] = field(factory=dict, init=False)

    @property
    def native(self) -> bool:
        return bool(self.dtype == np.float32)

    def name(self, hint: str) -> str:
        """A value name not used yet, made from ``hint``."""
        base = "".join(c if c.isalnum() or c in "_./:" else "_" for c in hint) or "v"
        name, k = base, 0
        while name in self._used:
            k += 1
            name = f"{base}_{k}"
        self._used.add(name)
        return name

    def constant(self, value: Any, hint: str = "const", dtype: Any = None) -> str:
        """An initializer holding ``value`` in the model's dtype (or ``dtype``); its name."""
        array = np.ascontiguousarray(np.asarray(value, dtype=dtype or self.dtype))
        name = self.name(f"{self.prefix}{hint}")
        self.initializers.append(self._numpy_helper.from_array(array, name))
        return name

    def scalar(self, value: float) -> str:
        """A 0-d constant of the model's dtype, shared by every node that uses the same value."""
        key = (self.prefix, float(value))
        found = self._scalars.get(key)
        if found is None:
            found = self._scalars[key] = self.constant(np.asarray(value), "scalar")
        return found

    def op(self, op_type: str, *inputs: str, **attributes: Any) -> str:
        """Add one ``op_type`` node of the default ONNX domain; returns its output's name."""
        out = self.name(f"{self.prefix}{op_type}")
        self.nodes.append(
            self._helper.make_node(op_type, list(inputs), [out], name=out, **attributes)
        )
        return out

    def declare(self, name: str) -> None:
        """Reserve a value name (the model's inputs) so that no node takes it."""
        self._used.add(name)


def to_onnx(
    model: Layer,
    path: str | os.PathLike[str] | None = None,
    *,
    opset: int | None = None,
    input_shape: Shape | Sequence[Shape] | None = None,
) -> Any:
    """Write ``model`` as an ONNX model (batch-first, eval mode); returns the ``ModelProto``.

    Args:
        model: any minigrad model: a Sequential, a Graph, or a layer.
        path: the ``.onnx`` file to write; None only returns the model.
        opset: the ONNX opset, from 13 to the installed onnx's newest (default 17).
        input_shape: the per-example input shape (``(n,)``, ``(c, h, w)``, one per input of a
            Graph), needed only when the model does not tell it (a first layer with no size,
            such as an activation). ``None`` in a shape leaves that axis dynamic.

    Inputs and outputs are named after a Graph's Input and output nodes, else ``"input"``
    and ``"output"``; axis 0, the batch, is dynamic (``"batch"``). The model is checked
    with ``onnx.checker`` before it is written. Needs ``pip install 'minigrad[onnx]'``.
    """
    onnx = optional("onnx", "onnx", "to_onnx")
    if not isinstance(model, Layer):
        raise TypeError(f"to_onnx: expected a minigrad model (a Layer), got {type(model).__name__}")
    newest = int(onnx.defs.onnx_opset_version())
    opset = DEFAULT_OPSET if opset is None else opset
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= newest:
        raise ValueError(
            f"to_onnx: opset must be an int from {MIN_OPSET} to {newest} (the installed "
            f"onnx's newest), got {opset!r}"
        )
    dtype = np.dtype(model.dtype if model.dtype is not None else np.float64)
    if dtype not in (np.float32, np.float64):
        raise ExportError(f"to_onnx: {model!r} has dtype {dtype}; float32 and float64 export")
    in_names, out_names = io_names(model)
    shapes = _input_shapes(model, input_shape, len(in_names))
    builder = OnnxBuilder(dtype, opset, onnx.helper, onnx.numpy_helper)
    for name in in_names:
        builder.declare(name)
    outputs = emit(builder, model, list(in_names), "")
    builder.prefix = ""
    for value, name in zip(outputs, out_names, strict=True):
        builder.declare(name)
        builder.nodes.append(onnx.helper.make_node("Identity", [value], [name], name=name))
    elem = onnx.helper.np_dtype_to_tensor_dtype(dtype)
    graph = onnx.helper.make_graph(
        builder.nodes,
        type(model).__name__,
        [onnx.helper.make_tensor_value_info(n, elem, _dims(n, s)) for n, s in
         zip(in_names, shapes, strict=True)],
        [onnx.helper.make_tensor_value_info(n, elem, _dims(n, s)) for n, s in
         zip(out_names, _output_shapes(model, shapes), strict=True)],
        initializer=builder.initializers,
    )
    opsets = [onnx.helper.make_opsetid("", opset)]
    proto = onnx.helper.make_model(
        graph, opset_imports=opsets, producer_name="minigrad",
        ir_version=onnx.helper.find_min_ir_version_for(opsets),
    )
    if any(not o.type.tensor_type.HasField("shape") for o in proto.graph.output):
        proto = onnx.shape_inference.infer_shapes(proto)  # fills in the shapes a layer did not tell
    onnx.checker.check_model(proto, full_check=True)
    if path is not None:
        onnx.save(proto, os.fspath(path))
    return proto


def emit(builder: OnnxBuilder, layer: Layer, inputs: list[str], where: str) -> list[str]:
    """Write ``layer``'s nodes on the values ``inputs``; returns its output values.

    ``where`` is the layer's place in the model (``"1.0"``, a Graph node's name), used for
    node names and error messages.
    """
    what = kind(layer)
    if what == "sequential":
        values = inputs
        for i, child in enumerate(layer.layers):  # type: ignore[attr-defined]
            values = emit(builder, child, values, f"{where}.{i}" if where else str(i))
        return values
    if what == "residual":
        (block_out,) = emit(builder, residual_block(layer), inputs, f"{where}.block")
        builder.prefix = f"{where}/" if where else ""
        return [builder.op("Add", inputs[0], block_out)]
    if what == "graph":
        values_of: dict[int, str] = {}
        for node, name in zip(graph_inputs(layer), inputs, strict=True):
            values_of[id(node)] = name
        for node in layer.nodes:  # type: ignore[attr-defined]
            if node.layer is None:
                continue
            args = [values_of[id(n)] for n in node.inputs]
            inner = f"{where}.{node.name}" if where else str(node.name)
            (values_of[id(node)],) = emit(builder, node.layer, args, inner)
        return [values_of[id(n)] for n in graph_outputs(layer)]
    converter = ONNX_CONVERTERS.find(type(layer))
    if converter is None:
        place = f" (at {where})" if where else ""
        raise ExportError(
            f"to_onnx: cannot export {layer!r}{place}: no ONNX converter for "
            f"{type(layer).__name__}. Built-in: {ONNX_CONVERTERS.names()}. A layer of your own "
            f"adds its nodes with @mg.export.register_onnx({type(layer).__name__})"
        )
    builder.prefix = f"{where}/" if where else ""
    return [converter(builder, layer, inputs)]


def _input_shapes(
    model: Layer, given: Shape | Sequence[Shape] | None, n_inputs: int
) -> list[Shape]:
    if given is not None:
        items: list[Any] = list(given)
        one = all(d is None or isinstance(d, int) for d in items)
        shapes: list[Shape] = [tuple(items)] if one else [tuple(s) for s in items]
        if len(shapes) != n_inputs:
            raise ValueError(
                f"to_onnx: {n_inputs} input shape(s) expected, one per input, got {len(shapes)}"
            )
        return shapes
    found = input_shapes(model)
    if any(s is None for s in found):
        raise ValueError(
            f"to_onnx: cannot tell the input shape of {type(model).__name__} (its first layer "
            "has no size); pass input_shape=(n,) for rows of n features"
        )
    return [s for s in found if s is not None]


def _output_shapes(model: Layer, shapes: list[Shape]) -> list[Shape | None]:
    if kind(model) == "graph":
        return [None if n.shape is None else tuple(n.shape) for n in graph_outputs(model)]
    return [output_shape(model, shapes[0])]


def _dims(name: str, shape: Shape | None) -> list[int | str] | None:
    if shape is None:
        return None
    return ["batch", *(d if d is not None else f"{name}_{k + 1}" for k, d in enumerate(shape))]


# -- built-in layers -------------------------------------------------------------------


@register_onnx(Dense)
def _dense(b: OnnxBuilder, layer: Dense, inputs: list[str]) -> str:
    # batch-first rows: Z^T = A_prev^T W^T + b^T
    return b.op("Gemm", inputs[0], b.constant(layer.W, "W"), b.constant(layer.b[:, 0], "b"),
                transB=1)


@register_onnx(Dropout)
def _dropout(b: OnnxBuilder, layer: Dropout, inputs: list[str]) -> str:
    return b.op("Identity", inputs[0])  # eval mode


@register_onnx(BatchNorm)
def _batchnorm(b: OnnxBuilder, layer: BatchNorm, inputs: list[str]) -> str:
    flat = [b.constant(a.reshape(-1), n) for a, n in (
        (layer.gamma, "gamma"), (layer.beta, "beta"), (layer.running_mean, "running_mean"),
        (layer.running_var, "running_var"))]
    return b.op("BatchNormalization", inputs[0], *flat, epsilon=layer.eps)


@register_onnx(act.Identity)
def _identity(b: OnnxBuilder, layer: Layer, inputs: list[str]) -> str:
    return b.op("Identity", inputs[0])


@register_onnx(act.Sigmoid)
def _sigmoid(b: OnnxBuilder, layer: Layer, inputs: list[str]) -> str:
    return b.op("Sigmoid", inputs[0])


@register_onnx(act.Tanh)
def _tanh(b: OnnxBuilder, layer: Layer, inputs: list[str]) -> str:
    return b.op("Tanh", inputs[0])


@register_onnx(act.ReLU)
def _relu(b: OnnxBuilder, layer: Layer, inputs: list[str]) -> str:
    return b.op("Relu", inputs[0])


def _where_positive(b: OnnxBuilder, Z: str, negative: str) -> str:
    """Z where Z > 0, else ``negative``."""
    return b.op("Where", b.op("Greater", Z, b.scalar(0.0)), Z, negative)


def _expm1_nonpositive(b: OnnxBuilder, Z: str) -> str:
    """exp(min(Z, 0)) - 1 (ONNX has no expm1)."""
    return b.op("Sub", b.op("Exp", b.op("Min", Z, b.scalar(0.0))), b.scalar(1.0))


@register_onnx(act.LeakyReLU)
def _leaky_relu(b: OnnxBuilder, layer: act.LeakyReLU, inputs: list[str]) -> str:
    (Z,) = inputs
    if b.native:
        return b.op("LeakyRelu", Z, alpha=layer.alpha)
    return _where_positive(b, Z, b.op("Mul", Z, b.scalar(layer.alpha)))


@register_onnx(act.ELU)
def _elu(b: OnnxBuilder, layer: act.ELU, inputs: list[str]) -> str:
    (Z,) = inputs
    if b.native:
        return b.op("Elu", Z, alpha=layer.alpha)
    return _where_positive(b, Z, b.op("Mul", b.scalar(layer.alpha), _expm1_nonpositive(b, Z)))


@register_onnx(act.SELU)
def _selu(b: OnnxBuilder, layer: act.SELU, inputs: list[str]) -> str:
    (Z,) = inputs
    alpha, scale = act._SELU_ALPHA, act._SELU_SCALE
    if b.native:
        return b.op("Selu", Z, alpha=alpha, gamma=scale)
    elu = _where_positive(b, Z, b.op("Mul", b.scalar(alpha), _expm1_nonpositive(b, Z)))
    return b.op("Mul", b.scalar(scale), elu)


@register_onnx(act.GELU)
def _gelu(b: OnnxBuilder, layer: act.GELU, inputs: list[str]) -> str:
    (Z,) = inputs
    half_Z = b.op("Mul", b.scalar(0.5), Z)
    if layer.approximate == "tanh":
        # Z * (1 + tanh(u)) / 2,  u = sqrt(2/pi) * (Z + 0.044715 * Z^3)
        cube = b.op("Mul", b.op("Mul", Z, Z), Z)
        inner = b.op("Add", Z, b.op("Mul", b.scalar(0.044715), cube))
        u = b.op("Mul", b.scalar(math.sqrt(2.0 / math.pi)), inner)
        return b.op("Mul", half_Z, b.op("Add", b.scalar(1.0), b.op("Tanh", u)))
    # Z * Phi(Z) = Z * erfc(-Z / sqrt(2)) / 2
    x = b.op("Mul", b.scalar(-math.sqrt(0.5)), Z)
    if b.native:
        return b.op("Mul", half_Z, b.op("Sub", b.scalar(1.0), b.op("Erf", x)))
    return b.op("Mul", half_Z, erfc(b, x))


@register_onnx(act.SiLU)
def _silu(b: OnnxBuilder, layer: Layer, inputs: list[str]) -> str:
    return b.op("Mul", inputs[0], b.op("Sigmoid", inputs[0]))


@register_onnx(act.Softplus)
def _softplus(b: OnnxBuilder, layer: Layer, inputs: list[str]) -> str:
    (Z,) = inputs
    if b.native:
        return b.op("Softplus", Z)
    # max(Z, 0) + log(1 + exp(-|Z|)): no overflow for any Z
    tail = b.op("Log", b.op("Add", b.scalar(1.0), b.op("Exp", b.op("Neg", b.op("Abs", Z)))))
    return b.op("Add", b.op("Relu", Z), tail)


@register_onnx(act.Softsign)
def _softsign(b: OnnxBuilder, layer: Layer, inputs: list[str]) -> str:
    (Z,) = inputs
    if b.native:
        return b.op("Softsign", Z)
    return b.op("Div", Z, b.op("Add", b.scalar(1.0), b.op("Abs", Z)))


@register_onnx(act.HardTanh)
def _hardtanh(b: OnnxBuilder, layer: act.HardTanh, inputs: list[str]) -> str:
    return b.op("Clip", inputs[0], b.scalar(layer.min_val), b.scalar(layer.max_val))


@register_onnx(act.Softmax)
def _softmax(b: OnnxBuilder, layer: Layer, inputs: list[str]) -> str:
    return b.op("Softmax", inputs[0], axis=1)  # minigrad's class axis 0, batch-first


def _merge_converters() -> None:
    """Add, Concat and Multiply, where this minigrad has them (the Graph's merge layers)."""
    try:
        merge = importlib.import_module("minigrad.merge")
    except ImportError:
        return

    def add(b: OnnxBuilder, layer: Layer, inputs: list[str]) -> str:
        return b.op("Sum", *inputs)

    def multiply(b: OnnxBuilder, layer: Layer, inputs: list[str]) -> str:
        product = inputs[0]
        for other in inputs[1:]:
            product = b.op("Mul", product, other)
        return product

    def concat(b: OnnxBuilder, layer: Layer, inputs: list[str]) -> str:
        # minigrad stacks along axis 0 (features or channels): axis 1 batch-first
        return b.op("Concat", *inputs,
                    axis=batch_first_axis(layer, int(getattr(layer, "axis", 0))))

    for name, converter in (("Add", add), ("Multiply", multiply), ("Concat", concat)):
        cls = getattr(merge, name, None)
        if isinstance(cls, type):
            ONNX_CONVERTERS.register(cls, converter)


_merge_converters()


# -- erfc from elementary operators (float64, where ONNX Runtime has no Erf kernel) ---------


def _polynomial(b: OnnxBuilder, t: str, top: float, coefficients: Sequence[float],
                leading: str | None = None) -> str:
    """Horner's scheme as minigrad._erf writes it: ((top t + c0) t + c1) t ..."""
    value = b.op("Mul", b.scalar(top), t) if leading is None else leading
    for c in coefficients:
        value = b.op("Mul", b.op("Add", value, b.scalar(c)), t)
    return value


def erfc(b: OnnxBuilder, x: str) -> str:
    """Nodes for erfc(x), Cody's rational approximations as in :mod:`minigrad._erf`."""
    y = b.op("Abs", x)
    small = b.op("LessOrEqual", y, b.scalar(_SMALL))
    # |x| <= 0.46875: erfc(x) = 1 - x P(x^2) / Q(x^2)
    xs = b.op("Where", small, x, b.scalar(0.0))
    ys = b.op("Mul", xs, xs)
    num = _polynomial(b, ys, _A[4], _A[:3])
    den = _polynomial(b, ys, 1.0, _B[:3], leading=ys)
    small_erf = b.op("Div", b.op("Mul", xs, b.op("Add", num, b.scalar(_A[3]))),
                     b.op("Add", den, b.scalar(_B[3])))
    # |x| > 0.46875: erfc(|x|) = exp(-x^2) R(|x|), two rational functions
    yl = b.op("Where", small, b.scalar(1.0), y)
    mid = b.op("LessOrEqual", yl, b.scalar(_MID))
    y_mid = b.op("Where", mid, yl, b.scalar(_MID))
    num = _polynomial(b, y_mid, _C[8], _C[:7])
    den = _polynomial(b, y_mid, 1.0, _D[:7], leading=y_mid)
    r_mid = b.op("Div", b.op("Add", num, b.scalar(_C[7])), b.op("Add", den, b.scalar(_D[7])))
    y_far = b.op("Where", mid, b.scalar(_MID + 1.0), b.op("Min", yl, b.scalar(_XBIG)))
    inv = b.op("Reciprocal", b.op("Mul", y_far, y_far))
    num = _polynomial(b, inv, _P[5], _P[:4])
    den = _polynomial(b, inv, 1.0, _Q[:4], leading=inv)
    ratio = b.op("Div", b.op("Add", num, b.scalar(_P[4])), b.op("Add", den, b.scalar(_Q[4])))
    r_far = b.op("Div", b.op("Sub", b.scalar(_INV_SQRT_PI), b.op("Mul", inv, ratio)), y_far)
    # exp(-y^2) in two pieces, y_hi = trunc(16 y) / 16 (y >= 0, so trunc is floor)
    yc = b.op("Min", yl, b.scalar(_XBIG))
    y_hi = b.op("Div", b.op("Floor", b.op("Mul", yc, b.scalar(16.0))), b.scalar(16.0))
    e_hi = b.op("Exp", b.op("Neg", b.op("Mul", y_hi, y_hi)))
    e_lo = b.op("Exp", b.op("Neg", b.op("Mul", b.op("Sub", yc, y_hi), b.op("Add", yc, y_hi))))
    scaled = b.op("Mul", b.op("Where", mid, r_mid, r_far), b.op("Mul", e_hi, e_lo))
    upper = b.op("Where", b.op("GreaterOrEqual", yl, b.scalar(_XBIG)), b.scalar(0.0), scaled)
    large = b.op("Where", b.op("GreaterOrEqual", x, b.scalar(0.0)), upper,
                 b.op("Sub", b.scalar(2.0), upper))
    return b.op("Where", small, b.op("Sub", b.scalar(1.0), small_erf), large)
