"""gradcheck: compare a layer's analytic gradients with central differences in float64.

For a layer (or a whole Sequential) without a loss, the checked cost is a
fixed random linear function of the output, ``J = sum(G * forward(X)) / m``,
so that backward is fed ``dA = G`` (per example, no 1/m). Parameter
gradients are compared with ``dJ/dparam`` and the input gradient with
``m * dJ/dX``: the library's gradient convention.

Every leaf layer of a Sequential is also checked on its own input, so a wrong
derivative is pinned on the layer that has it, not only on the weights
upstream of it. Numerical derivatives use the five-point stencil

    f'(x) ~ [8 (f(x+h) - f(x-h)) - (f(x+2h) - f(x-2h))] / (12 h)

and a point where the one-sided slopes disagree (a kink, such as ReLU at 0)
is not held to the central difference: its analytic value must lie between
the left and right slopes, and it is counted separately. An entry that fails
is looked at again with smaller steps, since kinks one or two steps away
(many examples near ReLU's 0 while a bias moves) spoil every estimate at the
full step; a wrong derivative fails at every step.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from attrs import frozen

from minigrad._checks import as_float_batch, check_finite
from minigrad._typing import Array
from minigrad.errors import InputError
from minigrad.layer import Layer, indexed_leaves, is_container, leaves, rewind_generators
from minigrad.losses import Loss


@frozen
class GradCheckEntry:
    """The worst-matching entry of one checked array."""

    part: str  # "layer 1 (Tanh())", "loss BinaryCrossEntropy()" or "model"
    name: str  # "W", "b" (with a layer prefix in the model part), "X" or "A"
    index: tuple[int, ...]
    analytic: float
    numeric: float
    relative_error: float
    at_kink: bool = False

    def __str__(self) -> str:
        where = ", ".join(str(i) for i in self.index)
        kink = " at a kink: outside the one-sided slopes" if self.at_kink else ""
        return (
            f"{self.part}: d{self.name} wrong{kink} at [{where}]: analytic {self.analytic:.6g}, "
            f"numerical {self.numeric:.6g} (rel error {self.relative_error:.1e})"
        )


@frozen
class GradCheckResult:
    """What gradcheck found; truthy when every gradient matched."""

    entries: tuple[GradCheckEntry, ...]
    tolerance: float
    n_checked: int
    n_kinks: int

    @property
    def failures(self) -> tuple[GradCheckEntry, ...]:
        """Failing entries, the layers checked on their own first."""
        return tuple(e for e in self.entries if e.relative_error > self.tolerance)

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def max_relative_error(self) -> float:
        return max((e.relative_error for e in self.entries), default=0.0)

    @property
    def worst(self) -> GradCheckEntry | None:
        """The first failure (a layer's own check before the whole model), else the max."""
        if self.failures:
            return self.failures[0]
        return max(self.entries, key=lambda e: e.relative_error, default=None)

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        kinks = f", {self.n_kinks} at kinks" if self.n_kinks else ""
        head = (
            f"max relative error {self.max_relative_error:.1e} "
            f"(tolerance {self.tolerance:.0e}) over {self.n_checked} entries{kinks}"
        )
        if self.passed:
            return f"gradcheck passed: {head}"
        lines = [f"gradcheck FAILED: {head}"] + [f"  {e}" for e in self.failures]
        return "\n".join(lines)


def gradcheck(
    layer: Layer,
    X: Any,
    Y: Any = None,
    loss: Loss | None = None,
    *,
    h: float = 1e-4,
    tolerance: float = 1e-7,
    seed: int = 0,
    max_entries: int | None = None,
) -> GradCheckResult:
    """Check every parameter gradient and the input gradient of ``layer``.

    Args:
        layer: a layer or a Sequential; it is copied and converted to float64,
            so the original is left untouched.
        X: input batch, shape (n_in, m).
        Y, loss: check the model through this loss instead of a random
            linear function of its output (the loss's own gradient is
            checked too).
        h: finite-difference step.
        tolerance: the largest relative error that passes.
        seed: for the random G of the linear function.
        max_entries: check at most this many entries of each array, drawn at
            random (None checks them all).

    Returns a :class:`GradCheckResult`; ``str()`` of it is the report.

    >>> import numpy as np, minigrad as mg
    >>> X = np.random.default_rng(0).normal(size=(3, 5))
    >>> bool(mg.gradcheck(mg.Dense(3, 2, rng=0), X))
    True
    """
    if (Y is None) != (loss is None):
        raise ValueError("gradcheck: pass Y and loss together, or neither")
    model = copy.deepcopy(layer)
    if model.dtype is not None and model.dtype != np.float64:
        model.astype(np.float64)
    several = isinstance(X, list | tuple | dict)
    inputs = list(X.values()) if isinstance(X, dict) else list(X) if several else [X]
    X64 = [as_float_batch("gradcheck", X_i, np.dtype(np.float64), "X") for X_i in inputs]
    for X_i in X64:
        check_finite("gradcheck", X_i, "X")
    loss = copy.deepcopy(loss)
    rng = np.random.default_rng(seed)
    pick = np.random.default_rng(seed + 1)
    checker = _Checker(h=h, pick=pick, max_entries=max_entries, tolerance=tolerance)
    reset = rewind_generators(leaves(model))

    def model_input() -> Any:
        return X64 if several else X64[0]

    # each leaf on the input it received in the model, so a wrong derivative is pinned
    # on the leaf that has it (a leaf used twice in a graph is checked at each use)
    reset()
    _, trace = model.forward_trace(model_input())
    labels = _labels(model)
    for leaf, A_in, out in trace:
        G: list[Array] = [rng.standard_normal(A.shape) for A in _as_list(out)]
        _check_part(checker, labels[id(leaf)], leaf, A_in, G, reset)

    m = X64[0].shape[-1]
    reset()
    outputs = _as_list(model.forward(model_input()))
    if loss is not None:
        if len(outputs) != 1:
            raise ValueError("gradcheck: a model with several outputs is checked without a loss")
        A_out = outputs[0].copy()
        J0 = loss.forward(A_out, Y)
        dA = loss.backward().copy()
        checker.check(
            f"loss {loss!r}", "A", A_out, dA, m, lambda: loss.forward(A_out, Y), abs(J0)
        )
        if is_container(model):
            _check_model(checker, model, X64, several, lambda out: loss.forward(out, Y),
                         lambda: loss.backward(), reset)
    elif is_container(model):
        Gs: list[Array] = [rng.standard_normal(A.shape) for A in outputs]

        _check_model(checker, model, X64, several, lambda out: _linear(Gs, out, m),
                     lambda: Gs if len(Gs) > 1 else Gs[0], reset)
    return GradCheckResult(
        entries=tuple(checker.entries),
        tolerance=tolerance,
        n_checked=checker.n_checked,
        n_kinks=checker.n_kinks,
    )


def _linear(G: list[Array], out: Any, m: int) -> float:
    """The checked cost of an output without a loss: J = sum_k sum(G_k * A_k) / m."""
    total = 0.0
    for G_k, A_k in zip(G, _as_list(out), strict=True):
        total += float(np.vdot(G_k, A_k))
    return total / m


def _as_list(value: Any) -> list[Array]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _check_part(
    checker: _Checker,
    label: str,
    leaf: Layer,
    A_in: Any,
    G: list[Array],
    reset: Callable[[], None],
) -> None:
    several = isinstance(A_in, list | tuple)
    ins = [A.copy() for A in _as_list(A_in)]
    m: int = ins[0].shape[-1]
    arg = ins if several else ins[0]

    def cost() -> float:
        reset()
        return _linear(G, leaf.forward(arg), m)

    reset()
    out = leaf.forward(arg)
    scale = sum(_linear_scale(g, A, m) for g, A in zip(G, _as_list(out), strict=True))
    d_in = leaf.backward(G if len(G) > 1 else G[0])
    d_ins = [d.copy() for d in _as_list(d_in)]
    grads = [(name, p.value, p.grad.copy()) for name, p in leaf.named_parameters()]
    for name, value, grad in grads:
        checker.check(label, name, value, grad, 1, cost, scale)
    for i, (A, dA) in enumerate(zip(ins, d_ins, strict=True)):
        checker.check(label, f"X{i + 1}" if several else "X", A, dA, m, cost, scale)


def _check_model(
    checker: _Checker,
    model: Layer,
    X: list[Array],
    several: bool,
    cost_of: Callable[[Any], float],
    dA_of: Callable[[], Any],
    reset: Callable[[], None],
) -> None:
    m = X[0].shape[-1]
    X = [X_i.copy() for X_i in X]
    arg = X if several else X[0]

    def cost() -> float:
        reset()
        return cost_of(model.forward(arg))

    J0 = cost()
    dX = [d.copy() for d in _as_list(model.backward(dA_of()))]
    labels = _labels(model)
    grads = [
        (f"model, {labels[id(leaf)]}", name, p.value, p.grad.copy())
        for leaf in leaves(model)
        for name, p in leaf.named_parameters()
    ]
    for part, name, value, grad in grads:
        checker.check(part, name, value, grad, 1, cost, abs(J0) + 1e-3, composite=True)
    for i, (X_i, dX_i) in enumerate(zip(X, dX, strict=True)):
        checker.check("model", f"X{i + 1}" if several else "X", X_i, dX_i, m, cost,
                      abs(J0) + 1e-3, composite=True)


def _linear_scale(G: Array, out: Array, m: int) -> float:
    """The size of the terms summed into J: what its rounding error scales with."""
    return float(np.abs(G * out).sum()) / m


class _Checker:
    """Runs the finite differences and keeps the worst entry of each array."""

    def __init__(
        self, h: float, pick: np.random.Generator, max_entries: int | None, tolerance: float
    ) -> None:
        self.h = h
        self.pick = pick
        self.max_entries = max_entries
        self.tolerance = tolerance
        self.entries: list[GradCheckEntry] = []
        self.n_checked = 0
        self.n_kinks = 0
        self.n_part_kinks = 0  # kinks met by the layers' (and the loss's) own checks

    def check(
        self,
        part: str,
        name: str,
        x: Array,
        analytic: Array,
        mult: float,
        cost: Callable[[], float],
        scale: float,
        composite: bool = False,
    ) -> None:
        """Compare ``analytic`` with ``mult * dJ/dx``, perturbing ``x`` in place.

        ``composite``: the cost runs through a whole model. Where layers' inputs
        sit exactly on kinks (an all-zero example with zero biases puts every
        ReLU of the first layer at 0, and what follows it too), the chain rule's
        choice of g'(0) per unit need not match any one-sided slope of the
        model, even where the model is smooth. So once the layers' own checks
        (run first, and judged at their kinks) have met a kink, a model entry
        that fails is counted as a kink rather than blamed.
        """
        floor = max(1e-4 * scale, 1e-12) * mult
        f0 = cost()
        worst: GradCheckEntry | None = None
        for idx in self._indices(x.shape):
            a = float(analytic[idx])
            slopes = self._slopes(x, idx, f0, cost, floor / mult)
            if slopes is None:  # no step stays inside the function's domain
                continue
            entry, at_kink = _compare(part, name, idx, a, [mult * s for s in slopes], floor)
            if entry is not None and entry.relative_error > self.tolerance:
                entry, at_kink = self._second_look(x, idx, f0, cost, mult, floor, (entry, at_kink))
                if composite and (at_kink or self.n_part_kinks):
                    entry, at_kink = None, True
            self.n_checked += 1
            self.n_kinks += at_kink
            if not composite:
                self.n_part_kinks += at_kink
            if entry is not None and (worst is None or entry.relative_error > worst.relative_error):
                worst = entry
        if worst is not None:
            self.entries.append(worst)

    def _second_look(
        self,
        x: Array,
        idx: tuple[int, ...],
        f0: float,
        cost: Callable[[], float],
        mult: float,
        floor: float,
        found: tuple[GradCheckEntry, bool],
    ) -> tuple[GradCheckEntry | None, bool]:
        """Retry a failing entry with steps h/4 ... h/256 before blaming the layer.

        Kinks a step or two away (several examples near ReLU's 0 while a bias
        moves) spoil every estimate at the full step but not at a smaller one.
        A wrong derivative fails at every step; the closest match is reported.
        """
        best = found
        entry = found[0]
        h = self.h
        for _ in range(4):
            h /= 4.0
            slopes = self._stencil(x, idx, f0, cost, h)
            if slopes is None:
                continue
            retry, at_kink = _compare(
                entry.part, entry.name, idx, entry.analytic, [mult * s for s in slopes], floor
            )
            if retry is None or retry.relative_error <= self.tolerance:
                return retry, at_kink
            if retry.relative_error < best[0].relative_error:
                best = (retry, at_kink)
        return best

    def _slopes(
        self, x: Array, idx: tuple[int, ...], f0: float, cost: Callable[[], float], floor: float
    ) -> tuple[float, float, float] | None:
        """Central (five-point), left and right slopes of the cost along ``x[idx]``.

        When a step leaves the function's domain (a probability close to 0 or
        1 fed to a loss), or the one-sided slopes disagree (a kink, or a curve
        too sharp for the step, such as -log(A) at A = 1e-3), shrink the step
        until every point is valid and the central estimate no longer changes
        when the step is quartered. At a true kink the one-sided slopes stay
        apart however small the step; if the estimate never settles there,
        the slopes of the full step are kept.
        """
        h = self.h
        first = self._stencil(x, idx, f0, cost, h)
        if first is not None and not _apart(first[1], first[2], floor):
            return first
        previous = first
        for _ in range(12):
            h /= 10.0 if previous is None else 4.0
            current = self._stencil(x, idx, f0, cost, h)
            if current is None:
                continue
            if previous is not None and abs(current[0] - previous[0]) <= 1e-9 * max(
                abs(current[0]), floor
            ):
                return current
            previous = current
        return first if first is not None else previous

    @staticmethod
    def _stencil(
        x: Array, idx: tuple[int, ...], f0: float, cost: Callable[[], float], h: float
    ) -> tuple[float, float, float] | None:
        original = x[idx]
        values = []
        try:
            for step in (-2.0, -1.0, 1.0, 2.0):
                x[idx] = original + step * h
                values.append(cost())
        except InputError:
            return None
        finally:
            x[idx] = original
        fm2, fm1, fp1, fp2 = values
        central = (8.0 * (fp1 - fm1) - (fp2 - fm2)) / (12.0 * h)
        left = (3.0 * f0 - 4.0 * fm1 + fm2) / (2.0 * h)
        right = (-3.0 * f0 + 4.0 * fp1 - fp2) / (2.0 * h)
        return central, left, right

    def _indices(self, shape: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
        size = int(np.prod(shape))
        flat: list[int] | range = range(size)
        if self.max_entries is not None and size > self.max_entries:
            flat = sorted(int(i) for i in self.pick.choice(size, self.max_entries, replace=False))
        for i in flat:
            yield tuple(int(k) for k in np.unravel_index(i, shape))


def _compare(
    part: str, name: str, idx: tuple[int, ...], a: float, slopes: list[float], floor: float
) -> tuple[GradCheckEntry | None, bool]:
    """The entry for analytic value ``a``, None when a kink admits it; and whether it is one."""
    numeric, left, right = slopes
    if _apart(left, right, floor):
        low, high = min(left, right), max(left, right)
        slack = 1e-3 * (high - low) + floor * 1e-3
        if low - slack <= a <= high + slack:
            return None, True
        nearest = low if a < low else high
        error = abs(a - nearest) / max(abs(a), abs(nearest), floor)
        return GradCheckEntry(part, name, idx, a, nearest, error, at_kink=True), True
    # where only the second derivative jumps (ELU at 0), the central difference is
    # off by O(h) but the slope from the smooth side is not: take the closest estimate
    numeric = min((numeric, left, right), key=lambda s: abs(a - s))
    error = abs(a - numeric) / max(abs(a), abs(numeric), floor)
    return GradCheckEntry(part, name, idx, a, numeric, error), False


def _apart(left: float, right: float, floor: float) -> bool:
    """Whether the one-sided slopes disagree: a kink, or a curve too sharp for the step."""
    return abs(right - left) > 1e-5 * max(abs(left), abs(right), floor)


def _labels(layer: Layer) -> dict[int, str]:
    """How the report names each leaf: ``layer 2 (Tanh())``, or the leaf itself alone."""
    return {
        id(leaf): f"layer {index} ({leaf!r})" if index else repr(leaf)
        for index, leaf in indexed_leaves(layer)
    }
