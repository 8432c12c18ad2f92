"""model.explain(): equations and shapes generated from the layers and the loss."""

from __future__ import annotations

import re

import numpy as np
import pytest
from attrs import define
from typing_extensions import override

import minigrad as mg
from minigrad.batchnorm import BatchNorm
from minigrad.dropout import Dropout
from minigrad.explain import Explanation, build
from minigrad.losses import BinaryCrossEntropy, CategoricalCrossEntropy, MeanSquaredError


def notes_net() -> mg.Sequential:
    return mg.Sequential([mg.Dense(2, 4, rng=0), mg.Tanh(), mg.Dense(4, 1, rng=1), mg.Sigmoid()])


def equations(lines: tuple[object, ...]) -> list[str]:
    return [line.equation for line in lines]  # type: ignore[attr-defined]


def test_the_notes_net_gives_the_notes_equations() -> None:
    result = build(notes_net(), BinaryCrossEntropy(), 400)
    assert equations(result.forward_lines) == [
        "Z1 = W1 X + b1",
        "A1 = tanh(Z1)",
        "Z2 = W2 A1 + b2",
        "A2 = sigmoid(Z2)",
        "J = -(1/m) sum(Y * log(A2) + (1 - Y) * log(1 - A2))",
    ]
    assert equations(result.backward_lines) == [
        "dZ2 = A2 - Y",
        "dW2 = (1/m) dZ2 A1^T",
        "db2 = (1/m) sum(dZ2, axis=1)",
        "dA1 = W2^T dZ2",
        "dZ1 = dA1 * (1 - A1^2)",
        "= W2^T dZ2 * (1 - A1^2)",
        "dW1 = (1/m) dZ1 X^T",
        "db1 = (1/m) sum(dZ1, axis=1)",
    ]
    shapes = [line.shapes for line in result.forward_lines + result.backward_lines]
    assert shapes[:4] == [
        "Z1 (4, 400)  W1 (4, 2)  b1 (4, 1)", "A1 (4, 400)",
        "Z2 (1, 400)  W2 (1, 4)  b2 (1, 1)", "A2 (1, 400)",
    ]
    assert "dZ1 (4, 400)" in shapes and "dW1 (4, 2)" in shapes and "db1 (4, 1)" in shapes
    assert "fused" in result.backward_lines[0].note


def test_explain_prints_and_returns_aligned_text(capsys: pytest.CaptureFixture[str]) -> None:
    text = notes_net().explain(loss=BinaryCrossEntropy(), m=400)
    assert capsys.readouterr().out == text + "\n"
    lines = text.splitlines()
    assert lines[0] == ("Model: Dense(n_in=2, n_out=4) -> Tanh() -> Dense(n_in=4, n_out=1) "
                        "-> Sigmoid()")
    assert "Batch: m = 400 examples as columns, X (2, 400), Y (1, 400)" in lines
    assert any(re.fullmatch(r"  Z1 = W1 X \+ b1 +Z1 \(4, 400\)  W1 \(4, 2\)  b1 \(4, 1\)", x)
               for x in lines)
    combined = next(x for x in lines if x.strip().startswith("= W2^T"))
    assert combined.index("=") == next(x for x in lines if "dZ1 = dA1" in x).index("=")
    assert text.isascii()


def test_print_fn_none_only_returns(capsys: pytest.CaptureFixture[str]) -> None:
    text = notes_net().explain(BinaryCrossEntropy, 8, print_fn=None)
    assert capsys.readouterr().out == ""
    assert "Z1 (4, 8)" in text


def test_without_m_shapes_use_the_letter_m() -> None:
    text = str(build(notes_net(), BinaryCrossEntropy()))
    assert "Z1 (4, m)" in text and "Batch: m examples as columns, X (2, m)" in text


def test_without_a_loss_backward_starts_from_dA() -> None:
    result = build(notes_net())
    assert result.backward_lines[0].lhs == "dA2"
    assert equations(result.backward_lines)[1] == "dZ2 = dA2 * (A2 * (1 - A2))"


def test_softmax_with_categorical_cross_entropy_is_fused() -> None:
    net = mg.Sequential([mg.Dense(2, 5), mg.ReLU(), mg.Dense(5, 3), mg.Softmax()])
    result = build(net, CategoricalCrossEntropy(), 10)
    assert equations(result.forward_lines)[-1] == "J = -(1/m) sum(Y * log(A2))"
    assert equations(result.backward_lines)[0] == "dZ2 = A2 - Y"
    assert "dZ1 = dA1 * (1 where Z1 > 0, else 0)" in equations(result.backward_lines)


@pytest.mark.parametrize(
    ("loss", "rows", "J", "first"),
    [
        (BinaryCrossEntropy(from_logits=True), 1,
         "J = (1/m) sum(log(1 + exp(Z2)) - Y * Z2)", "dZ2 = sigmoid(Z2) - Y"),
        (CategoricalCrossEntropy(from_logits=True), 3,
         "J = (1/m) sum(logsumexp(Z2, axis=0) - sum(Y * Z2, axis=0))", "dZ2 = softmax(Z2) - Y"),
        (MeanSquaredError(), 1, "J = (1/m) sum((Z2 - Y)^2)", "dZ2 = 2 * (Z2 - Y)"),
    ],
)
def test_losses_on_a_linear_output(loss: mg.losses.Loss, rows: int, J: str, first: str) -> None:
    net = mg.Sequential([mg.Dense(2, 4), mg.Tanh(), mg.Dense(4, rows)])
    result = build(net, loss, 7)
    assert equations(result.forward_lines)[-1] == J
    assert equations(result.backward_lines)[0] == first
    assert equations(result.backward_lines)[1] == "dW2 = (1/m) dZ2 A1^T"


def test_unfused_losses_give_their_dA() -> None:
    net = mg.Sequential([mg.Dense(2, 1), mg.Sigmoid()])
    assert equations(build(net, MeanSquaredError()).backward_lines)[:2] == [
        "dA1 = 2 * (A1 - Y)", "dZ1 = dA1 * (A1 * (1 - A1))",
    ]
    net = mg.Sequential([mg.Dense(2, 3), mg.Tanh()])
    assert equations(build(net, CategoricalCrossEntropy()).backward_lines)[0] == "dA1 = -Y / A1"
    assert equations(build(net, BinaryCrossEntropy()).backward_lines)[0] == (
        "dA1 = (A1 - Y) / (A1 * (1 - A1))")


def test_identity_output_with_mse_has_dZ_equal_dA() -> None:
    net = mg.Sequential([mg.Dense(1, 8), mg.Tanh(), mg.Dense(8, 1), mg.Identity()])
    result = build(net, MeanSquaredError(), 5)
    assert equations(result.backward_lines)[:2] == ["dA2 = 2 * (A2 - Y)", "dZ2 = dA2"]


def test_field_values_appear_in_the_formulas() -> None:
    net = mg.Sequential([mg.Dense(2, 3), mg.LeakyReLU(0.2), mg.Dense(3, 1)])
    result = build(net, MeanSquaredError())
    assert "A1 = Z1 where Z1 > 0, else 0.2 * Z1" in equations(result.forward_lines)
    assert "dZ1 = dA1 * (1 where Z1 > 0, else 0.2)" in equations(result.backward_lines)


def test_gelu_text_follows_its_approximation() -> None:
    exact = build(mg.Sequential([mg.Dense(1, 2), mg.GELU()]))
    tanh = build(mg.Sequential([mg.Dense(1, 2), mg.GELU(approximate="tanh")]))
    assert equations(exact.forward_lines)[1] == "A1 = Z1 * Phi(Z1)"
    assert "tanh(u)" in equations(tanh.forward_lines)[1]


@pytest.mark.parametrize("activation", mg.activations.BUILTIN_ACTIVATIONS,
                         ids=lambda cls: cls.__name__)
def test_every_builtin_activation_has_formulas(activation: type[mg.Activation]) -> None:
    result = build(mg.Sequential([mg.Dense(3, 2), activation(), mg.Dense(2, 1)]))
    forward = equations(result.forward_lines)[1]
    backward = next(x for x in equations(result.backward_lines) if x.startswith("dZ1 ="))
    assert forward.startswith("A1 = ") and "Z1" in forward
    assert "'" not in backward, backward  # a real derivative, not the generic g'
    assert "dA1" in backward


# -- custom activations and layers ---------------------------------------------


@define(eq=False, repr=False)
class Cube(mg.Activation):
    """Z cubed, described by class attributes."""

    g_text = "Z^3"
    g_prime_text = "3 * Z^2"

    @override
    def g(self, Z: np.ndarray) -> np.ndarray:
        return Z**3

    @override
    def g_prime(self, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
        return 3 * Z**2


@define(eq=False, repr=False)
class Square(mg.Activation):
    """Z squared, described by its docstring.

    g(Z)  = Z**2
    g'(Z) = 2 * Z
    """

    @override
    def g(self, Z: np.ndarray) -> np.ndarray:
        return Z * Z

    @override
    def g_prime(self, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
        return 2 * Z


@define(eq=False, repr=False)
class Mystery(mg.Tanh):
    """A tanh whose derivative is replaced without new text."""

    @override
    def g_prime(self, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
        return np.ones_like(Z)


@pytest.mark.parametrize(
    ("activation", "forward", "backward"),
    [
        (Cube(), "A1 = Z1^3", "dZ1 = dA1 * (3 * Z1^2)"),
        (Square(), "A1 = Z1^2", "dZ1 = dA1 * (2 * Z1)"),
        (Mystery(), "A1 = tanh(Z1)", "dZ1 = dA1 * mystery'(Z1)"),
    ],
    ids=["class-attributes", "docstring", "overridden-without-text"],
)
def test_custom_activations_name_their_derivative(
    activation: mg.Activation, forward: str, backward: str
) -> None:
    result = build(mg.Sequential([mg.Dense(2, 3), activation, mg.Dense(3, 1)]))
    assert equations(result.forward_lines)[1] == forward
    assert backward in equations(result.backward_lines)


def test_a_subclass_of_sigmoid_that_changes_g_prime_is_not_fused() -> None:
    @define(eq=False, repr=False)
    class OddSigmoid(mg.Sigmoid):
        @override
        def g_prime(self, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
            return A

    result = build(mg.Sequential([mg.Dense(2, 1), OddSigmoid()]), BinaryCrossEntropy())
    assert equations(result.backward_lines)[0].startswith("dA1 = ")


def test_an_unknown_layer_gets_a_generic_line() -> None:
    @define(eq=False, repr=False)
    class Double(mg.Layer):
        @override
        def forward(self, A_prev: np.ndarray) -> np.ndarray:
            return 2 * A_prev

        @override
        def backward(self, dA: np.ndarray) -> np.ndarray:
            return 2 * dA

        @override
        def output_size(self, n_in: int | None) -> int | None:
            return n_in

    net = mg.Sequential([mg.Dense(2, 3), mg.Tanh(), Double(), mg.Dense(3, 1)])
    result = build(net, MeanSquaredError(), 4)
    assert "A1_double = Double().forward(A1)" in equations(result.forward_lines)
    assert "dA1 = Double().backward(dA1_double)" in equations(result.backward_lines)
    assert "Z2 = W2 A1_double + b2" in equations(result.forward_lines)


def test_a_custom_layer_can_describe_itself() -> None:
    from minigrad.explain import Grad, Tape, Term, Var

    @define(eq=False, repr=False)
    class Scale(mg.Layer):
        @override
        def forward(self, A_prev: np.ndarray) -> np.ndarray:
            return 3 * A_prev

        @override
        def backward(self, dA: np.ndarray) -> np.ndarray:
            return 3 * dA

        @override
        def explain_lines(self, tape: Tape, /) -> None:
            prev = tape.current
            out = tape.fresh("S")
            tape.forward_line(out, f"3 {prev.name}", tape.named_shape(out, prev.rows))

            def backward(grad: Grad) -> Term:
                return Term(f"3 {grad.name}")

            tape.advance(self, Var(out, prev.rows), backward)

    result = build(mg.Sequential([mg.Dense(2, 2), Scale()]), MeanSquaredError())
    assert equations(result.forward_lines)[1] == "S = 3 Z1"
    assert equations(result.backward_lines)[:2] == ["dS = 2 * (S - Y)", "dZ1 = 3 dS"]


def test_dropout_and_batchnorm_have_their_own_lines() -> None:
    net = mg.Sequential([mg.Dense(3, 4), BatchNorm(4), mg.ReLU(), Dropout(0.25), mg.Dense(4, 1),
                         mg.Sigmoid()])
    result = build(net, BinaryCrossEntropy(), 16)
    forward = equations(result.forward_lines)
    assert "Z1_hat = (Z1 - mu1) / sqrt(var1 + 1e-05)" in forward
    assert "Z1_bn = gamma1 * Z1_hat + beta1" in forward
    assert "A1 = max(Z1_bn, 0)" in forward
    assert "D1 = (rand(4, 16) >= 0.25) / 0.75" in forward
    assert "Z2 = W2 A1_drop + b2" in forward
    backward = equations(result.backward_lines)
    assert "dA1 = dA1_drop * D1" in backward
    assert "dgamma1 = (1/m) sum(dZ1_bn * Z1_hat, axis=1)" in backward
    assert backward[-3].startswith("dZ1 = (G1 - mean(G1, axis=1)")


def test_shapes_match_a_real_forward_and_backward_of_a_deep_net() -> None:
    m = 6
    net = mg.Sequential([
        mg.Dense(5, 7, rng=0), mg.ReLU(), mg.Sequential([mg.Dense(7, 4, rng=1), mg.Tanh()]),
        mg.Dense(4, 3, rng=2), mg.Softmax(),
    ])
    result = build(net, CategoricalCrossEntropy(), m)
    X = np.random.default_rng(0).normal(size=(5, m))
    loss = CategoricalCrossEntropy()
    loss.forward(net.forward(X), np.arange(m) % 3)
    net.backward(loss.backward())
    dense = [net[0], net[2][0], net[3]]
    shown = {}
    for line in result.forward_lines + result.backward_lines:
        for name, rows, cols in re.findall(r"(\w+) \((\d+), (\d+)\)", line.shapes):
            shown[name] = (int(rows), int(cols))
    for level, layer in enumerate(dense, start=1):
        assert shown[f"W{level}"] == layer.W.shape
        assert shown[f"dW{level}"] == layer.dW.shape
        assert shown[f"db{level}"] == layer.db.shape
        assert shown[f"Z{level}"] == (layer.n_out, m)
    assert shown["A3"] == (3, m)
    assert [line.lhs for line in result.backward_lines if line.lhs.startswith("dW")] == [
        "dW3", "dW2", "dW1"]


def test_bad_arguments_are_named() -> None:
    with pytest.raises(mg.InputError, match="m must be a positive int"):
        notes_net().explain(BinaryCrossEntropy(), m=0)
    with pytest.raises(mg.InputError, match="loss must be a minigrad loss"):
        notes_net().explain(loss="bce")  # type: ignore[arg-type]


def test_explanation_is_a_value() -> None:
    result = build(notes_net(), BinaryCrossEntropy(), 2)
    assert isinstance(result, Explanation)
    assert str(result) == notes_net().explain(BinaryCrossEntropy(), 2, print_fn=None)


def test_dropout_with_rate_0_writes_nothing() -> None:
    net = mg.Sequential([mg.Dense(2, 3), mg.Tanh(), Dropout(0.0), mg.Dense(3, 1)])
    result = build(net, MeanSquaredError())
    assert "Z2 = W2 A1 + b2" in equations(result.forward_lines)
    assert not any("D1" in x for x in equations(result.forward_lines))
    assert "dA1 = W2^T dZ2" in equations(result.backward_lines)


def test_an_empty_model_says_so() -> None:
    assert build(mg.Sequential([]), MeanSquaredError()).title.startswith("Model: (no layers)")


# -- notebooks: the same lines as LaTeX ------------------------------------------


def latex_rows(result: Explanation) -> list[str]:
    body = result.latex()
    assert body.startswith("\\begin{aligned}\n") and body.endswith("\n\\end{aligned}")
    return body.removeprefix("\\begin{aligned}\n").removesuffix("\n\\end{aligned}").split(
        " \\\\\n")


def balanced(latex: str) -> bool:
    depth = 0
    for i, char in enumerate(latex):
        if char in "{}" and latex[i - 1] != "\\":
            depth += 1 if char == "{" else -1
            if depth < 0:
                return False
    return depth == 0


def test_latex_has_one_row_per_line_in_notation() -> None:
    result = build(notes_net(), BinaryCrossEntropy(), 400)
    rows = latex_rows(result)
    assert len(rows) == 2 + len(result.forward_lines) + len(result.backward_lines)
    assert rows[1] == r"Z_{1} &= W_{1} X + b_{1} && Z_{1}\ (4, 400),\quad W_{1}\ (4, 2),\quad " \
                      r"b_{1}\ (4, 1)"
    assert r"A_{1} &= \tanh(Z_{1})" in rows[2]
    assert rows[5].startswith(r"J &= -\frac{1}{m} \operatorname{sum}(Y \odot \log(A_{2}) + "
                              r"(1 - Y) \odot \log(1 - A_{2}))")
    backward = rows[len(result.forward_lines) + 2:]
    assert backward[0].startswith(r"dZ_{2} &= A_{2} - Y && dZ_{2}\ (1, 400)\quad \text{\# sigmoid")
    assert r"dZ_{1} &= dA_{1} \odot (1 - A_{1}^{2})" in backward[4]
    assert backward[5] == r" &= W_{2}^{T} dZ_{2} \odot (1 - A_{1}^{2})"  # the continuation


def test_latex_of_every_line_is_well_formed() -> None:
    net = mg.Sequential([mg.Dense(3, 4), BatchNorm(4), mg.LeakyReLU(0.1), Dropout(0.25),
                         mg.Dense(4, 4), mg.GELU(approximate="tanh"), mg.Dense(4, 3),
                         mg.Softmax()])
    result = build(net, CategoricalCrossEntropy(), 16)
    rows = latex_rows(result)
    assert len(rows) == 2 + len(result.forward_lines) + len(result.backward_lines)
    for row in rows:
        assert balanced(row), row
        assert "_" not in row.replace("\\_", "").replace("_{", ""), row  # every subscript grouped
        assert "^" not in row.replace("\\^{}", "").replace("^{", ""), row
        equation = row.split("&&")[0]  # the notes after it are text
        assert "*" not in equation and "(1/m)" not in equation and "sqrt(" not in equation, row
    assert result._repr_latex_() == "$$\n" + result.latex() + "\n$$"


def test_latex_parses_in_matplotlib_mathtext() -> None:
    mathtext = pytest.importorskip("matplotlib.mathtext", reason="matplotlib checks the LaTeX")
    import io

    net = mg.Sequential([mg.Dense(2, 4), BatchNorm(4), mg.ReLU(), Dropout(0.2), mg.Dense(4, 1),
                         mg.Sigmoid()])
    for row in latex_rows(build(net, BinaryCrossEntropy(), 16))[1:]:
        if row.startswith("&\\text"):
            continue
        mathtext.math_to_image("$" + row.replace("&", "") + "$", io.BytesIO(), format="png")


def test_markdown_shows_the_title_and_the_math() -> None:
    result = notes_net().explanation(BinaryCrossEntropy(), 400)
    markdown = result._repr_markdown_()
    assert markdown.startswith("`Model: Dense(n_in=2, n_out=4) -> Tanh() -> "
                               "Dense(n_in=4, n_out=1) -> Sigmoid()`  \n`Loss:  ")
    assert "$$\n" + result.latex() + "\n$$" in markdown
    assert str(result) == notes_net().explain(BinaryCrossEntropy(), 400, print_fn=None)
