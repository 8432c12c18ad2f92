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

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from minigrad.errors import InputError
from minigrad.explain.layers import (
    activation_lines,
    batchnorm_lines,
    dense_lines,
    dropout_lines,
    generic_lines,
    layer_lines,
    sequential_lines,
)
from minigrad.explain.losses import loss_lines
from minigrad.explain.tape import Explanation, Grad, Line, Step, Tape, Var
from minigrad.explain.text import activation_text

if TYPE_CHECKING:
    from minigrad.layer import Layer
    from minigrad.losses import Loss

__all__ = [
    "Explanation", "Grad", "Line", "Step", "Tape", "Var", "activation_lines", "activation_text",
    "batchnorm_lines", "build", "dense_lines", "dropout_lines", "explain", "generic_lines",
    "layer_lines", "loss_lines", "sequential_lines",
]


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
    from minigrad.layer import Layer, leaves
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
        "Model: " + (" -> ".join(repr(layer) for layer in leaves(model)) or "(no layers)"),
        f"Loss:  {loss!r}" if loss is not None else "Loss:  (none given)",
        f"Batch: {f'm = {m}' if m is not None else 'm'} examples as columns, "
        f"X {tape.shape(rows)}, Y {tape.shape(output.rows)}",
    ])
    result = Explanation(title, tuple(tape.forward_lines), tuple(tape.backward_lines))
    if print_fn is not None:
        print_fn(str(result))
    return result


def _input_rows(model: Layer) -> int | None:
    """Rows of X: the n_in of the first layer that has one."""
    from minigrad.layer import leaves

    for layer in leaves(model):
        for attribute in ("n_in", "n_features"):
            rows = getattr(layer, attribute, None)
            if isinstance(rows, int):
                return rows
    return None
