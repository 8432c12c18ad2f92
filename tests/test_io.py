"""Model files: round trips, atomic saving, and refusing every bad or hostile file."""

from __future__ import annotations

import copy
import io
import json
import os
import pickle
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim, registry
from minigrad.activations import BUILTIN_ACTIVATIONS
from minigrad.errors import ModelFileError
from minigrad.io import _archive, _atomic
from minigrad.io._model_file import META

RNG = np.random.default_rng(0)
X4 = RNG.normal(size=(4, 7))


@pytest.fixture(autouse=True)
def _isolated_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(registry, "_CLASSES", {})  # built-ins only: they load on first use
    monkeypatch.setattr(registry, "_OPTIMIZERS", {})
    monkeypatch.setattr(registry, "_builtins_loaded", False)
    yield


def net(dtype: Any = np.float64) -> mg.Sequential:
    return mg.Sequential([
        mg.Dense(4, 5, dtype=dtype, rng=1), mg.Tanh(),
        mg.Sequential([mg.Dense(5, 3, init="he", dtype=dtype, rng=2), mg.LeakyReLU(0.2)]),
        mg.Dense(3, 2, dtype=dtype, rng=3), mg.Softmax(),
    ])


def members(path: Path) -> dict[str, np.ndarray]:
    return _archive.read_archive(path.read_bytes())


def meta_of(path: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(members(path)[META].tobytes())
    return result


def rewrite(path: Path, arrays: dict[str, np.ndarray], meta: Any = None) -> None:
    """Write ``arrays`` (and ``meta`` as the metadata, if given) as a new .npz at ``path``."""
    out = dict(arrays)
    if meta is not None:
        text = meta if isinstance(meta, bytes) else json.dumps(meta).encode()
        out[META] = np.frombuffer(text, dtype=np.uint8)
    with open(path, "wb") as f:
        _archive.write_archive(f, out)


# -- round trips ------------------------------------------------------------------


def _activation_cases() -> list[mg.Layer]:
    cases: list[mg.Layer] = [cls() for cls in BUILTIN_ACTIVATIONS]
    cases += [mg.LeakyReLU(0.3), mg.ELU(0.5), mg.GELU(approximate="tanh"), mg.HardTanh(-2, 0.5)]
    return cases


@pytest.mark.parametrize("activation", _activation_cases(), ids=repr)
def test_every_activation_round_trips_bit_identically(activation: mg.Layer, tmp_path: Path) -> None:
    model = mg.Sequential([mg.Dense(4, 3, rng=0), activation])
    mg.save(model, tmp_path / "m.npz")
    loaded = mg.load(tmp_path / "m.npz")
    assert repr(loaded) == repr(model)
    assert [x.config() for x in loaded] == [x.config() for x in model]
    np.testing.assert_array_equal(loaded.predict(X4), model.predict(X4))


@pytest.mark.parametrize("init", ["xavier", "he", "normal"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dense_round_trips_with_each_init_and_dtype(init: str, dtype: Any, tmp_path: Path) -> None:
    layer = mg.Dense(4, 6, init=init, dtype=dtype, rng=5)
    layer.b[...] = RNG.normal(size=layer.b.shape)
    mg.save(layer, tmp_path / "d.npz")
    loaded = mg.load(tmp_path / "d.npz")
    assert isinstance(loaded, mg.Dense)
    assert (loaded.init, loaded.dtype) == (init, np.dtype(dtype))
    assert loaded.W.dtype == dtype and loaded.b.dtype == dtype
    np.testing.assert_array_equal(loaded.W, layer.W)
    np.testing.assert_array_equal(loaded.b, layer.b)
    out = loaded.predict(X4.astype(dtype))
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, layer.predict(X4.astype(dtype)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_nested_sequential_round_trips(dtype: Any, tmp_path: Path) -> None:
    model = net(dtype)
    mg.save(model, tmp_path / "n.npz")
    loaded = mg.load(tmp_path / "n.npz")
    assert isinstance(loaded, mg.Sequential) and isinstance(loaded[2], mg.Sequential)
    assert repr(loaded) == repr(model)
    assert [n for n, _ in loaded.named_parameters()] == [n for n, _ in model.named_parameters()]
    for (_, p), (_, q) in zip(loaded.named_parameters(), model.named_parameters(), strict=True):
        assert p.value is not q.value
        np.testing.assert_array_equal(p.value, q.value)
        assert p.value.dtype == dtype
    X = X4.astype(dtype)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_an_empty_sequential_round_trips(tmp_path: Path) -> None:
    mg.save(mg.Sequential([]), tmp_path / "e.npz")
    assert repr(mg.load(tmp_path / "e.npz")) == "Sequential([])"


def test_the_loaded_model_trains_like_the_original(tmp_path: Path) -> None:
    model = net()
    mg.save(model, tmp_path / "n.npz")
    loaded = mg.load(tmp_path / "n.npz")
    for m in (model, loaded):
        m.forward(X4)
        m.backward(np.ones((2, 7)))
    for (_, p), (_, q) in zip(loaded.named_parameters(), model.named_parameters(), strict=True):
        np.testing.assert_array_equal(p.grad, q.grad)


def test_training_mode_is_kept(tmp_path: Path) -> None:
    model = net().eval()
    mg.save(model, tmp_path / "n.npz")
    loaded = mg.load(tmp_path / "n.npz")
    assert loaded.training is False and all(not layer.training for layer in loaded)
    mg.save(net(), tmp_path / "t.npz")
    assert mg.load(tmp_path / "t.npz").training is True


def test_the_file_layout(tmp_path: Path) -> None:
    mg.save(net(), tmp_path / "n.npz")
    with np.load(tmp_path / "n.npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == [
            META, "params/0.W", "params/0.b", "params/2.0.W", "params/2.0.b",
            "params/3.W", "params/3.b",
        ]
    meta = meta_of(tmp_path / "n.npz")
    assert meta["format"] == "minigrad.model" and meta["format_version"] == mg.io.FORMAT_VERSION
    assert meta["minigrad_version"] == mg.__version__
    assert meta["model"]["config"]["layers"][2] == {"class": "Sequential", "config": {"layers": [
        {"class": "Dense", "config": {"n_in": 5, "n_out": 3, "init": "he", "dtype": "float64"}},
        {"class": "LeakyReLU", "config": {"alpha": 0.2}},
    ]}}
    assert meta["optimizer"] is None


def test_equal_models_give_equal_bytes(tmp_path: Path) -> None:
    mg.save(net(), tmp_path / "a.npz")
    mg.save(net(), tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


def test_loading_leaves_the_library_random_state_alone(tmp_path: Path) -> None:
    mg.save(net(), tmp_path / "n.npz")
    mg.seed(3)
    expected = mg.Dense(2, 2).W.copy()
    mg.seed(3)
    mg.load(tmp_path / "n.npz")
    np.testing.assert_array_equal(mg.Dense(2, 2).W, expected)


def test_paths_may_be_strings_and_need_no_suffix(tmp_path: Path) -> None:
    path = str(tmp_path / "model")
    mg.save(net(), path)
    assert os.listdir(tmp_path) == ["model"]
    assert isinstance(mg.load(path), mg.Sequential)


# -- custom layers ------------------------------------------------------------------


class BentIdentity(mg.Activation):
    """g(Z) = (sqrt(Z**2 + 1) - 1) / 2 + Z."""

    def g(self, Z: np.ndarray) -> np.ndarray:  # type: ignore[override]
        return (np.sqrt(Z * Z + 1) - 1) / 2 + Z

    def g_prime(self, Z: np.ndarray, A: np.ndarray) -> np.ndarray:  # type: ignore[override]
        return Z / (2 * np.sqrt(Z * Z + 1)) + 1


class Scale(mg.Layer):
    """A = s * A_prev, with one trainable scale per row and a running count (a buffer)."""

    def __init__(self, n: int, start: float = 1.0) -> None:
        self.n, self.start = n, start
        self.s = mg.Parameter("s", np.full((n, 1), start), np.zeros((n, 1)))
        self.seen = np.zeros(1)

    def forward(self, A_prev: np.ndarray) -> np.ndarray:  # type: ignore[override]
        self.A_prev = A_prev
        self.seen += A_prev.shape[1]
        return self.s.value * A_prev

    def backward(self, dA: np.ndarray) -> np.ndarray:  # type: ignore[override]
        self.s.grad[...] = (dA * self.A_prev).mean(axis=1, keepdims=True)
        return self.s.value * dA

    def parameters(self) -> list[mg.Parameter]:
        return [self.s]

    def buffers(self) -> dict[str, np.ndarray]:
        return {"seen": self.seen}

    def config(self) -> dict[str, Any]:
        return {"n": self.n, "start": self.start}


def test_registered_custom_layers_round_trip(tmp_path: Path) -> None:
    mg.register(BentIdentity)
    mg.register(Scale)
    model = mg.Sequential([mg.Dense(4, 3, rng=0), BentIdentity(), Scale(3, start=0.5)])
    model[2].s.value[...] = RNG.normal(size=(3, 1))  # type: ignore[union-attr]
    model.forward(X4)
    mg.save(model, tmp_path / "c.npz")
    assert "buffers/2.seen" in members(tmp_path / "c.npz")
    loaded = mg.load(tmp_path / "c.npz")
    assert isinstance(loaded[1], BentIdentity) and isinstance(loaded[2], Scale)
    assert loaded[2].start == 0.5
    np.testing.assert_array_equal(loaded[2].seen, [7.0])
    np.testing.assert_array_equal(loaded.predict(X4), model.predict(X4))


def test_saving_an_unregistered_layer_names_it_and_writes_nothing(tmp_path: Path) -> None:
    model = mg.Sequential([mg.Dense(4, 3), BentIdentity()])
    with pytest.raises(ModelFileError, match=r"BentIdentity: its class is not registered.*"
                                             r"@mg\.register"):
        mg.save(model, tmp_path / "c.npz")
    assert os.listdir(tmp_path) == []


def test_loading_an_unregistered_layer_names_it_and_says_how_to_register(tmp_path: Path) -> None:
    mg.register(BentIdentity)
    mg.save(mg.Sequential([mg.Dense(4, 3), BentIdentity()]), tmp_path / "c.npz")
    del registry._CLASSES["BentIdentity"]  # a fresh process that forgot to register
    with pytest.raises(ModelFileError, match=r"'BentIdentity', which is not registered; if it "
                                             r"is your own layer, decorate its class with "
                                             r"@mg\.register"):
        mg.load(tmp_path / "c.npz")


def test_a_config_that_does_not_fit_the_constructor_is_refused_at_save(tmp_path: Path) -> None:
    class NoConfig(Scale):
        def config(self) -> dict[str, Any]:
            return {}

    mg.register(NoConfig)
    with pytest.raises(ModelFileError, match=r"cannot save model NoConfig.*missing a required "
                                             r"argument: 'n'"):
        mg.save(NoConfig(2), tmp_path / "x.npz")


@pytest.mark.parametrize("bad", [object(), float("nan"), {1: 2}, b"bytes"], ids=repr)
def test_a_config_that_is_not_plain_data_is_refused_at_save(bad: Any, tmp_path: Path) -> None:
    class Odd(Scale):
        def config(self) -> dict[str, Any]:
            return {"n": self.n, "start": bad}

    mg.register(Odd)
    with pytest.raises(ModelFileError, match="argument 'start'"):
        mg.save(Odd(2), tmp_path / "x.npz")
    assert os.listdir(tmp_path) == []


def test_numpy_scalars_in_a_config_are_saved_as_plain_numbers(tmp_path: Path) -> None:
    mg.save(mg.Dense(np.int64(3), np.int32(2)), tmp_path / "d.npz")
    assert meta_of(tmp_path / "d.npz")["model"]["config"]["n_in"] == 3
    assert mg.load(tmp_path / "d.npz").n_in == 3  # type: ignore[attr-defined]


# -- atomic saving ------------------------------------------------------------------


@pytest.fixture
def old_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.npz"
    mg.save(net(), path)
    return path


def _fail(*args: Any, **kwargs: Any) -> None:
    raise OSError("disk full (simulated)")


def _fail_midway(f: Any, arrays: dict[str, np.ndarray]) -> None:
    f.write(b"PK\x03\x04 half of an archive")
    raise OSError("disk full (simulated)")


@pytest.mark.parametrize("where, replacement", [
    ("write_archive", _fail_midway),
    ("fsync", _fail),
    ("replace", _fail),
])
def test_an_error_while_saving_keeps_the_old_file_and_leaves_no_temp_file(
    old_file: Path, where: str, replacement: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = old_file.read_bytes()
    if where == "write_archive":
        monkeypatch.setattr("minigrad.io._model_file.write_archive", replacement)
    else:
        monkeypatch.setattr(_atomic.os, where, replacement)
    bigger = mg.Sequential([mg.Dense(4, 50, rng=9), mg.ReLU(), mg.Dense(50, 2, rng=8)])
    with pytest.raises(OSError, match="simulated"):
        mg.save(bigger, old_file)
    monkeypatch.undo()
    assert old_file.read_bytes() == before
    assert os.listdir(old_file.parent) == ["model.npz"]
    np.testing.assert_array_equal(mg.load(old_file).predict(X4), net().predict(X4))


def test_an_interrupt_while_saving_keeps_the_old_file(
    old_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = old_file.read_bytes()

    def interrupt(f: Any, arrays: Any) -> None:
        f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr("minigrad.io._model_file.write_archive", interrupt)
    with pytest.raises(KeyboardInterrupt):
        mg.save(net(), old_file)
    assert old_file.read_bytes() == before
    assert os.listdir(old_file.parent) == ["model.npz"]


def test_saving_syncs_the_file_before_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(_atomic.os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd)))
    monkeypatch.setattr(_atomic.os, "replace",
                        lambda a, b: (calls.append("replace"), real_replace(a, b)))
    mg.save(net(), tmp_path / "m.npz")
    assert calls == ["fsync", "replace", "fsync"]  # file, rename, then the folder


def test_non_finite_weights_are_refused_before_touching_the_file(old_file: Path) -> None:
    before = old_file.read_bytes()
    model = net()
    model[0].W[1, 2] = np.nan  # type: ignore[union-attr]
    with pytest.raises(ModelFileError, match=r"params/0\.W holds NaN or inf"):
        mg.save(model, old_file)
    assert old_file.read_bytes() == before
    assert os.listdir(old_file.parent) == ["model.npz"]


def test_saving_to_a_folder_or_a_missing_folder_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError):
        mg.save(net(), tmp_path)
    with pytest.raises(FileNotFoundError):
        mg.save(net(), tmp_path / "no" / "such" / "m.npz")
    assert os.listdir(tmp_path) == []


def test_saving_keeps_the_mode_of_the_file_it_replaces(old_file: Path) -> None:
    old_file.chmod(0o640)
    mg.save(net(), old_file)
    assert old_file.stat().st_mode & 0o777 == 0o640


def test_only_layers_can_be_saved(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="expected a minigrad Layer, got dict"):
        mg.io.save({"W": 1}, tmp_path / "x.npz")  # type: ignore[arg-type]


def test_a_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        mg.load(tmp_path / "nope.npz")


# -- files that try to run code -------------------------------------------------------


class Payload:
    """Unpickling this creates the marker file: proof that code from the file ran."""

    marker = ""

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.marker, "w"))


def _pickled_object_array(marker: Path) -> np.ndarray:
    payload = Payload()
    payload.marker = str(marker)
    array = np.empty(1, dtype=object)
    array[0] = payload
    return array


def _write_with_pickle(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An .npz whose members numpy would unpickle if asked to (a hostile file)."""
    with zipfile.ZipFile(path, "w") as archive:
        for key, array in arrays.items():
            with archive.open(key + ".npy", "w") as member:
                np.lib.format.write_array(member, array, allow_pickle=True)


@pytest.mark.parametrize("member", ["params/0.W", META, "optimizer/m.0"])
def test_a_pickled_object_array_is_refused_and_never_unpickled(
    member: str, old_file: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    arrays = members(old_file)
    arrays[member] = _pickled_object_array(marker)
    _write_with_pickle(old_file, arrays)
    with pytest.raises(ModelFileError, match=rf"array '{member}' has dtype object, which holds "
                                             r"Python objects"):
        mg.load(old_file)
    assert not marker.exists()
    with pytest.raises(ValueError, match="allow_pickle=False"):  # what numpy itself would do
        np.load(old_file, allow_pickle=False)[member]
    assert not marker.exists()


def test_a_pickle_file_is_refused_and_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "model.npz"
    path.write_bytes(pickle.dumps(_pickled_object_array(marker)))
    with pytest.raises(ModelFileError, match="it is not a zip archive"):
        mg.load(path)
    np.save(path, _pickled_object_array(marker), allow_pickle=True)
    path.with_suffix(".npz.npy").rename(path)
    with pytest.raises(ModelFileError, match=r"it is a single \.npy array"):
        mg.load(path)
    assert not marker.exists()


@pytest.mark.parametrize("name", [
    "os.system", "builtins.eval", "eval", "exec", "__import__", "subprocess.Popen", "system",
    "Layer", "Activation", "type", "object",
])
def test_a_file_naming_a_callable_as_a_class_is_refused_and_runs_nothing(
    name: str, old_file: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    meta = meta_of(old_file)
    meta["model"]["config"]["layers"][1] = {
        "class": name, "config": {"command": f"touch {marker}", "source": f"open('{marker}','w')"},
    }
    rewrite(old_file, {k: v for k, v in members(old_file).items() if k != META}, meta)
    with pytest.raises(ModelFileError, match=rf"layer class '{name}', which is not registered"):
        mg.load(old_file)
    assert not marker.exists()


def test_constructor_arguments_are_data_not_code(old_file: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    meta = meta_of(old_file)
    dense = meta["model"]["config"]["layers"][0]["config"]
    dense["init"] = f"__import__('os').system('touch {marker}')"
    rewrite(old_file, {k: v for k, v in members(old_file).items() if k != META}, meta)
    with pytest.raises(ModelFileError, match="init must be one of"):
        mg.load(old_file)
    assert not marker.exists()


# -- damaged and foreign files ------------------------------------------------------------

Edit = Callable[[dict[str, Any], dict[str, np.ndarray]], Any]


def _set(path: str, value: Any) -> Edit:
    """An edit that sets ``meta[path]`` (a dotted path; ints index lists)."""
    def edit(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        *parents, last = path.split(".")
        node: Any = meta
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if value is _DELETE:
            del node[last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return edit


_DELETE = object()
DENSE0 = "model.config.layers.0.config"


def _array(key: str, value: Any) -> Edit:
    def edit(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        if value is _DELETE:
            del arrays[key]
        else:
            arrays[key] = value(arrays.get(key)) if callable(value) else value
    return edit


def _with(array: np.ndarray | None, index: tuple[int, int], value: float) -> np.ndarray:
    assert array is not None
    out = array.copy()
    out[index] = value
    return out


BAD_METADATA: list[tuple[str, Edit, str]] = [
    ("missing format", _set("format", _DELETE), "not a minigrad model file: format is None"),
    ("another format", _set("format", "keras"), "format is 'keras'"),
    ("missing version", _set("format_version", _DELETE), "has no format_version"),
    ("newer version", _set("format_version", 2), "format version 2, newer than this minigrad"),
    ("older version", _set("format_version", 0), "unknown format version 0"),
    ("version as text", _set("format_version", "1"), "format_version must be an integer"),
    ("version as bool", _set("format_version", True), "format_version must be an integer"),
    ("extra key", _set("exec", "print(1)"), r"unexpected \['exec'\]"),
    ("missing key", _set("training", _DELETE), r"missing \['training'\]"),
    ("training not a bool", _set("training", "yes"), "'training' must be true or false"),
    ("version not a string", _set("minigrad_version", [0, 1]), "'minigrad_version' must be a"),
    ("model not an object", _set("model", ["Dense"]), "expected a layer as"),
    ("model without config", _set("model.config", _DELETE), "expected a layer as"),
    ("class not a string", _set("model.class", 3), "must be a name"),
    ("config not an object", _set("model.config", [1]), "config must be an object"),
    ("layers not a list", _set("model.config.layers", "all"), "needs a list 'layers'"),
    ("unregistered class", _set("model.config.layers.1.class", "Swishy"),
     r"'Swishy', which is not registered.*@mg\.register"),
    ("n_in as text", _set(f"{DENSE0}.n_in", "4"), "n_in must be a positive int, got '4'"),
    ("n_in fractional", _set(f"{DENSE0}.n_in", 4.5), "n_in must be a positive int, got 4.5"),
    ("n_in negative", _set(f"{DENSE0}.n_in", -4), "n_in must be a positive int"),
    ("n_in boolean", _set(f"{DENSE0}.n_in", True), "argument .n_in. must be a number, got true"),
    ("dtype int", _set(f"{DENSE0}.dtype", "int32"), "dtype must be a float type"),
    ("dtype object", _set(f"{DENSE0}.dtype", "object"), "dtype must be a float type"),
    ("dtype nonsense", _set(f"{DENSE0}.dtype", "float99"), "cannot build Dense"),
    ("unknown init", _set(f"{DENSE0}.init", "zeros"), "init must be one of"),
    ("unknown argument", _set(f"{DENSE0}.bias", False), "unexpected keyword argument 'bias'"),
    ("missing argument", _set(f"{DENSE0}.n_out", _DELETE), "missing a required argument"),
    ("alpha as text", _set("model.config.layers.2.config.layers.1.config.alpha", "x"),
     "could not convert string to float"),
    ("alpha infinite", _set("model.config.layers.2.config.layers.1.config.alpha", 1e999),
     "holds Infinity, which is not a JSON number"),
    ("alpha a list", _set("model.config.layers.2.config.layers.1.config.alpha", [1]),
     "cannot build LeakyReLU"),
    ("huge Dense", _set(f"{DENSE0}.n_in", 10**9),
     r"Dense\(n_in=1000000000, n_out=5\) needs an array of shape \(5, 1000000000\) \(float64, "
     r"40,000,000,000 bytes\): the layers would need more than the \d+ bytes"),
    ("optimizer malformed", _set("optimizer", {"class": "SGD"}), "optimizer state in the metadata"),
    ("missing array", _array("params/2.0.b", _DELETE), r"lacks model arrays: 'params/2\.0\.b'"),
    ("extra array", _array("params/9.W", np.zeros((2, 2))), r"unexpected model arrays: "
                                                            r"'params/9\.W'"),
    ("stray optimizer array", _array("optimizer/m.0", np.zeros(2)), "optimizer arrays but no"),
    ("wrong shape", _array("params/0.W", lambda a: a.T), r"params/0\.W' has shape \(4, 5\), but "
                                                         r"the model needs \(5, 4\)"),
    ("wrong float dtype", _array("params/0.W", lambda a: a.astype(np.float32)),
     "has dtype float32, but the model needs float64"),
    ("int array", _array("params/0.b", lambda a: a.astype(np.int64)), "has dtype int64"),
    ("bool array", _array("params/0.b", lambda a: a.astype(bool)), "has dtype bool"),
    ("complex array", _array("params/0.b", lambda a: a.astype(complex)), "dtype complex128"),
    ("string array", _array("params/0.b", np.array(["1.0"])), "dtype <U3"),
    ("structured array", _array("params/0.b", np.zeros(2, dtype=[("a", "f8")])), "which holds"),
    ("NaN weight", _array("params/0.W", lambda a: _with(a, (1, 1), np.nan)), "non-finite"),
    ("inf weight", _array("params/3.b", lambda a: _with(a, (0, 0), -np.inf)), "non-finite"),
]


@pytest.mark.parametrize("case, edit, message", BAD_METADATA, ids=[c[0] for c in BAD_METADATA])
def test_a_bad_model_file_is_refused_with_the_reason(
    case: str, edit: Edit, message: str, old_file: Path
) -> None:
    meta = meta_of(old_file)
    arrays = {k: v for k, v in members(old_file).items() if k != META}
    edit(meta, arrays)
    rewrite(old_file, arrays, meta)
    with pytest.raises(ModelFileError, match=message):
        mg.load(old_file)


RAW_METADATA = [
    (b"{not json", "not valid JSON"),
    (b"[1, 2, 3]", "must be a JSON object, got list"),
    (b'"a string"', "must be a JSON object, got str"),
    (b"42", "must be a JSON object, got int"),
    (b"null", "must be a JSON object, got NoneType"),
    (b'{"format": "minigrad.model", "format": "x"}', "repeats the key 'format'"),
    (b'{"format": NaN}', "holds NaN, which is not a JSON number"),
    (b"\xff\xfe{}", "not valid JSON"),
    (b"[" * 100_000, "nests lists and objects deeper than 256 levels"),
]


@pytest.mark.parametrize("raw, message", RAW_METADATA, ids=[r[1] for r in RAW_METADATA])
def test_metadata_that_is_not_a_json_object_is_refused(
    raw: bytes, message: str, old_file: Path
) -> None:
    rewrite(old_file, {k: v for k, v in members(old_file).items() if k != META}, raw)
    with pytest.raises(ModelFileError, match=message):
        mg.load(old_file)


def test_metadata_of_the_wrong_dtype_is_refused(old_file: Path) -> None:
    arrays = members(old_file)
    arrays[META] = arrays[META].astype(np.float64)
    rewrite(old_file, arrays)
    with pytest.raises(ModelFileError, match="metadata must be UTF-8 bytes, got float64"):
        mg.load(old_file)


def test_too_deep_nesting_is_refused(tmp_path: Path) -> None:
    tree: dict[str, Any] = {"class": "Identity", "config": {}}
    for _ in range(70):
        tree = {"class": "Sequential", "config": {"layers": [tree]}}
    meta = {"format": "minigrad.model", "format_version": 1, "minigrad_version": "0",
            "model": tree, "training": True, "random": [], "optimizer": None}
    rewrite(tmp_path / "deep.npz", {}, meta)
    with pytest.raises(ModelFileError, match="nest deeper than 64 levels"):
        mg.load(tmp_path / "deep.npz")


def test_a_plain_npz_is_not_a_model_file(tmp_path: Path) -> None:
    np.savez(tmp_path / "plain.npz", W=np.ones((2, 2)))
    with pytest.raises(ModelFileError, match=r"no '__minigrad__' metadata \(is it a plain .npz"):
        mg.load(tmp_path / "plain.npz")


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"),
    (bytes(RNG.integers(0, 256, 4096, dtype=np.uint8)), "it is not a zip archive"),
    (b"PK\x03\x04" + bytes(RNG.integers(0, 256, 300, dtype=np.uint8)), "damaged or truncated"),
    (b"\x93NUMPY\x01\x00", "it is a single .npy array"),
    (b"hello world\n", "it is not a zip archive"),
], ids=["empty", "random bytes", "zip magic then noise", "npy magic", "text"])
def test_files_that_are_not_npz_archives_are_refused(
    content: bytes, message: str, tmp_path: Path
) -> None:
    path = tmp_path / "x.npz"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=message):
        mg.load(path)


def test_every_truncation_of_a_model_file_is_refused(old_file: Path, tmp_path: Path) -> None:
    data = old_file.read_bytes()
    cut = tmp_path / "cut.npz"
    for size in range(0, len(data), 37):
        cut.write_bytes(data[:size])
        with pytest.raises(ModelFileError):
            mg.load(cut)


def test_every_flipped_byte_is_refused_or_harmless(old_file: Path, tmp_path: Path) -> None:
    """A flipped byte either breaks the file (clear error) or leaves the model intact."""
    data = bytearray(old_file.read_bytes())
    expected = mg.load(old_file).predict(X4)
    damaged = tmp_path / "damaged.npz"
    refused = 0
    for i in range(0, len(data), 11):
        changed = bytearray(data)
        changed[i] ^= 0x55
        damaged.write_bytes(bytes(changed))
        try:
            model = mg.load(damaged)
        except ModelFileError:
            refused += 1
            continue
        np.testing.assert_array_equal(model.predict(X4), expected)  # e.g. a zip timestamp
    assert refused > 0.8 * len(range(0, len(data), 11))


def test_a_corrupted_array_fails_its_checksum(old_file: Path) -> None:
    data = bytearray(old_file.read_bytes())
    start = data.index(b"params/0.W.npy") + 200  # inside the array data
    data[start] ^= 0xFF
    old_file.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="damaged or truncated: BadZipFile: Bad CRC-32"):
        mg.load(old_file)


def test_an_array_header_that_lies_about_its_size_is_refused(old_file: Path) -> None:
    arrays = members(old_file)
    W = arrays.pop("params/0.W")
    rewrite(old_file, arrays)
    npy = io.BytesIO()
    np.lib.format.write_array(npy, W)
    header = b"'shape': (5, 4)"
    assert npy.getvalue().count(header) == 1
    with zipfile.ZipFile(old_file, "a") as archive:  # a valid checksum over a lying header
        archive.writestr("params/0.W.npy", npy.getvalue().replace(header, b"'shape': (9, 9)"))
    with pytest.raises(ModelFileError, match=r"'params/0\.W' of shape \(9, 9\) needs \d+ bytes"):
        mg.load(old_file)


def test_odd_archive_members_are_refused(old_file: Path) -> None:
    with zipfile.ZipFile(old_file, "a") as archive:
        archive.writestr("README.txt", "hello")
    with pytest.raises(ModelFileError, match=r"unexpected archive member 'README\.txt'"):
        mg.load(old_file)


def test_a_member_stored_twice_is_refused(old_file: Path) -> None:
    with pytest.warns(UserWarning, match="Duplicate name"), \
            zipfile.ZipFile(old_file, "a") as archive, \
            archive.open("params/0.b.npy", "w") as member:
        np.lib.format.write_array(member, np.zeros((5, 1)))
    with pytest.raises(ModelFileError, match=r"holds 'params/0\.b\.npy' twice"):
        mg.load(old_file)


def test_nothing_is_built_before_the_architecture_checks_out(
    old_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[str] = []
    real_init = mg.Dense.__init__

    def counting_init(self: mg.Dense, *args: Any, **kwargs: Any) -> None:
        built.append("Dense")
        real_init(self, *args, **kwargs)

    meta = meta_of(old_file)
    meta["model"]["config"]["layers"][4]["class"] = "NotALayer"  # the last layer is bad
    rewrite(old_file, {k: v for k, v in members(old_file).items() if k != META}, meta)
    monkeypatch.setattr(mg.Dense, "__init__", counting_init)
    with pytest.raises(ModelFileError, match="NotALayer"):
        mg.load(old_file)
    assert built == []


def test_loading_is_all_or_nothing_for_a_model_in_hand(old_file: Path) -> None:
    """A failed load returns nothing; the model that was saved is untouched."""
    model = net()
    before = copy.deepcopy([p.value for p in model.parameters()])
    arrays = members(old_file)
    arrays["params/3.b"] = arrays["params/3.b"].astype(np.float32)
    rewrite(old_file, arrays)
    with pytest.raises(ModelFileError):
        model = mg.load(old_file)  # type: ignore[assignment]
    for p, b in zip(model.parameters(), before, strict=True):
        np.testing.assert_array_equal(p.value, b)


# -- checkpoints: a model with its optimizer ------------------------------------------------


Y2 = RNG.integers(0, 2, size=7)

OPTIMIZERS: dict[str, Callable[[list[mg.Parameter]], Any]] = {
    "SGD": lambda p: optim.SGD(p, lr=0.1),
    "SGD momentum": lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True,
                                        weight_decay=1e-3),
    "RMSProp": lambda p: optim.RMSProp(p, lr=0.01),
    "Adam": lambda p: optim.Adam(p, lr=0.01),
    "AdamW": lambda p: optim.AdamW(p, lr=0.01, weight_decay=0.1),
}


def _train(model: mg.Layer, optimizer: Any, steps: int, dtype: Any = np.float64) -> None:
    loss = mg.losses.CategoricalCrossEntropy()
    X = X4.astype(dtype)
    for _ in range(steps):
        loss.forward(model.forward(X), Y2)
        model.backward(loss.backward())
        optimizer.step()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_resuming_from_a_checkpoint_is_bit_identical_to_never_stopping(
    name: str, dtype: Any, tmp_path: Path
) -> None:
    straight = net(dtype)
    _train(straight, OPTIMIZERS[name](straight.parameters()), 9, dtype)

    first = net(dtype)
    optimizer = OPTIMIZERS[name](first.parameters())
    _train(first, optimizer, 4, dtype)
    mg.save(first, tmp_path / "ckpt.npz", optimizer=optimizer)
    del first, optimizer
    model, optimizer = mg.load_checkpoint(tmp_path / "ckpt.npz")
    assert type(optimizer).__name__ == name.split()[0]
    assert optimizer.state_dict()["step"] == 4
    _train(model, optimizer, 5, dtype)

    for (_, p), (_, q) in zip(model.named_parameters(), straight.named_parameters(), strict=True):
        assert p.value.dtype == dtype
        np.testing.assert_array_equal(p.value, q.value)


def test_the_checkpointed_optimizer_state_is_exact(tmp_path: Path) -> None:
    model = net()
    optimizer = optim.Adam(model.parameters(), lr=0.02, betas=(0.8, 0.99))
    _train(model, optimizer, 3)
    mg.save(model, tmp_path / "ckpt.npz", optimizer=optimizer)
    _, restored = mg.load_checkpoint(tmp_path / "ckpt.npz")
    want, got = optimizer.state_dict(), restored.state_dict()
    assert sorted(got) == sorted(want)
    for key, value in want.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(got[key], value)
        else:
            assert got[key] == value, key


def test_the_restored_optimizer_updates_the_loaded_model(tmp_path: Path) -> None:
    model = net()
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    mg.save(model, tmp_path / "ckpt.npz", optimizer=optimizer)
    loaded, restored = mg.load_checkpoint(tmp_path / "ckpt.npz")
    assert all(a is b for a, b in zip(restored.params, loaded.parameters(), strict=True))


def test_load_ignores_the_optimizer_and_load_checkpoint_needs_one(tmp_path: Path) -> None:
    model = net()
    mg.save(model, tmp_path / "with.npz", optimizer=optim.SGD(model.parameters(), lr=0.1))
    assert isinstance(mg.load(tmp_path / "with.npz"), mg.Sequential)
    mg.save(model, tmp_path / "without.npz")
    with pytest.raises(ModelFileError, match=r"holds no optimizer state.*mg\.load\(path\)"):
        mg.load_checkpoint(tmp_path / "without.npz")


def test_an_optimizer_of_another_model_is_refused_at_save(tmp_path: Path) -> None:
    other = net()
    with pytest.raises(ModelFileError, match="it optimizes 6 other parameters"):
        mg.save(net(), tmp_path / "x.npz", optimizer=optim.SGD(other.parameters(), lr=0.1))
    assert os.listdir(tmp_path) == []


def test_something_that_is_not_an_optimizer_is_refused_at_save(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="has no state_dict"):
        mg.save(net(), tmp_path / "x.npz", optimizer="adam")


def _checkpoint(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    model = net()
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    _train(model, optimizer, 2)
    mg.save(model, path, optimizer=optimizer)
    return meta_of(path), {k: v for k, v in members(path).items() if k != META}


BAD_CHECKPOINTS: list[tuple[str, Edit, str]] = [
    ("unregistered optimizer", _set("optimizer.class", "Lion"),
     "optimizer class 'Lion', which is not registered"),
    ("code as optimizer", _set("optimizer.class", "os.system"), "optimizer class 'os.system'"),
    ("missing moment", _array("optimizer/m.3", _DELETE), r"lacks optimizer state arrays"),
    ("unlisted array", _array("optimizer/z.0", np.zeros(3)), "unexpected optimizer state arrays"),
    ("NaN moment", _array("optimizer/v.0", lambda a: _with(a, (0, 0), np.nan)), "non-finite"),
    ("moment of wrong shape", _array("optimizer/m.0", lambda a: a.T),
     "cannot restore the Adam optimizer"),
    ("scalar as a list", _set("optimizer.scalars.lr", [0.1]), "must be a scalar"),
    ("negative learning rate", _set("optimizer.scalars.lr", -1.0),
     "cannot restore the Adam optimizer"),
    ("step as text", _set("optimizer.scalars.step", "two"), "cannot restore the Adam optimizer"),
    ("another optimizer's state", _set("optimizer.class", "SGD"), "cannot restore the SGD"),
]


@pytest.mark.parametrize("case, edit, message", BAD_CHECKPOINTS,
                         ids=[c[0] for c in BAD_CHECKPOINTS])
def test_a_bad_checkpoint_is_refused_with_the_reason(
    case: str, edit: Edit, message: str, tmp_path: Path
) -> None:
    path = tmp_path / "ckpt.npz"
    meta, arrays = _checkpoint(path)
    edit(meta, arrays)
    rewrite(path, arrays, meta)
    with pytest.raises(ModelFileError, match=message):
        mg.load_checkpoint(path)


def test_gradient_clipping_survives_a_checkpoint(tmp_path: Path) -> None:
    model = net()
    optimizer = optim.SGD(model.parameters(), lr=0.1, max_grad_norm=0.5)
    mg.save(model, tmp_path / "ckpt.npz", optimizer=optimizer)
    _, restored = mg.load_checkpoint(tmp_path / "ckpt.npz")
    assert restored.max_grad_norm == 0.5
    mg.save(model, tmp_path / "plain.npz", optimizer=optim.SGD(model.parameters(), lr=0.1))
    _, plain = mg.load_checkpoint(tmp_path / "plain.npz")
    assert plain.max_grad_norm is None


# -- Dropout, BatchNorm and random state ---------------------------------------------------

LABELS = np.random.default_rng(3).integers(0, 2, size=40)
X40 = np.random.default_rng(4).normal(size=(4, 40))


def regularized(dtype: Any = np.float64, dropout_rng: Any = 5) -> mg.Sequential:
    return mg.Sequential([
        mg.Dense(4, 6, dtype=dtype, rng=1), mg.BatchNorm(6, momentum=0.2, dtype=dtype),
        mg.ReLU(), mg.Dropout(0.3, rng=dropout_rng), mg.Dense(6, 2, dtype=dtype, rng=2),
        mg.Softmax(),
    ])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_batchnorm_and_dropout_round_trip_with_running_statistics(
    dtype: Any, tmp_path: Path
) -> None:
    model = regularized(dtype)
    for _ in range(3):  # move the running statistics away from their start
        model.forward(X40.astype(dtype))
    mg.save(model, tmp_path / "r.npz")
    assert {"buffers/1.running_mean", "buffers/1.running_var"} <= set(members(tmp_path / "r.npz"))
    loaded = mg.load(tmp_path / "r.npz")
    assert repr(loaded) == repr(model)
    for name, array in model.buffers().items():
        np.testing.assert_array_equal(loaded.buffers()[name], array)
        assert loaded.buffers()[name].dtype == dtype
    X = X40.astype(dtype)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded.predict(X).dtype == dtype


def test_a_seeded_dropout_draws_the_same_masks_after_loading(tmp_path: Path) -> None:
    model = regularized()
    model.forward(X40)  # use the generator a little
    mg.save(model, tmp_path / "r.npz")
    assert meta_of(tmp_path / "r.npz")["random"][0]["attributes"] == ["3._rng"]
    loaded = mg.load(tmp_path / "r.npz")
    for _ in range(2):  # training mode: masks are drawn
        np.testing.assert_array_equal(loaded.forward(X40), model.forward(X40))


def test_a_dropout_on_the_shared_generator_stays_on_it(tmp_path: Path) -> None:
    model = regularized(dropout_rng=None)
    mg.save(model, tmp_path / "r.npz")
    assert meta_of(tmp_path / "r.npz")["random"] == []
    loaded = mg.load(tmp_path / "r.npz")
    assert loaded[3]._rng is mg._rng.default_rng()  # type: ignore[union-attr]


def test_one_generator_shared_by_two_layers_is_saved_once(tmp_path: Path) -> None:
    generator = np.random.default_rng(11)
    model = mg.Sequential([mg.Dense(4, 3, rng=0), mg.Dropout(0.5, rng=generator),
                           mg.Dropout(0.5, rng=generator)])
    mg.save(model, tmp_path / "r.npz")
    assert [e["attributes"] for e in meta_of(tmp_path / "r.npz")["random"]] == [
        ["1._rng", "2._rng"]
    ]
    loaded = mg.load(tmp_path / "r.npz")
    assert loaded[1]._rng is loaded[2]._rng  # type: ignore[union-attr]
    np.testing.assert_array_equal(loaded.forward(X4), model.forward(X4))


BAD_RANDOM: list[tuple[str, Any, str]] = [
    ("not a list", {"attributes": ["3._rng"]}, "'random' must be a list"),
    ("into a weight", [{"attributes": ["0.W"], "state": "keep"}], "which is not a generator"),
    ("into a class", [{"attributes": ["3.__class__"], "state": "keep"}], "not a generator"),
    ("into a missing layer", [{"attributes": ["9._rng"], "state": "keep"}], "not a generator"),
    ("no attributes", [{"attributes": [], "state": "keep"}], "needs a list of attribute names"),
    ("unknown bit generator", [{"attributes": ["3._rng"], "state": {"bit_generator": "os"}}],
     "names bit generator 'os'"),
    ("bad state", [{"attributes": ["3._rng"], "state": {"bit_generator": "PCG64", "state": 1}}],
     "PCG64 generator state in the file is invalid"),
]


@pytest.mark.parametrize("case, random, message", BAD_RANDOM, ids=[c[0] for c in BAD_RANDOM])
def test_bad_random_state_is_refused(case: str, random: Any, message: str, tmp_path: Path) -> None:
    path = tmp_path / "r.npz"
    mg.save(regularized(), path)
    meta = meta_of(path)
    good = meta["random"][0]["state"]
    if isinstance(random, list):
        for entry in random:
            if entry["state"] == "keep":
                entry["state"] = good
    meta["random"] = random
    rewrite(path, {k: v for k, v in members(path).items() if k != META}, meta)
    with pytest.raises(ModelFileError, match=message):
        mg.load(path)


# -- resuming mg.fit from a ModelCheckpoint -------------------------------------------------


@pytest.mark.parametrize("name", ["SGD momentum", "Adam"])
def test_fit_resumed_from_a_model_checkpoint_ends_bit_identical(name: str, tmp_path: Path) -> None:
    """Shuffled minibatches, BatchNorm statistics, seeded Dropout masks and optimizer moments
    all resume."""
    settings: dict[str, Any] = {"loss": "categorical_crossentropy", "batch_size": 10,
                                "shuffle": True, "seed": 7, "verbose": False}
    straight = regularized()
    mg.fit(straight, X40, LABELS, optimizer=OPTIMIZERS[name](straight.parameters()), epochs=6,
           **settings)

    first = regularized()
    checkpoint = mg.ModelCheckpoint(str(tmp_path / "ckpt.npz"), save_best_only=False)
    mg.fit(first, X40, LABELS, optimizer=OPTIMIZERS[name](first.parameters()), epochs=3,
           callbacks=[checkpoint], **settings)
    del first
    model, optimizer = mg.load_checkpoint(tmp_path / "ckpt.npz")
    history = mg.fit(model, X40, LABELS, optimizer=optimizer, epochs=6, initial_epoch=3,
                     **settings)
    assert history.epochs == [4, 5, 6]

    for (_, p), (_, q) in zip(model.named_parameters(), straight.named_parameters(), strict=True):
        np.testing.assert_array_equal(p.value, q.value)
    for key, array in straight.buffers().items():
        np.testing.assert_array_equal(model.buffers()[key], array)
    np.testing.assert_array_equal(model.predict(X40), straight.predict(X40))
