"""Catching divergence in :func:`minigrad.fit` before a bad step is applied.

Per batch the watch checks the loss (a float) and, for each parameter, the
sum of its squared gradient entries (one dot product, or Python's hypot
for a dozen numbers or fewer): NaN or inf in a gradient makes that sum NaN
or inf. On a hit it replays the batch layer by
layer to name the first layer whose output or gradient went non-finite, puts
back buffers that the bad forward pass changed (BatchNorm's running
statistics), and raises :class:`minigrad.errors.DivergenceError`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from minigrad._typing import Array
from minigrad.errors import DivergenceError, InputError
from minigrad.layer import Layer, Parameter, indexed_leaves, rewind_generators
from minigrad.losses import Loss
from minigrad.optim.optimizer import Optimizer

if TYPE_CHECKING:
    from minigrad.callbacks import TrainState

SMALL = 12
"""Gradients of at most this many entries are checked in Python (see DivergenceWatch)."""


class DivergenceWatch:
    """Checks one training step at a time; raises before ``optimizer.step()``."""

    def __init__(self, model: Layer, loss: Loss, optimizer: Optimizer) -> None:
        self.model, self.loss_fn, self.optimizer = model, loss, optimizer
        self.params = model.parameters()
        self.buffers = model.buffers()
        self.saved = {name: array.copy() for name, array in self.buffers.items()}
        # the layer that receives the loss's gradient first (see Loss.train_step)
        leaves = indexed_leaves(model)
        self.entry = leaves[-1][1] if leaves else model
        self._flat = [self._flat_grad(p) for p in self.params]

    @staticmethod
    def _flat_grad(p: Parameter) -> tuple[Parameter, Array | None, Array, float]:
        """(p, the grad array seen, a 1-D view of it, a norm limit or 0).

        The check must cost little next to a step of a small net, where one
        numpy call is about a microsecond. For a gradient of at most
        SMALL entries the limit is sqrt(the dtype's largest number): Python's
        math.hypot over the entries beats any numpy call there, and
        ``norm <= limit`` holds exactly when the squares sum without overflow.
        Larger ones get 0 and one ndarray.dot of 1-D views (about 0.3 us;
        np.vdot costs 0.5 us). A grad that is not contiguous gets no view and
        None as the array seen, so that it always takes the careful path.
        """
        grad = p.grad
        if not grad.flags.c_contiguous:
            return p, None, grad, 0.0
        limit = math.sqrt(float(np.finfo(grad.dtype).max)) if grad.size <= SMALL else 0.0
        return p, grad, grad.reshape(-1), limit

    def before_step(self) -> None:
        """Remember the buffers, which the coming forward pass updates."""
        for name, array in self.buffers.items():
            np.copyto(self.saved[name], array)

    def loss(
        self, A: Array, X: Array, Y: Any, targets: Any, state: TrainState
    ) -> tuple[float, Array]:
        """(J, the gradient for the model) of this batch, or a DivergenceError if J is not finite.

        ``targets`` are Y as the loss's prepare_targets made them.
        """
        try:
            J, grad = self.loss_fn.train_step(A, targets, self.entry)
        except InputError:
            # a loss refuses NaN probabilities with an InputError: that is divergence too
            if not np.isfinite(A).all():
                self.fail(state, "the model output holds NaN or inf", X, Y)
            raise
        if not math.isfinite(J):
            self.fail(state, f"the loss is {J}", X, Y)
        return J, grad

    def gradients(self, X: Array, Y: Any, state: TrainState) -> None:
        """Refuse the step when any gradient holds NaN or inf.

        The sum of squares of a gradient's entries is NaN or inf exactly when
        an entry is (or when the squares overflow, a divergence too).
        """
        for p, grad, flat, limit in self._flat:
            if p.grad is not grad or not (
                math.hypot(*flat.tolist()) <= limit if limit else math.isfinite(flat.dot(flat))
            ):
                self._recheck(X, Y, state)
                return

    def _recheck(self, X: Array, Y: Any, state: TrainState) -> None:
        """The careful check: a layer may have put a new array in p.grad, or one is bad."""
        self._flat = [self._flat_grad(p) for p in self.params]
        if all(math.isfinite(np.vdot(p.grad, p.grad)) for p in self.params):
            return
        finite = all(np.isfinite(p.grad).all() for p in self.params)
        what = "the gradients are too large to square (their norm overflows)" if finite else (
            "a gradient holds NaN or inf"
        )
        self.fail(state, what, X, Y)

    def fail(self, state: TrainState, what: str, X: Array, Y: Any) -> None:
        """Put the buffers back, find the first bad layer, raise DivergenceError."""
        layer, where = first_non_finite(self.model, self.loss_fn, X, Y)
        for name, array in self.buffers.items():
            array[...] = self.saved[name]
        lr = self.optimizer.lr
        raise DivergenceError(
            f"Training diverged at epoch {state.epoch + 1}/{state.epochs}, batch "
            f"{state.batch + 1}/{state.n_batches}: {what}. "
            f"First non-finite value: {where}. The update was not applied, so the model keeps "
            f"its last finite weights. Try a lower learning rate: lr={lr:g} now, "
            f"so perhaps lr={lr / 10:g}.",
            epoch=state.epoch + 1, batch=state.batch + 1, layer=layer,
        )


def first_non_finite(model: Layer, loss: Loss, X: Array, Y: Any) -> tuple[str | None, str]:
    """Replay one batch layer by layer: (layer label, description) of the first NaN/inf.

    The forward outputs are checked in order, then the loss, then the
    gradients from the last layer back. Random generators (dropout) and the
    weights are left as they were.
    """
    leaves = _labelled_leaves(model)
    rewind = rewind_generators(leaf for _, leaf in leaves)
    try:
        with np.errstate(all="ignore"):
            return _replay(leaves, loss, X, Y)
    except Exception as err:  # the replay is a diagnosis; never mask the divergence
        return None, f"not found (replaying the batch failed: {type(err).__name__}: {err})"
    finally:
        rewind()


def _replay(
    leaves: list[tuple[str, Layer]], loss: Loss, X: Array, Y: Any
) -> tuple[str | None, str]:
    A = X
    for label, leaf in leaves:
        A = leaf.forward(A)
        if not np.isfinite(A).all():
            return label, f"the output of {label}"
    try:
        J = loss.forward(A, Y)
    except InputError as err:
        return None, f"the loss {loss!r} ({err})"
    if not math.isfinite(J):
        return None, f"the loss {loss!r} (every layer's output is finite)"
    dA = loss.backward()
    if not np.isfinite(dA).all():
        return None, f"the gradient of the loss {loss!r}"
    largest: tuple[float, str | None, str] = (0.0, None, "")
    for label, leaf in reversed(leaves):
        dA = leaf.backward(dA)
        for name, p in leaf.named_parameters():
            if not np.isfinite(p.grad).all():
                return label, f"the gradient d{name} of {label}"
            size = float(np.abs(p.grad).max(initial=0.0))
            if size > largest[0]:
                largest = (size, label, f"d{name} of {label}")
        if not np.isfinite(dA).all():
            return label, f"the input gradient of {label}"
    size, culprit, where = largest
    return culprit, f"none, but the largest gradient entry is {size:.3g} ({where})"


def _labelled_leaves(layer: Layer) -> list[tuple[str, Layer]]:
    return [
        (f"layer {index} ({_first_line(leaf)})" if index else f"the model ({_first_line(leaf)})",
         leaf)
        for index, leaf in indexed_leaves(layer)
    ]


def _first_line(layer: Layer) -> str:
    return repr(layer).splitlines()[0]
