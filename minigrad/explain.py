"""``model.explain(loss=..., m=...)``: the forward and backward pass, written out.

The text is generated from the model's layers and the loss, in the notes'
notation: examples are columns, ``Z1 = W1 X + b1``, ``A1 = g(Z1)``, and, going
back, ``dW1 = (1/m) dZ1 X^T``, ``dZ1 = W2^T dZ2 * g'(Z1)``, with the shape of
every quantity for a batch of m examples. ``*`` is the elementwise product,
juxtaposition (``W2 A1``) the matrix product, ``^T`` the transpose.

How the lines are made (so that new layers can join in):

* Each layer has ``explain_lines(tape)``. It writes its forward lines with
  ``tape.forward_line(...)`` and registers a backward step with
  ``tape.advance(layer, output, backward)``; ``backward(grad)`` writes its lines
  and returns the gradient it hands to the layer before it. Sequential calls
  its layers in order; the steps then run in reverse, as backprop does.
* An :class:`~minigrad.activations.Activation` needs no code: its ``g`` and
  ``g'`` come from the class, looked up in this order --
  (1) class attributes ``g_text`` / ``g_prime_text``, written in terms of
  ``Z`` and ``A`` (``g_prime_text = "1 - A^2"``); (2) docstring lines
  ``g(Z) = ...`` and ``g'(Z) = ...`` (all built-ins carry them); (3) a
  generic ``myact(Z1)`` / ``myact'(Z1)``. A subclass that overrides ``g`` or
  ``g_prime`` without new text gets the generic form, never its parent's
  formula. Init fields named in the text (``alpha``) show their values. A
  non-elementwise activation gives its backward as ``dZ_text`` (or a
  docstring line ``dZ = ...``) in terms of ``dA``, ``A`` and ``Z``.
* A loss's ``explain_lines(tape)`` writes the cost J and the first backward
  line. Sigmoid with binary cross-entropy, and Softmax with categorical
  cross-entropy, are shown fused as ``dZ = A - Y``; with ``from_logits=True``
  the loss takes Z itself.
* Any other layer gets a generic pair of lines naming it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
from attrs import define, field, frozen

from minigrad.errors import InputError

if TYPE_CHECKING:
    from minigrad.activations import Activation
    from minigrad.batchnorm import BatchNorm
    from minigrad.dense import Dense
    from minigrad.dropout import Dropout
    from minigrad.layer import Layer
    from minigrad.losses import Loss
    from minigrad.sequential import Sequential

_COLUMN_CAP = 40  # longer equations push their own shapes right; the rest stay aligned


@frozen
class Var:
    """A quantity flowing forward: its name in the equations and its number of rows."""

    name: str
    rows: int | None


@frozen
class Grad:
    """A gradient flowing backward; ``expr`` is how it was computed, for combined forms."""

    name: str
    expr: str | None = None


@frozen
class Line:
    """One equation: ``lhs = rhs``, the shapes it involves, and an optional note."""

    lhs: str
    rhs: str
    shapes: str = ""
    note: str = ""

    @property
    def equation(self) -> str:
        """``lhs = rhs``; a line without lhs continues the one before (``= rhs``)."""
        return f"{self.lhs} = {self.rhs}" if self.lhs else f"= {self.rhs}"


BackwardStep = Callable[[Grad], Grad]


@frozen
class Step:
    """A layer's backward step, with what the layer received and what it gave."""

    layer: Layer
    backward: BackwardStep
    received: Var
    output: Var


@define
class Tape:
    """Collects the lines of a forward walk and the backward steps to replay in reverse.

    ``current`` is the quantity the next layer receives; ``level`` numbers the
    layers as the notes do (it goes up by one at each layer with weights).
    """

    m: int | None
    current: Var
    level: int = 0
    forward_lines: list[Line] = field(factory=list)
    backward_lines: list[Line] = field(factory=list)
    steps: list[Step] = field(factory=list)
    _names: set[str] = field(factory=set)

    def shape(self, rows: int | None, cols: int | str | None = None) -> str:
        """``(rows, m)``, with m's value when known and ``?`` for unknown rows."""
        shown_cols = cols if cols is not None else (self.m if self.m is not None else "m")
        return f"({rows if rows is not None else '?'}, {shown_cols})"

    def named_shape(self, name: str, rows: int | None, cols: int | str | None = None) -> str:
        return f"{name} {self.shape(rows, cols)}"

    def next_level(self) -> int:
        self.level += 1
        return self.level

    def fresh(self, base: str) -> str:
        """``base`` if unused, else ``base_2``, ``base_3``, ...: every quantity has one name."""
        name, k = base, 2
        while name in self._names:
            name, k = f"{base}_{k}", k + 1
        self._names.add(name)
        return name

    def reserve(self, name: str) -> None:
        self._names.add(name)

    def forward_line(self, lhs: str, rhs: str, shapes: str = "", note: str = "") -> None:
        self.forward_lines.append(Line(lhs, rhs, shapes, note))

    def backward_line(self, lhs: str, rhs: str, shapes: str = "", note: str = "") -> None:
        self.backward_lines.append(Line(lhs, rhs, shapes, note))

    def advance(self, layer: Layer, output: Var, backward: BackwardStep) -> None:
        """``layer`` turned ``current`` into ``output``; ``backward`` replays it in reverse.

        ``backward(grad)`` receives the gradient of ``output``, writes its lines
        with :meth:`backward_line`, and returns the gradient of what the layer
        received.
        """
        self.steps.append(Step(layer, backward, self.current, output))
        self.current = output


@frozen
class Explanation:
    """The generated lines; ``str()`` renders them as the text ``explain`` prints."""

    title: str
    forward_lines: tuple[Line, ...]
    backward_lines: tuple[Line, ...]

    def __str__(self) -> str:
        return "\n".join([
            self.title,
            "",
            "Forward pass:",
            *self.rows(self.forward_lines),
            "",
            "Backward pass (dA and dZ are per example; dW and db carry the 1/m):",
            *self.rows(self.backward_lines),
        ])

    def rows(self, lines: tuple[Line, ...]) -> list[str]:
        """The lines as aligned text: equation, shapes, then any note after ``#``."""
        everything = [*self.forward_lines, *self.backward_lines]
        equations = _equations(everything)
        width = max((len(text) for text in equations if len(text) <= _COLUMN_CAP), default=0)
        shapes_width = max((len(line.shapes) for line in everything if line.note), default=0)
        offset = 0 if lines is self.forward_lines else len(self.forward_lines)
        out = []
        for i, line in enumerate(lines):
            text = equations[offset + i].ljust(width)
            if line.shapes or line.note:
                text += "   " + line.shapes.ljust(shapes_width if line.note else 0)
            if line.note:
                text += "   # " + line.note
            out.append("  " + text.rstrip())
        return out


def _equations(lines: list[Line]) -> list[str]:
    """Each line's equation; a continuation is indented to put its ``=`` under the last one."""
    out, lhs = [], ""
    for line in lines:
        lhs = line.lhs or lhs
        out.append(line.equation if line.lhs else " " * (len(lhs) + 1) + line.equation)
    return out


def explain(
    model: Layer,
    loss: Loss | type[Loss] | None = None,
    m: int | None = None,
    *,
    n_x: int | None = None,
    print_fn: Callable[[str], Any] | None = print,
) -> str:
    """Print and return the forward and backward equations of ``model`` for a batch of m.

    ``loss`` (an instance or class) adds the cost and the first backward
    line; without it, backward starts from the gradient of the output.
    ``m=None`` writes shapes with the letter m. ``n_x`` (rows of X) is
    read from the first Dense layer when not given.
    """
    return str(build(model, loss, m, n_x=n_x, print_fn=print_fn))


def build(
    model: Layer,
    loss: Loss | type[Loss] | None = None,
    m: int | None = None,
    *,
    n_x: int | None = None,
    print_fn: Callable[[str], Any] | None = None,
) -> Explanation:
    """The :class:`Explanation` behind :func:`explain` (its lines, for tests and tools)."""
    from minigrad.layer import Layer
    from minigrad.losses import Loss

    if not isinstance(model, Layer):
        raise InputError(f"explain: expected a minigrad Layer or Sequential, got "
                         f"{type(model).__name__}")
    if m is not None and (isinstance(m, bool) or not isinstance(m, int) or m < 1):
        raise InputError(f"explain: m must be a positive int (the batch size) or None, got {m!r}")
    if isinstance(loss, type) and issubclass(loss, Loss):
        loss = loss()
    if loss is not None and not isinstance(loss, Loss):
        raise InputError(f"explain: loss must be a minigrad loss such as "
                         f"mg.losses.BinaryCrossEntropy(), got {loss!r}")
    rows = n_x if n_x is not None else _input_rows(model)
    tape = Tape(m=m, current=Var("X", rows))
    tape.reserve("X")
    tape.reserve("Y")
    model.explain_lines(tape)
    output = tape.current
    if loss is not None:
        grad = loss.explain_lines(tape)
    else:
        grad = Grad("d" + output.name)
        tape.backward_line(grad.name, f"dJ/d{output.name} from the loss, per example",
                           tape.named_shape(grad.name, output.rows))
    for step in reversed(tape.steps):
        grad = step.backward(grad)
    title = "\n".join([
        "Model: " + " -> ".join(repr(layer) for layer in _leaves(model)),
        f"Loss:  {loss!r}" if loss is not None else "Loss:  (none given)",
        f"Batch: {f'm = {m}' if m is not None else 'm'} examples as columns, "
        f"X {tape.shape(rows)}, Y {tape.shape(output.rows)}",
    ])
    result = Explanation(title, tuple(tape.forward_lines), tuple(tape.backward_lines))
    if print_fn is not None:
        print_fn(str(result))
    return result


# -- layers -------------------------------------------------------------------


def layer_lines(layer: Layer, tape: Tape) -> None:
    """Write the lines of a built-in layer (the default ``Layer.explain_lines``).

    Each built-in kind has its own describer below; a layer of any other
    class gets :func:`generic_lines`. A subclass that changes ``forward`` is
    described generically unless it overrides ``explain_lines`` itself.
    """
    from minigrad.activations import Activation
    from minigrad.batchnorm import BatchNorm
    from minigrad.dense import Dense
    from minigrad.dropout import Dropout
    from minigrad.sequential import Sequential

    describers: tuple[tuple[type[Any], Callable[[Any, Tape], None]], ...] = (
        (Sequential, sequential_lines),
        (Dense, dense_lines),
        (Activation, activation_lines),
        (Dropout, dropout_lines),
        (BatchNorm, batchnorm_lines),
    )
    for cls, describe in describers:
        if isinstance(layer, cls) and (cls is Activation or type(layer).forward is cls.forward):
            describe(layer, tape)
            return
    generic_lines(layer, tape)


def sequential_lines(model: Sequential, tape: Tape) -> None:
    """A Sequential explains itself as its layers, in order."""
    for layer in model.layers:
        layer.explain_lines(tape)


def dense_lines(layer: Dense, tape: Tape) -> None:
    """Z = W A_prev + b forward; dW, db and dA_prev = W^T dZ backward."""
    level = tape.next_level()
    W, b, Z = f"W{level}", f"b{level}", tape.fresh(f"Z{level}")
    tape.reserve(W)
    tape.reserve(b)
    prev = tape.current
    shapes = (f"{tape.named_shape(Z, layer.n_out)}  {W} {tape.shape(layer.n_out, layer.n_in)}  "
              f"{b} {tape.shape(layer.n_out, 1)}")
    tape.forward_line(Z, f"{W} {prev.name} + {b}", shapes)

    def backward(grad: Grad) -> Grad:
        dZ = grad.name
        tape.backward_line(f"d{W}", f"(1/m) {dZ} {prev.name}^T",
                           tape.named_shape(f"d{W}", layer.n_out, layer.n_in))
        tape.backward_line(f"d{b}", f"(1/m) sum({dZ}, axis=1)",
                           tape.named_shape(f"d{b}", layer.n_out, 1))
        d_prev = "d" + prev.name
        if prev.name != "X":  # nothing needs dX: the input is data, not a parameter
            tape.backward_line(d_prev, f"{W}^T {dZ}", tape.named_shape(d_prev, prev.rows))
        return Grad(d_prev, f"{W}^T {dZ}")

    tape.advance(layer, Var(Z, layer.n_out), backward)


def activation_lines(layer: Activation, tape: Tape) -> None:
    """A = g(Z) forward; dZ = dA * g'(Z) backward (or the class's own dZ text)."""
    prev = tape.current
    A = tape.fresh(f"A{tape.level}")
    g, g_prime, dZ_text = activation_text(layer)
    names = {"Z": prev.name, "A": A}
    forward_rhs = _substitute(g, names, layer) if g else f"{_function_name(layer)}({prev.name})"
    tape.forward_line(A, forward_rhs, tape.named_shape(A, prev.rows))

    def backward(grad: Grad) -> Grad:
        dZ = "d" + prev.name
        if prev.name == "X":
            return Grad(dZ)
        shapes = tape.named_shape(dZ, prev.rows)
        if dZ_text is not None:
            tape.backward_line(dZ, _substitute(dZ_text, {**names, "dA": grad.name}, layer), shapes)
            return Grad(dZ)
        derivative = (_substitute(g_prime, names, layer) if g_prime
                      else f"{_function_name(layer)}'({prev.name})")
        if derivative == "1":
            tape.backward_line(dZ, grad.name, shapes, "g'(Z) = 1")
            return Grad(dZ, grad.expr)
        factor = _parenthesized(derivative)
        tape.backward_line(dZ, f"{grad.name} * {factor}", shapes)
        if grad.expr is not None:
            tape.backward_line("", f"{grad.expr} * {factor}")
        return Grad(dZ)

    tape.advance(layer, Var(A, prev.rows), backward)


def dropout_lines(layer: Dropout, tape: Tape) -> None:
    """Inverted dropout as in training: a fresh mask D scales the kept units by 1/(1 - rate)."""
    prev = tape.current
    if layer.rate == 0.0:
        tape.forward_line(prev.name, prev.name, "", "Dropout(rate=0) keeps every unit")
        tape.advance(layer, prev, lambda grad: grad)
        return
    D = tape.fresh(f"D{tape.level}")
    out = tape.fresh(f"{prev.name}_drop")
    keep = f"{1 - layer.rate:g}"
    tape.forward_line(D, f"(rand{tape.shape(prev.rows)} >= {layer.rate:g}) / {keep}",
                      tape.named_shape(D, prev.rows), "new each batch; training only")
    tape.forward_line(out, f"{prev.name} * {D}", tape.named_shape(out, prev.rows),
                      f"in eval mode {out} = {prev.name}")

    def backward(grad: Grad) -> Grad:
        d_prev = "d" + prev.name
        if prev.name != "X":
            tape.backward_line(d_prev, f"{grad.name} * {D}", tape.named_shape(d_prev, prev.rows))
        return Grad(d_prev, f"{grad.expr} * {D}" if grad.expr else None)

    tape.advance(layer, Var(out, prev.rows), backward)


def batchnorm_lines(layer: BatchNorm, tape: Tape) -> None:
    """Batch normalization in training mode: batch mean and variance per feature (row)."""
    prev = tape.current
    n = layer.output_size(prev.rows)
    level = tape.level
    mu, var, gamma, beta = (tape.fresh(f"{name}{level}") for name in ("mu", "var", "gamma", "beta"))
    hat, out = tape.fresh(f"{prev.name}_hat"), tape.fresh(f"{prev.name}_bn")
    eps = f"{layer.eps:g}"
    column = tape.shape(n, 1)
    tape.forward_line(mu, f"(1/m) sum({prev.name}, axis=1)", f"{mu} {column}",
                      "eval mode uses the running mean and variance")
    tape.forward_line(var, f"(1/m) sum(({prev.name} - {mu})^2, axis=1)", f"{var} {column}")
    tape.forward_line(hat, f"({prev.name} - {mu}) / sqrt({var} + {eps})",
                      tape.named_shape(hat, n))
    tape.forward_line(out, f"{gamma} * {hat} + {beta}",
                      f"{tape.named_shape(out, n)}  {gamma} {column}  {beta} {column}")

    def backward(grad: Grad) -> Grad:
        dA, G = grad.name, tape.fresh(f"G{level}")
        tape.backward_line(f"d{gamma}", f"(1/m) sum({dA} * {hat}, axis=1)", f"d{gamma} {column}")
        tape.backward_line(f"d{beta}", f"(1/m) sum({dA}, axis=1)", f"d{beta} {column}")
        tape.backward_line(G, f"{gamma} * {dA}", tape.named_shape(G, n))
        d_prev = "d" + prev.name
        if prev.name != "X":
            tape.backward_line(
                d_prev,
                f"({G} - mean({G}, axis=1) - {hat} * mean({G} * {hat}, axis=1)) "
                f"/ sqrt({var} + {eps})",
                tape.named_shape(d_prev, prev.rows),
            )
        return Grad(d_prev)

    tape.advance(layer, Var(out, n), backward)


def generic_lines(layer: Layer, tape: Tape) -> None:
    """Lines for a layer that does not describe itself: it is named, with its shapes."""
    prev = tape.current
    rows = layer.output_size(prev.rows)
    kind = prev.name[0] if prev.name[:1] in ("A", "Z") else "A"
    out = tape.fresh(f"{kind}{tape.level}_{_function_name(layer)}")
    tape.forward_line(out, f"{layer!r}.forward({prev.name})", tape.named_shape(out, rows))

    def backward(grad: Grad) -> Grad:
        d_prev = "d" + prev.name
        if prev.name != "X":
            tape.backward_line(d_prev, f"{layer!r}.backward({grad.name})",
                               tape.named_shape(d_prev, prev.rows))
        return Grad(d_prev)

    tape.advance(layer, Var(out, rows), backward)


# -- activation text ------------------------------------------------------------


def activation_text(layer: Activation) -> tuple[str | None, str | None, str | None]:
    """``(g, g', dZ)`` texts in terms of Z, A (and dA), each None when the class gives none.

    For each, the classes are searched from the layer's own type upwards: a
    class attribute (``g_text``, ``g_prime_text``, ``dZ_text``) wins, then a
    docstring line; a class that overrides the method (``g``, ``g_prime``,
    ``backward``) without giving text ends the search with None.
    """
    return (
        _lookup(layer, "g_text", "g", r"g\(Z\)"),
        _lookup(layer, "g_prime_text", "g_prime", r"g'\(Z\)"),
        _lookup(layer, "dZ_text", "backward", r"dZ"),
    )


def _lookup(layer: Activation, attribute: str, method: str, docstring_lhs: str) -> str | None:
    from minigrad.activations import Activation

    pattern = re.compile(rf"^\s*{docstring_lhs}\s*=\s*(.+?)\s*$", re.MULTILINE)
    for cls in type(layer).__mro__:
        if cls is Activation or not issubclass(cls, Activation):
            return None
        if attribute in vars(cls):
            text = getattr(layer, attribute)
            return str(text) if text is not None else None
        match = pattern.search(vars(cls).get("__doc__") or "")
        if match:
            return re.split(r"\s{2,}", match.group(1))[0].rstrip(",;")
        if method in vars(cls):
            return None
    return None


def _substitute(text: str, names: dict[str, str], layer: Any) -> str:
    """Write ``text`` for this layer: Z, A, dA become their names, fields their values."""
    values = {**_field_values(layer), **names}
    pattern = re.compile(r"\b(" + "|".join(re.escape(k) for k in values) + r")\b")
    return pattern.sub(lambda match: values[match.group(1)], text).replace("**", "^")


def _field_values(layer: Any) -> dict[str, str]:
    values: dict[str, str] = {}
    if attrs.has(type(layer)):
        for f in attrs.fields(type(layer)):
            value = getattr(layer, f.name, None)
            if f.init and isinstance(value, int | float) and not isinstance(value, bool):
                values[f.alias or f.name] = f"{value:g}"
    return values


def _parenthesized(text: str) -> str:
    """``text`` as one factor: bare if it is a name or a call, else in parentheses."""
    call = re.fullmatch(r"[\w.']+\((.*)\)", text)
    if re.fullmatch(r"[\w.]+", text) or (call and _balanced(call.group(1))):
        return text
    return f"({text})"


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def _function_name(layer: Any) -> str:
    return type(layer).__name__.lower()


def _leaves(model: Layer) -> list[Layer]:
    from minigrad.sequential import Sequential

    if isinstance(model, Sequential):
        return [leaf for layer in model.layers for leaf in _leaves(layer)]
    return [model]


def _input_rows(model: Layer) -> int | None:
    """Rows of X: the n_in of the first layer that has one."""
    for layer in _leaves(model):
        for attribute in ("n_in", "n_features"):
            rows = getattr(layer, attribute, None)
            if isinstance(rows, int):
                return rows
    return None


# -- losses ---------------------------------------------------------------------


def loss_lines(loss: Loss, tape: Tape) -> Grad:
    """The cost J (forward) and the first backward line; returns the gradient it starts.

    Fuses Sigmoid + BinaryCrossEntropy and Softmax + CategoricalCrossEntropy
    into ``dZ = A - Y``; with ``from_logits=True`` the loss takes Z directly.
    """
    from minigrad.losses import BinaryCrossEntropy, CategoricalCrossEntropy, MeanSquaredError

    out = tape.current
    A, dA = out.name, "d" + out.name
    y_shape = "Y " + tape.shape(out.rows)
    dA_shape = tape.named_shape(dA, out.rows)
    from_logits = bool(getattr(loss, "from_logits", False))
    if isinstance(loss, BinaryCrossEntropy) and from_logits:
        tape.forward_line("J", f"(1/m) sum(log(1 + exp({A})) - Y * {A})", f"J scalar  {y_shape}",
                          f"sigmoid({A}) is inside the loss (from_logits=True)")
        tape.backward_line(dA, f"sigmoid({A}) - Y", dA_shape,
                           "sigmoid + binary cross-entropy, fused")
        return Grad(dA)
    if isinstance(loss, CategoricalCrossEntropy) and from_logits:
        tape.forward_line("J", f"(1/m) sum(logsumexp({A}, axis=0) - sum(Y * {A}, axis=0))",
                          f"J scalar  {y_shape} one-hot",
                          f"softmax({A}) is inside the loss (from_logits=True)")
        tape.backward_line(dA, f"softmax({A}) - Y", dA_shape,
                           "softmax + categorical cross-entropy, fused")
        return Grad(dA)
    if isinstance(loss, BinaryCrossEntropy):
        tape.forward_line("J", f"-(1/m) sum(Y * log({A}) + (1 - Y) * log(1 - {A}))",
                          f"J scalar  {y_shape}")
        fused = _fuse(tape, "Sigmoid", f"sigmoid + binary cross-entropy, fused: "
                      f"{dA} * {A} * (1 - {A}) = {A} - Y")
        if fused is not None:
            return fused
        tape.backward_line(dA, f"({A} - Y) / ({A} * (1 - {A}))", dA_shape)
        return Grad(dA)
    if isinstance(loss, CategoricalCrossEntropy):
        tape.forward_line("J", f"-(1/m) sum(Y * log({A}))", f"J scalar  {y_shape} one-hot")
        fused = _fuse(tape, "Softmax", "softmax + categorical cross-entropy, fused: "
                      f"{dA} = -Y / {A} through the softmax Jacobian = {A} - Y")
        if fused is not None:
            return fused
        tape.backward_line(dA, f"-Y / {A}", dA_shape)
        return Grad(dA)
    if isinstance(loss, MeanSquaredError):
        tape.forward_line("J", f"(1/m) sum(({A} - Y)^2)", f"J scalar  {y_shape}")
        tape.backward_line(dA, f"2 * ({A} - Y)", dA_shape)
        return Grad(dA)
    name = type(loss).__name__
    tape.forward_line("J", f"{name}({A}, Y)", f"J scalar  {y_shape}")
    tape.backward_line(dA, f"{name}.backward(), per example", dA_shape)
    return Grad(dA)


def _fuse(tape: Tape, activation: str, note: str) -> Grad | None:
    """If the last step is a plain Sigmoid/Softmax, replace its step with dZ = A - Y."""
    from minigrad import activations

    if not tape.steps:
        return None
    last = tape.steps[-1]
    cls: type[Activation] = getattr(activations, activation)
    if not isinstance(last.layer, cls):
        return None
    kind = type(last.layer)
    if not (kind.g is cls.g and kind.g_prime is cls.g_prime and kind.backward is cls.backward):
        return None
    tape.steps.pop()
    dZ = "d" + last.received.name
    tape.backward_line(dZ, f"{last.output.name} - Y", tape.named_shape(dZ, last.output.rows),
                       note)
    return Grad(dZ)
