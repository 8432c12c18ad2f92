"""BatchNorm: forward values, gradcheck (train and eval), running statistics, buffers."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.batchnorm import BatchNorm

X = np.random.default_rng(0).normal(size=(3, 8)) * np.array([[1.0], [5.0], [0.1]]) + 2.0


def test_train_forward_normalizes_each_row_over_the_batch() -> None:
    A = BatchNorm(3).forward(X)
    np.testing.assert_allclose(A.mean(axis=1), 0.0, atol=1e-12)
    # var(Z_hat) = var / (var + eps), just under 1
    var = X.var(axis=1)
    np.testing.assert_allclose(A.var(axis=1), var / (var + 1e-5), rtol=1e-12)


def test_gamma_and_beta_scale_and_shift() -> None:
    bn = BatchNorm(2, eps=1e-12)
    bn.gamma[...] = [[2.0], [-1.0]]
    bn.beta[...] = [[0.5], [3.0]]
    # rows [1, 3] and [4, 8] normalize to [-1, 1]
    A = bn.forward(np.array([[1.0, 3.0], [4.0, 8.0]]))
    np.testing.assert_allclose(A, [[-1.5, 2.5], [4.0, 2.0]], rtol=1e-10)


def test_running_statistics_hand_worked() -> None:
    bn = BatchNorm(1, momentum=0.5)
    bn.forward(np.array([[1.0, 3.0]]))  # mu = 2, biased var = 1, unbiased var = 2
    np.testing.assert_allclose(bn.running_mean, [[1.0]])  # 0.5 * 0 + 0.5 * 2
    np.testing.assert_allclose(bn.running_var, [[1.5]])  # 0.5 * 1 + 0.5 * 2
    bn.forward(np.array([[5.0, 5.0]]))  # mu = 5, var = 0
    np.testing.assert_allclose(bn.running_mean, [[3.0]])
    np.testing.assert_allclose(bn.running_var, [[0.75]])


def test_running_statistics_converge_to_the_data_statistics() -> None:
    rng = np.random.default_rng(1)
    bn = BatchNorm(2, momentum=0.1)
    for _ in range(300):
        bn.forward(rng.normal(loc=[[3.0], [-1.0]], scale=[[2.0], [0.5]], size=(2, 64)))
    np.testing.assert_allclose(bn.running_mean.ravel(), [3.0, -1.0], atol=0.2)
    np.testing.assert_allclose(bn.running_var.ravel(), [4.0, 0.25], rtol=0.15)


def test_eval_mode_uses_running_statistics_and_leaves_them_alone() -> None:
    bn = BatchNorm(3)
    bn.forward(X)
    mean, var = bn.running_mean.copy(), bn.running_var.copy()
    bn.eval()
    x = X[:, :1]  # one example is fine in eval mode
    A = bn.forward(x)
    np.testing.assert_allclose(A, (x - mean) / np.sqrt(var + 1e-5), rtol=1e-12)
    np.testing.assert_array_equal(bn.running_mean, mean)
    np.testing.assert_array_equal(bn.running_var, var)


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_gradcheck(train: bool) -> None:
    bn = BatchNorm(3)
    bn.gamma[...] = [[0.5], [2.0], [-1.5]]
    bn.beta[...] = [[0.1], [-0.2], [0.3]]
    bn.forward(X)
    bn.train(train)
    report = mg.gradcheck(bn, X)
    assert report.max_relative_error < 1e-7, str(report)


def test_gradcheck_inside_a_network() -> None:
    net = mg.Sequential([mg.Dense(3, 4, rng=0), BatchNorm(4), mg.Tanh(), mg.Dense(4, 1, rng=1),
                         mg.Sigmoid()])
    Y = (np.arange(8) % 2).reshape(1, 8).astype(float)
    report = mg.gradcheck(net, X, Y, mg.losses.BinaryCrossEntropy())
    assert report.passed, str(report)


def test_float32_stays_float32() -> None:
    bn = BatchNorm(3, dtype=np.float32)
    A = bn.forward(X.astype(np.float32))
    assert A.dtype == np.float32
    assert bn.running_mean.dtype == np.float32 and bn.running_var.dtype == np.float32
    assert bn.backward(np.ones_like(A)).dtype == np.float32
    assert bn.gamma.dtype == np.float32
    bn64 = BatchNorm(3).astype(np.float32)
    assert bn64.running_var.dtype == np.float32 and bn64.dtype == np.float32


def test_buffers_are_the_live_arrays_and_sequential_prefixes_them() -> None:
    bn = BatchNorm(2)
    assert set(bn.buffers()) == {"running_mean", "running_var"}
    assert bn.buffers()["running_mean"] is bn.running_mean
    net = mg.Sequential([mg.Dense(3, 2, rng=0), BatchNorm(2), mg.Tanh()])
    assert list(net.buffers()) == ["1.running_mean", "1.running_var"]
    net.buffers()["1.running_var"][...] = 7.0  # a loader restores in place
    np.testing.assert_array_equal(net[1].running_var, 7.0)  # type: ignore[attr-defined]
    assert mg.Dense(2, 2).buffers() == {}
    assert [name for name, _ in net.named_parameters()] == ["0.W", "0.b", "1.gamma", "1.beta"]


def test_errors_and_nothing_changes() -> None:
    bn = BatchNorm(3)
    with pytest.raises(mg.InputError, match="needs a batch of m >= 2"):
        bn.forward(X[:, :1])
    np.testing.assert_array_equal(bn.running_mean, 0.0)
    with pytest.raises(mg.ShapeError, match=r"expected Z of shape \(3, m\)"):
        bn.forward(np.ones((2, 4)))
    with pytest.raises(mg.StateError, match="backward called before forward"):
        bn.backward(np.ones((3, 4)))
    for kwargs, message in [({"momentum": 0.0}, "momentum must lie in"),
                            ({"eps": -1.0}, "eps must be a finite number > 0")]:
        with pytest.raises(ValueError, match=message):
            BatchNorm(3, **kwargs)
    with pytest.raises(ValueError, match="n_features must be a positive int"):
        BatchNorm(0)


def test_repr_and_config() -> None:
    assert repr(BatchNorm(4)) == "BatchNorm(n_features=4)"
    assert BatchNorm(4, momentum=0.2).config() == {
        "n_features": 4, "momentum": 0.2, "eps": 1e-5, "dtype": "float64"}


# -- images: one mean and variance per channel --------------------------------------------

X_IMAGES = np.random.default_rng(1).normal(size=(3, 4, 5, 6)) * np.array(
    [1.0, 5.0, 0.1]).reshape(3, 1, 1, 1) + 2.0


def test_images_are_normalized_per_channel_over_pixels_and_examples() -> None:
    bn = BatchNorm(3)
    A = bn.forward(X_IMAGES)
    assert A.shape == X_IMAGES.shape
    np.testing.assert_allclose(A.mean(axis=(1, 2, 3)), 0.0, atol=1e-12)
    var = X_IMAGES.var(axis=(1, 2, 3))
    np.testing.assert_allclose(A.var(axis=(1, 2, 3)), var / (var + 1e-5), rtol=1e-12)
    n = 4 * 5 * 6
    np.testing.assert_allclose(bn.running_mean.ravel(), 0.1 * X_IMAGES.mean(axis=(1, 2, 3)))
    np.testing.assert_allclose(bn.running_var.ravel(), 0.9 + 0.1 * var * n / (n - 1))
    assert bn.gamma.shape == (3, 1)  # the same parameters as for columns


def test_images_equal_columns_of_every_pixel() -> None:
    # per channel over (h, w, m) is per feature over columns once pixels become examples
    columns = X_IMAGES.reshape(3, -1)
    bn_images, bn_columns = BatchNorm(3), BatchNorm(3)
    A = bn_images.forward(X_IMAGES)
    np.testing.assert_allclose(A.reshape(3, -1), bn_columns.forward(columns), rtol=1e-13)
    dA = np.random.default_rng(2).normal(size=X_IMAGES.shape)
    dZ = bn_images.backward(dA)
    dZ_columns = bn_columns.backward(dA.reshape(3, -1))
    np.testing.assert_allclose(dZ.reshape(3, -1), dZ_columns, rtol=1e-12, atol=1e-14)
    # the parameters' gradients are divided by the m examples, not by the h*w*m columns
    np.testing.assert_allclose(bn_images._gamma.grad, bn_columns._gamma.grad * 20, rtol=1e-12)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(3, 4, 5, 6), (3, 2, 2, 1)])
def test_images_gradcheck(training: bool, shape: tuple[int, ...]) -> None:
    bn = BatchNorm(3)
    bn.forward(np.random.default_rng(3).normal(size=shape))  # running statistics move
    bn.train(training)
    report = mg.gradcheck(bn, np.random.default_rng(4).normal(size=shape))
    assert report.max_relative_error <= 1e-7, str(report)


def test_images_with_the_wrong_channel_count_are_refused() -> None:
    bn = BatchNorm(3)
    with pytest.raises(mg.ShapeError, match=r"BatchNorm\(n_features=3\): expected Z with 3 "
                       r"channels on axis 0, \(3, \.\.\., m\), got \(4, 2, 2, 5\)"):
        bn.forward(np.zeros((4, 2, 2, 5)))
    assert bn.output_shape((3, 8, 8)) == (3, 8, 8)
    with pytest.raises(mg.ShapeError, match="expects 3 channels"):
        bn.output_shape((4, 8, 8))


def test_images_stay_float32() -> None:
    bn = BatchNorm(3, dtype=np.float32)
    A = bn.forward(X_IMAGES.astype(np.float32))
    assert A.dtype == np.float32
    assert bn.backward(np.ones_like(A)).dtype == np.float32
    assert bn._gamma.grad.dtype == np.float32 and bn.running_var.dtype == np.float32
