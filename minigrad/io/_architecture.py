"""The architecture part of a model file: a tree of layer class names and constructor arguments.

Each node is ``{"class": name, "config": {argument: value}}``, where ``name``
is the layer's registered name (see :mod:`minigrad.registry`) and ``config``
is what ``layer.config()`` returns: the keyword arguments that rebuild it. A
Sequential's config is ``{"layers": [node, ...]}``. Values are plain JSON
(numbers, strings, booleans, null, lists and objects).

Reading is two steps so that nothing is built from a bad tree: ``parse``
checks the whole tree and resolves every class through the registry, and
only then ``build`` calls the constructors.
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
from minigrad.sequential import Sequential

MAX_DEPTH = 64
"""Deepest nesting of Sequentials a file may hold."""
_SHORT = reprlib.Repr()  # a file's arguments in messages: long lists and strings cut
_SHORT.maxlist = _SHORT.maxdict = 8
_SHORT.maxstring = _SHORT.maxother = 80


@frozen
class Node:
    """One checked layer of the tree: its class, its arguments, and its children."""

    path: str  # "model", "model[2]", "model[2][0]": where the layer sits, for messages
    prefix: str  # the layer's prefix in named_parameters(): "", "2.", "2.0."
    cls: type[Layer]
    config: dict[str, Any]
    children: tuple[Node, ...] | None  # None for a leaf, a tuple for a Sequential


# -- saving ---------------------------------------------------------------------


def describe(layer: Layer, path: str = "model", depth: int = 0) -> dict[str, Any]:
    """The JSON tree of ``layer``; refuses what a file could not rebuild."""
    if depth > MAX_DEPTH:
        raise ModelFileError(f"cannot save: Sequentials nest deeper than {MAX_DEPTH} levels")
    name = name_of(type(layer))
    if isinstance(layer, Sequential):
        config = layer.config()
        config["layers"] = [
            describe(child, f"{path}[{i}]", depth + 1) for i, child in enumerate(layer)
        ]
        return {"class": name, "config": config}
    config = {key: _plain(value, f"{path} {layer!r}: argument {key!r}")
              for key, value in layer.config().items()}
    _check_signature(type(layer), config, f"cannot save {path} {layer!r}: its config() gives")
    return {"class": name, "config": config}


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


def parse(tree: Any, path: str = "model", prefix: str = "", depth: int = 0) -> Node:
    """Check ``tree`` from a file and resolve its classes, building nothing."""
    if depth > MAX_DEPTH:
        raise ModelFileError(f"{path}: Sequentials nest deeper than {MAX_DEPTH} levels")
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
    if not issubclass(cls, Sequential):
        _check_signature(cls, config, f"{path}: cannot build {name} from")
        return Node(path, prefix, cls, config, None)
    layers = config.get("layers")
    if not isinstance(layers, list):
        raise ModelFileError(f"{path} ({name}): config needs a list 'layers', got {layers!r}")
    rest = {k: v for k, v in config.items() if k != "layers"}
    _check_signature(cls, {"layers": [], **rest}, f"{path}: cannot build {name} from")
    children = tuple(
        parse(child, f"{path}[{i}]", f"{prefix}{i}.", depth + 1) for i, child in enumerate(layers)
    )
    return Node(path, prefix, cls, rest, children)


def build(node: Node) -> Layer:
    """Construct the layers of a parsed tree; the library's random state is left as it was."""
    generator = _rng.default_rng()
    saved = generator.bit_generator.state
    try:
        return _construct(node)
    finally:
        generator.bit_generator.state = saved


def _construct(node: Node) -> Layer:
    try:
        if node.children is None:
            return node.cls(**node.config)
        children = [_construct(child) for child in node.children]
        return node.cls(children, **node.config)  # type: ignore[call-arg]
    except ModelFileError:
        raise
    except Exception as err:
        args = ", ".join(f"{k}={_SHORT.repr(v)}" for k, v in node.config.items())  # bounded
        raise ModelFileError(
            f"{node.path}: cannot build {node.cls.__name__}({args}): {type(err).__name__}: {err}"
        ) from err


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
