"""Activations: A = g(Z) forward, dZ = dA * g'(Z) backward.

A new elementwise activation is a subclass that defines only ``g(Z)`` and
``g_prime(Z, A)``; forward, backward, caching, checking and printing come
from :class:`Activation`. ``A = g(Z)`` is handed to ``g_prime`` so that
derivatives such as tanh's ``1 - A**2`` cost nothing extra.

Every built-in is finite, warning-free and dtype-preserving (float32 stays
float32) for any finite Z, however large; the one exception is SELU within 5%
of the dtype's largest number, where scale * Z itself is not representable.
"""

from __future__ import annotations

import math
import re
from typing import Any, ClassVar, cast

import numpy as np
from attrs import define, field
from typing_extensions import override

from minigrad._checks import as_float_batch
from minigrad._erf import erfc
from minigrad._typing import Array
from minigrad.equations import Grad, Tape, Term, Var, function_name, parenthesized, substitute
from minigrad.errors import ShapeError
from minigrad.functional import constants, sigmoid, softmax, softplus
from minigrad.layer import Layer, Shape

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


@define(eq=False, repr=False)
class Activation(Layer):
    """Base class: A = g(Z) forward; dZ = dA * g'(Z) backward.

    Subclasses define ``g`` and ``g_prime``; override ``backward`` only when
    the derivative is not elementwise (as :class:`Softmax` does).
    """

    Z: Array | None = field(default=None, init=False, repr=False)
    A: Array | None = field(default=None, init=False, repr=False)

    def g(self, Z: Array, /) -> Array:
        """The activation function, applied elementwise."""
        raise NotImplementedError(f"{type(self).__name__} must define g(Z)")

    def g_prime(self, Z: Array, A: Array, /) -> Array:
        """The derivative g'(Z); ``A = g(Z)`` is passed in for reuse."""
        raise NotImplementedError(f"{type(self).__name__} must define g_prime(Z, A)")

    @override
    def forward(self, Z: Array) -> Array:
        if Z.__class__ is not np.ndarray or Z.ndim < 2 or Z.dtype.kind != "f" or not Z.shape[-1]:
            Z = as_float_batch(self, Z, None, "Z")
        A = self.g(Z)
        self.Z, self.A = Z, A
        return A

    @override
    def infer(self, Z: Array) -> Array:
        if Z.__class__ is not np.ndarray or Z.ndim < 2 or Z.dtype.kind != "f" or not Z.shape[-1]:
            Z = as_float_batch(self, Z, None, "Z")
        return self.g(Z)

    @override
    def backward(self, dA: Array) -> Array:
        A, Z = self.A, self.Z
        if A is None or Z is None:
            return self._cached(None)  # raises: backward before forward
        if dA.__class__ is not np.ndarray or dA.shape != A.shape:
            self._check_grad(dA, A)
        return dA * self.g_prime(Z, A)

    @override
    def output_shape(self, shape: Shape | None) -> Shape | None:
        return shape  # elementwise: any shape

    @override
    def explain_lines(self, tape: Tape) -> None:
        """A = g(Z) forward; dZ = dA * g'(Z) backward (or the class's own dZ text).

        The texts come from :func:`activation_text`; without them the lines
        name the function generically, ``myact(Z1)`` and ``myact'(Z1)``.
        """
        prev = tape.current
        A = tape.fresh(f"A{tape.level}")
        g, g_prime, dZ_text = activation_text(self)
        names = {"Z": prev.name, "A": A}
        forward_rhs = substitute(g, names, self) if g else f"{function_name(self)}({prev.name})"
        tape.forward_line(A, forward_rhs, tape.named_shape(A, prev.shape))

        def backward(grad: Grad) -> Term:
            if dZ_text is not None:
                return Term(substitute(dZ_text, {**names, "dA": grad.name}, self))
            derivative = (substitute(g_prime, names, self) if g_prime
                          else f"{function_name(self)}'({prev.name})")
            if derivative == "1":
                return Term(grad.name, carry=grad.expr, note="g'(Z) = 1")
            factor = parenthesized(derivative)
            return Term(f"{grad.name} * {factor}",
                        expanded=f"{grad.expr} * {factor}" if grad.expr is not None else None)

        tape.advance(self, Var(A, prev.shape), backward)

    def _check_grad(self, dA: Any, A: Array) -> None:
        if dA.__class__ is not np.ndarray or dA.shape != A.shape:
            raise ShapeError(
                f"{self!r}: expected dA of shape {A.shape} like A, "
                f"got {getattr(dA, 'shape', type(dA).__name__)}"
            )


def activation_text(layer: Activation) -> tuple[str | None, str | None, str | None]:
    """``(g, g', dZ)`` texts in terms of Z, A (and dA), each None when the class gives none.

    For each, the classes are searched from the layer's own type upwards: a
    class attribute (``g_text``, ``g_prime_text``, ``dZ_text``) wins, then a
    docstring line (``g(Z) = ...``, ``g'(Z) = ...``, ``dZ = ...``); a class
    that overrides the method (``g``, ``g_prime``, ``backward``) without
    giving text ends the search with None, so a subclass never shows its
    parent's formula for a function it changed.
    """
    return (
        _lookup(layer, "g_text", "g", r"g\(Z\)"),
        _lookup(layer, "g_prime_text", "g_prime", r"g'\(Z\)"),
        _lookup(layer, "dZ_text", "backward", r"dZ"),
    )


def _lookup(layer: Activation, attribute: str, method: str, docstring_lhs: str) -> str | None:
    pattern = re.compile(rf"^\s*{docstring_lhs}\s*=\s*(.+?)\s*$", re.MULTILINE)
    for cls in type(layer).__mro__:
        if cls is Activation or not issubclass(cls, Activation):
            return None
        if attribute in vars(cls):
            text = getattr(layer, attribute)
            return str(text) if text is not None else None
        match = pattern.search(vars(cls).get("__doc__") or "")
        if match:
            return re.split(r"\s{2,}", match.group(1))[0].rstrip(",;")
        if method in vars(cls):
            return None
    return None


def _alpha(name: str) -> Any:
    def check(instance: Any, attribute: Any, value: Any) -> None:
        if not math.isfinite(value):
            raise ValueError(f"{name}: {attribute.name} must be a finite number, got {value!r}")

    return check


def _like(Z: Array, value: float) -> Any:
    """A scalar of Z's dtype, so that np.where keeps float32 as float32."""
    return Z.dtype.type(value)


@define(eq=False, repr=False)
class Identity(Activation):
    """Identity (linear output).

    g(Z)  = Z
    g'(Z) = 1
    """

    @override
    def g(self, Z: Array) -> Array:
        return Z

    @override
    def g_prime(self, Z: Array, A: Array) -> Array:
        return np.ones_like(Z)


@define(eq=False, repr=False)
class Sigmoid(Activation):
    """Logistic sigmoid.

    g(Z)  = 1 / (1 + exp(-Z))
    g'(Z) = A * (1 - A)

    As a model's output before ``BinaryCrossEntropy``, :func:`minigrad.fit`
    takes the two together: dZ = A - Y (see ``BinaryCrossEntropy.forward_fused``).

    >>> Sigmoid().forward(np.zeros((1, 2)))
    array([[0.5, 0.5]])
    """

    g_text: ClassVar[str] = "sigmoid(Z)"  # explain() shows the name, as the notes do

    @override
    def g(self, Z: Array) -> Array:
        return sigmoid(Z)

    @override
    def g_prime(self, Z: Array, A: Array) -> Array:
        return A * (constants(A.dtype).one - A)


@define(eq=False, repr=False)
class Tanh(Activation):
    """Hyperbolic tangent.

    g(Z)  = tanh(Z)
    g'(Z) = 1 - A**2

    >>> Tanh().forward(np.zeros((1, 2)))
    array([[0., 0.]])
    """

    @override
    def g(self, Z: Array) -> Array:
        return np.tanh(Z)

    @override
    def g_prime(self, Z: Array, A: Array) -> Array:
        return constants(A.dtype).one - A * A

    @override
    def backward(self, dA: Array) -> Array:
        A = self.A
        if A is None or dA.__class__ is not np.ndarray or dA.shape != A.shape or (
            dA.dtype is not A.dtype or type(self) is not Tanh  # a subclass may change g'
        ):
            return super().backward(dA)  # the checks and their messages, or dtype promotion
        # dA * (1 - A**2) in one buffer: the same numbers, two allocations fewer
        dZ = np.multiply(A, A)
        np.subtract(constants(A.dtype).one, dZ, out=dZ)
        dZ *= dA
        return dZ


@define(eq=False, repr=False)
class ReLU(Activation):
    """Rectified linear unit.

    g(Z)  = max(Z, 0)
    g'(Z) = 1 where Z > 0, else 0   (0 at the kink Z = 0)

    >>> ReLU().forward(np.array([[-2.0, 3.0]]))
    array([[0., 3.]])
    """

    @override
    def g(self, Z: Array) -> Array:
        return np.maximum(Z, 0)

    @override
    def g_prime(self, Z: Array, A: Array) -> Array:
        return cast(Array, Z > 0)  # a bool mask multiplies dA without changing its dtype


@define(eq=False, repr=False)
class LeakyReLU(Activation):
    """Leaky ReLU with slope ``alpha`` for negative inputs.

    g(Z)  = Z where Z > 0, else alpha * Z
    g'(Z) = 1 where Z > 0, else alpha
    """

    alpha: float = field(default=0.01, converter=float, validator=_alpha("LeakyReLU"))

    @override
    def g(self, Z: Array) -> Array:
        return np.where(Z > 0, Z, self.alpha * Z)

    @override
    def g_prime(self, Z: Array, A: Array) -> Array:
        dZ_dA: Array = np.where(Z > 0, _like(Z, 1.0), _like(Z, self.alpha))
        return dZ_dA


@define(eq=False, repr=False)
class ELU(Activation):
    """Exponential linear unit.

    g(Z)  = Z where Z > 0, else alpha * (exp(Z) - 1)
    g'(Z) = 1 where Z > 0, else A + alpha
    """

    alpha: float = field(default=1.0, converter=float, validator=_alpha("ELU"))

    @override
    def g(self, Z: Array) -> Array:
        return np.where(Z > 0, Z, self.alpha * np.expm1(np.minimum(Z, 0)))

    @override
    def g_prime(self, Z: Array, A: Array) -> Array:
        return np.where(Z > 0, _like(Z, 1.0), A + self.alpha)


_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


@define(eq=False, repr=False)
class SELU(Activation):
    """Scaled ELU (self-normalizing), with the constants of Klambauer et al. (2017).

    g(Z)  = scale * (Z where Z > 0, else alpha * (exp(Z) - 1))
    g'(Z) = scale where Z > 0, else A + scale * alpha
    with alpha = 1.6732632423543772, scale = 1.0507009873554805.
    """

    @override
    def g(self, Z: Array) -> Array:
        return _SELU_SCALE * np.where(Z > 0, Z, _SELU_ALPHA * np.expm1(np.minimum(Z, 0)))

    @override
    def g_prime(self, Z: Array, A: Array) -> Array:
        return np.where(Z > 0, _like(Z, _SELU_SCALE), A + _SELU_SCALE * _SELU_ALPHA)


def _approximate(instance: Any, attribute: Any, value: Any) -> None:
    if value not in ("none", "tanh"):
        raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {value!r}")


@define(eq=False, repr=False)
class GELU(Activation):
    """Gaussian error linear unit.

    Exact (default), with Phi the standard normal CDF and phi its density:
        g(Z)  = Z * Phi(Z),  Phi(Z) = erfc(-Z / sqrt(2)) / 2
        g'(Z) = Phi(Z) + Z * phi(Z),  phi(Z) = exp(-Z**2 / 2) / sqrt(2 pi)
    ``approximate="tanh"``, with u = sqrt(2/pi) * (Z + 0.044715 Z**3):
        g(Z)  = Z * (1 + tanh(u)) / 2
        g'(Z) = (1 + tanh(u)) / 2 + Z * (1 - tanh(u)**2) * sqrt(2/pi) * (1 + 3 * 0.044715 Z**2) / 2
    """

    approximate: str = field(default="none", validator=_approximate)

    @property
    def g_text(self) -> str:
        """g(Z) as ``explain()`` writes it, for the chosen ``approximate``."""
        if self.approximate == "tanh":
            return "Z * (1 + tanh(u)) / 2, u = sqrt(2/pi) * (Z + 0.044715 * Z^3)"
        return "Z * Phi(Z)"

    @property
    def g_prime_text(self) -> str:
        """g'(Z) as ``explain()`` writes it, for the chosen ``approximate``."""
        if self.approximate == "tanh":
            return ("(1 + tanh(u)) / 2 + Z * (1 - tanh(u)^2) * sqrt(2/pi) "
                    "* (1 + 3 * 0.044715 * Z^2) / 2")
        return "Phi(Z) + Z * phi(Z)"

    @override
    def g(self, Z: Array) -> Array:
        A: Array = (
            0.5 * Z * (1 + np.tanh(self._u(np.clip(Z, -1e4, 1e4))))
            if self.approximate == "tanh"
            else Z * self._cdf(Z)
        )
        return A

    @override
    def g_prime(self, Z: Array, A: Array) -> Array:
        # Z*Z overflows float32 beyond |Z| ~ 1.8e19; past |Z| = 1e4 every term that
        # uses the clipped Zc is exactly 0 anyway (1 - tanh(u)**2, exp(-Z**2 / 2))
        Zc = np.clip(Z, -1e4, 1e4)
        if self.approximate == "tanh":
            t = np.tanh(self._u(Zc))
            du = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * Zc * Zc)
            approx: Array = 0.5 * (1 + t) + 0.5 * Zc * (1 - t * t) * du
            return approx
        exact: Array = self._cdf(Z) + Zc * _INV_SQRT_2PI * np.exp(-0.5 * Zc * Zc)
        return exact

    @staticmethod
    def _cdf(Z: Array) -> Array:
        return 0.5 * erfc(-_SQRT_HALF * Z)

    @staticmethod
    def _u(Zc: Array) -> Array:
        """u = sqrt(2/pi) (Z + 0.044715 Z**3), for Z clipped to [-1e4, 1e4] (finite cube)."""
        return _SQRT_2_OVER_PI * (Zc + 0.044715 * Zc * Zc * Zc)


@define(eq=False, repr=False)
class SiLU(Activation):
    """Sigmoid linear unit, also called Swish.

    g(Z)  = Z * sigmoid(Z)
    g'(Z) = sigmoid(Z) + A * (1 - sigmoid(Z))
    """

    @override
    def g(self, Z: Array) -> Array:
        return Z * sigmoid(Z)

    @override
    def g_prime(self, Z: Array, A: Array) -> Array:
        s = sigmoid(Z)
        return s + A * (1 - s)


@define(eq=False, repr=False)
class Softplus(Activation):
    """Softplus, a smooth ReLU.

    g(Z)  = log(1 + exp(Z))
    g'(Z) = sigmoid(Z)
    """

    @override
    def g(self, Z: Array) -> Array:
        return softplus(Z)

    @override
    def g_prime(self, Z: Array, A: Array) -> Array:
        return sigmoid(Z)


@define(eq=False, repr=False)
class Softsign(Activation):
    """Softsign.

    g(Z)  = Z / (1 + |Z|)
    g'(Z) = 1 / (1 + |Z|)**2
    """

    @override
    def g(self, Z: Array) -> Array:
        A: Array = Z / (1 + np.abs(Z))
        return A

    @override
    def g_prime(self, Z: Array, A: Array) -> Array:
        r: Array = 1 / (1 + np.abs(Z))  # squaring 1 + |Z| would overflow for huge Z
        return r * r


@define(eq=False, repr=False)
class HardTanh(Activation):
    """Hard tanh: the identity clipped to [min_val, max_val].

    g(Z)  = min(max(Z, min_val), max_val)
    g'(Z) = 1 where min_val < Z < max_val, else 0
    """

    min_val: float = field(default=-1.0, converter=float, validator=_alpha("HardTanh"))
    max_val: float = field(default=1.0, converter=float, validator=_alpha("HardTanh"))

    def __attrs_post_init__(self) -> None:
        if not self.min_val < self.max_val:
            raise ValueError(
                f"HardTanh: min_val must be below max_val, got {self.min_val} >= {self.max_val}"
            )

    @override
    def g(self, Z: Array) -> Array:
        return np.clip(Z, self.min_val, self.max_val)

    @override
    def g_prime(self, Z: Array, A: Array) -> Array:
        return cast(Array, (self.min_val < Z) & (self.max_val > Z))


@define(eq=False, repr=False)
class Softmax(Activation):
    """Softmax over the class axis 0: each column becomes a probability vector.

    g(Z)_k = exp(Z_k) / sum_j exp(Z_j)
    Backward is the Jacobian-vector product, not elementwise:
        dZ = A * (dA - sum_k(dA * A))   (the sum over rows, per column)
    As a model's output before ``CategoricalCrossEntropy``, :func:`minigrad.fit`
    takes the two together: dZ = A - Y (see ``CategoricalCrossEntropy.forward_fused``).

    >>> Softmax().forward(np.zeros((2, 1)))
    array([[0.5],
           [0.5]])
    """

    @override
    def g(self, Z: Array) -> Array:
        return softmax(Z, axis=0)

    @override
    def g_prime(self, Z: Array, A: Array) -> Array:
        raise TypeError("Softmax: g'(Z) is a Jacobian, not elementwise; use backward(dA)")

    @override
    def backward(self, dA: Array) -> Array:
        A = self._cached(self.A)
        self._check_grad(dA, A)
        dZ: Array = A * (dA - (dA * A).sum(axis=0, keepdims=True))
        return dZ


BUILTIN_ACTIVATIONS: tuple[type[Activation], ...] = (
    Identity, Sigmoid, Tanh, ReLU, LeakyReLU, ELU, SELU, GELU, SiLU, Softplus, Softsign,
    HardTanh, Softmax,
)
