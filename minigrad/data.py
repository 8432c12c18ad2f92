"""Data helpers in the column convention: examples are the columns of X.

Targets may be a (k, m) array (one column per example) or a 1-D array of m
labels; every helper that splits or reorders examples keeps them aligned.
``from_rows`` and ``to_rows`` convert from and to the rows-are-examples
layout of scikit-learn and pandas.

Images are batches ``(c, h, w, m)``, examples on the last axis as well.
``from_nhwc`` and ``from_nchw`` bring them from the row layouts people have,
``(m, h, w, c)`` (Keras, the course's notebooks) and ``(m, c, h, w)``
(PyTorch); ``to_nhwc`` and ``to_nchw`` go back.
"""

from __future__ import annotations

from typing import Any, overload

import numpy as np
import numpy.typing as npt
from attrs import frozen

from minigrad._typing import Array
from minigrad.datasets._common import Seed, generator
from minigrad.errors import DTypeError, InputError, ShapeError

Labels = npt.NDArray[np.int64]


def from_rows(X: Any, *, dtype: Any = None) -> Array:
    """An array with one example per row, as (n_x, m) with one example per column.

    A 1-D input (m values, such as a pandas Series of targets) becomes a
    single row (1, m). Accepts anything ``numpy.asarray`` accepts (DataFrames
    too). The result is C-contiguous; ``dtype`` casts it (float64 for ints).

    >>> from_rows([[1, 2], [3, 4], [5, 6]])
    array([[1., 3., 5.],
           [2., 4., 6.]])
    >>> from_rows([0, 1, 1]).shape
    (1, 3)
    """
    arr = np.asarray(X)
    if arr.dtype.kind not in "fiub":
        raise DTypeError(f"from_rows: expected numbers, got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise ShapeError(f"from_rows: expected a 2-D (m, n_x) array or 1-D (m,), got shape "
                         f"{arr.shape}")
    target = np.dtype(dtype) if dtype is not None else (
        arr.dtype if arr.dtype.kind == "f" else np.dtype(np.float64))
    result: Array = np.ascontiguousarray(arr.T, dtype=target)
    return result


def to_rows(X: Any) -> Array:
    """(n_x, m) with examples as columns, as (m, n_x) with examples as rows.

    A 1-D array of m labels is returned as (m, 1).

    >>> to_rows(np.array([[1.0, 2.0, 3.0]])).shape
    (3, 1)
    """
    arr = np.asarray(X)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise ShapeError(f"to_rows: expected a 2-D (n_x, m) array, got shape {arr.shape}")
    result: Array = np.ascontiguousarray(arr.T)
    return result


def from_nhwc(X: Any, *, dtype: Any = None) -> Array:
    """Images as rows ``(m, h, w, c)`` (Keras, the course) as a batch ``(c, h, w, m)``.

    A 3-D ``(m, h, w)`` array holds grayscale images and gets one channel:
    ``(1, h, w, m)``. The result is C-contiguous; ``dtype`` casts it
    (float64 for integers, so uint8 pixels become 0.0-255.0).

    >>> from_nhwc(np.zeros((10, 28, 28, 3))).shape
    (3, 28, 28, 10)
    >>> from_nhwc(np.zeros((10, 28, 28))).shape
    (1, 28, 28, 10)
    """
    arr = _numbers(X, "from_nhwc")
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4:
        raise ShapeError(f"from_nhwc: expected images as rows (m, height, width, channels) or "
                         f"(m, height, width), got shape {arr.shape}")
    return _contiguous(arr.transpose(3, 1, 2, 0), dtype)


def from_nchw(X: Any, *, dtype: Any = None) -> Array:
    """Images as rows ``(m, c, h, w)`` (PyTorch) as a batch ``(c, h, w, m)``.

    Accepts a numpy array, or a CPU tensor through ``numpy.asarray``.

    >>> from_nchw(np.zeros((10, 3, 28, 28))).shape
    (3, 28, 28, 10)
    """
    arr = _numbers(X, "from_nchw")
    if arr.ndim != 4:
        raise ShapeError(f"from_nchw: expected images as rows (m, channels, height, width), "
                         f"got shape {arr.shape}")
    return _contiguous(arr.transpose(1, 2, 3, 0), dtype)


def to_nhwc(X: Any) -> Array:
    """A batch ``(c, h, w, m)`` as images in rows ``(m, h, w, c)`` (Keras, matplotlib's imshow).

    >>> to_nhwc(np.zeros((3, 28, 28, 10))).shape
    (10, 28, 28, 3)
    """
    arr = _image_batch(X, "to_nhwc")
    return _contiguous(arr.transpose(3, 1, 2, 0), None)


def to_nchw(X: Any) -> Array:
    """A batch ``(c, h, w, m)`` as images in rows ``(m, c, h, w)`` (PyTorch).

    >>> to_nchw(np.zeros((3, 28, 28, 10))).shape
    (10, 3, 28, 28)
    """
    arr = _image_batch(X, "to_nchw")
    return _contiguous(arr.transpose(3, 0, 1, 2), None)


def n_examples(Y: Any, owner: str = "data") -> int:
    """m: columns of a 2-D array, or the length of a 1-D array of labels."""
    arr = np.asarray(Y)
    if arr.ndim not in (1, 2):
        raise ShapeError(f"{owner}: expected (k, m) targets or (m,) labels, got shape {arr.shape}")
    return int(arr.shape[-1])


def train_test_split(
    X: Any, Y: Any, *, test_size: float | int = 0.2, shuffle: bool = True, seed: Seed = 0,
    stratify: bool = False,
) -> tuple[Array, Array, Any, Any]:
    """Split the columns of X and Y: ``X_train, X_test, Y_train, Y_test``.

    X may also be a batch of images (c, h, w, m): examples are on the last
    axis either way. The order follows scikit-learn's. ``test_size`` is a fraction in (0, 1)
    or a count of test examples. ``stratify=True`` keeps each class's share
    equal in both parts (Y must then hold class labels or be one-hot).

    >>> X, Y = np.arange(10.0).reshape(1, 10), np.arange(10).reshape(1, 10) % 2
    >>> X_train, X_test, Y_train, Y_test = train_test_split(X, Y, test_size=0.3)
    >>> X_train.shape, X_test.shape, Y_test.shape
    ((1, 7), (1, 3), (1, 3))
    >>> bool((X_test % 2 == Y_test).all())
    True
    """
    X_arr, Y_arr = np.asarray(X), np.asarray(Y)
    if X_arr.ndim < 2:
        raise ShapeError(f"train_test_split: X must be (n_x, m) or images (c, h, w, m), "
                         f"got shape {X_arr.shape}")
    m = X_arr.shape[-1]
    if n_examples(Y_arr, "train_test_split") != m:
        raise ShapeError(
            f"train_test_split: X has m={m} columns but Y has {Y_arr.shape[-1]} examples "
            f"(shape {Y_arr.shape}); both need one example per column"
        )
    n_test = _test_count(test_size, m)
    rng = generator(seed, "train_test_split")
    if stratify:
        test_idx = _stratified_test(_class_labels(Y_arr), n_test, rng)
    elif shuffle:
        test_idx = np.sort(rng.permutation(m)[:n_test])
    else:
        test_idx = np.arange(m - n_test, m)
    mask = np.zeros(m, dtype=bool)
    mask[test_idx] = True
    train_idx = np.flatnonzero(~mask)
    if shuffle:
        train_idx = rng.permutation(train_idx)
        test_idx = rng.permutation(test_idx)
    return (X_arr[..., train_idx], X_arr[..., test_idx], Y_arr[..., train_idx],
            Y_arr[..., test_idx])


@frozen
class Standardizer:
    """Per-feature scaling fitted on training data: X_std = (X - mean) / std.

    mean and std have shape (n_x, 1). A feature that is constant in the
    training data gets std 1, so it maps to 0 instead of dividing by zero.

    >>> scaler = Standardizer.fit(np.array([[0.0, 2.0, 4.0]]))
    >>> scaler.transform(np.array([[2.0, 6.0]]))
    array([[0.        , 2.44948974]])
    """

    mean: Array
    std: Array

    @classmethod
    def fit(cls, X: Any) -> Standardizer:
        """Measure each feature's mean and standard deviation over the columns of X."""
        X_arr = _float_matrix(X, "Standardizer.fit")
        std = X_arr.std(axis=1, keepdims=True)
        std[std == 0] = 1
        return cls(X_arr.mean(axis=1, keepdims=True), std)

    def transform(self, X: Any) -> Array:
        """(X - mean) / std, with the training statistics."""
        X_arr = _float_matrix(X, "Standardizer.transform")
        if X_arr.shape[0] != self.mean.shape[0]:
            raise ShapeError(f"Standardizer: fitted on {self.mean.shape[0]} features (rows), "
                             f"got X of shape {X_arr.shape}")
        result: Array = ((X_arr - self.mean) / self.std).astype(X_arr.dtype, copy=False)
        return result

    def inverse_transform(self, X: Any) -> Array:
        """X * std + mean: back to the original units."""
        X_arr = _float_matrix(X, "Standardizer.inverse_transform")
        result: Array = (X_arr * self.std + self.mean).astype(X_arr.dtype, copy=False)
        return result


@overload
def standardize(X_train: Any, /) -> Array: ...
@overload
def standardize(X_train: Any, X_test: Any, /) -> tuple[Array, Array]: ...
def standardize(X_train: Any, X_test: Any = None, /) -> Array | tuple[Array, Array]:
    """Scale each feature to mean 0, std 1 using the statistics of X_train only.

    With X_test, returns ``(X_train_std, X_test_std)``: the test data is scaled
    with the training mean and std, so nothing about it leaks into training.
    Use :class:`Standardizer` to keep the statistics for later data.

    >>> X_train_std, X_test_std = standardize(np.array([[1.0, 3.0]]), np.array([[5.0]]))
    >>> X_train_std, X_test_std
    (array([[-1.,  1.]]), array([[3.]]))
    """
    scaler = Standardizer.fit(X_train)
    if X_test is None:
        return scaler.transform(X_train)
    return scaler.transform(X_train), scaler.transform(X_test)


def one_hot(labels: Any, n_classes: int | None = None, *, dtype: Any = np.float64) -> Array:
    """Integer labels (m,) as a one-hot matrix Y (n_classes, m): Y[k, i] = 1 if labels[i] == k.

    ``n_classes`` defaults to max(labels) + 1.

    >>> one_hot([0, 2, 1])
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 1., 0.]])
    """
    arr = np.asarray(labels)
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 1:
        raise ShapeError(f"one_hot: expected labels of shape (m,), got shape {arr.shape}")
    if arr.dtype.kind == "f" and np.array_equal(arr, np.round(arr)):
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise DTypeError(f"one_hot: expected integer labels, got dtype {arr.dtype}")
    k = int(arr.max()) + 1 if n_classes is None and arr.size else int(n_classes or 0)
    if arr.size and (arr.min() < 0 or arr.max() >= k):
        raise InputError(f"one_hot: labels must lie in [0, {k - 1}] for {k} classes, got values "
                         f"from {arr.min()} to {arr.max()}")
    Y = np.zeros((k, arr.size), dtype=dtype)
    Y[arr, np.arange(arr.size)] = 1
    return Y


def from_one_hot(Y: Any) -> Labels:
    """Class labels (m,) from one-hot targets or class scores (k, m): argmax over rows.

    A single row (1, m) of probabilities is read as a binary problem: label 1
    where the value is at least 0.5.

    >>> from_one_hot(np.array([[0.1, 0.7], [0.9, 0.3]]))
    array([1, 0])
    """
    arr: npt.NDArray[Any] = np.asarray(Y)
    if arr.ndim != 2:
        raise ShapeError(f"from_one_hot: expected a (k, m) array, got shape {arr.shape}")
    labels: Labels = (arr[0] >= 0.5) if arr.shape[0] == 1 else np.argmax(arr, axis=0)
    return labels.astype(np.int64)


# -- internals ----------------------------------------------------------------


def _numbers(X: Any, owner: str) -> npt.NDArray[Any]:
    arr = np.asarray(X)
    if arr.dtype.kind not in "fiub":
        raise DTypeError(f"{owner}: expected numbers, got dtype {arr.dtype}")
    return arr


def _image_batch(X: Any, owner: str) -> npt.NDArray[Any]:
    arr = _numbers(X, owner)
    if arr.ndim != 4:
        raise ShapeError(f"{owner}: expected a batch of images (channels, height, width, m), "
                         f"got shape {arr.shape}")
    return arr


def _contiguous(arr: npt.NDArray[Any], dtype: Any) -> Array:
    target = np.dtype(dtype) if dtype is not None else (
        arr.dtype if arr.dtype.kind == "f" else np.dtype(np.float64))
    result: Array = np.ascontiguousarray(arr, dtype=target)
    return result



def _float_matrix(X: Any, owner: str) -> Array:
    arr = np.asarray(X)
    if arr.dtype.kind not in "fiu":
        raise DTypeError(f"{owner}: expected real numbers, got dtype {arr.dtype}")
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise ShapeError(f"{owner}: expected a 2-D (n_x, m) array with m >= 1, got shape "
                         f"{arr.shape}")
    result: Array = arr if arr.dtype.kind == "f" else arr.astype(np.float64)
    return result


def _test_count(test_size: float | int, m: int) -> int:
    if isinstance(test_size, bool) or not isinstance(test_size, int | float | np.number):
        raise InputError(f"train_test_split: test_size must be a fraction or a count, got "
                         f"{test_size!r}")
    if isinstance(test_size, int | np.integer):
        n_test = int(test_size)
    elif 0.0 < float(test_size) < 1.0:
        n_test = round(float(test_size) * m)
    else:
        raise InputError(f"train_test_split: a fractional test_size must lie in (0, 1), got "
                         f"{test_size!r}")
    if not 1 <= n_test <= m - 1:
        raise InputError(f"train_test_split: test_size={test_size!r} leaves {n_test} of m={m} "
                         "examples for testing; both parts need at least one")
    return n_test


def _class_labels(Y: npt.NDArray[Any]) -> Labels:
    row = Y if Y.ndim == 1 else Y[0] if Y.shape[0] == 1 else np.argmax(Y, axis=0)
    labels: Labels = row.astype(np.int64)
    return labels


def _stratified_test(labels: Labels, n_test: int, rng: np.random.Generator) -> Labels:
    """Test indices that take each class in proportion, rounding by largest remainder."""
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * n_test / labels.size
    take = np.floor(exact).astype(np.int64)
    extra = n_test - int(take.sum())
    take[np.argsort(-(exact - take), kind="stable")[:extra]] += 1
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:t]
              for c, t in zip(classes, take, strict=True)]
    test_idx: Labels = np.sort(np.concatenate(chosen))
    return test_idx
