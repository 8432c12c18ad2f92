"""Data sets in minigrad's convention: X is (n_x, m), one example per column.

Generated, no download, seedable:
    planar    the notes' 2-class "flower" (``planar(seed=1)`` is the classic set)
    moons, circles, xor    2-class sets in the plane, Y (1, m) of 0.0 / 1.0
    spirals   k interleaved spiral arms, integer labels y (m,)
    curve     a noisy 1-D curve for regression, X (1, m), Y (1, m)
Real images:
    digits          scikit-learn's 1,797 8x8 digits (needs scikit-learn)
    mnist, fashion_mnist    the 28x28 IDX sets, cached and checksum-verified
"""

from minigrad.datasets.digits import digits, sklearn_available
from minigrad.datasets.idx import IDXError, read_idx, write_idx
from minigrad.datasets.mnist import (
    FASHION_MNIST_CLASSES,
    ChecksumError,
    DownloadError,
    IDXDataset,
    default_cache_dir,
    fashion_mnist,
    load_idx_dataset,
    mnist,
)
from minigrad.datasets.planar import planar
from minigrad.datasets.toy import circles, curve, moons, spirals, xor

__all__ = [
    "FASHION_MNIST_CLASSES", "ChecksumError", "DownloadError", "IDXDataset", "IDXError",
    "circles", "curve", "default_cache_dir", "digits", "fashion_mnist", "load_idx_dataset",
    "mnist", "moons", "planar", "read_idx", "sklearn_available", "spirals", "write_idx", "xor",
]
