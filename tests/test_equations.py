"""The explain tape: several inputs, layers with several inputs, forks and several outputs.

The containers here are small stand-ins, written for these tests, that drive
the tape the way a graph does: they set ``tape.currents`` to a layer's inputs,
call its ``explain_lines``, and keep the quantity it gives.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from attrs import define, field
from typing_extensions import override

import minigrad as mg
from minigrad.explain import Grad, Tape, Term, Var, build
from minigrad.losses import BinaryCrossEntropy, CategoricalCrossEntropy, MeanSquaredError


def equations(lines: tuple[Any, ...]) -> list[str]:
    return [line.equation for line in lines]


def sum_lines(tape: Tape, layer: object, letter: str, op: str) -> None:
    """``S = A1 + A2``-style merge of ``tape.currents``; each input's gradient is dS (or, for
    ``*``, dS times the other input)."""
    a, b = tape.currents
    out = tape.fresh(f"{letter}{tape.level}")
    tape.forward_line(out, f"{a.name} {op} {b.name}", tape.named_shape(out, a.shape))

    def backward(grad: Grad) -> tuple[Term, Term]:
        if op == "*":
            return Term(f"{grad.name} * {b.name}"), Term(f"{grad.name} * {a.name}")
        return Term(grad.name), Term(grad.name)

    tape.advance(layer, Var(out, a.shape), backward)


@define(eq=False, repr=False)
class Skip(mg.Layer):
    """A = X + block(X): a residual connection around ``block``."""

    block: mg.Layer

    @override
    def children(self) -> list[mg.Layer]:
        return [self.block]

    @override
    def forward(self, X: np.ndarray) -> np.ndarray:
        return X + self.block.forward(X)

    @override
    def backward(self, dA: np.ndarray) -> np.ndarray:
        return dA + self.block.backward(dA)

    @override
    def explain_lines(self, tape: Tape) -> None:
        x = tape.current
        self.block.explain_lines(tape)
        tape.currents = (x, tape.current)
        sum_lines(tape, self, "S", "+")


@define(eq=False, repr=False)
class TwoInputs(mg.Layer):
    """x (2 rows) and z (3 rows), each through a Dense layer, stacked, then a head."""

    left: mg.Layer = field(factory=lambda: mg.Dense(2, 4))
    right: mg.Layer = field(factory=lambda: mg.Dense(3, 4))
    head: mg.Layer = field(factory=lambda: mg.Sequential([mg.Dense(8, 1), mg.Sigmoid()]))

    @override
    def children(self) -> list[mg.Layer]:
        return [self.left, self.right, self.head]

    def explain_inputs(self) -> list[Var]:
        return [Var("x", 2), Var("z", 3)]

    @override
    def explain_lines(self, tape: Tape) -> None:
        x, z = tape.currents
        tape.current = x
        self.left.explain_lines(tape)
        a = tape.current
        tape.current = z
        self.right.explain_lines(tape)
        b = tape.current
        tape.currents = (a, b)
        out = tape.fresh(f"C{tape.level}")
        tape.forward_line(out, f"[{a.name}; {b.name}]", tape.named_shape(out, 8))

        def backward(grad: Grad) -> tuple[Term, Term]:
            return Term(f"{grad.name}[0:4]"), Term(f"{grad.name}[4:8]")

        tape.advance(self, Var(out, 8), backward)
        self.head.explain_lines(tape)


@define(eq=False, repr=False)
class TwoHeads(mg.Layer):
    """A shared trunk feeding two heads: two outputs, each with its own loss."""

    trunk: mg.Layer = field(factory=lambda: mg.Sequential([mg.Dense(2, 4), mg.Tanh()]))
    first: mg.Layer = field(factory=lambda: mg.Sequential([mg.Dense(4, 1), mg.Sigmoid()]))
    second: mg.Layer = field(factory=lambda: mg.Sequential([mg.Dense(4, 3), mg.Softmax()]))

    @override
    def children(self) -> list[mg.Layer]:
        return [self.trunk, self.first, self.second]

    @override
    def explain_lines(self, tape: Tape) -> None:
        self.trunk.explain_lines(tape)
        h = tape.current
        self.first.explain_lines(tape)
        y1 = tape.current
        tape.current = h
        self.second.explain_lines(tape)
        tape.currents = (y1, tape.current)


def test_a_fork_sums_the_gradients_of_its_paths_in_one_line() -> None:
    block = mg.Sequential([mg.Dense(3, 3), mg.Tanh()])
    net = mg.Sequential([mg.Dense(2, 3), mg.Tanh(), Skip(block), mg.Dense(3, 1), mg.Sigmoid()])
    result = build(net, BinaryCrossEntropy(), 5)
    assert equations(result.forward_lines) == [
        "Z1 = W1 X + b1", "A1 = tanh(Z1)", "Z2 = W2 A1 + b2", "A2 = tanh(Z2)", "S2 = A1 + A2",
        "Z3 = W3 S2 + b3", "A3 = sigmoid(Z3)",
        "J = -(1/m) sum(Y * log(A3) + (1 - Y) * log(1 - A3))",
    ]
    backward = equations(result.backward_lines)
    assert backward == [
        "dZ3 = A3 - Y", "dW3 = (1/m) dZ3 S2^T", "db3 = (1/m) sum(dZ3, axis=1)",
        "dS2 = W3^T dZ3",
        "dA2 = dS2",
        "dZ2 = dA2 * (1 - A2^2)",
        "dW2 = (1/m) dZ2 A1^T", "db2 = (1/m) sum(dZ2, axis=1)",
        "dA1 = W2^T dZ2 + dS2",  # the two paths out of A1, in forward order
        "dZ1 = dA1 * (1 - A1^2)",  # no expanded second line after a sum
        "dW1 = (1/m) dZ1 X^T", "db1 = (1/m) sum(dZ1, axis=1)",
    ]
    assert sum(line.lhs == "dA1" for line in result.backward_lines) == 1
    fork = next(line for line in result.backward_lines if line.lhs == "dA1")
    assert fork.shapes == "dA1 (3, 5)"


def test_the_fork_line_is_what_backward_computes() -> None:
    block = mg.Sequential([mg.Dense(3, 3, rng=1), mg.Tanh()])
    net = mg.Sequential([mg.Dense(2, 3, rng=0), mg.Tanh(), Skip(block), mg.Dense(3, 1, rng=2)])
    X = np.random.default_rng(0).normal(size=(2, 5))
    dA = np.random.default_rng(1).normal(size=(1, 5))
    net.forward(X)
    net.backward(dA)
    # the lines: dS2 = W3^T dA, dZ2 = dS2 * (1 - A2^2), dA1 = W2^T dZ2 + dS2, dZ1 = dA1 * (1 - A1^2)
    dS2 = net[3].W.T @ dA
    A1, A2 = net[1].A, block[1].A
    dZ2 = dS2 * (1 - A2**2)
    dA1 = block[0].W.T @ dZ2 + dS2
    dZ1 = dA1 * (1 - A1**2)
    np.testing.assert_allclose(dZ1 @ X.T / 5, net[0].dW)
    assert "dA1 = W2^T dZ2 + dS2" in equations(build(net, MeanSquaredError()).backward_lines)


def test_a_layer_with_two_inputs_gives_each_its_gradient() -> None:
    result = build(TwoInputs(), BinaryCrossEntropy(), 5)
    forward = equations(result.forward_lines)
    assert forward[:4] == ["Z1 = W1 x + b1", "Z2 = W2 z + b2", "C2 = [Z1; Z2]", "Z3 = W3 C2 + b3"]
    backward = equations(result.backward_lines)
    assert backward[3:] == [
        "dC2 = W3^T dZ3",
        "dZ2 = dC2[4:8]", "dW2 = (1/m) dZ2 z^T", "db2 = (1/m) sum(dZ2, axis=1)",
        "dZ1 = dC2[0:4]", "dW1 = (1/m) dZ1 x^T", "db1 = (1/m) sum(dZ1, axis=1)",
    ]
    assert not any(line.lhs in ("dx", "dz") for line in result.backward_lines)  # data
    assert "Batch: m = 5 examples as columns, x (2, 5), z (3, 5), Y (1, 5)" in result.title


def test_several_outputs_each_have_a_loss_and_the_trunk_sums_them() -> None:
    result = build(TwoHeads(), [BinaryCrossEntropy(), CategoricalCrossEntropy()], 7)
    forward = equations(result.forward_lines)
    assert forward[-3:] == [
        "J1 = -(1/m) sum(Y1 * log(A2) + (1 - Y1) * log(1 - A2))",
        "J2 = -(1/m) sum(Y2 * log(A3))",
        "J = J1 + J2",
    ]
    backward = equations(result.backward_lines)
    assert backward[0] == "dZ3 = A3 - Y2"
    assert "dZ2 = A2 - Y1" in backward
    assert "dA1 = W2^T dZ2 + W3^T dZ3" in backward
    assert result.title.endswith("Y1 (1, 7), Y2 (3, 7)")
    assert "Loss:  BinaryCrossEntropy(), CategoricalCrossEntropy()" in result.title


def test_several_outputs_without_losses_start_from_each_dA() -> None:
    backward = equations(build(TwoHeads()).backward_lines)
    assert backward[0] == "dA3 = dJ/dA3 from the loss, per example"
    assert "dA2 = dJ/dA2 from the loss, per example" in backward


def test_one_loss_per_output() -> None:
    with pytest.raises(mg.InputError, match="2 outputs, so it needs 2 losses, one per output; "
                                            "got 1"):
        build(TwoHeads(), BinaryCrossEntropy())


def test_a_fused_output_that_also_feeds_a_layer_is_not_fused() -> None:
    @define(eq=False, repr=False)
    class Reuse(mg.Layer):
        """The sigmoid's output is the model's output and also feeds a product."""

        body: mg.Layer = field(factory=lambda: mg.Sequential([mg.Dense(2, 1), mg.Sigmoid()]))

        @override
        def children(self) -> list[mg.Layer]:
            return [self.body]

        @override
        def explain_lines(self, tape: Tape) -> None:
            self.body.explain_lines(tape)
            a = tape.current
            tape.currents = (a, a)
            sum_lines(tape, self, "P", "*")
            tape.currents = (a, tape.current)

    result = build(Reuse(), [BinaryCrossEntropy(), MeanSquaredError()])
    backward = equations(result.backward_lines)
    assert backward[0] == "dP1 = 2 * (P1 - Y2)"
    assert backward[1] == "dA1 = dP1 * A1 + dP1 * A1 + (A1 - Y1) / (A1 * (1 - A1))"
    assert backward[2] == "dZ1 = dA1 * (A1 * (1 - A1))"


def test_a_backward_step_that_returns_a_grad_is_told_what_to_return() -> None:
    @define(eq=False, repr=False)
    class Old(mg.Layer):
        @override
        def explain_lines(self, tape: Tape) -> None:
            prev = tape.current
            tape.advance(self, Var("B", prev.shape), lambda grad: Grad("d" + prev.name))

    with pytest.raises(mg.InputError, match=r"Old\(\) returned a Grad; it returns a Term"):
        build(mg.Sequential([mg.Dense(2, 2), Old()]))


def test_a_layer_given_two_inputs_is_told_it_takes_one() -> None:
    net = mg.Sequential([mg.Dense(2, 3)])

    @define(eq=False, repr=False)
    class Wrong(mg.Layer):
        @override
        def children(self) -> list[mg.Layer]:
            return [net]

        def explain_inputs(self) -> list[Var]:
            return [Var("x", 2), Var("z", 2)]

        @override
        def explain_lines(self, tape: Tape) -> None:
            net.explain_lines(tape)

    with pytest.raises(mg.InputError, match=r"a layer that takes one input received 2 \(x, z\)"):
        build(Wrong())


def test_var_shapes_are_per_example() -> None:
    tape = Tape(m=16, inputs=(Var("X", (3, 28, 28)),))
    assert tape.current.shape == (3, 28, 28) and tape.current.rows is None
    assert tape.named_shape("X", tape.current.shape) == "X (3, 28, 28, 16)"
    assert Var("A", 4).shape == (4,) and Var("A", 4).rows == 4
    assert Var("A", None).shape is None and tape.shape(None) == "(?, 16)"
    assert tape.named_shape("W1", 8, 3) == "W1 (8, 3)"
    assert tape.fixed_shape("W1", (8, 3, 3, 3)) == "W1 (8, 3, 3, 3)"


def test_elementwise_layers_keep_image_shapes() -> None:
    @define(eq=False, repr=False)
    class Images(mg.Layer):
        body: mg.Layer = field(factory=lambda: mg.Sequential([mg.ReLU(), mg.Dropout(0.5)]))

        @override
        def children(self) -> list[mg.Layer]:
            return [self.body]

        def explain_inputs(self) -> list[Var]:
            return [Var("X", (1, 8, 8))]

        @override
        def explain_lines(self, tape: Tape) -> None:
            self.body.explain_lines(tape)

    result = build(Images(), None, 4)
    shapes = [line.shapes for line in result.forward_lines]
    assert shapes == ["A0 (1, 8, 8, 4)", "D0 (1, 8, 8, 4)", "A0_drop (1, 8, 8, 4)"]
    assert "(rand(1, 8, 8, 4) >= 0.5) / 0.5" in equations(result.forward_lines)[1]
    assert "X (1, 8, 8, 4)" in result.title


def test_a_layer_used_twice_keeps_its_names_and_sums_its_gradients() -> None:
    shared = mg.Dense(3, 3)

    @define(eq=False, repr=False)
    class Twice(mg.Layer):
        """Dense(2, 3), tanh, then the same Dense(3, 3) and tanh twice (shared weights)."""

        first: mg.Layer = field(factory=lambda: mg.Sequential([mg.Dense(2, 3), mg.Tanh()]))

        @override
        def children(self) -> list[mg.Layer]:
            return [self.first, shared]

        @override
        def explain_lines(self, tape: Tape) -> None:
            self.first.explain_lines(tape)
            for _ in range(2):
                shared.explain_lines(tape)
                mg.Tanh().explain_lines(tape)

    result = build(Twice(), MeanSquaredError(), 4)
    forward = equations(result.forward_lines)
    assert forward[2:6] == ["Z2 = W2 A1 + b2", "A2 = tanh(Z2)", "Z2_2 = W2 A2 + b2",
                            "A2_2 = tanh(Z2_2)"]
    backward = equations(result.backward_lines)
    assert "dW2 = (1/m) dZ2_2 A2^T + (1/m) dZ2 A1^T" in backward
    assert "db2 = (1/m) sum(dZ2_2, axis=1) + (1/m) sum(dZ2, axis=1)" in backward
    assert sum(line.startswith("dW2 =") for line in backward) == 1
    assert not any(line.startswith("dW3") for line in backward)


# -- the real containers: Graph, the merge layers, Residual ----------------------------


def test_a_graph_with_a_skip_connection_writes_the_fork_as_a_sum() -> None:
    x = mg.Input(2, name="x")
    h = mg.Tanh()(mg.Dense(2, 3, rng=0)(x))
    r = mg.Add()([h, mg.Tanh()(mg.Dense(3, 3, rng=1)(h))])
    model = mg.Graph(inputs=x, outputs=mg.Dense(3, 1, rng=2)(r))
    result = build(model, MeanSquaredError(), 5)
    assert equations(result.forward_lines)[:5] == [
        "Z1 = W1 x + b1", "A1 = tanh(Z1)", "Z2 = W2 A1 + b2", "A2 = tanh(Z2)", "S2 = A1 + A2"]
    backward = equations(result.backward_lines)
    assert backward[3:5] == ["dS2 = W3^T dZ3", "dA2 = dS2"]
    assert "dA1 = W2^T dZ2 + dS2" in backward and "dW1 = (1/m) dZ1 x^T" in backward
    assert "Batch: m = 5 examples as columns, x (2, 5), Y (1, 5)" in result.title
    # the lines compute what Graph.backward computes
    X = np.random.default_rng(0).normal(size=(2, 5))
    dA = np.random.default_rng(1).normal(size=(1, 5))
    model.forward(X)
    model.backward(dA)
    first, second, out = (node.layer for node in model.nodes if isinstance(node.layer, mg.Dense))
    A1 = np.tanh(first.W @ X + first.b)
    A2 = np.tanh(second.W @ A1 + second.b)
    dS2 = out.W.T @ dA
    dZ2 = dS2 * (1 - A2**2)
    dA1 = second.W.T @ dZ2 + dS2
    dZ1 = dA1 * (1 - A1**2)
    np.testing.assert_allclose(dZ1 @ X.T / 5, first.dW)
    np.testing.assert_allclose(dZ2 @ A1.T / 5, second.dW)


def test_a_graph_with_two_inputs_and_two_outputs() -> None:
    a, b = mg.Input(2, name="a"), mg.Input(3, name="b")
    c = mg.Concat()([mg.ReLU()(mg.Dense(2, 4)(a)), mg.ReLU()(mg.Dense(3, 2)(b))])
    gated = mg.Multiply()([c, mg.Sigmoid()(mg.Dense(6, 6)(c))])
    model = mg.Graph(inputs=[a, b],
                     outputs=[mg.Sigmoid()(mg.Dense(6, 1)(gated)), mg.Dense(6, 2)(gated)])
    result = build(model, [BinaryCrossEntropy(), MeanSquaredError()], 8)
    forward = equations(result.forward_lines)
    assert "C2 = [A1; A2]" in forward and "P3 = C2 * A3" in forward
    assert forward[-3:] == ["J1 = -(1/m) sum(Y1 * log(A4) + (1 - Y1) * log(1 - A4))",
                            "J2 = (1/m) sum((Z5 - Y2)^2)", "J = J1 + J2"]
    backward = equations(result.backward_lines)
    assert "dP3 = W4^T dZ4 + W5^T dZ5" in backward
    assert "dA3 = dP3 * C2" in backward
    assert "dC2 = W3^T dZ3 + dP3 * A3" in backward
    assert "dA2 = dC2[4:6]" in backward and "dA1 = dC2[0:4]" in backward
    assert "a (2, 8), b (3, 8), Y1 (1, 8), Y2 (2, 8)" in result.title


def test_residual_writes_its_block_then_the_sum() -> None:
    block = mg.Sequential([mg.Dense(3, 3), mg.ReLU()])
    net = mg.Sequential([mg.Dense(2, 3), mg.ReLU(), mg.Residual(block), mg.Dense(3, 1)])
    result = build(net, MeanSquaredError())
    assert "S2 = A1 + A2" in equations(result.forward_lines)
    assert "dA1 = W2^T dZ2 + dS2" in equations(result.backward_lines)


def test_a_graph_that_uses_a_layer_twice_sums_its_gradient() -> None:
    x = mg.Input(3, name="x")
    shared = mg.Dense(3, 3)
    y = mg.Tanh()(shared(mg.Tanh()(shared(x))))
    result = build(mg.Graph(inputs=x, outputs=y), MeanSquaredError())
    assert equations(result.forward_lines)[:4] == [
        "Z1 = W1 x + b1", "A1 = tanh(Z1)", "Z1_2 = W1 A1 + b1", "A1_2 = tanh(Z1_2)"]
    assert "dW1 = (1/m) dZ1_2 A1^T + (1/m) dZ1 x^T" in equations(result.backward_lines)
