"""Model files: ``mg.save(model, path)`` and ``mg.load(path)``, safe by construction.

A model file is one ``.npz`` archive (a zip of ``.npy`` arrays) holding:

* ``__minigrad__``: the metadata, UTF-8 JSON stored as a uint8 array::

      {"format": "minigrad.model", "format_version": 1, "minigrad_version": "0.1.0",
       "model": {"class": "Sequential", "config": {"layers": [
                 {"class": "Dense", "config": {"n_in": 2, "n_out": 4, ...}}, ...]}},
       "training": true,
       "random": [{"attributes": ["1._rng"], "state": {...}}],
       "optimizer": null or {"class": "Adam", "scalars": {...}, "arrays": [...]}}

* ``params/<name>``: every parameter, by its ``named_parameters()`` name ("0.W");
* ``buffers/<name>``: every non-trained array a layer keeps (running statistics);
* ``optimizer/<key>``: the arrays of ``optimizer.state_dict()``, when saved.

``"random"`` holds the state of every random generator a layer owns (a
seeded Dropout's), so that a resumed run draws the same masks.

Saving is atomic (temporary file, fsync, rename; a killed save's temporary
file is removed by the next save to the path). Loading never runs code from
the file: no pickle, and class names are only looked up in the registry
(:func:`minigrad.register`). The metadata, architecture and array headers are
validated before any data is read or any layer is built, within the limits
below; every problem is a :class:`minigrad.ModelFileError`.
"""

from minigrad.io._archive import MAX_ARRAY_BYTES, MAX_MEMBERS
from minigrad.io._model_file import (
    FORMAT_VERSION,
    MAX_METADATA_BYTES,
    MAX_METADATA_DEPTH,
    Checkpoint,
    load,
    load_checkpoint,
    save,
)

__all__ = [
    "FORMAT_VERSION", "MAX_ARRAY_BYTES", "MAX_MEMBERS", "MAX_METADATA_BYTES",
    "MAX_METADATA_DEPTH", "Checkpoint", "load", "load_checkpoint", "save",
]
