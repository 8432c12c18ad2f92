"""The random part of a model file: the state of generators that layers own (Dropout's masks).

A layer that draws random numbers from its own ``numpy.random.Generator``
(``Dropout(0.5, rng=seed)``) must get that generator back in the same state,
or a resumed run would draw other masks than an uninterrupted one. The
metadata's ``"random"`` list holds one entry per generator,
``{"attributes": ["1._rng"], "state": bit_generator.state}``, with arrays in
the state written as lists. A layer that draws from the library's shared
generator (the default, reseeded by ``mg.seed``) keeps drawing from it: that
generator belongs to the process, not to the model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad import _rng
from minigrad.errors import ModelFileError
from minigrad.layer import Layer, generators_of, indexed_leaves

BIT_GENERATORS: dict[str, type[np.random.BitGenerator]] = {
    "PCG64": np.random.PCG64, "PCG64DXSM": np.random.PCG64DXSM, "MT19937": np.random.MT19937,
    "Philox": np.random.Philox, "SFC64": np.random.SFC64,
}
"""The bit generators a file may name; anything else is refused."""

Restorable = list[tuple[list[str], np.random.Generator]]


def pack(model: Layer) -> list[dict[str, Any]]:
    """One entry per generator owned by a layer of ``model`` (shared ones listed once)."""
    groups: dict[int, tuple[np.random.Generator, list[str]]] = {}
    shared = _rng.default_rng()
    for index, leaf in indexed_leaves(model):
        for name, generator in generators_of(leaf):
            if generator is shared:
                continue
            path = f"{index}.{name}" if index else name
            groups.setdefault(id(generator), (generator, []))[1].append(path)
    return [
        {"attributes": names, "state": _plain(dict(generator.bit_generator.state))}
        for generator, names in groups.values()
    ]


def parse(entries: Any) -> Restorable:
    """Check the file's ``"random"`` list and make the generators it describes."""
    if not isinstance(entries, list):
        raise ModelFileError(f"the metadata's 'random' must be a list, got {entries!r}")
    out: Restorable = []
    for entry in entries:
        if not isinstance(entry, dict) or set(entry) != {"attributes", "state"}:
            raise ModelFileError(
                f"a 'random' entry must be {{'attributes', 'state'}}, got {entry!r}"
            )
        names, state = entry["attributes"], entry["state"]
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise ModelFileError(f"a 'random' entry needs a list of attribute names, got {names!r}")
        kind = state.get("bit_generator") if isinstance(state, dict) else None
        if not isinstance(kind, str) or kind not in BIT_GENERATORS:
            raise ModelFileError(
                f"a 'random' entry names bit generator {kind!r}; known: {sorted(BIT_GENERATORS)}"
            )
        generator = np.random.Generator(BIT_GENERATORS[kind]())
        try:
            generator.bit_generator.state = state
        except Exception as err:  # numpy's setters raise Type-, Index-, Key-, ValueError...
            raise ModelFileError(f"a {kind} generator state in the file is invalid: {err}") from err
        out.append((names, generator))
    return out


def restore(model: Layer, generators: Restorable) -> None:
    """Give each named layer attribute its generator; the names must be generators already."""
    leaves = dict(indexed_leaves(model))
    for names, generator in generators:
        for path in names:
            prefix, _, attribute = path.rpartition(".")
            leaf = leaves.get(prefix)
            if leaf is None or not isinstance(getattr(leaf, attribute, None), np.random.Generator):
                raise ModelFileError(
                    f"the file restores a random generator into {path!r}, which is not a "
                    "generator of the model"
                )
            setattr(leaf, attribute, generator)


def _plain(value: Any) -> Any:
    """A bit generator state as JSON data: arrays become lists, numpy scalars numbers."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
