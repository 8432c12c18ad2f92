"""The lines a loss writes: the cost J and the first gradient, fused where it can be."""

from __future__ import annotations

from typing import TYPE_CHECKING

from minigrad.explain.tape import Grad, Tape

if TYPE_CHECKING:
    from minigrad.activations import Activation
    from minigrad.losses import Loss


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
