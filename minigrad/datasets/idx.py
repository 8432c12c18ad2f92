"""Reading and writing the IDX files that MNIST and Fashion-MNIST ship in.

Layout: a 4-byte big-endian magic number (two zero bytes, a type code, the
number of dimensions), then one 4-byte big-endian size per dimension, then the
data in C order. Files ending in ``.gz`` are gzip-compressed.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from minigrad.errors import InputError

# type code -> big-endian numpy dtype
IDX_TYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

PathLike = str | os.PathLike[str]


class IDXError(InputError):
    """A file is not a well-formed IDX file (bad magic number, wrong size)."""


def read_idx(path: PathLike) -> np.ndarray[Any, np.dtype[Any]]:
    """The array stored in an IDX file (``.gz`` files are decompressed first).

    The result has the file's dimensions and a native-endian dtype
    (uint8 for MNIST's images and labels).
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError) as err:  # gzip raises these on a damaged archive
        if isinstance(err, FileNotFoundError):
            raise
        raise IDXError(f"{path}: cannot be read as {'gzip' if opener is gzip.open else 'IDX'}: "
                       f"{err}") from err
    return parse_idx(data, str(path))


def parse_idx(data: bytes, name: str = "IDX data") -> np.ndarray[Any, np.dtype[Any]]:
    """The array encoded by the bytes of an (uncompressed) IDX file."""
    if len(data) < 4:
        raise IDXError(f"{name}: too short for an IDX header ({len(data)} bytes)")
    zero_0, zero_1, type_code, ndim = data[0], data[1], data[2], data[3]
    magic = int.from_bytes(data[:4], "big")
    if zero_0 or zero_1 or type_code not in IDX_TYPES or ndim == 0:
        raise IDXError(
            f"{name}: bad magic number 0x{magic:08X}; an IDX file starts with two zero bytes, "
            f"a type code in {{{', '.join(f'0x{c:02X}' for c in IDX_TYPES)}}} and the number "
            "of dimensions (labels 0x00000801, images 0x00000803)"
        )
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise IDXError(f"{name}: truncated header: {ndim} dimensions need {header_size} bytes, "
                       f"the file has {len(data)}")
    shape = struct.unpack(f">{ndim}I", data[4:header_size])
    dtype = IDX_TYPES[type_code]
    expected = header_size + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "too long"
        raise IDXError(
            f"{name}: {state}: a {'x'.join(map(str, shape))} array of {dtype.name} needs "
            f"{expected} bytes with its header, the file has {len(data)}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_size).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def write_idx(path: PathLike, array: Any) -> Path:
    """Write ``array`` as an IDX file (gzipped when the name ends in ``.gz``).

    The dtype must be one IDX can hold: uint8, int8, int16, int32, float32
    or float64. Returns the path written.
    """
    path = Path(path)
    arr = np.asarray(array)
    codes = {dtype.newbyteorder("="): code for code, dtype in IDX_TYPES.items()}
    native = arr.dtype.newbyteorder("=")
    if native not in codes or arr.ndim == 0 or arr.ndim > 255:
        raise InputError(
            f"write_idx: cannot store a {arr.ndim}-D array of {arr.dtype} in IDX; "
            "use uint8, int8, int16, int32, float32 or float64 with 1 to 255 dimensions"
        )
    header = bytes([0, 0, codes[native], arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    payload = header + np.ascontiguousarray(arr, dtype=IDX_TYPES[codes[native]]).tobytes()
    if path.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
    return path
