"""Catching divergence in :func:`minigrad.fit` before a bad step is applied.

Per batch the watch checks the loss (a float), for each parameter the sum
of its squared gradient entries (one dot product, or Python's hypot for a
dozen numbers or fewer: NaN or inf in a gradient makes that sum NaN or
inf; skipped for an optimizer whose update carries a bad gradient through,
``Optimizer.SHOWS_BAD_GRADIENTS``, whose refused step is then traced back to
the gradients), and the sum of each buffer (BatchNorm's running statistics, which a
forward pass updates and which can overflow while the loss stays finite).
On a hit it replays the batch to name the first layer whose output or
gradient went non-finite, puts back the buffers, and raises
:class:`minigrad.errors.DivergenceError`. The optimizer's step is checked
too (:meth:`minigrad.optim.Optimizer.try_step`): an update that would write
NaN or inf (a learning rate of 1e39 in float32) is not applied.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from minigrad._fit_checks import Objective, Step
from minigrad._typing import Array
from minigrad.errors import DivergenceError, InputError
from minigrad.layer import Layer, Parameter, indexed_leaves, leaves, rewind_generators
from minigrad.optim.optimizer import Optimizer

if TYPE_CHECKING:
    from minigrad.callbacks import TrainState

SMALL = 12
"""Gradients of at most this many entries are checked in Python (see DivergenceWatch)."""


class DivergenceWatch:
    """Checks one training step at a time; raises before ``optimizer.step()``."""

    def __init__(self, model: Layer, objective: Objective, optimizer: Optimizer) -> None:
        self.model, self.objective, self.optimizer = model, objective, optimizer
        self.params = model.parameters()
        self.buffers = model.buffers()
        self.saved = {name: array.copy() for name, array in self.buffers.items()}
        self._flat = [self._flat_grad(p) for p in self.params]
        # an optimizer whose update shows a bad gradient is checked once, in try_step
        self.check_gradients = not optimizer.shows_bad_gradients()
        self._batch: tuple[list[Array], list[Any], TrainState] | None = None
        self._on_miss = None if self.check_gradients else self._recheck_batch

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

    def step(
        self, step: Step, X: list[Array], Y: list[Any], state: TrainState
    ) -> tuple[float, list[Array]]:
        """One training step: run ``step`` (forward, loss, backward), refuse a non-finite
        loss or gradient, then ``optimizer.step()`` unless it would write NaN or inf.

        The buffers, which the forward pass updates, are remembered first, so that a
        refused step puts them back.
        """
        if self.buffers:
            for name, array in self.buffers.items():
                np.copyto(self.saved[name], array)
        try:
            J, outputs = step(X, Y)
        except InputError:
            # a loss refuses NaN probabilities with an InputError: that is divergence too
            outputs = _as_list(self.model.infer(X[0] if len(X) == 1 else X))
            if not all(np.isfinite(A).all() for A in outputs):
                self.fail(state, "the model output holds NaN or inf", X, Y)
            raise
        if not math.isfinite(J):
            self.fail(state, f"the loss is {J}", X, Y)
        if self.check_gradients:
            self.gradients(X, Y, state)
        for name, array in self.buffers.items() if self.buffers else ():
            if not math.isfinite(float(np.add.reduce(array, axis=None))):
                self.fail(state, f"the running statistic {name} overflowed", X, Y,
                          where=self._buffer_owner(array, X), hint=(
                              "The data reaching that layer is too large for "
                              f"{array.dtype}: scale the inputs (standardize X), or train in "
                              "float64; if it grew during training, lower the learning rate"))
        self.apply(X, Y, state)
        return J, outputs

    def apply(self, X: list[Array], Y: list[Any], state: TrainState) -> None:
        """``optimizer.step()``, refused (nothing changed) when it would write NaN or inf."""
        # with the gradients unchecked, a miss of the update's check may come from them
        self._batch = (X, Y, state)
        bad = self.optimizer._try_step(self._on_miss)
        if bad is not None:
            owner = next((label for label, p in _labelled_parameters(self.model)
                          if p is bad), repr(bad))
            self.fail(state, f"the update {type(self.optimizer).__name__} computed holds NaN or "
                      "inf (or would overflow the weights)", X, Y,
                      where=f"the update of {owner}")

    def _buffer_owner(self, array: Array, X: list[Array]) -> str:
        """The layer that owns buffer ``array``, and how large its input was."""
        for _, leaf in indexed_leaves(self.model):
            for name, own in leaf.buffers().items():
                if own is array:
                    label = _labels(self.model)[id(leaf)]
                    return f"{name} of {label}{_input_size(self.model, leaf, X)}"
        return "a buffer"

    def gradients(self, X: list[Array], Y: list[Any], state: TrainState) -> None:
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

    def _recheck_batch(self) -> None:
        """:meth:`_recheck` of the batch being applied."""
        assert self._batch is not None
        self._recheck(*self._batch)

    def _recheck(self, X: list[Array], Y: list[Any], state: TrainState) -> None:
        """The careful check: a layer may have put a new array in p.grad, or one is bad."""
        self._flat = [self._flat_grad(p) for p in self.params]
        if all(math.isfinite(np.vdot(p.grad, p.grad)) for p in self.params):
            return
        finite = all(np.isfinite(p.grad).all() for p in self.params)
        what = "the gradients are too large to square (their norm overflows)" if finite else (
            "a gradient holds NaN or inf"
        )
        self.fail(state, what, X, Y)

    def fail(
        self, state: TrainState, what: str, X: list[Array], Y: list[Any],
        where: str | None = None, hint: str | None = None,
    ) -> None:
        """Put the buffers back, find the first bad layer, raise DivergenceError."""
        layer = None
        if where is None:
            layer, where = first_non_finite(self.model, self.objective, X, Y)
        for name, array in self.buffers.items():
            array[...] = self.saved[name]
        lr = self.optimizer.lr
        if hint is None:
            hint = f"Try a lower learning rate: lr={lr:g} now, so perhaps lr={lr / 10:g}"
        raise DivergenceError(
            f"Training diverged at epoch {state.epoch + 1}/{state.epochs}, batch "
            f"{state.batch + 1}/{state.n_batches}: {what}. "
            f"First non-finite value: {where}. The update was not applied, so the model keeps "
            f"its last finite weights and the optimizer its state. {hint}.",
            epoch=state.epoch + 1, batch=state.batch + 1, layer=layer,
        )


def _as_list(value: Any) -> list[Array]:
    return list(value) if isinstance(value, list) else [value]


def first_non_finite(
    model: Layer, objective: Objective, X: list[Array], Y: list[Any]
) -> tuple[str | None, str]:
    """Replay one batch: (layer label, description) of the first NaN/inf.

    The leaves' outputs are checked in the order they ran, then the loss,
    then the parameter gradients from the last leaf back. Random generators
    (dropout) and the weights are left as they were.
    """
    labels = _labels(model)
    rewind = rewind_generators(leaves(model))
    try:
        with np.errstate(all="ignore"):
            return _replay(model, labels, objective, X, Y)
    except Exception as err:  # the replay is a diagnosis; never mask the divergence
        return None, f"not found (replaying the batch failed: {type(err).__name__}: {err})"
    finally:
        rewind()


def _replay(
    model: Layer, labels: dict[int, str], objective: Objective, X: list[Array], Y: list[Any]
) -> tuple[str | None, str]:
    outputs, trace = model.forward_trace(X[0] if len(X) == 1 else X)
    for leaf, _, out in trace:
        if not all(np.isfinite(A).all() for A in _as_list(out)):
            return labels[id(leaf)], f"the output of {labels[id(leaf)]}"
    losses = ", ".join(repr(loss) for loss in objective.losses)
    try:
        J = objective.cost(_as_list(outputs), Y)
    except InputError as err:
        return None, f"the loss {losses} ({err})"
    if not math.isfinite(J):
        return None, f"the loss {losses} (every layer's output is finite)"
    dA = objective.gradients()
    if not all(np.isfinite(d).all() for d in dA):
        return None, f"the gradient of the loss {losses}"
    # a chain (each leaf reads the one before) is replayed leaf by leaf, so that an input
    # gradient going bad is seen where it happens; any other graph runs its backward whole
    chain = len(dA) == 1 and all(trace[i][1] is trace[i - 1][2] for i in range(1, len(trace)))
    if not chain:
        model.backward(dA if len(dA) > 1 else dA[0])
    grad = dA[0]
    largest: tuple[float, str | None, str] = (0.0, None, "")
    for leaf, _, _ in reversed(trace):
        label = labels[id(leaf)]
        if chain:
            grad = leaf.backward(grad)
        for name, p in leaf.named_parameters():
            if not np.isfinite(p.grad).all():
                return label, f"the gradient d{name} of {label}"
            size = float(np.abs(p.grad).max(initial=0.0))
            if size > largest[0]:
                largest = (size, label, f"d{name} of {label}")
        if chain and not np.isfinite(grad).all():
            return label, f"the input gradient of {label}"
    size, culprit, where = largest
    return culprit, f"none, but the largest gradient entry is {size:.3g} ({where})"


def _labelled_parameters(model: Layer) -> list[tuple[str, Parameter]]:
    labels = _labels(model)
    return [(f"{name} of {labels[id(leaf)]}", p)
            for _, leaf in indexed_leaves(model) for name, p in leaf.named_parameters()]


def _input_size(model: Layer, leaf: Layer, X: list[Array]) -> str:
    """", whose input reaches |x| = ..." from a replay of the batch, or "" if it fails."""
    rewind = rewind_generators(leaves(model))
    saved = {name: array.copy() for name, array in model.buffers().items()}
    try:
        with np.errstate(all="ignore"):
            _, trace = model.forward_trace(X[0] if len(X) == 1 else X)
        for ran, A_in, _ in trace:
            if ran is leaf:
                return f", whose input reaches |x| = {float(np.abs(A_in).max()):.3g}"
    except Exception:  # a diagnosis only
        pass
    finally:
        rewind()
        for name, array in model.buffers().items():
            array[...] = saved[name]
    return ""


def _labels(layer: Layer) -> dict[int, str]:
    return {
        id(leaf): f"layer {index} ({_first_line(leaf)})" if index
        else f"the model ({_first_line(leaf)})"
        for index, leaf in indexed_leaves(layer)
    }


def _first_line(layer: Layer) -> str:
    return repr(layer).splitlines()[0]
