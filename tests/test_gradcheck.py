"""mg.gradcheck: every built-in layer and loss passes it, and it catches wrong derivatives."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from conftest import ACTIVATIONS, LAYERS, away_from_kinks, normal

import minigrad as mg
from minigrad.activations import BUILTIN_ACTIVATIONS
from minigrad.gradcheck import GradCheckEntry, GradCheckResult
from minigrad.init import INITIALIZERS
from minigrad.losses import BUILTIN_LOSSES

L = mg.losses
SHAPES = [(1, 1), (3, 1), (4, 5), (2, 8)]


# -- one check over every built-in layer ------------------------------------------


@pytest.mark.parametrize(("n_in", "m"), SHAPES, ids=[f"{n}x{m}" for n, m in SHAPES])
@pytest.mark.parametrize("name", list(LAYERS))
def test_every_builtin_layer_passes_gradcheck(name: str, n_in: int, m: int) -> None:
    layer = LAYERS[name](n_in)
    X = away_from_kinks(n_in * 100 + m, (n_in, m))
    report = mg.gradcheck(layer, X)
    assert report, str(report)
    assert report.max_relative_error <= 1e-7, str(report)
    assert report.n_kinks == 0
    # every parameter entry and every input entry was compared
    assert report.n_checked == layer.n_parameters() + n_in * m


def test_the_table_covers_every_builtin() -> None:
    covered = {type(make()) for make in ACTIVATIONS.values()}
    exported = {
        obj
        for name in mg.__all__
        if isinstance(obj := getattr(mg, name), type)
        and issubclass(obj, mg.Activation)
        and obj is not mg.Activation
    }
    assert set(BUILTIN_ACTIVATIONS) <= covered
    assert exported <= covered
    inits = {layer.init for make in LAYERS.values() if isinstance(layer := make(2), mg.Dense)}
    assert inits == set(INITIALIZERS)


# -- every loss, through a model ---------------------------------------------------


def _binary(seed: int, shape: tuple[int, int]) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, size=shape).astype(float)


def _labels(seed: int, m: int, n_classes: int = 4) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n_classes, size=m)


def _one_hot(labels: np.ndarray, n_classes: int = 4) -> np.ndarray:
    return np.eye(n_classes)[:, labels]


LossCase = tuple[Callable[[], mg.Layer], Callable[[int], Any], Callable[[], L.Loss]]

LOSS_CASES: dict[str, LossCase] = {
    "MSE": (
        lambda: mg.Sequential([mg.Dense(3, 2, rng=0), mg.Tanh()]),
        lambda m: normal(5, (2, m)),
        L.MeanSquaredError,
    ),
    "MSE linear out": (
        lambda: mg.Sequential([mg.Dense(3, 4, rng=0), mg.SiLU(), mg.Dense(4, 2, rng=1)]),
        lambda m: normal(5, (2, m)),
        L.MeanSquaredError,
    ),
    "BCE": (
        lambda: mg.Sequential([mg.Dense(3, 1, rng=0), mg.Sigmoid()]),
        lambda m: _binary(6, (1, m)),
        L.BinaryCrossEntropy,
    ),
    "BCE 1-D labels": (
        lambda: mg.Sequential([mg.Dense(3, 1, rng=0), mg.Sigmoid()]),
        lambda m: _binary(6, (1, m))[0],
        L.BinaryCrossEntropy,
    ),
    "BCE two outputs, soft labels": (
        lambda: mg.Sequential([mg.Dense(3, 2, rng=0), mg.Sigmoid()]),
        lambda m: np.random.default_rng(7).uniform(0, 1, size=(2, m)),
        L.BinaryCrossEntropy,
    ),
    "BCE from_logits": (
        lambda: mg.Sequential([mg.Dense(3, 2, rng=0)]),
        lambda m: _binary(6, (2, m)),
        lambda: L.BinaryCrossEntropy(from_logits=True),
    ),
    "CCE one-hot": (
        lambda: mg.Sequential([mg.Dense(3, 4, rng=0), mg.Softmax()]),
        lambda m: _one_hot(_labels(8, m)),
        L.CategoricalCrossEntropy,
    ),
    "CCE labels": (
        lambda: mg.Sequential([mg.Dense(3, 4, rng=0), mg.Softmax()]),
        lambda m: _labels(8, m),
        L.CategoricalCrossEntropy,
    ),
    "CCE from_logits one-hot": (
        lambda: mg.Sequential([mg.Dense(3, 5, rng=0), mg.Tanh(), mg.Dense(5, 4, rng=1)]),
        lambda m: _one_hot(_labels(8, m)),
        lambda: L.CategoricalCrossEntropy(from_logits=True),
    ),
    "CCE from_logits labels": (
        lambda: mg.Sequential([mg.Dense(3, 4, rng=0)]),
        lambda m: _labels(8, m),
        lambda: L.CategoricalCrossEntropy(from_logits=True),
    ),
}


@pytest.mark.parametrize("m", [1, 6])
@pytest.mark.parametrize("case", list(LOSS_CASES))
def test_every_loss_passes_gradcheck_through_a_model(case: str, m: int) -> None:
    make_model, make_Y, make_loss = LOSS_CASES[case]
    X = normal(m, (3, m), scale=1.5)
    report = mg.gradcheck(make_model(), X, make_Y(m), make_loss())
    assert report, str(report)
    assert report.max_relative_error <= 1e-7, str(report)
    parts = {entry.part.split(" (")[0].split(",")[0] for entry in report.entries}
    assert {"model"} <= parts
    assert any(part.startswith("loss ") for part in parts)


def test_the_loss_cases_cover_every_loss_both_ways() -> None:
    losses = [make_loss() for _, _, make_loss in LOSS_CASES.values()]
    assert {type(loss) for loss in losses} == set(BUILTIN_LOSSES)
    assert {(type(x), getattr(x, "from_logits", False)) for x in losses} == {
        (L.MeanSquaredError, False),
        (L.BinaryCrossEntropy, False),
        (L.BinaryCrossEntropy, True),
        (L.CategoricalCrossEntropy, False),
        (L.CategoricalCrossEntropy, True),
    }


@pytest.mark.parametrize("p", [0.05, 5e-3, 1e-3, 5e-4, 2e-4, 1e-5])
def test_sharp_smooth_losses_near_zero_probability_are_not_mistaken_for_kinks(p: float) -> None:
    # -log(A) curves sharply when A is a few steps h away from 0: a smooth point,
    # not a kink, and the analytic gradient -1/A is exact
    A = np.array([[p, 0.3, 0.6], [1 - p, 0.7, 0.4]])
    cce = mg.gradcheck(mg.Identity(), A, np.array([0, 1, 0]), L.CategoricalCrossEntropy())
    bce = mg.gradcheck(mg.Identity(), A[:1], np.array([[1, 0, 1]]), L.BinaryCrossEntropy())
    assert cce, str(cce)
    assert bce, str(bce)


def test_softmax_classifier_with_tiny_probabilities_passes() -> None:
    X = normal(0, (3, 4), scale=6.0)
    net = mg.Sequential([mg.Dense(3, 3, rng=0), mg.Softmax()])
    net[0].W[...] *= 5  # confident: some probabilities below 1e-20
    assert net.forward(X).min() < 1e-20
    report = mg.gradcheck(net, X, np.array([0, 1, 2, 0]), L.CategoricalCrossEntropy())
    assert report, str(report)


# -- custom layers: right passes, wrong is caught and named ---------------------------


class Cube(mg.Activation):
    """g(Z) = Z**3 / 3 + Z,  g'(Z) = Z**2 + 1 (only g and g_prime are defined)."""

    def g(self, Z: np.ndarray) -> np.ndarray:
        out: np.ndarray = Z * Z * Z / 3 + Z
        return out

    def g_prime(self, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
        out: np.ndarray = Z * Z + 1
        return out


class WrongCube(Cube):
    """A typical slip: the derivative forgets the + 1."""

    def g_prime(self, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
        out: np.ndarray = Z * Z
        return out


def test_custom_activation_with_only_g_and_g_prime_passes() -> None:
    X = normal(1, (3, 6))
    alone = mg.gradcheck(Cube(), X)
    net = mg.Sequential([mg.Dense(3, 4, rng=0), Cube(), mg.Dense(4, 2, rng=1), mg.Tanh()])
    stacked = mg.gradcheck(net, X)
    assert alone, str(alone)
    assert stacked, str(stacked)
    assert alone.max_relative_error <= 1e-7


def test_custom_activation_with_wrong_g_prime_fails_and_names_the_layer() -> None:
    X = normal(1, (3, 6))
    net = mg.Sequential([
        mg.Dense(3, 4, rng=0), mg.Tanh(), mg.Dense(4, 4, rng=1), WrongCube(), mg.Dense(4, 1, rng=2)
    ])
    report = mg.gradcheck(net, X)
    assert not report
    assert report.max_relative_error > 1e-2
    text = str(report)
    assert text.startswith("gradcheck FAILED")
    assert "layer 3 (WrongCube())" in text.splitlines()[1]  # the first failure is the culprit
    assert report.worst is not None
    assert report.worst.part == "layer 3 (WrongCube())"
    assert report.worst.name == "Z2"  # the notes' name: dZ2 = dA2 * g'(Z2)
    # the layers checked on their own before it are fine
    own_failures = {e.part for e in report.failures if e.part.startswith("layer ")}
    assert own_failures == {"layer 3 (WrongCube())"}


def test_wrong_g_prime_alone_is_reported_with_its_class_name() -> None:
    report = mg.gradcheck(WrongCube(), normal(2, (2, 3)))
    assert not report
    assert str(report).splitlines()[1].startswith("  WrongCube(): dZ wrong at 6 of 6 entries")


class RowScale(mg.Layer):
    """A = s * A_prev with one learnable scale per row (a custom layer with a parameter)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        value = np.linspace(0.5, 2.0, n).reshape(n, 1)
        self.s = mg.Parameter("s", value, np.zeros_like(value))
        self.A_prev: np.ndarray | None = None

    def forward(self, A_prev: np.ndarray) -> np.ndarray:
        self.A_prev = A_prev
        out: np.ndarray = self.s.value * A_prev
        return out

    def backward(self, dA: np.ndarray) -> np.ndarray:
        A_prev = self._cached(self.A_prev)
        self.s.grad[...] = self._ds(dA, A_prev)
        out: np.ndarray = self.s.value * dA
        return out

    def _ds(self, dA: np.ndarray, A_prev: np.ndarray) -> np.ndarray:
        out: np.ndarray = (dA * A_prev).mean(axis=1, keepdims=True)
        return out

    def parameters(self) -> list[mg.Parameter]:
        return [self.s]


class WrongRowScale(RowScale):
    """Forgets the 1/m: sums where it should average."""

    def _ds(self, dA: np.ndarray, A_prev: np.ndarray) -> np.ndarray:
        out: np.ndarray = (dA * A_prev).sum(axis=1, keepdims=True)
        return out


def test_custom_layer_with_a_parameter_passes() -> None:
    net = mg.Sequential([mg.Dense(3, 4, rng=0), RowScale(4), mg.Sigmoid()])
    report = mg.gradcheck(net, normal(3, (3, 5)), _binary(4, (4, 5)), L.BinaryCrossEntropy())
    assert report, str(report)


def test_custom_layer_with_a_wrong_parameter_gradient_fails_and_names_it() -> None:
    net = mg.Sequential([mg.Dense(3, 4, rng=0), WrongRowScale(4), mg.Sigmoid()])
    report = mg.gradcheck(net, normal(3, (3, 5)), _binary(4, (4, 5)), L.BinaryCrossEntropy())
    assert not report
    assert report.worst is not None
    assert report.worst.part == "layer 1 (WrongRowScale())"
    assert report.worst.name == "s"
    assert "layer 1 (WrongRowScale()): ds wrong at 4 of 4 entries; worst at [" in str(report)
    # the input gradient of the layer is right, so its dZ1 is not among the failures
    assert not any(
        e.part == "layer 1 (WrongRowScale())" and e.name == "Z1" for e in report.failures
    )


# -- kinks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "kink"),
    [
        (mg.ReLU, 0.0),
        (mg.LeakyReLU, 0.0),
        (lambda: mg.ELU(0.5), 0.0),
        (mg.HardTanh, 1.0),
        (mg.HardTanh, -1.0),
    ],
    ids=["ReLU", "LeakyReLU", "ELU(0.5)", "HardTanh+1", "HardTanh-1"],
)
def test_exact_kinks_pass_and_are_counted(make: Callable[[], mg.Layer], kink: float) -> None:
    X = away_from_kinks(5, (3, 4))
    X[0, 1] = X[2, 3] = X[1, 0] = kink
    report = mg.gradcheck(make(), X)
    assert report, str(report)
    assert report.n_kinks == 3
    assert ", 3 at kinks" in str(report)


def test_relu_net_with_exact_zeros_in_the_input_passes() -> None:
    X = away_from_kinks(6, (3, 6))
    X[:, 2] = 0.0
    net = mg.Sequential([mg.ReLU(), mg.Dense(3, 4, rng=0), mg.ReLU(), mg.Dense(4, 1, rng=1)])
    report = mg.gradcheck(net, X)
    assert report, str(report)
    assert report.n_kinks >= 3


def test_elu_where_only_the_second_derivative_jumps_passes() -> None:
    # ELU(alpha=1) is smooth to first order at 0; a step across 0 bends the central
    # difference by O(h) although nothing is wrong
    X = np.array([[0.0, 1e-5, -1e-5, 1.5e-4, -1.5e-4, 0.7, -0.7]])
    for layer in (mg.ELU(), mg.SELU(), mg.ELU(0.5)):
        report = mg.gradcheck(layer, X)
        assert report, str(report)


@pytest.mark.parametrize("make", [mg.ReLU, mg.ELU, mg.LeakyReLU])
def test_the_notes_net_with_small_weights_and_many_examples_passes(
    make: Callable[[], mg.Layer],
) -> None:
    # randn * 0.01 keeps Z1 near 0: as a bias moves, several of the 100 examples cross
    # the kink within a step or two, which spoils the estimates at the full step
    for seed in (11, 12, 16):
        net = mg.Sequential([mg.Dense(2, 4, init="normal", rng=seed), make(),
                             mg.Dense(4, 1, init="normal", rng=seed + 100), mg.Sigmoid()])
        rng = np.random.default_rng(seed)
        X, Y = rng.normal(size=(2, 100)), rng.integers(0, 2, size=(1, 100))
        report = mg.gradcheck(net, X, Y, L.BinaryCrossEntropy())
        assert report, str(report)


XOR_X = np.array([[0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]])
XOR_Y = np.array([[0.0, 1.0, 1.0, 0.0]])


@pytest.mark.parametrize("make", [mg.ReLU, mg.LeakyReLU, lambda: mg.ELU(0.5)])
def test_xor_at_initialization_passes(make: Callable[[], mg.Layer]) -> None:
    # the example (0, 0) with zero biases puts every unit of both hidden layers exactly on
    # its kink: the chain rule's g'(0) per unit need not match the model's one-sided slopes
    net = mg.Sequential([mg.Dense(2, 8, init="he", rng=0), make(), mg.Dense(8, 4, rng=1), make(),
                         mg.Dense(4, 1, rng=2), mg.Sigmoid()])
    report = mg.gradcheck(net, XOR_X, XOR_Y, L.BinaryCrossEntropy())
    assert report, str(report)
    assert report.n_kinks > 0


def test_a_wrong_derivative_is_caught_even_when_other_units_sit_on_kinks() -> None:
    net = mg.Sequential([mg.Dense(2, 8, init="he", rng=0), mg.ReLU(), mg.Dense(8, 4, rng=1),
                         WrongCube(), mg.Dense(4, 1, rng=2), mg.Sigmoid()])
    report = mg.gradcheck(net, XOR_X, XOR_Y, L.BinaryCrossEntropy())
    assert not report
    assert report.worst is not None and report.worst.part == "layer 3 (WrongCube())"


class SlightlyOffReLU(mg.ReLU):
    """Off by a factor 1 + 1e-5: small, but a hundred times the tolerance."""

    def g_prime(self, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
        out: np.ndarray = (Z > 0) * (1 + 1e-5)
        return out


def test_a_small_error_next_to_kinks_is_still_caught() -> None:
    for seed in (11, 12):
        net = mg.Sequential([mg.Dense(2, 4, init="normal", rng=seed), SlightlyOffReLU(),
                             mg.Dense(4, 1, init="normal", rng=seed + 100)])
        rng = np.random.default_rng(seed)
        X, Y = rng.normal(size=(2, 100)), rng.integers(0, 2, size=(1, 100))
        report = mg.gradcheck(net, X, Y, L.BinaryCrossEntropy(from_logits=True))
        assert not report
        assert report.worst is not None and report.worst.part == "layer 1 (SlightlyOffReLU())"


class ReLUWrongAtZero(mg.ReLU):
    """Right everywhere except at the kink, where 3 is outside every one-sided slope."""

    def g_prime(self, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.where(Z > 0, 1.0, np.where(Z == 0, 3.0, 0.0))
        return out


def test_a_wrong_derivative_at_a_kink_is_still_reported() -> None:
    X = away_from_kinks(7, (2, 5))
    healthy = mg.gradcheck(ReLUWrongAtZero(), X)
    X[1, 3] = 0.0
    report = mg.gradcheck(ReLUWrongAtZero(), X)
    assert healthy, str(healthy)
    assert not report
    worst = report.worst
    assert worst is not None
    assert worst.at_kink
    assert worst.index == (1, 3)
    assert "ReLUWrongAtZero(): dZ wrong at 1 of 10 entries, for Z in [0, 0]; worst at a kink " \
        "(outside the one-sided slopes) at [1, 3]: analytic " in str(report)


# -- the report --------------------------------------------------------------------


def test_passing_report_format_and_truthiness() -> None:
    report = mg.gradcheck(mg.Dense(3, 2, rng=0), normal(0, (3, 4)))
    assert bool(report) is True
    assert report.passed
    assert report.failures == ()
    assert report.max_relative_error == max(e.relative_error for e in report.entries)
    assert report.worst is not None
    assert report.worst.relative_error == report.max_relative_error
    assert report.n_checked == 6 + 2 + 12
    assert re.fullmatch(
        r"gradcheck passed: max relative error \d\.\de-\d\d \(tolerance 1e-07\) over 20 entries",
        str(report),
    ), str(report)


def test_failing_report_format() -> None:
    report = mg.gradcheck(WrongCube(), normal(2, (2, 3)))
    lines = str(report).splitlines()
    assert bool(report) is False
    assert re.fullmatch(
        r"gradcheck FAILED: max relative error \d\.\de[-+]\d\d \(tolerance 1e-07\) "
        r"over 6 entries",
        lines[0],
    ), lines[0]
    number = r"-?\d[\d.]*(e[-+]\d+)?"
    assert re.fullmatch(
        rf"  WrongCube\(\): dZ wrong at 6 of 6 entries, for every Z checked \({number} to "
        rf"{number}\); worst at \[\d, \d\]: analytic {number}, "
        rf"numerical {number} \(rel error \d\.\de[-+]\d\d\)",
        lines[1],
    ), lines[1]
    worst = report.worst
    assert worst is not None
    # the entry holds the exact numbers the line prints
    assert f"analytic {worst.analytic:.6g}, numerical {worst.numeric:.6g}" in lines[1]
    assert worst.relative_error == pytest.approx(
        abs(worst.analytic - worst.numeric) / max(abs(worst.analytic), abs(worst.numeric))
    )


def test_the_worst_entry_is_the_true_gradient_difference() -> None:
    X = normal(3, (1, 1))
    report = mg.gradcheck(WrongCube(), X)
    worst = report.worst
    assert worst is not None
    z = float(X[0, 0])
    G = np.random.default_rng(0).standard_normal((1, 1))[0, 0]  # the checker's seed-0 G
    assert worst.analytic == pytest.approx(G * z * z, rel=1e-12)
    assert worst.numeric == pytest.approx(G * (z * z + 1), rel=1e-8)


class SlightlyOffTanh(mg.Tanh):
    """g' off by a factor 1 + 1e-6: ten times the default tolerance."""

    def g_prime(self, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
        out: np.ndarray = (1 - A * A) * (1 + 1e-6)
        return out


def test_tolerance_decides_truthiness() -> None:
    X = normal(4, (3, 5))
    loose = mg.gradcheck(SlightlyOffTanh(), X, tolerance=1e-5)
    strict = mg.gradcheck(SlightlyOffTanh(), X)
    assert loose
    assert not strict
    assert strict.max_relative_error == pytest.approx(1e-6, rel=1e-3)


def test_differences_within_rounding_pass_and_are_counted() -> None:
    X = normal(4, (3, 5))
    exact = mg.gradcheck(mg.Tanh(), X, tolerance=0.0)
    # every entry differs from its central difference by rounding only
    assert exact, str(exact)
    assert 0.0 < exact.max_relative_error <= 1e-9
    assert exact.n_rounding == 15
    assert str(exact).endswith("over 15 entries, 15 within the cost's rounding")


def test_max_entries_samples_each_array() -> None:
    layer = mg.Dense(6, 5, rng=0)
    X = normal(5, (6, 10))
    full = mg.gradcheck(layer, X)
    sampled = mg.gradcheck(layer, X, max_entries=4)
    assert full.n_checked == 30 + 5 + 60
    assert sampled.n_checked == 4 + 4 + 4
    assert sampled


# -- gradcheck leaves the model alone ----------------------------------------------------


def test_float32_model_is_checked_in_float64_and_left_unchanged() -> None:
    net = mg.Sequential([mg.Dense(3, 4, dtype=np.float32, rng=0), mg.Tanh(),
                         mg.Dense(4, 1, dtype=np.float32, rng=1), mg.Sigmoid()])
    X32 = normal(6, (3, 5)).astype(np.float32)
    net.forward(X32)
    caches = [(layer, getattr(layer, "A_prev", None), getattr(layer, "Z", None)) for layer in net]
    weights = [(p, p.value, p.value.copy()) for p in net.parameters()]
    report = mg.gradcheck(net, X32, _binary(7, (1, 5)), L.BinaryCrossEntropy())
    # float32 rounding (1e-7) would fail a 1e-7 tolerance at h = 1e-4: it ran in float64
    assert report, str(report)
    assert report.max_relative_error < 1e-7
    assert net.dtype == np.float32
    for p, array, saved in weights:
        assert p.value is array
        assert p.value.dtype == np.float32
        np.testing.assert_array_equal(p.value, saved)
    for layer, A_prev, Z in caches:
        assert getattr(layer, "A_prev", None) is A_prev
        assert getattr(layer, "Z", None) is Z


def test_gradcheck_does_not_touch_the_loss_or_the_data() -> None:
    loss = L.BinaryCrossEntropy()
    X = normal(8, (3, 4))
    Y = _binary(9, (1, 4))
    X_saved, Y_saved = X.copy(), Y.copy()
    mg.gradcheck(mg.Sequential([mg.Dense(3, 1, rng=0), mg.Sigmoid()]), X, Y, loss)
    assert loss.dA is None
    np.testing.assert_array_equal(X, X_saved)
    np.testing.assert_array_equal(Y, Y_saved)


# -- bad arguments -----------------------------------------------------------------------


def test_Y_and_loss_come_together() -> None:
    X = normal(0, (2, 3))
    with pytest.raises(ValueError, match="pass Y and loss together"):
        mg.gradcheck(mg.Tanh(), X, Y=np.ones((2, 3)))
    with pytest.raises(ValueError, match="pass Y and loss together"):
        mg.gradcheck(mg.Tanh(), X, loss=L.MeanSquaredError())


def test_non_finite_input_is_refused() -> None:
    X = normal(0, (2, 3))
    X[1, 2] = np.nan
    with pytest.raises(mg.InputError, match=r"X holds non-finite values \(first at index \(1, 2\)"):
        mg.gradcheck(mg.Tanh(), X)


@pytest.mark.parametrize("shape", [(3,), (2, 0)])
def test_badly_shaped_input_is_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(mg.ShapeError, match="gradcheck"):
        mg.gradcheck(mg.Tanh(), np.ones(shape))


# -- a report a learner can act on ---------------------------------------------------------


class LeakyWithWrongSlope(mg.Activation):
    """g(Z) = Z for Z > 0, 0.1 Z otherwise; g' says 0.2 on the left: wrong for Z < 0 only."""

    def g(self, Z: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.where(Z > 0, Z, 0.1 * Z)
        return out

    def g_prime(self, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.where(Z > 0, 1.0, 0.2)
        return out


def _broken_net(activation: mg.Layer) -> mg.Sequential:
    return mg.Sequential([mg.Dense(3, 4, rng=0), activation, mg.Dense(4, 1, rng=1)])


def test_the_report_counts_the_wrong_entries_and_says_for_which_Z() -> None:
    Z = normal(0, (3, 8), scale=2.0)
    report = mg.gradcheck(_broken_net(LeakyWithWrongSlope()), Z)
    first = report.causes[0]
    n_negative = int((mg.Dense(3, 4, rng=0).forward(Z) < 0).sum())
    assert (first.n_wrong, first.n_entries) == (n_negative, 32)
    assert first.where == "for Z < 0 only"
    assert str(report).splitlines()[1].startswith(
        f"  layer 1 (LeakyWithWrongSlope()): dZ1 wrong at {n_negative} of 32 entries, "
        "for Z < 0 only; worst at ["
    )


def test_a_derivative_wrong_in_one_interval_names_the_interval() -> None:
    class WrongBetween(Cube):  # g' off by one for 0.5 < Z < 1.5 only
        def g_prime(self, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
            out: np.ndarray = Z * Z + 1 + ((Z > 0.5) & (Z < 1.5))
            return out

    Z = np.array([[-1.0, -0.2, 0.7, 0.9, 1.2, 2.0]])
    report = mg.gradcheck(WrongBetween(), Z)
    assert report.causes[0].where == "for Z in [0.7, 1.2]"
    assert "dZ wrong at 3 of 6 entries, for Z in [0.7, 1.2]; worst at [0, " in str(report)


def test_the_model_level_failures_are_marked_as_consequences() -> None:
    report = mg.gradcheck(_broken_net(WrongCube()), normal(1, (3, 6)))
    lines = str(report).splitlines()
    assert [e.part for e in report.causes] == ["layer 1 (WrongCube())"]
    assert {e.name for e in report.consequences} == {"W1", "b1", "X"}
    assert all(e.composite for e in report.consequences)
    # one line for the cause, one for what follows from it: no "model, layer 0 ..." lines
    assert len(lines) == 3
    assert lines[2] == (
        "  as a consequence of the above, not a further error: the whole model's dW1, db1 and "
        "dX are wrong too (backprop computes them from the wrong gradient)"
    )
    assert not any(line.startswith("  model") for line in lines)


def test_model_failures_without_a_layer_to_blame_are_reported_as_they_are() -> None:
    entry = GradCheckEntry("model", "X", (0, 0), 1.0, 2.0, 0.5, n_wrong=1, n_entries=4,
                           composite=True)
    report = GradCheckResult(entries=(entry,), tolerance=1e-7, n_checked=4, n_kinks=0)
    assert report.causes == ()
    assert report.consequences == ()
    assert str(report).splitlines()[1] == (
        "  model: dX wrong at 1 of 4 entries; worst at [0, 0]: analytic 1, numerical 2 "
        "(rel error 5.0e-01)"
    )


def test_the_report_uses_the_notes_names() -> None:
    net = mg.Sequential([mg.Dense(2, 3, rng=0), mg.Tanh(), mg.Dense(3, 1, rng=1), mg.Sigmoid()])
    X = normal(2, (2, 5))
    report = mg.gradcheck(net, X, _binary(3, (1, 5)), L.BinaryCrossEntropy())
    names = [(e.part.split(" (")[0], e.name) for e in report.entries]
    assert names == [
        ("layer 0", "W1"), ("layer 0", "b1"), ("layer 0", "X"),
        ("layer 1", "Z1"), ("layer 2", "W2"), ("layer 2", "b2"), ("layer 2", "A1"),
        ("layer 3", "Z2"), ("loss BinaryCrossEntropy()", "A"),
        ("model, layer 0", "W1"), ("model, layer 0", "b1"), ("model, layer 2", "W2"),
        ("model, layer 2", "b2"), ("model", "X"),
    ]


def _tutorial_net_after_training(seed: int) -> tuple[mg.Sequential, np.ndarray, np.ndarray]:
    """docs/tutorial.md's circle data and 2-4-1 tanh net, trained by plain gradient descent."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(2, 200))
    Y = (np.sum(X**2, axis=0, keepdims=True) < 1.4).astype(float)
    net = mg.Sequential([mg.Dense(2, 4, rng=0), mg.Tanh(), mg.Dense(4, 1, rng=1), mg.Sigmoid()])
    net[0].W[...] = rng.normal(size=(4, 2)) * 0.5
    net[2].W[...] = rng.normal(size=(1, 4)) * 0.5
    loss = L.BinaryCrossEntropy()
    for _ in range(3000):
        loss.forward(net.forward(X), Y)
        net.backward(loss.backward())
        for p in net.parameters():
            p.value -= p.grad
    return net, X[:, :20], Y[:, :20]


@pytest.mark.parametrize("seed", range(10))
def test_trained_tutorial_net_passes_with_no_kinks(seed: int) -> None:
    # trained, the sigmoid puts some outputs within 1e-8 of 0 or 1: the loss's steps must
    # shrink to stay inside [0, 1], and rounding must not be taken for an error or a kink
    net, X, Y = _tutorial_net_after_training(seed)
    A = net.forward(X)
    report = mg.gradcheck(net, X, Y, L.BinaryCrossEntropy())
    assert report, str(report)
    assert report.n_kinks == 0
    assert ", at kinks" not in str(report)
    assert min(A.min(), 1 - A.max()) < 1e-4  # the case the issue met


@pytest.mark.parametrize("p", [1e-7, 1e-8, 2e-9])
def test_probabilities_next_to_0_and_1_pass_for_bce(p: float) -> None:
    A = np.array([[p, 1 - p, 0.3, 1 - 4 * p]])
    Y = np.array([[0.0, 1.0, 1.0, 1.0]])
    report = mg.gradcheck(mg.Identity(), A, Y, L.BinaryCrossEntropy())
    assert report, str(report)
    assert report.n_kinks == 0


def test_the_report_shows_as_a_table_in_a_notebook() -> None:
    report = mg.gradcheck(_broken_net(LeakyWithWrongSlope()), normal(0, (3, 8), scale=2.0))
    html = report._repr_html_()
    assert html.startswith('<p><b style="color:#cf222e">gradcheck FAILED</b>')
    assert "<td>layer 1 (LeakyWithWrongSlope())</td><td>dZ1</td>" in html
    assert "<td>for Z &lt; 0 only</td>" in html
    assert "as a consequence of the above" in html
    passed = mg.gradcheck(mg.Tanh(), normal(1, (2, 3)))._repr_html_()
    assert passed.startswith('<p><b style="color:#1a7f37">gradcheck passed</b>')
    assert "<table>" not in passed


@pytest.mark.parametrize("seed", [0, 5])
def test_a_small_error_in_a_trained_net_is_still_caught(seed: int) -> None:
    # the rounding allowances near 0 and 1 must not hide a derivative 1e-6 off
    net, X, Y = _tutorial_net_after_training(seed)
    off = mg.Sequential([net[0], SlightlyOffTanh(), net[2], net[3]])
    report = mg.gradcheck(off, X, Y, L.BinaryCrossEntropy())
    assert not report
    assert report.worst is not None and report.worst.part == "layer 1 (SlightlyOffTanh())"


def test_a_trained_softmax_net_with_tiny_gradients_passes_with_no_kinks() -> None:
    # trained to a loss near 0: the model's gradients are ~1e-7 and rounding of the cost
    # (whose terms are larger than J itself) must be neither an error nor a kink
    X, y = mg.datasets.moons(60, noise=0.1, seed=0)
    labels = np.asarray(y).reshape(-1).astype(int)
    net = mg.Sequential([mg.Dense(2, 6, rng=1), mg.Tanh(), mg.Dense(6, 2, rng=11), mg.Softmax()])
    mg.fit(net, X, labels, loss=L.CategoricalCrossEntropy(),
           optimizer=mg.optim.Adam(net.parameters(), lr=0.05), epochs=300, verbose=False)
    report = mg.gradcheck(net, X[:, :20], labels[:20], L.CategoricalCrossEntropy())
    assert report, str(report)
    assert report.n_kinks == 0, str(report)
