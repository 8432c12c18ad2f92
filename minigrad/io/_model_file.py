"""``save`` and ``load``: one model (and optionally its optimizer's state) per .npz file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from minigrad.errors import ModelFileError
from minigrad.io import _optimizer_state, _random_state
from minigrad.io._architecture import Node, build, describe, parse
from minigrad.io._archive import read_archive, write_archive
from minigrad.io._atomic import atomic_write
from minigrad.layer import Layer
from minigrad.registry import lookup_optimizer

FORMAT = "minigrad.model"
FORMAT_VERSION = 1
META = "__minigrad__"
PARAMS = "params/"
BUFFERS = "buffers/"
_META_KEYS = {
    "format", "format_version", "minigrad_version", "model", "training", "random", "optimizer",
}

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
        "random": _random_state.pack(model),
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
        _check_optimizes(optimizer, model)
        meta["optimizer"], optimizer_arrays = _optimizer_state.pack(optimizer)
        members.update(optimizer_arrays)
    text = json.dumps(meta, allow_nan=False, separators=(",", ":"))
    archive = {META: np.frombuffer(text.encode("utf-8"), dtype=np.uint8), **members}
    atomic_write(path, lambda f: write_archive(f, archive))


def load(path: PathLike) -> Layer:
    """Rebuild the model saved at ``path``, weights, buffers and training mode included.

    The whole file is checked before anything is built, and a model is only
    returned once every array has been checked and copied in; any problem
    raises a ModelFileError. A missing file raises the usual OSError.
    Optimizer state in the file is checked but not returned: see
    :func:`load_checkpoint`.
    """
    model, _ = _read(path, with_optimizer=False)
    return model


class Checkpoint(NamedTuple):
    """A model and the optimizer that was training it, as saved together."""

    model: Layer
    optimizer: Any


def load_checkpoint(path: PathLike) -> Checkpoint:
    """Rebuild the model and its optimizer from ``mg.save(model, path, optimizer=opt)``.

    The optimizer is a new instance of the saved class (found in the registry,
    as layers are), built on the loaded model's parameters, with its saved
    state (step count, learning rate, hyperparameters, moments) restored, so
    that training continues exactly where it stopped::

        model, optimizer = mg.load_checkpoint("checkpoint.npz")
    """
    model, optimizer = _read(path, with_optimizer=True)
    return Checkpoint(model, optimizer)


def _read(path: PathLike, *, with_optimizer: bool) -> tuple[Layer, Any]:
    """Check the file at ``path`` completely, then build the model (and optimizer)."""
    arrays = read_archive(Path(path).read_bytes())
    meta = _metadata(arrays.pop(META, None))
    optimizer_arrays = {
        k: arrays.pop(k) for k in [k for k in arrays if k.startswith(_optimizer_state.PREFIX)]
    }
    tree = parse(meta["model"])
    _precheck_dense(tree, arrays)
    generators = _random_state.parse(meta["random"])
    saved = _optimizer_entry(meta["optimizer"], optimizer_arrays)
    optimizer_class = None
    if with_optimizer:
        if saved is None:
            raise ModelFileError(
                "the file holds no optimizer state (it was saved without optimizer=); "
                "load the model alone with mg.load(path)"
            )
        optimizer_class = lookup_optimizer(saved[0])
    model = build(tree)
    targets = {PARAMS + k: v for k, v in _named_arrays(model, "params").items()}
    targets.update({BUFFERS + k: v for k, v in _named_arrays(model, "buffers").items()})
    _check_arrays(targets, arrays)
    for key, target in targets.items():
        target[...] = arrays[key]
    model.train(meta["training"])
    _random_state.restore(model, generators)
    optimizer = None
    if optimizer_class is not None and saved is not None:
        optimizer = _build_optimizer(optimizer_class, model, saved[1])
    return model, optimizer


# -- metadata -------------------------------------------------------------------


def _metadata(raw: npt.NDArray[Any] | None) -> dict[str, Any]:
    if raw is None:
        raise ModelFileError(
            f"not a minigrad model file: it has no {META!r} metadata "
            "(is it a plain .npz of arrays? save models with mg.save(model, path))"
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
    if not isinstance(meta["minigrad_version"], str):
        raise ModelFileError(f"the metadata's 'minigrad_version' must be a string, "
                             f"got {meta['minigrad_version']!r}")
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
    if kind == "buffers":
        return dict(model.buffers())
    out: dict[str, npt.NDArray[Any]] = {}
    for name, parameter in model.named_parameters():
        if name in out:
            raise ModelFileError(f"{model!r}: two parameters are named {name!r}")
        out[name] = parameter.value
    return out


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


def _precheck_dense(node: Node, arrays: dict[str, npt.NDArray[Any]], prefix: str = "") -> None:
    """Check Dense weight shapes in Sequentials against the file before building."""
    from minigrad.dense import Dense
    from minigrad.sequential import Sequential

    if node.children is not None:
        if issubclass(node.cls, Sequential):
            for i, child in enumerate(node.children):
                _precheck_dense(child, arrays, f"{prefix}{i}.")
        return
    n_in, n_out = node.config.get("n_in"), node.config.get("n_out")
    if issubclass(node.cls, Dense) and _positive_ints(n_in, n_out):
        key = f"{PARAMS}{prefix}W"
        if key in arrays and arrays[key].shape != (n_out, n_in):
            raise ModelFileError(f"array {key!r} has shape {arrays[key].shape}, but the model "
                                 f"needs {(n_out, n_in)}")


def _positive_ints(*values: Any) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values)


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


def _check_optimizes(optimizer: Any, model: Layer) -> None:
    """Refuse an optimizer that holds other parameters than ``model``'s (state would not fit)."""
    params = getattr(optimizer, "params", None)
    if params is None:
        return
    ours = model.parameters()
    if len(params) != len(ours) or any(a is not b for a, b in zip(params, ours, strict=True)):
        raise ModelFileError(
            f"cannot save {type(optimizer).__name__} with this model: it optimizes "
            f"{len(params)} other parameters, not the model's {len(ours)}; pass the optimizer "
            "built on model.parameters()"
        )


def _build_optimizer(cls: type[Any], model: Layer, state: dict[str, Any]) -> Any:
    """A ``cls`` on ``model``'s parameters with ``state`` loaded, or a ModelFileError."""
    name = cls.__name__
    try:
        lr = state.get("lr")
        optimizer = cls(model.parameters()) if lr is None else cls(model.parameters(), lr=lr)
        optimizer.load_state_dict(state)
    except Exception as err:
        raise ModelFileError(
            f"cannot restore the {name} optimizer from the file: {type(err).__name__}: {err}"
        ) from err
    return optimizer
