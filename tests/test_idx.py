"""IDX files and the MNIST-style loaders, on small files the tests write (no network)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from minigrad.datasets import (
    ChecksumError,
    DownloadError,
    IDXDataset,
    IDXError,
    fashion_mnist,
    load_idx_dataset,
    mnist,
    read_idx,
    write_idx,
)
from minigrad.datasets.idx import parse_idx
from minigrad.datasets.mnist import FILES, md5sum

N_TRAIN, N_TEST = 6, 4


@pytest.mark.parametrize(
    "dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]
)
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_write_then_read_round_trips(tmp_path: Path, dtype: type, suffix: str) -> None:
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    if dtype is np.uint8:
        array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = write_idx(tmp_path / f"a{suffix}", array)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == (2, 3, 4)
    np.testing.assert_array_equal(back, array)


def test_header_matches_the_format(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "labels", np.array([7, 2, 1], dtype=np.uint8))
    data = path.read_bytes()
    assert data[:4] == bytes([0, 0, 0x08, 1])  # magic 0x00000801, as MNIST's label files
    assert int.from_bytes(data[4:8], "big") == 3
    assert data[8:] == bytes([7, 2, 1])


def test_bad_magic_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad"
    path.write_bytes(bytes([1, 2, 3, 4]) + bytes(8))
    with pytest.raises(IDXError, match="bad magic number 0x01020304"):
        read_idx(path)
    with pytest.raises(IDXError, match="bad magic"):
        parse_idx(bytes([0, 0, 0x07, 1, 0, 0, 0, 0]))


def test_truncated_data_and_header(tmp_path: Path) -> None:
    good = write_idx(tmp_path / "x", np.zeros((3, 2, 2), dtype=np.uint8)).read_bytes()
    with pytest.raises(IDXError, match=r"truncated: a 3x2x2 array of uint8 needs 28 .* has 27"):
        parse_idx(good[:-1], "x")
    with pytest.raises(IDXError, match="too long"):
        parse_idx(good + b"\0", "x")
    with pytest.raises(IDXError, match="truncated header"):
        parse_idx(good[:10], "x")
    with pytest.raises(IDXError, match="too short"):
        parse_idx(b"\0\0", "x")


def test_damaged_gzip_is_an_idx_error(tmp_path: Path) -> None:
    payload = gzip.compress(write_idx(tmp_path / "x", np.zeros(50, np.uint8)).read_bytes())
    path = tmp_path / "x.gz"
    path.write_bytes(payload[:-10])
    with pytest.raises(IDXError, match="cannot be read as gzip"):
        read_idx(path)


def test_write_refuses_int64() -> None:
    with pytest.raises(ValueError, match="cannot store"):
        write_idx("never-written", np.zeros(3, dtype=np.int64))


# -- loaders --------------------------------------------------------------


def _write_set(folder: Path, gz: bool = True) -> dict[str, str]:
    """Write a tiny MNIST-like set; return the MD5 sums of the .gz files."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = [
        rng.integers(0, 256, size=(N_TRAIN, 28, 28), dtype=np.uint8),
        np.arange(N_TRAIN, dtype=np.uint8),
        rng.integers(0, 256, size=(N_TEST, 28, 28), dtype=np.uint8),
        np.arange(N_TEST, dtype=np.uint8)[::-1].copy(),
    ]
    sums = {}
    for name, array in zip(FILES, arrays, strict=True):
        path = write_idx(folder / (name if gz else name.removesuffix(".gz")), array)
        sums[name] = md5sum(path)
    return sums


def _spec(md5: dict[str, str]) -> IDXDataset:
    return IDXDataset(name="tiny", mirrors=("https://example.invalid/tiny/",), md5=md5,
                      sizes=(N_TRAIN, N_TEST))


def test_loader_reads_gzipped_files_and_shapes_them_as_columns(tmp_path: Path) -> None:
    sums = _write_set(tmp_path)
    (X_train, y_train), (X_test, y_test) = load_idx_dataset(_spec(sums), tmp_path,
                                                            download=False)
    assert X_train.shape == (784, N_TRAIN) and X_test.shape == (784, N_TEST)
    assert X_train.dtype == np.float32 and X_train.min() >= 0.0 and X_train.max() <= 1.0
    images = read_idx(tmp_path / FILES[0])
    np.testing.assert_allclose(X_train[:, 2], images[2].ravel() / 255.0, rtol=1e-6)
    assert y_train.tolist() == list(range(N_TRAIN)) and y_test.tolist() == [3, 2, 1, 0]


def test_loader_reads_uncompressed_files(tmp_path: Path) -> None:
    _write_set(tmp_path, gz=False)
    (X_train, _), _ = load_idx_dataset(_spec({n: "unused" for n in FILES}), tmp_path,
                                       download=False, dtype=np.float64)
    assert X_train.dtype == np.float64 and X_train.shape == (784, N_TRAIN)


def test_loader_checks_counts(tmp_path: Path) -> None:
    sums = _write_set(tmp_path)
    spec = IDXDataset(name="tiny", mirrors=("u/",), md5=sums, sizes=(N_TRAIN + 1, N_TEST))
    with pytest.raises(IDXError, match=r"train images have shape \(6, 28, 28\), expected \(7"):
        load_idx_dataset(spec, tmp_path, download=False)


def test_checksum_mismatch_names_file_and_sums(tmp_path: Path) -> None:
    _write_set(tmp_path)  # tiny files under MNIST's names: their sums cannot match
    with pytest.raises(ChecksumError, match=r"train-images-idx3-ubyte\.gz has MD5 .*expected "
                       r"f68b3c2dcbeaaa9fbdd348bbdeb94873.*Delete it"):
        mnist(tmp_path, download=False)


def test_no_network_says_which_files_where_and_from_which_url(tmp_path: Path) -> None:
    def offline(url: str, destination: Path) -> None:
        raise OSError("network unreachable")

    folder = tmp_path / "cache"
    with pytest.raises(DownloadError) as info:
        fashion_mnist(folder, downloader=offline)
    message = str(info.value)
    assert "could not download train-images-idx3-ubyte.gz" in message
    assert "network unreachable" in message
    for name in FILES:
        assert f"https://storage.googleapis.com/tensorflow/tf-keras-datasets/{name}" in message
    assert str(folder) in message and "MINIGRAD_DATA" in message


def test_download_false_never_calls_the_downloader(tmp_path: Path) -> None:
    def forbidden(url: str, destination: Path) -> None:
        raise AssertionError("must not download")

    with pytest.raises(DownloadError, match="is not in the cache"):
        mnist(tmp_path, download=False, downloader=forbidden)


def test_download_fetches_missing_files_and_verifies_them(tmp_path: Path) -> None:
    source = tmp_path / "server"
    sums = _write_set(source)
    calls: list[str] = []

    def fake(url: str, destination: Path) -> None:
        calls.append(url)
        destination.write_bytes((source / url.rsplit("/", 1)[1]).read_bytes())

    cache = tmp_path / "cache"
    (X_train, _), _ = load_idx_dataset(_spec(sums), cache, downloader=fake)
    assert X_train.shape == (784, N_TRAIN)
    assert calls == [f"https://example.invalid/tiny/{name}" for name in FILES]
    assert sorted(p.name for p in cache.iterdir()) == sorted(FILES)  # no .part files left
    load_idx_dataset(_spec(sums), cache, downloader=fake)
    assert len(calls) == 4  # the second load reads the cache


def test_a_corrupt_download_is_discarded_and_the_next_mirror_tried(tmp_path: Path) -> None:
    source = tmp_path / "server"
    sums = _write_set(source)
    spec = IDXDataset(name="tiny", mirrors=("https://bad.invalid/", "https://good.invalid/"),
                      md5=sums, sizes=(N_TRAIN, N_TEST))

    def fake(url: str, destination: Path) -> None:
        name = url.rsplit("/", 1)[1]
        data = (source / name).read_bytes()
        destination.write_bytes(data[:-1] if "bad" in url else data)

    cache = tmp_path / "cache"
    load_idx_dataset(spec, cache, downloader=fake)
    assert sorted(p.name for p in cache.iterdir()) == sorted(FILES)


def test_default_cache_dir_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from minigrad.datasets import default_cache_dir

    monkeypatch.setenv("MINIGRAD_DATA", str(tmp_path))
    assert default_cache_dir("mnist") == tmp_path / "mnist"
    monkeypatch.delenv("MINIGRAD_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir("mnist") == tmp_path / "xdg" / "minigrad" / "mnist"


def test_loader_gives_images_for_a_convolutional_net(tmp_path: Path) -> None:
    sums = _write_set(tmp_path)
    (X_train, _), (X_test, _) = load_idx_dataset(_spec(sums), tmp_path, download=False,
                                                 images=True)
    assert X_train.shape == (1, 28, 28, N_TRAIN) and X_test.shape == (1, 28, 28, N_TEST)
    images = read_idx(tmp_path / FILES[0])
    np.testing.assert_allclose(X_train[0, :, :, 2], images[2] / 255.0, rtol=1e-6)
