"""The lines each built-in layer writes: Dense, activations, Dropout, BatchNorm, others."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from minigrad.explain.tape import Grad, Tape, Var
from minigrad.explain.text import activation_text, function_name, parenthesized, substitute

if TYPE_CHECKING:
    from minigrad.activations import Activation
    from minigrad.batchnorm import BatchNorm
    from minigrad.dense import Dense
    from minigrad.dropout import Dropout
    from minigrad.layer import Layer
    from minigrad.sequential import Sequential


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
    forward_rhs = substitute(g, names, layer) if g else f"{function_name(layer)}({prev.name})"
    tape.forward_line(A, forward_rhs, tape.named_shape(A, prev.rows))

    def backward(grad: Grad) -> Grad:
        dZ = "d" + prev.name
        if prev.name == "X":
            return Grad(dZ)
        shapes = tape.named_shape(dZ, prev.rows)
        if dZ_text is not None:
            tape.backward_line(dZ, substitute(dZ_text, {**names, "dA": grad.name}, layer), shapes)
            return Grad(dZ)
        derivative = (substitute(g_prime, names, layer) if g_prime
                      else f"{function_name(layer)}'({prev.name})")
        if derivative == "1":
            tape.backward_line(dZ, grad.name, shapes, "g'(Z) = 1")
            return Grad(dZ, grad.expr)
        factor = parenthesized(derivative)
        tape.backward_line(dZ, f"{grad.name} * {factor}", shapes)
        if grad.expr is not None:
            tape.backward_line("", f"{grad.expr} * {factor}")
        return Grad(dZ)

    tape.advance(layer, Var(A, prev.rows), backward)


def dropout_lines(layer: Dropout, tape: Tape) -> None:
    """Inverted dropout as in training: a fresh mask D scales the kept units by 1/(1 - rate)."""
    prev = tape.current
    if layer.rate == 0.0:  # keeps every unit: nothing to write
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
    out = tape.fresh(f"{kind}{tape.level}_{function_name(layer)}")
    tape.forward_line(out, f"{layer!r}.forward({prev.name})", tape.named_shape(out, rows))

    def backward(grad: Grad) -> Grad:
        d_prev = "d" + prev.name
        if prev.name != "X":
            tape.backward_line(d_prev, f"{layer!r}.backward({grad.name})",
                               tape.named_shape(d_prev, prev.rows))
        return Grad(d_prev)

    tape.advance(layer, Var(out, rows), backward)
