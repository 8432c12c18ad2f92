"""Losses: ``forward(A, Y) -> J`` (the mean cost) and ``backward() -> dA``.

The cost is the mean over the m examples (columns) of a per-example loss
that sums over output rows, ``J = (1/m) sum_i L_i``. ``backward`` returns the
per-example gradient ``dA[:, i] = dL_i/dA[:, i]``, with no 1/m (the
parameter gradients carry it; see :mod:`minigrad.layer`).

With ``from_logits=True`` the cross-entropies take the pre-activation Z of
the last layer, fuse the sigmoid or softmax in, and are exact for any Z:
backward then returns ``dZ = sigmoid(Z) - Y`` or ``dZ = softmax(Z) - Y``.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, NamedTuple

import numpy as np
from attrs import define, field
from typing_extensions import override

from minigrad._checks import as_float_matrix, check_finite
from minigrad._typing import Array
from minigrad.activations import Activation, OutputActivation, Sigmoid, Softmax, latest_output
from minigrad.equations import Tape, Term
from minigrad.errors import DTypeError, InputError, ShapeError, StateError
from minigrad.functional import Constants, constants


@define(eq=False, repr=False)
class Loss:
    """Base class: caches what ``backward`` needs during ``forward``.

    ``pairs_with`` names the output activation whose backward this loss can
    fuse into dZ = A - Y (see :class:`minigrad.activations.OutputActivation`).
    """

    pairs_with: ClassVar[type[OutputActivation] | None] = None

    dA: Array | None = field(default=None, init=False, repr=False)
    # (dZ, the divisor of dZ in dA, the output layer, its A): what backward() needs
    # to make dA after a training step skipped it (see train_step)
    _deferred: tuple[Array, Array, OutputActivation, Array] | None = field(
        default=None, init=False, repr=False
    )

    def forward(self, A: Array, Y: Any, /) -> float:
        raise NotImplementedError

    def backward(self) -> Array:
        """The per-example gradient dL/dA of the last ``forward`` (no 1/m).

        It is the loss's cached array, read-only: copy it to change it.
        """
        dA = self.dA
        if dA is None:
            if self._deferred is None:
                raise StateError(
                    f"{self!r}: backward called before forward; compute the loss first"
                )
            dA = self._make_deferred_dA(self._deferred)
        return dA

    def __call__(self, A: Array, Y: Any, /) -> float:
        return self.forward(A, Y)

    # -- training loops ---------------------------------------------------------

    def prepare_targets(self, Y: Array, /) -> Any:
        """Y checked (the error ``forward`` would raise, if any) and made ready for train_step.

        :func:`minigrad.fit` calls it once for the whole Y before training,
        and once per batch (per epoch when shuffling). The base class returns
        Y as it is.
        """
        return Y

    def train_step(self, A: Array, targets: Any, entry: object, /) -> tuple[float, Array]:
        """(J, the gradient to send into the model): :func:`minigrad.fit`'s loss step.

        ``targets`` come from :meth:`prepare_targets`; ``entry`` is the layer
        whose backward receives the gradient first (the model's last leaf).
        By default this is ``(forward(A, Y), backward())``. A loss fused with
        its output activation returns that layer's dZ instead of dA when
        ``entry`` is that very layer, registered so that the layer's backward
        passes it on, and computes dA only if ``backward()`` asks for it.
        """
        J = self.forward(A, targets)
        return J, self.backward()

    def _make_deferred_dA(self, deferred: tuple[Array, Array, OutputActivation, Array]) -> Array:
        dZ, divisor, layer, A = deferred
        dA = np.divide(dZ, divisor)
        if layer.A is A:  # the layer has not moved on: its backward may still fuse
            layer.hand_off(dA, dZ)
        self._keep(dA)
        return dA

    def config(self) -> dict[str, Any]:
        return {"from_logits": True} if getattr(self, "from_logits", False) else {}

    def explain_lines(self, tape: Tape, /) -> None:
        """Hook for ``model.explain``: write the cost and start backprop at ``tape.current``.

        Write the cost line (named ``tape.cost``, with targets ``tape.target``)
        with ``tape.forward_line`` and the output's gradient with
        ``tape.add_gradient(tape.current, Term(...))``. Override it to
        describe a custom loss; this default names the loss generically.
        """
        A, Y, J = tape.current.name, tape.target, tape.cost
        name = type(self).__name__
        tape.forward_line(J, f"{name}({A}, {Y})", f"{J} scalar  {_target_shape(tape)}")
        tape.add_gradient(tape.current, Term(f"{name}.backward(), per example"))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"

    # -- checks ---------------------------------------------------------------

    # NaN and inf are not scanned for on the hot path: a range check that fails,
    # or a cost J that is not finite, calls _refuse_non_finite before any other
    # error, so the message is the same; only inputs where arithmetic could warn
    # first (logits, MSE's A) get the cheap _finite check up front.

    def _prediction(self, A: Any) -> Array:
        checked: Array = A
        if A.__class__ is not np.ndarray or A.ndim != 2 or A.dtype.kind != "f" or not A.shape[1]:
            checked = as_float_matrix(self, A, None, "A (the model's output)")
        return checked

    def _refuse_non_finite(self, A: Array, Y: Array) -> None:
        """Raise InputError naming the first NaN or inf in A, else in Y."""
        check_finite(self, A, "A (the model's output)")
        check_finite(self, Y, "Y")

    def _finite(self, A: Array, Y: Array) -> None:
        """Refuse NaN or inf in A (one BLAS dot; the full scan only when it is not finite)."""
        if not math.isfinite(np.vdot(A, A)):
            self._refuse_non_finite(A, Y)

    def _keep(self, dA: Array) -> None:
        dA.flags.writeable = False
        _set_cache(self, "dA", dA)
        if self._deferred is not None:
            _set_cache(self, "_deferred", None)

    def _targets(self, A: Array, Y: Any) -> Array:
        """Y as an array of A's shape and dtype, or a clear error."""
        Y_arr = Y if isinstance(Y, np.ndarray) else np.asarray(Y)
        if Y_arr.dtype.kind not in "fiub":
            raise DTypeError(f"{self!r}: expected Y to hold numbers, got dtype {Y_arr.dtype}")
        if Y_arr.ndim == 1 and A.shape[0] == 1:
            Y_arr = Y_arr.reshape(1, -1)
        if Y_arr.shape != A.shape:
            raise ShapeError(
                f"{self!r}: expected Y of shape {A.shape} like A (outputs, m), got {Y_arr.shape}"
                + ("; examples are columns: did you pass Y.T?" if Y_arr.shape == A.shape[::-1]
                   else "")
            )
        Y_cast: Array = Y_arr if Y_arr.dtype is A.dtype else Y_arr.astype(A.dtype)
        return Y_cast

    def _check_range(
        self, X: Array, what: str, low: float, high: float, A: Array, Y: Array
    ) -> None:
        lo, hi = X.min(), X.max()
        if not (lo >= low and hi <= high):  # also catches NaN
            self._refuse_non_finite(A, Y)
            raise InputError(
                f"{self!r}: {what} must lie in [{low:g}, {high:g}], got values from {lo} to {hi}"
                + ("; if these are logits, use from_logits=True" if what.startswith("A") else "")
            )


def _clip_probability(A: Array) -> Array:
    """Keep log() finite: clip to [eps, 1 - eps] with eps the dtype's resolution."""
    eps = _EPS.get(A.dtype)
    if eps is None:
        eps = _EPS[A.dtype] = float(np.finfo(A.dtype).eps)
    Ac: Array = A.clip(eps, 1.0 - eps)  # the method: less overhead than np.clip
    return Ac


_EPS: dict[np.dtype[Any], float] = {}

def _target_shape(tape: Tape) -> str:
    return tape.named_shape(tape.target, tape.current.shape)


def _fuse(tape: Tape, activation: type[Activation], note: str) -> bool:
    """If the output comes straight from a plain ``activation`` (Sigmoid, Softmax) and
    feeds nothing else, start backprop at its Z with ``dZ = A - Y``; whether it did."""
    out = tape.current
    step = tape.producer(out)
    if step is None or tape.consumers(out) or len(step.inputs) != 1:
        return False
    kind = type(step.layer)
    if not (issubclass(kind, activation) and kind.g is activation.g
            and kind.g_prime is activation.g_prime and kind.backward is activation.backward):
        return False
    tape.absorb(step, Term(f"{out.name} - {tape.target}", note=note))
    return True


# The cached dA is a plain slot; BinaryCrossEntropy's attrs hooks (from_logits'
# converter) need not run on every forward.
_set_cache = object.__setattr__


@define(eq=False, repr=False)
class MeanSquaredError(Loss):
    """Mean squared error.

    J  = (1/m) sum_i sum_k (A_ki - Y_ki)**2
    dA = 2 (A - Y)

    >>> loss = MeanSquaredError()
    >>> loss.forward(np.array([[1.0, 3.0]]), np.array([[0.0, 1.0]]))
    2.5
    """

    @override
    def forward(self, A: Array, Y: Any) -> float:
        A = self._prediction(A)
        Y = self._targets(A, Y)
        self._finite(A, Y)  # A - Y would warn for inf - inf
        diff = A - Y
        m: int = A.shape[1]
        J = float(np.vdot(diff, diff)) / m
        if not math.isfinite(J):
            self._refuse_non_finite(A, Y)  # else an overflow: J = inf, as the sum is
        diff *= 2.0
        self._keep(diff)
        return J

    @override
    def explain_lines(self, tape: Tape) -> None:
        A, Y, J = tape.current.name, tape.target, tape.cost
        tape.forward_line(J, f"(1/m) sum(({A} - {Y})^2)", f"{J} scalar  {_target_shape(tape)}")
        tape.add_gradient(tape.current, Term(f"2 * ({A} - {Y})"))


@define(eq=False, repr=False)
class BinaryCrossEntropy(Loss):
    """Binary cross-entropy for sigmoid outputs (several independent outputs allowed).

    J  = -(1/m) sum [Y log A + (1 - Y) log(1 - A)]
    dA = (A - Y) / (A (1 - A))          so that after Sigmoid, dZ = A - Y

    With ``from_logits=True`` the input is Z (no Sigmoid layer):
    J  = (1/m) sum [log(1 + exp(Z)) - Z Y]      (softplus, computed stably)
    dZ = sigmoid(Z) - Y

    When A is the output of a Sigmoid layer's latest forward, that layer's
    backward, given this loss's dA, returns dZ = A - Y directly.

    Probabilities are clipped to [eps, 1 - eps] (eps the dtype's resolution)
    before the logs and the division. A Sigmoid's output needs neither the
    clip nor the range check when every A (1 - A) >= eps (1 - eps): there
    the clip changes nothing.
    """

    pairs_with: ClassVar[type[OutputActivation] | None] = Sigmoid

    from_logits: bool = field(default=False, converter=bool)

    @override
    def explain_lines(self, tape: Tape) -> None:
        A, Y, J = tape.current.name, tape.target, tape.cost
        shapes = f"{J} scalar  {_target_shape(tape)}"
        if self.from_logits:
            tape.forward_line(J, f"(1/m) sum(log(1 + exp({A})) - {Y} * {A})", shapes,
                              f"sigmoid({A}) is inside the loss (from_logits=True)")
            tape.add_gradient(tape.current, Term(f"sigmoid({A}) - {Y}",
                                                 note="sigmoid + binary cross-entropy, fused"))
            return
        tape.forward_line(J, f"-(1/m) sum({Y} * log({A}) + (1 - {Y}) * log(1 - {A}))", shapes)
        if not _fuse(tape, Sigmoid, f"sigmoid + binary cross-entropy, fused: "
                     f"d{A} * {A} * (1 - {A}) = {A} - {Y}"):
            tape.add_gradient(tape.current, Term(f"({A} - {Y}) / ({A} * (1 - {A}))"))

    @override
    def forward(self, A: Array, Y: Any) -> float:
        # the checks of _prediction and _targets, as one comparison each when all is well
        if A.__class__ is not np.ndarray or A.ndim != 2 or A.dtype.kind != "f" or not A.shape[1]:
            A = self._prediction(A)
        if Y.__class__ is not np.ndarray or Y.dtype is not A.dtype or Y.shape != A.shape:
            Y = self._targets(A, Y)
        # 0 <= Y <= 1 (NaN fails): argmin and argmax cost less than min() and max()
        if not (Y.item(Y.argmin()) >= 0.0 and Y.item(Y.argmax()) <= 1.0):
            self._check_range(Y, "Y", 0.0, 1.0, A, Y)
        c = constants(A.dtype)
        m: int = A.shape[1]
        if self.from_logits:
            # per element, max(Z, 0) - Z Y = Z (H - Y) with H = [Z > 0], and the log1p
            # term are both >= 0: summing them cancels nothing, so one huge logit
            # cannot swamp the other examples' losses. E is reused for sigmoid(Z).
            E = np.exp(np.copysign(A, c.minus_one))  # exp(-|Z|), in (0, 1]
            H = np.greater(A, c.zero, out=np.empty_like(A))  # H as floats: no bool casts below
            J = float(np.add.reduce(np.log1p(E), axis=None) + np.vdot(A, H - Y)) / m
            if not math.isfinite(J):
                self._refuse_non_finite(A, Y)
            dZ = np.maximum(H, E)  # 1 for Z > 0, else E: sigmoid(Z) = dZ / (1 + E)
            E += c.one
            dZ /= E
            dZ -= Y
            self._keep(dZ)
            return J
        one_minus_Y = c.one - Y
        partner = latest_output(A)
        if type(partner) is not Sigmoid:  # a Sigmoid's output needs no range check
            partner = None
            self._check_range(A, "A (probabilities)", 0.0, 1.0, A, Y)
        else:
            inside = _inside(A, c)
            if inside is not None:
                one_minus_A, A_one_minus_A = inside
                J, dZ = self._from_probabilities(A, Y, one_minus_Y, one_minus_A)
                dA = np.divide(dZ, A_one_minus_A)  # (A - Y) / (A (1 - A))
                partner.hand_off(dA, dZ)
                self._keep(dA)
                return J
        # clip A to [eps, 1 - eps] before the logs and the division
        Ac = _clip_probability(A)
        one_minus_Ac = 1.0 - Ac
        J = -float(np.vdot(Y, np.log(Ac)) + np.vdot(one_minus_Y, np.log(one_minus_Ac))) / m
        if not math.isfinite(J):
            self._refuse_non_finite(A, Y)
        one_minus_Ac *= Ac
        if partner is None:
            dA = Ac - Y
            dA /= one_minus_Ac  # (A - Y) / (A (1 - A)), with A clipped
        else:
            dZ = A - Y
            dA = dZ / one_minus_Ac
            partner.hand_off(dA, dZ)
        self._keep(dA)
        return J

    def _from_probabilities(
        self, A: Array, Y: Array, one_minus_Y: Array, one_minus_A: Array
    ) -> tuple[float, Array]:
        """J and A - Y, for probabilities A that need no clipping (see _inside)."""
        J = -(float(np.vdot(Y, np.log(A)))
              + float(np.vdot(one_minus_Y, np.log(one_minus_A)))) / A.shape[1]
        if not math.isfinite(J):  # NaN came through the Sigmoid
            self._refuse_non_finite(A, Y)
        dZ: Array = A - Y
        return J, dZ

    @override
    def prepare_targets(self, Y: Array) -> Any:
        if type(self) is not BinaryCrossEntropy:  # a subclass may compute something else
            return Y
        if Y.size and not (Y.item(Y.argmin()) >= 0.0 and Y.item(Y.argmax()) <= 1.0):
            self._check_range(Y, "Y", 0.0, 1.0, Y, Y)
        if self.from_logits or Y.ndim != 2 or Y.dtype.kind != "f":
            return Y
        return _BinaryTargets(Y, constants(Y.dtype).one - Y)

    @override
    def train_step(self, A: Array, targets: Any, entry: object) -> tuple[float, Array]:
        if type(targets) is not _BinaryTargets:
            return super().train_step(A, targets, entry)
        Y, one_minus_Y = targets
        partner = latest_output(A)
        inside = None
        if (partner is entry and type(partner) is Sigmoid and Y.shape == A.shape
                and Y.dtype is A.dtype):
            inside = _inside(A, constants(A.dtype))
        if partner is None or inside is None:
            return super().train_step(A, Y, entry)
        one_minus_A, A_one_minus_A = inside
        J, dZ = self._from_probabilities(A, Y, one_minus_Y, one_minus_A)
        # no dA: the Sigmoid, handed dZ itself, passes it on; backward() makes dA if asked
        partner.hand_off(dZ, dZ)
        _set_cache(self, "dA", None)
        _set_cache(self, "_deferred", (dZ, A_one_minus_A, partner, A))
        return J, dZ


class _BinaryTargets(NamedTuple):
    """Y and 1 - Y, checked once: what BinaryCrossEntropy.prepare_targets makes for fit."""

    Y: Array
    one_minus_Y: Array


def _inside(A: Array, c: Constants) -> tuple[Array, Array] | None:
    """(1 - A, A (1 - A)) when every A (1 - A) >= eps (1 - eps), else None.

    For A in [0, 1] (a Sigmoid's output) that is eps <= A <= 1 - eps, up to
    rounding: clipping A to [eps, 1 - eps] would change nothing, the logs are
    finite and |dA| <= 1 / (eps (1 - eps)). One argmin tells, at less cost
    than the clip it saves.
    """
    one_minus_A = c.one - A
    A_one_minus_A = one_minus_A * A
    if A_one_minus_A.item(A_one_minus_A.argmin()) >= c.eps_floor:  # NaN fails
        return one_minus_A, A_one_minus_A
    return None


@define(eq=False, repr=False)
class CategoricalCrossEntropy(Loss):
    """Categorical cross-entropy for softmax outputs over the class axis 0.

    Y is one-hot, shape (n_classes, m), or integer labels, shape (m,).
    J  = -(1/m) sum_i sum_k Y_ki log A_ki
    dA = -Y / A                          so that after Softmax, dZ = A - Y

    With ``from_logits=True`` the input is Z (no Softmax layer):
    J  = (1/m) sum_i [logsumexp(Z_i) - sum_k Y_ki Z_ki]
    dZ = softmax(Z) - Y

    When A is the output of a Softmax layer's latest forward, that layer's
    backward, given this loss's dA, returns dZ = A sum_k(Y_k) - Y directly
    (A - Y for one-hot Y).
    """

    pairs_with: ClassVar[type[OutputActivation] | None] = Softmax

    from_logits: bool = field(default=False, converter=bool)

    @override
    def explain_lines(self, tape: Tape) -> None:
        A, Y, J = tape.current.name, tape.target, tape.cost
        shapes = f"{J} scalar  {_target_shape(tape)} one-hot"
        if self.from_logits:
            tape.forward_line(J, f"(1/m) sum(logsumexp({A}, axis=0) - sum({Y} * {A}, axis=0))",
                              shapes, f"softmax({A}) is inside the loss (from_logits=True)")
            tape.add_gradient(tape.current, Term(f"softmax({A}) - {Y}",
                                                 note="softmax + categorical cross-entropy, fused"))
            return
        tape.forward_line(J, f"-(1/m) sum({Y} * log({A}))", shapes)
        if not _fuse(tape, Softmax, "softmax + categorical cross-entropy, fused: "
                     f"d{A} = -{Y} / {A} through the softmax Jacobian = {A} - {Y}"):
            tape.add_gradient(tape.current, Term(f"-{Y} / {A}"))

    @override
    def forward(self, A: Array, Y: Any) -> float:
        A = self._prediction(A)
        Y, one_hot = self._one_hot(A, Y)
        m: int = A.shape[1]
        if self.from_logits:
            self._finite(A, Y)
            # with shifted logits Zs = Z - max(Z) <= 0 and S = sum_k exp(Zs_k) >= 1,
            # J = (1/m) sum_i [sum_k Y_ki log S_i - sum_k Y_ki Zs_ki]: sums of terms >= 0,
            # so no cancellation between examples (a logit of 1e4 costs no precision)
            Zs = A - A.max(axis=0, keepdims=True)
            E = np.exp(Zs)
            S = E.sum(axis=0, keepdims=True)
            Y_sum = Y.sum(axis=0, keepdims=True)
            J = float(np.vdot(Y_sum, np.log(S)) - np.vdot(Y, Zs)) / m
            if not math.isfinite(J):
                self._refuse_non_finite(A, Y)
            E *= Y_sum / S
            E -= Y
            self._keep(E)
            return J
        partner = latest_output(A)
        if type(partner) is not Softmax:  # a Softmax's output needs no range check
            partner = None
            self._check_range(A, "A (probabilities)", 0.0, 1.0, A, Y)
        Ac = _clip_probability(A)
        J = -float(np.vdot(Y, np.log(Ac))) / m
        if not math.isfinite(J):
            self._refuse_non_finite(A, Y)
        dA = np.divide(Y, Ac)
        np.negative(dA, out=dA)  # -Y / A
        if partner is not None:
            # A * (dA - sum_k(dA * A)) with dA = -Y / A is A sum_k(Y_k) - Y
            dZ = A - Y if one_hot else A * Y.sum(axis=0, keepdims=True) - Y
            partner.hand_off(dA, dZ)
        self._keep(dA)
        return J

    def _one_hot(self, A: Array, Y: Any) -> tuple[Array, bool]:
        """Y as an array like A, and whether each column is known to sum to 1."""
        Y_arr = Y if isinstance(Y, np.ndarray) else np.asarray(Y)
        if Y_arr.ndim != 1:
            Y_oh = self._targets(A, Y_arr)
            self._check_range(Y_oh, "Y", 0.0, 1.0, A, Y_oh)
            return Y_oh, False
        n_classes, m = A.shape
        # whole-number floats are labels too; they are cast only after the range
        # check below, since casting 1e19 or inf to int64 is undefined
        whole = Y_arr.dtype.kind == "f" and np.array_equal(Y_arr, np.round(Y_arr))
        if Y_arr.dtype.kind not in "iu" and not whole:
            raise DTypeError(
                f"{self!r}: integer labels of shape (m,) expected, got dtype {Y_arr.dtype}"
            )
        if Y_arr.shape != (m,):
            raise ShapeError(f"{self!r}: expected labels of shape ({m},), got {Y_arr.shape}")
        if m and (Y_arr.min() < 0 or Y_arr.max() >= n_classes):
            raise InputError(
                f"{self!r}: labels must lie in [0, {n_classes - 1}] for {n_classes} classes "
                f"(rows of A), got values from {Y_arr.min()} to {Y_arr.max()}"
            )
        Y_oh = np.zeros_like(A)
        Y_oh[Y_arr.astype(np.intp, copy=False), np.arange(m)] = 1
        return Y_oh, True


BUILTIN_LOSSES: tuple[type[Loss], ...] = (
    MeanSquaredError, BinaryCrossEntropy, CategoricalCrossEntropy,
)
