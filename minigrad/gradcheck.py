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
full step; a wrong derivative fails at every step. Near the edge of a
function's domain (a probability within 1e-8 of 0 or 1 fed to a loss) only
small steps are valid. Everywhere, a difference within what rounding of the
cost can explain (about 4 eps |J| / h) is not held against the layer: the
tolerance judges the difference beyond it, and the report counts the entries
over the tolerance only by rounding (tiny gradients, such as a model's dX far
from the loss, can be).

The report names each wrong gradient as the notes do (``dZ1`` for the input
of the activation after the first Dense, ``dW2``), says how many of its
entries are wrong and, for an activation, for which values of Z. The whole
model's failures that follow from a layer's own are listed as consequences.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np
from attrs import Factory, evolve, field, frozen

from minigrad._checks import as_float_batch, check_finite
from minigrad._typing import Array
from minigrad.activations import Activation
from minigrad.batchnorm import BatchNorm
from minigrad.dense import Dense
from minigrad.equations import Tape, Var
from minigrad.errors import InputError
from minigrad.layer import Layer, indexed_leaves, is_container, leaves, rewind_generators
from minigrad.losses import Loss


@frozen
class GradCheckEntry:
    """The worst-matching entry of one checked array, and how many of its entries are wrong."""

    part: str  # "layer 1 (Tanh())", "loss BinaryCrossEntropy()" or "model, layer 0 (...)"
    name: str  # the notes' name of what the gradient is of: "W1", "b1", "Z1", "A1", "X" or "A"
    index: tuple[int, ...]
    analytic: float
    numeric: float
    relative_error: float
    at_kink: bool = False
    n_wrong: int = 0  # entries of this array whose gradient is wrong
    n_entries: int = 0  # entries of this array that were compared
    where: str = ""  # for an activation's dZ: the Z values where it is wrong
    composite: bool = False  # checked through the whole model, not the layer on its own
    # the relative error of the difference beyond what rounding of the cost explains:
    # what the tolerance judges (relative_error itself when no rounding is allowed for)
    excess: float = field(default=Factory(lambda e: e.relative_error, takes_self=True))

    def __str__(self) -> str:
        at = ", ".join(str(i) for i in self.index)
        kink = " at a kink (outside the one-sided slopes)" if self.at_kink else ""
        numbers = (
            f"analytic {self.analytic:.6g}, numerical {self.numeric:.6g} "
            f"(rel error {self.relative_error:.1e})"
        )
        if not self.n_entries:
            return f"{self.part}: d{self.name} wrong{kink} at [{at}]: {numbers}"
        where = f", {self.where}" if self.where else ""
        return (
            f"{self.part}: d{self.name} wrong at {self.n_wrong} of {self.n_entries} "
            f"entries{where}; worst{kink} at [{at}]: {numbers}"
        )


@frozen
class GradCheckResult:
    """What gradcheck found; truthy when every gradient matched.

    ``str()`` is the report; in a notebook it shows as a small table.
    """

    entries: tuple[GradCheckEntry, ...]
    tolerance: float
    n_checked: int
    n_kinks: int
    n_rounding: int = 0  # entries over the tolerance only by what rounding explains

    @property
    def failures(self) -> tuple[GradCheckEntry, ...]:
        """Failing entries, the layers checked on their own first."""
        return tuple(e for e in self.entries if e.excess > self.tolerance)

    @property
    def causes(self) -> tuple[GradCheckEntry, ...]:
        """Failures of a layer (or the loss) checked on its own: the gradients to fix."""
        return tuple(e for e in self.failures if not e.composite)

    @property
    def consequences(self) -> tuple[GradCheckEntry, ...]:
        """Failures of the whole model that follow from :attr:`causes`.

        A wrong gradient flows back into every gradient before it, so once a
        layer fails on its own, the model's checks upstream of it fail too.
        Without a cause (a layer that fails only in the model) they are causes.
        """
        if not self.causes:
            return ()
        return tuple(e for e in self.failures if e.composite)

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

    def _head(self) -> str:
        kinks = f", {self.n_kinks} at kinks" if self.n_kinks else ""
        if self.n_rounding:
            kinks += f", {self.n_rounding} within the cost's rounding"
        return (
            f"max relative error {self.max_relative_error:.1e} "
            f"(tolerance {self.tolerance:.0e}) over {self.n_checked} entries{kinks}"
        )

    def _consequence_line(self) -> str:
        names = [f"d{e.name}" for e in self.consequences]
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        verb = "is" if len(names) == 1 else "are"
        return (
            f"as a consequence of the above, not a further error: the whole model's {listed} "
            f"{verb} wrong too (backprop computes them from the wrong gradient)"
        )

    def __str__(self) -> str:
        if self.passed:
            return f"gradcheck passed: {self._head()}"
        shown = self.causes or self.failures
        lines = [f"gradcheck FAILED: {self._head()}"] + [f"  {e}" for e in shown]
        if self.consequences:
            lines.append(f"  {self._consequence_line()}")
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython's plain-text display: the report."""
        printer.text(str(self))

    def _repr_html_(self) -> str:
        """Jupyter's display: the verdict, then one row per wrong gradient."""
        from html import escape

        color = "#1a7f37" if self.passed else "#cf222e"
        verdict = "passed" if self.passed else "FAILED"
        html = [f'<p><b style="color:{color}">gradcheck {verdict}</b>: {escape(self._head())}</p>']
        if self.passed:
            return html[0]
        html.append("<table><thead><tr><th>where</th><th>gradient</th><th>wrong</th>"
                    "<th>Z where wrong</th><th>worst entry</th><th>analytic</th>"
                    "<th>numerical</th><th>rel error</th></tr></thead><tbody>")
        for e in self.causes or self.failures:
            at = ", ".join(str(i) for i in e.index)
            cells = [e.part, f"d{e.name}", f"{e.n_wrong} of {e.n_entries}", e.where,
                     f"[{at}]" + (" (kink)" if e.at_kink else ""), f"{e.analytic:.6g}",
                     f"{e.numeric:.6g}", f"{e.relative_error:.1e}"]
            html.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>")
        html.append("</tbody></table>")
        if self.consequences:
            html.append(f"<p>{escape(self._consequence_line())}</p>")
        return "".join(html)


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
    checker.name_layers(model, X64[0].shape[:-1])
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
        n_rounding=checker.n_rounding,
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
        checker.check(label, checker.parameter_name(leaf, name), value, grad, 1, cost, scale)
    for i, (A, dA) in enumerate(zip(ins, d_ins, strict=True)):
        name = f"{checker.input_name(leaf)}[{i}]" if several else checker.input_name(leaf)
        checker.check(label, name, A, dA, m, cost, scale, describe_z=isinstance(leaf, Activation))


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
        (f"model, {labels[id(leaf)]}", checker.parameter_name(leaf, name), p.value, p.grad.copy())
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


class _Slopes(NamedTuple):
    """Central (five-point), left and right slopes of the cost, and the step they used."""

    central: float
    left: float
    right: float
    h: float
    wobble: float = 0.0  # |f(x-2h) - 4 f(x-h) + 6 f(x) - 4 f(x+h) + f(x+2h)|: rounding, seen


class _Checker:
    """Runs the finite differences; keeps the worst entry of each array and counts the wrong."""

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
        self.n_rounding = 0  # over the tolerance only by what rounding of the cost explains
        self.names: dict[int, tuple[str, str]] = {}  # id(leaf): (its input's name, its level)

    def name_layers(self, model: Layer, shape: tuple[int, ...]) -> None:
        """Learn the notes' names (Z1, A1, W2 ...) of each leaf's input, as explain() writes."""
        try:
            tape = Tape(m=None, inputs=(Var("X", shape),))
            tape.reserve("X")
            tape.reserve("Y")
            model.explain_lines(tape)
        except Exception:  # a custom layer's own lines may fail: names are only a nicety here
            return
        for step in tape.steps:
            level = re.match(r"[A-Za-z]+(\d+)", step.output.name)
            self.names[id(step.layer)] = (step.inputs[0].name, level.group(1) if level else "")

    def input_name(self, leaf: Layer) -> str:
        """What the leaf's input gradient is of: ``Z1`` for an activation after a Dense."""
        received = self.names.get(id(leaf), ("X", ""))[0]
        return "Z" if received == "X" and isinstance(leaf, Activation) else received

    def parameter_name(self, leaf: Layer, name: str) -> str:
        """``W2`` for the W of the notes' layer 2 (Dense and BatchNorm number theirs)."""
        level = self.names.get(id(leaf), ("X", ""))[1]
        return f"{name}{level}" if isinstance(leaf, Dense | BatchNorm) else name

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
        describe_z: bool = False,
    ) -> None:
        """Compare ``analytic`` with ``mult * dJ/dx``, perturbing ``x`` in place.

        ``composite``: the cost runs through a whole model. Where layers' inputs
        sit exactly on kinks (an all-zero example with zero biases puts every
        ReLU of the first layer at 0, and what follows it too), the chain rule's
        choice of g'(0) per unit need not match any one-sided slope of the
        model, even where the model is smooth. So once the layers' own checks
        (run first, and judged at their kinks) have met a kink, a model entry
        that fails is counted as a kink rather than blamed.

        ``describe_z``: ``x`` is an activation's input Z; the entry then says for
        which values of Z the gradient is wrong.
        """
        floor = max(1e-4 * scale, 1e-12) * mult
        f0 = cost()
        # rounding of the cost (a sum of terms of size ``scale``) in a slope of step h
        rounding = 4.0 * _EPS * max(abs(f0), scale) * mult
        worst: GradCheckEntry | None = None
        z_wrong: list[float] = []
        z_right: list[float] = []
        for idx in self._indices(x.shape):
            a = float(analytic[idx])
            z = float(x[idx])
            slopes = self._slopes(x, idx, f0, cost, floor / mult, rounding / mult)
            if slopes is None:  # no step stays inside the function's domain
                continue
            entry, at_kink = _compare(part, name, idx, a, slopes, mult, floor, rounding)
            if entry is not None and entry.excess > self.tolerance:
                entry, at_kink = self._second_look(
                    x, idx, f0, cost, mult, floor, rounding, (entry, at_kink)
                )
                if composite and (at_kink or self.n_part_kinks):
                    entry, at_kink = None, True
            self.n_checked += 1
            self.n_kinks += at_kink
            if not composite:
                self.n_part_kinks += at_kink
            wrong = entry is not None and entry.excess > self.tolerance
            if entry is not None and not wrong and entry.relative_error > self.tolerance:
                self.n_rounding += 1
            (z_wrong if wrong else z_right).append(z)
            if entry is not None and (worst is None or _rank(entry) > _rank(worst)):
                worst = entry
        if worst is not None:
            where = _where_wrong(z_wrong, z_right) if describe_z and z_wrong else ""
            self.entries.append(evolve(
                worst, n_wrong=len(z_wrong), n_entries=len(z_wrong) + len(z_right), where=where,
                composite=composite,
            ))

    def _second_look(
        self,
        x: Array,
        idx: tuple[int, ...],
        f0: float,
        cost: Callable[[], float],
        mult: float,
        floor: float,
        rounding: float,
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
                entry.part, entry.name, idx, entry.analytic, slopes, mult, floor, rounding
            )
            if retry is None or retry.excess <= self.tolerance:
                return retry, at_kink
            if retry.excess < best[0].excess:
                best = (retry, at_kink)
        return best

    def _slopes(
        self,
        x: Array,
        idx: tuple[int, ...],
        f0: float,
        cost: Callable[[], float],
        floor: float,
        rounding: float,
    ) -> _Slopes | None:
        """Central (five-point), left and right slopes of the cost along ``x[idx]``.

        When a step leaves the function's domain (a probability close to 0 or
        1 fed to a loss), or the one-sided slopes disagree (a kink, or a curve
        too sharp for the step, such as -log(A) at A = 1e-3), shrink the step
        until every point is valid and the central estimate no longer changes
        when the step is quartered. At a true kink the one-sided slopes stay
        apart however small the step; if the estimate never settles there,
        the slopes of the full step are kept. Where the estimate settles and
        the one-sided slopes close in as the step shrinks, the point is smooth,
        not a kink: only the central estimate is kept. Near the edge of the domain,
        where only small steps are valid and rounding grows as the step
        shrinks, the estimate that changed least is kept. No step goes below
        1e-9 |x|: float64 resolves x + h to about 1e-16 |x|.
        """
        h = self.h
        first = self._stencil(x, idx, f0, cost, h)
        if first is not None and not _apart(first, floor, rounding):
            return first
        previous = first
        steadiest: tuple[float, _Slopes] | None = None
        smallest = 1e-9 * abs(float(x[idx]))
        for _ in range(12):
            h /= 10.0 if previous is None else 4.0
            if h < smallest:
                break
            current = self._stencil(x, idx, f0, cost, h)
            if current is None:
                continue
            if previous is not None:
                change = abs(current.central - previous.central)
                if change <= 1e-9 * max(abs(current.central), floor):
                    gap, before = current.right - current.left, previous.right - previous.left
                    if abs(gap) < 0.5 * abs(before):
                        # the one-sided slopes close in as the step shrinks (at a kink they
                        # stay apart): a smooth curve, sharp for the step, as the central
                        # estimate says
                        return current._replace(left=current.central, right=current.central)
                    return current
                if steadiest is None or change < steadiest[0]:
                    steadiest = (change, current)
            previous = current
        if first is not None:
            return first
        return steadiest[1] if steadiest is not None else previous

    @staticmethod
    def _stencil(
        x: Array, idx: tuple[int, ...], f0: float, cost: Callable[[], float], h: float
    ) -> _Slopes | None:
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
        wobble = abs(fm2 - 4.0 * fm1 + 6.0 * f0 - 4.0 * fp1 + fp2)
        return _Slopes(central, left, right, h, wobble)

    def _indices(self, shape: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
        size = int(np.prod(shape))
        flat: list[int] | range = range(size)
        if self.max_entries is not None and size > self.max_entries:
            flat = sorted(int(i) for i in self.pick.choice(size, self.max_entries, replace=False))
        for i in flat:
            yield tuple(int(k) for k in np.unravel_index(i, shape))


_EPS = float(np.finfo(np.float64).eps)


def _compare(
    part: str,
    name: str,
    idx: tuple[int, ...],
    a: float,
    slopes: _Slopes,
    mult: float,
    floor: float,
    rounding: float,
) -> tuple[GradCheckEntry | None, bool]:
    """The entry for analytic value ``a``, None when a kink admits it; and whether it is one.

    ``rounding / h`` is what rounding of the cost can put into a slope of step
    h: a difference that small is no evidence against ``a``, so the relative
    error is that of the difference beyond it. It matters for tiny gradients
    (a model's dX far from the loss) and for the small steps taken near the
    edge of a domain; elsewhere it is far below the tolerance.
    """
    noise = rounding / slopes.h
    numeric, left, right = (mult * s for s in slopes[:3])
    if _apart(slopes, floor / mult, rounding / mult):
        low, high = min(left, right), max(left, right)
        slack = 1e-3 * (high - low) + floor * 1e-3 + noise
        if low - slack <= a <= high + slack:
            return None, True
        nearest = low if a < low else high
        return _entry(part, name, idx, a, nearest, floor, noise, at_kink=True), True
    # where only the second derivative jumps (ELU at 0), the central difference is
    # off by O(h) but the slope from the smooth side is not: take the closest estimate
    numeric = min((numeric, left, right), key=lambda s: abs(a - s))
    # on a smooth curve the fourth difference is h**4 g'''' (negligible) plus the cost's
    # actual rounding, which the estimate from |J| can miss (J small, its terms not)
    noise = max(noise, mult * slopes.wobble / slopes.h)
    return _entry(part, name, idx, a, numeric, floor, noise), False


def _entry(
    part: str,
    name: str,
    idx: tuple[int, ...],
    a: float,
    numeric: float,
    floor: float,
    noise: float,
    at_kink: bool = False,
) -> GradCheckEntry:
    scale = max(abs(a), abs(numeric), floor)
    error = abs(a - numeric) / scale
    excess = max(abs(a - numeric) - noise, 0.0) / scale
    return GradCheckEntry(part, name, idx, a, numeric, error, at_kink=at_kink, excess=excess)


def _rank(entry: GradCheckEntry) -> tuple[float, float]:
    """Worse first by the error beyond rounding, then by the plain relative error."""
    return entry.excess, entry.relative_error


def _apart(slopes: _Slopes, floor: float, rounding: float) -> bool:
    """Whether the one-sided slopes disagree: a kink, or a curve too sharp for the step.

    Each one-sided slope carries up to 4 times the central one's rounding.
    """
    left, right = slopes.left, slopes.right
    return abs(right - left) > 1e-5 * max(abs(left), abs(right), floor) + 8.0 * rounding / slopes.h


def _where_wrong(z_wrong: list[float], z_right: list[float]) -> str:
    """For which values of Z an activation's gradient is wrong, in a few words.

    >>> _where_wrong([-2.0, -0.5], [0.3, 1.0])
    'for Z < 0 only'
    >>> _where_wrong([-2.0, 0.5, 0.7, 3.0], [-1.0, 1.5])
    'for Z in [-2, -2], [0.5, 0.7] and [3, 3]'
    """
    if not z_right:
        return f"for every Z checked ({min(z_wrong):.3g} to {max(z_wrong):.3g})"
    if max(z_wrong) < 0.0 <= min(z_right):
        return "for Z < 0 only"
    if min(z_wrong) > 0.0 >= max(z_right):
        return "for Z > 0 only"
    # runs of wrong entries, in the order of Z
    marked = sorted([(z, True) for z in z_wrong] + [(z, False) for z in z_right])
    runs: list[list[float]] = []
    inside = False
    for z, wrong in marked:
        if wrong and inside:
            runs[-1][1] = z
        elif wrong:
            runs.append([z, z])
        inside = wrong
    shown = [f"[{low:.3g}, {high:.3g}]" for low, high in runs[:3]]
    if len(runs) > 3:
        shown.append(f"{len(runs) - 3} more intervals")
    listed = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]
    return f"for Z in {listed}"


def _labels(layer: Layer) -> dict[int, str]:
    """How the report names each leaf: ``layer 2 (Tanh())``, or the leaf itself alone."""
    return {
        id(leaf): f"layer {index} ({leaf!r})" if index else repr(leaf)
        for index, leaf in indexed_leaves(layer)
    }
