"""The architecture part of a model file: a tree of layer class names and constructor arguments.

Each layer is ``{"class": name, "config": {argument: value}}``, where ``name``
is the layer's registered name (see :mod:`minigrad.registry`) and ``config``
is what ``layer.config()`` returns: the keyword arguments that rebuild it. A
container's arguments hold layers, each written in place as its own
``{"class": ..., "config": ...}``: a Sequential is ``{"layers": [layer, ...]}``
(as minigrad 0.1 wrote it), and a Graph lists its wiring beside its layers.
Other values are plain JSON (numbers, strings, booleans, null, lists and
objects). No container type is special here: any registered layer whose
``config()`` holds layers saves and loads, a user's own container included.

Reading is two steps so that nothing is built from a bad tree: ``parse``
checks the whole tree and resolves every class through the registry, and
only then ``build`` constructs the layers, children first, each through its
class's ``from_config``.
"""

from __future__ import annotations

import inspect
import math
import reprlib
from typing import Any

import numpy as np
from attrs import frozen

from minigrad import _rng
from minigrad.errors import ModelFileError
from minigrad.layer import Layer
from minigrad.registry import lookup, name_of

MAX_DEPTH = 64
"""Deepest nesting of containers a file may hold."""

LAYER_KEYS = frozenset({"class", "config"})
"""An object with exactly these keys, inside a container's arguments, is a layer."""
_SHORT = reprlib.Repr()  # a file's arguments in messages: long lists and strings cut
_SHORT.maxlist = _SHORT.maxdict = 8
_SHORT.maxstring = _SHORT.maxother = 80


@frozen
class Node:
    """One checked layer of the tree: its class, its arguments, and its children."""

    path: str  # "model", "model.layers[2]", ...: where the layer sits, for messages
    cls: type[Layer]
    config: dict[str, Any]  # arguments; a child layer stands there as its Node
    children: tuple[Node, ...] | None  # the child Nodes in config order; None for a leaf


# -- saving ---------------------------------------------------------------------


def describe(layer: Layer, path: str = "model", depth: int = 0,
             seen: dict[int, str] | None = None) -> dict[str, Any]:
    """The JSON tree of ``layer``; refuses what a file could not rebuild."""
    if depth > MAX_DEPTH:
        raise ModelFileError(f"cannot save: containers nest deeper than {MAX_DEPTH} levels")
    seen = {} if seen is None else seen
    if id(layer) in seen:
        raise ModelFileError(
            f"cannot save: {layer!r} appears both at {seen[id(layer)]} and at {path}; a file "
            "holds each layer once (share a layer between nodes of one mg.Graph instead)"
        )
    seen[id(layer)] = path
    name = name_of(type(layer))
    config = {
        key: _encode(value, f"{path}.{key}", f"{path} {layer!r}: argument {key!r}", depth, seen)
        for key, value in layer.config().items()
    }
    if not any(_holds_layer(v) for v in layer.config().values()):
        _check_signature(type(layer), config, f"cannot save {path} {layer!r}: its config() gives")
    return {"class": name, "config": config}


def _holds_layer(value: Any) -> bool:
    return isinstance(value, Layer) or (
        isinstance(value, list | tuple) and any(isinstance(v, Layer) for v in value)
    )


def _encode(value: Any, path: str, where: str, depth: int, seen: dict[int, str]) -> Any:
    """A config value as JSON: layers as their ``{"class", "config"}`` trees, the rest plain."""
    if isinstance(value, Layer):
        return describe(value, path, depth + 1, seen)
    if isinstance(value, list | tuple) and any(isinstance(v, Layer) for v in value):
        return [_encode(v, f"{path}[{i}]", where, depth, seen) for i, v in enumerate(value)]
    return _plain(value, where)


def _plain(value: Any, where: str) -> Any:
    """``value`` as plain JSON data (numpy scalars and dtypes converted), or an error."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.dtype):
        return str(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ModelFileError(f"cannot save {where}: {value!r} is not finite")
        return value
    if isinstance(value, list | tuple):
        return [_plain(v, where) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _plain(v, where) for k, v in value.items()}
    raise ModelFileError(
        f"cannot save {where}: {type(value).__name__} {value!r} is not plain data "
        "(numbers, strings, booleans, None, lists, dicts); make config() return plain values"
    )


# -- loading --------------------------------------------------------------------


def parse(tree: Any, path: str = "model", depth: int = 0) -> Node:
    """Check ``tree`` from a file and resolve its classes, building nothing."""
    if depth > MAX_DEPTH:
        raise ModelFileError(f"{path}: containers nest deeper than {MAX_DEPTH} levels")
    if not isinstance(tree, dict) or set(tree) != {"class", "config"}:
        got = sorted(tree) if isinstance(tree, dict) else type(tree).__name__
        raise ModelFileError(
            f"{path}: expected a layer as {{'class': name, 'config': {{...}}}}, got {got}"
        )
    name, config = tree["class"], tree["config"]
    if not isinstance(name, str):
        raise ModelFileError(f"{path}: the layer class must be a name (string), got {name!r}")
    if not isinstance(config, dict):
        raise ModelFileError(f"{path} ({name}): config must be an object, got {config!r}")
    cls = lookup(name)
    children: list[Node] = []
    decoded = {
        key: _decode(value, f"{path}.{key}", depth, children) for key, value in config.items()
    }
    if cls.from_config.__func__ is Layer.from_config.__func__:  # type: ignore[attr-defined]
        _check_signature(cls, decoded, f"{path}: cannot build {name} from")
    try:
        cls.check_config(decoded)
    except (TypeError, ValueError, KeyError, IndexError) as err:
        raise ModelFileError(f"{path} ({name}): {err}") from None
    return Node(path, cls, decoded, tuple(children) if children else None)


def _decode(value: Any, path: str, depth: int, children: list[Node]) -> Any:
    """A config value from a file: a ``{"class", "config"}`` object becomes its parsed Node."""
    if isinstance(value, dict) and set(value) == LAYER_KEYS:
        node = parse(value, path, depth + 1)
        children.append(node)
        return node
    if isinstance(value, list) and any(isinstance(v, dict) and set(v) == LAYER_KEYS
                                       for v in value):
        nodes = [parse(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]  # all layers
        children.extend(nodes)
        return nodes
    return value


def build(node: Node) -> Layer:
    """Construct the layers of a parsed tree; the library's random state is left as it was."""
    generator = _rng.default_rng()
    saved = generator.bit_generator.state
    try:
        return _construct(node)
    finally:
        generator.bit_generator.state = saved


def _construct(node: Node) -> Layer:
    config = {key: _built(value) for key, value in node.config.items()}
    try:
        return node.cls.from_config(config)
    except ModelFileError:
        raise
    except Exception as err:
        args = ", ".join(f"{k}={_SHORT.repr(v)}" for k, v in node.config.items()  # bounded
                         if not _holds_node(v))
        raise ModelFileError(
            f"{node.path}: cannot build {node.cls.__name__}({args}): {type(err).__name__}: {err}"
        ) from err


def _built(value: Any) -> Any:
    if isinstance(value, Node):
        return _construct(value)
    if isinstance(value, list) and any(isinstance(v, Node) for v in value):
        return [_built(v) for v in value]
    return value


def _holds_node(value: Any) -> bool:
    return isinstance(value, Node) or (
        isinstance(value, list) and any(isinstance(v, Node) for v in value)
    )


def _check_signature(cls: type[Layer], config: dict[str, Any], context: str) -> None:
    """Refuse arguments the constructor would not accept (unknown or missing names)."""
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):  # pragma: no cover - constructors implemented in C
        return
    try:
        signature.bind(**config)
    except TypeError as err:
        raise ModelFileError(f"{context} arguments {sorted(config)}: {err}") from None
