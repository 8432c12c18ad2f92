"""BatchNorm: normalize each feature over the batch, then scale and shift."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from attrs import define, field
from typing_extensions import override

from minigrad._checks import as_float_matrix, check_rows
from minigrad._typing import Array, DTypeLike
from minigrad.equations import Grad, Tape, Term, Var, generic_lines
from minigrad.errors import InputError, ShapeError
from minigrad.init import filled
from minigrad.layer import Layer, Parameter


def _positive_int(instance: Any, attribute: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise ValueError(f"BatchNorm: {attribute.name} must be a positive int, got {value!r}")


def _fraction(instance: Any, attribute: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, float) or not 0 < value <= 1:
        raise ValueError(f"BatchNorm: momentum must lie in (0, 1], got {value!r}")


def _small_positive(instance: Any, attribute: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, float) or not (
        math.isfinite(value) and value > 0
    ):
        raise ValueError(f"BatchNorm: eps must be a finite number > 0, got {value!r}")


def _as_float(value: Any) -> Any:
    if isinstance(value, int | float | np.floating) and not isinstance(value, bool):
        return float(value)
    return value


def _float_dtype(value: Any) -> np.dtype[Any]:
    dtype: np.dtype[Any] = np.dtype(value)
    if dtype.kind != "f":
        raise TypeError(f"BatchNorm: dtype must be a float type such as float64, got {dtype}")
    return dtype


@define(eq=False, repr=False, init=False)
class BatchNorm(Layer):
    """Batch normalization (Ioffe and Szegedy 2015) over the batch axis 1.

    Training mode, per feature (row) over the m examples (columns):
        mu    = (1/m) sum_i Z_i,    var = (1/m) sum_i (Z_i - mu)**2
        Z_hat = (Z - mu) / sqrt(var + eps)
        A     = gamma * Z_hat + beta
    and the running statistics used in eval mode are updated:
        running_mean = (1 - momentum) * running_mean + momentum * mu
        running_var  = (1 - momentum) * running_var  + momentum * var * m / (m - 1)
    Eval mode uses them in place of mu and var.

    Backward (per-example dA, the library's convention), with G = gamma * dA:
        dgamma = (1/m) sum_i dA_i * Z_hat_i,   dbeta = (1/m) sum_i dA_i
        dZ     = (G - mean_i(G) - Z_hat * mean_i(G * Z_hat)) / sqrt(var + eps)

    Shapes: Z (n_features, m); gamma, beta, running_mean, running_var (n_features, 1).
    Training needs m >= 2 (the variance of one example is 0).

    Args:
        n_features: rows of the input.
        momentum: weight of the newest batch in the running statistics (default 0.1).
        eps: added to the variance so the division stays finite (default 1e-5).
        dtype: float64 (default) or float32.

    >>> import numpy as np, minigrad as mg
    >>> bn = mg.BatchNorm(2)
    >>> A = bn.forward(np.array([[1.0, 3.0], [10.0, 30.0]]))
    >>> np.round(A, 3)
    array([[-1., 1.],
           [-1., 1.]])
    """

    n_features: int = field(validator=_positive_int)
    momentum: float = field(default=0.1, converter=_as_float, validator=_fraction)
    eps: float = field(default=1e-5, converter=_as_float, validator=_small_positive)
    dtype_: np.dtype[Any] = field(
        default=np.dtype(np.float64), converter=_float_dtype, alias="dtype"
    )
    _gamma: Parameter = field(init=False, repr=False)
    _beta: Parameter = field(init=False, repr=False)
    _running_mean: Array = field(init=False, repr=False)
    _running_var: Array = field(init=False, repr=False)
    Z_hat: Array | None = field(default=None, init=False, repr=False)
    inv_std: Array | None = field(default=None, init=False, repr=False)

    def __init__(
        self,
        n_features: int,
        *,
        momentum: float = 0.1,
        eps: float = 1e-5,
        dtype: DTypeLike = np.float64,
    ) -> None:
        self.__attrs_init__(n_features, momentum, eps, dtype)
        shape, dt, owner = (self.n_features, 1), self.dtype_, repr(self)
        self._gamma = Parameter("gamma", filled(shape, 1.0, dt, owner), np.zeros(shape, dt))
        self._beta = Parameter("beta", filled(shape, 0.0, dt, owner), np.zeros(shape, dt))
        self._running_mean = filled(shape, 0.0, dt, owner)
        self._running_var = filled(shape, 1.0, dt, owner)

    @property
    def gamma(self) -> Array:
        return self._gamma.value

    @property
    def beta(self) -> Array:
        return self._beta.value

    @property
    def running_mean(self) -> Array:
        return self._running_mean

    @property
    def running_var(self) -> Array:
        return self._running_var

    @override
    def parameters(self) -> list[Parameter]:
        return [self._gamma, self._beta]

    @override
    def buffers(self) -> dict[str, Array]:
        return {"running_mean": self._running_mean, "running_var": self._running_var}

    @property
    @override
    def dtype(self) -> np.dtype[Any]:
        return self._gamma.value.dtype

    @override
    def astype(self, dtype: DTypeLike) -> BatchNorm:
        super().astype(dtype)
        self.dtype_ = self._gamma.value.dtype
        self._running_mean = self._running_mean.astype(self.dtype_)
        self._running_var = self._running_var.astype(self.dtype_)
        return self

    @override
    def output_size(self, n_in: int | None) -> int:
        if n_in is not None and n_in != self.n_features:
            raise ShapeError(f"{self!r}: expects {self.n_features} input rows, got {n_in}")
        return self.n_features

    @override
    def forward(self, Z: Array) -> Array:
        dt = self._gamma.value.dtype
        if Z.__class__ is not np.ndarray or Z.dtype is not dt or Z.ndim != 2 or not Z.shape[1]:
            Z = as_float_matrix(self, Z, dt, "Z")
        check_rows(self, Z, self.n_features, "Z")
        m = Z.shape[1]
        if not self.training:
            inv_std = 1.0 / np.sqrt(self._running_var + self.eps)
            Z_hat = (Z - self._running_mean) * inv_std
        else:
            if m < 2:
                raise InputError(
                    f"{self!r}: training needs a batch of m >= 2 examples to normalize, got m=1; "
                    "use a larger batch_size, or call model.eval() to use the running statistics"
                )
            mu = Z.mean(axis=1, keepdims=True)
            Z_hat = Z - mu
            var = np.mean(Z_hat * Z_hat, axis=1, keepdims=True)
            inv_std = 1.0 / np.sqrt(var + self.eps)
            Z_hat *= inv_std
            keep = 1.0 - self.momentum
            self._running_mean *= keep
            self._running_mean += self.momentum * mu
            self._running_var *= keep
            self._running_var += (self.momentum * m / (m - 1)) * var
        self.Z_hat, self.inv_std = Z_hat, inv_std
        A: Array = self._gamma.value * Z_hat
        A += self._beta.value
        return A

    @override
    def infer(self, Z: Array) -> Array:
        """Eval mode's output, A = gamma (Z - running_mean) / sqrt(running_var + eps) + beta,
        leaving the caches and the running statistics as they are."""
        dt = self._gamma.value.dtype
        if Z.__class__ is not np.ndarray or Z.dtype is not dt or Z.ndim != 2 or not Z.shape[1]:
            Z = as_float_matrix(self, Z, dt, "Z")
        check_rows(self, Z, self.n_features, "Z")
        inv_std = 1.0 / np.sqrt(self._running_var + self.eps)
        A: Array = self._gamma.value * ((Z - self._running_mean) * inv_std)
        A += self._beta.value
        return A

    @override
    def backward(self, dA: Array) -> Array:
        Z_hat = self._cached(self.Z_hat)
        inv_std = self._cached(self.inv_std)
        if dA.__class__ is not np.ndarray or dA.shape != Z_hat.shape:
            raise ShapeError(
                f"{self!r}: expected dA of shape {Z_hat.shape} like A, "
                f"got {getattr(dA, 'shape', type(dA).__name__)}"
            )
        np.mean(dA * Z_hat, axis=1, keepdims=True, out=self._gamma.grad)
        np.mean(dA, axis=1, keepdims=True, out=self._beta.grad)
        G = dA * self._gamma.value
        if not self.training:  # the statistics are constants in eval mode
            G *= inv_std
            return G
        # mean_i(G) = gamma * dbeta and mean_i(G * Z_hat) = gamma * dgamma
        G -= self._gamma.value * self._beta.grad
        G -= Z_hat * (self._gamma.value * self._gamma.grad)
        G *= inv_std
        return G

    @override
    def explain_lines(self, tape: Tape) -> None:
        """Training mode: the batch mean and variance of each feature (row)."""
        if type(self).forward is not BatchNorm.forward:  # a subclass that computes something else
            generic_lines(self, tape)
            return
        prev = tape.current
        n = self.output_size(prev.rows)
        level = tape.level
        mu, var, gamma, beta = (tape.fresh(f"{name}{level}")
                                for name in ("mu", "var", "gamma", "beta"))
        hat, out = tape.fresh(f"{prev.name}_hat"), tape.fresh(f"{prev.name}_bn")
        eps = f"{self.eps:g}"
        column = tape.shape(n, 1)
        tape.forward_line(mu, f"(1/m) sum({prev.name}, axis=1)", f"{mu} {column}",
                          "eval mode uses the running mean and variance")
        tape.forward_line(var, f"(1/m) sum(({prev.name} - {mu})^2, axis=1)", f"{var} {column}")
        tape.forward_line(hat, f"({prev.name} - {mu}) / sqrt({var} + {eps})",
                          tape.named_shape(hat, n))
        tape.forward_line(out, f"{gamma} * {hat} + {beta}",
                          f"{tape.named_shape(out, n)}  {gamma} {column}  {beta} {column}")

        def backward(grad: Grad) -> Term:
            dA, G = grad.name, tape.fresh(f"G{level}")
            tape.parameter_line(f"d{gamma}", f"(1/m) sum({dA} * {hat}, axis=1)",
                                f"d{gamma} {column}")
            tape.parameter_line(f"d{beta}", f"(1/m) sum({dA}, axis=1)", f"d{beta} {column}")
            tape.backward_line(G, f"{gamma} * {dA}", tape.named_shape(G, n))
            return Term(f"({G} - mean({G}, axis=1) - {hat} * mean({G} * {hat}, axis=1)) "
                        f"/ sqrt({var} + {eps})")

        tape.advance(self, Var(out, n), backward)
