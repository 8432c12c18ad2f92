"""The tape that ``explain`` writes on: quantities, gradients, lines and their layout."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from attrs import define, field, frozen

if TYPE_CHECKING:
    from minigrad.layer import Layer

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
