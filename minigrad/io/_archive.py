"""Reading and writing the .npz container: a zip archive of ``.npy`` arrays, nothing else.

Writing uses numpy's ``.npy`` writer with ``allow_pickle=False``, fixed
timestamps (equal models give equal bytes) and no compression, as
``np.savez`` does. Reading never unpickles: each member's header is read and
checked first (numbers only, no Python objects, a size that matches the
member), then the data is read with ``allow_pickle=False``. Every way a
damaged or foreign file can fail is turned into a :class:`ModelFileError`.
"""

from __future__ import annotations

import io
import math
import struct
import zipfile
import zlib
from typing import IO, Any, BinaryIO

import numpy as np
import numpy.typing as npt

from minigrad.errors import ModelFileError

NPY = ".npy"
_ZIP_MAGIC = b"PK\x03\x04"
_NPY_MAGIC = b"\x93NUMPY"
_NUMERIC_KINDS = "biuf"  # bool, signed and unsigned int, float
_DAMAGE = (
    zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, OverflowError,
    struct.error, NotImplementedError, RuntimeError, KeyError, MemoryError,
)


def write_archive(f: BinaryIO, arrays: dict[str, npt.NDArray[Any]]) -> None:
    """Write ``arrays`` to ``f`` as an uncompressed .npz archive, in the given order."""
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for key, array in arrays.items():
            info = zipfile.ZipInfo(key + NPY, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


def read_archive(data: bytes) -> dict[str, npt.NDArray[Any]]:
    """Every array in the .npz bytes ``data``, or a ModelFileError saying what is wrong."""
    if not data:
        raise ModelFileError("not a minigrad model file: the file is empty")
    if not data.startswith(_ZIP_MAGIC):
        kind = "a single .npy array" if data.startswith(_NPY_MAGIC) else "not a zip archive at all"
        raise ModelFileError(f"not a minigrad model file (an .npz archive): it is {kind}")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return _read_members(archive)
    except ModelFileError:
        raise
    except _DAMAGE as err:
        raise ModelFileError(
            f"the file is damaged or truncated: {type(err).__name__}: {err}"
        ) from err


def _read_members(archive: zipfile.ZipFile) -> dict[str, npt.NDArray[Any]]:
    arrays: dict[str, npt.NDArray[Any]] = {}
    for info in archive.infolist():
        name = info.filename
        if not name.endswith(NPY) or info.is_dir():
            raise ModelFileError(f"not a minigrad model file: unexpected archive member {name!r}")
        key = name[: -len(NPY)]
        if key in arrays:
            raise ModelFileError(f"the file is damaged: the archive holds {name!r} twice")
        if info.flag_bits & 0x1:
            raise ModelFileError(f"the file is damaged: archive member {name!r} is encrypted")
        with archive.open(info) as member:
            shape, dtype = _check_header(member, key, info.file_size)
        with archive.open(info) as member:
            array = np.lib.format.read_array(member, allow_pickle=False)
        if array.shape != shape or array.dtype != dtype:  # pragma: no cover - numpy's own check
            raise ModelFileError(f"the file is damaged: array {key!r} does not match its header")
        arrays[key] = array
    return arrays


def _check_header(member: IO[bytes], key: str, member_size: int) -> tuple[tuple[int, ...], Any]:
    """Read one .npy header; refuse objects and sizes that disagree with the member."""
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(member)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(member)
    else:
        raise ModelFileError(f"array {key!r} uses .npy format version {version}, not 1.0 or 2.0")
    if dtype.hasobject or dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None:
        what = "Python objects (loading them would run pickle)" if dtype.hasobject else "no numbers"
        raise ModelFileError(
            f"array {key!r} has dtype {dtype}, which holds {what}; model files hold numbers only"
        )
    expected = member.tell() + math.prod(shape) * dtype.itemsize
    if expected != member_size:
        raise ModelFileError(
            f"the file is damaged: array {key!r} of shape {shape} needs {expected} bytes, "
            f"but its archive member has {member_size}"
        )
    return shape, dtype
