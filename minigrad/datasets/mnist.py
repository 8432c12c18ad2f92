"""MNIST and Fashion-MNIST from the standard IDX files, cached on disk.

The four ``.gz`` files are looked for in a cache folder: ``cache_dir`` if
given, else ``$MINIGRAD_DATA/<name>``, else ``$XDG_CACHE_HOME/minigrad/<name>``
(``~/.cache/minigrad/<name>``). Missing files are downloaded when a network is
there; every ``.gz`` file is checked against its published MD5 sum. Files
already decompressed (the same names without ``.gz``) are read as they are,
with their IDX headers checked instead. Without a network the error names
the files, the folder and the URLs, so they can be copied in by hand.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from attrs import frozen

from minigrad._typing import Array, DTypeLike
from minigrad.datasets._common import float_dtype
from minigrad.datasets.idx import IDXError, PathLike, read_idx
from minigrad.errors import InputError

Downloader = Callable[[str, Path], None]
"""``downloader(url, destination)`` writes the file at ``url`` to ``destination``."""

Split = tuple[Array, npt.NDArray[np.int64]]

FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


class ChecksumError(InputError):
    """A data file's MD5 sum is not the published one (damaged or a different file)."""


class DownloadError(OSError):
    """A data file is missing and could not be downloaded; the message says what to do."""


@frozen
class IDXDataset:
    """Where an image set lives and how to check it.

    ``md5`` maps each ``.gz`` file name to its MD5 sum; ``mirrors`` are base
    URLs tried in order; ``sizes`` are the numbers of training and test images.
    """

    name: str
    mirrors: tuple[str, ...]
    md5: dict[str, str]
    sizes: tuple[int, int]
    image_shape: tuple[int, int] = (28, 28)


MNIST = IDXDataset(
    name="mnist",
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    md5=dict(zip(FILES, (
        "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "d53e105ee54ea40749a09fcbcd1e9432",
        "9fb629c4189551a2d022fa330f9573f3",
        "ec29112dd5afa0611ce80d1b7f02629c",
    ), strict=True)),
    sizes=(60_000, 10_000),
)

FASHION_MNIST = IDXDataset(
    name="fashion-mnist",
    mirrors=(
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ),
    md5=dict(zip(FILES, (
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "25c81989df183df01b3e8a0aad5dffbe",
        "bef4ecab320f06d8554ea6380940ec79",
        "bb300cfdad3c16e7a12a480ee83cd310",
    ), strict=True)),
    sizes=(60_000, 10_000),
)

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)


def mnist(
    cache_dir: PathLike | None = None,
    *,
    download: bool = True,
    dtype: DTypeLike = np.float32,
    downloader: Downloader | None = None,
    images: bool = False,
) -> tuple[Split, Split]:
    """The MNIST digits: ``(X_train, y_train), (X_test, y_test)``.

    X has shape (784, m): one 28x28 image per column, pixels scaled to
    [0, 1]; with ``images=True`` it is a batch of images (1, 28, 28, m).
    y holds integer labels 0-9, shape (m,). m is 60,000 for training and
    10,000 for test. float32 by default (half the memory of float64).

    Args:
        cache_dir: folder holding the IDX files (see the module docstring).
        download: fetch missing files; False only reads the cache.
        dtype: float dtype of X.
        downloader: ``downloader(url, destination)``, for a proxy or tests;
            urllib by default.
        images: X as images (1, 28, 28, m) for a convolutional net.
    """
    return load_idx_dataset(MNIST, cache_dir, download=download, dtype=dtype,
                            downloader=downloader, images=images)


def fashion_mnist(
    cache_dir: PathLike | None = None,
    *,
    download: bool = True,
    dtype: DTypeLike = np.float32,
    downloader: Downloader | None = None,
    images: bool = False,
) -> tuple[Split, Split]:
    """Fashion-MNIST (Zalando's clothing images), shaped and scaled like :func:`mnist`.

    Label k names ``FASHION_MNIST_CLASSES[k]`` (0 is "T-shirt/top").
    ``images=True`` gives X as images (1, 28, 28, m).
    """
    return load_idx_dataset(FASHION_MNIST, cache_dir, download=download, dtype=dtype,
                            downloader=downloader, images=images)


def load_idx_dataset(
    spec: IDXDataset,
    cache_dir: PathLike | None = None,
    *,
    download: bool = True,
    dtype: DTypeLike = np.float32,
    downloader: Downloader | None = None,
    images: bool = False,
) -> tuple[Split, Split]:
    """Load an MNIST-like set described by ``spec`` (see :func:`mnist`)."""
    target = float_dtype(dtype, spec.name)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir(spec.name)
    arrays = [_read_file(spec, folder, name, download, downloader) for name in FILES]
    train = _split(spec, arrays[0], arrays[1], spec.sizes[0], "train", target)
    test = _split(spec, arrays[2], arrays[3], spec.sizes[1], "t10k", target)
    if images:  # each column is an image read row by row: a free reshape
        rows, cols = spec.image_shape
        train = (train[0].reshape(1, rows, cols, -1), train[1])
        test = (test[0].reshape(1, rows, cols, -1), test[1])
    return train, test


def default_cache_dir(name: str) -> Path:
    """``$MINIGRAD_DATA/name``, else ``$XDG_CACHE_HOME/minigrad/name`` (``~/.cache``)."""
    if os.environ.get("MINIGRAD_DATA"):
        return Path(os.environ["MINIGRAD_DATA"]) / name
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "minigrad" / name


def md5sum(path: PathLike) -> str:
    """The hex MD5 digest of a file, read in chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def urllib_download(url: str, destination: Path) -> None:
    """Fetch ``url`` into ``destination`` with urllib (a 30 s timeout per read)."""
    with urllib.request.urlopen(url, timeout=30) as response, open(destination, "wb") as out:
        shutil.copyfileobj(response, out)


# -- internals ----------------------------------------------------------------


def _read_file(
    spec: IDXDataset, folder: Path, name: str, download: bool, downloader: Downloader | None
) -> np.ndarray[Any, np.dtype[Any]]:
    gz_path = folder / name
    raw_path = folder / name.removesuffix(".gz")
    if not gz_path.exists() and raw_path.exists():
        return read_idx(raw_path)  # checked by its header and sizes in _split
    if not gz_path.exists():
        if not download:
            raise DownloadError(_instructions(spec, folder, f"{name} is not in the cache"))
        _download(spec, folder, name, downloader or urllib_download)
    _verify(spec, gz_path, name)
    return read_idx(gz_path)


def _download(spec: IDXDataset, folder: Path, name: str, downloader: Downloader) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    for base in spec.mirrors:
        url = base + name
        handle, temp_name = tempfile.mkstemp(prefix=name, suffix=".part", dir=folder)
        os.close(handle)
        temp = Path(temp_name)
        try:
            downloader(url, temp)
            if md5sum(temp) != spec.md5[name]:
                failures.append(f"{url}: the download's MD5 sum is wrong")
                continue
            temp.replace(folder / name)
            return
        except OSError as err:  # URLError, HTTPError and timeouts are OSErrors
            failures.append(f"{url}: {err}")
        finally:
            temp.unlink(missing_ok=True)
    raise DownloadError(_instructions(spec, folder, "could not download " + name + " (" +
                                      "; ".join(failures) + ")"))


def _verify(spec: IDXDataset, path: Path, name: str) -> None:
    actual = md5sum(path)
    if actual != spec.md5[name]:
        raise ChecksumError(
            f"{spec.name}: {path} has MD5 {actual}, expected {spec.md5[name]}: the file is "
            "damaged or not the published one. Delete it and load again to download it afresh"
        )


def _instructions(spec: IDXDataset, folder: Path, problem: str) -> str:
    urls = "\n".join(f"  {spec.mirrors[0]}{name}" for name in FILES)
    return (
        f"{spec.name}: {problem}.\n"
        f"To use {spec.name} without a network here, download these {len(FILES)} files "
        f"(keep them gzipped):\n{urls}\n"
        f"and put them in the folder\n  {folder}\n"
        "(or pass cache_dir=..., or set MINIGRAD_DATA to a folder holding a "
        f"'{spec.name}' folder). Their MD5 sums are checked when loaded."
    )


def _split(
    spec: IDXDataset,
    images: np.ndarray[Any, np.dtype[Any]],
    labels: np.ndarray[Any, np.dtype[Any]],
    expected: int,
    prefix: str,
    dtype: np.dtype[Any],
) -> Split:
    rows, cols = spec.image_shape
    if images.ndim != 3 or images.shape != (expected, rows, cols):
        raise IDXError(f"{spec.name}: {prefix} images have shape {images.shape}, "
                       f"expected ({expected}, {rows}, {cols})")
    if labels.shape != (expected,):
        raise IDXError(f"{spec.name}: {prefix} labels have shape {labels.shape}, "
                       f"expected ({expected},)")
    X: Array = np.ascontiguousarray(images.reshape(expected, rows * cols).T, dtype=dtype)
    X /= dtype.type(255)
    return X, labels.astype(np.int64)
