"""Issue 14's silent traps: each now gets a clear message (quoted here) or the right number."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg

L = mg.losses


def blobs(seed: int, m: int = 200) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    Y = (rng.random(m) < 0.5).astype(float).reshape(1, m)
    X = rng.normal(size=(2, m)) + 2.5 * (2 * Y - 1)
    return X, Y


def test_accuracy_on_logits_without_the_loss_is_refused_not_thresholded_at_a_half() -> None:
    X, Y = blobs(0)
    model = mg.Sequential([mg.Dense(2, 1, rng=0)])  # ends in logits
    mg.fit(model, X, Y, loss=L.BinaryCrossEntropy(from_logits=True),
           optimizer=mg.optim.SGD(model.parameters(), lr=0.5), epochs=50, verbose=False)
    with pytest.raises(mg.InputError, match=r"accuracy: the model's outputs are not probabilities "
                       r"\(values from .* to .*\), so the 0\.5 threshold does not apply\. If they "
                       r"are logits, pass the loss"):
        mg.evaluate(model, X, Y, metrics=["accuracy"])
    with_loss = mg.evaluate(model, X, Y, loss=L.BinaryCrossEntropy(from_logits=True),
                            metrics=["accuracy"])["accuracy"]
    by_hand = float(np.mean((model.predict(X) > 0) == (Y > 0.5)))
    assert with_loss == by_hand


def test_predict_between_forward_and_backward_leaves_the_gradients_right() -> None:
    X, _ = blobs(1, m=8)
    model = mg.Sequential([mg.Dense(2, 4, rng=0), mg.Dropout(0.5, rng=3), mg.Tanh(),
                           mg.Dense(4, 1, rng=1)])
    twin = mg.Sequential([mg.Dense(2, 4, rng=0), mg.Dropout(0.5, rng=3), mg.Tanh(),
                          mg.Dense(4, 1, rng=1)])
    G = np.ones((1, 8))
    model.forward(X)
    twin.forward(X)
    model.predict(np.ones((2, 3)))  # another batch size, between forward and backward
    model.backward(G)
    twin.backward(G)
    for p, q in zip(model.parameters(), twin.parameters(), strict=True):
        np.testing.assert_array_equal(p.grad, q.grad)


@pytest.mark.parametrize(("out", "loss"), [
    (mg.Sigmoid, L.BinaryCrossEntropy(from_logits=True)),
    (mg.Softmax, L.CategoricalCrossEntropy(from_logits=True)),
])
def test_an_output_activation_before_a_from_logits_loss_is_refused_at_fit(
    out: type[mg.Activation], loss: L.Loss
) -> None:
    X, Y = blobs(2)
    n = 1 if out is mg.Sigmoid else 2
    labels = Y if n == 1 else Y.ravel().astype(int)
    model = mg.Sequential([mg.Dense(2, n, rng=0), out()])
    before = [p.value.copy() for p in model.parameters()]
    with pytest.raises(mg.InputError, match=rf"fit: the model ends in {out.__name__}\(\), which "
                       rf"already applies the {out.__name__.lower()}, and .*from_logits=True\) "
                       r"applies it again.*Remove the final"):
        mg.fit(model, X, labels, loss=loss, optimizer=mg.optim.SGD(model.parameters(), lr=0.1),
               epochs=2, verbose=False)
    for p, old in zip(model.parameters(), before, strict=True):
        np.testing.assert_array_equal(p.value, old)


def test_a_from_logits_loss_warns_when_given_probabilities() -> None:
    A = mg.Sigmoid().forward(np.random.default_rng(3).normal(size=(1, 64)))
    with pytest.warns(UserWarning, match=r"BinaryCrossEntropy\(from_logits=True\) takes logits, "
                      r"but A looks like the output of a Sigmoid"):
        L.BinaryCrossEntropy(from_logits=True).forward(A, (A > 0.5).astype(float))
    P = mg.Softmax().forward(np.random.default_rng(4).normal(size=(3, 5)))
    with pytest.warns(UserWarning, match="looks like the output of a Softmax"):
        L.CategoricalCrossEntropy(from_logits=True).forward(P, np.array([0, 1, 2, 0, 1]))


def test_one_hot_labels_for_a_one_output_net_say_what_to_do() -> None:
    X, Y = blobs(5)
    one_hot = np.vstack([1 - Y, Y])
    model = mg.Sequential([mg.Dense(2, 1, rng=0), mg.Sigmoid()])
    with pytest.raises(mg.ShapeError, match=r"fit: the model outputs 1 rows but Y has 2; Y looks "
                       r"one-hot \(2 classes\), but the model has 1 output\. For two classes give "
                       r"Y as 0/1 of shape \(1, m\)"):
        mg.fit(model, X, one_hot, loss="bce",
               optimizer=mg.optim.SGD(model.parameters(), lr=0.1), epochs=1, verbose=False)


def test_fit_takes_the_sigmoid_with_its_loss_and_matches_the_plain_chain_rule() -> None:
    """The fused step (decided once by fit) gives the gradients of the plain backward."""
    X, Y = blobs(6, m=50)
    fused = mg.Sequential([mg.Dense(2, 3, rng=0), mg.Tanh(), mg.Dense(3, 1, rng=1), mg.Sigmoid()])
    plain = mg.Sequential([mg.Dense(2, 3, rng=0), mg.Tanh(), mg.Dense(3, 1, rng=1), mg.Sigmoid()])
    mg.fit(fused, X, Y, loss="bce", optimizer=mg.optim.SGD(fused.parameters(), lr=0.5),
           epochs=20, verbose=False)
    loss = L.BinaryCrossEntropy()
    optimizer = mg.optim.SGD(plain.parameters(), lr=0.5)
    for _ in range(20):
        loss.forward(plain.forward(X), Y)
        plain.backward(loss.backward())
        optimizer.step()
    for p, q in zip(fused.parameters(), plain.parameters(), strict=True):
        np.testing.assert_allclose(p.value, q.value, rtol=1e-12, atol=1e-14)
