"""``save`` and ``load``: one model (and optionally its optimizer's state) per .npz file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from minigrad.errors import ModelFileError
from minigrad.io import _optimizer_state
from minigrad.io._architecture import Node, build, describe, parse
from minigrad.io._archive import read_archive, write_archive
from minigrad.io._atomic import atomic_write
from minigrad.layer import Layer
from minigrad.sequential import Sequential

FORMAT = "minigrad.model"
FORMAT_VERSION = 1
META = "__minigrad__"
PARAMS = "params/"
BUFFERS = "buffers/"
_META_KEYS = {"format", "format_version", "minigrad_version", "model", "training", "optimizer"}

PathLike = str | os.PathLike[str]


def save(model: Layer, path: PathLike, optimizer: Any = None) -> None:
    """Write ``model`` (and ``optimizer``'s state, if given) to ``path`` atomically.

    Everything is checked before the file is touched; an error while writing
    leaves any old file at ``path`` intact and no temporary file behind.
    """
    if not isinstance(model, Layer):
        raise TypeError(f"save: expected a minigrad Layer, got {type(model).__name__}")
    meta: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "minigrad_version": _version(),
        "model": describe(model),
        "training": bool(model.training),
        "optimizer": None,
    }
    members = {PARAMS + k: v for k, v in _named_arrays(model, "params").items()}
    members.update({BUFFERS + k: v for k, v in _named_arrays(model, "buffers").items()})
    for key, array in members.items():
        if not np.isfinite(array).all():
            raise ModelFileError(
                f"cannot save: {key} holds NaN or inf (has training diverged?); "
                "such a file could not be loaded"
            )
    if optimizer is not None:
        meta["optimizer"], optimizer_arrays = _optimizer_state.pack(optimizer)
        members.update(optimizer_arrays)
    text = json.dumps(meta, allow_nan=False, separators=(",", ":"))
    archive = {META: np.frombuffer(text.encode("utf-8"), dtype=np.uint8), **members}
    atomic_write(path, lambda f: write_archive(f, archive))


def load(path: PathLike, optimizer: Any = None) -> Layer:
    """Rebuild the model saved at ``path``; with ``optimizer``, also restore its saved state.

    The whole file is checked before anything is built, and the optimizer's
    state is only replaced once the model has loaded; any problem raises a
    ModelFileError and changes nothing. Missing files raise the usual OSError.
    """
    arrays = read_archive(Path(path).read_bytes())
    meta = _metadata(arrays.pop(META, None))
    optimizer_arrays = {
        k: arrays.pop(k) for k in [k for k in arrays if k.startswith(_optimizer_state.PREFIX)]
    }
    tree = parse(meta["model"])
    _precheck_dense(tree, arrays)
    saved_state = _optimizer_entry(meta["optimizer"], optimizer_arrays)
    state = None if optimizer is None else _state_for(optimizer, saved_state)
    model = build(tree)
    targets = {PARAMS + k: v for k, v in _named_arrays(model, "params").items()}
    targets.update({BUFFERS + k: v for k, v in _named_arrays(model, "buffers").items()})
    _check_arrays(targets, arrays)
    for key, target in targets.items():
        target[...] = arrays[key]
    model.train(meta["training"])
    if state is not None:
        _restore_optimizer(optimizer, state)
    return model


# -- metadata -------------------------------------------------------------------


def _metadata(raw: npt.NDArray[Any] | None) -> dict[str, Any]:
    if raw is None:
        raise ModelFileError(
            f"not a minigrad model file: it has no {META!r} metadata "
            "(is it a plain .npz of arrays? save models with model.save(path))"
        )
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ModelFileError(
            f"the {META!r} metadata must be UTF-8 bytes, got {raw.dtype} {raw.shape}"
        )
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"), object_pairs_hook=_no_duplicates,
                          parse_constant=_no_constants)
    except ModelFileError:
        raise
    except (ValueError, RecursionError) as err:
        raise ModelFileError(f"the metadata is not valid JSON: {err}") from err
    if not isinstance(meta, dict):
        raise ModelFileError(f"the metadata must be a JSON object, got {type(meta).__name__}")
    if meta.get("format") != FORMAT:
        raise ModelFileError(f"not a minigrad model file: format is {meta.get('format')!r}")
    version = meta.get("format_version")
    if version is None:
        raise ModelFileError("the metadata has no format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ModelFileError(f"format_version must be an integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"the file has format version {version}, newer than this minigrad reads "
            f"({FORMAT_VERSION}); upgrade minigrad to load it"
        )
    if version != FORMAT_VERSION:
        raise ModelFileError(f"unknown format version {version}; this minigrad reads "
                             f"version {FORMAT_VERSION}")
    if set(meta) != _META_KEYS:
        missing, extra = sorted(_META_KEYS - set(meta)), sorted(set(meta) - _META_KEYS)
        raise ModelFileError(f"the metadata keys are wrong: missing {missing}, unexpected {extra}")
    if not isinstance(meta["training"], bool):
        raise ModelFileError(f"the metadata's 'training' must be true or false, "
                             f"got {meta['training']!r}")
    return meta


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ModelFileError(f"the metadata repeats the key {key!r}")
        out[key] = value
    return out


def _no_constants(name: str) -> Any:
    raise ModelFileError(f"the metadata holds {name}, which is not a JSON number")


def _version() -> str:
    from minigrad import __version__

    return __version__


# -- arrays ---------------------------------------------------------------------


def _named_arrays(model: Layer, kind: str) -> dict[str, npt.NDArray[Any]]:
    """Parameters (``kind="params"``) or buffers by their dotted names, e.g. ``"2.W"``."""
    out: dict[str, npt.NDArray[Any]] = {}
    for prefix, leaf in _leaves(model, ""):
        if kind == "params":
            pairs = [(name, p.value) for name, p in leaf.named_parameters()]
        else:
            buffers = getattr(leaf, "buffers", None)
            pairs = list(buffers().items()) if callable(buffers) else []
        for name, array in pairs:
            key = prefix + name
            if key in out:
                raise ModelFileError(f"{leaf!r}: two {kind} are named {name!r}")
            out[key] = array
    return out


def _leaves(layer: Layer, prefix: str) -> list[tuple[str, Layer]]:
    if isinstance(layer, Sequential):
        return [pair for i, child in enumerate(layer) for pair in _leaves(child, f"{prefix}{i}.")]
    return [(prefix, layer)]


def _check_arrays(
    targets: dict[str, npt.NDArray[Any]], arrays: dict[str, npt.NDArray[Any]]
) -> None:
    """Every array the model needs is present, with its shape and dtype, and finite."""
    _optimizer_state._check_same_keys(set(targets), set(arrays), "model arrays")
    for key, target in targets.items():
        array = arrays[key]
        if array.shape != target.shape:
            raise ModelFileError(f"array {key!r} has shape {array.shape}, but the model needs "
                                 f"{target.shape}")
        if array.dtype != target.dtype:
            raise ModelFileError(f"array {key!r} has dtype {array.dtype}, but the model needs "
                                 f"{target.dtype}")
        if not np.isfinite(array).all():
            raise ModelFileError(f"array {key!r} holds non-finite values (NaN or inf)")


def _precheck_dense(node: Node, arrays: dict[str, npt.NDArray[Any]]) -> None:
    """Check Dense weight shapes against the file before building (no huge allocations)."""
    from minigrad.dense import Dense

    if node.children is not None:
        for child in node.children:
            _precheck_dense(child, arrays)
        return
    n_in, n_out = node.config.get("n_in"), node.config.get("n_out")
    if issubclass(node.cls, Dense) and isinstance(n_in, int) and isinstance(n_out, int):
        key = f"{PARAMS}{node.prefix}W"
        if key in arrays and arrays[key].shape != (n_out, n_in):
            raise ModelFileError(f"array {key!r} has shape {arrays[key].shape}, but the model "
                                 f"needs {(n_out, n_in)}")


# -- optimizer ------------------------------------------------------------------


def _optimizer_entry(
    entry: Any, arrays: dict[str, npt.NDArray[Any]]
) -> tuple[str, dict[str, Any]] | None:
    """The file's optimizer (class name, state), checked; None when it holds none."""
    if entry is None:
        if arrays:
            raise ModelFileError(
                f"the file holds optimizer arrays but no optimizer entry: {sorted(arrays)[:3]}"
            )
        return None
    return _optimizer_state.unpack(entry, arrays)


def _state_for(optimizer: Any, saved: tuple[str, dict[str, Any]] | None) -> dict[str, Any]:
    if not isinstance(optimizer, _optimizer_state.Stateful):
        raise TypeError(f"load: {optimizer!r} has no state_dict()/load_state_dict()")
    if saved is None:
        raise ModelFileError(
            "the file holds no optimizer state; save it with model.save(path, optimizer=opt)"
        )
    name, state = saved
    if name != type(optimizer).__name__:
        raise ModelFileError(
            f"the file holds the state of a {name} optimizer, not of {type(optimizer).__name__}"
        )
    return state


def _restore_optimizer(optimizer: Any, state: dict[str, Any]) -> None:
    """Load ``state``; if the optimizer refuses it, put its old state back."""
    before = optimizer.state_dict()
    try:
        optimizer.load_state_dict(state)
    except Exception as err:
        optimizer.load_state_dict(before)
        raise ModelFileError(
            f"the optimizer state does not fit {type(optimizer).__name__}: {err}"
        ) from err
