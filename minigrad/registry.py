"""The registry of layer classes that a model file may name.

A model file stores each layer as a class *name* and its constructor
arguments. Loading turns a name back into a class only by looking it up in
this table, never by importing a module or evaluating anything the file says,
so a file that names ``os.system`` or ``builtins.eval`` gets an error, not a
call. The layers that minigrad exports are registered already; a custom layer
or activation registers itself with the decorator:

>>> import numpy as np, minigrad as mg
>>> @mg.register
... class Square(mg.Activation):
...     '''g(Z) = Z**2, g'(Z) = 2 Z.'''
...     def g(self, Z): return Z * Z
...     def g_prime(self, Z, A): return 2 * Z
>>> lookup("Square") is Square
True

``mg.register(cls)`` is the same call without the decorator syntax, and
``mg.register(name="MySquare")`` registers under another name. Optimizers
(classes with ``state_dict`` and ``load_state_dict``) have a table of their
own, used by :func:`minigrad.load_checkpoint`; those of ``mg.optim`` are
registered already.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, TypeVar, overload

from minigrad.errors import ModelFileError
from minigrad.layer import Layer

L = TypeVar("L", bound=type[Any])

_CLASSES: dict[str, type[Layer]] = {}
"""Registered name -> layer class; the only way a layer name in a file becomes a class."""

_OPTIMIZERS: dict[str, type[Any]] = {}
"""Registered name -> optimizer class, for the optimizer named in a checkpoint."""

_ABSTRACT = frozenset({"Layer", "Activation", "Optimizer"})
_builtins_loaded = False


@overload
def register(cls: L, /, *, name: str | None = None) -> L: ...
@overload
def register(cls: None = None, /, *, name: str | None = None) -> Callable[[L], L]: ...
def register(cls: L | None = None, /, *, name: str | None = None) -> L | Callable[[L], L]:
    """Allow model files to name ``cls`` (a Layer subclass), under ``name`` or its own name.

    Use as ``@mg.register``, ``@mg.register(name="Alias")`` or ``mg.register(cls)``.
    Registering the same class again under the same name does nothing; a name
    taken by another class, or a second name for one class, is refused.
    """
    if cls is None:
        return lambda c: register(c, name=name)
    if isinstance(cls, type) and issubclass(cls, Layer):
        table: dict[str, type[Any]] = _CLASSES
    elif isinstance(cls, type) and _is_optimizer(cls):
        table = _OPTIMIZERS
    else:
        raise TypeError(
            f"mg.register: expected a subclass of mg.Layer or an optimizer class, got {cls!r}; "
            "only layer, activation and optimizer classes can be named in a model file"
        )
    key = cls.__name__ if name is None else name
    if not isinstance(key, str) or not key.isidentifier():
        raise ValueError(f"mg.register: name must be a Python identifier, got {key!r}")
    _load_builtins()
    taken = table.get(key)
    if taken is not None and taken is not cls:
        raise ValueError(
            f"mg.register: the name {key!r} is already taken by {_qualname(taken)}; "
            f"register {_qualname(cls)} under another name with mg.register(name=...)"
        )
    for other, registered in table.items():
        if registered is cls and other != key:
            raise ValueError(f"mg.register: {_qualname(cls)} is already registered as {other!r}")
    table[key] = cls
    return cls


def lookup(name: str) -> type[Layer]:
    """The class registered as ``name``, or a ModelFileError saying how to register it."""
    _load_builtins()
    cls = _CLASSES.get(name)
    if cls is None:
        hint = (
            f"; if it is your own layer, decorate its class with @mg.register (or call "
            f"mg.register({name})) before loading"
            if name.isidentifier()
            else "; only registered minigrad layer classes can be loaded"
        )
        raise ModelFileError(f"the file names layer class {name!r}, which is not registered{hint}")
    return cls


def name_of(cls: type[Any]) -> str:
    """The name under which ``cls`` is registered, or a ModelFileError saying how to register it."""
    _load_builtins()
    table = _CLASSES if issubclass(cls, Layer) else _OPTIMIZERS
    for key, registered in table.items():
        if registered is cls:
            return key
    raise ModelFileError(
        f"cannot save {_qualname(cls)}: its class is not registered, so a file could not "
        f"name it; decorate the class with @mg.register (or call mg.register({cls.__name__}))"
    )


def lookup_optimizer(name: str) -> type[Any]:
    """The optimizer class registered as ``name``, or a ModelFileError."""
    _load_builtins()
    cls = _OPTIMIZERS.get(name)
    if cls is None:
        hint = (
            "; if it is your own optimizer, register its class with @mg.register first"
            if name.isidentifier()
            else ""
        )
        raise ModelFileError(f"the file names optimizer class {name!r}, which is not "
                             f"registered{hint}")
    return cls


def _is_optimizer(cls: type[Any]) -> bool:
    return callable(getattr(cls, "state_dict", None)) and callable(
        getattr(cls, "load_state_dict", None)
    )


def _load_builtins() -> None:
    """Register minigrad's concrete layer classes and mg.optim's optimizers.

    The layers are found as the subclasses of Layer defined in minigrad's own
    modules, so this module needs to know none of them (nor the package that
    exports them); it runs again whenever a name is missing, to pick up
    modules loaded since.
    """
    global _builtins_loaded
    for cls in _subclasses(Layer):
        if cls.__module__.startswith("minigrad.") and not cls.__name__.startswith("_") \
                and cls.__name__ not in _ABSTRACT:
            _CLASSES.setdefault(cls.__name__, cls)
    if _builtins_loaded:
        return
    try:
        optim = importlib.import_module("minigrad.optim")
    except ImportError:  # pragma: no cover - minigrad without its optimizers
        optim = None
    for export in getattr(optim, "__all__", ()):
        obj = getattr(optim, export, None)
        if isinstance(obj, type) and _is_optimizer(obj) and obj.__name__ not in _ABSTRACT:
            _OPTIMIZERS.setdefault(obj.__name__, obj)
    _builtins_loaded = True


def _subclasses(cls: type[Layer]) -> list[type[Layer]]:
    found, stack = [], list(cls.__subclasses__())
    while stack:
        sub = stack.pop()
        found.append(sub)
        stack.extend(sub.__subclasses__())
    return found


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
