"""Metrics against hand-counted values."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import metrics


def test_binary_accuracy_with_threshold() -> None:
    A = np.array([[0.9, 0.4, 0.6, 0.1]])
    Y = np.array([[1, 0, 0, 1]])
    assert metrics.binary_accuracy(A, Y) == 0.5  # right on 0.9 and 0.4
    assert metrics.binary_accuracy(A, Y, threshold=0.05) == 0.5  # all predict 1
    assert metrics.binary_accuracy(A, Y[0]) == 0.5  # labels of shape (m,)
    logits = np.array([[2.0, -1.0, 0.5, -3.0]])
    assert metrics.binary_accuracy(logits, Y, threshold=0.0) == 0.5


def test_binary_accuracy_counts_every_output_of_a_multilabel_model() -> None:
    A = np.array([[0.9, 0.1], [0.8, 0.7]])
    Y = np.array([[1, 0], [0, 1]])
    assert metrics.binary_accuracy(A, Y) == 0.75


def test_categorical_accuracy_one_hot_labels_and_logits() -> None:
    A = np.array([[0.7, 0.1, 0.2], [0.2, 0.8, 0.3], [0.1, 0.1, 0.5]])
    labels = np.array([0, 1, 1])
    one_hot = np.eye(3)[:, labels]
    assert metrics.categorical_accuracy(A, labels) == pytest.approx(2 / 3)
    assert metrics.categorical_accuracy(A, one_hot) == pytest.approx(2 / 3)
    assert metrics.categorical_accuracy(np.log(A), labels) == pytest.approx(2 / 3)
    assert metrics.categorical_accuracy(A, labels.reshape(1, 3)) == pytest.approx(2 / 3)
    assert metrics.categorical_accuracy(A, labels.astype(float)) == pytest.approx(2 / 3)


def test_accuracy_picks_binary_or_categorical() -> None:
    assert metrics.accuracy(np.array([[0.6, 0.3]]), np.array([[1, 1]])) == 0.5
    assert metrics.accuracy(np.array([[0.6, 0.3], [0.4, 0.7]]), np.array([1, 1])) == 0.5


def test_regression_metrics() -> None:
    A = np.array([[1.0, 2.0], [3.0, 5.0]])
    Y = np.array([[0.0, 2.0], [3.0, 2.0]])
    # errors 1, 0, 0, 3: squares 1, 0, 0, 9
    assert metrics.mean_squared_error(A, Y) == 2.5
    assert metrics.mean_absolute_error(A, Y) == 1.0
    assert metrics.mean_squared_error(np.array([[1.0, 2.0]]), np.array([0.0, 0.0])) == 2.5


def test_confusion_matrix() -> None:
    A = np.array([[0.8, 0.1, 0.1, 0.3], [0.1, 0.8, 0.2, 0.3], [0.1, 0.1, 0.7, 0.4]])
    labels = np.array([0, 1, 1, 2])
    # true 0 -> 0; true 1 -> 1 and 2; true 2 -> 2
    np.testing.assert_array_equal(
        metrics.confusion_matrix(A, labels), [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    )
    assert metrics.confusion_matrix(A, labels, n_classes=4).shape == (4, 4)
    binary = metrics.confusion_matrix(np.array([[0.9, 0.2, 0.7]]), np.array([[1, 1, 0]]))
    np.testing.assert_array_equal(binary, [[0, 1], [1, 1]])
    assert binary.sum() == 3


def test_get_by_name_follows_the_loss() -> None:
    name, fn = metrics.get("acc", mg.losses.BinaryCrossEntropy(from_logits=True))
    assert name == "accuracy"
    assert fn(np.array([[0.3, -0.2]]), np.array([[1, 0]])) == 1.0  # threshold 0
    name, fn = metrics.get("accuracy", mg.losses.BinaryCrossEntropy())
    assert fn(np.array([[0.3, 0.6]]), np.array([[1, 0]])) == 0.0  # threshold 0.5
    assert metrics.get("accuracy", mg.losses.CategoricalCrossEntropy())[1] is (
        metrics.categorical_accuracy
    )
    assert metrics.get("mse") == ("mse", metrics.mean_squared_error)

    def my_metric(A: np.ndarray, Y: np.ndarray) -> float:
        return 1.0

    assert metrics.get(my_metric) == ("my_metric", my_metric)
    with pytest.raises(ValueError, match="unknown metric 'f1'; known: acc, accuracy"):
        metrics.get("f1")


def test_errors_name_the_metric_and_the_shapes() -> None:
    with pytest.raises(mg.ShapeError, match=r"accuracy: A has 3 examples .* Y has shape \(2,\)"):
        metrics.accuracy(np.ones((1, 3)), np.ones(2))
    with pytest.raises(mg.ShapeError, match="expected A, the model output, as a 2-D"):
        metrics.accuracy(np.ones(3), np.ones(3))
    with pytest.raises(mg.InputError, match=r"labels must lie in \[0, 1\]"):
        metrics.categorical_accuracy(np.ones((2, 3)), np.array([0, 1, 2]))
    with pytest.raises(mg.DTypeError, match="whole numbers"):
        metrics.categorical_accuracy(np.ones((2, 2)), np.array([0.5, 1.0]))
    with pytest.raises(mg.ShapeError, match=r"expected Y of shape \(2, 2\) like A"):
        metrics.mean_squared_error(np.ones((2, 2)), np.ones((3, 2)))
    with pytest.raises(mg.InputError, match="n_classes must be an int >= 3"):
        metrics.confusion_matrix(np.ones((3, 2)), np.array([0, 1]), n_classes=2)
