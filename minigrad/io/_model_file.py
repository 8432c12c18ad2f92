"""``save`` and ``load``: one model (and optionally its optimizer's state) per .npz file."""

from __future__ import annotations

import inspect
import json
import os
import re
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from minigrad.errors import ModelFileError
from minigrad.init import deferred
from minigrad.io import _optimizer_state, _random_state
from minigrad.io._architecture import Node, build, describe, parse
from minigrad.io._archive import Archive, Member, open_archive, write_archive
from minigrad.io._atomic import atomic_write
from minigrad.layer import Layer
from minigrad.registry import lookup_optimizer

FORMAT = "minigrad.model"
FORMAT_VERSION = 1
META = "__minigrad__"
PARAMS = "params/"
BUFFERS = "buffers/"
MAX_METADATA_BYTES = 4 << 20
"""Most bytes of JSON metadata a model file may hold (4 MiB)."""
MAX_METADATA_DEPTH = 256
"""Deepest nesting of JSON lists and objects in the metadata."""
_META_KEYS = {
    "format", "format_version", "minigrad_version", "model", "training", "random", "optimizer",
}

PathLike = str | os.PathLike[str]


def save(model: Layer, path: PathLike, optimizer: Any = None) -> None:
    """Write ``model`` (and ``optimizer``'s state, if given) to ``path`` atomically.

    Everything is checked before the file is touched; an error while writing
    leaves any old file at ``path`` intact and no temporary file behind (a
    process killed while saving leaves one, which the next save to ``path``
    removes). A symbolic link at ``path`` is written through: the file it
    points to is replaced and the link stays. OSErrors name ``path``.
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
    """Check the file at ``path`` against its headers, then build and fill the model.

    Order: the metadata (bounded), the architecture (classes from the registry
    only), the optimizer entry; then the layers are built with uninitialised
    arrays, no larger in all than the file's arrays (:func:`minigrad.init.deferred`);
    their names, shapes and dtypes are compared with the members' headers; only
    then is each member read straight into its array.
    """
    with open_archive(path) as archive:
        meta = _metadata(archive)
        tree = parse(meta["model"])
        _check_numbers(tree)
        generators = _random_state.parse(meta["random"])
        optimizer_keys = [k for k in archive.members if k.startswith(_optimizer_state.PREFIX)]
        saved = _optimizer_entry(meta["optimizer"], optimizer_keys)
        optimizer_class = None
        if with_optimizer:
            if saved is None:
                raise ModelFileError(
                    "the file holds no optimizer state (it was saved without optimizer=); "
                    "load the model alone with mg.load(path)"
                )
            optimizer_class = lookup_optimizer(saved[0])
        headers = {k: m for k, m in archive.members.items()
                   if k != META and not k.startswith(_optimizer_state.PREFIX)}
        with deferred(sum(m.nbytes for m in headers.values())):
            model = build(tree)
        targets = {PARAMS + k: v for k, v in _named_arrays(model, "params").items()}
        targets.update({BUFFERS + k: v for k, v in _named_arrays(model, "buffers").items()})
        _check_headers(targets, headers)
        for key, target in targets.items():
            archive.read_into(key, target)
            if not _optimizer_state.all_finite(target):
                raise ModelFileError(f"array {key!r} holds non-finite values (NaN or inf)")
        state: dict[str, Any] = {}
        if saved is not None:
            state = saved[1]
            for key in saved[2]:  # read and check each; kept only when the optimizer is wanted
                array = archive.read(_optimizer_state.PREFIX + key)
                _optimizer_state.check_array(array, f"optimizer state {key!r}")
                if with_optimizer:
                    state[key] = array
    model.train(meta["training"])
    _random_state.restore(model, generators)
    optimizer = None
    if optimizer_class is not None:
        optimizer = _build_optimizer(optimizer_class, model, state)
    return model, optimizer


# -- metadata -------------------------------------------------------------------


def _metadata(archive: Archive) -> dict[str, Any]:
    header = archive.members.get(META)
    if header is None:
        raise ModelFileError(
            f"not a minigrad model file: it has no {META!r} metadata "
            "(is it a plain .npz of arrays? save models with mg.save(model, path))"
        )
    if header.dtype != np.uint8 or len(header.shape) != 1:
        raise ModelFileError(
            f"the {META!r} metadata must be UTF-8 bytes, got {header.dtype} {header.shape}"
        )
    if header.nbytes > MAX_METADATA_BYTES:
        raise ModelFileError(
            f"the metadata is {header.nbytes:,} bytes; the limit is {MAX_METADATA_BYTES:,} "
            "(minigrad.io.MAX_METADATA_BYTES)"
        )
    try:
        raw = archive.read(META).tobytes()
        _check_depth(raw)
        text = raw.decode("utf-8")
        meta = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
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


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*+"')
_DEPTH_STEP = np.zeros(256, dtype=np.int8)
_DEPTH_STEP[[ord("["), ord("{")]] = 1
_DEPTH_STEP[[ord("]"), ord("}")]] = -1


def _check_depth(raw: bytes) -> None:
    """Refuse JSON nested deeper than MAX_METADATA_DEPTH, before parsing it."""
    structure = np.frombuffer(_STRING.sub(b"", raw), dtype=np.uint8)
    steps = _DEPTH_STEP[structure].astype(np.int32)
    if steps.size and int(np.cumsum(steps).max()) > MAX_METADATA_DEPTH:
        raise ModelFileError(
            f"the metadata nests lists and objects deeper than {MAX_METADATA_DEPTH} levels "
            "(minigrad.io.MAX_METADATA_DEPTH)"
        )


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
    from minigrad._version import __version__

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


def _check_headers(targets: dict[str, npt.NDArray[Any]], headers: dict[str, Member]) -> None:
    """Every array the model needs is in the file, with its shape and dtype (headers only)."""
    _optimizer_state.check_same_keys(set(targets), set(headers), "model arrays")
    for key, target in targets.items():
        header = headers[key]
        if header.shape != target.shape:
            raise ModelFileError(f"array {key!r} has shape {header.shape}, but the model needs "
                                 f"{target.shape}")
        if header.dtype != target.dtype:
            raise ModelFileError(f"array {key!r} has dtype {header.dtype}, but the model needs "
                                 f"{target.dtype}")


def _check_numbers(node: Node) -> None:
    """Refuse JSON true/false where a constructor argument is a number (``alpha=true``)."""
    if node.children is not None:
        for child in node.children:
            _check_numbers(child)
        return
    try:
        parameters = inspect.signature(node.cls).parameters
    except (TypeError, ValueError):  # pragma: no cover - constructors implemented in C
        return
    for name, value in node.config.items():
        parameter = parameters.get(name)
        if isinstance(value, bool) and parameter is not None and _wants_number(parameter):
            raise ModelFileError(
                f"{node.path} ({node.cls.__name__}): argument {name!r} must be a number, "
                f"got {json.dumps(value)}"
            )


def _wants_number(parameter: inspect.Parameter) -> bool:
    """Whether the annotation (or, without one, the default) says a number, not a bool."""
    annotation = parameter.annotation
    if annotation is not inspect.Parameter.empty:
        text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
        words = set(re.findall(r"\w+", str(text)))
        return not words & {"bool", "Any", "object"} and bool(words & {"int", "float"})
    default = parameter.default
    return isinstance(default, int | float) and not isinstance(default, bool)


# -- optimizer ------------------------------------------------------------------


def _optimizer_entry(
    entry: Any, keys: list[str]
) -> tuple[str, dict[str, Any], list[str]] | None:
    """The file's optimizer (class name, scalars, array keys), checked; None when it has none."""
    if entry is None:
        if keys:
            raise ModelFileError(
                f"the file holds optimizer arrays but no optimizer entry: {sorted(keys)[:3]}"
            )
        return None
    return _optimizer_state.unpack(entry, keys)


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
