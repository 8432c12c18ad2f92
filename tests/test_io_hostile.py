"""Hostile model files: each is refused fast, with bounded memory and a short, clear message.

The files are built by hand here (minigrad would never write them): huge
layers with no arrays, compression bombs, wide and deep metadata, a zip of
too many members, special files, malformed generator states. They are loaded
in a child process whose address space is capped with ``RLIMIT_AS`` (half a
GiB above what it holds after importing minigrad), so a loader that
allocates what a file declares fails there instead of swapping here; each
load is also timed.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import time
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad.errors import ModelFileError
from minigrad.io import MAX_MEMBERS, MAX_METADATA_BYTES

pytestmark = pytest.mark.skipif(
    sys.platform != "linux", reason="RLIMIT_AS, /proc and FIFOs: checked on Linux"
)

META = "__minigrad__.npy"


def npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.lib.format.write_array(out, array, allow_pickle=False)
    return out.getvalue()


def npy_header(shape: tuple[int, ...], dtype: str = "<f8") -> bytes:
    """A .npy header declaring ``shape`` (the data that should follow is the caller's)."""
    out = io.BytesIO()
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(out, header)
    return out.getvalue()


def meta(layers: list[dict[str, Any]], random: Any = None, **extra: Any) -> bytes:
    data = {
        "format": "minigrad.model", "format_version": 1, "minigrad_version": "0.1.0",
        "model": {"class": "Sequential", "config": {"layers": layers}},
        "training": True, "random": random or [], "optimizer": None, **extra,
    }
    return npy(np.frombuffer(json.dumps(data).encode(), dtype=np.uint8))


def dense(n_in: Any, n_out: Any) -> dict[str, Any]:
    return {"class": "Dense", "config": {"n_in": n_in, "n_out": n_out, "init": "xavier",
                                         "dtype": "float64"}}


def write_zip(path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression=method, compresslevel=None) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def small_model_members() -> dict[str, bytes]:
    model = mg.Sequential([mg.Dense(2, 2, rng=0), mg.Tanh()])
    out = {META: meta([{"class": "Dense", "config": model[0].config() | {"dtype": "float64"}},
                       {"class": "Tanh", "config": {}}])}
    for name, parameter in model.named_parameters():
        out[f"params/{name}.npy"] = npy(parameter.value)
    return out


def dropout_with(state: Any) -> bytes:
    layers = [{"class": "Dropout", "config": {"rate": 0.5}}]
    return meta(layers, random=[{"attributes": ["0._rng"], "state": state}])


# -- the hostile files: name -> a function that writes one into a folder ------------------

Maker = Callable[[Path], Path]
HOSTILE: dict[str, Maker] = {}


def hostile(name: str) -> Callable[[Maker], Maker]:
    def register(make: Maker) -> Maker:
        HOSTILE[name] = make
        return make
    return register


@hostile("Dense(1, 2e8) and no arrays")
def _huge_dense(folder: Path) -> Path:
    return write_zip(folder / "huge_dense.npz", {META: meta([dense(1, 200_000_000)])})


@hostile("BatchNorm(4e8) and no arrays")
def _huge_batchnorm(folder: Path) -> Path:
    layer = {"class": "BatchNorm", "config": {"n_features": 400_000_000}}
    return write_zip(folder / "huge_bn.npz", {META: meta([layer])})


@hostile("40 huge layers in 4 KB")
def _forty(folder: Path) -> Path:
    return write_zip(folder / "forty.npz", {META: meta([dense(10_000, 10_000)] * 40)})


@hostile("Dense(1, 2e8) with small arrays")
def _huge_dense_small_arrays(folder: Path) -> Path:
    members = {META: meta([dense(1, 200_000_000)]),
               "params/0.W.npy": npy(np.zeros((2, 1))), "params/0.b.npy": npy(np.zeros((2, 1)))}
    return write_zip(folder / "huge_dense_small.npz", members)


@hostile("header declaring 2 GB in a 1 KB member")
def _lying_header(folder: Path) -> Path:
    members = small_model_members()
    members["params/0.W.npy"] = npy_header((16384, 16384)) + b"\0" * 800
    return write_zip(folder / "lying_header.npz", members)


@hostile("bzip2 bomb")
def _bzip2(folder: Path) -> Path:
    path = write_zip(folder / "bzip2.npz", small_model_members())
    with zipfile.ZipFile(path, "a") as archive:
        data = npy_header((1024, 1024)) + bytes(1024 * 1024 * 8)
        archive.writestr("params/9.W.npy", data, compress_type=zipfile.ZIP_BZIP2)
    return path


@hostile("deflate bomb the architecture does not declare")
def _deflate(folder: Path) -> Path:
    members = small_model_members()
    members["params/0.W.npy"] = npy_header((2048, 1024)) + bytes(2048 * 1024 * 8)
    return write_zip(folder / "deflate.npz", members, zipfile.ZIP_DEFLATED)


@hostile("wide JSON list in deflated metadata")
def _wide_json(folder: Path) -> Path:
    text = b'{"format": "minigrad.model", "junk": [' + b"0," * 4_000_000 + b"0]}"
    members = {META: npy(np.frombuffer(text, dtype=np.uint8))}
    return write_zip(folder / "wide.npz", members, zipfile.ZIP_DEFLATED)


@hostile("deep JSON nesting")
def _deep_json(folder: Path) -> Path:
    text = b"[" * 1_000_000 + b"]" * 1_000_000
    return write_zip(folder / "deep.npz", {META: npy(np.frombuffer(text, dtype=np.uint8))},
                     zipfile.ZIP_DEFLATED)


@hostile("a 1 MB config printed in the error")
def _wide_config(folder: Path) -> Path:
    layer = {"class": "LeakyReLU", "config": {"alpha": [0.5] * 200_000}}
    return write_zip(folder / "wide_config.npz", {META: meta([layer])})


def raw_zip(path: Path, members: list[tuple[str, bytes]]) -> Path:
    """A stored zip64 archive written directly (zipfile takes seconds for 65,537 members)."""
    out, central = bytearray(), bytearray()
    for name, data in members:
        encoded, crc, size = name.encode(), zlib.crc32(data), len(data)
        offset = len(out)
        out += struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 0, 0, 0x21, crc, size, size,
                           len(encoded), 0) + encoded + data
        central += struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 0, 0, 0x21, crc,
                               size, size, len(encoded), 0, 0, 0, 0, 0, offset) + encoded
    start, count = len(out), len(members)
    out += central
    record = len(out)
    out += struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count,
                       len(central), start)
    out += struct.pack("<4sIQI", b"PK\x06\x07", 0, record, 1)
    out += struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF,
                       0xFFFFFFFF, 0)
    path.write_bytes(bytes(out))
    return path


@hostile("more members than the limit")
def _many(folder: Path) -> Path:
    empty = npy(np.zeros(0, dtype=np.uint8))
    return raw_zip(folder / "many.npz", [(f"m{i}.npy", empty) for i in range(MAX_MEMBERS + 1)])


def test_the_hand_written_zip_is_a_valid_archive(tmp_path: Path) -> None:
    members = [(f"m{i}.npy", npy(np.arange(i, dtype=np.uint8))) for i in range(3)]
    with zipfile.ZipFile(raw_zip(tmp_path / "r.zip", members)) as archive:
        assert archive.testzip() is None
        assert [i.filename for i in archive.infolist()] == ["m0.npy", "m1.npy", "m2.npy"]


@hostile("a FIFO")
def _fifo(folder: Path) -> Path:
    path = folder / "fifo.npz"
    os.mkfifo(path)
    return path


@hostile("/dev/zero")
def _dev_zero(folder: Path) -> Path:
    return Path("/dev/zero")


@hostile("bit_generator []")
def _bit_generator_list(folder: Path) -> Path:
    return write_zip(folder / "bg.npz", {META: dropout_with({"bit_generator": []})})


@hostile("MT19937 key []")
def _mt_key(folder: Path) -> Path:
    state = {"bit_generator": "MT19937", "state": {"key": [], "pos": 0}}
    return write_zip(folder / "mt.npz", {META: dropout_with(state)})


@hostile("Philox counter []")
def _philox(folder: Path) -> Path:
    state = {"bit_generator": "Philox", "state": {"counter": [], "key": [1, 2]},
             "buffer": [], "buffer_pos": 0, "has_uint32": 0, "uinteger": 0}
    return write_zip(folder / "philox.npz", {META: dropout_with(state)})


@hostile("LeakyReLU(alpha=true)")
def _bool_alpha(folder: Path) -> Path:
    layer = {"class": "LeakyReLU", "config": {"alpha": True}}
    return write_zip(folder / "bool.npz", {META: meta([layer])})


CHILD = """
import json, os, resource, sys, time
import minigrad as mg
from minigrad.errors import ModelFileError

def address_space():
    return int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()

limit = address_space() + (512 << 20)
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
results = {}
for name, path in json.loads(sys.argv[1]).items():
    start = time.perf_counter()
    try:
        mg.load(path)
        kind, message = "loaded", ""
    except ModelFileError as err:
        kind, message = "ModelFileError", str(err)
    except BaseException as err:
        kind, message = type(err).__name__, str(err)[:500]
    results[name] = {"kind": kind, "message": message[:400], "length": len(message),
                     "seconds": time.perf_counter() - start}
print(json.dumps(results))
"""


def run_child(paths: dict[str, str], timeout: float = 120) -> dict[str, Any]:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(paths)], capture_output=True, text=True,
        timeout=timeout, env=env, cwd=Path(__file__).resolve().parents[1], check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.fixture(scope="module")
def hostile_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("hostile")
    paths = {name: str(make(folder)) for name, make in HOSTILE.items()}
    results = run_child(paths)
    results["_folder"] = {"before": sorted(os.listdir(folder)), "path": str(folder)}
    return results


EXPECTED = {
    "Dense(1, 2e8) and no arrays": r"needs an array of shape \(200000000, 1\)",
    "BatchNorm(4e8) and no arrays": r"needs an array of shape \(400000000, 1\)",
    "40 huge layers in 4 KB": r"needs an array of shape \(10000, 10000\)",
    "Dense(1, 2e8) with small arrays": r"needs an array of shape \(200000000, 1\)",
    "header declaring 2 GB in a 1 KB member": r"of shape \(16384, 16384\) needs \d+ bytes",
    "bzip2 bomb": "'params/9.W.npy' is compressed with method 12; model files hold stored or",
    "deflate bomb the architecture does not declare": r"has shape \(2048, 1024\), but the model "
                                                      r"needs \(2, 2\)",
    "wide JSON list in deflated metadata": f"the limit is {MAX_METADATA_BYTES:,}",
    "deep JSON nesting": "deeper than 256 levels",
    "a 1 MB config printed in the error": "cannot build LeakyReLU",
    "more members than the limit": f"a model file holds at most {MAX_MEMBERS:,}",
    "a FIFO": "it is a FIFO",
    "/dev/zero": "it is a character device, not a regular file",
    "bit_generator []": "names bit generator",
    "MT19937 key []": "MT19937 generator state in the file is invalid",
    "Philox counter []": "Philox generator state in the file is invalid",
    "LeakyReLU(alpha=true)": r"model\.layers\[0\] \(LeakyReLU\): argument 'alpha' must be a number",
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_file_is_refused_fast_with_bounded_memory(
    name: str, hostile_results: dict[str, Any]
) -> None:
    import re

    result = hostile_results[name]
    assert result["kind"] == "ModelFileError", result
    assert re.search(EXPECTED[name], result["message"]), result["message"]
    assert result["length"] <= ModelFileError.MAX_MESSAGE + 100
    assert result["seconds"] < 1.0, result


def test_loading_hostile_files_leaves_no_file_behind(hostile_results: dict[str, Any]) -> None:
    folder = hostile_results["_folder"]
    assert sorted(os.listdir(folder["path"])) == folder["before"]


def test_every_hostile_case_has_an_expected_message() -> None:
    assert set(EXPECTED) == set(HOSTILE)


# -- a valid file: memory about its arrays, and no initialisation --------------------------


MEASURE = """
import json, resource, sys, time
import minigrad as mg
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
start = time.perf_counter()
model = mg.load(sys.argv[1])
seconds = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"peak": after - before, "seconds": seconds,
                  "sum": float(sum(p.value.sum() for p in model.parameters()))}))
"""


def test_loading_a_valid_model_takes_memory_about_its_arrays(tmp_path: Path) -> None:
    model = mg.Sequential([mg.Dense(2048, 4096, rng=0), mg.BatchNorm(4096), mg.ReLU(),
                           mg.Dense(4096, 10, rng=1)])
    nbytes = sum(p.value.nbytes for p in model.parameters())
    path = tmp_path / "big.npz"
    mg.save(model, path)
    done = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True,
                          text=True, timeout=120, check=True)
    result = json.loads(done.stdout)
    assert result["sum"] == pytest.approx(float(sum(p.value.sum() for p in model.parameters())))
    assert result["peak"] < 1.5 * nbytes, (result, nbytes)


def test_the_loader_draws_and_fills_no_weights_it_will_overwrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m.npz"
    mg.save(mg.Sequential([mg.Dense(3, 4, rng=0), mg.BatchNorm(4)]), path)
    calls: list[str] = []
    for name in ("he", "xavier", "small_normal"):
        monkeypatch.setitem(mg.init.INITIALIZERS, {"small_normal": "normal"}.get(name, name),
                            lambda *a, name=name: calls.append(name))  # type: ignore[misc]
    monkeypatch.setattr(np, "full", lambda *a, **k: calls.append("full"))
    mg.load(path)
    assert calls == []


def test_deferred_arrays_are_per_thread_and_task() -> None:
    """Building a model while another thread loads one still initialises its weights."""
    import threading

    seen: list[float] = []
    entered, release = threading.Event(), threading.Event()

    def loader() -> None:
        with mg.init.deferred(1 << 20):
            entered.set()
            release.wait(5)

    thread = threading.Thread(target=loader)
    thread.start()
    entered.wait(5)
    try:
        seen.append(float(np.abs(mg.Dense(50, 50, rng=0).W).sum()))
        seen.append(float(mg.BatchNorm(3).gamma.sum()))
    finally:
        release.set()
        thread.join()
    assert seen[0] > 1.0 and seen[1] == 3.0


# -- fuzzing the loader under a memory and time budget --------------------------------------

ARGS = st.one_of(st.integers(-3, 10**10), st.booleans(), st.floats(allow_nan=False),
                 st.just("float32"), st.lists(st.integers(0, 3), max_size=3))


@st.composite
def hostile_layers(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["Dense", "BatchNorm", "LeakyReLU", "Dropout", "Tanh"]))
    names = {"Dense": ["n_in", "n_out", "dtype"], "BatchNorm": ["n_features", "momentum", "dtype"],
             "LeakyReLU": ["alpha"], "Dropout": ["rate"], "Tanh": []}[kind]
    config = {name: draw(ARGS) for name in names if draw(st.booleans()) or name.startswith("n_")}
    return {"class": kind, "config": config}


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(layers=st.lists(hostile_layers(), max_size=4),
       shapes=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), max_size=4))
def test_fuzzed_files_load_or_are_refused_within_memory_and_time(
    layers: list[dict[str, Any]], shapes: list[tuple[int, int]], tmp_path: Path
) -> None:
    members = {META: meta(layers)}
    for i, shape in enumerate(shapes):
        members[f"params/{i}.W.npy"] = npy(np.ones(shape))
    path = write_zip(tmp_path / "fuzz.npz", members)
    tracemalloc.start()
    start = time.perf_counter()
    try:
        mg.load(path)
    except ModelFileError as err:
        assert len(str(err)) <= ModelFileError.MAX_MESSAGE + 100
    finally:
        seconds = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert seconds < 1.0
    # deferred building may reserve (never touch) the declared bytes plus a fixed slack
    assert peak < 2 * mg.init.DEFERRED_SLACK + (8 << 20)


# -- valid files written by other tools still load ----------------------------------------


def _saved(tmp_path: Path) -> tuple[mg.Sequential, dict[str, np.ndarray]]:
    from minigrad.io._archive import read_archive

    model = mg.Sequential([mg.Dense(3, 4, rng=0), mg.BatchNorm(4), mg.Dense(4, 2, rng=1)])
    mg.save(model, tmp_path / "m.npz")
    return model, read_archive((tmp_path / "m.npz").read_bytes())


def _same(a: mg.Layer, b: mg.Layer) -> None:
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        np.testing.assert_array_equal(p.value, q.value, err_msg=name)
    for (name, x), (_, y) in zip(a.buffers().items(), b.buffers().items(), strict=True):
        np.testing.assert_array_equal(x, y, err_msg=name)


def test_a_deflated_file_loads_bit_identically(tmp_path: Path) -> None:
    model, arrays = _saved(tmp_path)
    path = tmp_path / "compressed.npz"
    np.savez_compressed(path, **arrays)  # type: ignore[arg-type]
    with zipfile.ZipFile(path) as archive:
        assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_DEFLATED}
    _same(mg.load(path), model)


def test_fortran_ordered_and_hand_written_headers_load(tmp_path: Path) -> None:
    model, arrays = _saved(tmp_path)
    members = {f"{k}.npy": npy(v) for k, v in arrays.items()}
    members["params/0.W.npy"] = npy(np.asfortranarray(arrays["params/0.W"]))
    assert b"'fortran_order': True" in members["params/0.W.npy"]
    W2 = arrays["params/2.W"]
    header = f"{{'shape':{W2.shape},'fortran_order':False,'descr':'<f8'}}".encode()
    header += b" " * (-(len(header) + 11) % 64) + b"\n"  # keys in another order: numpy parses it
    members["params/2.W.npy"] = (b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little")
                                 + header + W2.tobytes())
    _same(mg.load(write_zip(tmp_path / "other.npz", members)), model)


@pytest.mark.parametrize("descr, message", [
    ("<q9", "unknown dtype '<q9'"), ("|O", "holds Python objects"), ("<U3", "holds no numbers"),
])
def test_odd_dtypes_in_a_header_are_refused(descr: str, message: str, tmp_path: Path) -> None:
    members = small_model_members()
    members["params/0.W.npy"] = npy_header((2, 2), descr) + bytes(2 * 2 * 8)
    with pytest.raises(ModelFileError, match=message):
        mg.load(write_zip(tmp_path / "odd.npz", members))
