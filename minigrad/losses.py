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
import warnings
from typing import Any, ClassVar

import numpy as np
from attrs import define, field
from typing_extensions import override

from minigrad._checks import as_float_matrix, as_plain_array, check_finite
from minigrad._typing import Array
from minigrad.activations import Activation, Sigmoid, Softmax
from minigrad.equations import Tape, Term
from minigrad.errors import DTypeError, InputError, ShapeError, StateError
from minigrad.functional import constants


@define(eq=False, repr=False)
class Loss:
    """Base class: caches what ``backward`` needs during ``forward``.

    ``pairs_with`` names the output activation that this loss takes together
    with it when a model ends in that activation: Sigmoid then binary
    cross-entropy, Softmax then categorical cross-entropy. Their chain rule
    collapses to dZ = A - Y, exact even where A saturates (where dA alone is
    clipped or huge); :meth:`forward_fused` computes J and that dZ, and
    :func:`minigrad.fit` decides once, before training, to use it.
    """

    pairs_with: ClassVar[type[Activation] | None] = None

    dA: Array | None = field(default=None, init=False, repr=False)

    def forward(self, A: Array, Y: Any, /) -> float:
        raise NotImplementedError

    def backward(self) -> Array:
        """The per-example gradient dL/dA of the last ``forward`` (no 1/m).

        It is the loss's cached array, read-only: copy it to change it.
        """
        if self.dA is None:
            raise StateError(f"{self!r}: backward called before forward; compute the loss first")
        return self.dA

    def forward_fused(self, A: Array, Y: Any, /) -> tuple[float, Array]:
        """(J, dZ) for A the output of the ``pairs_with`` activation: its backward and
        this loss's in one step. Only losses with a partner implement it."""
        raise NotImplementedError(f"{type(self).__name__} has no output activation to fuse with")

    def __call__(self, A: Array, Y: Any, /) -> float:
        return self.forward(A, Y)

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
        dA.setflags(write=False)  # as flags.writeable = False, in half the time
        _set_cache(self, "dA", dA)

    def _targets(self, A: Array, Y: Any) -> Array:
        """Y as an array of A's shape and dtype, or a clear error."""
        Y_arr = as_plain_array(Y)
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

    def _probabilities(self, A: Array, Y: Array) -> Array:
        """A checked to lie in [0, 1], then clipped to [eps, 1 - eps] for the logs."""
        lo, hi = _extremes(A)
        if not (lo >= 0.0 and hi <= 1.0):
            self._check_range(A, "A (probabilities)", 0.0, 1.0, A, Y)
        return _clip_probability(A, lo, hi)

    def _check_range(
        self, X: Array, what: str, low: float, high: float, A: Array, Y: Array
    ) -> None:
        lo, hi = _extremes(X)
        if not (lo >= low and hi <= high):  # also catches NaN
            self._refuse_non_finite(A, Y)
            raise InputError(
                f"{self!r}: {what} must lie in [{low:g}, {high:g}], got values from {lo} to {hi}"
                + ("; if these are logits, use from_logits=True" if what.startswith("A") else "")
            )


def _extremes(X: Array) -> tuple[float, float]:
    """(min, max) of X as Python numbers; a NaN in X makes one of them NaN.

    ``X.item(X.argmin())`` costs a third of ``X.min()`` on the small arrays of
    a tiny net's step (0.35 against 1.05 us on 1 x 400), where the losses'
    range checks run every step.
    """
    return X.item(X.argmin()), X.item(X.argmax())


def _clip_probability(A: Array, lo: float, hi: float) -> Array:
    """Keep log() finite: clip to [eps, 1 - eps] with eps the dtype's resolution.

    ``lo`` and ``hi`` are A's smallest and largest entries: when both lie inside,
    A itself is returned (clipping would copy it unchanged).
    """
    eps = _EPS.get(A.dtype)
    if eps is None:
        eps = _EPS[A.dtype] = float(np.finfo(A.dtype).eps)
    if lo >= eps and hi <= 1.0 - eps:
        return A
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

    Probabilities are clipped to [eps, 1 - eps] (eps the dtype's resolution)
    before the logs and the division.
    """

    pairs_with: ClassVar[type[Activation] | None] = Sigmoid

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
        A, Y = self._checked(A, Y)
        if self.from_logits:
            _warn_if_probabilities(self, A, "Sigmoid")
            J, dZ = self._from_logits(A, Y)
            self._keep(dZ)
            return J
        Ac, Bc = A, 1.0 - A
        P = Bc * A  # A (1 - A) is at least eps (1 - eps) exactly when A lies in [eps, 1 - eps]:
        if not P.item(P.argmin()) >= constants(A.dtype).eps_floor:  # one read checks A
            Ac = self._probabilities(A, Y)  # out of [0, 1] (an error), NaN, or to be clipped
            Bc = 1.0 - Ac
            P = Bc * Ac
        J = self._cost(Ac, Y, Bc)
        dA = Ac - Y
        dA /= P  # (A - Y) / (A (1 - A)), with A clipped
        self._keep(dA)
        return J

    @override
    def forward_fused(self, A: Array, Y: Any) -> tuple[float, Array]:
        """(J, dZ = A - Y) for A = sigmoid(Z): the loss and the Sigmoid's backward at once."""
        A, Y = self._checked(A, Y)
        J = self._cost(self._probabilities(A, Y), Y)
        dZ: Array = A - Y
        return J, dZ

    def _checked(self, A: Any, Y: Any) -> tuple[Array, Array]:
        """A and Y as arrays of one shape and dtype, Y in [0, 1]; or a clear error."""
        # the checks of _prediction and _targets, as one comparison each when all is well
        if A.__class__ is not np.ndarray or A.ndim != 2 or A.dtype.kind != "f" or not A.shape[1]:
            A = self._prediction(A)
        if Y.__class__ is not np.ndarray or Y.dtype is not A.dtype or Y.shape != A.shape:
            Y = self._targets(A, Y)
        self._check_range(Y, "Y", 0.0, 1.0, A, Y)
        checked: tuple[Array, Array] = (A, Y)
        return checked

    def _cost(self, Ac: Array, Y: Array, Bc: Array | None = None) -> float:
        """J for clipped probabilities Ac (and Bc = 1 - Ac, when the caller has it)."""
        m: int = Ac.shape[1]
        Bc = 1.0 - Ac if Bc is None else Bc
        J = -(float(np.vdot(Y, np.log(Ac))) + float(np.vdot(1.0 - Y, np.log(Bc)))) / m
        if not math.isfinite(J):
            self._refuse_non_finite(Ac, Y)
        return J

    def _from_logits(self, Z: Array, Y: Array) -> tuple[float, Array]:
        """J and dZ = sigmoid(Z) - Y from logits Z, stable for any finite Z."""
        c = constants(Z.dtype)
        # per element, max(Z, 0) - Z Y = Z (H - Y) with H = [Z > 0], and the log1p
        # term are both >= 0: summing them cancels nothing, so one huge logit
        # cannot swamp the other examples' losses. E is reused for sigmoid(Z).
        E = np.exp(np.copysign(Z, c.minus_one))  # exp(-|Z|), in (0, 1]
        H = np.greater(Z, c.zero, out=np.empty_like(Z))  # H as floats: no bool casts below
        J = float(np.add.reduce(np.log1p(E), axis=None) + np.vdot(Z, H - Y)) / Z.shape[1]
        if not math.isfinite(J):
            self._refuse_non_finite(Z, Y)
        dZ = np.maximum(H, E)  # 1 for Z > 0, else E: sigmoid(Z) = dZ / (1 + E)
        E += c.one
        dZ /= E
        dZ -= Y
        return J, dZ


@define(eq=False, repr=False)
class CategoricalCrossEntropy(Loss):
    """Categorical cross-entropy for softmax outputs over the class axis 0.

    Y is one-hot, shape (n_classes, m), or integer labels, shape (m,).
    J  = -(1/m) sum_i sum_k Y_ki log A_ki
    dA = -Y / A                          so that after Softmax, dZ = A - Y

    With ``from_logits=True`` the input is Z (no Softmax layer):
    J  = (1/m) sum_i [logsumexp(Z_i) - sum_k Y_ki Z_ki]
    dZ = softmax(Z) - Y

    After a Softmax, dZ = A sum_k(Y_k) - Y (A - Y for one-hot Y): see
    :meth:`forward_fused`.
    """

    pairs_with: ClassVar[type[Activation] | None] = Softmax

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
        Y, _ = self._one_hot(A, Y)
        m: int = A.shape[1]
        if self.from_logits:
            self._finite(A, Y)
            _warn_if_probabilities(self, A, "Softmax")
            # with shifted logits Zs = Z - max(Z) <= 0 and S = sum_k exp(Zs_k) >= 1,
            # J = (1/m) sum_i [sum_k Y_ki log S_i - sum_k Y_ki Zs_ki]: sums of terms >= 0,
            # so no cancellation between examples (a logit of 1e4 costs no precision).
            # Logits far apart overflow Z - max(Z) to -inf; clamping that to the dtype's
            # lowest number keeps 0 * Zs at 0 where Y is 0 (a loss of 0, not NaN).
            with np.errstate(over="ignore"):
                Zs = A - A.max(axis=0, keepdims=True)
            np.maximum(Zs, -np.finfo(A.dtype).max, out=Zs)
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
        Ac = self._probabilities(A, Y)
        J = self._cost(Ac, Y)
        dA = np.divide(Y, Ac)
        np.negative(dA, out=dA)  # -Y / A
        self._keep(dA)
        return J

    @override
    def forward_fused(self, A: Array, Y: Any) -> tuple[float, Array]:
        """(J, dZ) for A = softmax(Z): the loss and the Softmax's backward at once.

        dZ = A * sum_k(Y_k) - Y, which is A - Y for one-hot Y.
        """
        A = self._prediction(A)
        Y, one_hot = self._one_hot(A, Y)
        J = self._cost(self._probabilities(A, Y), Y)
        dZ: Array = A - Y if one_hot else A * Y.sum(axis=0, keepdims=True) - Y
        return J, dZ

    def _cost(self, Ac: Array, Y: Array) -> float:
        m: int = Ac.shape[1]
        J = -float(np.vdot(Y, np.log(Ac))) / m
        if not math.isfinite(J):
            self._refuse_non_finite(Ac, Y)
        return J

    def _one_hot(self, A: Array, Y: Any) -> tuple[Array, bool]:
        """Y as an array like A, and whether each column is known to sum to 1."""
        Y_arr = as_plain_array(Y)
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


def _warn_if_probabilities(loss: Loss, A: Array, activation: str) -> None:
    """Warn when a from_logits loss is given what looks like a {activation}'s output.

    A model that ends in Sigmoid (or Softmax) trained with ``from_logits=True``
    squashes twice and trains silently badly. Logits can be anything, so only
    a batch that clearly looks like probabilities is flagged: for Softmax,
    columns in [0, 1] that sum to 1; for Sigmoid, at least 32 values, all
    strictly inside (0, 1).
    """
    if A.size < 32 and activation == "Sigmoid":
        return
    lo, hi = _extremes(A)
    if not (lo >= 0.0 and hi <= 1.0):
        return
    if activation == "Softmax":
        if A.shape[0] < 2 or not np.allclose(A.sum(axis=0), 1.0, rtol=0.0, atol=1e-6):
            return
    elif not (lo > 0.0 and hi < 1.0):
        return
    warnings.warn(
        f"{loss!r} takes logits, but A looks like the output of a {activation} (every value in "
        f"[0, 1]{', columns summing to 1' if activation == 'Softmax' else ''}): the model "
        f"probably ends in {activation}, which squashes twice. Remove the {activation} layer "
        f"(recommended) or use from_logits=False",
        stacklevel=3,
    )


BUILTIN_LOSSES: tuple[type[Loss], ...] = (
    MeanSquaredError, BinaryCrossEntropy, CategoricalCrossEntropy,
)
