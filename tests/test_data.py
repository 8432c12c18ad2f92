"""Data helpers: splitting, standardizing, one-hot, rows and columns."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.data import (
    Standardizer,
    from_one_hot,
    from_rows,
    one_hot,
    standardize,
    to_rows,
    train_test_split,
)


def test_from_rows_and_to_rows_are_transposes_and_round_trip() -> None:
    rows = np.arange(12).reshape(6, 2)  # 6 examples, 2 features
    X = from_rows(rows)
    assert X.shape == (2, 6) and X.dtype == np.float64 and X.flags.c_contiguous
    np.testing.assert_array_equal(X[:, 3], rows[3])
    np.testing.assert_array_equal(to_rows(X), rows)
    assert from_rows(np.arange(5)).shape == (1, 5)
    assert from_rows(rows, dtype=np.float32).dtype == np.float32
    assert from_rows(rows.astype(np.float32)).dtype == np.float32


def test_from_rows_accepts_a_dataframe_like_object() -> None:
    class FrameLike:
        def __array__(self, dtype: object = None, copy: object = None) -> np.ndarray:
            return np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])

    np.testing.assert_array_equal(from_rows(FrameLike()), [[1, 2, 3], [10, 20, 30]])


def test_from_rows_refuses_text_and_3d() -> None:
    with pytest.raises(mg.DTypeError, match="from_rows: expected numbers"):
        from_rows(np.array([["a", "b"]]))
    with pytest.raises(mg.ShapeError, match="from_rows"):
        from_rows(np.zeros((2, 2, 2)))


def test_split_keeps_columns_aligned_and_sizes() -> None:
    X = np.arange(40.0).reshape(2, 20)
    Y = (np.arange(20) % 3).reshape(1, 20)
    X_train, X_test, Y_train, Y_test = train_test_split(X, Y, test_size=0.25, seed=3)
    assert X_train.shape == (2, 15) and X_test.shape == (2, 5)
    assert Y_train.shape == (1, 15) and Y_test.shape == (1, 5)
    for Xs, Ys in ((X_train, Y_train), (X_test, Y_test)):
        np.testing.assert_array_equal(Xs[0].astype(int) % 3, Ys[0])
    assert sorted(np.concatenate([X_train[0], X_test[0]]).tolist()) == X[0].tolist()


def test_split_is_seeded_and_accepts_labels_and_counts() -> None:
    X, y = np.arange(10.0).reshape(1, 10), np.arange(10)
    a = train_test_split(X, y, test_size=3, seed=1)
    b = train_test_split(X, y, test_size=3, seed=1)
    np.testing.assert_array_equal(a[1], b[1])
    assert a[3].shape == (3,)
    np.testing.assert_array_equal(a[1][0], a[3])
    ordered = train_test_split(X, y, test_size=3, shuffle=False)
    np.testing.assert_array_equal(ordered[1][0], [7, 8, 9])


def test_stratified_split_keeps_class_shares() -> None:
    y = np.array([0] * 80 + [1] * 20)
    X = np.arange(100.0).reshape(1, 100)
    _, _, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=True, seed=0)
    assert np.bincount(y_test).tolist() == [16, 4]
    assert np.bincount(y_train).tolist() == [64, 16]
    _, _, Y_train, _ = train_test_split(X, one_hot(y), test_size=0.2, stratify=True)
    assert Y_train.sum(axis=1).tolist() == [64.0, 16.0]


@pytest.mark.parametrize(
    ("test_size", "message"),
    [(1.5, "must lie in"), (0, "both parts"), (10, "both parts"), ("a", "fraction or a count")],
)
def test_split_rejects_bad_test_size(test_size: object, message: str) -> None:
    with pytest.raises(mg.InputError, match=message):
        train_test_split(np.zeros((1, 10)), np.zeros((1, 10)), test_size=test_size)  # type: ignore[arg-type]


def test_split_rejects_misaligned_y() -> None:
    with pytest.raises(mg.ShapeError, match="X has m=10 columns but Y has 9"):
        train_test_split(np.zeros((2, 10)), np.zeros((1, 9)))


def test_standardize_fits_on_train_only() -> None:
    rng = np.random.default_rng(0)
    X_train = rng.normal(5.0, 3.0, size=(3, 200))
    X_test = rng.normal(5.0, 3.0, size=(3, 50)) + 100.0
    X_train_std, X_test_std = standardize(X_train, X_test)
    np.testing.assert_allclose(X_train_std.mean(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(X_train_std.std(axis=1), 1.0)
    # the test set keeps its shift: scaled with the training statistics
    assert (X_test_std.mean(axis=1) > 25).all()
    np.testing.assert_array_equal(standardize(X_train), X_train_std)


def test_standardizer_round_trips_and_handles_constant_features() -> None:
    X = np.array([[1.0, 2.0, 3.0], [7.0, 7.0, 7.0]])
    scaler = Standardizer.fit(X)
    Z = scaler.transform(X)
    np.testing.assert_array_equal(Z[1], 0.0)
    np.testing.assert_allclose(scaler.inverse_transform(Z), X)
    with pytest.raises(mg.ShapeError, match="fitted on 2 features"):
        scaler.transform(np.zeros((3, 4)))


def test_standardize_keeps_float32() -> None:
    X = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert standardize(X).dtype == np.float32


def test_one_hot_and_back() -> None:
    labels = np.array([2, 0, 1, 2])
    Y = one_hot(labels)
    assert Y.shape == (3, 4)
    np.testing.assert_array_equal(Y.sum(axis=0), 1.0)
    np.testing.assert_array_equal(from_one_hot(Y), labels)
    assert one_hot(labels, 5).shape == (5, 4)
    assert one_hot(labels.reshape(1, 4).astype(float), dtype=np.float32).dtype == np.float32


def test_from_one_hot_reads_a_single_row_as_binary() -> None:
    np.testing.assert_array_equal(from_one_hot(np.array([[0.2, 0.5, 0.9]])), [0, 1, 1])


def test_one_hot_errors_name_the_problem() -> None:
    with pytest.raises(mg.InputError, match=r"labels must lie in \[0, 1\] for 2 classes"):
        one_hot([0, 2], 2)
    with pytest.raises(mg.DTypeError, match="integer labels"):
        one_hot([0.5, 1.0])
    with pytest.raises(mg.ShapeError, match="one_hot"):
        one_hot(np.zeros((2, 2), dtype=int))


# -- images between the row layouts and (c, h, w, m) -------------------------------------


def test_from_nhwc_and_back() -> None:
    rows = np.random.default_rng(0).normal(size=(5, 4, 3, 2))  # (m, h, w, c)
    X = mg.data.from_nhwc(rows)
    assert X.shape == (2, 4, 3, 5) and X.flags.c_contiguous
    np.testing.assert_array_equal(X[1, 2, 0, 3], rows[3, 2, 0, 1])
    np.testing.assert_array_equal(mg.data.to_nhwc(X), rows)


def test_from_nchw_and_back() -> None:
    rows = np.random.default_rng(0).normal(size=(5, 2, 4, 3))  # (m, c, h, w)
    X = mg.data.from_nchw(rows)
    assert X.shape == (2, 4, 3, 5) and X.flags.c_contiguous
    np.testing.assert_array_equal(X[1, 2, 0, 3], rows[3, 1, 2, 0])
    np.testing.assert_array_equal(mg.data.to_nchw(X), rows)


def test_grayscale_rows_get_one_channel_and_integers_become_floats() -> None:
    rows = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)  # (m, h, w), as Keras gives MNIST
    X = mg.data.from_nhwc(rows)
    assert X.shape == (1, 3, 4, 2) and X.dtype == np.float64
    np.testing.assert_array_equal(X[0, :, :, 1], rows[1])
    assert mg.data.from_nchw(np.zeros((2, 1, 3, 3)), dtype=np.float32).dtype == np.float32


@pytest.mark.parametrize(("function", "X", "message"), [
    ("from_nhwc", np.zeros((2, 3)), r"from_nhwc: expected images as rows \(m, height, width, "
                                    r"channels\) or \(m, height, width\), got shape \(2, 3\)"),
    ("from_nchw", np.zeros((2, 3, 3)), r"from_nchw: expected images as rows"),
    ("to_nhwc", np.zeros((2, 3)), r"to_nhwc: expected a batch of images \(channels, height, "
                                  r"width, m\), got shape \(2, 3\)"),
    ("to_nchw", np.zeros((2, 3, 3)), r"to_nchw: expected a batch of images"),
])
def test_image_helpers_refuse_other_shapes(function: str, X: np.ndarray, message: str) -> None:
    with pytest.raises(mg.ShapeError, match=message):
        getattr(mg.data, function)(X)


def test_train_test_split_splits_images_on_the_last_axis() -> None:
    X = np.arange(2 * 3 * 3 * 10, dtype=float).reshape(2, 3, 3, 10)
    y = np.arange(10)
    X_train, X_test, _, y_test = mg.data.train_test_split(X, y, test_size=3)
    assert X_train.shape == (2, 3, 3, 7) and X_test.shape == (2, 3, 3, 3)
    for k, label in enumerate(y_test):
        np.testing.assert_array_equal(X_test[..., k], X[..., label])
