"""``model.explain(loss, m)``: the forward and backward pass, written out.

The text is generated from the model's layers and the loss, in the notes'
notation: examples are columns, ``Z1 = W1 X + b1``, ``A1 = g(Z1)``, and, going
back, ``dW1 = (1/m) dZ1 X^T``, ``dZ1 = W2^T dZ2 * g'(Z1)``, with the shape of
every quantity for a batch of m examples. ``*`` is the elementwise product,
juxtaposition (``W2 A1``) the matrix product, ``^T`` the transpose.

How the lines are made (so that new layers can join in):

* Each layer has ``explain_lines(tape)`` and writes its own lines on the
  :class:`~minigrad.equations.Tape` (see :mod:`minigrad.equations`). A
  container calls its children's in order (Sequential), or in the order of its
  graph (a Graph sets ``tape.currents`` to each node's inputs). The steps then
  run in reverse, as backprop does, and a quantity that feeds several layers
  gets the sum of the gradients that come back, in one line.
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
* A loss's ``explain_lines(tape)`` writes the cost J and starts backprop.
  Sigmoid with binary cross-entropy, and Softmax with categorical
  cross-entropy, are shown fused as ``dZ = A - Y``; with ``from_logits=True``
  the loss takes Z itself.
* Any other layer gets a generic pair of lines naming it; so does a subclass
  that changes ``forward`` without writing its own ``explain_lines``.

This module only calls methods of the model and the loss: it imports neither,
so that ``Layer.explain`` can call it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from attrs import frozen

from minigrad import _latex
from minigrad.equations import Line, Shape, Tape, Term, Var
from minigrad.errors import InputError

_COLUMN_CAP = 40  # longer equations push their own shapes right; the rest stay aligned
_BACKWARD_NOTE = "dA and dZ are per example; dW and db carry the 1/m"
_BACKWARD_TITLE = f"Backward pass ({_BACKWARD_NOTE}):"


@frozen
class Explanation:
    """The generated lines; ``str()`` renders them as the text ``explain`` prints.

    In a notebook it displays as LaTeX (``_repr_markdown_``, ``_repr_latex_``);
    :meth:`latex` gives the ``aligned`` block itself.
    """

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
            _BACKWARD_TITLE,
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

    def latex(self) -> str:
        """Both passes as one LaTeX ``aligned`` block: equation, shapes, note."""
        rows = [r"&\text{Forward pass:}"]
        rows += [_latex_row(line) for line in self.forward_lines]
        rows += [r"&\text{Backward pass:} && " + _latex.text(_BACKWARD_NOTE)]
        rows += [_latex_row(line) for line in self.backward_lines]
        return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"

    def _repr_latex_(self) -> str:
        return "$$\n" + self.latex() + "\n$$"

    def _repr_markdown_(self) -> str:
        title = "  \n".join(f"`{line}`" for line in self.title.splitlines())
        return f"{title}\n\n$$\n{self.latex()}\n$$\n"


def _latex_row(line: Line) -> str:
    row = f"{_latex.math(line.lhs)} &= {_latex.math(line.rhs)}"
    shapes = [_latex_shape(part) for part in line.shapes.split("  ") if part.strip()]
    if shapes or line.note:
        row += " && " + r",\quad ".join(shapes)
    if line.note:
        row += r"\quad " + _latex.text("# " + line.note)
    return row


def _latex_shape(part: str) -> str:
    """``Z1 (4, 400)`` as ``Z_{1}\\ (4, 400)``: the name, a space, its shape."""
    name, _, shape = part.strip().partition(" ")
    return _latex.math(name) + (r"\ " + _latex.math(shape) if shape else "")


def _equations(lines: list[Line]) -> list[str]:
    """Each line's equation; a continuation is indented to put its ``=`` under the last one."""
    out, lhs = [], ""
    for line in lines:
        lhs = line.lhs or lhs
        out.append(line.equation if line.lhs else " " * (len(lhs) + 1) + line.equation)
    return out


def build_explanation(
    model: Any,
    loss: Any = None,
    m: int | None = None,
    *,
    n_x: int | Shape | None = None,
    layers: Sequence[object] = (),
) -> Explanation:
    """The :class:`Explanation` of ``model`` for a batch of m (the lines, for tests and tools).

    ``loss`` (an instance or a class; a list of them for a model with several
    outputs, one per output) adds the cost and starts backprop; without it,
    backward starts from the gradient of each output. ``m=None`` writes
    shapes with the letter m. ``n_x`` (rows of X, or the shape of one
    example) is read from the first layer with ``n_in`` when not given.
    ``layers`` are the model's leaves, named in the title.
    """
    if not (callable(getattr(model, "explain_lines", None))
            and callable(getattr(model, "children", None))):
        raise InputError(f"explain: expected a minigrad Layer or Sequential, got "
                         f"{type(model).__name__}")
    if m is not None and (isinstance(m, bool) or not isinstance(m, int) or m < 1):
        raise InputError(f"explain: m must be a positive int (the batch size) or None, got {m!r}")
    losses = _losses(loss)
    tape = Tape(m=m, inputs=_inputs(model, n_x, layers))
    tape.reserve("Y")
    model.explain_lines(tape)
    outputs = tape.currents
    if losses and len(losses) != len(outputs):
        raise InputError(f"explain: the model has {len(outputs)} outputs, so it needs "
                         f"{len(outputs)} losses, one per output; got {len(losses)}")
    several = len(outputs) > 1
    targets = []
    for i, output in enumerate(outputs, start=1):
        tape.current = output
        tape.cost, tape.target = (f"J{i}", f"Y{i}") if several else ("J", "Y")
        tape.reserve(tape.target)
        targets.append(tape.named_shape(tape.target, output.shape))
        if losses:
            losses[i - 1].explain_lines(tape)
        else:
            tape.add_gradient(output, Term(f"dJ/d{output.name} from the loss, per example"))
    if several and losses:
        tape.forward_line("J", " + ".join(f"J{i}" for i in range(1, len(outputs) + 1)),
                          "J scalar", "the cost sums the outputs' costs")
    tape.currents = outputs
    tape.run_backward()
    batch = ", ".join([*(tape.named_shape(var.name, var.shape) for var in tape.inputs), *targets])
    loss_shown = ", ".join(repr(item) for item in losses) if losses else "(none given)"
    title = "\n".join([
        "Model: " + (" -> ".join(repr(layer) for layer in layers) or "(no layers)"),
        f"Loss:  {loss_shown}",
        f"Batch: {f'm = {m}' if m is not None else 'm'} examples as columns, {batch}",
    ])
    return Explanation(title, tuple(tape.forward_lines), tuple(tape.backward_lines))


def explain_text(
    model: Any,
    loss: Any = None,
    m: int | None = None,
    *,
    n_x: int | Shape | None = None,
    layers: Sequence[object] = (),
    print_fn: Callable[[str], Any] | None = print,
) -> str:
    """Print (with ``print_fn``, unless None) and return the text of the explanation."""
    text = str(build_explanation(model, loss, m, n_x=n_x, layers=layers))
    if print_fn is not None:
        print_fn(text)
    return text


def _losses(loss: Any) -> list[Any]:
    """The losses as a list of instances (a class is instantiated); [] for None."""
    if loss is None:
        return []
    items = list(loss) if isinstance(loss, list | tuple) else [loss]
    out = []
    for item in items:
        if isinstance(item, type) and _is_loss(item):
            item = item()
        if not _is_loss(item):
            raise InputError(f"explain: loss must be a minigrad loss such as "
                             f"mg.losses.BinaryCrossEntropy(), got {item!r}")
        out.append(item)
    return out


def _is_loss(candidate: Any) -> bool:
    """A loss describes itself like a layer, but holds no layers."""
    return (callable(getattr(candidate, "explain_lines", None))
            and callable(getattr(candidate, "backward", None))
            and not callable(getattr(candidate, "children", None)))


def _inputs(model: Any, n_x: int | Shape | None, layers: Sequence[object]) -> tuple[Var, ...]:
    """The data the model receives: its own named inputs (a Graph's), else one X."""
    named = getattr(model, "explain_inputs", None)
    if callable(named):
        found: tuple[Var, ...] = tuple(named())
        if n_x is not None and len(found) == 1:
            found = (Var(found[0].name, n_x),)
        return found
    return (Var("X", n_x if n_x is not None else _input_rows(layers)),)


def _input_rows(layers: Sequence[object]) -> int | None:
    """Rows of X: the n_in of the first layer that has one."""
    for layer in layers:
        for attribute in ("n_in", "n_features"):
            rows = getattr(layer, attribute, None)
            if isinstance(rows, int):
                return rows
    return None
