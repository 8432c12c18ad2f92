"""What a custom layer needs to write its own ``model.explain()`` lines, in one place.

The machinery lives in :mod:`minigrad.equations` (the tape) and
:mod:`minigrad.explanation` (the driver and the rendering); the layers write
their own lines in their ``explain_lines`` methods. This module gathers the
public names, so that a custom layer can write
``from minigrad.explain import Grad, Term, Var``, and :func:`build` returns
the :class:`Explanation` of a model (``model.explanation(loss, m)`` does the
same).
"""

from __future__ import annotations

from minigrad.activations import activation_text
from minigrad.equations import (
    Grad,
    Line,
    Shape,
    Step,
    Tape,
    Term,
    Var,
    function_name,
    generic_lines,
    parenthesized,
    substitute,
)
from minigrad.explanation import Explanation
from minigrad.layer import Layer
from minigrad.losses import Loss

__all__ = [
    "Explanation", "Grad", "Line", "Step", "Tape", "Term", "Var", "activation_text", "build",
    "function_name", "generic_lines", "parenthesized", "substitute",
]


def build(
    model: Layer,
    loss: Loss | type[Loss] | list[Loss] | None = None,
    m: int | None = None,
    *,
    n_x: int | Shape | None = None,
) -> Explanation:
    """The :class:`Explanation` of ``model`` for a batch of m: ``model.explanation(loss, m)``."""
    if not isinstance(model, Layer):
        from minigrad.errors import InputError

        raise InputError(f"explain: expected a minigrad Layer or Sequential, got "
                         f"{type(model).__name__}")
    return model.explanation(loss, m, n_x=n_x)
