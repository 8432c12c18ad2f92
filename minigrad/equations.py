"""The tape that ``model.explain()`` writes on: quantities, gradients and their lines.

A layer describes itself in ``explain_lines(tape)``: it reads the quantity it
receives (``tape.current``, a :class:`Var`), writes its forward lines with
``tape.forward_line(lhs, rhs, shapes)``, and registers a backward step with
``tape.advance(layer, output, backward)``. The steps run in reverse, as
backprop does. ``backward(grad)`` receives the gradient of the layer's output
(a :class:`Grad`), writes the lines of its own parameters' gradients, and
returns a :class:`Term`: the expression of the gradient it hands back to its
input, ``W2^T dZ2`` for a Dense layer. The tape writes that gradient's line,
``dA1 = W2^T dZ2``. A quantity used by several layers (a fork in a graph)
gets the sum of the terms that come back along each path, in one line:
``dA1 = W2^T dZ2 + dA3``. A layer with several inputs (``A3 = A1 + A2``)
reads ``tape.currents`` and returns one term per input.

The input data needs no gradient, so no ``dX`` line is written.

Shapes are per example: a :class:`Var` of shape ``(3, 28, 28)`` is written
``(3, 28, 28, m)``, and :meth:`Tape.fixed_shape` writes a weight's shape with
no m (a convolution's ``W1 (8, 3, 3, 3)``). A layer used at several places
(shared weights) takes its number with :meth:`Tape.level_of` and writes its
parameter gradients with :meth:`Tape.parameter_line`, which adds the uses up.

This module imports no layer and no loss: layers import it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import attrs
from attrs import define, field, frozen

from minigrad.errors import InputError

Shape = tuple[int, ...]


def _as_shape(value: int | Sequence[int] | None) -> Shape | None:
    if value is None:
        return None
    if isinstance(value, int):
        return (value,)
    return tuple(int(n) for n in value)


@frozen
class Var:
    """A quantity flowing forward: its name in the equations and its per-example shape.

    ``shape`` leaves out the m examples: ``(4,)`` for a column of 4 rows,
    ``(3, 28, 28)`` for an image; an int n means ``(n,)``; None is unknown.
    """

    name: str
    shape: Shape | None = field(converter=_as_shape)

    @property
    def rows(self) -> int | None:
        """The number of rows of a column quantity (None for images or when unknown)."""
        return self.shape[0] if self.shape is not None and len(self.shape) == 1 else None


@frozen
class Grad:
    """The gradient a backward step receives: its name (``dZ2``) and, when it is worth
    substituting, the expression it stands for (``W3^T dZ3``)."""

    name: str
    expr: str | None = None


@frozen
class Term:
    """What a backward step hands back to one input: a term of that input's gradient.

    ``rhs`` is the expression (``W2^T dZ2``). ``expanded`` is the same
    gradient with the received gradient's expression put in (a second line,
    ``= W2^T dZ2 * (1 - A1^2)``). ``carry`` is what the step before may
    substitute for this gradient's name, and ``note`` a comment for its line.
    """

    rhs: str
    expanded: str | None = None
    carry: str | None = None
    note: str = ""


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


BackwardStep = Callable[[Grad], "Term | Sequence[Term | None] | None"]
"""Receives the gradient of the output; returns a term for each input (None: no gradient)."""


@frozen
class Step:
    """A layer's backward step: what the layer received, what it gave, how to go back."""

    layer: object
    inputs: tuple[Var, ...]
    output: Var
    backward: BackwardStep


@define
class Tape:
    """Collects the lines of a forward walk and the backward steps to replay in reverse.

    ``currents`` are the quantities the next layer receives (``current`` when
    there is one); ``level`` numbers the layers as the notes do (it goes up by
    one at each layer with weights). ``inputs`` are the data: no gradient line
    is written for them. ``cost`` and ``target`` are the names a loss writes
    (``J`` and ``Y``; ``J1``, ``Y1``, ... for a model with several outputs).
    """

    m: int | None
    inputs: tuple[Var, ...]
    currents: tuple[Var, ...] = field(init=False)
    level: int = 0
    cost: str = "J"
    target: str = "Y"
    forward_lines: list[Line] = field(factory=list)
    backward_lines: list[Line] = field(factory=list)
    steps: list[Step] = field(factory=list)
    _names: set[str] = field(factory=set)
    _terms: dict[str, list[tuple[int, Term]]] = field(factory=dict)
    _absorbed: set[int] = field(factory=set)
    _levels: dict[int, int] = field(factory=dict)

    def __attrs_post_init__(self) -> None:
        self.currents = self.inputs
        for var in self.inputs:
            self.reserve(var.name)

    # -- forward --------------------------------------------------------------

    @property
    def current(self) -> Var:
        """The one quantity the next layer receives; an error if there are several."""
        if len(self.currents) != 1:
            names = ", ".join(var.name for var in self.currents)
            raise InputError(f"explain: a layer that takes one input received {len(self.currents)}"
                             f" ({names}); a layer with several inputs reads tape.currents")
        return self.currents[0]

    @current.setter
    def current(self, var: Var) -> None:
        self.currents = (var,)

    def shape(self, shape: int | Sequence[int] | None, cols: int | str | None = None) -> str:
        """``(rows, m)`` or ``(c, h, w, m)``, with m's value when known and ``?`` if unknown.

        ``cols`` replaces the m column: ``shape(4, 2)`` is ``(4, 2)``, a weight's shape.
        """
        dims = _as_shape(shape)
        shown = [str(n) for n in dims] if dims is not None else ["?"]
        last = cols if cols is not None else (self.m if self.m is not None else "m")
        return f"({', '.join([*shown, str(last)])})"

    def named_shape(self, name: str, shape: int | Sequence[int] | None,
                    cols: int | str | None = None) -> str:
        """``name (rows, m)``: a quantity and its shape, as the shape column shows it."""
        return f"{name} {self.shape(shape, cols)}"

    def fixed_shape(self, name: str, shape: Sequence[int]) -> str:
        """``name (8, 3, 3, 3)``: a parameter's shape, with no m."""
        return f"{name} ({', '.join(str(n) for n in shape)})"

    def next_level(self) -> int:
        self.level += 1
        return self.level

    def level_of(self, layer: object) -> int:
        """The next level for a layer met for the first time; for a layer used again
        (shared weights, in a graph), the level of its first use: its W keeps one name."""
        if id(layer) not in self._levels:
            self._levels[id(layer)] = self.next_level()
        return self._levels[id(layer)]

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

    def parameter_line(self, lhs: str, rhs: str, shapes: str = "") -> None:
        """A parameter's gradient, ``dW1 = ...``. A layer used at several places writes it
        once per use; the uses' terms add up in the first line (shared weights)."""
        for i, line in enumerate(self.backward_lines):
            if line.lhs == lhs:
                self.backward_lines[i] = Line(lhs, f"{line.rhs} + {rhs}", line.shapes,
                                              "a shared layer: one term per use")
                return
        self.backward_line(lhs, rhs, shapes)

    def advance(self, layer: object, output: Var, backward: BackwardStep) -> None:
        """``layer`` turned ``currents`` into ``output``; ``backward`` replays it in reverse.

        ``backward(grad)`` receives the gradient of ``output``, writes the lines
        of the layer's own parameters with :meth:`backward_line`, and returns a
        :class:`Term` for each input (a single Term for a single input).
        """
        self.steps.append(Step(layer, self.currents, output, backward))
        self.current = output

    # -- backward -------------------------------------------------------------

    def producer(self, var: Var) -> Step | None:
        """The step whose output is ``var`` (None for an input)."""
        return next((step for step in self.steps if step.output == var), None)

    def consumers(self, var: Var) -> list[Step]:
        """The steps that receive ``var``."""
        return [step for step in self.steps if var in step.inputs]

    def add_gradient(self, var: Var, term: Term, *, order: int | None = None) -> None:
        """Add ``term`` to the gradient of ``var`` (a loss starts backprop this way).

        At a fork the terms are written in ``order``: the position of the step
        that sent each, so that paths read in forward order (a loss comes last).
        """
        where = order if order is not None else len(self.steps)
        self._terms.setdefault(var.name, []).append((where, term))

    def absorb(self, step: Step, term: Term) -> None:
        """Drop ``step`` and start backprop at its input with ``term``.

        A loss fused with the output activation (``dZ = A - Y``) absorbs the
        activation's step: the activation's own backward never runs.
        """
        (received,) = step.inputs
        self._absorbed.add(id(step))
        self.add_gradient(received, term, order=self.steps.index(step))

    def run_backward(self) -> None:
        """Replay the steps in reverse; each quantity's gradient line is written just
        before the step that produced it runs, once every path has sent its term."""
        for order, step in reversed(list(enumerate(self.steps))):
            if id(step) in self._absorbed:
                continue
            grad = self._gradient_line(step.output)
            if grad is None:  # nothing downstream needs this output
                continue
            result = step.backward(grad)
            terms: Sequence[Term | None] = (result,) if not isinstance(result, Sequence) else result
            if len(terms) != len(step.inputs):
                raise InputError(f"explain: {step.layer!r} returned {len(terms)} gradient terms "
                                 f"for {len(step.inputs)} inputs")
            for var, term in zip(step.inputs, terms, strict=True):
                if isinstance(term, Grad):
                    raise InputError(
                        f"explain: the backward step of {step.layer!r} returned a Grad; it "
                        f"returns a Term, the expression of d{var.name}, and the tape writes "
                        f"that line (return Term('...') instead of writing d{var.name} yourself)"
                    )
                if term is not None:
                    self.add_gradient(var, term, order=order)

    def _gradient_line(self, var: Var) -> Grad | None:
        terms = [term for _, term in sorted(self._terms.pop(var.name, []), key=lambda t: t[0])]
        if not terms:
            return None
        name = "d" + var.name
        shapes = self.named_shape(name, var.shape)
        if len(terms) == 1:
            (term,) = terms
            if term.rhs != name:
                self.backward_line(name, term.rhs, shapes, term.note)
                if term.expanded is not None:
                    self.backward_line("", term.expanded)
            return Grad(name, term.carry)
        self.backward_line(name, " + ".join(term.rhs for term in terms), shapes,
                           "; ".join(term.note for term in terms if term.note))
        return Grad(name)


# -- text helpers ---------------------------------------------------------------


def substitute(text: str, names: dict[str, str], layer: Any) -> str:
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


def parenthesized(text: str) -> str:
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


def function_name(layer: object) -> str:
    """The layer's class name in lower case: ``double`` in ``A1_double``."""
    return type(layer).__name__.lower()


def generic_lines(layer: Any, tape: Tape) -> None:
    """Lines for a layer that does not describe itself: it is named, with its shapes."""
    prev = tape.current
    shape = layer.output_shape(prev.shape)
    kind = prev.name[0] if prev.name[:1] in ("A", "Z") else "A"
    out = tape.fresh(f"{kind}{tape.level}_{function_name(layer)}")
    shown = repr(layer).splitlines()[0] + ("...)" if "\n" in repr(layer) else "")
    tape.forward_line(out, f"{shown}.forward({prev.name})", tape.named_shape(out, shape))

    def backward(grad: Grad) -> Term:
        return Term(f"{shown}.backward({grad.name})")

    tape.advance(layer, Var(out, shape), backward)
