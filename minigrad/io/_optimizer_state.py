"""The optimizer part of a model file: ``optimizer.state_dict()`` split into JSON and arrays.

A state dict maps flat string keys to numpy arrays (moments, velocities) and
plain scalars (step count, learning rate). Arrays are stored as archive
members ``optimizer/<key>``; scalars go into the metadata as
``{"class": name, "scalars": {...}, "arrays": [keys]}``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from minigrad.errors import ModelFileError
from minigrad.registry import name_of

PREFIX = "optimizer/"
_SCALARS = (bool, int, float, str, type(None))


@runtime_checkable
class Stateful(Protocol):
    """What saving and loading need from an optimizer."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any], /) -> None: ...


def pack(optimizer: Any) -> tuple[dict[str, Any], dict[str, npt.NDArray[Any]]]:
    """The metadata entry and the archive members for ``optimizer``'s state."""
    if not isinstance(optimizer, Stateful):
        raise TypeError(
            f"cannot save the optimizer {optimizer!r}: it has no state_dict()/load_state_dict()"
        )
    name = name_of(type(optimizer))
    state = optimizer.state_dict()
    if not isinstance(state, dict):
        raise ModelFileError(f"cannot save {name}: state_dict() returned {type(state).__name__}")
    scalars: dict[str, Any] = {}
    arrays: dict[str, npt.NDArray[Any]] = {}
    for key, value in state.items():
        if not isinstance(key, str) or not key or "\x00" in key:
            raise ModelFileError(f"cannot save {name}: state key {key!r} is not a plain string")
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, np.ndarray):
            check_array(value, f"cannot save {name}: state {key!r}")
            arrays[PREFIX + key] = value
        elif isinstance(value, _SCALARS):
            if isinstance(value, float) and not math.isfinite(value):
                raise ModelFileError(f"cannot save {name}: state {key!r} is {value}")
            scalars[key] = value
        else:
            raise ModelFileError(
                f"cannot save {name}: state {key!r} is a {type(value).__name__}; "
                "state_dict() must hold numpy arrays and plain scalars"
            )
    entry = {"class": name, "scalars": scalars, "arrays": sorted(k[len(PREFIX):] for k in arrays)}
    return entry, arrays


def unpack(entry: Any, member_keys: Iterable[str]) -> tuple[str, dict[str, Any], list[str]]:
    """Check a file's optimizer entry against its members; (class name, scalars, array keys).

    ``member_keys`` is every ``optimizer/...`` member of the file; all must be
    listed. Only the headers are needed: the arrays are read afterwards, one at
    a time, and checked with :func:`check_array`.
    """
    if not isinstance(entry, dict) or set(entry) != {"class", "scalars", "arrays"}:
        raise ModelFileError(
            "the optimizer state in the metadata must be {'class', 'scalars', 'arrays'}, "
            f"got {sorted(entry) if isinstance(entry, dict) else entry!r}"
        )
    name, scalars, keys = entry["class"], entry["scalars"], entry["arrays"]
    if not isinstance(name, str) or not isinstance(scalars, dict) or not isinstance(keys, list):
        raise ModelFileError(f"the optimizer state in the metadata is malformed: {entry!r}")
    if not all(isinstance(k, str) for k in keys) or len(set(keys)) != len(keys):
        raise ModelFileError(f"the optimizer's array keys are malformed: {keys!r}")
    for key, value in scalars.items():
        if not isinstance(value, _SCALARS):
            raise ModelFileError(f"optimizer state {key!r} must be a scalar, got {value!r}")
    check_same_keys({PREFIX + k for k in keys}, set(member_keys), "optimizer state arrays")
    for key in keys:
        if key in scalars:
            raise ModelFileError(f"optimizer state {key!r} is both a scalar and an array")
    return name, dict(scalars), keys


def check_array(array: npt.NDArray[Any], where: str) -> None:
    """Numbers only, and finite."""
    if array.dtype.kind not in "biuf":
        raise ModelFileError(f"{where} has dtype {array.dtype}; expected numbers")
    if array.dtype.kind == "f" and not all_finite(array):
        raise ModelFileError(f"{where} holds non-finite values (NaN or inf)")


def all_finite(array: npt.NDArray[Any], block: int = 1 << 20) -> bool:
    """``np.isfinite(array).all()``, a block at a time (no array-sized temporary)."""
    if not array.flags.c_contiguous:
        return bool(np.isfinite(array).all())
    flat = array.reshape(-1)
    return all(bool(np.isfinite(flat[i: i + block]).all()) for i in range(0, flat.size, block))


def check_same_keys(wanted: set[str], found: set[str], what: str) -> None:
    missing, extra = sorted(wanted - found), sorted(found - wanted)
    if missing:
        raise ModelFileError(f"the file lacks {what}: {_few(missing)}")
    if extra:
        raise ModelFileError(f"the file holds unexpected {what}: {_few(extra)}")


def _few(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
