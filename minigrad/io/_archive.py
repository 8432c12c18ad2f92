"""Reading and writing the .npz container: a zip archive of ``.npy`` arrays, nothing else.

Writing uses numpy's ``.npy`` writer with ``allow_pickle=False``, fixed
timestamps (equal models give equal bytes) and no compression, as
``np.savez`` does.

Reading is two steps, so that a file is judged by what it declares before any
of its data is read. Opening (:func:`open_archive`) refuses anything but a
regular file, checks the zip directory against the limits below, and parses
each member's ``.npy`` header once: numbers only (no Python objects, so never
pickle), and a size that matches the member. Only then does the caller read a
member, straight into an array it made, of exactly the size the header
declares: a compressed member is never unpacked beyond that. Every way a
damaged, foreign or hostile file can fail is a :class:`ModelFileError`.

Limits (a file beyond them is refused before anything is allocated):

* ``MAX_MEMBERS``: archive members in one file;
* ``MAX_ARRAY_BYTES``: bytes that all members may declare together;
* a stored member cannot declare more bytes than the file holds, and a
  deflated one more than deflate can expand to (``DEFLATE_RATIO`` times its
  compressed size); other compression methods (bzip2, lzma) are refused,
  since their output cannot be bounded while unpacking.
"""

from __future__ import annotations

import contextlib
import errno
import io
import math
import os
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator
from typing import IO, Any, BinaryIO

import numpy as np
import numpy.typing as npt
from attrs import frozen

from minigrad.errors import ModelFileError

NPY = ".npy"
MAX_MEMBERS = 65_536
"""Most archive members a model file may hold."""
MAX_ARRAY_BYTES = 1 << 36
"""Most bytes (64 GiB) that a model file's arrays may declare together."""
DEFLATE_RATIO = 1032
"""Deflate expands at most about this much; a member claiming more is damaged."""

_ZIP_MAGIC = b"PK\x03\x04"
_NPY_MAGIC = b"\x93NUMPY"
_NUMERIC_KINDS = "biuf"  # bool, signed and unsigned int, float
_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
_CHUNK = 1 << 24  # bytes read at a time when a member is copied into an array
_DAMAGE = (
    zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, OverflowError,
    struct.error, NotImplementedError, RuntimeError, KeyError, IndexError, SyntaxError,
)


def write_archive(f: BinaryIO, arrays: dict[str, npt.NDArray[Any]]) -> None:
    """Write ``arrays`` to ``f`` as an uncompressed .npz archive, in the given order."""
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for key, array in arrays.items():
            info = zipfile.ZipInfo(key + NPY, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


@frozen
class Member:
    """One array of the archive, known from its header: nothing of its data is read yet."""

    key: str  # the member's name without ".npy": "params/0.W"
    info: zipfile.ZipInfo
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    fortran_order: bool
    data_start: int  # bytes of .npy header before the data, inside the member

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


class Archive:
    """An open model file whose zip directory and array headers have been checked."""

    def __init__(self, f: BinaryIO, size: int) -> None:
        start = f.read(len(_ZIP_MAGIC))
        if not start:
            raise ModelFileError("not a minigrad model file: the file is empty")
        if start != _ZIP_MAGIC:
            start += f.read(len(_NPY_MAGIC) - len(start))
            kind = "a single .npy array" if start == _NPY_MAGIC else "not a zip archive at all"
            raise ModelFileError(f"not a minigrad model file (an .npz archive): it is {kind}")
        self.size = size
        with _damage():
            _check_member_count(f, size)
            f.seek(0)
            self._zip = zipfile.ZipFile(f)
            self.members = _read_headers(self._zip, size)

    def read_into(self, key: str, target: npt.NDArray[Any]) -> None:
        """Fill ``target`` (of the member's shape and dtype: the caller checks) from the file."""
        member = self.members[key]
        if target.shape != member.shape or target.dtype != member.dtype:  # pragma: no cover
            raise ValueError(f"read_into: {key!r} is {member.shape} {member.dtype}")
        flags = target.flags
        contiguous = flags.f_contiguous if member.fortran_order else flags.c_contiguous
        if not (contiguous and flags.writeable):
            target[...] = self.read(key)
            return
        raw = (target.T if member.fortran_order else target).reshape(-1).view(np.uint8)
        with _damage(), self._zip.open(member.info) as f:
            f.read(member.data_start)  # the header, parsed when the file was opened
            _read_exactly(f, memoryview(raw.data), key)

    def read(self, key: str) -> npt.NDArray[Any]:
        """The member ``key`` as a new array."""
        member = self.members[key]
        out = np.empty(member.shape, member.dtype, order="F" if member.fortran_order else "C")
        self.read_into(key, out)
        return out

    def close(self) -> None:
        self._zip.close()


@contextlib.contextmanager
def open_archive(path: str | os.PathLike[str]) -> Iterator[Archive]:
    """The model file at ``path``, opened and checked; refuses what is not a regular file.

    A FIFO, a device or a socket is refused without reading from it (so without
    blocking); a folder raises IsADirectoryError and a missing file the usual
    FileNotFoundError.
    """
    shown = os.fspath(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "a folder, not a model file", shown)
        if not stat.S_ISREG(mode):
            raise ModelFileError(
                f"cannot load {shown!r}: it is {_kind(mode)}, not a regular file; "
                "minigrad loads model files only"
            )
        f = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with f:
        archive = Archive(f, os.fstat(f.fileno()).st_size)
        try:
            yield archive
        finally:
            archive.close()


def read_archive(data: bytes) -> dict[str, npt.NDArray[Any]]:
    """Every array in the .npz bytes ``data``, or a ModelFileError saying what is wrong."""
    archive = Archive(io.BytesIO(data), len(data))
    try:
        return {key: archive.read(key) for key in archive.members}
    finally:
        archive.close()


# -- checks ---------------------------------------------------------------------


@contextlib.contextmanager
def _damage() -> Iterator[None]:
    """Turn the ways a damaged archive fails (zipfile's, zlib's, numpy's) into ModelFileError."""
    try:
        yield
    except ModelFileError:
        raise
    except _DAMAGE as err:
        raise ModelFileError(
            f"the file is damaged or truncated: {type(err).__name__}: {err}"
        ) from err


def _kind(mode: int) -> str:
    kinds = [(stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")]
    return next((name for test, name in kinds if test(mode)), "a special file")


def _check_member_count(f: BinaryIO, size: int) -> None:
    """Refuse a zip directory with more than MAX_MEMBERS entries before parsing it.

    The count is read from the end-of-directory record (and its zip64 twin);
    the directory's size is bounded too, since zipfile walks it by size.
    """
    tail_size = min(size, 22 + 0xFFFF)
    f.seek(size - tail_size)
    tail = f.read(tail_size)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(tail):
        return  # no directory: zipfile says so
    count, directory = struct.unpack("<HI", tail[at + 10: at + 16])
    locator = tail[at - 20: at] if at >= 20 else b""
    if locator.startswith(b"PK\x06\x07"):
        (offset,) = struct.unpack("<Q", locator[8:16])
        if 0 <= offset <= size - 56:
            f.seek(offset)
            record = f.read(56)
            if record.startswith(b"PK\x06\x06"):
                count, directory = struct.unpack("<QQ", record[32:48])
    if count > MAX_MEMBERS or directory > MAX_MEMBERS * 1024:
        raise ModelFileError(
            f"the archive lists {count:,} members in a {directory:,}-byte directory; "
            f"a model file holds at most {MAX_MEMBERS:,}"
        )


def _read_headers(archive: zipfile.ZipFile, size: int) -> dict[str, Member]:
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ModelFileError(
            f"the archive holds {len(infos):,} members; a model file holds at most {MAX_MEMBERS:,}"
        )
    declared = 0
    for info in infos:  # directory checks first: all cheap, nothing read yet
        _check_entry(info, size)
        declared += info.file_size
    if declared > MAX_ARRAY_BYTES + MAX_MEMBERS * 4096:
        raise ModelFileError(
            f"the file's arrays declare {declared:,} bytes in all; the limit is "
            f"{MAX_ARRAY_BYTES:,} (minigrad.io.MAX_ARRAY_BYTES)"
        )
    members: dict[str, Member] = {}
    for info in infos:
        key = info.filename[: -len(NPY)]
        if key in members:
            raise ModelFileError(f"the file is damaged: the archive holds {info.filename!r} twice")
        with archive.open(info) as f:
            members[key] = _read_header(f, key, info)
    return members


def _check_entry(info: zipfile.ZipInfo, size: int) -> None:
    name = info.filename
    if not name.endswith(NPY) or info.is_dir():
        raise ModelFileError(f"not a minigrad model file: unexpected archive member {name!r}")
    if info.flag_bits & 0x1:
        raise ModelFileError(f"the file is damaged: archive member {name!r} is encrypted")
    method = _METHODS.get(info.compress_type)
    if method is None:
        raise ModelFileError(
            f"archive member {name!r} is compressed with method {info.compress_type}; "
            "model files hold stored or deflated members only (as np.savez and "
            "np.savez_compressed write them)"
        )
    if info.header_offset + info.compress_size > size:
        raise ModelFileError(
            f"the file is damaged or truncated: archive member {name!r} needs "
            f"{info.compress_size:,} bytes, beyond the end of the {size:,}-byte file"
        )
    most = info.compress_size if method == "stored" else info.compress_size * DEFLATE_RATIO + 64
    if info.file_size > most:
        raise ModelFileError(
            f"the file is damaged: archive member {name!r} claims {info.file_size:,} bytes, "
            f"but {info.compress_size:,} {method} bytes hold at most {most:,}"
        )


_HEADER = re.compile(
    r"\{'descr': '([<>|=]?[a-z]\d{0,2})', 'fortran_order': (True|False), "
    r"'shape': \(((?:\d{1,19}, ?)*(?:\d{1,19})?)\), \} *\n?"
)
_MAX_HEADER = 10_000  # numpy's own bound on a .npy header


def _read_header(f: IO[bytes], key: str, info: zipfile.ZipInfo) -> Member:
    """Parse one .npy header; refuse objects and sizes that disagree with the member.

    The header numpy writes (``{'descr': '<f8', 'fortran_order': False, 'shape': (5, 4), }``)
    is matched by a strict pattern; anything else goes to numpy's own parser.
    """
    start = f.read(8)
    if len(start) < 8 or not start.startswith(_NPY_MAGIC):
        raise ModelFileError(f"the file is damaged: archive member {key!r} is not a .npy array")
    version = (start[6], start[7])
    if version not in ((1, 0), (2, 0)):
        raise ModelFileError(f"array {key!r} uses .npy format version {version}, not 1.0 or 2.0")
    size_format = "<H" if version == (1, 0) else "<I"
    size_bytes = f.read(struct.calcsize(size_format))
    (size,) = struct.unpack(size_format, size_bytes)
    if size > _MAX_HEADER:
        raise ModelFileError(f"the file is damaged: array {key!r} has a {size}-byte header")
    header = f.read(size)
    match = _HEADER.fullmatch(header.decode("latin1"))
    if match:
        try:
            dtype = np.dtype(match[1])
        except TypeError:
            raise ModelFileError(f"array {key!r} has an unknown dtype {match[1]!r}") from None
        fortran_order = match[2] == "True"
        shape = tuple(int(n) for n in match[3].split(",") if n.strip())
    else:  # written by something else: numpy's parser (literal_eval, never pickle)
        read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                else np.lib.format.read_array_header_2_0)
        shape, fortran_order, dtype = read(io.BytesIO(size_bytes + header))
    if dtype.hasobject or dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None:
        what = "Python objects (loading them would run pickle)" if dtype.hasobject else "no numbers"
        raise ModelFileError(
            f"array {key!r} has dtype {dtype}, which holds {what}; model files hold numbers only"
        )
    data_start = 8 + len(size_bytes) + size
    expected = data_start + math.prod(shape) * dtype.itemsize
    if expected != info.file_size:
        raise ModelFileError(
            f"the file is damaged: array {key!r} of shape {shape} needs {expected} bytes, "
            f"but its archive member has {info.file_size}"
        )
    return Member(key, info, tuple(shape), dtype, bool(fortran_order), data_start)


def _read_exactly(f: IO[bytes], out: memoryview, key: str) -> None:
    """Fill ``out`` from ``f``, which must end exactly there (zipfile then checks the CRC)."""
    pos, n = 0, len(out)
    while pos < n:
        chunk = f.read(min(_CHUNK, n - pos))
        if not chunk:
            raise ModelFileError(f"the file is damaged or truncated: array {key!r} ends early")
        out[pos: pos + len(chunk)] = chunk
        pos += len(chunk)
    if f.read(1):  # pragma: no cover - the header's size matched the member's
        raise ModelFileError(f"the file is damaged: array {key!r} is longer than its header says")
