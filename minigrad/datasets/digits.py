"""scikit-learn's bundled digits: 1,797 8x8 images of the digits 0-9.

scikit-learn ships the data inside the package (no download), so this works
offline once it is installed: ``pip install "minigrad[datasets]"``.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import numpy as np
import numpy.typing as npt

from minigrad._typing import Array, DTypeLike
from minigrad.datasets._common import float_dtype

INSTALL_HINT = (
    'pip install "minigrad[datasets]"  (or: pip install scikit-learn)'
)


def digits(
    *, dtype: DTypeLike = np.float64, images: bool = False
) -> tuple[Array, npt.NDArray[np.int64]]:
    """The digits set: X of shape (64, 1797), pixels scaled to [0, 1], and labels y (1797,).

    Each column is an 8x8 image read row by row; the raw values 0-16 are
    divided by 16. ``images=True`` gives the same pixels as a batch of
    images (1, 8, 8, 1797) for a convolutional net. Needs scikit-learn (an
    optional extra).
    """
    target = float_dtype(dtype, "digits")
    sklearn_datasets = _sklearn_datasets()
    bunch = sklearn_datasets.load_digits()
    X: Array = np.ascontiguousarray(np.asarray(bunch.data).T, dtype=target)
    X /= target.type(16)
    if images:
        X = X.reshape(1, 8, 8, X.shape[1])  # each column read row by row: a free reshape
    return X, np.asarray(bunch.target, dtype=np.int64)


def sklearn_available() -> bool:
    """Whether scikit-learn is installed (so that :func:`digits` works); imports nothing."""
    try:
        return importlib.util.find_spec("sklearn") is not None
    except (ImportError, ValueError):  # ValueError: a module set to None in sys.modules
        return False


def _sklearn_datasets() -> Any:
    try:
        return importlib.import_module("sklearn.datasets")
    except ImportError as err:
        raise ImportError(
            "mg.datasets.digits needs scikit-learn, which bundles the 1,797 digit images "
            f"(no download). Install it with: {INSTALL_HINT}"
        ) from err
